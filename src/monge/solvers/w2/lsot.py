"""LSOT: large-scale regularised optimal transport with a barycentric-projection map.

Seguy, Damodaran, Flamary, Courty, Rolet, Blondel. "Large-Scale Optimal Transport and Mapping
Estimation", ICLR 2018 (arXiv:1711.02283), Algorithms 1 and 2. Regularisation, ε and learning rate follow
the W2 benchmark's [LS] notebook (Korotin et al., "Do Neural Optimal Transport Solvers Work?", NeurIPS
2021, ``LS_test_hd_benchmark.ipynb``: ``REG = 'L2'``, ``EPSILON = 3e-2``, ``LR = 1e-3``, batch 1024).

Cost c(x, y) = ½‖x − y‖². With Δ(x, y) = u(x) + v(y) − c(x, y):

* phase 1 (dual, Alg. 1) maximises over two unconstrained MLP potentials u, v::

      entropic:  E_P u(x) + E_Q v(y) − ε·E_{P⊗Q} exp(Δ/ε)
      l2:        E_P u(x) + E_Q v(y) − 1/(4ε)·E_{P⊗Q} (Δ)₊²

  with the expectation over P⊗Q estimated on all n × n pairs of a source and a target minibatch;
* phase 2 (map, Alg. 2) fits a map T (:class:`~monge.nets.ResidualMap`, identity at start) to the
  barycentric projection of the regularised plan dπ = H dP⊗Q, H = exp(Δ/ε) (entropic) or (Δ)₊/(2ε) (l2),
  by minimising E_{P⊗Q} ‖T(x) − y‖²·H(x, y) with u, v frozen. Optionally an inverse map S is fitted the same
  way with the roles of x and y swapped (the plan is symmetric in the two measures).

The benchmark's [LS] instead reads the map off the gradient of an ICNN dual potential; here the paper's
map step is used. The learned map is the barycentric projection of the *regularised* plan, so it is biased
towards the conditional mean (more for larger ε): do not expect ICNN-solver accuracy.
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import torch
from torch import nn

from monge.errors import InvalidInputError
from monge.nets.mlp import MLPPotential, ResidualMap
from monge.solvers.base import Callback, W2Result, W2Solver, register_solver
from monge.solvers.common import (check_hidden_sizes, check_number, draw, mean_of_last, prepare_data, seeded,
                                  update_if_finite)
from monge.solvers.loop import run_w2_training

REGULARIZATIONS = ("entropic", "l2")


def default_hidden_sizes(dim: int) -> list[int]:
    """The W2 benchmark's widths, used for the potentials and the maps: ``[max(2D, 64), max(2D, 64), max(D, 32)]``."""
    return [max(2 * dim, 64), max(2 * dim, 64), max(dim, 32)]


def half_sq_dist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """c(x_i, y_j) = ½‖x_i − y_j‖² for all pairs, shape (n, m) (clamped at 0 against round-off)."""
    return (0.5 * x.square().sum(1, keepdim=True) + 0.5 * y.square().sum(1) - x @ y.t()).clamp(min=0)


