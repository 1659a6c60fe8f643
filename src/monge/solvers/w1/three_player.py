"""Three-player WGANs: a critic f and a mover H that approximates the c-transform's minimiser.

Nhan Dam, Quan Hoang, Trung Le, Tu Dinh Nguyen, Hung Bui, Dinh Phung, "Three-Player Wasserstein GAN via
Amortised Duality", IJCAI 2019; the [MM] (``"3p-wgan"``) and [MM:R] (``"3p-wgan-rev"``) solvers of the
Kantorovich-Strikes-Back benchmark (Korotin, Kolesov, Burnaev, NeurIPS 2022; ``train_3PWGAN`` in its
``src/methods.py``, translated to monge's orientation: there P and Q are named the other way round).

With x ~ P (source), y ~ Q (target) and cost ‖x − y‖:

* forward (``"3p-wgan"``): W1 = sup_f E_Q f(y) + E_P inf_z [‖x − z‖ − f(z)]. The mover H moves source
  points, H(x) ≈ argmin_z ‖x − z‖ − f(z): ``mover_steps`` Adam steps minimise E[‖x − H(x)‖ − f(H(x))] with
  f fixed, then one Adam step on f maximises E f(y) + E[‖x − H(x)‖ − f(H(x))] with H fixed. The critic's
  input gradient is scored (``gradient_from="critic"``).
* reverse (``"3p-wgan-rev"``): W1 = sup_f −E_P f(x) + E_Q inf_z [‖y − z‖ + f(z)] (the c-transform on the
  target side). H moves target points back towards where their mass came from, H(y) ≈ argmin_z
  ‖y − z‖ + f(z): the mover steps minimise E[‖y − H(y)‖ + f(H(y))], then f maximises
  −E f(x) + E[‖y − H(y)‖ + f(H(y))]. The loss is written with f itself (the benchmark trains −f), so the
  stored critic is oriented as monge's convention asks (E_Q f − E_P f ≈ W1), but f is only trained at
  source points and at mover outputs; as the benchmark does, the gradient is read from the mover,
  ∇f(y) = (y − H(y))/‖y − H(y)‖ (``gradient_from="mover"``).

Each step logs ``loss`` (minus the critic's objective, computed after the mover steps and before the critic
update), ``w1`` (the critic's objective on the batch), ``mover_loss`` (the mover loss of the last inner step,
before its update) and ``displacement`` (mean ‖H(·) − ·‖ on the batch).

Defaults: ``mover_steps = 12`` and Adam lr 2e-4 for both networks (the benchmark's ``test_nd.ipynb``,
``MOVER_STEPS = 12``, ``LR = 2e-4``), PyTorch's default betas (monge's choice). The critic is an MLP with
ReLU (the benchmark's ``Critic``); the mover is a :class:`~monge.nets.ResidualMap` H(x) = x + MLP(x)
started at the identity (monge's choice: the benchmark's mover is a plain MLP of the same widths); both
have widths :func:`~monge.solvers.w1.common.default_hidden_sizes`.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Sequence

import torch

from monge.errors import InvalidInputError
from monge.nets.mlp import ResidualMap
from monge.solvers.base import Callback, register_solver
from monge.solvers.common import (adam, check_betas, check_choice, check_hidden_sizes, check_int, check_number,
                                  prepare_data, seeded)
from monge.solvers.w1.base import W1Result, W1Solver
from monge.solvers.w1.common import default_hidden_sizes, draw, mlp_critic, run_w1_training

ACTIVATIONS = ("relu", "leaky_relu", "elu", "celu", "silu", "softplus", "tanh")


class _ThreePlayerWGAN(W1Solver):
    reverse: ClassVar[bool] = False

    def __init__(self, *, hidden_sizes: Sequence[int] | None = None, mover_hidden_sizes: Sequence[int] | None = None,
                 activation: str = "relu", mover_steps: int = 12, lr: float = 2e-4,
                 mover_lr: float | None = None, betas: tuple[float, float] = (0.9, 0.999)):
        who = self.name
        self.hidden_sizes = check_hidden_sizes(who, hidden_sizes)
        try:
            self.mover_hidden_sizes = check_hidden_sizes(who, mover_hidden_sizes)
        except InvalidInputError as exc:          # same check, but name the mover's option
            raise InvalidInputError(str(exc).replace("hidden_sizes", "mover_hidden_sizes", 1)) from None
        self.activation = check_choice(who, "activation", activation, ACTIVATIONS)
        self.mover_steps = check_int(who, "mover_steps", mover_steps, minimum=1)
        self.lr = check_number(who, "lr", lr, positive=True)
        self.mover_lr = None if mover_lr is None else check_number(who, "mover_lr", mover_lr, positive=True)
        self.betas = check_betas(who, betas)

    def settings(self) -> dict[str, Any]:
        return {"hidden_sizes": self.hidden_sizes, "mover_hidden_sizes": self.mover_hidden_sizes,
                "activation": self.activation, "mover_steps": self.mover_steps, "lr": self.lr,
                "mover_lr": self.mover_lr, "betas": list(self.betas)}

    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W1Result:
        started = time.perf_counter()
        source, target = prepare_data(source, target, steps, batch_size, generator)
        dim = source.dim
        critic = mlp_critic(dim, self.hidden_sizes, activation=self.activation, dtype=source.dtype,
                            device=source.device, generator=generator)
        mover_sizes = self.mover_hidden_sizes or default_hidden_sizes(dim)
        mover = seeded(lambda: ResidualMap(dim, mover_sizes, activation=self.activation, dtype=source.dtype,
                                           device=source.device), generator)
        critic_opt = adam(list(critic.parameters()), lr=self.lr, betas=self.betas)
        mover_opt = adam(list(mover.parameters()), lr=self.mover_lr or self.lr, betas=self.betas)
        # sign = +1 (forward): the mover minimises ‖x − H(x)‖ − f(H(x)) over source points x;
        # sign = −1 (reverse): it minimises ‖y − H(y)‖ + f(H(y)) over target points y.
        sign = -1.0 if self.reverse else 1.0

        def step(i: int) -> dict[str, float]:
            x, y = draw(source, target, batch_size, generator)
            moved, fixed = (y, x) if self.reverse else (x, y)
            critic.requires_grad_(False)            # the mover steps need no gradient for the critic
            try:
                for _ in range(self.mover_steps):
                    h = mover(moved)
                    mover_loss = ((moved - h).norm(dim=1) - sign * critic(h)).mean()
                    mover_opt.zero_grad(set_to_none=True)
                    mover_loss.backward()
                    mover_opt.step()
            finally:
                critic.requires_grad_(True)
            with torch.no_grad():
                h = mover(moved)
                cost = (moved - h).norm(dim=1)
            # forward: E f(y) + E[‖x − H(x)‖ − f(H(x))];  reverse: −E f(x) + E[‖y − H(y)‖ + f(H(y))]
            objective = sign * critic(fixed).mean() + (cost - sign * critic(h)).mean()
            loss = -objective
            critic_opt.zero_grad(set_to_none=True)
            loss.backward()
            critic_opt.step()
            return {"loss": loss.item(), "w1": objective.item(), "mover_loss": mover_loss.item(),
                    "displacement": cost.mean().item()}

        return run_w1_training(name=self.name, steps=steps, critic=critic, step=step, settings=self.settings(),
                               callback=callback, started=started, mover=mover,
                               gradient_from="mover" if self.reverse else "critic", generator=generator, data=(source, target),
                               state={"critic_optimizer": critic_opt, "mover_optimizer": mover_opt})


@register_solver("3p-wgan")
class ThreePlayerWGAN(_ThreePlayerWGAN):
    """Three-player WGAN (Dam et al., IJCAI 2019; the benchmark's [MM]): a mover H(x) ≈ argmin_z
    ‖x − z‖ − f(z) on source points amortises the c-transform; the critic f is scored by its gradient.

    On the contraction pair of ``tests/solvers/test_w1_solvers.py`` (widths [64, 64], batch 256, 300 steps)
    critic lr 5e-4 with mover lr 1e-3 gave mean cosines 0.992–0.996 for 5 of 5 seeds; with lr 1e-3 for both,
    one seed of 4 had its critic blow up (W1 estimate ≈ 75, gradient norms ≈ 180) while its direction stayed
    right (cosine 0.96).

    Args:
        hidden_sizes: critic widths (``None``: two layers of max(128, 2·dim), the benchmark's).
        mover_hidden_sizes: mover widths (``None``: the same default).
        activation: activation of both networks (``"relu"``, as the benchmark's critic).
        mover_steps: mover Adam steps per critic step (12, benchmark ``MOVER_STEPS``).
        lr: critic Adam learning rate (2e-4, benchmark ``LR``).
        mover_lr: mover Adam learning rate (``None``: ``lr``, as the benchmark).
        betas: Adam betas of both networks ((0.9, 0.999), PyTorch's default; monge's choice).
    """

    paper = ("Nhan Dam, Quan Hoang, Trung Le, Tu Dinh Nguyen, Hung Bui, Dinh Phung, 'Three-Player Wasserstein "
             "GAN via Amortised Duality', IJCAI 2019; benchmark [MM] of Korotin, Kolesov, Burnaev, NeurIPS 2022")
    smoke_options = {"hidden_sizes": [32, 32], "mover_hidden_sizes": [32, 32], "mover_steps": 2, "lr": 1e-3}
    reverse = False


@register_solver("3p-wgan-rev")
class ReversedThreePlayerWGAN(_ThreePlayerWGAN):
    """Reversed three-player WGAN (the benchmark's [MM:R]): the mover H(y) ≈ argmin_z ‖y − z‖ + f(z) maps
    target points back to where their mass came from, and the result's gradient is read from it,
    (y − H(y))/‖y − H(y)‖ (``gradient_from="mover"``).

    Stability: the mover minimises ‖y − z‖ + f(z) over an unbounded domain, and wherever the unconstrained
    critic is steeper than 1 (its ReLU extrapolation beyond the data) it runs off until the critic catches
    up. On the contraction pair of ``tests/solvers/test_w1_solvers.py`` (widths [64, 64], batch 256) it
    converged for 5 of 5 seeds with critic lr 5e-4, mover lr 1e-3 and 600 steps (mean cosine 0.955–0.974),
    but with 400 steps, or lr 1e-3 for both networks, or 6 mover steps, the result depended on the seed
    (mean cosines from −0.03 to 0.97).

    Args: as :class:`ThreePlayerWGAN` (12 mover steps, Adam lr 2e-4, betas (0.9, 0.999)).
    """

    paper = ("Nhan Dam, Quan Hoang, Trung Le, Tu Dinh Nguyen, Hung Bui, Dinh Phung, 'Three-Player Wasserstein "
             "GAN via Amortised Duality', IJCAI 2019; benchmark [MM:R] of Korotin, Kolesov, Burnaev, "
             "NeurIPS 2022")
    smoke_options = {"hidden_sizes": [32, 32], "mover_hidden_sizes": [32, 32], "mover_steps": 2, "lr": 1e-3}
    reverse = True
