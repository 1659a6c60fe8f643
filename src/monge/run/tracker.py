"""How one run trains and is watched: :class:`RunTracker`, the callback given to ``solver.fit`` (timing, sampled
losses, scheduled evaluations, time budget, heartbeats, checkpoints), where its logs go (:class:`StoreLog`,
:class:`MemoryLog`), the progress display, and :func:`execute_run`, which turns a fit's end into a
:class:`RunOutcome`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from monge.config.run import RunConfig
from monge.errors import MongeError, TrainingDiverged
from monge.metrics import evaluate, identity_l2_uvp
from monge.metrics.registry import METRICS
from monge.results.rows import garbage_flag
from monge.results.store import ResultStore

_MAX_LOSS_POINTS = 500
HEARTBEAT_EVERY_S = 60.0
"""A training run writes its ``heartbeat_at`` this often (:data:`monge.results.store.STALE_AFTER_S` is 30 times as
long), so a run of another host is not taken for interrupted between sparse evaluations."""
EVAL_SEED_OFFSET = 0x5EED_0F_E7A1
"""Separates the evaluation stream from the training stream: evaluations draw from seed + this."""


def eval_generator(seed: int, offset: int = 0) -> torch.Generator:
    """The generator of a run's evaluation samples (``offset`` 1: its 2-D map figure's)."""
    return torch.Generator().manual_seed((seed + EVAL_SEED_OFFSET + offset) % (2**63))


class NullProgress:
    """Stand-in for the rich progress bar when progress display is off."""

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> "NullProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def progress_bar(console: Any) -> Any:
    """The rich progress display of runs: description, bar, steps done/total, elapsed time, latest info."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=False,
    )


HEADLINE_METRICS = ("l2_uvp_fwd", "l2_uvp_inv", "cos_fwd", "w2_ratio", "cos_grad", "w1_dev")
"""The metrics of progress bars and sweep logs, in order, shown by their catalogue header."""


def metrics_headline(metrics: Mapping[str, float | None]) -> str:
    """The short metric summary of progress bars and sweep logs: ``fwd L2-UVP 0.52 inv L2-UVP 0.234 cos fwd 0.996``."""
    return " ".join(f"{METRICS[k].header} {METRICS[k].format(metrics[k])}" for k in HEADLINE_METRICS if k in metrics)


class StoreLog:
    """Where a run's evaluations and sampled losses go while it trains: straight into the store (``monge bench``)."""

    def __init__(self, store: ResultStore, run_id: int):
        self.store, self.run_id = store, run_id

    def log_eval(self, step: int, train_time: float, metrics: Mapping[str, float]) -> None:
        self.store.log_eval(self.run_id, step, train_time, metrics)

    def log_losses(self, records: list[tuple[int, dict[str, float]]]) -> None:
        self.store.log_losses(self.run_id, records)

    def heartbeat(self) -> None:
        self.store.heartbeat(self.run_id)


class MemoryLog:
    """Where a sweep worker's evaluations and losses go: kept in memory (and in its checkpoints) and sent to
    the driver, which alone writes the store."""

    def __init__(self) -> None:
        self.evals: list[tuple[int, float, dict[str, float]]] = []
        self.losses: list[tuple[int, dict[str, float]]] = []

    def log_eval(self, step: int, train_time: float, metrics: Mapping[str, float]) -> None:
        self.evals = [e for e in self.evals if e[0] != step] + [(int(step), float(train_time), dict(metrics))]

    def log_losses(self, records: list[tuple[int, dict[str, float]]]) -> None:
        self.losses.extend((int(step), dict(logs)) for step, logs in records)

    def heartbeat(self) -> None:
        """Nothing: the sweep driver, not the worker, owns the database."""


