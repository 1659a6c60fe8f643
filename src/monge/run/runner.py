"""Run solvers on benchmark pairs, evaluate them on a schedule and store everything.

One run is (solver name + options, pair spec, seed, budget), described by a :class:`RunConfig`.
:func:`run_bench` validates every config first (unknown solver or pair names, bad options fail before any
training), then trains each run with its own seeded :class:`torch.Generator` (the global RNG is never
touched), evaluates every ``eval_every`` steps and at the end with :func:`monge.metrics.evaluate` on a
separately seeded generator (evaluation time is not counted as training time), and writes runs,
metrics and sampled losses into a :class:`~monge.run.store.ResultStore`. A run that diverges or fails
with a :class:`~monge.errors.MongeError` is recorded as such and the next run still happens.
"""

from __future__ import annotations

import math
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch

from monge._checks import check_positive_int
from monge.errors import InvalidInputError, MongeError, TrainingDiverged
from monge.run.store import ResultStore, higher_is_better
from monge.run.worker import cell_key

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_MAX_LOSS_POINTS = 500
HEARTBEAT_EVERY_S = 60.0
"""A training run writes its ``heartbeat_at`` this often (:data:`monge.run.store.STALE_AFTER_S` is 30 times as
long), so a run of another host is not taken for interrupted between sparse evaluations."""
GARBAGE_FACTOR = 100.0
"""A W2 map whose forward L2-UVP is more than this many times the identity map's (and more than
:data:`GARBAGE_FLOOR`) is garbage, not a result."""
GARBAGE_FLOOR = 1000.0
"""Forward L2-UVP (%) below which no map is called garbage: 10× the constant map's 100 %, so a pair whose
identity map is already nearly exact does not flag merely poor maps."""
GARBAGE_L2_UVP = 1e4
"""Forward L2-UVP (%) above which a stored map is flagged when its run did not record the identity's (older
runs): about 100× the identity map's on monge's standardised benchmark pairs."""
_EVAL_SEED_OFFSET = 0x5EED_0F_E7A1  # separates the evaluation stream from the training stream


