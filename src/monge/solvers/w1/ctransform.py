"""Minibatch c-transform W1 critics: (q,p)-WGAN (``"wgan-qp"``) and CoWGAN (``"cowgan"``).

- (q,p)-WGAN: Mallasto, Montúfar, Gerolin, "(q,p)-Wasserstein GANs: Comparing Ground Metrics for
  Wasserstein GANs", 2019 (arXiv:1902.03642); the [MM:B] solver of the Kantorovich-Strikes-Back benchmark
  (Korotin, Kolesov, Burnaev, NeurIPS 2022; ``train_WGAN_qp`` in its ``src/methods.py``).
- CoWGAN: Kwon, Kim, Montúfar, Yang, "Training Wasserstein GANs without gradient penalties", 2021
  (arXiv:2110.14150); ``train_CoWGAN`` of the same benchmark code.

With x ~ P (source), y ~ Q (target), cost c(x, y) = ‖x − y‖ and an unconstrained critic f::

    W1(P, Q) = sup_f E_Q f(y) + E_P f^c(x),   f^c(x) = inf_y ‖x − y‖ − f(y)

(f^c = −f when f is 1-Lipschitz). On a pair of batches the infimum is taken over the batch: for each x_i,
j*(i) = argmin_j ‖x_i − y_j‖ − f(y_j), chosen without gradient; the objective then uses f(y_{j*(i)}) with
its gradient. CoWGAN also uses the transform on the other side, f(y_k) ≤ min_i ‖y_k − x_i‖ + f(x_i):

    L1 = E f(y) − E f(x)                                         (plain dual)
    L2 = E f(y) + E_i [‖x_i − y_{j*(i)}‖ − f(y_{j*(i)})]          (c-transform at the source points)
    L3 = −E f(x) + E_k [‖y_k − x_{i*(k)}‖ + f(x_{i*(k)})],  i*(k) = argmin_i ‖y_k − x_i‖ + f(x_i)

and, as the authors' code does, maximises L2 if L2 < L1, else L3 if L3 < L1, else L1 (each of L2, L3 is
at least L1 when f is 1-Lipschitz on the batch, so a smaller value flags a violated constraint). This is
the benchmark's code translated to monge's orientation (there P and Q are named the other way round).

Defaults: Adam with lr 2e-4 (the benchmark's ``test_nd.ipynb``, ``LR = 2e-4``; batch 1024 there) and
PyTorch's default betas (0.9, 0.999) (monge's choice: the benchmark notebook sets only the learning rate).
The critic is an MLP with ReLU (as the benchmark's ``Critic``), widths
:func:`~monge.solvers.w1.common.default_hidden_sizes`.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from monge.solvers.base import Callback, register_solver
from monge.solvers.common import check_betas, check_choice, check_hidden_sizes, check_number
from monge.solvers.w1.base import W1Result, W1Solver
from monge.solvers.w1.common import fit_adam_critic

ACTIVATIONS = ("relu", "leaky_relu", "elu", "celu", "silu", "softplus", "tanh")


def source_side_transform(x: torch.Tensor, y: torch.Tensor, f_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch c-transform of f at the source points: g(x_i) = min_j ‖x_i − y_j‖ − f(y_j).

    Returns ``(values, idx)``: idx[i] = j*(i) (an argmin chosen without gradient) and
    values[i] = ‖x_i − y_{j*(i)}‖ − f_y[j*(i)], differentiable through ``f_y``.
    """
    with torch.no_grad():
        idx = torch.argmin(torch.cdist(x, y) - f_y.detach()[None, :], dim=1)
    return (x - y[idx]).norm(dim=1) - f_y[idx], idx


