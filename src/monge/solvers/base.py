"""Solver contract, the W2 result object, and the name registry.

A solver is constructed with its hyper-parameters (explicit keyword arguments with the paper's
defaults) and fitted with ``fit(source, target, *, steps, batch_size, generator=None, callback=None)``;
``source`` and ``target`` are :class:`~monge.samplers.Sampler` objects or ``(n, dim)`` tensors (wrapped in
an empirical sampler). Solvers only ever see samples, never a benchmark pair.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, TypeVar

import torch

from monge.errors import CheckpointError, UnknownNameError

RESULT_FORMAT = 1


@dataclass(frozen=True)
class Progress:
    """What a solver hands its ``callback`` after each training step.

    Attributes:
        step: number of completed steps (1-based).
        steps: total number of steps requested.
        logs: scalar losses of this step (name → float).
        result: builds a :class:`W2Result` view of the *current* networks (shares their parameters; call
            ``result().frozen()`` for a copy that training will not change).
        state: the fit's :class:`~monge.solvers.loop.TrainState` after this step (networks, optimisers,
            generator, history): ``state.state_dict()`` is a checkpoint from which the fit can resume.
    """

    step: int
    steps: int
    logs: dict[str, float]
    result: Callable[[], "W2Result"]
    state: Any = None


Callback = Callable[[Progress], "bool | None"]
"""Called after every step; returning ``True`` stops training early (for example a wall-clock budget).

A callback that also has a ``restore(state) -> int`` method is resumable: before the first step the training
loop hands it the fit's :class:`~monge.solvers.loop.TrainState`; it may load a saved state into it and
return the number of steps that state had done (0 to start afresh)."""


@dataclass(frozen=True)
class W2Result:
    """A fitted quadratic-cost (W2) transport map.

    Attributes:
        solver: registered name of the solver that produced it.
        forward_potential: potential ψ whose gradient is the forward map T = ∇ψ.
        inverse_potential: potential ψ̄ whose gradient is the inverse map, or ``None``.
        cost_estimate: the solver's estimate of ½·W2² = ½·E‖x − T(x)‖².
        history: per-step training logs (name → list of floats).
        settings: the solver's hyper-parameters (JSON-serialisable).
        steps: number of training steps done.
    """

    solver: str
    forward_potential: torch.nn.Module
    inverse_potential: torch.nn.Module | None
    cost_estimate: float
    history: dict[str, list[float]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    steps: int = 0

    @property
    def dim(self) -> int:
        return int(self.forward_potential.dim)

    @property
    def has_inverse(self) -> bool:
        """Whether the solver learned an inverse map (``inverse`` raises otherwise)."""
        return self.inverse_potential is not None

    def _apply(self, potential: torch.nn.Module, x: torch.Tensor, batch_size: int, name: str) -> torch.Tensor:
        from monge._checks import check_samples

        x = check_samples(x, name=name, dim=self.dim)
        param = next(potential.parameters())
        if x.device != param.device:
            from monge.errors import InvalidInputError

            raise InvalidInputError(f"{name} is on {x.device} but the map's parameters are on {param.device}")
        x = x.to(param.dtype)
        with torch.no_grad():
            return torch.cat([potential.gradient(chunk) for chunk in x.split(batch_size)])

    def forward(self, x: torch.Tensor, *, batch_size: int = 65536) -> torch.Tensor:
        """Map source points ``x`` (n, dim) to the target: ∇ψ(x), computed in chunks without gradients."""
        return self._apply(self.forward_potential, x, batch_size, "x")

    def inverse(self, y: torch.Tensor, *, batch_size: int = 65536) -> torch.Tensor:
        """Map target points ``y`` back to the source with ∇ψ̄(y); raises if the solver has no inverse."""
        if self.inverse_potential is None:
            raise NotImplementedError(f"solver {self.solver!r} learns no inverse map")
        return self._apply(self.inverse_potential, y, batch_size, "y")

    __call__ = forward

    def frozen(self) -> "W2Result":
        """A deep copy whose networks later training cannot change."""
        import copy

        return W2Result(
            solver=self.solver,
            forward_potential=copy.deepcopy(self.forward_potential),
            inverse_potential=copy.deepcopy(self.inverse_potential),
            cost_estimate=self.cost_estimate,
            history={k: list(v) for k, v in self.history.items()},
            settings=dict(self.settings),
            steps=self.steps,
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save to directory ``path``: ``result.json`` (settings, network configs, history) plus one
        ``.pt`` state dict per network. Files are written to temporaries and renamed, so an interrupted
        save never leaves a half-written checkpoint under the final name."""
        nets = {"forward": self.forward_potential, "inverse": self.inverse_potential}
        return save_result(path, "W2Result", nets, {"solver": self.solver, "cost_estimate": self.cost_estimate,
                                                    "steps": self.steps, "settings": self.settings,
                                                    "history": self.history})

    @classmethod
    def load(cls, path: str | Path, *, map_location: str | torch.device | None = "cpu") -> "W2Result":
        """Load a result written by :meth:`save`; raises :class:`CheckpointError` naming what is wrong."""
        meta_path, meta, nets = load_result(path, "W2Result", map_location=map_location)
        if nets.get("forward") is None:
            raise CheckpointError(f"{meta_path}: no forward network")
        return cls(
            solver=meta["solver"],
            forward_potential=nets["forward"],
            inverse_potential=nets.get("inverse"),
            cost_estimate=float(meta["cost_estimate"]),
            history={k: list(v) for k, v in meta.get("history", {}).items()},
            settings=meta.get("settings", {}),
            steps=int(meta.get("steps", 0)),
        )


