"""The W1 (distance-cost) result object and solver base class.

Convention: a W1 solver fitted with ``fit(source, target)`` (P = source, Q = target) returns a critic f that
approximately maximises E_Q f − E_P f over 1-Lipschitz functions; the maximum is W1(P, Q). The optimal critic's
gradient at a target point y is the unit vector along which the optimal plan moved the mass that arrived at y
(pointing away from its origin), which is what the published metrics (Korotin, Kolesov, Burnaev, "Kantorovich
Strikes Back! Wasserstein GANs are not Optimal Transport?", NeurIPS 2022) compare.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from monge._checks import check_samples
from monge.errors import CheckpointError, InvalidInputError
from monge.solvers.base import Callback, load_result, save_result

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

    def _checked(self, x: torch.Tensor, name: str) -> torch.Tensor:
        x = check_samples(x, name=name, dim=self.dim)
        param = next(self.critic.parameters())
        if x.device != param.device:
            raise InvalidInputError(f"{name} is on {x.device} but the critic's parameters are on {param.device}")
        return x.to(param.dtype)

    def potential(self, x: torch.Tensor, *, batch_size: int = 65536) -> torch.Tensor:
        """The critic's values f(x), shape (n,), computed in chunks without gradients."""
        x = self._checked(x, "x")
        with torch.no_grad():
            return torch.cat([self.critic(chunk) for chunk in x.split(batch_size)])

    __call__ = potential

    def gradient(self, y: torch.Tensor, *, batch_size: int = 65536) -> torch.Tensor:
        """∇f(y), shape (n, dim), detached: the critic's input gradient, or (y − H(y))/‖y − H(y)‖ with the
        mover H when ``gradient_from == "mover"``."""
        y = self._checked(y, "y")
        out = []
        for chunk in y.split(batch_size):
            if self.gradient_from == "mover":
                with torch.no_grad():
                    d = chunk - self.mover(chunk)
                    out.append(d / d.norm(dim=1, keepdim=True).clamp_min(torch.finfo(d.dtype).tiny))
                continue
            with torch.enable_grad():
                c = chunk.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(self.critic(c).sum(), c)
            out.append(g.detach())
        return torch.cat(out)

    def dual_value(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """E_y f − E_x f on samples x ~ P, y ~ Q: the critic's W1 estimate on these samples (Ŵ1 of the paper)."""
        return float(self.potential(y).double().mean() - self.potential(x).double().mean())

    def frozen(self) -> "W1Result":
        """A deep copy whose networks later training cannot change."""
        return W1Result(solver=self.solver, critic=copy.deepcopy(self.critic), w1_estimate=self.w1_estimate,
                        history={k: list(v) for k, v in self.history.items()}, settings=dict(self.settings),
                        steps=self.steps, mover=copy.deepcopy(self.mover), gradient_from=self.gradient_from)

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
        try:
            return cls(solver=meta["solver"], critic=nets["critic"], w1_estimate=float(meta["w1_estimate"]),
                       history={k: list(v) for k, v in meta.get("history", {}).items()},
                       settings=meta.get("settings", {}), steps=int(meta.get("steps", 0)),
                       mover=nets.get("mover"), gradient_from=meta.get("gradient_from", "critic"))
        except (KeyError, TypeError, ValueError, InvalidInputError) as exc:
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