@dataclass(frozen=True)
class RunConfig:
    """One benchmark run.

    Attributes:
        solver: registered solver name (``"w2gn"``).
        pair: pair spec (``"gaussian:16"``, ``"toy:swiss_roll"``).
        solver_options: keyword arguments for the solver's constructor (JSON-serialisable).
        seed: seeds the pair (for seeded pair families), training and evaluation generators.
        steps: training steps requested; with ``time_budget_s`` a cap, and ``None`` for a run planned by its time
            budget alone (the solver measures its step rate and plans its steps, :mod:`monge.solvers.loop`).
        batch_size: samples per step from each distribution.
        eval_every: evaluate every this many steps (and always at the end); ``None`` → about 5 evaluations (by
            steps, or every fifth of the time budget for a run without ``steps``).
        eval_samples: samples per evaluation.
        time_budget_s: seconds of training: the solver plans its steps (and learning-rate schedule) to end
            inside them; a run still going when they are spent is stopped (status ``stopped``).
        dtype: ``"float32"`` or ``"float64"``.
        pair_root: folder of published pair files, for pair families that load them (``w2b-mix:<D>``).
        label: the name stored and shown for this run (default: the solver name), e.g. ``"w2gn[mlp]"``
            for a variant of a solver's options.
        device: where the pair's samples and the networks live: ``"cpu"`` (default), ``"cuda"``, ``"cuda:1"``,
            ``"mps"``, or ``"auto"`` (CUDA when this machine has it, else the CPU; resolved where the run
            trains, so a sweep driver without a GPU can send runs to GPU workers).
        pair_version: the version of the pair family's construction this run is for
            (:func:`monge.pairs.pair_version`); ``None`` (default) means this monge's. :meth:`to_dict` records
            the resolved version, so stored runs and sweep cells of an older construction (e.g. the centred
            Gaussian pairs of version 1) never count as the same run; :meth:`validate` refuses a version this
            monge does not build.
    """

    solver: str
    pair: str
    solver_options: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    steps: int | None = 1000
    batch_size: int = 256
    eval_every: int | None = None
    eval_samples: int = 4096
    time_budget_s: float | None = None
    dtype: str = "float32"
    pair_root: str | None = None
    label: str | None = None
    device: str = "cpu"
    pair_version: int | None = None

    @property
    def display_name(self) -> str:
        """``label`` or the solver name: what the store and the leaderboard call this run."""
        return self.label or self.solver.strip().lower()

    def validate(self) -> "RunConfig":
        """Check the budget and types, raising :class:`InvalidInputError` naming the bad field; returns self."""
        if not isinstance(self.solver, str) or not self.solver.strip():
            raise InvalidInputError(f"solver name must be a non-empty string, got {self.solver!r}")
        if not isinstance(self.pair, str) or not self.pair.strip():
            raise InvalidInputError(f"pair spec must be a non-empty string, got {self.pair!r}")
        if not isinstance(self.solver_options, Mapping):
            raise InvalidInputError(f"solver options must be a mapping, got {type(self.solver_options).__name__}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidInputError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.steps is None:
            if self.time_budget_s is None:
                raise InvalidInputError("a run needs steps, a time budget, or both")
        else:
            check_positive_int(self.steps, "steps")
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.eval_samples, "eval_samples")
        if self.eval_every is not None:
            check_positive_int(self.eval_every, "eval_every")
        if self.time_budget_s is not None and not (
            isinstance(self.time_budget_s, (int, float)) and math.isfinite(self.time_budget_s) and self.time_budget_s > 0
        ):
            raise InvalidInputError(f"time budget must be a positive number of seconds, got {self.time_budget_s!r}")
        if self.dtype not in _DTYPES:
            raise InvalidInputError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")
        if not isinstance(self.device, str) or (self.device != "auto" and not _valid_device(self.device)):
            raise InvalidInputError(f"device must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto', got {self.device!r}")
        if self.pair_version is not None:
            if isinstance(self.pair_version, bool) or not isinstance(self.pair_version, int) or self.pair_version < 1:
                raise InvalidInputError(f"pair_version must be a positive integer, got {self.pair_version!r}")
            current = current_pair_version(self.pair)
            if current is not None and current != self.pair_version:
                raise InvalidInputError(
                    f"run of {self.pair!r} asks for version {self.pair_version} of its pair family, but this monge "
                    f"builds version {current}; the run cannot be reproduced here (use the monge that stored it, or "
                    "drop pair_version to run on the current construction)")
        return self

    def resolved_pair_version(self) -> int | None:
        """``pair_version``, or the current version of the pair's family (``None`` for an unknown family)."""
        return self.pair_version if self.pair_version is not None else current_pair_version(self.pair)

    def resolved_device(self) -> torch.device:
        """The device this run trains on here: ``device``, with ``"auto"`` resolved on this machine.

        Raises :class:`InvalidInputError` when the device is not available on this machine."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        available = {"cpu": True, "cuda": torch.cuda.is_available(),
                     "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()}
        if not available.get(device.type, False):
            raise InvalidInputError(f"device {self.device!r} is not available on this machine "
                                    f"({platform.node() or 'this host'}); use 'cpu' or 'auto'")
        if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
            raise InvalidInputError(f"device {self.device!r}: this machine has {torch.cuda.device_count()} CUDA devices")
        return device

    @property
    def eval_interval(self) -> int:
        """The evaluation interval actually used (``eval_every`` or ``max(1, steps // 5)``; 0 for a run without
        ``steps``, evaluated every fifth of its time budget)."""
        if self.eval_every is not None:
            return int(self.eval_every)
        return max(1, self.steps // 5) if self.steps is not None else 0

    @property
    def step_cap(self) -> int:
        """The ``steps`` a solver's ``fit`` gets: ``steps``, or a cap when the time budget alone plans them."""
        from monge.solvers.loop import BUDGET_STEP_CAP

        return self.steps if self.steps is not None else BUDGET_STEP_CAP

    @property
    def torch_dtype(self) -> torch.dtype:
        """``dtype`` as a :class:`torch.dtype`."""
        return _DTYPES[self.dtype]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (stored in ``runs.config_json``), with the evaluation interval and the pair
        family's version resolved."""
        out = asdict(self)
        out["solver_options"] = dict(self.solver_options)
        out["eval_every"] = self.eval_interval
        out["pair_version"] = self.resolved_pair_version()
        return out


def current_pair_version(spec: Any) -> int | None:
    """This monge's version of the family of pair spec ``spec`` (:func:`monge.pairs.pair_version`), or ``None``
    when the family is unknown."""
    from monge.pairs import pair_version

    try:
        return pair_version(spec)
    except MongeError:
        return None


RUN_CONFIG_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RunConfig))
"""The keys of :meth:`RunConfig.to_dict`: what identifies a run's configuration (:func:`run_key`)."""


def run_key(config: Mapping[str, Any]) -> str:
    """The identity of a run's configuration: :func:`~monge.run.worker.cell_key` of its :data:`RUN_CONFIG_FIELDS`
    (solver, label, options, pair spec and version, seed, steps, time budget, batch size, evaluation, dtype,
    device; the folder of published pair files is left out). ``config`` is :meth:`RunConfig.to_dict` or a stored
    run's config, whose other entries (solver settings, sweep bookkeeping, ``result_dir``) are ignored. A stored
    run without ``pair_version`` was made with version 1 of its pair family."""
    return cell_key({k: v for k, v in dict(config).items() if k in RUN_CONFIG_FIELDS})


def stored_pair_version(row: Mapping[str, Any]) -> int | None:
    """The pair-family version a stored run was made with: its config's ``pair_version``; 1 for a run whose config
    names its pair spec but no version (stored before monge recorded versions, when every family was at version
    1); ``None`` when the config does not say (a row written by hand, without a run config)."""
    config = row.get("config") or {}
    value = config.get("pair_version")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return 1 if "pair" in config else None


def pair_label(row: Mapping[str, Any]) -> str:
    """The pair name a stored run is shown and grouped under: its ``pair``, followed by `` (v<N>)`` when it was
    made with an older version N of the pair family than this monge builds (e.g. ``gaussian:2 (v1)``, the centred
    Gaussian pairs), so that old and new runs are never averaged or plotted as one pair. Rows whose config does
    not tell (:func:`stored_pair_version` is ``None``: a :class:`RunSummary` of this session, a row written by
    hand) and rows already labelled are returned as they are."""
    pair = str(row.get("pair", ""))
    stored = stored_pair_version(row)
    if stored is None:
        return pair
    current = current_pair_version(pair)
    if current is None or stored == current or pair.endswith(f" (v{stored})"):
        return pair
    return f"{pair} (v{stored})"


