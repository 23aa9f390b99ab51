"""Casewise: decision support for dynamic case management."""
