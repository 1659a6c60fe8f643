"""Batched solvers of convex conjugates ψ̄(y) = max_x ⟨x, y⟩ − ψ(x) and of their argmax x*(y).

For a convex potential ψ, x*(y) = (∇ψ)⁻¹(y) = ∇ψ̄(y): the conjugate's argmax inverts the map ∇ψ.
Each row i of a batch is an independent smooth convex problem

    minimise  f_i(x) = ψ(x) − ⟨x, y_i⟩,      ∇f_i(x) = ∇ψ(x) − y_i,

and ψ̄(y_i) = −min f_i. Taghvaei & Jalali ("2-Wasserstein approximation via restricted convex potentials
with application to improved training for GANs", 2019) and Amos ("On amortizing convex conjugates for
optimal transport", ICLR 2023) solve these inner problems with L-BFGS; the W2 benchmark ("Do Neural
Optimal Transport Solvers Work?", Korotin et al., NeurIPS 2021) computes the true inverse map of its
ICNN pairs the same way. :class:`LBFGSConjugate` is a truly batched L-BFGS: every row keeps its own
curvature history, step size, line search and stopping state, so a row's answer does not depend on the
other rows of the batch (``torch.optim.LBFGS`` would couple them through one global line search).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable

import torch

from monge._checks import check_positive_int, check_samples
from monge.errors import DimensionMismatchError, InvalidInputError
from monge.nets.base import Potential

__all__ = ["ConjugateResult", "ConjugateSolver", "LBFGSConjugate", "AdamConjugate", "conjugate"]

ValueAndGradient = Callable[[torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"]


@dataclass(frozen=True)
class ConjugateResult:
    """Solution of a batch of conjugate problems (all tensors detached).

    Attributes:
        argmax: ``(n, d)`` x*(y), the maximiser of ⟨x, y⟩ − ψ(x) (≈ (∇ψ)⁻¹(y)).
        value: ``(n,)`` ψ̄(y) = ⟨x*, y⟩ − ψ(x*).
        iterations: iterations used (the maximum over the batch).
        residual: ``(n,)`` ‖∇ψ(x*) − y‖ (Euclidean norm) per point.
        converged: ``(n,)`` bool, ``residual <= tol``.
    """

    argmax: torch.Tensor
    value: torch.Tensor
    iterations: int
    residual: torch.Tensor
    converged: torch.Tensor


# ---------------------------------------------------------------------------------------------- helpers
def _check_tol(tol: object, name: str = "tol") -> float:
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (math.isfinite(tol) and tol > 0):
        raise InvalidInputError(f"{name} must be a finite positive number, got {tol!r}")
    return float(tol)


def _objective(potential: Any) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Return ``obj(x, y) -> (f, ∇f)`` with f = ψ(x) − ⟨x, y⟩, detached, keeping no parameter graph.

    A :class:`~monge.nets.base.Potential` runs under ``torch.no_grad()`` (its explicit gradient, or its
    autograd oracle, which enables grad on a detached copy of x by itself; if it raises a RuntimeError there,
    it is retried, and then always run, under ``torch.enable_grad()``). Any other object with
    ``value_and_gradient`` or plain callable may use autograd: it runs under ``torch.enable_grad()`` on a
    detached x, and its outputs are detached.
    """
    if isinstance(potential, Potential):
        fn, grad_mode = potential.value_and_gradient, torch.no_grad
    elif callable(getattr(potential, "value_and_gradient", None)):
        fn, grad_mode = potential.value_and_gradient, torch.enable_grad
    elif callable(potential):
        fn, grad_mode = potential, torch.enable_grad
    else:
        raise InvalidInputError(
            f"potential must have value_and_gradient(x) or be a callable f(x) -> (value, grad); "
            f"got {type(potential).__name__}")

    mode = [grad_mode]

    def obj(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            with mode[0]():
                out = fn(x.detach())
        except RuntimeError:
            if mode[0] is torch.enable_grad:
                raise
            mode[0] = torch.enable_grad  # a Potential whose own value_and_gradient needs grad mode
            with torch.enable_grad():
                out = fn(x.detach())
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise InvalidInputError("potential must return a pair (value (n,), grad (n, d))")
        value, grad = out
        if tuple(value.shape) != (x.shape[0],) or tuple(grad.shape) != tuple(x.shape):
            raise InvalidInputError(
                f"potential returned value {tuple(value.shape)} and grad {tuple(grad.shape)} for x of shape "
                f"{tuple(x.shape)}; expected ({x.shape[0]},) and {tuple(x.shape)}")
        value = value.detach().to(y.dtype)
        grad = grad.detach().to(y.dtype)
        return value - (x * y).sum(dim=1), grad - y

    return obj


def _result(x: torch.Tensor, f: torch.Tensor, g: torch.Tensor, iterations: int, tol: float) -> ConjugateResult:
    residual = g.norm(dim=1)
    return ConjugateResult(argmax=x.detach(), value=(-f).detach(), iterations=int(iterations),
                           residual=residual.detach(), converged=(residual <= tol).detach())


# ---------------------------------------------------------------------------------------------- solvers
class ConjugateSolver(ABC):
    """Solves the batch of conjugate problems max_x ⟨x, y_i⟩ − ψ(x), one per row of ``y``."""

    tol: float

    @abstractmethod
    def solve(self, potential: Any, y: torch.Tensor, x0: torch.Tensor | None = None) -> ConjugateResult:
        """Return the :class:`ConjugateResult` for ``y`` (n, d), starting at ``x0`` (default: ``y``)."""

    def _prepare(self, potential: Any, y: Any, x0: Any):
        dim = getattr(potential, "dim", None)
        y = check_samples(y, name="y", dim=dim if isinstance(dim, int) else None).detach()
        if x0 is None:
            x0 = y.clone()
        else:
            x0 = check_samples(x0, name="x0")
            if tuple(x0.shape) != tuple(y.shape):
                raise DimensionMismatchError(f"x0: expected shape {tuple(y.shape)} (that of y), got {tuple(x0.shape)}")
            x0 = x0.detach().to(dtype=y.dtype, device=y.device).clone()
        return _objective(potential), y, x0


class LBFGSConjugate(ConjugateSolver):
    """Batched L-BFGS with a per-row backtracking Armijo line search.

    Each row keeps its own history of the last ``history_size`` curvature pairs (s, Δg) (stored as
    ``(m, n, d)`` tensors), its own initial Hessian scale sᵀΔg / ΔgᵀΔg and its own step size. A pair with
    non-positive sᵀΔg is skipped for that row (stored as an inert zero pair, so the window is the last
    ``history_size`` iterations). The line search starts at step 1 (capped so that the step is at most
    ``max_step`` long) and halves the step of every row that fails the Armijo test
    f(x + t p) ≤ f(x) + c₁ t ∇fᵀp; rows that pass stop shrinking. Near the optimum, where float rounding
    hides the decrease of f, the step is also accepted under the "approximate Wolfe" test of Hager & Zhang
    (2005): f(x + t p) ≤ f(x) + ε|f(x)| and ∇f(x + t p)ᵀp ≤ (1 − 2c₁)|∇f(x)ᵀp|. A row whose line search
    fails drops its history and retries along −∇f; a row that fails along −∇f stops (not converged).
    Rows with ‖∇ψ(x) − y‖ ≤ ``tol`` are frozen; the loop stops when every row is frozen or after
    ``max_iter`` iterations. Only unfrozen rows are evaluated.

    Args:
        max_iter: maximum number of iterations (each costs ≥ 1 evaluation of ψ and ∇ψ on the active rows).
        tol: convergence threshold on the Euclidean residual ‖∇ψ(x) − y‖ per row.
        history_size: number m of curvature pairs kept per row.
        max_step: optional cap on the length ‖t p‖ of each step (a trust region for wild potentials).
    """

    c1 = 1e-4
    max_backtracks = 40

    def __init__(self, *, max_iter: int = 200, tol: float = 1e-6, history_size: int = 10,
                 max_step: float | None = None):
        self.max_iter = check_positive_int(max_iter, "max_iter")
        self.tol = _check_tol(tol)
        self.history_size = check_positive_int(history_size, "history_size")
        self.max_step = None if max_step is None else _check_tol(max_step, "max_step")

    def __repr__(self) -> str:
        return (f"LBFGSConjugate(max_iter={self.max_iter}, tol={self.tol:g}, history_size={self.history_size}, "
                f"max_step={self.max_step})")

    def solve(self, potential: Any, y: torch.Tensor, x0: torch.Tensor | None = None) -> ConjugateResult:
        obj, y, x = self._prepare(potential, y, x0)
        with torch.no_grad():
            return self._solve(obj, y, x)

    def _solve(self, obj, y: torch.Tensor, x: torch.Tensor) -> ConjugateResult:
        n, d = y.shape
        m, tol = self.history_size, self.tol
        eps = torch.finfo(y.dtype).eps
        f, g = obj(x, y)
        if not bool(torch.isfinite(f).all() and torch.isfinite(g).all()):
            raise InvalidInputError("potential is not finite at the starting points x0")
        S = y.new_zeros(m, n, d)          # steps s = x_{k+1} − x_k
        Yg = y.new_zeros(m, n, d)         # gradient changes Δg = g_{k+1} − g_k
        rho = y.new_zeros(m, n)           # 1 / sᵀΔg, 0 for an empty or skipped slot
        gamma = y.new_ones(n)             # initial inverse-Hessian scale per row
        stalled = torch.zeros(n, dtype=torch.bool, device=y.device)
        active = (g.norm(dim=1) > tol).nonzero().squeeze(1)
        iterations = 0
        while active.numel() > 0 and iterations < self.max_iter:
            slot = iterations % m
            iterations += 1
            full = active.numel() == n
            a = slice(None) if full else active
            xa, fa, ga, ya = x[a], f[a], g[a], y[a]
            Sa, Ya, rhoa = S[:, a], Yg[:, a], rho[:, a]

            # Two-loop recursion, newest pair first (slots slot-1, slot-2, ... modulo m).
            order = [(slot - 1 - j) % m for j in range(min(iterations - 1, m))]
            q = ga.clone()
            alphas = {}
            for j in order:
                alphas[j] = rhoa[j] * (Sa[j] * q).sum(dim=1)
                q -= alphas[j].unsqueeze(1) * Ya[j]
            r = gamma[a].unsqueeze(1) * q
            for j in reversed(order):
                beta = rhoa[j] * (Ya[j] * r).sum(dim=1)
                r += Sa[j] * (alphas[j] - beta).unsqueeze(1)
            p = -r
            gp = (ga * p).sum(dim=1)
            has_history = (rhoa != 0).any(dim=0)
            bad = ~(gp < 0) | ~torch.isfinite(gp)
            if bool(bad.any()):           # not a descent direction: steepest descent, history dropped
                p[bad] = -ga[bad]
                gp = torch.where(bad, -(ga * ga).sum(dim=1), gp)
                has_history = has_history & ~bad
                self._reset_rows(rho, gamma, active[bad] if not full else bad.nonzero().squeeze(1))

            # Vectorised backtracking line search (rows that pass stop shrinking).
            t = torch.ones_like(gp)
            if self.max_step is not None:
                t = torch.clamp(self.max_step / p.norm(dim=1).clamp_min(torch.finfo(y.dtype).tiny), max=1.0)
            f_slack = 100 * eps * (1 + fa.abs())
            searching = torch.ones_like(gp, dtype=torch.bool)
            x_new, f_new, g_new = xa.clone(), fa.clone(), ga.clone()
            for _ in range(self.max_backtracks):
                s_idx = searching.nonzero().squeeze(1)
                if s_idx.numel() == 0:
                    break
                ts = t[s_idx].unsqueeze(1)
                xt = xa[s_idx] + ts * p[s_idx]
                ft, gt = obj(xt, ya[s_idx])
                f0, gp0 = fa[s_idx], gp[s_idx]
                armijo = ft <= f0 + self.c1 * ts.squeeze(1) * gp0
                approx = (ft <= f0 + f_slack[s_idx]) & ((gt * p[s_idx]).sum(dim=1) <= (1 - 2 * self.c1) * gp0.abs())
                ok = (armijo | approx) & torch.isfinite(ft) & torch.isfinite(gt).all(dim=1)
                acc = s_idx[ok]
                x_new[acc], f_new[acc], g_new[acc] = xt[ok], ft[ok], gt[ok]
                searching[acc] = False
                t[s_idx[~ok]] *= 0.5
            failed = searching
            moved = ~failed

            # Curvature pairs (skipped per row when sᵀΔg is not positive).
            s = x_new - xa
            dg = g_new - ga
            sy = (s * dg).sum(dim=1)
            yy = (dg * dg).sum(dim=1)
            good = moved & (sy > eps * s.norm(dim=1) * dg.norm(dim=1)) & (yy > 0)
            goodc = good.unsqueeze(1)
            S[slot, a] = torch.where(goodc, s, torch.zeros_like(s))
            Yg[slot, a] = torch.where(goodc, dg, torch.zeros_like(dg))
            rho[slot, a] = torch.where(good, 1.0 / torch.where(good, sy, torch.ones_like(sy)), torch.zeros_like(sy))
            gamma[a] = torch.where(good, sy / torch.where(good, yy, torch.ones_like(yy)), gamma[a])

            if bool(failed.any()):
                rows = active[failed] if not full else failed.nonzero().squeeze(1)
                self._reset_rows(rho, gamma, rows)
                stuck = failed & ~has_history      # failed along −∇f: give up on the row
                stalled[active[stuck] if not full else stuck.nonzero().squeeze(1)] = True

            x[a], f[a], g[a] = x_new, f_new, g_new
            done = (g_new.norm(dim=1) <= tol) | stalled[active]
            active = active[~done]
        return _result(x, f, g, iterations, tol)

    @staticmethod
    def _reset_rows(rho: torch.Tensor, gamma: torch.Tensor, rows: torch.Tensor) -> None:
        rho[:, rows] = 0
        gamma[rows] = 1


class AdamConjugate(ConjugateSolver):
    """Batched Adam (β = (0.9, 0.999)) on f_i(x) = ψ(x) − ⟨x, y_i⟩, each row with its own moments and
    step count; rows whose residual ‖∇ψ(x) − y‖ reaches ``tol`` are frozen.

    A cheap, robust but slow baseline (the inner solver of several amortised-conjugate methods,
    Amos 2023); prefer :class:`LBFGSConjugate` when accuracy matters.
    """

    betas = (0.9, 0.999)
    eps = 1e-8

    def __init__(self, *, lr: float = 1e-2, max_iter: int = 2000, tol: float = 1e-4):
        self.lr = _check_tol(lr, "lr")
        self.max_iter = check_positive_int(max_iter, "max_iter")
        self.tol = _check_tol(tol)

    def __repr__(self) -> str:
        return f"AdamConjugate(lr={self.lr:g}, max_iter={self.max_iter}, tol={self.tol:g})"

    def solve(self, potential: Any, y: torch.Tensor, x0: torch.Tensor | None = None) -> ConjugateResult:
        obj, y, x = self._prepare(potential, y, x0)
        with torch.no_grad():
            b1, b2 = self.betas
            f, g = obj(x, y)
            m1, m2 = torch.zeros_like(x), torch.zeros_like(x)
            active = (g.norm(dim=1) > self.tol).nonzero().squeeze(1)
            iterations = 0
            while active.numel() > 0 and iterations < self.max_iter:
                iterations += 1
                ga = g[active]
                m1a = b1 * m1[active] + (1 - b1) * ga
                m2a = b2 * m2[active] + (1 - b2) * ga * ga
                step = self.lr * (m1a / (1 - b1 ** iterations)) / ((m2a / (1 - b2 ** iterations)).sqrt() + self.eps)
                xa = x[active] - step
                fa, ga = obj(xa, y[active])
                x[active], f[active], g[active], m1[active], m2[active] = xa, fa, ga, m1a, m2a
                active = active[ga.norm(dim=1) > self.tol]
            return _result(x, f, g, iterations, self.tol)


# ---------------------------------------------------------------------------------------------- entry point
def conjugate(potential: Any, y: Any, *, x0: Any = None, solver: ConjugateSolver | None = None,
              batch_size: int | None = None) -> ConjugateResult:
    """Convex conjugate ψ̄(y) = max_x ⟨x, y⟩ − ψ(x) and its argmax x*(y) = (∇ψ)⁻¹(y), row by row.

    ``potential`` is a :class:`~monge.nets.base.Potential` (or any object with ``value_and_gradient``) or a
    callable ``f(x) -> (value (n,), grad (n, d))``. ``solver`` defaults to :class:`LBFGSConjugate()`
    (as in Taghvaei & Jalali 2019, Amos 2023, and the W2 benchmark's inverse maps, Korotin et al. 2021).
    ``x0`` (default ``y``, the identity warm start) is the starting point; ``batch_size`` solves ``y`` in
    chunks of that many rows to bound memory (``iterations`` is then the maximum over chunks).

    >>> import torch
    >>> A = torch.tensor([[2.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
    >>> quadratic = lambda x: (0.5 * ((x @ A) * x).sum(1), x @ A)
    >>> res = conjugate(quadratic, torch.tensor([[2.0, 4.0]], dtype=torch.float64))
    >>> res.argmax.round(decimals=6).tolist(), round(res.value.item(), 8), bool(res.converged.all())
    ([[1.0, 1.0]], 3.0, True)
    """
    if solver is None:
        solver = LBFGSConjugate()
    elif not isinstance(solver, ConjugateSolver):
        raise InvalidInputError(f"solver must be a ConjugateSolver, got {type(solver).__name__}")
    y = check_samples(y, name="y")
    if x0 is not None:
        x0 = check_samples(x0, name="x0")
        if tuple(x0.shape) != tuple(y.shape):
            raise DimensionMismatchError(f"x0: expected shape {tuple(y.shape)} (that of y), got {tuple(x0.shape)}")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    if batch_size is None or batch_size >= y.shape[0]:
        return solver.solve(potential, y, x0)
    parts = [solver.solve(potential, y[i:i + batch_size], None if x0 is None else x0[i:i + batch_size])
             for i in range(0, y.shape[0], batch_size)]
    return ConjugateResult(
        argmax=torch.cat([r.argmax for r in parts]),
        value=torch.cat([r.value for r in parts]),
        iterations=max(r.iterations for r in parts),
        residual=torch.cat([r.residual for r in parts]),
        converged=torch.cat([r.converged for r in parts]),
    )