@dataclass(frozen=True)
class RunSummary:
    """The outcome of one run (also what :meth:`ResultStore.leaderboard` rows hold).

    Attributes:
        run_id, solver, pair, dim, seed, status, error: as stored.
        steps_requested, steps_done: budget and steps actually trained.
        wall_time_s: whole run including evaluations (a resumed run: summed over its attempts, each up to
            its last checkpoint); train_time_s: time inside ``fit`` minus evaluations (includes a solver's
            set-up such as pre-training); steps_per_s: speed of the training loop (between the first and the
            last step of the last attempt, evaluations excluded).
        final: metrics at the last evaluation; best: best value of each metric over the run (by the metric's
            declared direction, :mod:`monge.metrics.registry`).
        plots: PNG files written for this run (2-D map plots).
        result_dir: the folder holding the run's saved result (``monge bench --keep-results``), or ``None``.
        reused: the run was already stored with the same configuration and was not trained again
            (``run_bench(..., reuse=True)``, the CLI's default).
    """

    run_id: int
    solver: str
    pair: str
    dim: int
    seed: int
    status: str
    steps_requested: int
    steps_done: int
    wall_time_s: float | None
    train_time_s: float | None
    steps_per_s: float | None
    final: dict[str, float | None]
    best: dict[str, float]
    error: str | None = None
    plots: tuple[str, ...] = ()
    result_dir: str | None = None
    reused: bool = False

    def metric(self, name: str, which: str = "final") -> float | None:
        """``final`` (default) or ``best`` value of metric ``name``, ``None`` if it was not evaluated."""
        return (self.final if which == "final" else self.best).get(name)


def environment_versions(device: str | torch.device = "cpu") -> dict[str, str]:
    """Versions stored with every run: monge, torch, numpy, python, platform and the device used."""
    import numpy

    try:
        import monge

        monge_version = str(getattr(monge, "__version__", "unknown"))
    except Exception:  # noqa: BLE001
        monge_version = "unknown"
    return {
        "monge": monge_version,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": str(device),
    }


def _valid_device(text: str) -> bool:
    try:
        return torch.device(text).type in ("cpu", "cuda", "mps")
    except (RuntimeError, TypeError, ValueError):
        return False


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "pair"


def validate_configs(configs: Iterable[RunConfig], *, on_device: bool = True) -> None:
    """Check every config (budget, solver name and options, pair spec, device) without training anything.

    Raises :class:`~monge.errors.UnknownNameError` or :class:`InvalidInputError` naming the problem.
    :func:`run_bench` does this itself; call it to fail before opening a store. ``on_device=False`` skips the
    check that each run's device exists here (a sweep driver sending runs to other machines).
    """
    build_runs(list(configs), on_device=on_device)


def build_runs(configs: Sequence[RunConfig], *, on_device: bool = True) -> tuple[dict, list]:
    """Validate every config and build its pair and solver once, before any training, so that bad names and
    options fail early. Returns ``({pair_key(cfg): pair}, [solver of each config])``.

    With ``on_device`` (for runs trained here) pairs are built on each run's device, which must be available;
    without (a sweep driver, which only checks and describes the runs) they are built on the CPU.
    """
    from monge.pairs import make_pair
    from monge.solvers import get_solver

    pairs: dict[tuple, Any] = {}
    solvers = []
    for cfg in configs:
        if not isinstance(cfg, RunConfig):
            raise InvalidInputError(f"expected RunConfig objects, got {type(cfg).__name__}")
        cfg.validate()
        key = pair_key(cfg, on_device=on_device)
        if key not in pairs:
            pairs[key] = make_pair(cfg.pair, seed=cfg.seed, dtype=cfg.torch_dtype, root=cfg.pair_root,
                                   device=key[-1])
        solver = get_solver(cfg.solver, **dict(cfg.solver_options))
        check_costs_match(cfg.solver, solver, cfg.pair, pairs[key])
        solvers.append(solver)
    return pairs, solvers


def pair_key(cfg: RunConfig, *, on_device: bool = True) -> tuple:
    """What identifies a run's pair in :func:`build_runs`' result: spec, seed, dtype, root and device."""
    device = str(cfg.resolved_device()) if on_device else "cpu"
    return (cfg.pair, cfg.seed, cfg.dtype, cfg.pair_root, device)


def check_costs_match(solver_name: str, solver: Any, pair_spec: str, pair: Any) -> None:
    """Raise :class:`InvalidInputError` when a solver of one cost (W2 map / W1 critic) is asked to run on a pair
    whose ground truth is for the other (pairs without ground truth accept both)."""
    solver_cost = str(getattr(solver, "cost", "w2"))
    pair_cost = getattr(pair, "cost", None)
    if pair_cost is not None and pair_cost != solver_cost:
        raise InvalidInputError(
            f"solver {solver_name!r} is a {solver_cost.upper()} solver but pair {pair_spec!r} carries "
            f"{pair_cost.upper()} ground truth; pick one of the {pair_cost.upper()} solvers "
            f"(monge.available_solvers(cost={pair_cost!r}), or `monge solvers`)")


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


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.3g}"