class RunTracker:
    """The callback given to ``solver.fit``: times training, samples losses, evaluates, updates the bar.

    With a ``checkpoint``, it is also resumable: it saves the fit's training state together with its own
    bookkeeping (evaluations and losses so far, training time) every ``checkpoint_every`` steps (after that
    step's evaluation) and at the last step, and ``restore`` continues from the file when it exists.
    """

    def __init__(self, cfg: RunConfig, pair: Any, log: Any, bar: Any, task: int, *,
                 checkpoint: Any = None, checkpoint_every: int = 100):
        self.cfg, self.pair, self.log, self.bar, self.task = cfg, pair, log, bar, task
        self.interval = cfg.eval_interval
        self.eval_every_s = cfg.time_budget_s / 5 if self.interval == 0 and cfg.time_budget_s else None
        self.next_eval_s = self.eval_every_s
        self.loss_buffer: list[tuple[int, dict[str, float]]] = []
        self.last_heartbeat = time.perf_counter()
        self.start = time.perf_counter()
        self.excluded = 0.0  # seconds spent evaluating/storing inside the training loop
        self.prior_train_time = 0.0  # training seconds of earlier attempts (resumed runs)
        self.prior_wall_time = 0.0  # wall-clock seconds of earlier attempts, up to their last checkpoint
        self.attempt_start = self.start  # not reset by restore: this attempt's wall clock includes set-up
        self.last_eval_step = -1
        self.step = 0
        self.stopped = False
        self.latest: dict[str, float | None] = {}
        self.loss_text = ""
        self.first_call: tuple[int, float, float] | None = None  # (step, time, excluded) at the first callback
        self.last_call: tuple[int, float, float] | None = None
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self.resumed_from = 0
        self._identity: float | None = None

    @property
    def time_budget_s(self) -> float | None:
        """The run's time budget: the training loop plans the fit's steps to end inside it."""
        return self.cfg.time_budget_s

    def _due(self, step: int, planned: int, train_time: float) -> bool:
        """Whether an evaluation is due after ``step`` of ``planned``."""
        if step >= planned:
            return True
        if self.eval_every_s is None:
            return step % self.interval == 0
        if self.next_eval_s is not None and train_time >= self.next_eval_s:
            while self.next_eval_s <= train_time:
                self.next_eval_s += self.eval_every_s
            return True
        return False

    def loop_steps_per_s(self) -> float | None:
        """Training-loop speed between the first and last callback (excludes set-up such as pre-training
        and evaluation time); ``None`` with fewer than two callbacks."""
        if self.first_call is None or self.last_call is None or self.last_call[0] <= self.first_call[0]:
            return None
        elapsed = (self.last_call[1] - self.first_call[1]) - (self.last_call[2] - self.first_call[2])
        return (self.last_call[0] - self.first_call[0]) / elapsed if elapsed > 0 else None

    def train_time(self) -> float:
        return self.prior_train_time + time.perf_counter() - self.start - self.excluded

    def wall_time(self) -> float:
        """Wall-clock seconds of the run so far: this attempt's plus earlier attempts' (a resumed run)."""
        return self.prior_wall_time + time.perf_counter() - self.attempt_start

    def evaluate(self, result: Any, step: int, train_time: float | None = None) -> None:
        """Evaluate ``result`` at ``step`` on the run's fixed evaluation samples and log the metrics."""
        t0 = time.perf_counter()
        train_time = self.train_time() if train_time is None else train_time
        metrics = {k: float(v) for k, v in evaluate(result, self.pair, n=self.cfg.eval_samples,
                                                    generator=self._eval_generator()).items()}
        if "l2_uvp_fwd" in metrics:
            metrics["l2_uvp_fwd_identity"] = self.identity_l2_uvp()
        self.log.log_eval(step, train_time, metrics)
        self.flush_losses()
        self.latest = metrics
        self.last_eval_step = step
        self.bar.update(self.task, info=self._info())
        self.excluded += time.perf_counter() - t0

    def _eval_generator(self) -> torch.Generator:
        return eval_generator(self.cfg.seed)

    def identity_l2_uvp(self) -> float:
        """The identity map's forward L2-UVP on the run's evaluation samples (computed once)."""
        if self._identity is None:
            self._identity = identity_l2_uvp(self.pair, n=self.cfg.eval_samples, generator=self._eval_generator())
        return self._identity

    def flush_losses(self) -> None:
        if self.loss_buffer:
            self.log.log_losses(self.loss_buffer)
            self.loss_buffer = []

    def _info(self) -> str:
        return " ".join(p for p in (self.loss_text, metrics_headline(self.latest)) if p)

    # ------------------------------------------------------------------ checkpoints
    def restore(self, state: Any) -> int:
        """Resume from the checkpoint if there is one (called by the training loop before its first step)."""
        if self.checkpoint is None or not self.checkpoint.exists():
            return 0
        train, extra = self.checkpoint.load()
        state.load_state_dict(train)
        self.log.evals = [(int(s), float(t), dict(m)) for s, t, m in extra.get("evals", [])]
        self.log.losses = [(int(s), dict(v)) for s, v in extra.get("losses", [])]
        self.prior_train_time = float(extra.get("train_time", 0.0))
        self.prior_wall_time = float(extra.get("wall_time", 0.0))
        self.start, self.excluded = time.perf_counter(), 0.0
        self.last_eval_step = int(extra.get("last_eval_step", -1))
        self.latest = dict(self.log.evals[-1][2]) if self.log.evals else {}
        self.step = self.resumed_from = int(state.step)
        self.bar.update(self.task, completed=self.step, info=self._info())
        return self.step

    def _save_checkpoint(self, progress: Any) -> None:
        t0 = time.perf_counter()
        self.flush_losses()
        self.checkpoint.save(progress.state.state_dict(), {
            "evals": [list(e) for e in self.log.evals], "losses": [list(x) for x in self.log.losses],
            "train_time": self.train_time(), "wall_time": self.wall_time(), "last_eval_step": self.last_eval_step})
        self.excluded += time.perf_counter() - t0

    def __call__(self, progress: Any) -> bool:
        t0 = time.perf_counter()
        self.step = step = int(progress.step)
        if self.first_call is None:
            self.first_call = (step, t0, self.excluded)
        self.last_call = (step, t0, self.excluded)
        logs = dict(progress.logs)
        loss_every = max(1, math.ceil(progress.steps / _MAX_LOSS_POINTS))
        if step % loss_every == 0 or step == progress.steps or step == 1:
            self.loss_buffer.append((step, logs))
        if logs:
            key = "loss" if "loss" in logs else next(iter(logs))
            self.loss_text = f"{key} {logs[key]:.3g}" if math.isfinite(logs[key]) else f"{key} —"
        self.bar.update(self.task, completed=step, total=progress.steps, info=self._info())
        if t0 - self.last_heartbeat >= HEARTBEAT_EVERY_S:
            self.log.heartbeat()                 # the run is alive (ResultStore.reap_orphans, other hosts)
            self.last_heartbeat = t0
        self.excluded += time.perf_counter() - t0
        train_time = self.train_time()
        over_budget = self.cfg.time_budget_s is not None and train_time >= self.cfg.time_budget_s
        if self._due(step, progress.steps, train_time) or over_budget:
            self.evaluate(progress.result(), step)
        if self.checkpoint is not None and getattr(progress, "state", None) is not None and (
                step % self.checkpoint_every == 0 or step >= progress.steps or over_budget):
            self._save_checkpoint(progress)
        if over_budget and step < progress.steps:
            self.stopped = True
            return True
        return False


