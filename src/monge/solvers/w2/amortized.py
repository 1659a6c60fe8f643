"""Amortised convex conjugates: one dual potential, an amortisation model and L-BFGS fine-tuning.

Amos. "On amortizing convex conjugates for optimal transport", ICLR 2023 (arXiv:2210.12153). Defaults
from the paper's best setting on the W2 benchmark's high-dimensional pairs (a non-convex
MLP potential, regression amortisation, L-BFGS fine-tuning) and the authors' ``w2ot`` configuration
(``dual_trainer/nn_hd_benchmark.yaml``, ``amortization/regression.yaml``, ``conjugate_solver/lbfgs.yaml``).

One potential f lives on the **source** side. The dual objective is::

    min_f  E_P f(x) + E_Q f*(y),      f*(y) = ⟨x̂(y), y⟩ − f(x̂(y)),

with the conjugate point x̂(y) = argmax_x ⟨x, y⟩ − f(x) predicted by the amortisation model
H(y) = y + MLP(y) (a :class:`~monge.nets.ResidualMap`) and then fine-tuned by a few batched L-BFGS
iterations warm-started at H(y) (:func:`monge.conjugate.conjugate`). By the envelope theorem
(Danskin) the f-gradient of f*(y) is −∇_f f(x̂) with x̂ held constant, so x̂ is detached. H is trained
by one of three amortisation losses (Amos 2023, §3):

- ``"regression"``: ‖H(y) − sg(x̂(y))‖² (regress onto the fine-tuned point; the paper's best);
- ``"objective"``: maximise ⟨H(y), y⟩ − f(H(y)) (the conjugate objective at the prediction);
- ``"cycle"``: ‖∇f(H(y)) − y‖² (W2GN's cycle consistency, here acting on H only).

The amortisation losses change H only (f's parameters are held constant inside them), so f is trained
by the dual objective alone.

Maps (directions): the optimal f is the Brenier potential of P → Q, so the result's ``forward`` (source
→ target) is ∇f, and ``inverse`` (target → source) is the amortised conjugate map ∇f* ≈ H. The inverse
uses H alone (no fine-tuning at evaluation, which would be an L-BFGS solve per call); for the fine-tuned
inverse call ``monge.conjugate.conjugate(result.forward_potential, y, x0=result.inverse(y))``.

The cost estimate is the dual value ½E‖x‖² + ½E‖y‖² − (E f(x) + E f*(y)) (with the fine-tuned x̂),
averaged over the last 50 steps.

These defaults were checked against ``w2ot``'s files: ``run_train.py`` sets both widths to ``[2b, 2b, b]``
on the HD benchmark; ``nn_hd_benchmark.yaml`` has AdamW (b1 = b2 = 0.5), lr 5e-4 with cosine decay to
1e-4·lr, 10 001 pre-training and 250 001 training iterations; ``regression.yaml`` fine-tunes during
training; ``lbfgs.yaml`` has gtol 0.1 and at most 100 iterations (``train.yaml``'s default is the
``lbfgs_high_precision`` solver, gtol 1e-3, which ``finetune_tol=1e-3`` reproduces).

Departures from ``w2ot``: the MLP potential is :class:`~monge.nets.MLPPotential` with ``quadratic=True``
(MLP(x) + ½‖x‖²; ``w2ot`` adds an ELU on the scalar output and learns the quadratic's scale); identity
pre-training is on N(m, (3σ)²) noise matched to the data (``w2ot``: uniform on [−5, 5]^D) and only for f
(H is the identity at initialisation); the L-BFGS tolerance is on the Euclidean residual ‖∇f(x) − y‖.
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import torch

from monge.conjugate import LBFGSConjugate, conjugate
from monge.errors import InvalidInputError
from monge.nets.base import Potential
from monge.nets.icnn import DenseICNN
from monge.nets.mlp import MLPPotential, ResidualMap
from monge.solvers.base import Callback, W2Result, W2Solver, register_solver
from monge.solvers.loop import run_w2_training
from monge.solvers.common import (check_betas, check_hidden_sizes, draw, prepare_data, pretrain_as_configured, seeded,
                                  update_if_finite)
from monge.solvers.w2.w2gn import default_hidden_sizes

POTENTIALS = ("mlp", "icnn")
AMORTIZATIONS = ("regression", "objective", "cycle")


def default_mlp_sizes(dim: int) -> list[int]:
    """``w2ot``'s widths on the HD benchmark for both f and H: ``[2b, 2b, b]`` with b = max(D, 32)."""
    base = max(dim, 32)
    return [2 * base, 2 * base, base]


