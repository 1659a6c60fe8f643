"""Reversed maximin: a potential f and a map T, sup_f inf_T (the benchmark's [MM:R], and OTM).

Korotin, Li, Genevay, Solomon, Filippov, Burnaev, "Do Neural Optimal Transport Solvers Work? A Continuous
Wasserstein-2 Benchmark", NeurIPS 2021 (method [MM:R], notebook ``MM_test_hd_benchmark.ipynb`` with
``REVERSED = True``); Rout, Korotin, Burnaev, "Generative Modeling with Optimal Transport Maps", ICLR 2022
(OTM, Algorithm 1). With source P (x) and target Q (y)::

    ½W2²(P, Q) = sup_f inf_T  E_P[½‖x − T(x)‖² − f(T(x))] + E_Q f(y)

Each step makes one Adam step on f (maximising E_Q f(y) − E_P f(T(x)), T fixed) and then ``inner_steps``
Adam steps on T (minimising E_P[½‖x − T(x)‖² − f(T(x))]), in the benchmark notebook's order. The forward
map is T; there is no inverse. Defaults from the benchmark notebook: Adam lr 1e-3, 15 inner steps, widths
``[max(2D, 64), max(2D, 64), max(D, 32)]`` (OTM uses 10 inner steps and lr 1e-4 for its image models).

Architectures (the benchmark's study of ICNN vs non-convex networks): ``potential="mlp"`` is a
:class:`~monge.nets.MLPPotential` f; ``potential="icnn"`` is f(y) = ½‖y‖² − ψ̄(y) with ψ̄ a convexified
DenseICNN (the notebook's conjugate potential D_conj, identity-pretrained). ``map="residual"`` is a
:class:`~monge.nets.ResidualMap` T(x) = x + MLP(x) (a one-block ResNet); ``map="mlp"`` is a plain
:class:`~monge.nets.MLPMap` T(x) = MLP(x) (no skip connection; identity-pretrained like the DenseICNNs);
``map="icnn-gradient"`` is T = ∇ψ with ψ a DenseICNN (identity-pretrained, convexified). ``rank`` sets the DenseICNNs' quadratic input layers: 1 is
W2GN's modified ICNN, 0 the original ICNN of Amos, Xu & Kolter (ICML 2017) with linear input layers.
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import torch
from torch import nn

from monge.errors import InvalidInputError
from monge.nets.icnn import DenseICNN
from monge.nets.mlp import MLPMap, MLPPotential, ResidualMap
from monge.solvers.base import Callback, W2Result, W2Solver, register_solver
from monge.solvers.common import (adam, check_betas, check_choice, check_hidden_sizes, check_int, check_number,
                                  descend, draw, prepare_data, seeded)
from monge.solvers.loop import run_w2_training
from monge.solvers.w2.makkuva import PretrainedICNNOptions
from monge.solvers.w2.w2gn import default_hidden_sizes


@register_solver("mm-r")
class ReversedMaximin(PretrainedICNNOptions, W2Solver):
    """Reversed maximin (the benchmark's [MM:R]; Rout, Korotin, Burnaev, ICLR 2022, OTM): potential f and
    map T, sup_f inf_T E_P[½‖x − T(x)‖² − f(T(x))] + E_Q f(y). Forward map T; no inverse.

    Args:
        potential: ``"mlp"`` (MLPPotential f, default) or ``"icnn"`` (f = ½‖y‖² − ψ̄, ψ̄ a DenseICNN).
        map: ``"residual"`` (ResidualMap T, default), ``"mlp"`` (MLPMap T) or ``"icnn-gradient"`` (T = ∇ψ, ψ a
            DenseICNN).
        rank: rank of the DenseICNNs' convex-quadratic input layers (1; 0 = linear input layers, Amos et al.).
        hidden_sizes: widths of both networks; default ``[max(2D, 64), max(2D, 64), max(D, 32)]`` (benchmark).
        inner_steps: Adam steps on T per step of f (15, benchmark ``INNER_ITERS``; OTM uses 10).
        lr: Adam learning rate of both networks (1e-3, benchmark ``LR``).
        betas: Adam betas ((0.9, 0.999), PyTorch default as in the notebook).
        lr_decay: anneal both learning rates to 1 % of ``lr`` over the run with a cosine schedule (False, as the
            notebook; monge's option, as W2GN's).
        activation: activation of the MLP networks (``"celu"``, as the benchmark's DenseICNN).
        strong_convexity: β of DenseICNNs (1e-4, benchmark).
        init_std: DenseICNN initial weight std (0.05).
        pretrain_steps: identity pre-training steps of DenseICNNs (1000, as W2GN; 0 = none).
        pretrain_tol: pre-training stops below this mean squared error (1e-3).
        pretrain_blow: pre-training noise scale (3.0, benchmark ``blow=3``).
    """

    paper = ("L. Rout, A. Korotin, E. Burnaev. Generative Modeling with Optimal Transport Maps. ICLR 2022 "
             "(arXiv:2110.02999); A. Korotin, L. Li, A. Genevay, J. Solomon, A. Filippov, E. Burnaev. Do Neural "
             "Optimal Transport Solvers Work? A Continuous Wasserstein-2 Benchmark. NeurIPS 2021 ([MM:R])")
    smoke_options = {"hidden_sizes": [16, 16], "inner_steps": 2, "pretrain_steps": 20}

    def __init__(self, *, potential: str = "mlp", map: str = "residual",  # noqa: A002 - the option's public name
                 hidden_sizes: Sequence[int] | None = None, rank: int = 1, inner_steps: int = 15, lr: float = 1e-3,
                 betas: Sequence[float] = (0.9, 0.999), lr_decay: bool = False, activation: str = "celu",
                 strong_convexity: float = 1e-4,
                 init_std: float = 0.05, pretrain_steps: int = 1000, pretrain_tol: float = 1e-3,
                 pretrain_blow: float = 3.0):
        who = "ReversedMaximin"
        self.potential = check_choice(who, "potential", potential, ("mlp", "icnn"))
        self.map = check_choice(who, "map", map, ("residual", "mlp", "icnn-gradient"))
        self.rank = check_int(who, "rank", rank, minimum=0)
        self.hidden_sizes = check_hidden_sizes(who, hidden_sizes)
        self.inner_steps = check_int(who, "inner_steps", inner_steps, minimum=1)
        self.lr = check_number(who, "lr", lr, positive=True)
        self.betas = check_betas(who, betas)
        if not isinstance(lr_decay, bool):
            raise InvalidInputError(f"{who}: lr_decay must be True or False, got {lr_decay!r}")
        self.lr_decay = lr_decay
        self.activation = check_choice(who, "activation", activation,
                                       ("celu", "relu", "silu", "softplus", "tanh", "leaky_relu", "elu"))
        if "icnn" in (self.potential, self.map.split("-")[0]) and activation not in ("celu", "softplus"):
            raise InvalidInputError(f"{who}: DenseICNN activation must be 'celu' or 'softplus', got {activation!r}")
        self._set_icnn_options(who, strong_convexity=strong_convexity, init_std=init_std, pretrain_steps=pretrain_steps,
                               pretrain_tol=pretrain_tol, pretrain_blow=pretrain_blow)

    def settings(self) -> dict[str, Any]:
        return {"potential": self.potential, "map": self.map, "hidden_sizes": self.hidden_sizes, "rank": self.rank,
                "inner_steps": self.inner_steps, "lr": self.lr, "betas": list(self.betas), "lr_decay": self.lr_decay,
                "activation": self.activation, **self._icnn_settings()}

    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int = 1024,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W2Result:
        """Train f and T for ``steps`` outer steps (each with ``inner_steps`` steps of T).

        Raises :class:`~monge.errors.TrainingDiverged` (with the last finite parameters) on a non-finite loss.
        """
        source, target = prepare_data(source, target, steps, batch_size, generator)
        dim, dtype, device = source.dim, source.dtype, source.device
        sizes = self.hidden_sizes or default_hidden_sizes(dim)
        icnn = dict(rank=self.rank, activation=self.activation, strong_convexity=self.strong_convexity, init_std=self.init_std,
                    generator=generator, dtype=dtype, device=device)
        history: dict[str, list[float]] = {"loss": [], "inner_loss": []}
        started = time.perf_counter()

        def pretrained_icnn(key: str) -> DenseICNN:
            net = DenseICNN(dim, sizes, **icnn)
            self._pretrain(net, history, key, source, target, batch_size, generator)
            return net

        def seeded_mlp(cls: type[nn.Module]) -> nn.Module:
            return seeded(lambda: cls(dim, sizes, activation=self.activation, dtype=dtype, device=device), generator)

        if self.map == "residual":
            T: nn.Module = seeded_mlp(ResidualMap)
            apply_map = T
        elif self.map == "mlp":                              # starts far from the identity: pre-train it there
            T = apply_map = seeded_mlp(MLPMap)
            self._pretrain(T, history, "pretrain_mse_map", source, target, batch_size, generator)
        else:
            T = pretrained_icnn("pretrain_mse_map")
            apply_map = T.gradient
        if self.potential == "mlp":
            f = f_net = seeded_mlp(MLPPotential)
        else:
            f_net = pretrained_icnn("pretrain_mse_potential")

            def f(y: torch.Tensor) -> torch.Tensor:       # f = ½‖y‖² − ψ̄(y): ψ̄ = ½‖·‖² at f = 0
                return 0.5 * y.square().sum(1) - f_net(y)

        f_opt = adam(list(f_net.parameters()), lr=self.lr, betas=self.betas)
        t_opt = adam(list(T.parameters()), lr=self.lr, betas=self.betas)
        schedules = ([torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.01 * self.lr)
                      for opt in (f_opt, t_opt)] if self.lr_decay else [])
        convexify_f = getattr(f_net, "convexify", lambda: None)
        convexify_t = getattr(T, "convexify", lambda: None)

        def step(i: int) -> dict[str, float]:
            x, y = draw(source, target, batch_size, generator)
            with torch.no_grad():
                tx = apply_map(x)
            f_y, f_tx = f(y), f(tx)
            loss = f_tx.mean() - f_y.mean()                      # f maximises E_Q f(y) − E_P f(T(x))
            with torch.no_grad():
                value = (0.5 * (x - tx).square().sum(1) - f_tx).mean() + f_y.mean()   # L(f, T) ≈ ½W2²
            logs = {"loss": value.item()}
            if not math.isfinite(logs["loss"]):
                return logs
            descend(f_opt, loss)
            convexify_f()
            inner = float("nan")
            f_net.requires_grad_(False)                          # f is fixed while T moves
            for _ in range(self.inner_steps):
                xs = source.sample(batch_size, generator)
                txs = apply_map(xs)
                inner_loss = (0.5 * (xs - txs).square().sum(1) - f(txs)).mean()
                descend(t_opt, inner_loss)
                convexify_t()
                inner = inner_loss.item()
            f_net.requires_grad_(True)
            for schedule in schedules:
                schedule.step()
            logs["inner_loss"] = inner
            return logs

        params = [*T.parameters(), *f_net.parameters()]
        return run_w2_training(self, steps=steps, params=params, step=step, history=history, forward=T, estimate="loss",
                               callback=callback, started=started, generator=generator, data=(source, target),
                               state={"map": T, "potential": f_net, "map_optimizer": t_opt, "potential_optimizer": f_opt})