def save_result(path: str | Path, kind: str, nets: dict[str, torch.nn.Module | None], fields: dict[str, Any]) -> Path:
    """Write a result directory: one ``{name}.pt`` state dict per network and ``result.json`` with ``kind``,
    versions, ``fields`` and the networks' configs. Each file goes to a temporary and is renamed, so an
    interrupted save never leaves a half-written file under its final name."""
    from monge import __version__

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    meta = {"format": RESULT_FORMAT, "kind": kind, "monge_version": __version__, "torch_version": torch.__version__,
            **fields, "networks": {k: (None if n is None else n.config()) for k, n in nets.items()}}
    for key, net in nets.items():
        if net is not None:
            atomic_write(path / f"{key}.pt", lambda f, net=net: torch.save(net.state_dict(), f))
    atomic_write(path / "result.json", lambda f: f.write(json.dumps(meta, indent=2, default=_json_default).encode()))
    return path


def read_result_meta(path: str | Path) -> tuple[Path, Any]:
    """``(path of result.json, its parsed contents)`` of a result folder; :class:`CheckpointError` names the
    folder or file when it is missing, unreadable or not JSON."""
    path = Path(path)
    meta_path = path / "result.json"
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a saved result (no such folder)")
    if not meta_path.is_file():
        raise CheckpointError(f"{path}: not a saved result (no result.json)")
    try:
        return meta_path, json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_path}: corrupt JSON ({exc})") from exc
    except OSError as exc:
        raise CheckpointError(f"{meta_path}: unreadable ({exc.strerror or exc})") from exc


def load_result(path: str | Path, kind: str, *, map_location: Any = "cpu"
                ) -> tuple[Path, dict[str, Any], dict[str, torch.nn.Module | None]]:
    """Read a directory written by :func:`save_result` for ``kind``: returns (path of result.json, its
    contents, the rebuilt networks with their weights). :class:`CheckpointError` names what is wrong."""
    from monge.nets.base import build_network

    path = Path(path)
    meta_path, meta = read_result_meta(path)
    if not isinstance(meta, dict) or meta.get("kind") != kind:
        found = meta.get("kind") if isinstance(meta, dict) else None
        raise CheckpointError(f"{meta_path}: not a {kind[:2]} result" + (f" (it holds a {found})" if found else ""))
    if meta.get("format") != RESULT_FORMAT:
        raise CheckpointError(f"{meta_path}: unsupported format {meta.get('format')!r} (expected {RESULT_FORMAT})")
    nets: dict[str, torch.nn.Module | None] = {}
    for key, config in (meta.get("networks") or {}).items():
        if config is None:
            nets[key] = None
            continue
        try:
            net = build_network(config)
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"{meta_path}: cannot rebuild {key} network ({exc})") from exc
        load_state_dict_checked(net, path / f"{key}.pt", map_location=map_location)
        nets[key] = net
    return meta_path, meta, nets


