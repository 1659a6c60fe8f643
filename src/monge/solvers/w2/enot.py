"""ENOT: expectile-regularised neural optimal transport (two unconstrained potentials, no conjugate solver).

Buzun, Bobrin, Dylov. "ENOT: Expectile Regularization for Fast and Accurate Training of Neural Optimal
Transport", NeurIPS 2024 (arXiv:2403.03777). Defaults are those of the authors' implementation in OTT-JAX
(``ott.neural.methods.expectile_neural_dual.ExpectileNeuralDual``): squared Euclidean cost, bidirectional
training, MLP potentials of widths ``[128, 128, 128, 128]`` with ELU, Adam with lr 3e-4 and betas
(0.9, 0.9) for both, expectile τ = 0.99 and regularisation weight 1.

**Objective.** With cost c(x, y) = ‖x − y‖² (the paper's; so c-transforms and the dual value are W2², not
½W2²) and Kantorovich potentials f on the source and g on the target::

    sup_g inf_T  E_P[c(x, T(x)) − g(T(x))] + E_Q g(y),

where the map is read off a potential's gradient, T(x) = x − ∇f(x)/2 (the "twist" of the squared
Euclidean cost), so no conjugate has to be solved: g^c(x) ≈ c(x, T(x)) − g(T(x)). The binding condition of
the dual (g^c(x) + g(y) = c(x, y) on the plan's support, ≤ elsewhere) is enforced by the **expectile
regulariser** on independently paired x, y: with the gap

    d = g^c(x) + g(y) − c(x, y),

two expectile losses L_τ(u) = |τ − 1[u < 0]|·u² are added, one acting on g(y) (g^c held constant) and one
on g^c(x) (g(y) held constant). Since τ ≈ 1 penalises positive gaps heavily, their τ-expectile tends to 0,
which is the c-transform's maximum. One step updates g by ``dual + λ·regulariser`` and f by the amortised
map loss E c(x, T(x)) − g(T(x)) (g held constant).

**Bidirectional** (default): steps alternate; odd steps swap the roles: the map is T'(y) = y − ∇g(y)/2
(target → source) and f is the dual potential. Both maps are learned, so the result has an inverse. With
``bidirectional=False`` only the forward step is taken and the result reports no inverse. f is still a
potential then; OTT-JAX instead switches to a vector-valued network for the map in that mode.

**Parametrisation.** monge stores the Brenier potentials ψ(x) = ½‖x‖² − f(x)/2 and φ(y) = ½‖y‖² − g(y)/2,
each an :class:`~monge.nets.MLPPotential` with ``quadratic=True`` (MLP + ½‖x‖²): then T = ∇ψ and the inverse
map is ∇φ, as every W2 result in monge. This is a reparametrisation of OTT's f, g (f = −2·MLP), not a
change of method.

**Gaussian warm start** (``warm_start=True``, monge's addition, off by default): the quadratic part ½‖x‖² of
both potentials is replaced by ½ xᵀAx + bᵀx, where x ↦ Ax + b is the Gaussian (Bures) OT map between the
means and covariances of ``warm_start_samples(D)`` samples of each side (and its inverse for φ). Training
starts from the best affine map instead of the identity and the MLPs learn the non-linear remainder.

The cost estimate is ½ of the dual value E g^c(x) + E g(y) (a W2² estimate for the ‖·‖² cost), averaged
over the last 50 steps.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Sequence

import torch
from torch import nn

from monge._bures import sample_bures_map
from monge.nets.mlp import _ACTIVATIONS, MLPPotential
from monge.solvers.base import Callback, W2Result, W2Solver, register_solver
from monge.solvers.common import (adam, check_betas, check_choice, check_hidden_sizes, check_number,
                                  compiled_or_eager, mean_of_last, prepare_data, seeded)
from monge.solvers.loop import train_loop
from monge.errors import InvalidInputError


def warm_start_samples(dim: int) -> int:
    """Samples of each side whose moments give the Gaussian warm start: 32 per dimension, at least 4096."""
    return max(4096, 32 * dim)


def expectile_loss(diff: torch.Tensor, tau: float) -> torch.Tensor:
    """Asymmetric least squares |τ − 1[diff < 0]|·diff² (elementwise), the loss of expectile regression."""
    weight = torch.where(diff >= 0, tau, 1.0 - tau)
    return weight * diff.square()


@register_solver("enot")
class ENOT(W2Solver):
    """ENOT (Buzun, Bobrin, Dylov, NeurIPS 2024): two MLP potentials, map from a potential's gradient, and an
    expectile regulariser in place of the c-transform. Forward map ∇ψ (P → Q), inverse ∇φ (Q → P).

    Args:
        hidden_sizes: widths of both MLP potentials (``[128, 128, 128, 128]``, OTT-JAX default).
        activation: MLP activation (``"elu"``, OTT-JAX default).
        expectile: τ of the expectile loss (0.99; the paper suggests [0.9, 1)).
        expectile_weight: λ, weight of the expectile regulariser (1.0; the paper suggests [0.3, 1]).
        lr: Adam learning rate of both potentials (3e-4).
        betas: Adam betas ((0.9, 0.9)).
        lr_decay: cosine decay of the learning rate to 0 over ``steps`` (False: OTT-JAX's default is a
            constant rate; monge's benchmark presets turn it on so a fixed-length run ends steady).
        bidirectional: alternate forward and backward steps (True); False trains the forward map only.
        warm_start: start both maps at the Gaussian (Bures) OT map between the data's moments (False; see
            above).
        mixed_precision: compute each step's losses under ``torch.autocast`` with bfloat16 matrix products
            (False; monge's addition). On CPUs with AVX-512 BF16 a bfloat16 product runs about twice as fast as
            a float32 one, so the step is faster; gradients, Adam and the returned networks stay float32.
        ema: decay of an exponential moving average of both potentials' parameters, which the result holds
            instead of the last iterate (0: off, the paper's; for example 0.999 averages over about the last
            thousand steps). monge's addition: it smooths the oscillations of the high-learning-rate phase.
        compile: compute the networks' gradients by their explicit formula and compile each step's losses
            with ``torch.compile`` (False; opt-in: the first steps pay seconds of compilation on CPU, then
            training runs at 1.1–1.3× the eager steps/s with the default networks at batch 1024, more with
            smaller ones; falls back to eager with a warning if compilation fails). ``solver="auto"`` turns
            it on for long runs.
    """

    paper = ("D. Buzun, N. Bobrin, D. V. Dylov. ENOT: Expectile Regularization for Fast and Accurate Training of "
             "Neural Optimal Transport. NeurIPS 2024. arXiv:2403.03777")
    smoke_options = {"hidden_sizes": [16, 16]}

    def __init__(
        self,
        *,
        hidden_sizes: Sequence[int] | None = (128, 128, 128, 128),
        activation: str = "elu",
        expectile: float = 0.99,
        expectile_weight: float = 1.0,
        lr: float = 3e-4,
        betas: Sequence[float] = (0.9, 0.9),
        lr_decay: bool = False,
        bidirectional: bool = True,
        warm_start: bool = False,
        ema: float = 0.0,
        mixed_precision: bool = False,
        compile: bool = False,
    ):
        who = "ENOT"
        self.hidden_sizes = check_hidden_sizes(who, hidden_sizes) or [128, 128, 128, 128]
        self.activation = check_choice(who, "activation", activation, sorted(_ACTIVATIONS))
        self.expectile = check_number(who, "expectile", expectile)
        if not 0.5 <= self.expectile < 1.0:
            raise InvalidInputError(f"{who}: expectile must be in [0.5, 1), got {expectile!r}")
        self.expectile_weight = check_number(who, "expectile_weight", expectile_weight)
        self.lr = check_number(who, "lr", lr, positive=True)
        self.betas = check_betas(who, betas)
        for name, value in (("lr_decay", lr_decay), ("bidirectional", bidirectional), ("warm_start", warm_start),
                            ("mixed_precision", mixed_precision), ("compile", compile)):
            if not isinstance(value, bool):
                raise InvalidInputError(f"{who}: {name} must be true or false, got {value!r}")
        self.lr_decay, self.bidirectional, self.compile = lr_decay, bidirectional, compile
        self.warm_start, self.mixed_precision = warm_start, mixed_precision
        self.ema = check_number(who, "ema", ema)
        if not self.ema < 1.0:
            raise InvalidInputError(f"{who}: ema must be in [0, 1), got {ema!r}")

    def settings(self) -> dict[str, Any]:
        return {"hidden_sizes": self.hidden_sizes, "activation": self.activation, "expectile": self.expectile,
                "expectile_weight": self.expectile_weight, "lr": self.lr, "betas": list(self.betas),
                "lr_decay": self.lr_decay, "bidirectional": self.bidirectional, "warm_start": self.warm_start,
                "ema": self.ema, "mixed_precision": self.mixed_precision, "compile": self.compile}

    def _step_losses(self, mover: MLPPotential, dual: MLPPotential, x: torch.Tensor, y: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Losses of one ENOT step moving x (samples of the mover's side) onto y.

        ``mover`` is the Brenier potential of the map (T = ∇mover), ``dual`` the Brenier potential on the y
        side, whose Kantorovich potential is g(y) = ‖y‖² − 2·dual(y). Returns (loss of dual, loss of mover,
        dual value ≈ W2², expectile regulariser), the last two detached. With ``compile`` the map ∇mover uses
        the network's explicit gradient (a plain forward graph for ``torch.compile``), else autograd. The map
        loss sees the dual with detached parameters (``frozen_forward``), so it trains the mover only.
        """
        def kantorovich(z: torch.Tensor, frozen: bool = False) -> torch.Tensor:
            return z.square().sum(1) - 2.0 * (dual.frozen_forward(z) if frozen else dual(z))

        if self.compile:
            y_hat = mover.explicit_value_and_gradient(x)[1]     # T(x) with the graph to the mover's parameters
        else:
            y_hat = mover.gradient(x)
        y_hat_const = y_hat.detach()
        g_y = kantorovich(y)
        g_conj_x = (x - y_hat_const).square().sum(1) - kantorovich(y_hat_const)   # ≈ g^c(x)
        cost_xy = (x - y).square().sum(1)
        gap_y = (g_conj_x - cost_xy).detach() + g_y
        gap_x = (g_y - cost_xy).detach() + g_conj_x
        regulariser = expectile_loss(gap_y, self.expectile).mean() + expectile_loss(gap_x, self.expectile).mean()
        dual_value = (g_y + g_conj_x).mean()                   # ≈ W2² for the ‖·‖² cost
        dual_loss = self.expectile_weight * regulariser - dual_value
        map_loss = ((x - y_hat).square().sum(1) - kantorovich(y_hat, frozen=True)).mean()
        return dual_loss, map_loss, dual_value.detach(), regulariser.detach()

    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int = 1024,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W2Result:
        """Train both potentials for ``steps`` steps (alternating directions when bidirectional) on unpaired
        minibatches of ``batch_size`` (1024, as in the paper's benchmark runs) from each side.

        Raises :class:`~monge.errors.TrainingDiverged` (with the last finite parameters) on a non-finite loss.
        """
        source, target = prepare_data(source, target, steps, batch_size, generator)
        dim, dtype, device = source.dim, source.dtype, source.device

        def build() -> nn.Module:
            return MLPPotential(dim, self.hidden_sizes, activation=self.activation, quadratic=True,
                                affine=self.warm_start, dtype=dtype, device=device)

        psi, phi = seeded(build, generator), seeded(build, generator)
        if self.warm_start:
            n = warm_start_samples(dim)
            x, y = source.sample(n, generator), target.sample(n, generator)
            psi.set_affine(*sample_bures_map(x, y))
            phi.set_affine(*sample_bures_map(y, x))
        optimizers = {id(net): adam(list(net.parameters()), lr=self.lr, betas=self.betas) for net in (psi, phi)}
        schedulers = ([torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) for opt in optimizers.values()]
                      if self.lr_decay else [])
        history: dict[str, list[float]] = {"loss": [], "w2_dual": [], "expectile_loss": []}
        started = time.perf_counter()

        averages = {"psi_average": copy.deepcopy(psi), "phi_average": copy.deepcopy(phi)} if self.ema else {}
        live = [p for net in (psi, phi) for p in net.parameters()]
        averaged = [p for net in averages.values() for p in net.parameters()]
        for p in averaged:
            p.requires_grad_(False)

        def make_result(step: int) -> W2Result:
            forward, inverse = (averages["psi_average"], averages["phi_average"]) if averages else (psi, phi)
            return W2Result(solver=self.name, forward_potential=forward,
                            inverse_potential=inverse if self.bidirectional else None,
                            cost_estimate=mean_of_last(history["w2_dual"]), history=history,
                            settings=self.settings(), steps=step)

        losses = compiled_or_eager(self._step_losses, "ENOT") if self.compile else self._step_losses

        def step(i: int) -> dict[str, float]:
            forward = i % 2 == 0 or not self.bidirectional
            mover, dual = (psi, phi) if forward else (phi, psi)
            x = source.sample(batch_size, generator)
            y = target.sample(batch_size, generator)
            if not forward:
                x, y = y, x
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.mixed_precision):
                dual_loss, map_loss, dual_value, regulariser = losses(mover, dual, x, y)
            if self.mixed_precision:
                dual_loss, map_loss, dual_value, regulariser = (t.float() for t in (dual_loss, map_loss, dual_value,
                                                                                    regulariser))
            logs = {"loss": (dual_loss.detach() + map_loss.detach()).item(), "w2_dual": 0.5 * dual_value.item(),
                    "expectile_loss": regulariser.item()}
            if math.isfinite(logs["loss"]):
                for net in (mover, dual):
                    optimizers[id(net)].zero_grad(set_to_none=True)
                (dual_loss + map_loss).backward()
                for net in (mover, dual):
                    optimizers[id(net)].step()
                for scheduler in schedulers:
                    scheduler.step()
                if averaged:
                    with torch.no_grad():
                        torch._foreach_lerp_(averaged, live, 1.0 - self.ema)
            return logs

        result = train_loop(name="ENOT", steps=steps, params=[*psi.parameters(), *phi.parameters()], step=step,
                            make_result=make_result, history=history, callback=callback, started=started,
                            generator=generator, data=(source, target),
                            state={"psi": psi, "phi": phi, "psi_optimizer": optimizers[id(psi)],
                                   "phi_optimizer": optimizers[id(phi)],
                                   **dict(zip(("psi_schedule", "phi_schedule"), schedulers)), **averages})
        return result

