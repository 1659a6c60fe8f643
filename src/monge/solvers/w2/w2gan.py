"""W2GAN and its map-learner baselines (WGAN-GP / WGAN-LP with an identity-initialised generator).

Leygonie, She, Almahairi, Rajeswar, Courville. "Adversarial computation of optimal transport maps",
2019 (arXiv:1906.09691); code github.com/jshe/wasserstein-2 (defaults below are its 2-D experiment
settings, ``exp_2d/options.py``).

W2GAN. A generator G (residual map, the identity at initialisation) moves source samples z. A pair of
discriminator potentials (φ, ψ) solves the L2-regularised W2 dual between G#P and Q, with cost
c(a, b) = ½‖a − b‖²::

    max_{φ,ψ}  E φ(G(z)) + E ψ(x) − λ·E[(φ(G(z)) + ψ(x) − c(G(z), x))₊²]
               − λ·E[(φ(a) + ψ(b) − c(a, b))₊²]          (a, b: random interpolates of G(z) and x)
               − λ_eq·(E[(φ(a) + ψ(T a) − c(a, T a))²] + E[(φ(S x) + ψ(x) − c(S x, x))²])
               − λ_ε·E[φ(G(z))₊²]

(z ~ P, x ~ Q, a = G(z) detached, T a = a − ∇φ(a), S x = x − ∇ψ(x)). The third line is the c-equality
penalty (``equality_weight`` = λ_eq, off by default): the inequality penalties only forbid φ + ψ > c, while
at the optimum φ + ψ = c holds on the optimal coupling, whose pairs are (a, T a) and (S x, x). The last line
is the regulariser of the tied form ``potential_form="neg_plus_eps"``, where the generator-side potential
is the negated target-side one plus a correction network ε, φ = −ψ + ε (the paper's ψ = −φ + ε: its ψ is
the generated side's potential, ours is φ). After ``n_critic`` discriminator steps the generator takes one
step on ``E φ(G(z))`` (the paper's generator loss). Its gradient moves G(z) along −∇φ(G(z)), i.e. towards
the discriminator's transport map G(z) − ∇φ(G(z)); from the identity this flow recovers the OT map.

The generator is G(x) = x + MLP(x) (``generator_form="residual"``, the 2-D code's), x + s·tanh(MLP(x))
(``"bounded"``, the image experiments' code, s = 2) or a plain MLP (``"mlp"``), which starts at the identity
only through reconstruction pre-training (``generator_pretrain_steps`` Adam steps on E‖G(z) − z‖²).

The discriminator-implied map is also available (``map="discriminator"``): x ↦ y − ∇φ(y) with
y = G(x) (:class:`DisplacementMap`), the OT map of G#P → Q estimated by the dual, composed with G (for
G = id it is the plain x − ∇φ(x) of the dual potentials).

Baselines of the paper (§5), as map learners with the same generator and a W1 critic D::

    critic:    max_D  E D(x) − E D(G(z)) − penalty
    generator: min_G  −E D(G(z))

with the gradient penalty λ·E(‖∇D(x̂)‖ − 1)² (WGAN-GP, Gulrajani et al. 2017) or the Lipschitz penalty
λ·E(‖∇D(x̂)‖ − 1)₊² (WGAN-LP, Petzka et al. 2018) on random interpolates x̂. They push P onto Q but do
not target the optimal map. (The paper's third baseline, exact discrete OT, is the
``baseline:discrete_ot`` leaderboard row.)
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import torch
from torch import nn

from monge.errors import DimensionMismatchError, InvalidInputError, TrainingDiverged
from monge.nets.base import Potential, build_network, register_network
from monge.nets.mlp import _ACTIVATIONS, MLPMap, MLPPotential, ResidualMap
from monge.solvers.base import Callback, W2Result, W2Solver, register_solver
from monge.solvers.common import (adam, check_betas, check_choice, check_hidden_sizes, check_int, check_number, descend,
                                  draw, prepare_data)
from monge.solvers.loop import run_w2_training

MAPS = ("generator", "discriminator")
GENERATOR_FORMS = ("residual", "bounded", "mlp")
POTENTIAL_FORMS = ("two", "neg_plus_eps")
BOUNDED_SCALE = 2.0
"""s of ``generator_form="bounded"``: the authors' image generators return 2·tanh(MLP(x)) + x
(``exp_da/networks.py``, ``exp_mvg/networks.py``)."""
EPS_WEIGHT = 10.0
"""λ_ε of ``potential_form="neg_plus_eps"``: ``lambda_eps`` of the authors' image experiments
(``exp_mvg/options.py``, ``exp_da/options.py``; their 2-D code ties the potentials with no regulariser)."""
MLP_PRETRAIN_STEPS = 500
"""Reconstruction pre-training steps of a plain-MLP generator (``generator_form="mlp"``); monge's choice (the
authors do not pre-train). Measured on the source of ``GaussianPair(2, seed=1)`` (E‖z‖² ≈ 4.1, batch 128):
held-out E‖G(z) − z‖² falls from 4.1 to 4.5e-5 at the default widths, 3.0e-4 at widths 64-64
(``tests/solvers/test_w2gan.py``)."""
PRETRAIN_LR = 1e-3
"""Adam learning rate of the reconstruction pre-training (as :func:`monge.solvers.common.pretrain_identity`)."""


# ---------------------------------------------------------------------------------------- networks
@register_network
class DisplacementMap(nn.Module):
    """The map y − ∇φ(y), y = base(x) (or x when ``base`` is None), of a dual potential φ.

    For the quadratic cost c(a, b) = ½‖a − b‖², an optimal dual potential φ gives the transport map
    a ↦ a − ∇φ(a). ``gradient`` is an alias of ``forward``; ∇φ is taken by autograd.

    Args:
        potential: the potential φ (a :class:`~monge.nets.Potential`, or its ``config()`` dict).
        base: optional map applied first (an ``nn.Module`` with ``config()``, or its config dict).
    """

    def __init__(self, potential: nn.Module | dict[str, Any], base: nn.Module | dict[str, Any] | None = None):
        super().__init__()
        self.potential = build_network(potential) if isinstance(potential, dict) else potential
        self.base = build_network(base) if isinstance(base, dict) else base
        self.dim = int(self.potential.dim)
        if self.base is not None and int(getattr(self.base, "dim", self.dim)) != self.dim:
            raise DimensionMismatchError(f"DisplacementMap: base has dimension {self.base.dim} but the potential {self.dim}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.base is None else self.base(x)
        return y - self.potential.gradient(y)

    gradient = forward

    def config(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "potential": self.potential.config(),
                "base": None if self.base is None else self.base.config()}


@register_network
class NegatedPotential(Potential):
    """The potential φ(x) = −base(x) + correction(x): W2GAN's tied discriminator pair
    (``potential_form="neg_plus_eps"``), where the generator-side potential φ is the negated target-side
    potential ψ = ``base`` plus a correction network ε = ``correction``.

    Args:
        base: the potential ψ (a :class:`~monge.nets.Potential`, or its ``config()`` dict).
        correction: the correction ε (the same).
    """

    def __init__(self, base: nn.Module | dict[str, Any], correction: nn.Module | dict[str, Any]):
        super().__init__()
        self.base = build_network(base) if isinstance(base, dict) else base
        self.correction = build_network(correction) if isinstance(correction, dict) else correction
        self.dim = int(self.base.dim)
        if int(self.correction.dim) != self.dim:
            raise DimensionMismatchError(f"NegatedPotential: correction has dimension {self.correction.dim} but "
                                         f"the base {self.dim}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.correction(x) - self.base(x)

    def config(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "base": self.base.config(), "correction": self.correction.config()}


def _build_on_meta(factory) -> nn.Module:
    """Build a network without drawing from the global RNG (parameters are re-initialised afterwards)."""
    with torch.device("meta"):
        return factory()


def _uniform_(p: torch.Tensor, bound: float, generator: torch.Generator | None) -> None:
    dev = generator.device if generator is not None else p.device
    noise = torch.rand(p.shape, generator=generator, dtype=p.dtype, device=dev)
    p.copy_((noise.to(p.device) * 2 - 1) * bound)


def _init_potential_(net: nn.Module, std: float, generator: torch.Generator | None) -> None:
    """The W2GAN code's discriminator init: weights N(0, std²), biases 0."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Linear):
                dev = generator.device if generator is not None else module.weight.device
                noise = torch.randn(module.weight.shape, generator=generator, dtype=module.weight.dtype, device=dev)
                module.weight.copy_(noise.to(module.weight.device) * std)
                module.bias.zero_()


