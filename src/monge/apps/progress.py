"""A rich progress bar as a solver callback, shared by the application commands."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator


@contextmanager
def training_progress(total: int, description: str, *, enabled: bool = True,
                      console: Any = None) -> Iterator[Callable[[Any], None]]:
    """Yield a solver ``callback`` that advances a progress bar of ``total`` steps (on stderr by default).

    With ``enabled=False`` the callback does nothing, so library code can always pass it. The callback
    receives the solvers' :class:`~monge.solvers.base.Progress` (anything with a ``step`` attribute) and
    never stops training.
    """
    if not enabled:
        yield lambda progress: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console or Console(stderr=True))
    with bar:
        task = bar.add_task(description, total=total)

        def callback(progress: Any) -> None:
            bar.update(task, completed=int(progress.step))

        yield callback