def metrics_headline(metrics: Mapping[str, float | None]) -> str:
    """The short metric summary of progress bars and sweep logs: ``L2-UVP→ 0.52 L2-UVP← 0.234 cos 0.996``."""
    parts = []
    for key, label in (("l2_uvp_fwd", "L2-UVP→"), ("l2_uvp_inv", "L2-UVP←"), ("cos_fwd", "cos"), ("w2_ratio", "W2 ratio"),
                       ("cos_grad", "cos∇"), ("w1_dev", "W1 dev %")):
        if key in metrics:
            parts.append(f"{label} {_fmt(metrics[key])}")
    return " ".join(parts)


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
        from monge.metrics import evaluate

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
        return torch.Generator().manual_seed((self.cfg.seed + _EVAL_SEED_OFFSET) % (2**63))

    def identity_l2_uvp(self) -> float:
        """The identity map's forward L2-UVP on the run's evaluation samples (computed once)."""
        if self._identity is None:
            from monge.metrics import identity_l2_uvp

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
            self.loss_text = f"{key} {_fmt(logs[key])}"
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


def run_bench(
    configs: Iterable[RunConfig],
    store: ResultStore,
    *,
    out_dir: str | Path | None = None,
    progress: bool = True,
    console: Any = None,
    baselines: bool = False,
    keep_results: str | Path | None = None,
    reuse: bool = False,
) -> list[RunSummary]:
    """Run every config, store runs/metrics/losses in ``store`` and return one :class:`RunSummary` each.

    With ``baselines`` (the CLI's default), every pair with ground truth also gets one stored row per baseline map
    (``baseline:identity``, ``baseline:constant``, ``baseline:linear``, ``baseline:discrete_ot``; see
    :func:`monge.metrics.baseline_metrics`), scored on the runs' evaluation samples; their summaries follow
    the runs in the returned list.

    All configs are validated (names, options, budgets) before any training starts. With ``out_dir``,
    writes ``convergence_<pair>.png`` per pair (:func:`monge.plot.plot_convergence`: the runs' curves on a log
    axis with the baselines as labelled horizontal lines) and ``map_<run id>_<solver>_<pair>.png`` for each run on
    a 2-D pair. ``progress`` shows a rich progress bar on ``console`` (default: a stderr console).

    With ``keep_results`` (a folder, created if needed), each run's fitted result (``W2Result.save`` /
    ``W1Result.save``) is saved under ``<keep_results>/run<id>_<solver>_<pair>_seed<seed>/`` and the absolute path
    is stored as ``result_dir`` in the run's config, where ``monge report`` finds it to draw 2-D maps.

    With ``reuse`` (the CLI's default; ``monge bench --rerun`` turns it off) a config whose identical run is
    already stored (same :func:`run_key`: solver, label, options, pair spec and version, seed, budget, batch
    size, evaluation, dtype, device) and complete (finished, or stopped by its time budget) is not trained again:
    its stored row is returned with ``reused=True``. With ``keep_results`` a stored run only counts when its
    saved result folder still exists. Baseline rows are reused likewise (same pair, version, seed, dtype and
    evaluation samples). Failed or diverged runs are always trained again.
    """
    from monge.solvers import get_solver

    configs = list(configs)
    pairs, solvers = build_runs(configs)
    out_path = _make_folder(out_dir, "output folder")
    keep_path = _make_folder(keep_results, "results folder (--keep-results)")
    if progress:
        if console is None:
            from rich.console import Console

            console = Console(stderr=True)
        bar: Any = progress_bar(console)
    else:
        bar = NullProgress()

    summaries: list[RunSummary] = []
    with bar:
        for index, (cfg, solver) in enumerate(zip(configs, solvers)):
            pair = pairs[pair_key(cfg)]
            stored = find_reusable_run(store, cfg, pair, need_result=keep_path is not None) if reuse else None
            if stored is not None:
                summary = replace(summaries_from_store(store, [stored["id"]])[0], reused=True)
                bar.add_task(f"[{index + 1}/{len(configs)}] {cfg.display_name} on {cfg.pair} (seed {cfg.seed})",
                             total=1, completed=1,
                             info=f"reused stored run {summary.run_id} {metrics_headline(summary.final)}")
                if out_path is not None and pair.dim == 2 and summary.result_dir:
                    result = _load_kept_result(summary.result_dir, store)
                    if result is not None:
                        summary = _map_plot(summary, cfg, pair, result, out_path)
                summaries.append(summary)
                continue
            if index > 0:  # a fresh solver per run: fit may keep state between calls
                solver = get_solver(cfg.solver, **dict(cfg.solver_options))
            summary, result = _one_run(cfg, pair, solver, store, bar, index, len(configs))
            if keep_path is not None and result is not None:
                summary = _keep_result(summary, result, keep_path, store)
            if out_path is not None and result is not None and pair.dim == 2:
                summary = _map_plot(summary, cfg, pair, result, out_path)
            summaries.append(summary)
    if baselines:
        for (spec, seed, dtype, *_), pair in pairs.items():
            if getattr(pair, "has_ground_truth", False):
                eval_samples = next(c.eval_samples for c in configs if (c.pair, c.seed) == (spec, seed))
                summaries.extend(_store_baselines(pair, spec, seed, eval_samples, store, dtype=dtype, reuse=reuse))
    if out_path is not None:
        from monge.plot import plot_convergence

        by_pair: dict[str, list[int]] = {}
        for s in summaries:
            by_pair.setdefault(s.pair, []).append(s.run_id)
        for pair_name, ids in by_pair.items():
            plot_convergence(store, ids, out_path / f"convergence_{_slug(pair_name)}.png")
    return summaries


