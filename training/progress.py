"""Progress display for long training steps: a rich spinner per step, and each step's time when it is done."""

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

Step = Callable[[str], AbstractContextManager[None]]


@contextmanager
def steps(enabled: bool = True, console: Console | None = None) -> Iterator[Step]:
    """Yields `step(description)`, a context manager that shows a spinner while the step runs (when enabled)."""
    if not enabled:
        yield lambda description: nullcontext()
        return
    console = console or Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as progress:

        @contextmanager
        def step(description: str) -> Iterator[None]:
            task = progress.add_task(description, total=None)
            started = time.perf_counter()
            try:
                yield
            finally:
                progress.remove_task(task)
                progress.console.print(f"[green]done[/] {description} ({time.perf_counter() - started:.1f} s)")

        yield step
