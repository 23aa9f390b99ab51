"""The consoles every command writes to: results on stdout, messages and progress on stderr, never wrapped."""

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
