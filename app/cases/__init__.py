"""Case intake: cases, their event history, and reading them back."""