def load_state_dict_checked(net: torch.nn.Module, file: Path, *, map_location: Any = "cpu") -> None:
    """Load ``file`` (a plain state dict, ``weights_only=True``) into ``net``; :class:`CheckpointError`
    names the file and the problem when it is missing, corrupt, or does not match the network."""
    file = Path(file)
    if not file.is_file():
        raise CheckpointError(f"{file}: missing")
    try:
        state = torch.load(file, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        raise CheckpointError(f"{file}: corrupt or not a state dict ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{file}: expected a state dict, got {type(state).__name__}")
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(f"{file}: does not match {type(net).__name__}: {' '.join(first[:3])}") from exc
    for name, tensor in state.items():
        if torch.is_floating_point(tensor) and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{file}: parameter {name!r} holds NaN or inf")


def atomic_write(target: Path, write: Callable[[Any], None]) -> None:
    """Write ``target`` atomically: ``write(f)`` fills a temporary file beside it (flushed to disk), which
    is then renamed over ``target``; a crash at any point leaves either the old file or the new one."""
    import os

    target = Path(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, (torch.dtype, torch.device, Path)):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


# ---------------------------------------------------------------------------- registry
class W2Solver(ABC):
    """Base class of quadratic-cost solvers: hyper-parameters in the constructor, data in :meth:`fit`."""

    name: ClassVar[str]
    paper: ClassVar[str]
    cost: ClassVar[str] = "w2"
    smoke_options: ClassVar[dict[str, Any]] = {}
    """Constructor options for a seconds-long run with small networks (contract tests, smoke presets)."""

    @abstractmethod
    def fit(
        self,
        source: Any,
        target: Any,
        *,
        steps: int,
        batch_size: int,
        generator: torch.Generator | None = None,
        callback: Callback | None = None,
    ) -> W2Result:
        """Fit the map from ``source`` to ``target`` and return a :class:`W2Result`."""

    def settings(self) -> dict[str, Any]:
        """The hyper-parameters this solver was built with (JSON-serialisable)."""
        return {}

    def settings_for_run(self, source: Any, target: Any, *, steps: int, batch_size: int,
                         time_budget: float | None = None) -> dict[str, Any]:
        """The settings a :meth:`fit` on these data and budget will use, for the run's record. The same as
        :meth:`settings` unless the solver decides them from the data (``auto``)."""
        return self.settings()


SOLVERS: dict[str, type[Any]] = {}
"""Every registered solver class by name: W2 solvers (``cost == "w2"``) and W1 solvers (``cost == "w1"``,
:class:`monge.solvers.w1.W1Solver`)."""

COSTS: tuple[str, ...] = ("w2", "w1")

SolverClass = TypeVar("SolverClass", bound=type)


def register_solver(name: str) -> Callable[[SolverClass], SolverClass]:
    """Class decorator registering a solver under ``name`` for configs and the CLI."""

    def deco(cls: SolverClass) -> SolverClass:
        cls.name = name  # type: ignore[attr-defined]
        SOLVERS[name] = cls
        return cls

    return deco


def available_solvers(cost: str | None = None) -> list[str]:
    """Registered solver names, sorted; ``cost="w2"`` or ``"w1"`` lists only the solvers of that cost."""
    if cost is not None and cost not in COSTS:
        from monge.errors import InvalidInputError

        raise InvalidInputError(f"cost must be one of {list(COSTS)} or None, got {cost!r}")
    return sorted(name for name, cls in SOLVERS.items() if cost is None or getattr(cls, "cost", "w2") == cost)


def get_solver(name: str, **options: Any) -> Any:
    """Build the solver registered as ``name`` with keyword ``options``.

    Raises :class:`UnknownNameError` for an unknown name and :class:`~monge.errors.InvalidInputError`
    for an option the solver does not take.
    """
    from monge.errors import InvalidInputError

    key = name.strip().lower()
    if key not in SOLVERS:
        raise UnknownNameError("solver", name, available_solvers())
    try:
        return SOLVERS[key](**options)
    except TypeError as exc:
        raise InvalidInputError(f"solver {name!r}: {exc}") from exc
