"""Taghvaei & Jalali (2019): one input-convex potential, its conjugate solved on every batch.

"2-Wasserstein approximation via restricted convex potentials with application to improved training for
GANs", arXiv:1902.07197 (2019); the W2 benchmark's [MMv1] (``MMv1_test_hd_benchmark.ipynb``, Korotin et
al., NeurIPS 2021), whose defaults are used: Adam lr 1e-3, DenseICNN widths
``[max(2D, 64), max(2D, 64), max(D, 32)]``, rank 1, strong convexity 1e-4, identity pre-training on
3·N(0, I), convexify after each step, conjugate solved to tolerance 1e-3.

With ψ convex, ½W2²(P, Q) = ½E‖x‖² + ½E‖y‖² − min_ψ {E_P ψ(x) + E_Q ψ̄(y)}, ψ̄(y) = max_x ⟨x, y⟩ − ψ(x).
On every batch the argmax x*(y) = (∇ψ)⁻¹(y) is found with :func:`monge.conjugate.conjugate` (batched
L-BFGS, warm-started at y); by the envelope theorem the gradient of E_Q ψ̄(y) in the parameters is
−E_Q ∇θψ(x*(y)) with x* held fixed, so the loss is E_P ψ(x) − E_Q ψ(x*(y)) (plus the constant
E_Q⟨x*, y⟩, which is logged but carries no gradient).

``direction="forward"`` learns ψ on the source: forward map ∇ψ, inverse (∇ψ)⁻¹ by conjugate at
evaluation. ``direction="reverse"`` learns ψ on the target (P and Q exchanged): inverse map ∇ψ, forward
map by conjugate at evaluation. The benchmark notebook trains both directions with two independent
potentials; one potential here gives both maps.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import torch

from monge.conjugate import AdamConjugate, LBFGSConjugate, conjugate
from monge.nets.base import Potential, build_network, register_network
from monge.nets.icnn import DenseICNN
from monge.solvers.base import Callback, W2Result, W2Solver, register_solver
from monge.solvers.common import (adam, check_betas, check_choice, check_hidden_sizes, check_int, check_number,
                                  prepare_data, update_if_finite)
from monge.solvers.loop import run_w2_training
from monge.solvers.w2.makkuva import PretrainedICNNOptions
from monge.solvers.w2.w2gn import default_hidden_sizes


@register_network
class ConjugateMap(Potential):
    """The convex conjugate ψ̄ of a convex potential ψ, evaluated by batched L-BFGS: ``gradient(y)`` is
    (∇ψ)⁻¹(y) = argmax_x ⟨x, y⟩ − ψ(x) and ``forward(y)`` is ψ̄(y). Not differentiable in the parameters
    (evaluation only). Saved and loaded like any network (its state dict is that of ψ under ``potential.``).

    Args:
        potential: the convex potential ψ (a module, or its ``config()`` dict when loading).
        max_iter: L-BFGS iterations per point (200).
        tol: residual tolerance ‖∇ψ(x) − y‖ (1e-5).
    """

    is_convex = True

    def __init__(self, potential: Any, *, max_iter: int = 200, tol: float = 1e-5):
        super().__init__()
        self.potential = build_network(potential) if isinstance(potential, dict) else potential
        self.dim = int(self.potential.dim)
        self.max_iter, self.tol = int(max_iter), float(tol)

    def _solve(self, y: torch.Tensor):
        return conjugate(self.potential, y, solver=LBFGSConjugate(max_iter=self.max_iter, tol=self.tol))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self._solve(y).value

    def value_and_gradient(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        res = self._solve(y)
        if not (torch.is_grad_enabled() and y.requires_grad):
            return res.value, res.argmax
        return self._differentiable_in_y(y, res.argmax.detach())

    def _differentiable_in_y(self, y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ψ̄(y) and x*(y) with derivatives in ``y`` (implicit function theorem): ∂x*/∂y = ∇²ψ(x*)⁻¹, ∇ψ̄(y) = x*.

        One Newton step x* − H⁻¹(∇ψ(x*) − y), with x* and the Hessian H held constant, has the value x* (up
        to the solve's residual, which it reduces) and exactly that derivative in y.
        """
        with torch.enable_grad():
            x_ = x.detach().requires_grad_(True)
            value_at_x, grad = self.potential.value_and_gradient(x_)
            hessian = torch.stack([torch.autograd.grad(grad[:, k].sum(), x_, retain_graph=k + 1 < self.dim)[0]
                                   for k in range(self.dim)], dim=1)
        step = torch.linalg.solve(hessian.detach(), (grad.detach() - y).unsqueeze(-1)).squeeze(-1)
        return (x * y).sum(dim=1) - value_at_x.detach(), x - step

    def config(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "potential": self.potential.config(), "max_iter": self.max_iter,
                "tol": self.tol}


