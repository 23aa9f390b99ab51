"""Compliance rules: officer-written YAML rulesets, evaluated by durable-rules through one adapter."""
