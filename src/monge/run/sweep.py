"""Sweeps: a grid of runs executed locally or on Ray, resumable, with the results store written by the driver.

:func:`run_sweep` is the driver. It validates every run first, registers one *cell* per run in the store's
``sweep_cells`` table (keyed by a hash of the run's config, so the same file always gives the same cells), skips
cells already stored, and hands the others to an executor (:mod:`monge.run.executors`). Each worker
checkpoints its run atomically every ``checkpoint_every`` steps (networks, optimisers, schedules, generator
state, evaluations so far) under ``<out_dir>/checkpoints/`` and saves the final networks under
``<out_dir>/results/<cell key>/``. Only the driver writes the database: each finished cell's run row, its
evaluations and its losses go in with the cell's new status in one transaction, so a sweep killed at any moment
loses no stored row and never stores a cell twice.

Running the same sweep again skips finished cells and resumes interrupted ones from their last checkpoint; a
resumed run ends with the same parameters as an uninterrupted run with the same seed (bit-exact on CPU with a
step budget; a wall-clock budget is counted over all attempts). A worker that raises or dies is retried
(resuming from its checkpoint) up to ``retries`` times; then the cell is stored as a failed run with the error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from monge.errors import InvalidInputError
from monge.run.executors import DoneEvent, Executor, FailedEvent, LocalExecutor, ProgressEvent
from monge.config.run import RunConfig, cell_key
from monge.results.store import ResultStore
from monge.run.runner import build_runs, pair_key, run_record_fields
from monge.run.tracker import NullProgress, metrics_headline, progress_bar
from monge.run.worker import CellTask


@dataclass
class SweepOutcome:
    """What a call of :func:`run_sweep` did.

    Attributes:
        sweep: the sweep's name.
        run_ids: the stored run of every cell that has one, in the sweep's order.
        skipped: cells already stored before this call.
        ran: cells stored by this call (finished, stopped, diverged or failed inside the solver).
        resumed: of those, cells that continued from a checkpoint.
        retries: worker failures that were retried.
        failed: ``(cell key, run label, error)`` of the cells given up after their retries.
        notes: other things worth telling the user (corrupt checkpoints set aside, ...).
    """

    sweep: str
    run_ids: list[int] = field(default_factory=list)
    skipped: int = 0
    ran: int = 0
    resumed: int = 0
    retries: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_cells(runs: Sequence[RunConfig]) -> list[tuple[str, RunConfig]]:
    """``(cell key, config)`` for every run; :class:`InvalidInputError` if two runs are identical."""
    seen: dict[str, RunConfig] = {}
    out = []
    for cfg in runs:
        key = cell_key(cfg.to_dict())
        if key in seen:
            raise InvalidInputError(f"sweep has the same run twice: {cfg.display_name} on {cfg.pair} (seed {cfg.seed}); "
                                    "give one of them another label or option")
        seen[key] = cfg
        out.append((key, cfg))
    return out


def run_sweep(
    name: str,
    runs: Sequence[RunConfig],
    store: ResultStore,
    *,
    out_dir: str | Path,
    executor: Executor | None = None,
    retries: int = 2,
    checkpoint_every: int = 100,
    threads_per_run: int | None = 1,
    progress: bool = True,
    console: Any = None,
    log: Callable[[str], None] | None = None,
) -> SweepOutcome:
    """Run the cells of sweep ``name`` that are not stored yet; see the module docstring.

    Args:
        name: the sweep's name (cells are stored under it; the same name and runs continue a sweep).
        runs: the expanded grid (:func:`monge.config.sweep.load_sweep` builds it from a file).
        store: the results database (written only here, by the driver).
        out_dir: folder for ``checkpoints/`` and ``results/``.
        executor: where cells run (default: a :class:`LocalExecutor` sized to the machine). Not closed here.
        retries: times a cell whose worker raised or died is tried again before it is given up.
        checkpoint_every: steps between checkpoints.
        threads_per_run: torch CPU threads in each worker (``None``: torch's default).
        progress: show a live display (sweep bar plus one bar per running cell) on ``console``.
        log: called with one timestamped line when the sweep starts and whenever a cell starts, is stored, is
            retried or is given up (for log files, where a live display is useless; the CLI's
            ``--no-progress`` prints these lines).
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidInputError(f"retries must be an integer >= 0, got {retries!r}")
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise InvalidInputError(f"checkpoint_every must be a positive integer, got {checkpoint_every!r}")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"sweep name must be a non-empty string, got {name!r}")
    runs = list(runs)
    if not runs:
        raise InvalidInputError(f"sweep {name!r} has no runs")
    pairs, _ = build_runs(runs, on_device=False)  # the driver only checks and describes; workers pick devices
    cells = plan_cells(runs)
    out = Path(out_dir)
    try:
        (out / "checkpoints").mkdir(parents=True, exist_ok=True)
        (out / "results").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"sweep output folder {out}: cannot create it ({exc.strerror or exc})") from exc
    _adopt_rekeyed_cells(store, name, out)
    store.register_cells(name, [(key, cfg.to_dict()) for key, cfg in cells])
    stored = {c["cell_key"]: c for c in store.cells(name)}
    outcome = SweepOutcome(sweep=name)
    todo = []
    for key, cfg in cells:
        if stored[key]["status"] == "done":
            outcome.skipped += 1
            continue
        todo.append(CellTask(sweep=name, key=key, config=cfg.to_dict(),
                             checkpoint_path=str((out / "checkpoints" / f"{key}.ckpt").resolve()),
                             checkpoint_every=checkpoint_every,
                             result_dir=str((out / "results" / key).resolve()), threads=threads_per_run))
    by_key = dict(cells)
    own_executor = executor is None
    executor = executor or LocalExecutor()
    display = _SweepDisplay(name, len(cells), outcome.skipped, progress, console, log)
    display.say(f"sweep {name}: {len(cells)} cells, {outcome.skipped} already stored, {len(todo)} to run")
    try:
        with display:
            for task in todo:
                executor.submit(task)
            while executor.pending():
                for event in executor.events(timeout=1.0):
                    if isinstance(event, ProgressEvent):
                        display.running(event.task, event.step, event.steps, event.info)
                    elif isinstance(event, DoneEvent):
                        _store_done(store, event, stored[event.task.key], outcome)
                        display.finished(event.task, event.outcome.record)
                    elif isinstance(event, FailedEvent):
                        task, attempts = event.task, stored[event.task.key]["attempts"] + event.task.attempt
                        if event.task.attempt <= retries:
                            outcome.retries += 1
                            store.record_cell(name, task.key, None, status="pending", error=event.error,
                                              attempts=attempts)
                            executor.submit(_retry(task))
                            display.retrying(task, event.error, attempts)
                        else:
                            cfg = by_key[task.key]
                            record = _failed_record(cfg, pairs[pair_key(cfg, on_device=False)], task, event.error)
                            store.record_cell(name, task.key, record, status="failed", error=event.error,
                                              attempts=attempts)
                            outcome.failed.append((task.key, task.label, event.error))
                            display.finished(task, record)
    finally:
        if own_executor:
            executor.close()
    outcome.run_ids = [c["run_id"] for c in store.cells(name) if c["cell_key"] in by_key and c["run_id"] is not None]
    return outcome


