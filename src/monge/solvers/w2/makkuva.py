"""Makkuva, Taghvaei, Oh, Lee (ICML 2020): minimax training of two input-convex potentials.

"Optimal transport mapping via input convex neural networks", ICML 2020 (arXiv:1908.10962). Defaults
from the W2 benchmark notebook ``MM_test_hd_benchmark.ipynb`` (Korotin et al., "Do Neural Optimal
Transport Solvers Work? A Continuous Wasserstein-2 Benchmark", NeurIPS 2021): Adam with lr 1e-3,
``INNER_ITERS = 15`` inner steps, DenseICNN widths ``[max(2D, 64), max(2D, 64), max(D, 32)]``, rank 1,
strong convexity 1e-4, identity pre-training on 3·N(0, I) and the inner potential copied into the outer.

With source P (x) and target Q (y), ½W2²(P, Q) = ½E‖x‖² + ½E‖y‖² − min_f max_g V(f, g), where::

    V(f, g) = E_Q f(y) + E_P[⟨x, ∇g(x)⟩ − f(∇g(x))]

(the paper's eq. (6) with its P and Q exchanged, so that the inner potential's gradient ∇g is the
forward map P → Q and ∇f the inverse map Q → P). Each step makes one Adam step on f (minimising
E_Q f(y) − E_P f(∇g(x)), the map held fixed) then ``inner_steps`` Adam steps on g (maximising the
bracket), as in the benchmark notebook. Convexity: after each step the non-negative weights are clamped
(``convexity="clamp"``, the benchmark's [MMv2]); ``convexity="penalty"`` leaves g unconstrained and adds
the paper's penalty λ·Σ‖max(−W, 0)‖²_F on its convexity-preserving weights (f stays clamped, as in the
paper). ``convex=False`` uses non-convex :class:`~monge.nets.MLPPotential` networks (+½‖x‖²) for both,
the benchmark's unconstrained [MM] variant.
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import torch
from torch import nn

from monge.errors import InvalidInputError
from monge.nets.base import Potential
from monge.nets.icnn import DenseICNN
from monge.nets.mlp import MLPPotential
from monge.samplers import Sampler
from monge.solvers.base import Callback, W2Result, W2Solver, register_solver
from monge.solvers.common import (adam, check_betas, check_choice, check_hidden_sizes, check_int, check_number,
                                  descend, draw, prepare_data, pretrain_as_configured, seeded)
from monge.solvers.loop import run_w2_training
from monge.solvers.w2.w2gn import default_hidden_sizes


# ------------------------------------------------------------------------------------ shared helpers
class PretrainedICNNOptions:
    """The DenseICNN and identity pre-training options that :class:`Makkuva`, ``ReversedMaximin`` and
    ``TaghvaeiJalali`` share: validation, their part of ``settings()``, and the pre-training itself."""

    def _set_icnn_options(self, who: str, *, strong_convexity: float, init_std: float, pretrain_steps: int,
                          pretrain_tol: float, pretrain_blow: float) -> None:
        self.strong_convexity = check_number(who, "strong_convexity", strong_convexity)
        self.init_std = check_number(who, "init_std", init_std, positive=True)
        self.pretrain_steps = check_int(who, "pretrain_steps", pretrain_steps)
        self.pretrain_tol = check_number(who, "pretrain_tol", pretrain_tol)
        self.pretrain_blow = check_number(who, "pretrain_blow", pretrain_blow, positive=True)

    def _icnn_settings(self) -> dict[str, Any]:
        return {"strong_convexity": self.strong_convexity, "init_std": self.init_std,
                "pretrain_steps": self.pretrain_steps, "pretrain_tol": self.pretrain_tol,
                "pretrain_blow": self.pretrain_blow}

    def _pretrain(self, net: Potential, history: dict[str, list[float]], key: str, source: Sampler, target: Sampler,
                  batch_size: int, generator: torch.Generator | None) -> None:
        """W2GN's identity pre-training of ``net`` (∇ψ ≈ id on N(m, (blow·σ)²) noise), unless ``pretrain_steps``
        is 0; its final mean squared error goes to ``history[key]``."""
        if self.pretrain_steps:
            history[key] = [pretrain_as_configured(self, net, source, target, batch_size, generator,
                                                   name=type(net).__name__)]


def negative_weight_penalty(net: nn.Module) -> torch.Tensor:
    """Σ‖max(−W, 0)‖²_F over a DenseICNN's convexity-preserving weights (Makkuva et al., eq. (7))."""
    weights = [layer.weight for layer in net.convex_layers] + [net.final_layer.weight]
    return sum(w.clamp(max=0).square().sum() for w in weights)


