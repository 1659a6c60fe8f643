"""WGAN: a W1 critic kept Lipschitz by clipping its weights.

Arjovsky, Chintala, Bottou, "Wasserstein GAN", ICML 2017 — after every critic update each parameter is
clamped to [−c, c], so the critic lies in a compact set of K-Lipschitz functions for some K that depends on c
and the architecture (not on the data). One step: draw x ~ P, y ~ Q (``batch_size`` each) and take an
optimiser step on −(E f(y) − E f(x)), then clip. Defaults are the W1 benchmark's (Korotin, Kolesov, Burnaev,
NeurIPS 2022, ``notebooks/test_nd.ipynb``: c = ``BOUND`` = 0.04, its common lr 2e-4, 5000 steps in the ``w1-hd``
preset) with the WGAN paper's RMSProp (Algorithm 1 used c = 0.01 and lr 5e-5 for images). The benchmark trains
the critic alone, so ``n_critic`` does not apply.
The critic is an MLP with ReLU, widths :func:`~monge.solvers.w1.common.default_hidden_sizes`; its weights
are clipped from the start (the authors' code clamps before every critic update, the first included).

Because K is unknown (and usually far from 1), the logged dual E f(y) − E f(x) estimates K·W1 rather than
W1; the direction of ∇f, which the benchmark's metrics compare, does not depend on K.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import torch

from monge.solvers.base import Callback, register_solver
from monge.solvers.common import adam, check_betas, check_choice, check_hidden_sizes, check_number
from monge.solvers.w1.base import W1Result, W1Solver
from monge.solvers.w1.common import ascent_step, batch_dual, draw, prepare_mlp_critic, run_w1_training

ACTIVATIONS = ("relu", "leaky_relu", "elu", "celu", "silu", "softplus", "tanh")
OPTIMIZERS = ("rmsprop", "adam")


@register_solver("wgan")
class WGANClip(W1Solver):
    """WGAN critic with weight clipping (Arjovsky, Chintala, Bottou, ICML 2017).

    Args:
        hidden_sizes: critic widths (``None``: two layers of max(128, 2·dim)).
        activation: critic activation (``"relu"``).
        clip: c, every parameter is clamped to [−c, c] after each step (0.04, the benchmark's).
        lr: learning rate (2e-4, the benchmark's).
        optimizer: ``"rmsprop"`` (the paper's; PyTorch defaults α = 0.99, ε = 1e-8) or ``"adam"``.
        betas: Adam betas, used only with ``optimizer="adam"`` ((0.5, 0.999), monge's choice: the usual
            GAN setting; the paper reports that momentum-based optimisers made WGAN training unstable).
    """

    paper = "Arjovsky, Chintala, Bottou, 'Wasserstein GAN', ICML 2017"
    smoke_options = {"hidden_sizes": [32, 32], "lr": 1e-3}

    def __init__(self, *, hidden_sizes: Sequence[int] | None = None, activation: str = "relu",
                 clip: float = 0.04, lr: float = 2e-4, optimizer: str = "rmsprop",
                 betas: tuple[float, float] = (0.5, 0.999)):
        who = self.name
        self.hidden_sizes = check_hidden_sizes(who, hidden_sizes)
        self.activation = check_choice(who, "activation", activation, ACTIVATIONS)
        self.clip = check_number(who, "clip", clip, positive=True)
        self.lr = check_number(who, "lr", lr, positive=True)
        self.optimizer = check_choice(who, "optimizer", optimizer, OPTIMIZERS)
        self.betas = check_betas(who, betas)

    def settings(self) -> dict[str, Any]:
        return {"hidden_sizes": self.hidden_sizes, "activation": self.activation, "clip": self.clip,
                "lr": self.lr, "optimizer": self.optimizer, "betas": list(self.betas)}

    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W1Result:
        started = time.perf_counter()
        source, target, critic = prepare_mlp_critic(self, source, target, steps, batch_size, generator)
        params = list(critic.parameters())
        if self.optimizer == "rmsprop":
            opt: torch.optim.Optimizer = torch.optim.RMSprop(params, lr=self.lr)
        else:
            opt = adam(params, lr=self.lr, betas=self.betas)

        def clip_() -> None:
            with torch.no_grad():
                for p in params:
                    p.clamp_(-self.clip, self.clip)

        clip_()

        def step(i: int) -> dict[str, float]:
            x, y = draw(source, target, batch_size, generator)
            dual = batch_dual(critic, x, y)
            logs = ascent_step(opt, dual, w1=dual.item())
            clip_()
            return logs

        return run_w1_training(name=self.name, steps=steps, critic=critic, step=step, settings=self.settings(),
                               callback=callback, started=started, generator=generator, data=(source, target), state={"optimizer": opt})