def _adopt_rekeyed_cells(store: ResultStore, name: str, out: Path) -> None:
    """Cells stored under an older form of their key (keys once hashed ``pair_root`` too) take their current
    key, and their checkpoints follow, so such a sweep continues instead of starting again."""
    stale = {c["cell_key"]: cell_key(c["config"]) for c in store.cells(name)}
    stale = {old: new for old, new in stale.items() if old != new}
    for old, new in store.rekey_cells(name, stale).items():
        checkpoint, target = out / "checkpoints" / f"{old}.ckpt", out / "checkpoints" / f"{new}.ckpt"
        if checkpoint.exists() and not target.exists():
            checkpoint.replace(target)


def _retry(task: CellTask) -> CellTask:
    from dataclasses import replace

    return replace(task, attempt=task.attempt + 1)


def _store_done(store: ResultStore, event: DoneEvent, cell: dict[str, Any], outcome: SweepOutcome) -> None:
    result = event.outcome
    store.record_cell(result.sweep, result.key, result.record, status="done", error=None,
                      attempts=cell["attempts"] + result.attempt)
    if event.task.checkpoint_path:
        Path(event.task.checkpoint_path).unlink(missing_ok=True)  # only once the run is safely stored
    outcome.ran += 1
    outcome.resumed += bool(result.resumed_from)
    outcome.notes.extend(f"{event.task.label}: {note}" for note in result.notes)


