"""A progress bar for fits in Python: ``monge.fit(..., progress=True)`` and ``OTMap(verbose=True)``.

:class:`ProgressBar` is a solver callback (it wraps the user's own callback, if any) that shows the step
count, the planned total (re-planned under a time budget), the elapsed and remaining time, and the latest
training logs: the loss and the solver's running estimate of the cost (``w2_dual`` = ½·W2², or ``w1``). In a
terminal it is a `rich <https://rich.readthedocs.io>`_ bar on stderr; in a Jupyter notebook it is tqdm's
notebook bar (``tqdm.auto``, the ``notebook`` extra) when tqdm is installed, else the rich bar, which Jupyter
also renders.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from monge.solvers.base import Callback, Progress

BACKENDS: tuple[str, ...] = ("auto", "rich", "tqdm")


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython with a kernel app)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class ProgressBar:
    """A callback that shows a fit's progress, passing every call and ``restore`` on to ``callback``.

    Use it as a context manager (``with ProgressBar("enot") as bar: solver.fit(..., callback=bar)``) so
    that the bar is closed however the fit ends. The bar opens at the first step, when the total is known.

    Args:
        description: shown before the bar (the solver's name).
        callback: the user's callback, called after the bar is updated; its return value stops training.
        backend: ``"auto"`` (tqdm's notebook bar in Jupyter when tqdm is installed, else rich), ``"rich"`` or
            ``"tqdm"``.
        file: where to write (default: stderr).
    """

    LOG_KEYS: ClassVar[tuple[str, ...]] = ("loss", "w2_dual", "w1")
    """The logs shown, in this order, when a step reports them."""

    def __init__(self, description: str, callback: Callback | None = None, *, backend: str = "auto",
                 file: Any = None):
        from monge.errors import InvalidInputError

        if backend not in BACKENDS:
            raise InvalidInputError(f"progress backend must be one of {list(BACKENDS)}, got {backend!r}")
        if backend == "auto":
            backend = "tqdm" if in_notebook() and _has_tqdm() else "rich"
        if backend == "tqdm" and not _has_tqdm():
            from monge.errors import MissingDependencyError

            raise MissingDependencyError("tqdm", "notebook", "the tqdm progress bar")
        self.description, self.callback, self.backend, self.file = description, callback, backend, file
        self._bar: Any = None
        self._task: Any = None

    # ------------------------------------------------------------------------------------------ callback
    def __call__(self, progress: Progress) -> bool:
        self._show(int(progress.step), int(progress.steps), self.format_logs(progress.logs))
        return bool(self.callback(progress)) if self.callback is not None else False

    def restore(self, state: Any) -> int:
        restore = getattr(self.callback, "restore", None)
        return int(restore(state) or 0) if restore is not None else 0

    @classmethod
    def format_logs(cls, logs: dict[str, float]) -> str:
        """``"loss 0.1234 · w2_dual 5.678"``: the :attr:`LOG_KEYS` a step reported, to 4 significant digits."""
        return " · ".join(f"{key} {logs[key]:.4g}" for key in cls.LOG_KEYS if key in logs)

    # ------------------------------------------------------------------------------------------ display
    def _show(self, step: int, total: int, text: str) -> None:
        if self._bar is None:
            self._open(total)
        if self.backend == "rich":
            self._bar.update(self._task, completed=step, total=total, logs=text)
        else:
            self._bar.total = total
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(step - self._bar.n)

    def _open(self, total: int) -> None:
        if self.backend == "rich":
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            console = Console(file=self.file) if self.file is not None else Console(stderr=True)
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[logs]}"),
                                 console=console)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=total, logs="")
        else:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=self.description, file=self.file, dynamic_ncols=True)

    def close(self) -> None:
        """Close the bar (idempotent); it keeps its last state on screen."""
        if self._bar is None:
            return
        if self.backend == "rich":
            self._bar.stop()
        else:
            self._bar.close()
        self._bar = None

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _has_tqdm() -> bool:
    import importlib.util

    return importlib.util.find_spec("tqdm") is not None
