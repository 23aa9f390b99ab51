"""Decisions: what case workers did with each suggestion."""