@dataclass
class RunOutcome:
    """How one run ended (what :meth:`ResultStore.finish_run` records)."""

    status: str
    error: str | None
    steps_done: int
    wall_time_s: float
    train_time_s: float
    steps_per_s: float | None


def execute_run(cfg: RunConfig, pair: Any, solver: Any, tracker: RunTracker) -> tuple[RunOutcome, Any]:
    """Train ``solver`` on ``pair`` with ``tracker`` as its callback; returns the outcome and the result
    (``None`` when the run failed). Divergence and :class:`MongeError` failures become statuses; anything
    else propagates (the caller records it)."""
    train_gen = torch.Generator().manual_seed(cfg.seed)
    status, error, result, steps_done = "finished", None, None, 0
    try:
        result = solver.fit(pair.source, pair.target, steps=cfg.step_cap, batch_size=cfg.batch_size,
                            generator=train_gen, callback=tracker)
        train_time = tracker.train_time()
        steps_done = int(getattr(result, "steps", 0) or tracker.step)
        if tracker.last_eval_step != steps_done:
            tracker.evaluate(result, steps_done, train_time)
        status = "stopped" if tracker.stopped else "finished"
        garbage = garbage_flag(tracker.latest)
        if garbage is not None:
            status, error = "diverged", f"{garbage}: not reported as a result"
    except TrainingDiverged as exc:
        train_time = tracker.train_time()
        status, error, steps_done = "diverged", str(exc), int(exc.step)
        result = exc.result
        if result is not None and tracker.last_eval_step != steps_done:
            try:
                tracker.evaluate(result, steps_done, train_time)
            except MongeError:
                pass  # the last good parameters cannot be evaluated either; keep the diverged status
    except MongeError as exc:
        train_time = tracker.train_time()
        status, error, steps_done, result = "failed", str(exc), tracker.step, None
    tracker.flush_losses()
    steps_per_s = tracker.loop_steps_per_s()
    if steps_per_s is None and train_time > 0 and steps_done > 0:
        steps_per_s = steps_done / train_time
    return RunOutcome(status, error, steps_done, tracker.wall_time(), train_time, steps_per_s), result


__all__ = ["EVAL_SEED_OFFSET", "HEARTBEAT_EVERY_S", "MemoryLog", "NullProgress", "RunOutcome", "RunTracker", "StoreLog",
           "eval_generator", "execute_run", "metrics_headline", "progress_bar"]