def _make_folder(path: str | Path | None, what: str) -> Path | None:
    """``path`` as a created folder (``None`` stays ``None``); :class:`InvalidInputError` naming it otherwise."""
    if path is None:
        return None
    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"{what} {folder}: cannot create it ({exc.strerror or exc})") from exc
    return folder


def _complete(row: Mapping[str, Any]) -> bool:
    """A stored run whose outcome a rerun would repeat: finished, or stopped by its time budget (not interrupted)."""
    return row.get("status") == "finished" or (row.get("status") == "stopped" and not row.get("error"))


def _kept_result_folder(value: Any, store: ResultStore) -> Path | None:
    """The saved-result folder a stored ``result_dir`` names (relative paths: beside the database), if it holds a
    ``result.json``."""
    if not value:
        return None
    path = Path(str(value)).expanduser()
    if not path.is_absolute() and str(store.path) != ":memory:":
        path = store.path.parent / path
    return path if (path / "result.json").is_file() else None


def find_reusable_run(store: ResultStore, cfg: RunConfig, pair: Any, *, need_result: bool = False
                      ) -> dict[str, Any] | None:
    """The newest stored run that ``cfg`` would repeat: same :func:`run_key` (so the same pair version too),
    stored under the same solver label and pair name, and complete (finished, or stopped by its time budget).
    With ``need_result`` its saved result folder (``result_dir``) must still exist. ``None`` when there is none."""
    key = run_key(cfg.to_dict())
    for row in store.runs(solver=cfg.display_name, pair=str(getattr(pair, "name", cfg.pair))):
        if not _complete(row) or run_key(row["config"]) != key:
            continue
        if need_result and _kept_result_folder(row["config"].get("result_dir"), store) is None:
            continue
        return row
    return None


def _keep_result(summary: RunSummary, result: Any, keep_path: Path, store: ResultStore) -> RunSummary:
    """Save a run's fitted result under ``keep_path`` and record the folder as the run's ``result_dir``."""
    folder = (keep_path / f"run{summary.run_id}_{_slug(summary.solver)}_{_slug(summary.pair)}_seed{summary.seed}"
              ).resolve()
    try:
        result.save(folder)
    except (OSError, MongeError) as exc:
        raise InvalidInputError(f"run {summary.run_id} ({summary.solver} on {summary.pair}) is stored, but its result "
                                f"cannot be saved to {folder}: {getattr(exc, 'strerror', None) or exc}") from exc
    store.update_config(summary.run_id, {"result_dir": str(folder)})
    return replace(summary, result_dir=str(folder))


def _load_kept_result(result_dir: str, store: ResultStore) -> Any:
    """The result saved in a stored run's ``result_dir``, or ``None`` when it cannot be loaded."""
    from monge.run.report import load_saved_result

    folder = _kept_result_folder(result_dir, store)
    if folder is None:
        return None
    try:
        return load_saved_result(folder)
    except MongeError:
        return None


def run_record_fields(cfg: RunConfig, pair: Any, solver: Any, **extra_config: Any) -> dict[str, Any]:
    """The stored description of a run (``ResultStore.start_run`` keyword arguments)."""
    return dict(
        solver=cfg.display_name,
        pair=str(getattr(pair, "name", cfg.pair)),
        dim=int(pair.dim),
        seed=cfg.seed,
        steps_requested=cfg.steps or 0,
        batch_size=cfg.batch_size,
        eval_every=cfg.eval_interval,
        config={**cfg.to_dict(), "solver_settings": _safe_settings(solver, pair, cfg), **extra_config},
        versions=environment_versions(getattr(pair, "device", "cpu")),
    )


def _one_run(cfg: RunConfig, pair: Any, solver: Any, store: ResultStore, bar: Any, index: int, total: int):
    run_id = store.start_run(**run_record_fields(cfg, pair, solver))
    task = bar.add_task(f"[{index + 1}/{total}] {cfg.display_name} on {cfg.pair} (seed {cfg.seed})", total=cfg.steps, info="")
    tracker = RunTracker(cfg, pair, StoreLog(store, run_id), bar, task)
    wall0 = time.perf_counter()
    try:
        outcome, result = execute_run(cfg, pair, solver, tracker)
    except BaseException as exc:  # not ours (a bug, Ctrl-C): record the run, then re-raise
        interrupted = isinstance(exc, KeyboardInterrupt)
        try:
            tracker.loss_buffer = []
            store.finish_run(run_id, "stopped" if interrupted else "failed", steps_done=tracker.step,
                             error="interrupted" if interrupted else f"{type(exc).__name__}: {exc}".strip(),
                             wall_time_s=time.perf_counter() - wall0, train_time_s=tracker.train_time())
        except MongeError:
            pass
        raise
    store.finish_run(run_id, outcome.status, steps_done=outcome.steps_done, error=outcome.error,
                     wall_time_s=outcome.wall_time_s, train_time_s=outcome.train_time_s,
                     steps_per_s=outcome.steps_per_s)
    bar.update(task, completed=outcome.steps_done, info=f"{outcome.status} {tracker._info()}".strip())
    row = store.leaderboard([run_id])[0]
    return _summary_from_row(row), result


