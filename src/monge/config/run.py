"""One benchmark run's configuration (:class:`RunConfig`), its identity (:func:`run_key`, :func:`cell_key`) and the
check that a solver and a pair are of the same cost. Sweep files and presets expand into these
(:mod:`monge.config.sweep`); :mod:`monge.run` executes them.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

import torch
from pydantic import ValidationError

from monge.config.schema import RunFields, problem_text
from monge.errors import InvalidInputError
from monge.pairs import current_pair_version
from monge.solvers.loop import BUDGET_STEP_CAP

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


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
        try:
            RunFields.model_validate({f.name: getattr(self, f.name) for f in fields(self)})
        except ValidationError as exc:
            error = exc.errors()[0]
            name = {"time_budget_s": "time budget (seconds)", "solver": "solver name", "pair": "pair spec"}.get(
                str(error["loc"][0]), str(error["loc"][0]))
            raise InvalidInputError(f"{name} {problem_text(error)}") from None
        if self.steps is None and self.time_budget_s is None:
            raise InvalidInputError("a run needs steps, a time budget, or both")
        if self.pair_version is not None:
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


RUN_CONFIG_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RunConfig))
"""The keys of :meth:`RunConfig.to_dict`: what identifies a run's configuration (:func:`run_key`)."""


def run_key(config: Mapping[str, Any]) -> str:
    """The identity of a run's configuration: :func:`cell_key` of its :data:`RUN_CONFIG_FIELDS`
    (solver, label, options, pair spec and version, seed, steps, time budget, batch size, evaluation, dtype,
    device; the folder of published pair files is left out). ``config`` is :meth:`RunConfig.to_dict` or a stored
    run's config, whose other entries (solver settings, sweep bookkeeping, ``result_dir``) are ignored. A stored
    run without ``pair_version`` was made with version 1 of its pair family."""
    return cell_key({k: v for k, v in dict(config).items() if k in RUN_CONFIG_FIELDS})


LOCATION_FIELDS = ("pair_root",)
"""Config fields that say where things are, not what is run: left out of :func:`cell_key`."""


def cell_key(config: Mapping[str, Any]) -> str:
    """A stable 16-hex-digit key of a run config (same config → same key, on any machine).

    The fields of :data:`LOCATION_FIELDS` (the folder of the published pair files) are left out, so a sweep
    keeps its cells when the data or the project moves (``--pair-root``, another machine). ``pair_version`` is
    left out when it is 1 or missing: runs on pair families that never changed keep the keys earlier monge
    versions gave them, while a changed family (version ≥ 2, e.g. the Gaussian pairs) gives new keys, so cells
    run on its older construction are not counted as done."""
    kept = {k: v for k, v in dict(config).items()
            if k not in LOCATION_FIELDS and not (k == "pair_version" and v in (None, 1))}
    text = json.dumps(kept, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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


__all__ = ["LOCATION_FIELDS", "RUN_CONFIG_FIELDS", "RunConfig", "cell_key", "check_costs_match", "run_key"]
