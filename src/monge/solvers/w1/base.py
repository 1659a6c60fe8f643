"""The W1 (distance-cost) result object and solver base class.

Convention: a W1 solver fitted with ``fit(source, target)`` (P = source, Q = target) returns a critic f that
approximately maximises E_Q f − E_P f over 1-Lipschitz functions; the maximum is W1(P, Q). The optimal critic's
gradient at a target point y is the unit vector along which the optimal plan moved the mass that arrived at y
(pointing away from its origin), which is what the published metrics (Korotin, Kolesov, Burnaev, "Kantorovich
Strikes Back! Wasserstein GANs are not Optimal Transport?", NeurIPS 2022) compare.
"""

from __future__ import annotations

import copy
from functools import partial
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from monge.errors import CheckpointError, InvalidInputError
from monge.solvers.base import Callback, load_result, map_samples, meta_field, save_result

GRADIENT_SOURCES: tuple[str, ...] = ("critic", "mover")
"""Where :meth:`W1Result.gradient` comes from: the critic's input gradient (autograd), or a mover network H
that maps target points back to where their mass came from, ∇f(y) = (y − H(y)) / ‖y − H(y)‖ (the reversed
three-player WGAN)."""


@dataclass(frozen=True)
class W1Result:
    """A fitted distance-cost (W1) critic.

    Attributes:
        solver: registered name of the solver that produced it.
        critic: network f: R^dim → R (``forward(x)`` of shape ``(n,)``), oriented so that E_Q f − E_P f ≈ W1.
        w1_estimate: the solver's estimate of W1(P, Q) from training (the dual objective on recent batches).
        history: per-step training logs (name → list of floats).
        settings: the solver's hyper-parameters (JSON-serialisable).
        steps: number of training steps done.
        mover: an auxiliary transport network (three-player WGANs), or ``None``.
        gradient_from: ``"critic"`` (default) or ``"mover"``; see :data:`GRADIENT_SOURCES`.
    """

    solver: str
    critic: nn.Module
    w1_estimate: float
    history: dict[str, list[float]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    steps: int = 0
    mover: nn.Module | None = None
    gradient_from: str = "critic"
    cost: ClassVar[str] = "w1"

    def __post_init__(self) -> None:
        if self.gradient_from not in GRADIENT_SOURCES:
            raise InvalidInputError(f"gradient_from must be one of {list(GRADIENT_SOURCES)}, got {self.gradient_from!r}")
        if self.gradient_from == "mover" and self.mover is None:
            raise InvalidInputError("gradient_from='mover' needs a mover network")

    @property
    def dim(self) -> int:
        return int(self.critic.dim)

    def potential(self, x: Any, *, batch_size: int = 65536) -> Any:
        """The critic's values f(x), shape (n,), computed in chunks of ``batch_size``. NumPy in gives NumPy
        out, a tensor in gives a tensor out, in the input's floating dtype; a tensor that requires grad gets a
        differentiable output."""
        return map_samples(self.critic, x, module=self.critic, dim=self.dim, batch_size=batch_size, name="x")

    __call__ = potential

    def gradient(self, y: Any, *, batch_size: int = 65536) -> Any:
        """∇f(y), shape (n, dim): the critic's input gradient, or (y − H(y))/‖y − H(y)‖ with the mover H when
        ``gradient_from == "mover"``. Input and output kinds and dtypes as in :meth:`potential`."""
        return map_samples(self._gradient, y, module=self.critic, dim=self.dim, batch_size=batch_size, name="y")

    def _gradient(self, chunk: torch.Tensor) -> torch.Tensor:
        if self.gradient_from == "mover":
            d = chunk - self.mover(chunk)
            return d / d.norm(dim=1, keepdim=True).clamp_min(torch.finfo(d.dtype).tiny)
        track = chunk.requires_grad
        with torch.enable_grad():
            c = chunk if track else chunk.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.critic(c).sum(), c, create_graph=track)
        return g

    def dual_value(self, x: Any, y: Any) -> float:
        """E_y f − E_x f on samples x ~ P, y ~ Q: the critic's W1 estimate on these samples (Ŵ1 of the paper)."""
        with torch.no_grad():
            fx, fy = (torch.as_tensor(self.potential(s)).double().mean() for s in (x, y))
        return float(fy - fx)

    def frozen(self) -> "W1Result":
        """A deep copy whose networks later training cannot change."""
        return self.to()

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> "W1Result":
        """A copy with the networks on ``device`` and/or in floating ``dtype`` (the original is unchanged)."""
        import dataclasses

        def moved(net: nn.Module | None) -> nn.Module | None:
            return None if net is None else copy.deepcopy(net).to(device=device, dtype=dtype)

        return dataclasses.replace(self, critic=moved(self.critic), mover=moved(self.mover),
                                   history={k: list(v) for k, v in self.history.items()}, settings=dict(self.settings))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save to directory ``path``: ``result.json`` plus one ``.pt`` state dict per network (each written to
        a temporary file and renamed, so an interrupted save never leaves a half-written file under its name)."""
        return save_result(path, "W1Result", {"critic": self.critic, "mover": self.mover},
                           {"solver": self.solver, "w1_estimate": self.w1_estimate, "steps": self.steps,
                            "settings": self.settings, "history": self.history, "gradient_from": self.gradient_from})

    @classmethod
    def load(cls, path: str | Path, *, map_location: str | torch.device | None = "cpu") -> "W1Result":
        """Load a result written by :meth:`save`; raises :class:`CheckpointError` naming what is wrong."""
        meta_path, meta, nets = load_result(path, "W1Result", map_location=map_location)
        if nets.get("critic") is None:
            raise CheckpointError(f"{meta_path}: no critic network")
        field = partial(meta_field, meta_path, meta)
        try:
            return cls(solver=field("solver", str), critic=nets["critic"], w1_estimate=field("w1_estimate", float),
                       history=field("history", dict, default={}), settings=field("settings", dict, default={}),
                       steps=field("steps", int, default=0), mover=nets.get("mover"),
                       gradient_from=field("gradient_from", str, default="critic"))
        except InvalidInputError as exc:
            raise CheckpointError(f"{meta_path}: malformed ({exc})") from exc


class W1Solver(ABC):
    """Base class of distance-cost (W1) solvers: hyper-parameters in the constructor, data in :meth:`fit`.

    Registered in the same registry as the W2 solvers (``get_solver("wgan-gp")``); ``cost = "w1"`` tells
    them apart (:func:`monge.solvers.available_solvers` takes ``cost=``).
    """

    name: ClassVar[str]
    paper: ClassVar[str]
    cost: ClassVar[str] = "w1"
    smoke_options: ClassVar[dict[str, Any]] = {}
    """Constructor options for a seconds-long run with small networks (contract tests, smoke presets)."""
    lipschitz_by_construction: ClassVar[bool] = False
    """Whether the critic is 1-Lipschitz by its architecture (spectral normalisation, orthogonal GroupSort);
    the contract tests then check ‖∇f‖ ≤ 1 + ε everywhere they look."""

    @abstractmethod
    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W1Result:
        """Fit a critic between ``source`` (P) and ``target`` (Q) and return a :class:`W1Result`."""

    def settings(self) -> dict[str, Any]:
        """The hyper-parameters this solver was built with (JSON-serialisable)."""
        return {}

    def settings_for_run(self, source: Any, target: Any, *, steps: int, batch_size: int,
                         time_budget: float | None = None) -> dict[str, Any]:
        """The settings a :meth:`fit` on these data and budget will use, for the run's record."""
        return self.settings()


MakeResult = Callable[[int], W1Result]