def _baseline_names(pair: Any) -> tuple[str, ...]:
    """The baselines :func:`monge.metrics.baseline_metrics` scores on ``pair`` (called as :func:`_store_baselines`
    calls it)."""
    from monge.pairs.base import BASELINES

    return ("dot",) if getattr(pair, "cost", None) == "w1" else (*BASELINES, "discrete_ot")


def _baseline_config(name: str, spec: str, seed: int, eval_samples: int, dtype: str) -> dict[str, Any]:
    return {"baseline": name, "pair": spec, "seed": int(seed), "eval_samples": int(eval_samples), "dtype": dtype,
            "pair_version": current_pair_version(spec)}


def _stored_baselines(store: ResultStore, pair: Any, spec: str, seed: int, eval_samples: int, dtype: str
                      ) -> list[int] | None:
    """Ids of a complete stored set of the pair's baseline rows with the same configuration (the newest of each),
    or ``None`` when one is missing."""
    ids = []
    for name in _baseline_names(pair):
        wanted = _baseline_config(name, spec, seed, eval_samples, dtype)
        match = next((row["id"] for row in store.runs(solver=f"baseline:{name}", pair=str(getattr(pair, "name", spec)),
                                                       status="finished")
                      if row["seed"] == seed and all(row["config"].get(k) == v for k, v in wanted.items())), None)
        if match is None:
            return None
        ids.append(match)
    return ids


def _store_baselines(pair: Any, spec: str, seed: int, eval_samples: int, store: ResultStore, *,
                     dtype: str = "float32", reuse: bool = False) -> list[RunSummary]:
    """Score the pair's baseline maps on the runs' evaluation samples and store one finished run each (with
    ``reuse``, return the stored rows of an identical earlier scoring instead)."""
    from monge.metrics import baseline_metrics

    if reuse:
        ids = _stored_baselines(store, pair, spec, seed, eval_samples, dtype)
        if ids is not None:
            return [replace(s, reused=True) for s in summaries_from_store(store, ids)]
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed((seed + _EVAL_SEED_OFFSET) % (2**63))
    scores = baseline_metrics(pair, n=eval_samples, generator=gen, n_discrete=min(eval_samples, 1024))
    seconds = time.perf_counter() - t0
    run_ids = []
    for name, metrics in scores.items():
        run_id = store.start_run(solver=f"baseline:{name}", pair=str(getattr(pair, "name", spec)), dim=int(pair.dim),
                                 seed=seed, steps_requested=0, batch_size=0, eval_every=0,
                                 config=_baseline_config(name, spec, seed, eval_samples, dtype),
                                 versions=environment_versions(getattr(pair, "device", "cpu")))
        store.log_eval(run_id, 0, 0.0, metrics)
        store.finish_run(run_id, "finished", steps_done=0, wall_time_s=seconds / len(scores), train_time_s=0.0)
        run_ids.append(run_id)
    return [_summary_from_row(row) for row in store.leaderboard(run_ids)]


def _safe_settings(solver: Any, pair: Any = None, cfg: Any = None) -> dict[str, Any]:
    """The solver's settings for the run's record; for ``auto``, those of the solver it will choose."""
    try:
        if pair is not None and cfg is not None and hasattr(solver, "settings_for_run"):
            settings = solver.settings_for_run(pair.source, pair.target, steps=cfg.step_cap, batch_size=cfg.batch_size,
                                               time_budget=cfg.time_budget_s)
        else:
            settings = solver.settings()
        return dict(settings) if isinstance(settings, Mapping) else {}
    except Exception:  # noqa: BLE001 - settings are informational only
        return {}


def _summary_from_row(row: Mapping[str, Any]) -> RunSummary:
    return RunSummary(
        run_id=int(row["id"]),
        solver=row["solver"],
        pair=row["pair"],
        dim=int(row["dim"]),
        seed=int(row["seed"]),
        status=row["status"],
        steps_requested=int(row["steps_requested"]),
        steps_done=int(row["steps_done"]),
        wall_time_s=row["wall_time_s"],
        train_time_s=row["train_time_s"],
        steps_per_s=row["steps_per_s"],
        final=dict(row["final"]),
        best=dict(row["best"]),
        error=row["error"],
        result_dir=(row.get("config") or {}).get("result_dir"),
    )


def summaries_from_store(store: ResultStore, run_ids: Iterable[int] | None = None, **filters: Any) -> list[RunSummary]:
    """:class:`RunSummary` objects for stored runs (``run_ids`` or :meth:`ResultStore.runs` filters)."""
    return [_summary_from_row(row) for row in store.leaderboard(run_ids, **filters)]


def plot_result_2d(result: Any, pair: Any, path: str | Path, *, title: str, n: int,
                   generator: torch.Generator) -> Path:
    """Draw a fitted result on a 2-D pair from ``n`` source and target samples of ``generator``: the map with
    its displacement arrows (W2, :func:`~monge.plot.plot_map_2d`) or the critic's contours and gradients beside
    the true ones (W1, :func:`~monge.plot.plot_critic_2d`). Used by ``monge bench --out`` and the report."""
    from monge.plot import plot_critic_2d, plot_map_2d

    source = pair.source.sample(n, generator)
    target = pair.target.sample(n, generator)
    if getattr(result, "cost", "w2") == "w1":
        return plot_critic_2d(source, target, result.potential, result.gradient, path, title=title,
                              true_gradient=getattr(pair, "true_gradient", None))
    weights = next(iter(result.forward_potential.parameters()), None)
    mapped = result.forward(source if weights is None else source.to(dtype=weights.dtype))
    return plot_map_2d(source, target, mapped, path, title=title)


