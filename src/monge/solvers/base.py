"""Solver contract, the W2 result object, and the name registry.

A solver is constructed with its hyper-parameters (explicit keyword arguments with the paper's
defaults) and fitted with ``fit(source, target, *, steps, batch_size, generator=None, callback=None)``;
``source`` and ``target`` are :class:`~monge.samplers.Sampler` objects or ``(n, dim)`` tensors (wrapped in
an empirical sampler). Solvers only ever see samples, never a benchmark pair.
"""

from __future__ import annotations

import inspect
import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, TypeVar

import torch

from monge.errors import CheckpointError, InvalidInputError, UnknownNameError, did_you_mean

RESULT_FORMAT = 2
"""Version of saved result folders: 2 adds the integrity manifest; format 1 folders load unverified."""


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

    def _apply(self, potential: torch.nn.Module, x: Any, batch_size: int, name: str) -> Any:
        return map_samples(potential.gradient, x, module=potential, dim=self.dim, batch_size=batch_size, name=name)

    def forward(self, x: Any, *, batch_size: int = 65536) -> Any:
        """Map source points ``x`` (n, dim) to the target: ∇ψ(x), computed in chunks of ``batch_size``.

        NumPy in gives NumPy out, a tensor in gives a tensor out, in the input's floating dtype (the map
        itself computes in its parameters' dtype). A tensor that requires grad gets an output that is
        differentiable with respect to it; otherwise no graph is built.
        """
        return self._apply(self.forward_potential, x, batch_size, "x")

    def inverse(self, y: Any, *, batch_size: int = 65536) -> Any:
        """Map target points ``y`` back to the source with ∇ψ̄(y), like :meth:`forward`; raises
        :class:`~monge.errors.NoInverseError` if the solver learns no inverse map."""
        if self.inverse_potential is None:
            from monge.errors import NoInverseError

            raise NoInverseError(f"solver {self.solver!r} learns no inverse map (result.has_inverse is False)")
        return self._apply(self.inverse_potential, y, batch_size, "y")

    __call__ = forward

    def frozen(self) -> "W2Result":
        """A deep copy whose networks later training cannot change."""
        return self.to()

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> "W2Result":
        """A copy with the networks on ``device`` and/or in floating ``dtype`` (the original is unchanged)."""
        import copy
        import dataclasses

        def moved(net: torch.nn.Module | None) -> torch.nn.Module | None:
            return None if net is None else copy.deepcopy(net).to(device=device, dtype=dtype)

        return dataclasses.replace(self, forward_potential=moved(self.forward_potential),
                                   inverse_potential=moved(self.inverse_potential),
                                   history={k: list(v) for k, v in self.history.items()}, settings=dict(self.settings))

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
            solver=meta_field(meta_path, meta, "solver", str),
            forward_potential=nets["forward"],
            inverse_potential=nets.get("inverse"),
            cost_estimate=meta_field(meta_path, meta, "cost_estimate", float),
            history=meta_field(meta_path, meta, "history", dict, default={}),
            settings=meta_field(meta_path, meta, "settings", dict, default={}),
            steps=meta_field(meta_path, meta, "steps", int, default=0),
        )


_MISSING = object()


def meta_field(meta_path: Path, meta: dict[str, Any], name: str, kind: type, *, default: Any = _MISSING) -> Any:
    """Field ``name`` of a result's ``result.json``, checked to be a ``kind`` (``str``, ``float`` — a number or
    ``"nan"``/``"inf"`` —, ``int`` ≥ 0, or ``dict``; a ``dict`` history must map names to lists of numbers);
    :class:`CheckpointError` names the file and the field when it is missing (without a ``default``) or wrong."""
    if name not in meta:
        if default is _MISSING:
            raise CheckpointError(f"{meta_path}: missing field {name!r}")
        return default
    value = meta[name]
    ok = False
    if kind is float:
        if isinstance(value, str) and value.lower() in ("nan", "inf", "-inf", "infinity", "-infinity"):
            value, ok = float(value), True
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value, ok = float(value), True
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif kind is dict:
        ok = isinstance(value, dict)
        if ok and name == "history":
            ok = all(isinstance(v, list) and all(isinstance(e, (int, float, str)) for e in v) for v in value.values())
            value = {k: list(v) for k, v in value.items()} if ok else value
    else:
        ok = isinstance(value, kind)
    if not ok:
        expected = {float: "a number", int: "an integer >= 0", dict: "an object", str: "a string"}.get(kind, kind.__name__)
        raise CheckpointError(f"{meta_path}: field {name!r} must be {expected}, got {value!r:.60}")
    return value