def target_side_transform(y: torch.Tensor, x: torch.Tensor, f_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch c-transform on the target side: h(y_k) = min_i ‖y_k − x_i‖ + f(x_i) (an upper bound on
    f(y_k) for a 1-Lipschitz f). Returns ``(values, idx)`` as :func:`source_side_transform`."""
    with torch.no_grad():
        idx = torch.argmin(torch.cdist(y, x) + f_x.detach()[None, :], dim=1)
    return (y - x[idx]).norm(dim=1) + f_x[idx], idx


def cowgan_objectives(x: torch.Tensor, y: torch.Tensor, f_x: torch.Tensor,
                      f_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CoWGAN's three estimates of the dual on a batch, from the critic's values ``f_x`` = f(x), ``f_y`` = f(y):
    L1 = E f(y) − E f(x), L2 = E f(y) + E g(x) (:func:`source_side_transform`), L3 = E h(y) − E f(x)
    (:func:`target_side_transform`)."""
    g_x, _ = source_side_transform(x, y, f_y)
    h_y, _ = target_side_transform(y, x, f_x)
    return f_y.mean() - f_x.mean(), f_y.mean() + g_x.mean(), h_y.mean() - f_x.mean()


def cowgan_choice(l1: float, l2: float, l3: float) -> int:
    """Which objective CoWGAN maximises on this batch (the authors' rule): 2 if L2 < L1, else 3 if
    L3 < L1, else 1."""
    if l2 < l1:
        return 2
    if l3 < l1:
        return 3
    return 1


class _CTransformWGAN(W1Solver):
    def __init__(self, *, hidden_sizes: Sequence[int] | None = None, activation: str = "relu",
                 lr: float = 2e-4, betas: tuple[float, float] = (0.9, 0.999)):
        who = self.name
        self.hidden_sizes = check_hidden_sizes(who, hidden_sizes)
        self.activation = check_choice(who, "activation", activation, ACTIVATIONS)
        self.lr = check_number(who, "lr", lr, positive=True)
        self.betas = check_betas(who, betas)

    def settings(self) -> dict[str, Any]:
        return {"hidden_sizes": self.hidden_sizes, "activation": self.activation, "lr": self.lr,
                "betas": list(self.betas)}

    def _objective(self, critic: torch.nn.Module, x: torch.Tensor,
                   y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The objective to maximise on this batch and its method-specific logs."""
        raise NotImplementedError

    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W1Result:
        def ascent(critic: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
            objective, extra = self._objective(critic, x, y)
            return objective, {"w1": objective.item(), **extra}

        return fit_adam_critic(self, source, target, steps=steps, batch_size=batch_size, generator=generator,
                               callback=callback, ascent=ascent)


@register_solver("wgan-qp")
class WGANQP(_CTransformWGAN):
    """(q,p)-WGAN critic with q = p = 1 (Mallasto, Montúfar, Gerolin, 2019; the benchmark's [MM:B]): the
    dual with the c-transform of f computed on the target batch.

    One step: draw x ~ P, y ~ Q and take an Adam step maximising
    E_j f(y_j) + E_i [‖x_i − y_{j*(i)}‖ − f(y_{j*(i)})], j*(i) = argmin_j ‖x_i − y_j‖ − f(y_j) (no gradient
    through the argmin). Logs ``loss`` (minus the objective) and ``w1`` (the objective). The critic is only
    trained at target points: its values on the source are extrapolation.

    Args:
        hidden_sizes: critic widths (``None``: two layers of max(128, 2·dim), the benchmark's).
        activation: critic activation (``"relu"``, as the benchmark).
        lr: Adam learning rate (2e-4, benchmark ``test_nd.ipynb``).
        betas: Adam betas ((0.9, 0.999), PyTorch's default; monge's choice).
    """

    paper = ("Mallasto, Montúfar, Gerolin, '(q,p)-Wasserstein GANs: Comparing Ground Metrics for Wasserstein "
             "GANs', 2019 (arXiv:1902.03642); benchmark [MM:B] of Korotin, Kolesov, Burnaev, NeurIPS 2022")
    smoke_options = {"hidden_sizes": [32, 32], "lr": 1e-3}

    def _objective(self, critic: torch.nn.Module, x: torch.Tensor,
                   y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        f_y = critic(y)
        g_x, _ = source_side_transform(x, y, f_y)
        return f_y.mean() + g_x.mean(), {}


@register_solver("cowgan")
class CoWGAN(_CTransformWGAN):
    """CoWGAN critic (Kwon, Kim, Montúfar, Yang, 2021): per batch, maximise the plain dual L1 or one of the
    two one-sided batch c-transform objectives L2, L3 (module docstring), picked by :func:`cowgan_choice`.

    Logs ``loss`` (minus the chosen objective), ``w1`` (the chosen objective), ``l1``, ``l2``, ``l3`` and
    ``choice`` (1, 2 or 3).

    Args: as :class:`WGANQP` (Adam lr 2e-4 from the benchmark notebook, betas (0.9, 0.999)).
    """

    paper = ("Kwon, Kim, Montúfar, Yang, 'Training Wasserstein GANs without gradient penalties', 2021 "
             "(arXiv:2110.14150)")
    smoke_options = {"hidden_sizes": [32, 32], "lr": 1e-3}

    def _objective(self, critic: torch.nn.Module, x: torch.Tensor,
                   y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        objectives = cowgan_objectives(x, y, critic(x), critic(y))
        values = [v.item() for v in objectives]
        choice = cowgan_choice(*values)
        return objectives[choice - 1], {"l1": values[0], "l2": values[1], "l3": values[2], "choice": float(choice)}