def _map_plot(summary: RunSummary, cfg: RunConfig, pair: Any, result: Any, out_path: Path) -> RunSummary:
    from dataclasses import replace

    kind = "critic" if getattr(result, "cost", "w2") == "w1" else "map"
    path = out_path / f"{kind}_{summary.run_id}_{_slug(summary.solver)}_{_slug(summary.pair)}.png"
    title = f"run {summary.run_id}: {summary.solver} on {summary.pair} ({summary.status}, {summary.steps_done} steps)"
    gen = torch.Generator().manual_seed((cfg.seed + _EVAL_SEED_OFFSET + 1) % (2**63))
    try:
        plot_result_2d(result, pair, path, title=title, n=min(1024, cfg.eval_samples), generator=gen)
    except MongeError:
        return summary
    return replace(summary, plots=summary.plots + (str(path),))


# ---------------------------------------------------------------------------- tables
def _row_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, RunSummary):
        return asdict(item)
    row = dict(item)
    row.setdefault("run_id", row.get("id"))
    row.setdefault("final", {})
    row.setdefault("best", {})
    row["pair"] = pair_label(row)  # stored rows of an older pair construction are marked "(v1)"
    return row


def is_w1_row(row: Mapping[str, Any]) -> bool:
    """Whether a leaderboard row holds W1 (critic) metrics rather than W2 (map) metrics."""
    metrics = {**dict(row.get("final") or {}), **dict(row.get("best") or {})}
    return any(k in metrics for k in ("cos_grad", "w1_estimate", "w1_dev"))


def garbage_flag(final: Mapping[str, Any]) -> str | None:
    """Why a W2 run's final metrics are garbage (forward L2-UVP orders of magnitude worse than the identity map's,
    or not finite), or ``None``. Runs that recorded the identity's L2-UVP (``l2_uvp_fwd_identity``) are measured
    against :data:`GARBAGE_FACTOR` × it (at least :data:`GARBAGE_FLOOR`), older ones against
    :data:`GARBAGE_L2_UVP`."""
    value = final.get("l2_uvp_fwd")
    if value is None:
        return None
    identity = final.get("l2_uvp_fwd_identity")
    if identity is not None and math.isfinite(identity):
        limit = max(GARBAGE_FACTOR * identity, GARBAGE_FLOOR)
    else:
        identity, limit = None, GARBAGE_L2_UVP
    if math.isfinite(value) and value <= limit:
        return None
    against = (f"{limit:.3g} % ({GARBAGE_FACTOR:g}× the identity map's {identity:.3g} %, at least "
               f"{GARBAGE_FLOOR:g} %)" if identity is not None else f"{GARBAGE_L2_UVP:g} %")
    return f"garbage map: forward L2-UVP {value:.3g} %, more than {against}"


def _status_cell(row: Mapping[str, Any]) -> str:
    status = str(row.get("status", ""))
    if status in ("finished", "stopped") and garbage_flag(row.get("final") or {}):
        status = f"{status}, garbage map"
    style = {"finished": "green", "diverged": "red", "failed": "red", "stopped": "yellow", "interrupted": "yellow"}.get(status, "red"
                                                                                          if "garbage" in status else "")
    return f"[{style}]{status}[/{style}]" if style else status


def leaderboard_tables(rows: Iterable[RunSummary | Mapping[str, Any]], *, title: str = "monge leaderboard") -> list[Any]:
    """One :func:`leaderboard_table` for the W2 runs and one :func:`w1_leaderboard_table` for the W1 runs
    (only those that have rows), in that order."""
    rows = [_row_dict(item) for item in rows]
    w1 = [r for r in rows if is_w1_row(r)]
    w2 = [r for r in rows if not is_w1_row(r)]
    out = []
    if w2 or not w1:
        out.append(leaderboard_table(w2, title=title if not w1 else f"{title}: W2 maps"))
    if w1:
        out.append(w1_leaderboard_table(w1, title=title if not w2 else f"{title}: W1 critics"))
    return out