def _failed_record(cfg: RunConfig, pair: Any, task: CellTask, error: str) -> dict[str, Any]:
    record = run_record_fields(cfg, pair, None, sweep=task.sweep, cell_key=task.key, attempt=task.attempt)
    record.update(status="failed", error=error, steps_done=0, evals=[], losses=[], wall_time_s=None,
                  train_time_s=None, steps_per_s=None)
    return record


class _SweepDisplay:
    """A rich live display: one bar for the sweep (cells stored / total) and one per running cell; and/or a
    plain line per event through ``log``."""

    def __init__(self, name: str, total: int, done: int, enabled: bool, console: Any,
                 log: Callable[[str], None] | None = None):
        self.enabled, self.log = enabled, log
        if enabled:
            if console is None:
                from rich.console import Console

                console = Console(stderr=True)
            self.bar: Any = progress_bar(console)
        else:
            self.bar = NullProgress()
        self.sweep_task = self.bar.add_task(f"sweep {name}", total=total, completed=done, info="")
        self.cell_tasks: dict[str, Any] = {}
        self.seen: set[tuple[str, int]] = set()
        self.total, self.done = total, done

    def __enter__(self) -> "_SweepDisplay":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def say(self, line: str) -> None:
        if self.log is not None:
            self.log(f"{time.strftime('%H:%M:%S')} {line}")

    def running(self, task: CellTask, step: int, steps: int, info: str) -> None:
        if self.enabled:
            if task.key not in self.cell_tasks:
                self.cell_tasks[task.key] = self.bar.add_task(f"  {task.label}", total=steps, info="")
            self.bar.update(self.cell_tasks[task.key], completed=step, info=info)
        if (task.key, task.attempt) not in self.seen:
            self.seen.add((task.key, task.attempt))
            self.say(f"started {task.label}" + (f" (attempt {task.attempt})" if task.attempt > 1 else "")
                     + (f", resuming at step {step}" if step > 1 else ""))

    def finished(self, task: CellTask, record: dict[str, Any]) -> None:
        status = record["status"]
        if task.key in self.cell_tasks and self.enabled:
            self.bar.update(self.cell_tasks[task.key], info=status)
            self.bar.remove_task(self.cell_tasks.pop(task.key))
        self.bar.update(self.sweep_task, advance=1, info=f"last: {task.label} {status}")
        self.done += 1
        if status == "failed" and record.get("error"):
            detail = _first_line(record["error"])
        else:
            evals = record.get("evals") or []
            wall = record.get("wall_time_s")
            detail = ", ".join(p for p in (f"{record.get('steps_done', 0)}/{record.get('steps_requested', '?')} steps",
                                           None if wall is None else f"{wall:.0f} s",
                                           metrics_headline(evals[-1][2]) if evals else None) if p)
        self.say(f"[{self.done}/{self.total}] {task.label}: {status}; {detail}")

    def retrying(self, task: CellTask, error: str, attempts: int) -> None:
        self.bar.update(self.sweep_task, info=f"retrying {task.label}: {_first_line(error)[:80]}")
        self.say(f"retrying {task.label} after attempt {attempts}: {_first_line(error)}")


def _first_line(error: str) -> str:
    return error.strip().splitlines()[0] if error.strip() else "error"


def sweep_summary_lines(outcome: SweepOutcome) -> list[str]:
    """Human-readable lines about a sweep call (for the CLI)."""
    lines = [f"sweep {outcome.sweep}: {outcome.ran} cells run ({outcome.resumed} resumed from checkpoints), "
             f"{outcome.skipped} already stored, {outcome.retries} retries, {len(outcome.failed)} failed"]
    for key, label, error in outcome.failed:
        lines.append(f"  failed {label} [{key}]: {_first_line(error)}")
    lines += [f"  note: {n}" for n in outcome.notes]
    return lines


__all__ = ["SweepOutcome", "plan_cells", "run_sweep", "sweep_summary_lines"]