def _init_map_(net: ResidualMap | MLPMap, generator: torch.Generator | None) -> None:
    """PyTorch's default Linear init U(±1/√fan_in) from ``generator`` for the layers of the map's MLP; for a
    :class:`ResidualMap` the last layer is zero, so that the map starts at the identity."""
    layers = [m for m in net.net if isinstance(m, nn.Linear)]
    drawn = layers if isinstance(net, MLPMap) else layers[:-1]
    with torch.no_grad():
        for module in drawn:
            bound = 1.0 / math.sqrt(module.in_features)
            _uniform_(module.weight, bound, generator)
            _uniform_(module.bias, bound, generator)
        if not isinstance(net, MLPMap):
            layers[-1].weight.zero_()
            layers[-1].bias.zero_()


# ---------------------------------------------------------------------------------------- shared solver
def _check_sizes(cls: str, name: str, sizes: Sequence[int] | None) -> list[int]:
    out = check_hidden_sizes(cls, sizes, name=name)
    if out is None:
        raise InvalidInputError(f"{cls}: {name} must be a non-empty list of positive integers such as [64, 64], "
                                f"got None")
    return out


class _AdversarialMap(W2Solver):
    """Generator (a map network, ResidualMap by default) + critic networks trained by alternating Adam steps."""

    _penalty_name = "penalty"
    generator_pretrain_steps = 0

    def __init__(self, *, generator_sizes: Sequence[int], critic_sizes: Sequence[int], activation: str,
                 generator_lr: float, critic_lr: float, betas: Sequence[float], n_critic: int, penalty: float,
                 critic_init_std: float):
        cls = type(self).__name__
        self.generator_sizes = _check_sizes(cls, "generator_sizes", generator_sizes)
        self.critic_sizes = _check_sizes(cls, "critic_sizes", critic_sizes)
        if activation not in _ACTIVATIONS:
            raise InvalidInputError(f"{cls}: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        for name, value in (("generator_lr", generator_lr), ("critic_lr", critic_lr),
                            ("critic_init_std", critic_init_std)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InvalidInputError(f"{cls}: {name} must be a finite number > 0, got {value!r}")
        if (isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not math.isfinite(penalty)
                or penalty < 0):
            raise InvalidInputError(f"{cls}: {self._penalty_name} must be a finite number >= 0, got {penalty!r}")
        betas_t = check_betas(cls, betas)
        if isinstance(n_critic, bool) or not isinstance(n_critic, int) or n_critic < 1:
            raise InvalidInputError(f"{cls}: n_critic must be a positive integer, got {n_critic!r}")
        self.activation = activation
        self.generator_lr, self.critic_lr = float(generator_lr), float(critic_lr)
        self.betas, self.n_critic, self.penalty = betas_t, n_critic, float(penalty)
        self.critic_init_std = float(critic_init_std)

    def settings(self) -> dict[str, Any]:
        return {"generator_sizes": self.generator_sizes, "critic_sizes": self.critic_sizes,
                "activation": self.activation, "generator_lr": self.generator_lr, "critic_lr": self.critic_lr,
                "betas": list(self.betas), "n_critic": self.n_critic, self._penalty_name: self.penalty,
                "critic_init_std": self.critic_init_std}

    # ---- hooks
    def _n_critics(self) -> int:
        raise NotImplementedError

    def _critic_loss(self, critics: list[MLPPotential], fake: torch.Tensor, real: torch.Tensor,
                     generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss to minimise, dual/critic estimate detached)."""
        raise NotImplementedError

    def _generator_loss(self, critics: list[MLPPotential], moved: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _forward_map(self, gen: nn.Module, critics: list[Potential]) -> nn.Module:
        return gen

    def _make_generator(self, dim: int) -> ResidualMap | MLPMap:
        return ResidualMap(dim, self.generator_sizes, activation=self.activation)

    def _assemble_critics(self, nets: list[MLPPotential]) -> list[Potential]:
        """The critics the losses use, from the ``_n_critics()`` freshly initialised networks."""
        return nets

    # ---- helpers
    def _build(self, dim: int, dtype: torch.dtype, device: torch.device, generator: torch.Generator | None
               ) -> tuple[ResidualMap | MLPMap, list[Potential]]:
        gen = _build_on_meta(lambda: self._make_generator(dim))
        gen = gen.to_empty(device=device).to(dtype=dtype)
        _init_map_(gen, generator)
        nets = []
        for _ in range(self._n_critics()):
            net = _build_on_meta(lambda: MLPPotential(dim, self.critic_sizes, activation=self.activation))
            net = net.to_empty(device=device).to(dtype=dtype)
            _init_potential_(net, self.critic_init_std, generator)
            nets.append(net)
        return gen, self._assemble_critics(nets)

    def _pretrain_generator(self, gen: nn.Module, source: Any, batch_size: int,
                            generator: torch.Generator | None) -> float:
        """``generator_pretrain_steps`` Adam steps (lr :data:`PRETRAIN_LR`) on the reconstruction loss
        E‖G(z) − z‖², z ~ source; returns the last batch's loss (NaN without steps)."""
        opt = adam(list(gen.parameters()), lr=PRETRAIN_LR)
        mse = float("nan")
        for _ in range(self.generator_pretrain_steps):
            z = source.sample(batch_size, generator)
            loss = (gen(z) - z).square().sum(1).mean()
            mse = loss.item()
            if not math.isfinite(mse):
                raise TrainingDiverged(0, f"{type(self).__name__}: generator pre-training produced a non-finite loss")
            descend(opt, loss)
        return mse

    @staticmethod
    def _uniform(n: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        dev = generator.device if generator is not None else like.device
        return torch.rand(n, 1, generator=generator, dtype=like.dtype, device=dev).to(like.device)

    # ---- training
    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int = 512,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W2Result:
        """Train for ``steps`` generator steps, each preceded by ``n_critic`` critic steps, on minibatches
        of ``batch_size`` (default 512, the paper's 2-D setting) from each side.

        After the call ``self.networks_`` holds the trained networks (``"generator"`` and the list
        ``"critics"``: [φ, ψ] for W2GAN, [D] for the WGAN maps). With ``generator_pretrain_steps`` the
        generator is first pre-trained to reconstruct its input and ``history["pretrain_mse"]`` holds the
        last pre-training loss E‖G(z) − z‖².

        Raises :class:`~monge.errors.TrainingDiverged` (with ``.result`` holding the last parameters
        whose losses were finite) when a loss is not finite.
        """
        source, target = prepare_data(source, target, steps, batch_size, generator)
        dim, dtype, device = source.dim, source.dtype, source.device
        gen, critics = self._build(dim, dtype, device, generator)
        critic_params = list({id(p): p for c in critics for p in c.parameters()}.values())  # tied critics share
        params = [*gen.parameters(), *critic_params]
        opt_g = adam(list(gen.parameters()), lr=self.generator_lr, betas=self.betas)
        opt_d = adam(critic_params, lr=self.critic_lr, betas=self.betas)
        forward = self._forward_map(gen, critics)
        self.networks_ = {"generator": gen, "critics": critics}
        history: dict[str, list[float]] = {"loss": [], "critic_loss": [], "dual": [], "transport_cost": []}
        started = time.perf_counter()
        if self.generator_pretrain_steps:
            history["pretrain_mse"] = [self._pretrain_generator(gen, source, batch_size, generator)]

        def step(i: int) -> dict[str, float]:
            for _ in range(self.n_critic):
                z, x = draw(source, target, batch_size, generator)
                with torch.no_grad():
                    fake = gen(z)
                d_loss, dual = self._critic_loss(critics, fake, x, generator)
                d_value = d_loss.item()
                if not math.isfinite(d_value):
                    return {"loss": d_value, "critic_loss": d_value}
                descend(opt_d, d_loss)
            z = source.sample(batch_size, generator)
            moved = gen(z)
            g_loss = self._generator_loss(critics, moved)
            logs = {"loss": g_loss.item(), "critic_loss": d_value, "dual": dual.item(),
                    "transport_cost": 0.5 * (moved.detach() - z).square().sum(1).mean().item()}
            if not all(math.isfinite(v) for v in logs.values()):
                return logs
            descend(opt_g, g_loss)
            return logs

        return run_w2_training(self, steps=steps, params=params, step=step, history=history, forward=forward,
                               estimate="transport_cost", callback=callback, started=started, generator=generator,
                               data=(source, target),
                               state={"generator": gen, **{f"critic_{k}": c for k, c in enumerate(critics)},
                                      "generator_optimizer": opt_g, "critic_optimizer": opt_d})


# ---------------------------------------------------------------------------------------- W2GAN
@register_solver("w2gan")
class W2GAN(_AdversarialMap):
    """W2GAN (Leygonie et al. 2019): a residual generator trained against the L2-regularised W2 dual.

    Discriminator (φ, ψ) maximises E φ(G(z)) + E ψ(x) − λ·E[(φ(G(z)) + ψ(x) − ½‖G(z) − x‖²)₊²] (plus the
    same penalty on random interpolates when ``interpolation_penalty``, the c-equality penalty when
    ``equality_weight`` > 0 and the ε regulariser of ``potential_form="neg_plus_eps"``); the generator
    minimises E φ(G(z)). The result's forward map is G (``map="generator"``, default) or the discriminator
    map x ↦ G(x) − ∇φ(G(x)) (``map="discriminator"``, a :class:`DisplacementMap`). No inverse.
    ``cost_estimate`` is ½·E‖G(z) − z‖² averaged over the last 50 steps.

    Defaults are the 2-D experiment settings of the authors' code (github.com/jshe/wasserstein-2,
    ``exp_2d/options.py``), except the potential form (below). The paper's text (its eqs. 25–29, which
    issue 22 cites for the equality penalty and the ψ = −φ + ε form) was not available offline: those
    options follow the authors' code (``losses.py``: ``calc_eq``, ``eq_loss``; ``w2_model.py``: ``psi``,
    ``lambda_eps``), mirrored to this module's notation, where φ is the generated side's potential.

    Args:
        generator_sizes: hidden widths of G's MLP ([128, 128, 128]: ``g_n_layers=3``, ``n_hidden=128``;
            the code's batch norm in G is omitted).
        critic_sizes: hidden widths of φ and ψ (and of ε) ([128, 128]: ``d_n_layers=2``).
        activation: activation of all networks (``"relu"``, as in the code).
        generator_lr: Adam learning rate of G (1e-4).
        critic_lr: Adam learning rate of φ, ψ (5e-4).
        betas: Adam betas of both optimisers ((0.5, 0.9)).
        n_critic: discriminator steps per generator step (20, ``d_iters``).
        reg_weight: λ of the L2 penalty on the constraint φ(a) + ψ(b) ≤ ½‖a − b‖² (200, ``lambda_ineq``).
        interpolation_penalty: also penalise the constraint on random interpolates of the two batches
            (True, ``ineq_interp=1``).
        critic_init_std: std of the discriminator's initial weights, biases zero (0.1, ``weights_init_d``).
            G's hidden layers use PyTorch's default init (from ``generator``), its last layer is zero.
        map: ``"generator"`` or ``"discriminator"``: which map ``result.forward`` uses.
        equality_weight: λ_eq of the c-equality penalty λ_eq·(E(φ(a) + ψ(T a) − c(a, T a))² +
            E(φ(S x) + ψ(x) − c(S x, x))²) on the pairs of the discriminator's optimal coupling, T a =
            a − ∇φ(a) for generated a = G(z), S x = x − ∇ψ(x) for target x; differentiated through ∇φ, ∇ψ
            (double backward), as the code's ``eq_phi`` / ``eq_psi``. 0 turns it off (0.0: the 2-D code's
            ``eq_phi=0``; its image experiments use it with λ_eq = λ = 10).
        potential_form: ``"two"``: φ and ψ are two free networks (default: monge's W2GAN as it was before
            this option); ``"neg_plus_eps"``: ψ is a free network and φ = −ψ + ε with a second network ε
            (a :class:`NegatedPotential`), the paper's ψ = −φ + ε. The authors' code uses the tied form in
            every experiment (the 2-D one included); at optimality with G#P = Q the potentials are exact
            negatives, so ε measures what is left to transport.
        eps_weight: λ_ε of the regulariser λ_ε·E[φ(G(z))₊²] of the tied form (the code's
            ``lambda_eps·mean(clamp(psi(y), min=0)²)`` on generated y); only with
            ``potential_form="neg_plus_eps"``. None means 10.0 there (``lambda_eps`` of the image
            experiments; the 2-D code has no regulariser: pass 0.0 for it).
        generator_form: ``"residual"``: G(x) = x + MLP(x) (default, the 2-D code's generator);
            ``"bounded"``: G(x) = x + s·tanh(MLP(x)), each coordinate of the displacement bounded by s (the
            image experiments' code); ``"mlp"``: G(x) = MLP(x), a plain network that is the identity only
            after reconstruction pre-training. The residual forms start exactly at the identity (last
            layer zero); the code draws all of G's weights from N(0, 0.01²) instead.
        generator_scale: s of ``generator_form="bounded"``; only with that form. None means 2.0 (the
            code's ``2*output + input``).
        generator_pretrain_steps: Adam steps (lr 1e-3, batches of ``batch_size`` source samples) on the
            reconstruction loss E‖G(z) − z‖² before adversarial training. None means 500 for
            ``generator_form="mlp"`` (monge's choice: the authors' code has no pre-training, its
            generators are residual; measured, 500 steps bring E‖G(z) − z‖² from 4.1 to 4.5e-5 on a 2-D
            Gaussian with E‖z‖² ≈ 4.1) and 0 for the residual forms, which already start at the identity.
    """

    paper = ("J. Leygonie, J. She, A. Almahairi, S. Rajeswar, A. Courville. Adversarial computation of "
             "optimal transport maps. arXiv:1906.09691, 2019")
    smoke_options = {"generator_sizes": [16, 16], "critic_sizes": [16, 16], "n_critic": 2}
    _penalty_name = "reg_weight"

    def __init__(self, *, generator_sizes: Sequence[int] = (128, 128, 128), critic_sizes: Sequence[int] = (128, 128),
                 activation: str = "relu", generator_lr: float = 1e-4, critic_lr: float = 5e-4,
                 betas: Sequence[float] = (0.5, 0.9), n_critic: int = 20, reg_weight: float = 200.0,
                 interpolation_penalty: bool = True, critic_init_std: float = 0.1, map: str = "generator",
                 equality_weight: float = 0.0, potential_form: str = "two", eps_weight: float | None = None,
                 generator_form: str = "residual", generator_scale: float | None = None,
                 generator_pretrain_steps: int | None = None):
        super().__init__(generator_sizes=generator_sizes, critic_sizes=critic_sizes, activation=activation,
                         generator_lr=generator_lr, critic_lr=critic_lr, betas=betas, n_critic=n_critic,
                         penalty=reg_weight, critic_init_std=critic_init_std)
        if map not in MAPS:
            raise InvalidInputError(f"W2GAN: map must be one of {MAPS}, got {map!r}")
        if not isinstance(interpolation_penalty, bool):
            raise InvalidInputError(f"W2GAN: interpolation_penalty must be True or False, got {interpolation_penalty!r}")
        self.map, self.interpolation_penalty = map, interpolation_penalty
        self.equality_weight = check_number("W2GAN", "equality_weight", equality_weight)
        self.potential_form = check_choice("W2GAN", "potential_form", potential_form, POTENTIAL_FORMS)
        self.generator_form = check_choice("W2GAN", "generator_form", generator_form, GENERATOR_FORMS)
        self.eps_weight = _only_with("eps_weight", eps_weight, "potential_form", potential_form, "neg_plus_eps",
                                     EPS_WEIGHT, positive=False)
        self.generator_scale = _only_with("generator_scale", generator_scale, "generator_form", generator_form,
                                          "bounded", BOUNDED_SCALE, positive=True)
        if generator_pretrain_steps is None:
            generator_pretrain_steps = MLP_PRETRAIN_STEPS if generator_form == "mlp" else 0
        self.generator_pretrain_steps = check_int("W2GAN", "generator_pretrain_steps", generator_pretrain_steps)

    @property
    def reg_weight(self) -> float:
        return self.penalty

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "interpolation_penalty": self.interpolation_penalty, "map": self.map,
                "equality_weight": self.equality_weight, "potential_form": self.potential_form,
                "eps_weight": self.eps_weight, "generator_form": self.generator_form,
                "generator_scale": self.generator_scale, "generator_pretrain_steps": self.generator_pretrain_steps}

    def _n_critics(self) -> int:
        return 2  # "two": φ on the generated side, ψ on the target side; "neg_plus_eps": ψ and ε

    def _assemble_critics(self, nets):
        if self.potential_form == "two":
            return nets
        psi, eps = nets
        return [NegatedPotential(psi, eps), psi]

    def _make_generator(self, dim):
        if self.generator_form == "mlp":
            return MLPMap(dim, self.generator_sizes, activation=self.activation)
        return ResidualMap(dim, self.generator_sizes, activation=self.activation, bound=self.generator_scale)

    @staticmethod
    def _gap(phi: Potential, psi: Potential, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """φ(a) + ψ(b) − ½‖a − b‖², pair by pair: ≤ 0 for a feasible dual pair, 0 on the optimal coupling."""
        return phi(a) + psi(b) - 0.5 * (a - b).square().sum(1)

    def _violation(self, phi: Potential, psi: Potential, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self._gap(phi, psi, a, b).clamp(min=0).square().mean()

    def _equality_violation(self, phi: Potential, psi: Potential, fake: torch.Tensor, real: torch.Tensor
                            ) -> torch.Tensor:
        """E(φ(a) + ψ(T a) − c(a, T a))² + E(φ(S x) + ψ(x) − c(S x, x))², T a = a − ∇φ(a), S x = x − ∇ψ(x):
        zero when (φ, ψ) is an optimal pair and T, S its transport maps (the c-equality penalty, without λ_eq)."""
        moved = fake - phi.gradient(fake)
        pulled = real - psi.gradient(real)
        return (self._gap(phi, psi, fake, moved).square().mean()
                + self._gap(phi, psi, pulled, real).square().mean())

    def _critic_loss(self, critics, fake, real, generator):
        phi, psi = critics
        phi_fake = phi(fake)
        dual = phi_fake.mean() + psi(real).mean()
        loss = -dual + self.penalty * self._violation(phi, psi, fake, real)
        if self.interpolation_penalty and self.penalty > 0:
            n = fake.shape[0]
            t, s = self._uniform(n, fake, generator), self._uniform(n, fake, generator)
            a = t * fake + (1 - t) * real
            b = s * real + (1 - s) * fake
            loss = loss + self.penalty * self._violation(phi, psi, a, b)
        if self.equality_weight > 0:
            loss = loss + self.equality_weight * self._equality_violation(phi, psi, fake, real)
        if self.eps_weight:
            loss = loss + self.eps_weight * phi_fake.clamp(min=0).square().mean()
        return loss, dual.detach()

    def _generator_loss(self, critics, moved):
        return critics[0](moved).mean()

    def _forward_map(self, gen, critics):
        return gen if self.map == "generator" else DisplacementMap(critics[0], base=gen)


def _only_with(name: str, value: Any, form_name: str, form: str, needed: str, default: float, *,
               positive: bool) -> float | None:
    """An option that belongs to one value of a form option: its default (or checked value) with that form,
    None otherwise; giving it with another form raises :class:`InvalidInputError` naming both."""
    if form != needed:
        if value is not None:
            raise InvalidInputError(f"W2GAN: {name} applies only with {form_name}={needed!r}, got {name}={value!r} "
                                    f"with {form_name}={form!r}")
        return None
    return default if value is None else check_number("W2GAN", name, value, positive=positive)


# ---------------------------------------------------------------------------------------- W1 baselines
class _WGANMap(_AdversarialMap):
    _one_sided = False
    _penalty_name = "penalty_weight"

    def _n_critics(self) -> int:
        return 1

    def __init__(self, *, generator_sizes: Sequence[int] = (128, 128, 128), critic_sizes: Sequence[int] = (128, 128),
                 activation: str = "relu", generator_lr: float = 1e-4, critic_lr: float = 5e-4,
                 betas: Sequence[float] = (0.5, 0.9), n_critic: int = 20, penalty_weight: float = 10.0,
                 critic_init_std: float = 0.1):
        super().__init__(generator_sizes=generator_sizes, critic_sizes=critic_sizes, activation=activation,
                         generator_lr=generator_lr, critic_lr=critic_lr, betas=betas, n_critic=n_critic,
                         penalty=penalty_weight, critic_init_std=critic_init_std)

    def _critic_loss(self, critics, fake, real, generator):
        (critic,) = critics
        estimate = critic(real).mean() - critic(fake).mean()
        loss = -estimate
        if self.penalty > 0:
            t = self._uniform(fake.shape[0], fake, generator)
            mix = (t * real + (1 - t) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
            excess = grad.norm(dim=1) - 1
            if self._one_sided:
                excess = excess.clamp(min=0)
            loss = loss + self.penalty * excess.square().mean()
        return loss, estimate.detach()

    def _generator_loss(self, critics, moved):
        return -critics[0](moved).mean()


_WGAN_ARGS = """
    Args:
        generator_sizes: hidden widths of G = x + MLP(x) ([128, 128, 128], as for W2GAN).
        critic_sizes: hidden widths of the critic D ([128, 128]).
        activation: activation of all networks (``"relu"``).
        generator_lr: Adam learning rate of G (1e-4).
        critic_lr: Adam learning rate of D (5e-4).
        betas: Adam betas ((0.5, 0.9)).
        n_critic: critic steps per generator step (20).
        penalty_weight: λ of the penalty (10, ``lambda_gp`` in the W2GAN code and Gulrajani et al.).
        critic_init_std: std of the critic's initial weights, biases zero (0.1).

    Defaults: the W2GAN authors' 2-D settings (github.com/jshe/wasserstein-2, ``exp_2d/options.py``),
    under which the paper compares the baselines. The forward map is G; no inverse; ``cost_estimate``
    is ½·E‖G(z) − z‖² over the last 50 steps. The paper's exact discrete-OT baseline is the
    ``baseline:discrete_ot`` leaderboard row.
"""


@register_solver("wgan-gp-map")
class WGANGPMap(_WGANMap):
    __doc__ = ("""WGAN-GP as a map learner (W2GAN paper's baseline): identity-initialised residual generator,
    W1 critic with the two-sided gradient penalty λ·E(‖∇D(x̂)‖ − 1)² (Gulrajani et al. 2017). It pushes
    the source onto the target but is not an optimal-transport solver.
""" + _WGAN_ARGS)

    paper = ("I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville. Improved Training of Wasserstein "
             "GANs. NeurIPS 2017 (arXiv:1704.00028); as a map baseline in Leygonie et al., arXiv:1906.09691")
    smoke_options = {"generator_sizes": [16, 16], "critic_sizes": [16, 16], "n_critic": 2}


@register_solver("wgan-lp-map")
class WGANLPMap(_WGANMap):
    __doc__ = ("""WGAN-LP as a map learner (W2GAN paper's baseline): as :class:`WGANGPMap` with the one-sided
    Lipschitz penalty λ·E(‖∇D(x̂)‖ − 1)₊² (Petzka, Fischer, Lukovnikov 2018; ``--clamp`` in the W2GAN
    code). Not an optimal-transport solver.
""" + _WGAN_ARGS)

    paper = ("H. Petzka, A. Fischer, D. Lukovnikov. On the regularization of Wasserstein GANs. ICLR 2018 "
             "(arXiv:1709.08894); as a map baseline in Leygonie et al., arXiv:1906.09691")
    smoke_options = {"generator_sizes": [16, 16], "critic_sizes": [16, 16], "n_critic": 2}
    _one_sided = True

