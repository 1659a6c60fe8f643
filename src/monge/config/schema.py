"""The pydantic schema of sweep files, bundled presets and per-run settings: structure, types and ranges.

Why pydantic v2 rather than msgspec: it is installed with monge anyway, its error locations
(``("solvers", 1, "options", "lr")``) are our key paths, and its cost does not show. Measured here (Python 3.11,
pydantic 2.14, 2 busy cores): validating ``examples/sweeps/quick.toml``'s dict takes about 55 µs, the whole
``load_sweep`` (with the solver and pair checks) about 27 ms; msgspec's speed would not show (not measured: it
is not installed), and it would be one more dependency.
Checks that need the registries (solvers, options, pairs, costs, repeated runs) are made where the runs are
expanded, :func:`monge.config.sweep.expand_runs`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Mapping, Optional

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from monge.errors import InvalidInputError

EXECUTOR_KINDS: tuple[str, ...] = ("local", "ray")
_ADDRESS = re.compile(r"^(?:ray://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d{1,5})$")


def is_int(value: Any, minimum: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _address_ok(value: Any) -> bool:
    match = _ADDRESS.match(value) if isinstance(value, str) else None
    return value in (None, "auto") or (match is not None and 1 <= int(match.group(1)) <= 65535)


def _checked(test: Any, wanted: str) -> BeforeValidator:
    """Raise ``must be WANTED`` unless ``test(value)`` (before pydantic's own, lax, conversions)."""
    def check(value: Any) -> Any:
        if not test(value):
            raise ValueError(f"must be {wanted}")
        return value
    return BeforeValidator(check)


PosInt = Annotated[int, _checked(is_int, "a positive integer")]
NonNegInt = Annotated[int, _checked(lambda v: is_int(v, 0), "an integer >= 0")]
PosFloat = Annotated[float, _checked(lambda v: is_number(v) and v > 0, "a positive number")]
NonNegFloat = Annotated[float, _checked(lambda v: is_number(v) and v >= 0, "a number >= 0")]
Text = Annotated[str, _checked(lambda v: isinstance(v, str) and v.strip(), "a non-empty string"),
                 AfterValidator(str.strip)]


Dtype = Annotated[str, _checked(lambda v: v in ("float32", "float64"), "one of 'float32', 'float64'")]
Device = Annotated[str, _checked(lambda v: isinstance(v, str) and re.fullmatch(r"cpu|mps|auto|cuda(:\d+)?", v),
                                 "'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunFields(BaseModel):
    """The checked fields of one run (:class:`~monge.config.run.RunConfig`), with the types of the sweep
    sections, so a value is judged by one rule wherever it is written."""

    model_config = ConfigDict(extra="ignore")

    solver: Text
    pair: Text
    solver_options: Annotated[dict, _checked(lambda v: isinstance(v, Mapping), "a mapping of options")]
    seed: NonNegInt
    steps: Optional[PosInt]
    batch_size: PosInt
    eval_every: Optional[PosInt]
    eval_samples: PosInt
    time_budget_s: Optional[PosFloat]
    dtype: Dtype
    device: Device
    pair_version: Optional[PosInt]


class Budget(_Model):
    """``[budget]`` (and a solver's ``budget``): the training budget of each run."""

    steps: Optional[PosInt] = None
    batch_size: Optional[PosInt] = None
    minutes: Optional[PosFloat] = None
    dtype: Optional[Dtype] = None

    def run_fields(self) -> dict[str, Any]:
        """The keys set, as :class:`~monge.config.run.RunConfig` fields (``minutes`` → ``time_budget_s``)."""
        out = self.model_dump(exclude_none=True, exclude={"minutes"})
        return out if self.minutes is None else {**out, "time_budget_s": 60.0 * self.minutes}


class Evaluation(_Model):
    every: Optional[PosInt] = None
    samples: Optional[PosInt] = None


class Checkpoint(_Model):
    every: PosInt = 100


class Executor(_Model):
    """Where and how the runs of a sweep execute (``[executor]``).

    Attributes:
        kind: ``"local"`` (worker processes on this machine) or ``"ray"`` (tasks on a Ray cluster).
        workers: local worker processes; ``None`` means the number of CPUs.
        retries: how many more times a run whose worker crashed is attempted (>= 0).
        threads_per_run: torch CPU threads each run uses (>= 1).
        address: Ray only: ``"auto"``, ``"HOST:PORT"`` (or ``"ray://HOST:PORT"``), or ``None`` (a local Ray).
        num_cpus, num_gpus: Ray only (ignored with ``kind = "local"``): CPUs (> 0) and GPUs (>= 0) per run.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Annotated[str, _checked(lambda v: v in EXECUTOR_KINDS, "one of 'local', 'ray'"),
                    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v)] = "local"
    workers: Optional[PosInt] = None
    retries: NonNegInt = 2
    threads_per_run: PosInt = 1
    address: Annotated[Optional[str], _checked(_address_ok, '"auto" or "HOST:PORT" (optionally "ray://HOST:PORT")')] \
        = None
    num_cpus: PosFloat = 1.0
    num_gpus: NonNegFloat = 0.0


class ExecutorSettings(Executor):
    __doc__ = f"{Executor.__doc__}\n    A bad value raises :class:`~monge.errors.InvalidInputError`.\n"

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidInputError(f"executor {first['loc'][0]} {problem_text(first)}") from None


class Output(_Model):
    db: Optional[Text] = None
    dir: Optional[Text] = None


def _entry(key: str, what: str) -> BeforeValidator:
    """A bare string stands for ``{key: string}``; anything else but a table is an error naming ``what``."""
    def check(value: Any) -> Any:
        if isinstance(value, str):
            return {key: value}
        if not isinstance(value, dict):
            raise ValueError(f"must be {what}")
        return value
    return BeforeValidator(check)


class PairEntry(_Model):
    spec: Text
    pair_root: Optional[Text] = None


class SolverEntry(_Model):
    name: Annotated[Text, AfterValidator(str.lower)]
    label: Optional[Text] = None
    options: dict[str, Any] = {}
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = {}
    budget: Budget = Budget()


class SweepFile(_Model):
    """A sweep file (docs/sweeps.md); :class:`PresetFile` adds a description, CLI threads and a listing order."""

    name: Optional[Text] = None
    seeds: Annotated[list[NonNegInt], Field(min_length=1)] = [0]
    pair_root: Optional[Text] = None
    pairs: Annotated[list[Annotated[PairEntry, _entry("spec", 'a pair spec string like "gaussian:16" or a table '
                                                      "{spec = ..., pair_root = ...}")]], Field(min_length=1)]
    budget: Budget = Budget()
    evaluation: Evaluation = Evaluation()
    checkpoint: Checkpoint = Checkpoint()
    executor: Executor = Executor()
    output: Output = Output()
    solvers: Annotated[list[Annotated[SolverEntry, _entry("name", "a solver name or a table with name = ...")]],
                       Field(min_length=1)]
    device: Optional[Text] = None


class PresetFile(SweepFile):
    description: str = ""
    threads: Optional[PosInt] = None
    order: int = 99


SECTIONS: dict[str, type[BaseModel]] = {"budget": Budget, "evaluation": Evaluation, "checkpoint": Checkpoint,
                                        "executor": Executor, "output": Output, "solvers": SolverEntry,
                                        "pairs": PairEntry}
"""The model of each section (of each entry, for lists), to list the keys it allows."""


def type_name(value: Any) -> str:
    names = {dict: "table", list: "list", str: "string", bool: "boolean", int: "integer", float: "number"}
    return names.get(type(value), type(value).__name__)


def problem_text(error: Any) -> str:
    """One pydantic error as ``must be ..., got VALUE``."""
    kind, value = error["type"], error.get("input")
    if kind in ("model_type", "dict_type", "model_attributes_type", "list_type"):
        return f"must be a {'list' if kind == 'list_type' else 'table (mapping)'}, got {type_name(value)}"
    if kind == "too_short":
        return "must not be empty"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{message}, got {type_name(value) if '= ...' in message else repr(value)}"