@register_solver("mm-1")
class TaghvaeiJalali(PretrainedICNNOptions, W2Solver):
    """One ICNN ψ, conjugate argmax solved per batch (Taghvaei & Jalali 2019; the benchmark's [MMv1]).

    Loss E_P ψ(x) − E_Q ψ(x*(y)), x*(y) = argmax_x ⟨x, y⟩ − ψ(x) by batched L-BFGS from x₀ = y.

    Args:
        direction: ``"forward"`` (ψ on the source: forward map ∇ψ, inverse by conjugate) or ``"reverse"``
            (ψ on the target: inverse map ∇ψ, forward by conjugate). Default ``"forward"``.
        hidden_sizes: DenseICNN widths; default ``[max(2D, 64), max(2D, 64), max(D, 32)]`` (benchmark).
        lr: Adam learning rate (1e-3, benchmark ``LR``).
        betas: Adam betas ((0.9, 0.999), PyTorch default as in the notebook).
        conjugate_solver: ``"lbfgs"`` (default, batched L-BFGS) or ``"adam"`` (the notebook's Adam, lr 0.1).
        conjugate_iters: maximum iterations of the per-batch conjugate solve (50 for L-BFGS; the
            notebook's Adam uses up to 1000, ``INV_MAX_ITER``).
        conjugate_tol: residual tolerance ‖∇ψ(x) − y‖ of the solve (1e-3, notebook ``INV_TOL``).
        eval_conjugate_iters: L-BFGS iterations of the conjugate map returned in the result (200).
        eval_conjugate_tol: its tolerance (1e-5).
        rank: rank of the convex-quadratic layers (1).
        activation: ``"celu"`` (default) or ``"softplus"``.
        strong_convexity: β of ψ (1e-4, benchmark).
        init_std: initial weight std (0.05).
        pretrain_steps: identity pre-training steps (1000, as W2GN; 0 = none).
        pretrain_tol: pre-training stops below this mean squared error (1e-3).
        pretrain_blow: pre-training noise scale (3.0, benchmark ``blow=3``).
    """

    paper = ("A. Taghvaei, A. Jalali. 2-Wasserstein approximation via restricted convex potentials with "
             "application to improved training for GANs. arXiv:1902.07197, 2019")
    smoke_options = {"hidden_sizes": [16, 16, 8], "pretrain_steps": 20, "conjugate_iters": 10,
                     "eval_conjugate_iters": 50}

    def __init__(self, *, direction: str = "forward", hidden_sizes: Sequence[int] | None = None, lr: float = 1e-3,
                 betas: Sequence[float] = (0.9, 0.999), conjugate_solver: str = "lbfgs", conjugate_iters: int = 50,
                 conjugate_tol: float = 1e-3, eval_conjugate_iters: int = 200, eval_conjugate_tol: float = 1e-5,
                 rank: int = 1, activation: str = "celu", strong_convexity: float = 1e-4, init_std: float = 0.05,
                 pretrain_steps: int = 1000, pretrain_tol: float = 1e-3, pretrain_blow: float = 3.0):
        who = "TaghvaeiJalali"
        self.direction = check_choice(who, "direction", direction, ("forward", "reverse"))
        self.hidden_sizes = check_hidden_sizes(who, hidden_sizes)
        self.lr = check_number(who, "lr", lr, positive=True)
        self.betas = check_betas(who, betas)
        self.conjugate_solver = check_choice(who, "conjugate_solver", conjugate_solver, ("lbfgs", "adam"))
        self.conjugate_iters = check_int(who, "conjugate_iters", conjugate_iters, minimum=1)
        self.conjugate_tol = check_number(who, "conjugate_tol", conjugate_tol, positive=True)
        self.eval_conjugate_iters = check_int(who, "eval_conjugate_iters", eval_conjugate_iters, minimum=1)
        self.eval_conjugate_tol = check_number(who, "eval_conjugate_tol", eval_conjugate_tol, positive=True)
        self.rank = check_int(who, "rank", rank, minimum=1)
        self.activation = check_choice(who, "activation", activation, ("celu", "softplus"))
        self._set_icnn_options(who, strong_convexity=strong_convexity, init_std=init_std, pretrain_steps=pretrain_steps,
                               pretrain_tol=pretrain_tol, pretrain_blow=pretrain_blow)

    def settings(self) -> dict[str, Any]:
        return {"direction": self.direction, "hidden_sizes": self.hidden_sizes, "lr": self.lr,
                "betas": list(self.betas), "conjugate_solver": self.conjugate_solver,
                "conjugate_iters": self.conjugate_iters, "conjugate_tol": self.conjugate_tol,
                "eval_conjugate_iters": self.eval_conjugate_iters, "eval_conjugate_tol": self.eval_conjugate_tol,
                "rank": self.rank, "activation": self.activation, **self._icnn_settings()}

    def _solver(self):
        if self.conjugate_solver == "adam":
            return AdamConjugate(lr=0.1, max_iter=self.conjugate_iters, tol=self.conjugate_tol)
        return LBFGSConjugate(max_iter=self.conjugate_iters, tol=self.conjugate_tol)

    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int = 1024,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W2Result:
        """Train ψ for ``steps`` Adam steps, solving the conjugate of ψ on each target batch.

        Raises :class:`~monge.errors.TrainingDiverged` (with the last finite parameters) on a non-finite loss.
        """
        source, target = prepare_data(source, target, steps, batch_size, generator)
        dim, dtype, device = source.dim, source.dtype, source.device
        # ψ lives on ``first``; its conjugate is solved on ``second``.
        first, second = (source, target) if self.direction == "forward" else (target, source)
        psi = DenseICNN(dim, self.hidden_sizes or default_hidden_sizes(dim), rank=self.rank,
                        activation=self.activation, strong_convexity=self.strong_convexity,
                        init_std=self.init_std, generator=generator, dtype=dtype, device=device)
        history: dict[str, list[float]] = {"loss": [], "w2_dual": [], "conjugate_residual": []}
        started = time.perf_counter()
        self._pretrain(psi, history, "pretrain_mse", source, target, batch_size, generator)
        opt = adam(list(psi.parameters()), lr=self.lr, betas=self.betas)
        solver = self._solver()
        psi_bar = ConjugateMap(psi, max_iter=self.eval_conjugate_iters, tol=self.eval_conjugate_tol)

        fwd, inv = (psi, psi_bar) if self.direction == "forward" else (psi_bar, psi)

        def step(i: int) -> dict[str, float]:
            x = first.sample(batch_size, generator)
            y = second.sample(batch_size, generator)
            res = conjugate(psi, y, x0=y, solver=solver)
            x_star = res.argmax
            psi_x, psi_star = psi(x), psi(x_star)
            loss = psi_x.mean() - psi_star.mean()
            with torch.no_grad():
                value = psi_x.mean() + ((x_star * y).sum(1) - psi_star).mean()   # E ψ(x) + E ψ̄(y)
                dual = 0.5 * x.square().sum(1).mean() + 0.5 * y.square().sum(1).mean() - value
            logs = {"loss": value.item(), "w2_dual": dual.item(), "conjugate_residual": res.residual.mean().item()}
            return update_if_finite(opt, loss, logs, convexify=(psi,))

        return run_w2_training(self, steps=steps, params=list(psi.parameters()), step=step, history=history,
                               forward=fwd, inverse=inv, callback=callback, started=started, generator=generator,
                               data=(source, target), state={"psi": psi, "optimizer": opt})
