"""Datasets from event logs and logged decisions, training, evaluation and promotion of rankers."""
