"""SN-GAN: a W1 critic that is 1-Lipschitz by construction through spectral normalisation.

Miyato, Kataoka, Koyama, Yoshida, "Spectral Normalization for Generative Adversarial Networks", ICLR 2018 —
every weight W is replaced by W / σ̂(W), σ̂ a power-iteration estimate of its largest singular value (the
benchmark runs 5 iterations per step, the SN paper 1), so with ReLU the critic is (approximately) 1-Lipschitz. One
step: draw x ~ P, y ~ Q (``batch_size`` each) and take an Adam step on −(E f(y) − E f(x)); no penalty.
Defaults are the W1 benchmark's (Korotin, Kolesov, Burnaev, NeurIPS 2022, ``notebooks/test_nd.ipynb``:
``POWER_ITERS`` = 5 power iterations per step, its common Adam lr 2e-4, 5000 steps in the ``w1-hd`` preset) with
betas (0.5, 0.999), the SN paper's setting "B" (Table 1; the notebook's betas are not stated). The critic is a
:class:`~monge.nets.LipschitzMLP` (``constraint="spectral"``, ReLU), widths
:func:`~monge.solvers.w1.common.default_hidden_sizes`.

After training, :data:`FINAL_POWER_ITERATIONS` more power iterations tighten σ̂ (the weights are unchanged)
and the critic is returned in eval mode, so its values are a pure function of its saved state (during
training, e.g. in a callback's ``progress.result()``, it is in training mode: every evaluation then runs a
power iteration, as PyTorch's ``spectral_norm`` does). The bound
∏‖W_l‖ ≤ 1 is loose for ReLU networks: ‖∇f‖ usually stays well below 1, and E f(y) − E f(x) then
underestimates W1.

:class:`LipschitzCriticSolver` is shared with the GroupSort solver (``sorting.py``).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Sequence

import torch
from torch.nn.utils import parametrize

from monge.errors import InvalidInputError
from monge.nets.lipschitz import LipschitzMLP
from monge.solvers.base import Callback, register_solver
from monge.solvers.common import (adam, check_betas, check_choice, check_hidden_sizes, check_int, check_number,
                                  prepare_data)
from monge.solvers.w1.base import W1Result, W1Solver
from monge.solvers.w1.common import ascent_step, batch_dual, default_hidden_sizes, draw, run_w1_training

FINAL_POWER_ITERATIONS = 200
"""Power iterations run on the trained spectrally normalised critic before it is returned."""

SN_ACTIVATIONS = ("relu", "leaky_relu", "elu", "celu", "tanh", "softplus")


class LipschitzCriticSolver(W1Solver):
    """Shared fit of the critics that are 1-Lipschitz by construction (:class:`~monge.nets.LipschitzMLP`):
    Adam on −(E f(y) − E f(x)), nothing else."""

    lipschitz_by_construction = True
    constraint: ClassVar[str]
    hidden_sizes: list[int] | None
    activation: str
    group_size: int | None = 2
    n_power_iterations: int = 1
    lr: float
    betas: tuple[float, float]

    def _check_widths(self, sizes: Sequence[int]) -> int:
        """The GroupSort group size for hidden widths ``sizes`` (``group_size=None``: the common width)."""
        what = "hidden_sizes" if self.hidden_sizes is not None else "the default hidden_sizes"
        if self.group_size is None:
            if self.activation == "groupsort" and len(set(sizes)) != 1:
                raise InvalidInputError(f"{self.name}: group_size=None (FullSort) needs equal hidden widths; "
                                        f"{what} {list(sizes)} are not")
            return int(sizes[0])
        if self.activation == "groupsort" and any(h % self.group_size for h in sizes):
            raise InvalidInputError(f"{self.name}: with GroupSort every hidden width must be divisible by "
                                    f"group_size {self.group_size}; {what} {list(sizes)} are not")
        return self.group_size

    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W1Result:
        started = time.perf_counter()
        source, target = prepare_data(source, target, steps, batch_size, generator)
        sizes = self.hidden_sizes if self.hidden_sizes is not None else default_hidden_sizes(source.dim)
        group_size = self._check_widths(sizes)
        critic = LipschitzMLP(source.dim, sizes, constraint=self.constraint, activation=self.activation,
                              group_size=group_size, n_power_iterations=self.n_power_iterations,
                              generator=generator, dtype=source.dtype, device=source.device)
        opt = adam(list(critic.parameters()), lr=self.lr, betas=self.betas)

        def step(i: int) -> dict[str, float]:
            x, y = draw(source, target, batch_size, generator)
            with parametrize.cached():          # the constrained weights (and one power iteration) once per step
                dual = batch_dual(critic, x, y)
            return ascent_step(opt, dual, w1=dual.item())

        try:
            return run_w1_training(name=self.name, steps=steps, critic=critic, step=step,
                                   settings=self.settings(), callback=callback, started=started,
                                   generator=generator, data=(source, target), state={"optimizer": opt})
        finally:                                # also on TrainingDiverged: the result it carries is usable
            critic.update_spectral_norms(FINAL_POWER_ITERATIONS)
            critic.eval()


@register_solver("sn-gan")
class SNGAN(LipschitzCriticSolver):
    """SN-GAN critic (Miyato et al., ICLR 2018): spectrally normalised MLP, 1-Lipschitz by construction.

    Args:
        hidden_sizes: critic widths (``None``: two layers of max(128, 2·dim)).
        activation: critic activation (``"relu"``; any 1-Lipschitz one of ``SN_ACTIVATIONS``).
        n_power_iterations: power iterations per training step (5, the benchmark's; the SN paper used 1).
        lr: Adam learning rate (2e-4, the benchmark's).
        betas: Adam betas ((0.5, 0.999), the SN paper's setting B).
    """

    paper = ("Miyato, Kataoka, Koyama, Yoshida, 'Spectral Normalization for Generative Adversarial Networks', "
             "ICLR 2018")
    smoke_options = {"hidden_sizes": [32, 32], "lr": 1e-3}
    constraint = "spectral"

    def __init__(self, *, hidden_sizes: Sequence[int] | None = None, activation: str = "relu",
                 n_power_iterations: int = 5, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999)):
        who = self.name
        self.hidden_sizes = check_hidden_sizes(who, hidden_sizes)
        self.activation = check_choice(who, "activation", activation, SN_ACTIVATIONS)
        self.n_power_iterations = check_int(who, "n_power_iterations", n_power_iterations, minimum=1)
        self.lr = check_number(who, "lr", lr, positive=True)
        self.betas = check_betas(who, betas)

    def settings(self) -> dict[str, Any]:
        return {"hidden_sizes": self.hidden_sizes, "activation": self.activation,
                "n_power_iterations": self.n_power_iterations, "lr": self.lr, "betas": list(self.betas)}