def map_samples(fn: Callable[[torch.Tensor], torch.Tensor], x: Any, *, module: torch.nn.Module, dim: int,
                batch_size: int, name: str) -> Any:
    """Apply ``fn`` (a network's map, ``(n, dim)`` → ``(n, …)``) to samples ``x`` in chunks, as results do.

    ``x`` is a tensor or an array-like of shape ``(n, dim)``; it is checked (:func:`~monge._checks.check_samples`);
    a tensor must be on ``module``'s device, an array is moved there. The output has the input's kind and floating dtype: NumPy in gives
    NumPy out, a tensor in gives a tensor out (computed in ``module``'s dtype). A tensor that requires grad
    (with grad mode on) gets a differentiable output; otherwise nothing is recorded.
    """
    from monge._checks import check_finite_output, check_positive_int, check_samples
    from monge.errors import InvalidInputError

    check_positive_int(batch_size, "batch_size")
    is_tensor = isinstance(x, torch.Tensor)
    x = check_samples(x, name=name, dim=dim)
    param = next(module.parameters(), None)
    device = param.device if param is not None else x.device
    dtype = param.dtype if param is not None else x.dtype
    if not is_tensor:
        x = x.to(device)                                # arrays have no device: they go to the map's
    if x.device != device:
        raise InvalidInputError(f"{name} is on {x.device} but the map's parameters are on {device}: move the "
                                f"data, or the result with result.to({str(x.device)!r})")
    track = is_tensor and x.requires_grad and torch.is_grad_enabled()
    with torch.set_grad_enabled(track):
        inputs = x.to(dtype)
        out = torch.cat([fn(chunk) for chunk in inputs.split(batch_size)])
    if not track:
        out = out.detach()
    check_finite_output(out, f"the map ({name})", "inputs far outside the training data can overflow the network; "
                        "check the input's scale")
    if is_tensor:
        return out.to(x.dtype)
    import numpy as np

    return out.cpu().numpy().astype(np.dtype(str(x.dtype).removeprefix("torch.")), copy=False)


def save_result(path: str | Path, kind: str, nets: dict[str, torch.nn.Module | None], fields: dict[str, Any]) -> Path:
    """Write a result directory: one ``{name}.pt`` state dict per network and ``result.json`` with ``kind``,
    versions, ``fields``, the networks' configs and an integrity manifest (each tensor file's SHA-256, which
    network it holds, its tensors' shapes and dtypes, and a digest of the rest of ``result.json``). Each file
    goes to a temporary and is renamed, so an interrupted save never leaves a half-written file under its name.
    """
    import io

    from monge._integrity import json_digest, sha256
    from monge._version import __version__

    path = _result_folder(path, create=True)
    meta = {"format": RESULT_FORMAT, "kind": kind, "monge_version": __version__, "torch_version": torch.__version__,
            **fields, "networks": {k: (None if n is None else n.config()) for k, n in nets.items()}}
    meta = json.loads(json.dumps(meta, default=_json_default))           # the content exactly as it will be read
    files: dict[str, Any] = {}
    for key, net in nets.items():
        if net is None:
            continue
        state = net.state_dict()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
        files[f"{key}.pt"] = {"network": key, "sha256": sha256(data), "tensors": _tensor_specs(state)}
        atomic_write(path / f"{key}.pt", lambda f, data=data: f.write(data))
    meta["manifest"] = {"files": files, "content_sha256": json_digest(meta)}
    atomic_write(path / "result.json", lambda f: f.write(json.dumps(meta, indent=2).encode()))
    return path


def _result_folder(path: Any, *, create: bool) -> Path:
    """``path`` as a folder path; :class:`~monge.errors.InvalidInputError` for something that is not a path,
    :class:`CheckpointError` for a path that is a file (or cannot be created)."""
    from monge.errors import InvalidInputError

    if not isinstance(path, (str, Path)) or str(path) == "":
        raise InvalidInputError(f"path must be a folder path (str or pathlib.Path), got {path!r}")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"{path}: is a file, not a result folder")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(f"{path}: cannot create the result folder ({exc.strerror or exc})") from exc
    return path


def _tensor_specs(state: dict[str, Any]) -> dict[str, Any]:
    return {name: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
            for name, t in state.items() if isinstance(t, torch.Tensor)}