@register_solver("amortized")
class AmortizedConjugate(W2Solver):
    """Amortised convex conjugates (Amos, ICLR 2023): dual potential f, amortisation model H(y) = y + MLP(y)
    warm-starting a few L-BFGS iterations for the conjugate point; forward map ∇f, inverse map H.

    Args:
        potential: ``"mlp"`` (non-convex :class:`~monge.nets.MLPPotential` with ½‖x‖², default: the
            paper's best on the W2 benchmark) or ``"icnn"`` (:class:`~monge.nets.DenseICNN`, convexified
            after each step).
        hidden_sizes: widths of f; default :func:`default_mlp_sizes` ``[2b, 2b, b]``, b = max(D, 32)
            (``w2ot``) for the MLP, :func:`~monge.solvers.w2.w2gn.default_hidden_sizes` for the ICNN.
        amortizer_hidden_sizes: widths of H's MLP; default :func:`default_mlp_sizes` (``w2ot``).
        activation: activation of the MLPs (``"elu"``, ``w2ot``); the ICNN uses ``"celu"``.
        amortization: ``"regression"`` (default, paper's best), ``"objective"`` or ``"cycle"``.
        finetune_iters: L-BFGS iterations fine-tuning H(y) at each training step (default 100, the
            ``w2ot`` cap; with a good H it stops after a few at ``finetune_tol``). 0 disables fine-tuning
            (then x̂ = H(y); not allowed with ``"regression"``, which regresses onto the fine-tuned point).
        finetune_tol: L-BFGS stops per point once ‖∇f(x) − y‖ ≤ this (0.1, ``w2ot``'s ``gtol``).
        lr: AdamW learning rate for f and H (5e-4, ``w2ot``).
        betas: AdamW betas ((0.5, 0.5), ``w2ot``).
        weight_decay: AdamW weight decay (1e-4, optax's ``adamw`` default used by ``w2ot``).
        lr_decay: cosine decay of the learning rate to 1e-4·lr over ``steps`` (True, ``w2ot``).
        strong_convexity: β of the ICNN potential (1e-4, as W2GN).
        pretrain_steps: maximum identity pre-training steps for f (1000; ``w2ot``: up to 10001, lr 1e-3).
        pretrain_tol: pre-training stops once E‖∇f(x) − x‖² < this (1e-3).
        pretrain_blow: pre-training noise is N(m, (blow·σ)²) with m, σ from a source+target batch (3.0).
    """

    paper = ("B. Amos. On amortizing convex conjugates for optimal transport. ICLR 2023. arXiv:2210.12153")
    smoke_options = {"hidden_sizes": [16, 16], "amortizer_hidden_sizes": [16, 16], "finetune_iters": 5,
                     "pretrain_steps": 20}

    def __init__(
        self,
        *,
        potential: str = "mlp",
        hidden_sizes: Sequence[int] | None = None,
        amortizer_hidden_sizes: Sequence[int] | None = None,
        activation: str = "elu",
        amortization: str = "regression",
        finetune_iters: int = 100,
        finetune_tol: float = 0.1,
        lr: float = 5e-4,
        betas: Sequence[float] = (0.5, 0.5),
        weight_decay: float = 1e-4,
        lr_decay: bool = True,
        strong_convexity: float = 1e-4,
        pretrain_steps: int = 1000,
        pretrain_tol: float = 1e-3,
        pretrain_blow: float = 3.0,
    ):
        who = "AmortizedConjugate"
        if potential not in POTENTIALS:
            raise InvalidInputError(f"{who}: potential must be one of {list(POTENTIALS)}, got {potential!r}")
        if amortization not in AMORTIZATIONS:
            raise InvalidInputError(f"{who}: amortization must be one of {list(AMORTIZATIONS)}, got {amortization!r}")
        for name, value in (("finetune_iters", finetune_iters), ("pretrain_steps", pretrain_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"{who}: {name} must be an integer >= 0, got {value!r}")
        if amortization == "regression" and finetune_iters == 0:
            raise InvalidInputError(f"{who}: amortization='regression' needs finetune_iters >= 1 "
                                    "(it regresses H onto the fine-tuned conjugate point)")
        for name, value in (("finetune_tol", finetune_tol), ("lr", lr), ("weight_decay", weight_decay),
                            ("strong_convexity", strong_convexity), ("pretrain_tol", pretrain_tol),
                            ("pretrain_blow", pretrain_blow)):
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise InvalidInputError(f"{who}: {name} must be a finite number >= 0, got {value!r}")
        for name, value in (("lr", lr), ("finetune_tol", finetune_tol)):
            if value <= 0:
                raise InvalidInputError(f"{who}: {name} must be > 0, got {value!r}")
        betas = check_betas(who, betas)
        sizes = {name: check_hidden_sizes(who, value, name=name)
                 for name, value in (("hidden_sizes", hidden_sizes), ("amortizer_hidden_sizes", amortizer_hidden_sizes))}
        from monge.nets.mlp import _ACTIVATIONS

        if activation not in _ACTIVATIONS:
            raise InvalidInputError(f"{who}: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.potential, self.amortization, self.activation = potential, amortization, activation
        self.hidden_sizes, self.amortizer_hidden_sizes = sizes["hidden_sizes"], sizes["amortizer_hidden_sizes"]
        self.finetune_iters, self.finetune_tol = finetune_iters, float(finetune_tol)
        self.lr, self.betas, self.weight_decay, self.lr_decay = float(lr), betas, float(weight_decay), bool(lr_decay)
        self.strong_convexity = float(strong_convexity)
        self.pretrain_steps, self.pretrain_tol, self.pretrain_blow = pretrain_steps, float(pretrain_tol), float(pretrain_blow)

    def settings(self) -> dict[str, Any]:
        return {
            "potential": self.potential, "hidden_sizes": self.hidden_sizes,
            "amortizer_hidden_sizes": self.amortizer_hidden_sizes, "activation": self.activation,
            "amortization": self.amortization, "finetune_iters": self.finetune_iters,
            "finetune_tol": self.finetune_tol, "lr": self.lr, "betas": list(self.betas),
            "weight_decay": self.weight_decay, "lr_decay": self.lr_decay,
            "strong_convexity": self.strong_convexity, "pretrain_steps": self.pretrain_steps,
            "pretrain_tol": self.pretrain_tol, "pretrain_blow": self.pretrain_blow,
        }

    # ------------------------------------------------------------------ networks
    def _build_networks(self, dim: int, dtype: torch.dtype, device: torch.device,
                        generator: torch.Generator | None) -> tuple[Potential, ResidualMap]:
        h_sizes = self.amortizer_hidden_sizes or default_mlp_sizes(dim)
        if self.potential == "icnn":
            f: Potential = DenseICNN(dim, hidden_sizes=self.hidden_sizes or default_hidden_sizes(dim),
                                     strong_convexity=self.strong_convexity, generator=generator,
                                     dtype=dtype, device=device)
        else:
            f = seeded(lambda: MLPPotential(dim, self.hidden_sizes or default_mlp_sizes(dim),
                                            activation=self.activation, quadratic=True), generator)
        amortizer = seeded(lambda: ResidualMap(dim, h_sizes, activation=self.activation), generator)
        return f.to(device=device, dtype=dtype), amortizer.to(device=device, dtype=dtype)

    # ------------------------------------------------------------------ training
    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int = 1024,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W2Result:
        """Train f and H for ``steps`` AdamW steps on minibatches of ``batch_size`` from each side.

        Raises :class:`~monge.errors.TrainingDiverged` (with ``.result`` holding the last parameters
        whose loss was finite) when a loss is not finite.
        """
        source, target = prepare_data(source, target, steps, batch_size, generator)
        f, amortizer = self._build_networks(source.dim, source.dtype, source.device, generator)
        history: dict[str, list[float]] = {"loss": [], "dual": [], "amortization": [], "finetune_iters": [],
                                           "w2_dual": []}
        if self.finetune_iters:
            history["residual"] = []                                   # mean ‖∇f(x̂) − y‖ after fine-tuning
        started = time.perf_counter()
        # ∇f ≈ id on noise covering both data sets (as W2GN)
        history["pretrain_mse"] = [pretrain_as_configured(self, f, source, target, batch_size, generator)]
        f_params, h_params = list(f.parameters()), list(amortizer.parameters())
        params = [*f_params, *h_params]
        opt = _adamw(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)
        schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=1e-4 * self.lr)
                    if self.lr_decay else None)
        solver = LBFGSConjugate(max_iter=self.finetune_iters, tol=self.finetune_tol) if self.finetune_iters else None

        def step(i: int) -> dict[str, float]:
            x, y = draw(source, target, batch_size, generator)
            loss, logs = self._loss(f, amortizer, f_params, solver, x, y)
            return update_if_finite(opt, loss, logs, schedule=schedule, convexify=(f,))

        return run_w2_training(self, steps=steps, params=params, step=step, history=history, forward=f,
                               inverse=amortizer, callback=callback, started=started, generator=generator,
                               data=(source, target),
                               state={"f": f, "amortizer": amortizer, "optimizer": opt, "schedule": schedule})

    def _loss(self, f: Potential, amortizer: ResidualMap, f_params: list[torch.Tensor],
              solver: LBFGSConjugate | None, x: torch.Tensor, y: torch.Tensor
              ) -> tuple[torch.Tensor, dict[str, float]]:
        """Dual objective + amortisation loss, and the step's logs (all computed before the update)."""
        nan = float("nan")
        x_init = amortizer(y)                                          # H(y), graph to H's parameters
        if not bool(torch.isfinite(x_init).all()):
            return x_init.sum(), {"loss": nan}
        if solver is not None:
            try:
                fine = conjugate(f, y, x0=x_init.detach(), solver=solver)
            except InvalidInputError:                                  # f is not finite at H(y)
                return x_init.sum(), {"loss": nan}
            x_hat, residual, iters = fine.argmax, float(fine.residual.mean()), float(fine.iterations)
        else:
            x_hat, residual, iters = x_init.detach(), nan, 0.0
        f_x = f(x)
        f_star = (x_hat * y).sum(1) - f(x_hat)                         # envelope theorem: x̂ constant
        dual = f_x.mean() + f_star.mean()
        if self.amortization == "regression":
            amort = (x_init - x_hat).square().sum(1).mean()
        else:
            with _frozen(f_params):                                    # the amortisation loss trains H only
                if self.amortization == "objective":
                    amort = (f(x_init) - (x_init * y).sum(1)).mean()
                else:                                                  # cycle
                    amort = (f.gradient(x_init) - y).square().sum(1).mean()
        loss = dual + amort
        with torch.no_grad():
            w2 = 0.5 * x.square().sum(1).mean() + 0.5 * y.square().sum(1).mean() - dual
        logs = {"loss": loss.item(), "dual": dual.item(), "amortization": amort.item(), "residual": residual,
                "finetune_iters": iters, "w2_dual": w2.item()}
        if solver is None:
            del logs["residual"]
        return loss, logs


class _frozen:
    """Context manager: the given parameters do not require gradients inside (graphs built there do not
    reach them)."""

    def __init__(self, params: list[torch.Tensor]):
        self.params = params

    def __enter__(self) -> None:
        self.flags = [p.requires_grad for p in self.params]
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc: Any) -> None:
        for p, flag in zip(self.params, self.flags):
            p.requires_grad_(flag)


def _adamw(params: list[torch.nn.Parameter], **kwargs: Any) -> torch.optim.AdamW:
    """AdamW with the fused kernel where the device supports it."""
    try:
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(params, **kwargs)
