"""WGAN-GP and WGAN-LP: a W1 critic kept near 1-Lipschitz by a penalty on its gradient norm.

- WGAN-GP: Gulrajani, Ahmed, Arjovsky, Dumoulin, Courville, "Improved Training of Wasserstein GANs",
  NeurIPS 2017 — two-sided penalty λ·E(‖∇f(z)‖ − 1)² at random interpolates z = t·y + (1 − t)·x.
- WGAN-LP: Petzka, Fischer, Lukovnikov, "On the regularization of Wasserstein GANs", ICLR 2018 — the
  one-sided penalty λ·E max(0, ‖∇f(z)‖ − 1)² at the same points.

One step: draw x ~ P, y ~ Q (``batch_size`` each) and take an Adam step on
−(E f(y) − E f(x)) + λ·penalty. Defaults are those of the W1 benchmark (Korotin, Kolesov, Burnaev, NeurIPS 2022,
``notebooks/test_nd.ipynb``): λ = 10 (also the WGAN-GP paper's), Adam lr 2e-4 with PyTorch's default betas, a ReLU
MLP critic with widths :func:`~monge.solvers.w1.common.default_hidden_sizes`, batch 1024 and 40 000 steps (the
``w1-hd`` preset's). The WGAN-GP paper itself used lr 1e-4 and betas (0, 0.9) for image GANs. The critic is
trained alone, so ``n_critic`` does not apply.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from monge.solvers.base import Callback, register_solver
from monge.solvers.common import check_betas, check_choice, check_hidden_sizes, check_number
from monge.solvers.w1.base import W1Result, W1Solver
from monge.solvers.w1.common import BENCHMARK_LR, batch_dual, fit_adam_critic, gradient_penalty, interpolates

ACTIVATIONS = ("relu", "leaky_relu", "elu", "celu", "silu", "softplus", "tanh")


class _PenaltyWGAN(W1Solver):
    one_sided: bool = False

    def __init__(self, *, hidden_sizes: Sequence[int] | None = None, activation: str = "relu",
                 penalty_weight: float = 10.0, lr: float = BENCHMARK_LR, betas: tuple[float, float] = (0.9, 0.999)):
        who = self.name
        self.hidden_sizes = check_hidden_sizes(who, hidden_sizes)
        self.activation = check_choice(who, "activation", activation, ACTIVATIONS)
        self.penalty_weight = check_number(who, "penalty_weight", penalty_weight)
        self.lr = check_number(who, "lr", lr, positive=True)
        self.betas = check_betas(who, betas)

    def settings(self) -> dict[str, Any]:
        return {"hidden_sizes": self.hidden_sizes, "activation": self.activation,
                "penalty_weight": self.penalty_weight, "lr": self.lr, "betas": list(self.betas)}

    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W1Result:
        def ascent(critic: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
            dual = batch_dual(critic, x, y)
            penalty = gradient_penalty(critic, interpolates(x, y, generator), one_sided=self.one_sided)
            return dual - self.penalty_weight * penalty, {"w1": dual.item(), "penalty": penalty.item()}

        return fit_adam_critic(self, source, target, steps=steps, batch_size=batch_size, generator=generator,
                               callback=callback, ascent=ascent)


@register_solver("wgan-gp")
class WGANGP(_PenaltyWGAN):
    """WGAN-GP critic (Gulrajani et al., NeurIPS 2017): two-sided gradient penalty at interpolates.

    Args:
        hidden_sizes: critic widths (``None``: two layers of max(128, 2·dim)).
        activation: critic activation (``"relu"``).
        penalty_weight: λ (10).
        lr: Adam learning rate (2e-4).
        betas: Adam betas ((0.9, 0.999)).
    """

    paper = ("Gulrajani, Ahmed, Arjovsky, Dumoulin, Courville, 'Improved Training of Wasserstein GANs', "
             "NeurIPS 2017")
    smoke_options = {"hidden_sizes": [32, 32], "lr": 1e-3}
    one_sided = False


@register_solver("wgan-lp")
class WGANLP(_PenaltyWGAN):
    """WGAN-LP critic (Petzka, Fischer, Lukovnikov, ICLR 2018): one-sided gradient penalty at interpolates.

    Args: as :class:`WGANGP` (λ = 10, Adam lr 2e-4).
    """

    paper = "Petzka, Fischer, Lukovnikov, 'On the regularization of Wasserstein GANs', ICLR 2018"
    smoke_options = {"hidden_sizes": [32, 32], "lr": 1e-3}
    one_sided = True