def read_result_meta(path: str | Path) -> tuple[Path, Any]:
    """``(path of result.json, its parsed contents)`` of a result folder; :class:`CheckpointError` names the
    folder or file when it is missing, unreadable or not JSON."""
    path = _result_folder(path, create=False)
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
    contents, the rebuilt networks with their weights).

    The manifest is verified first: ``result.json`` must not have been edited, and each tensor file must have
    its recorded SHA-256, hold the recorded network, and have the recorded shapes and dtypes. Folders written
    before manifests existed (format 1) load with a warning that they are unverified. :class:`CheckpointError`
    names the file and what is wrong.
    """
    from monge.nets.base import build_network

    meta_path, meta = read_result_meta(path)
    path = meta_path.parent
    if not isinstance(meta, dict) or meta.get("kind") != kind:
        found = meta.get("kind") if isinstance(meta, dict) else None
        raise CheckpointError(f"{meta_path}: not a {kind[:2]} result" + (f" (it holds a {found})" if found else ""))
    version = meta.get("format")
    if version not in (1, RESULT_FORMAT):
        raise CheckpointError(f"{meta_path}: unsupported format {version!r} (expected {RESULT_FORMAT})")
    files = _verified_manifest(meta_path, meta) if version == RESULT_FORMAT else None
    if files is None:
        import warnings

        warnings.warn(f"{meta_path}: written by an earlier monge without an integrity manifest; loaded unverified "
                      f"(save it again to add one)", UserWarning, stacklevel=3)
    networks = meta.get("networks")
    if not isinstance(networks, dict):
        raise CheckpointError(f"{meta_path}: field 'networks' must be an object, got {type(networks).__name__}")
    nets: dict[str, torch.nn.Module | None] = {}
    for key, config in networks.items():
        if config is None:
            nets[key] = None
            continue
        try:
            net = build_network(config)
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"{meta_path}: cannot rebuild {key} network ({exc})") from exc
        entry = None if files is None else files.get(f"{key}.pt")
        if files is not None and (not isinstance(entry, dict) or entry.get("network") != key):
            raise CheckpointError(f"{meta_path}: the manifest records no file for the {key} network")
        load_state_dict_checked(net, path / f"{key}.pt", map_location=map_location, manifest=entry)
        nets[key] = net
    return meta_path, meta, nets


def _verified_manifest(meta_path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    from monge._integrity import json_digest

    manifest = meta.get("manifest")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise CheckpointError(f"{meta_path}: format {RESULT_FORMAT} but no integrity manifest")
    content = {k: v for k, v in meta.items() if k != "manifest"}
    if json_digest(content) != manifest.get("content_sha256"):
        raise CheckpointError(f"{meta_path}: edited after saving (its content does not match the manifest's digest)")
    return manifest["files"]


def load_state_dict_checked(net: torch.nn.Module, file: Path, *, map_location: Any = "cpu",
                            manifest: dict[str, Any] | None = None) -> None:
    """Load ``file`` (a plain state dict, ``weights_only=True``) into ``net``; :class:`CheckpointError`
    names the file and the problem when it is missing, corrupt, does not match the network, or (given its
    ``manifest`` entry) does not have the recorded SHA-256, shapes and dtypes."""
    import io

    from monge._integrity import load_finite_state, sha256

    file = Path(file)
    if not file.is_file():
        raise CheckpointError(f"{file}: missing")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{file}: unreadable ({exc.strerror or exc})") from exc
    if manifest is not None:
        found = sha256(data)
        if found != manifest.get("sha256"):
            raise CheckpointError(f"{file}: SHA-256 {found[:16]}… does not match the manifest's "
                                  f"{str(manifest.get('sha256'))[:16]}…: the file was changed, corrupted or swapped "
                                  f"after saving")
    try:
        state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        raise CheckpointError(f"{file}: corrupt or not a state dict ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{file}: expected a state dict, got {type(state).__name__}")
    if manifest is not None and _tensor_specs(state) != manifest.get("tensors"):
        raise CheckpointError(f"{file}: its tensors' shapes or dtypes differ from the manifest's")
    load_finite_state(net, state, file, type(net).__name__)


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
    if not isinstance(name, str):
        raise InvalidInputError(f"solver must be a registered solver name (a str), got {name!r}")
    key = name.strip().lower()
    if key not in SOLVERS:
        raise UnknownNameError("solver", name, available_solvers())
    accepted = [p for p in inspect.signature(SOLVERS[key]).parameters if p not in ("self", "args", "kwargs")]
    unknown = [o for o in options if o not in accepted]
    if unknown and "kwargs" not in inspect.signature(SOLVERS[key]).parameters:
        raise InvalidInputError(f"solver {key!r} has no option {unknown[0]!r}{did_you_mean(unknown[0], accepted)}; "
                                f"its options: {', '.join(accepted)}")
    try:
        return SOLVERS[key](**options)
    except TypeError as exc:
        raise InvalidInputError(f"solver {name!r}: {exc}") from exc