@register_solver("lsot")
class LSOT(W2Solver):
    """Large-scale OT (Seguy et al., ICLR 2018): regularised dual with two MLP potentials, then a map network
    fitted to the barycentric projection of the regularised plan.

    ``steps`` are split: the last ``round(map_fraction · steps)`` (at least 1) train the map(s), the others
    the dual. ``history`` logs per step ``loss`` (phase 1: minus the regularised dual; phase 2: the map
    loss), ``phase`` (0 dual, 1 map), ``w2_dual`` (the regularised dual value on the batch) and
    ``transport_cost`` (½‖x − T(x)‖² on the batch). ``cost_estimate`` is the primal ½E‖x − T(x)‖²: the
    mean ``transport_cost`` of the last (at most 50) map steps; the regularised dual value is biased by the
    regulariser, so it is only logged.

    Args:
        regularization: ``"l2"`` (benchmark [LS] notebook default) or ``"entropic"``.
        epsilon: ε of the regulariser (3e-2, benchmark notebook).
        hidden_sizes: widths of the potentials u, v and of the map MLPs; default
            :func:`default_hidden_sizes` (the benchmark's network widths).
        activation: MLP activation (``"celu"``).
        lr: Adam learning rate of both phases (1e-3, benchmark notebook).
        betas: Adam betas (PyTorch default (0.9, 0.999)).
        map_fraction: fraction of ``steps`` spent on the map phase (0.5).
        fit_inverse: also fit the inverse map by the same barycentric projection with x and y swapped
            (True; the paper fits the forward map only).
        normalize_plan: weight the pairs of each row by H(x_i, y_j)/Σ_j H(x_i, y_j) in the map loss
            (self-normalised over the target batch: same minimiser E_π[y | x], far lower variance, and for
            the entropic plan the weights are a numerically stable softmax). ``False`` uses H itself, the
            paper's loss. Default True.
        offset_init: before training, add to u and v (their final biases) half the constant t that maximises
            the regularised dual over constant shifts on a first pair of batches (monge's addition: with
            Adam at lr 1e-3 the constant level otherwise takes thousands of steps to build up, during
            which the plan is empty (l2) or the dual is flat). Default True.
    """

    paper = ("V. Seguy, B. B. Damodaran, R. Flamary, N. Courty, A. Rolet, M. Blondel. Large-Scale Optimal "
             "Transport and Mapping Estimation. ICLR 2018. arXiv:1711.02283")
    smoke_options = {"hidden_sizes": [16, 16]}

    def __init__(
        self,
        *,
        regularization: str = "l2",
        epsilon: float = 3e-2,
        hidden_sizes: Sequence[int] | None = None,
        activation: str = "celu",
        lr: float = 1e-3,
        betas: Sequence[float] = (0.9, 0.999),
        map_fraction: float = 0.5,
        fit_inverse: bool = True,
        normalize_plan: bool = True,
        offset_init: bool = True,
    ):
        who = "LSOT"
        if regularization not in REGULARIZATIONS:
            raise InvalidInputError(f"{who}: regularization must be one of {REGULARIZATIONS}, got {regularization!r}")
        self.regularization = regularization
        self.epsilon = check_number(who, "epsilon", epsilon, positive=True)
        self.lr = check_number(who, "lr", lr, positive=True)
        self.map_fraction = check_number(who, "map_fraction", map_fraction, positive=True)
        if not 0 < self.map_fraction < 1:
            raise InvalidInputError(f"{who}: map_fraction must be in (0, 1), got {map_fraction!r}")
        self.hidden_sizes = check_hidden_sizes(who, hidden_sizes)
        self.activation = activation
        self.betas = tuple(float(b) for b in betas)
        self.fit_inverse, self.normalize_plan, self.offset_init = bool(fit_inverse), bool(normalize_plan), bool(offset_init)

    def settings(self) -> dict[str, Any]:
        return {"regularization": self.regularization, "epsilon": self.epsilon, "hidden_sizes": self.hidden_sizes,
                "activation": self.activation, "lr": self.lr, "betas": list(self.betas),
                "map_fraction": self.map_fraction, "fit_inverse": self.fit_inverse,
                "normalize_plan": self.normalize_plan, "offset_init": self.offset_init}

    # ------------------------------------------------------------------ pieces
    def _delta(self, u: nn.Module, v: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        ux, vy = u(x), v(y)
        delta = ux[:, None] + vy[None, :] - half_sq_dist(x, y)
        return ux, vy, delta

    def _penalty(self, delta: torch.Tensor) -> torch.Tensor:
        if self.regularization == "entropic":
            return self.epsilon * torch.exp(delta / self.epsilon).mean()
        return delta.clamp(min=0).square().mean() / (4 * self.epsilon)

    def _weights(self, delta: torch.Tensor) -> torch.Tensor:
        """Plan weights of each row (x fixed) of ``delta``: H, or H normalised over the row."""
        if self.regularization == "entropic":
            if self.normalize_plan:
                return torch.softmax(delta / self.epsilon, dim=1)
            return torch.exp(delta / self.epsilon)
        h = delta.clamp(min=0) / (2 * self.epsilon)
        if self.normalize_plan:
            total = h.sum(1, keepdim=True)
            return torch.where(total > 0, h / total.clamp(min=torch.finfo(h.dtype).tiny), torch.zeros_like(h))
        return h

    def _best_constant(self, c: torch.Tensor) -> float:
        """The shift t maximising t − penalty(t − c) (the dual restricted to u + v ≡ t) on the pairs ``c``:
        entropic t = −ε·log E exp(−c/ε); l2 solves E(t − c)₊ = 2ε by bisection."""
        c = c.flatten().double()
        if self.regularization == "entropic":
            return float(-self.epsilon * (torch.logsumexp(-c / self.epsilon, 0) - math.log(c.numel())))
        lo, hi = float(c.min()), float(c.max()) + 2 * self.epsilon
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if float((mid - c).clamp(min=0).mean()) < 2 * self.epsilon else (lo, mid)
        return 0.5 * (lo + hi)

    @staticmethod
    def _map_loss(t_x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, normalized: bool) -> torch.Tensor:
        """Σ_j w_ij ‖T(x_i) − y_j‖², averaged over i (and over j when ``w`` is the unnormalised density)."""
        per_row = (w.sum(1) * t_x.square().sum(1) - 2 * (t_x * (w @ y)).sum(1) + w @ y.square().sum(1))
        return per_row.mean() if normalized else per_row.mean() / w.shape[1]

    # ------------------------------------------------------------------ training
    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int = 1024,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W2Result:
        """Train the dual potentials, then the map(s), for ``steps`` Adam steps in total on minibatches of
        ``batch_size`` from each side (the dual and map losses use all batch_size² pairs)."""
        source, target = prepare_data(source, target, steps, batch_size, generator)
        dim, dtype, device = source.dim, source.dtype, source.device
        hidden = self.hidden_sizes or default_hidden_sizes(dim)
        def build(cls: type[torch.nn.Module]) -> torch.nn.Module:
            net = seeded(lambda: cls(dim, hidden, activation=self.activation), generator)
            return net.to(device=device, dtype=dtype)

        u, v, t_map = build(MLPPotential), build(MLPPotential), build(ResidualMap)
        s_map = build(ResidualMap) if self.fit_inverse else None
        map_steps = min(steps, max(1, round(self.map_fraction * steps)))
        dual_steps = steps - map_steps
        started = time.perf_counter()

        if self.offset_init:
            with torch.no_grad():
                x0, y0 = source.sample(batch_size, generator), target.sample(batch_size, generator)
                offset = 0.5 * self._best_constant(half_sq_dist(x0, y0) - u(x0)[:, None] - v(y0)[None, :])
                u.net[-1].bias.add_(offset)
                v.net[-1].bias.add_(offset)

        maps = [t_map] + ([s_map] if s_map is not None else [])
        dual_params = [*u.parameters(), *v.parameters()]
        map_params = [p for m in maps for p in m.parameters()]
        dual_opt = torch.optim.Adam(dual_params, lr=self.lr, betas=self.betas)
        map_opt = torch.optim.Adam(map_params, lr=self.lr, betas=self.betas)
        history: dict[str, list[float]] = {"loss": [], "phase": [], "w2_dual": [], "transport_cost": []}

        def estimate(step: int) -> float:
            return mean_of_last(history["transport_cost"][dual_steps:step])       # the map steps' costs

        def step(i: int) -> dict[str, float]:
            x, y = draw(source, target, batch_size, generator)
            if i < dual_steps:
                ux, vy, delta = self._delta(u, v, x, y)
                dual = ux.mean() + vy.mean() - self._penalty(delta)
                loss = -dual
                logs = {"loss": loss.item(), "phase": 0.0, "w2_dual": dual.item(), "transport_cost": 0.0}
                return update_if_finite(dual_opt, loss, logs)
            with torch.no_grad():
                ux, vy, delta = self._delta(u, v, x, y)
                dual = ux.mean() + vy.mean() - self._penalty(delta)
                w_fwd = self._weights(delta)
                w_inv = self._weights(delta.t()) if s_map is not None else None
            t_x = t_map(x)
            loss = self._map_loss(t_x, y, w_fwd, self.normalize_plan)
            if s_map is not None:
                loss = loss + self._map_loss(s_map(y), x, w_inv, self.normalize_plan)
            cost = 0.5 * (t_x.detach() - x).square().sum(1).mean()
            logs = {"loss": loss.item(), "phase": 1.0, "w2_dual": dual.item(), "transport_cost": cost.item()}
            return update_if_finite(map_opt, loss, logs)

        return run_w2_training(self, steps=steps, params=[*dual_params, *map_params], step=step, history=history,
                               forward=t_map, inverse=s_map, estimate=estimate, callback=callback, started=started,
                               generator=generator, data=(source, target),
                               state={"u": u, "v": v, "t_map": t_map, "s_map": s_map,
                                      "dual_optimizer": dual_opt, "map_optimizer": map_opt})