def w1_leaderboard_table(rows: Iterable[RunSummary | Mapping[str, Any]], *, title: str | None = "monge leaderboard") -> Any:
    """A :class:`rich.table.Table` of W1 (critic) runs.

    Columns: run id, solver, pair, seed, status, steps, final/best gradient cosine (mean per-sample cosine of
    ∇f with the true critic gradient at y ~ Q), W1 deviation (%), gradient L2, and, when the paper has them
    (:func:`monge.pairs.w1published.published_w1`), the published cosine and deviation beside ours.
    """
    from rich.table import Table

    from monge.pairs.w1published import published_w1, published_w1bench_table

    rows = [_row_dict(item) for item in rows]
    published = [published_w1(str(r.get("solver", "")), str(r.get("pair", ""))) for r in rows]
    show_published = any(p is not None for p in published)
    caption = ("cos∇: mean cosine of the critic's gradient with the true one (higher is better); W1 dev: "
               "100·|Ŵ1 − W1|/W1; L2∇: mean ‖∇f − ∇f*‖²")
    if show_published:
        caption += f"\npublished: {published_w1bench_table()['source']}"
    table = Table(title=title, caption=caption)
    columns = [("#", "right"), ("solver", "left"), ("pair", "left"), ("seed", "right"), ("status", "left"),
               ("steps", "right"), ("cos∇ final", "right"), ("cos∇ best", "right")]
    if show_published:
        columns.append(("published cos∇", "right"))
    columns += [("W1 dev % final", "right")]
    if show_published:
        columns.append(("published dev %", "right"))
    columns += [("L2∇ final", "right"), ("wall", "right"), ("steps/s", "right")]
    for name, justify in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r, pub in zip(rows, published):
        final, best = r["final"], r["best"]
        wall = r.get("wall_time_s")
        cells = [str(r.get("run_id", "")), str(r.get("solver", "")), str(r.get("pair", "")), str(r.get("seed", "")),
                 _status_cell(r),
                 f"{r.get('steps_done', 0)}/{r.get('steps_requested', 0)}",
                 _fmt(final.get("cos_grad")), _fmt(best.get("cos_grad"))]
        if show_published:
            cells.append(_fmt(pub["cos"]) if pub else "—")
        cells.append(_fmt(final.get("w1_dev")))
        if show_published:
            cells.append(_fmt(pub["w1_dev"]) if pub else "—")
        cells += [_fmt(final.get("l2_grad")), "—" if wall is None else f"{wall:.1f}s",
                  "—" if r.get("steps_per_s") is None else f"{r['steps_per_s']:.1f}"]
        table.add_row(*cells)
    return table


def leaderboard_table(rows: Iterable[RunSummary | Mapping[str, Any]], *, title: str | None = "monge leaderboard") -> Any:
    """A :class:`rich.table.Table` of runs (``RunSummary`` objects or :meth:`ResultStore.leaderboard` rows).

    Columns: run id, solver, pair, seed, status, steps, final/best forward L2-UVP, final/best inverse
    L2-UVP, forward cosine, wall time, steps/s. Pairs without ground truth (toy pairs) show the W2 ratio
    (W2(mapped, target) / W2(source, target), lower is better) in the forward columns, marked ``W2×``.
    When a row's solver has a published forward L2-UVP on its pair (the W2 benchmark's table, see
    :func:`monge.pairs.w2bench.published_l2_uvp`), a "published fwd" column shows it beside ours.
    """
    from rich.table import Table

    from monge.pairs.w2bench import published_l2_uvp, published_w2bench_table

    rows = [_row_dict(item) for item in rows]
    published = [published_l2_uvp(str(r.get("solver", "")), str(r.get("pair", ""))) for r in rows]
    show_published = any(p is not None for p in published)

    caption = ("L2-UVP in % of the target (fwd) / source (inv) variance; "
               "W2× = W2(mapped, target) / W2(source, target) on pairs without ground truth")
    if show_published:
        caption += f"\npublished fwd: {published_w2bench_table()['source']}"
    table = Table(title=title, caption=caption)
    for name, justify in (("#", "right"), ("solver", "left"), ("pair", "left"), ("seed", "right"),
                          ("status", "left"), ("steps", "right"), ("fwd L2-UVP final", "right"),
                          ("fwd L2-UVP best", "right"), *((("published fwd", "right"),) if show_published else ()),
                          ("inv L2-UVP final", "right"), ("inv L2-UVP best", "right"),
                          ("cos fwd", "right"), ("wall", "right"), ("steps/s", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r, pub in zip(rows, published):
        final, best = r["final"], r["best"]
        if "l2_uvp_fwd" in final or "l2_uvp_fwd" in best:
            fwd = (_fmt(final.get("l2_uvp_fwd")), _fmt(best.get("l2_uvp_fwd")))
            inv = (_fmt(final.get("l2_uvp_inv")), _fmt(best.get("l2_uvp_inv")))
        elif "w2_ratio" in final or "w2_ratio" in best:
            fwd = (f"W2× {_fmt(final.get('w2_ratio'))}", f"W2× {_fmt(best.get('w2_ratio'))}")
            inv = ("—", "—")
        else:
            fwd = inv = ("—", "—")
        wall = r.get("wall_time_s")
        table.add_row(
            str(r.get("run_id", "")), str(r.get("solver", "")), str(r.get("pair", "")), str(r.get("seed", "")),
            _status_cell(r),
            f"{r.get('steps_done', 0)}/{r.get('steps_requested', 0)}",
            *fwd, *(((_fmt(pub) if pub is not None else "—"),) if show_published else ()),
            *inv, _fmt(final.get("cos_fwd")),
            "—" if wall is None else f"{wall:.1f}s",
            "—" if r.get("steps_per_s") is None else f"{r['steps_per_s']:.1f}",
        )
    return table


__all__ = ["MemoryLog", "RUN_CONFIG_FIELDS", "RunConfig", "RunOutcome", "RunSummary", "StoreLog", "execute_run",
           "find_reusable_run", "garbage_flag", "pair_key", "pair_label", "plot_result_2d", "run_key",
           "run_record_fields", "stored_pair_version", "build_runs", "NullProgress", "progress_bar", "RunTracker",
           "check_costs_match", "current_pair_version", "environment_versions", "higher_is_better", "is_w1_row",
           "leaderboard_table", "leaderboard_tables", "run_bench", "summaries_from_store", "validate_configs",
           "w1_leaderboard_table"]
