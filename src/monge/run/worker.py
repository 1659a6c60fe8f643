"""One sweep cell, run where an executor puts it (a local process, a Ray worker): the worker side of a sweep.

:func:`run_cell` trains one run with a resumable tracker: it checkpoints every ``checkpoint_every`` steps
(atomically, with the optimiser, schedule and generator state) and, if a checkpoint of the same cell exists,
continues from it. It never touches the results database: it returns a :class:`CellOutcome` whose ``record``
the driver stores in one transaction. It also saves the final result (networks) to ``result_dir``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from monge.errors import CheckpointError


@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run one cell.

    Attributes:
        sweep: the sweep's name; key: the cell's key (:func:`cell_key` of ``config``).
        config: the run's :meth:`RunConfig.to_dict` form.
        checkpoint_path: the cell's checkpoint file (``None``: no checkpoints).
        checkpoint_every: steps between checkpoints.
        result_dir: where the final result is saved (``None``: not saved).
        threads: torch CPU threads for the run (``None``: leave torch's setting).
        attempt: 1 for the first try, 2 for the first retry, ...
    """

    sweep: str
    key: str
    config: Mapping[str, Any]
    checkpoint_path: str | None = None
    checkpoint_every: int = 100
    result_dir: str | None = None
    threads: int | None = 1
    attempt: int = 1

    @property
    def label(self) -> str:
        """``solver on pair (seed s)`` for progress lines and messages."""
        c = self.config
        return f"{c.get('label') or c.get('solver')} on {c.get('pair')} (seed {c.get('seed')})"


@dataclass
class CellOutcome:
    """What a worker sends back: the complete run ``record`` (:meth:`ResultStore.record_run` format), the step
    the run resumed from (0 when it started afresh) and the attempt number."""

    sweep: str
    key: str
    record: dict[str, Any]
    resumed_from: int = 0
    attempt: int = 1
    notes: list[str] = field(default_factory=list)


def run_cell(task: CellTask, progress: Callable[[int, int, str], None] | None = None) -> CellOutcome:
    """Run (or resume) one sweep cell and return its outcome; see the module docstring.

    ``progress(step, steps, info)`` is called after training steps (for a live progress display). A
    checkpoint that cannot be read (corrupt, from other code) is set aside as ``<name>.corrupt`` and the run
    starts afresh, noted in ``CellOutcome.notes``. Exceptions other than monge's own run failures propagate:
    the executor reports them and the driver retries the cell.
    """
    from monge.pairs import make_pair
    from monge.run.checkpoint import Checkpoint
    from monge.config.run import RunConfig, check_costs_match
    from monge.run.runner import run_record_fields
    from monge.run.tracker import MemoryLog, RunTracker, execute_run
    from monge.solvers import get_solver

    if task.threads is not None:
        torch.set_num_threads(int(task.threads))
    cfg = RunConfig(**dict(task.config)).validate()
    pair = make_pair(cfg.pair, seed=cfg.seed, dtype=cfg.torch_dtype, root=cfg.pair_root, device=cfg.resolved_device())
    solver = get_solver(cfg.solver, **dict(cfg.solver_options))
    check_costs_match(cfg.solver, solver, cfg.pair, pair)
    notes: list[str] = []
    checkpoint = Checkpoint(task.checkpoint_path) if task.checkpoint_path else None
    if checkpoint is not None and checkpoint.exists():
        try:
            checkpoint.load()
        except CheckpointError as exc:
            aside = checkpoint.path.with_name(checkpoint.path.name + ".corrupt")
            checkpoint.path.replace(aside)
            notes.append(f"{exc}; set aside as {aside.name}, started afresh")
    log = MemoryLog()
    bar = _ProgressRelay(progress, cfg.steps)
    tracker = RunTracker(cfg, pair, log, bar, 0, checkpoint=checkpoint, checkpoint_every=task.checkpoint_every)
    outcome, result = execute_run(cfg, pair, solver, tracker)
    extra: dict[str, Any] = {"sweep": task.sweep, "cell_key": task.key, "attempt": task.attempt,
                             "resumed_from": tracker.resumed_from}
    if result is not None and task.result_dir:
        result.save(task.result_dir)
        extra["result_dir"] = str(Path(task.result_dir).resolve())
    record = run_record_fields(cfg, pair, solver, **extra)
    record.update(status=outcome.status, error=outcome.error, steps_done=outcome.steps_done,
                  wall_time_s=outcome.wall_time_s, train_time_s=outcome.train_time_s,
                  steps_per_s=outcome.steps_per_s, evals=log.evals, losses=log.losses,
                  created_at=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime()))
    return CellOutcome(task.sweep, task.key, record, tracker.resumed_from, task.attempt, notes)


class _ProgressRelay:
    """The tracker's progress-bar interface, forwarded (at most ~4 times a second) to a ``progress`` function."""

    def __init__(self, progress: Callable[[int, int, str], None] | None, steps: int | None):
        self.progress, self.steps = progress, steps
        self.step, self.info, self.sent = 0, "", 0.0

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, task: int, *, completed: int | None = None, info: str | None = None,
               total: int | None = None, **kwargs: Any) -> None:
        if total is not None:
            self.steps = int(total)
        if completed is not None:
            self.step = int(completed)
        if info is not None:
            self.info = info
        now = time.monotonic()
        if self.progress is not None and (now - self.sent >= 0.25 or self.step >= (self.steps or 0) > 0):
            self.sent = now
            self.progress(self.step, self.steps or 0, self.info)


__all__ = ["LOCATION_FIELDS", "CellOutcome", "CellTask", "cell_key", "run_cell"]