# ------------------------------------------------------------------------------------------- solver
@register_solver("mm-2")
class Makkuva(PretrainedICNNOptions, W2Solver):
    """Minimax OT with two ICNNs (Makkuva, Taghvaei, Oh, Lee; ICML 2020), the benchmark's [MMv2]/[MM].

    min_f max_g E_Q f(y) + E_P[⟨x, ∇g(x)⟩ − f(∇g(x))]: one step on f, then ``inner_steps`` on g per step.
    Forward map ∇g (P → Q), inverse map ∇f (Q → P).

    Args:
        hidden_sizes: widths of both networks; default ``[max(2D, 64), max(2D, 64), max(D, 32)]``
            (benchmark notebook).
        inner_steps: K, Adam steps on g per step of f (15, benchmark ``INNER_ITERS``; the paper's Alg. 1 uses
            10 for its 2-D experiments).
        lr: Adam learning rate of both networks (1e-3, benchmark ``LR``).
        betas: Adam betas ((0.9, 0.999), PyTorch default as in the notebook; the paper uses (0.5, 0.99)).
        convex: DenseICNN potentials (True, [MMv2]); False uses MLPPotential(quadratic=True) for both
            (the benchmark's unconstrained [MM]).
        convexity: ``"clamp"`` (clamp the non-negative weights of f and g after each step, benchmark
            ``convexify()``) or ``"penalty"`` (clamp f only; penalise g's negative weights, the paper).
        penalty_weight: λ of the penalty when ``convexity="penalty"`` (1.0).
        rank: rank of the DenseICNN convex-quadratic layers (1).
        activation: ``"celu"`` (default) or ``"softplus"`` (any MLPPotential activation if ``convex=False``).
        strong_convexity: β of the DenseICNNs (1e-4, benchmark).
        init_std: DenseICNN initial weight std (0.05).
        pretrain_steps: identity pre-training steps of g, then copied into f (1000, as W2GN; 0 = none).
        pretrain_tol: pre-training stops below this mean squared error (1e-3).
        pretrain_blow: pre-training noise scale (3.0, benchmark ``blow=3``).
    """

    paper = ("A. Makkuva, A. Taghvaei, S. Oh, J. Lee. Optimal transport mapping via input convex neural "
             "networks. ICML 2020. arXiv:1908.10962")
    smoke_options = {"hidden_sizes": [16, 16, 8], "inner_steps": 2, "pretrain_steps": 20}

    def __init__(self, *, hidden_sizes: Sequence[int] | None = None, inner_steps: int = 15, lr: float = 1e-3,
                 betas: Sequence[float] = (0.9, 0.999), convex: bool = True, convexity: str = "clamp",
                 penalty_weight: float = 1.0, rank: int = 1, activation: str = "celu", strong_convexity: float = 1e-4,
                 init_std: float = 0.05, pretrain_steps: int = 1000, pretrain_tol: float = 1e-3,
                 pretrain_blow: float = 3.0):
        who = "Makkuva"
        self.hidden_sizes = check_hidden_sizes(who, hidden_sizes)
        self.inner_steps = check_int(who, "inner_steps", inner_steps, minimum=1)
        self.lr = check_number(who, "lr", lr, positive=True)
        self.betas = check_betas(who, betas)
        if not isinstance(convex, bool):
            raise InvalidInputError(f"{who}: convex must be True or False, got {convex!r}")
        self.convex = convex
        self.convexity = check_choice(who, "convexity", convexity, ("clamp", "penalty"))
        self.penalty_weight = check_number(who, "penalty_weight", penalty_weight)
        self.rank = check_int(who, "rank", rank, minimum=1)
        self.activation = activation
        if convex:
            check_choice(who, "activation", activation, ("celu", "softplus"))
        self._set_icnn_options(who, strong_convexity=strong_convexity, init_std=init_std, pretrain_steps=pretrain_steps,
                               pretrain_tol=pretrain_tol, pretrain_blow=pretrain_blow)

    def settings(self) -> dict[str, Any]:
        return {"hidden_sizes": self.hidden_sizes, "inner_steps": self.inner_steps, "lr": self.lr,
                "betas": list(self.betas), "convex": self.convex, "convexity": self.convexity,
                "penalty_weight": self.penalty_weight, "rank": self.rank, "activation": self.activation,
                **self._icnn_settings()}

    def _network(self, dim: int, dtype: torch.dtype, device: torch.device,
                 generator: torch.Generator | None) -> Potential:
        sizes = self.hidden_sizes or default_hidden_sizes(dim)
        if self.convex:
            return DenseICNN(dim, sizes, rank=self.rank, activation=self.activation,
                             strong_convexity=self.strong_convexity, init_std=self.init_std,
                             generator=generator, dtype=dtype, device=device)
        return seeded(lambda: MLPPotential(dim, sizes, activation=self.activation, quadratic=True,
                                           dtype=dtype, device=device), generator)

    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int = 1024,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W2Result:
        """Train f and g for ``steps`` outer steps (each with ``inner_steps`` steps of g).

        Raises :class:`~monge.errors.TrainingDiverged` (with the last finite parameters) on a non-finite loss.
        """
        source, target = prepare_data(source, target, steps, batch_size, generator)
        dim, dtype, device = source.dim, source.dtype, source.device
        g = self._network(dim, dtype, device, generator)       # forward map ∇g: P → Q (inner, max)
        f = self._network(dim, dtype, device, generator)       # inverse map ∇f: Q → P (outer, min)
        history: dict[str, list[float]] = {"loss": [], "inner_loss": [], "w2_dual": []}
        started = time.perf_counter()
        self._pretrain(g, history, "pretrain_mse", source, target, batch_size, generator)
        f.load_state_dict(g.state_dict())
        f_opt = adam(list(f.parameters()), lr=self.lr, betas=self.betas)
        g_opt = adam(list(g.parameters()), lr=self.lr, betas=self.betas)
        clamp_g = self.convex and self.convexity == "clamp"
        penalise_g = self.convex and self.convexity == "penalty" and self.penalty_weight > 0

        def step(i: int) -> dict[str, float]:
            x, y = draw(source, target, batch_size, generator)
            with torch.no_grad():
                x_push = g.gradient(x)
            f_y, f_push = f(y), f(x_push)
            loss = f_y.mean() - f_push.mean()                    # outer objective of f (map held fixed)
            with torch.no_grad():
                value = f_y.mean() + ((x * x_push).sum(1) - f_push).mean()      # V(f, g)
                dual = 0.5 * x.square().sum(1).mean() + 0.5 * y.square().sum(1).mean() - value
            logs = {"loss": value.item(), "w2_dual": dual.item()}
            if not math.isfinite(logs["loss"]):
                return logs
            descend(f_opt, loss)
            f.convexify()
            inner = float("nan")
            f.requires_grad_(False)                              # f is fixed while g moves
            for _ in range(self.inner_steps):
                xs = source.sample(batch_size, generator)
                _, push = g.value_and_gradient(xs)
                inner_loss = (f(push) - (xs * push).sum(1)).mean()
                total = inner_loss + self.penalty_weight * negative_weight_penalty(g) if penalise_g else inner_loss
                descend(g_opt, total)
                if clamp_g:
                    g.convexify()
                inner = inner_loss.item()
            f.requires_grad_(True)
            logs["inner_loss"] = inner
            return logs

        params = [*g.parameters(), *f.parameters()]
        return run_w2_training(self, steps=steps, params=params, step=step, history=history, forward=g, inverse=f,
                               callback=callback, started=started, generator=generator, data=(source, target),
                               state={"g": g, "f": f, "g_optimizer": g_opt, "f_optimizer": f_opt})
