"""W2 ground-truth pairs whose true maps are gradients of convex functions that are *not* ICNNs.

The continuous W2 benchmark of Korotin et al. ("Do Neural Optimal Transport Solvers Work? A Continuous
Wasserstein-2 Benchmark", NeurIPS 2021) builds every true map as the gradient of an input-convex neural
network, and its authors note that this may favour ICNN-based solvers. The two families here are monge's
own constructions (not from a paper), built to remove that bias while keeping the benchmark's
standardisation, so that L2-UVP numbers are comparable:

* :class:`SmoothMaxQuadraticsPair` (``smoothmax:<dim>``): φ(x) = τ·logsumexp_k((½xᵀA_k x + b_kᵀx + c_k)/τ), a
  smooth maximum of random strongly convex quadratics, pushed from a standardised 3-component Gaussian
  mixture. The inverse map is computed by the conjugate solver (:mod:`monge.conjugate`).
* :class:`SeparableMonotonePair` (``separable:<dim>``): ψ(x) = Σ_i φ_i(⟨r_i, x⟩) with a random rotation
  R = [r_1 … r_D] and φ_i' the increasing (quantile) map from N(0, 1) to a bimodal 1-D Gaussian mixture;
  source N(0, I), so the target is a rotated product of bimodal mixtures. Forward and inverse are exact.

Common recipe: for a convex φ with exact gradient, the true potential is ψ*(x) = s·(φ(x) − ⟨m, x⟩) with
m = E_P ∇φ and s chosen so that the average per-coordinate variance of ∇ψ*♯P is 1, and the target is
Q = ∇ψ*♯P (a :class:`~monge.samplers.PushForward`). All randomness comes from private
``np.random.RandomState(seed)`` / ``torch.Generator`` objects (never the global RNGs). Maps are computed in
float64 (float32 on devices without float64) and returned in the input's dtype.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.stats import ortho_group

from monge._checks import check_positive_int, check_samples
from monge.errors import InvalidInputError
from monge.pairs.base import BenchmarkPair, Moments

__all__ = ["SeparableMonotonePair", "SmoothMaxQuadraticsPair"]

CALIBRATION_SAMPLES = 2**14
"""Samples used to estimate m = E_P ∇φ and the scale s (smooth-max family)."""
COST_SAMPLES = 2**16
"""Samples used to estimate the true cost ½E‖x − T(x)‖² and the target moments."""


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**32:
        raise InvalidInputError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)


def _check_positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise InvalidInputError(f"{name} must be a positive number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise InvalidInputError(f"{name} must be a positive finite number, got {value!r}")
    return v


def _rotation(dim: int, rs: np.random.RandomState) -> np.ndarray:
    if dim == 1:
        return np.array([[1.0 if rs.rand() < 0.5 else -1.0]])
    return np.asarray(ortho_group.rvs(dim, random_state=rs), dtype=np.float64)


def _work_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def _check_points(x: Any, dim: int, name: str) -> torch.Tensor:
    """Shape/dtype check without data-dependent control flow (usable under torch.func transforms)."""
    if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
        raise InvalidInputError(f"{name}: expected a floating-point tensor of shape (n, {dim})")
    if x.ndim != 2 or x.shape[1] != dim:
        return check_samples(x, name=name, dim=dim)  # raises the standard error
    return x


class _ConvexPotentialPair(BenchmarkPair):
    """Shared machinery: ψ*(x) = s·(φ(x) − ⟨m, x⟩), T = ∇ψ*, target = T♯P, cost and moments from a sample."""

    cost_samples: int = COST_SAMPLES

    def _setup(self, name: str, source, *, seed: int, dtype: torch.dtype, device: torch.device) -> None:
        from monge.samplers import PushForward

        self.seed = seed
        self._dtype, self._device = dtype, device
        target = PushForward(source, self.true_forward, dtype=dtype, device=device)
        BenchmarkPair.__init__(self, name, source, target)
        self._cost: float | None = None
        self._param_cache: dict[tuple[str, torch.dtype], dict[str, torch.Tensor]] = {}

    # ---------------------------------------------------------------- subclass hooks
    def _params64(self) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _raw_value_and_grad(self, x: torch.Tensor, p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """φ(x), ∇φ(x) before standardisation, differentiable, in x's dtype."""
        raise NotImplementedError  # pragma: no cover

    def _params(self, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        key = (str(device), dtype)
        if key not in self._param_cache:
            self._param_cache[key] = {k: v.to(device=device, dtype=dtype) for k, v in self._params64().items()}
        return self._param_cache[key]

    def _standardised(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self._params(x.device, x.dtype)
        value, grad = self._raw_value_and_grad(x, p)
        s, m = p["scale"], p["shift"]
        return s * (value - x @ m), s * (grad - m)

    # ---------------------------------------------------------------- public API
    def potential_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ψ*(x), ∇ψ*(x)) for ``x`` of shape ``(n, dim)``, differentiable (autograd and torch.func)."""
        x = _check_points(x, self.dim, "x")
        return self._standardised(x)

    def potential(self, x: torch.Tensor) -> torch.Tensor:
        """The convex potential ψ*(x), shape ``(n,)``; ∇ψ* is the true map."""
        return self.potential_and_gradient(x)[0]

    def true_forward(self, x: torch.Tensor) -> torch.Tensor:
        """T(x) = ∇ψ*(x), computed in float64 and returned in ``x``'s dtype."""
        x = check_samples(x, name="x", dim=self.dim)
        work = _work_dtype(x.device)
        with torch.no_grad():
            grad = self._forward_work(x.detach().to(work))
        return grad.to(x.dtype)

    def _forward_work(self, x: torch.Tensor) -> torch.Tensor:
        return self._standardised(x)[1]

    def _cost_sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator(device="cpu").manual_seed(self._cost_seed)
        x = self.source.sample(self.cost_samples, generator=gen).to("cpu", torch.float64)
        return x, self.true_forward(x)

    def _compute_cost_and_moments(self) -> None:
        x, y = self._cost_sample()
        self._cost = float(0.5 * ((x - y) ** 2).sum(dim=1).mean())
        yn = y.numpy()
        ms, cs = self._source_moments()
        self._moments_cache: Moments = (ms, cs, yn.mean(axis=0), np.atleast_2d(np.cov(yn, rowvar=False)))

    @property
    def true_cost(self) -> float:
        """½·W2²(P, Q) = ½E‖x − T(x)‖², estimated once from 2^16 private-seeded source samples (float64)."""
        if self._cost is None:
            self._compute_cost_and_moments()
        return float(self._cost)

    def _moments(self) -> Moments:
        """Exact source moments; target moments from the same 2^16-sample push-forward as the cost."""
        if getattr(self, "_moments_cache", None) is None:
            self._compute_cost_and_moments()
        return self._moments_cache

    def _source_moments(self) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError


# =========================================================================================== smooth max
class SmoothMaxQuadraticsPair(_ConvexPotentialPair):
    """Smooth maximum of random strongly convex quadratics, pushed from a standardised Gaussian mixture.

    φ(x) = τ·logsumexp_k(q_k(x)/τ) with q_k(x) = ½xᵀA_k x + b_kᵀx + c_k, k = 1..K. Each A_k = Q_k diag(λ_k) Q_kᵀ
    has a Haar-random rotation Q_k and eigenvalues λ log-uniform in [0.5, 2]; b_k ~ N(0, b_scale²·I),
    c_k ~ N(0, c_scale²·D). ∇φ(x) = Σ_k softmax_k(q(x)/τ)·(A_k x + b_k) (exact); φ is convex as a
    log-sum-exp of convex functions, and strongly convex (∇²φ ⪰ 0.5·I), so ∇ψ* is invertible with a
    Lipschitz inverse. The default temperature τ = ½√D keeps the softmax mixing comparable across D.

    Source P: a 3-component Gaussian mixture (uniform weights, isotropic components of standard deviation
    σ, means drawn N(0, I)), shifted to zero mean and scaled to unit average per-coordinate variance, both
    exactly. True potential ψ*(x) = s·(φ(x) − ⟨m, x⟩) with m, s estimated from 2^14 private-seeded source
    samples; target Q = ∇ψ*♯P. The inverse map ∇ψ̄ = (∇ψ*)⁻¹ is computed by :func:`monge.conjugate.conjugate`
    (L-BFGS, residual ‖∇ψ*(x) − y‖ ≤ 1e-9 in float64, at most 1000 iterations; pass ``inverse_solver`` to
    change it) warm-started at the linear (Bures) inverse; the last solve's
    :class:`~monge.conjugate.ConjugateResult` is kept in ``last_inverse_result``.

    This family is monge's own construction (not from a paper), motivated by the NeurIPS 2021 W2 benchmark's
    remark that all its true maps are ICNN gradients.
    """

    def __init__(self, dim: int, seed: int = 0, *, n_quadratics: int = 8, temperature: float | None = None,
                 b_scale: float = 2.0, c_scale: float = 1.0, mixture_std: float = 0.5,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                 inverse_solver: Any = None):
        from monge.samplers import GaussianMixture

        dim = check_positive_int(dim, "dim")
        seed = _check_seed(seed)
        n_quadratics = check_positive_int(n_quadratics, "n_quadratics")
        tau = 0.5 * math.sqrt(dim) if temperature is None else _check_positive_float(temperature, "temperature")
        b_scale = _check_positive_float(b_scale, "b_scale")
        c_scale = _check_positive_float(c_scale, "c_scale")
        mixture_std = _check_positive_float(mixture_std, "mixture_std")
        device = torch.device(device)
        self.n_quadratics, self.temperature = n_quadratics, tau
        self.inverse_solver = inverse_solver

        rs = np.random.RandomState(seed)
        # Source: standardised 3-component mixture (exact mean 0, average per-coordinate variance 1).
        means = rs.randn(3, dim)
        means -= means.mean(axis=0)
        spread = mixture_std**2 + float((means**2).sum(axis=1).mean()) / dim
        means /= math.sqrt(spread)
        std = mixture_std / math.sqrt(spread)
        self._source_mean = np.zeros(dim)
        self._source_cov = std**2 * np.eye(dim) + means.T @ means / 3.0
        # Potential parameters.
        mats = []
        for _ in range(n_quadratics):
            q = _rotation(dim, rs)
            lam = np.exp(rs.uniform(np.log(0.5), np.log(2.0), size=dim))
            mats.append(0.5 * ((q * lam) @ q.T + ((q * lam) @ q.T).T))
        a = np.stack(mats)
        b = b_scale * rs.randn(n_quadratics, dim)
        c = c_scale * math.sqrt(dim) * rs.randn(n_quadratics)
        calib_seed, self._cost_seed = (int(v) for v in rs.randint(0, 2**31 - 1, size=2))
        self._p64 = {"a": torch.from_numpy(a), "b": torch.from_numpy(b), "c": torch.from_numpy(c),
                     "tau": torch.tensor(tau, dtype=torch.float64),
                     "scale": torch.tensor(1.0, dtype=torch.float64), "shift": torch.zeros(dim, dtype=torch.float64)}

        source = GaussianMixture(torch.from_numpy(means), std=std, dtype=dtype, device=device)
        self._setup(f"smoothmax:{dim}", source, seed=seed, dtype=dtype, device=device)

        # Standardisation: m = E_P ∇φ, s = 1 / sqrt(average per-coordinate variance of ∇φ♯P).
        gen = torch.Generator(device="cpu").manual_seed(calib_seed)
        x = source.sample(CALIBRATION_SAMPLES, generator=gen).to("cpu", torch.float64)
        with torch.no_grad():
            g = self._raw_value_and_grad(x, self._p64)[1]
        shift = g.mean(dim=0)
        scale = 1.0 / math.sqrt(float(g.var(dim=0).mean()))
        self._p64["shift"], self._p64["scale"] = shift, torch.tensor(scale, dtype=torch.float64)
        self._param_cache.clear()
        self.shift, self.scale = shift.clone(), scale

    def _params64(self) -> dict[str, torch.Tensor]:
        return self._p64

    def _source_moments(self) -> tuple[np.ndarray, np.ndarray]:
        return self._source_mean.copy(), self._source_cov.copy()

    @staticmethod
    def _raw_value_and_grad(x: torch.Tensor, p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        ax = torch.einsum("kde,ne->nkd", p["a"], x)  # A_k symmetric
        lin = ax + p["b"]  # (n, K, D): ∇q_k(x)
        q = 0.5 * (ax * x[:, None, :]).sum(-1) + x @ p["b"].T + p["c"]  # (n, K)
        z = q / p["tau"]
        value = p["tau"] * torch.logsumexp(z, dim=1)
        weights = torch.softmax(z, dim=1)
        grad = (weights[:, :, None] * lin).sum(dim=1)
        return value, grad

    def true_inverse(self, y: torch.Tensor) -> torch.Tensor:
        """T⁻¹(y) = argmax_x ⟨x, y⟩ − ψ*(x), by :func:`monge.conjugate.conjugate` (float64), from the linear inverse."""
        from monge.conjugate import conjugate

        y = check_samples(y, name="y", dim=self.dim)
        work = _work_dtype(y.device)
        y64 = y.detach().to(work)
        x0 = self.baseline_inverse("linear")(y64)
        solver = self.inverse_solver
        if solver is None:
            from monge.conjugate import LBFGSConjugate

            solver = LBFGSConjugate(max_iter=1000, tol=1e-9 if work == torch.float64 else 1e-4)
        result = conjugate(self._standardised, y64, x0=x0, solver=solver)
        self.last_inverse_result = result
        return result.argmax.detach().to(y.dtype)

    def __repr__(self) -> str:
        return (f"SmoothMaxQuadraticsPair(dim={self.dim}, seed={self.seed}, n_quadratics={self.n_quadratics}, "
                f"temperature={self.temperature:.4g})")


# =========================================================================================== separable
def _composite_gauss_legendre(panels: int, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of composite Gauss–Legendre quadrature on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(order)
    nodes = np.concatenate([(j + 0.5 * (x + 1.0)) / panels for j in range(panels)])
    return nodes, np.tile(0.5 * w / panels, panels)


# 16 panels × 12 nodes: G is analytic but has complex singularities close to the real axis (where the
# mixture density is small), so one high-order rule converges slowly; this gives ~1e-12 for |t| ≤ 4.
_QUAD_NODES, _QUAD_WEIGHTS = _composite_gauss_legendre(16, 12)


class SeparableMonotonePair(_ConvexPotentialPair):
    """Rotated separable potential whose 1-D derivatives are quantile maps onto bimodal mixtures.

    Source P = N(0, I). With a Haar-random rotation R = [r_1 … r_D] (``scipy.stats.ortho_group``, private
    RandomState), ψ*(x) = Σ_i φ_i(⟨r_i, x⟩) where φ_i' = G_i = F_i⁻¹∘Φ is the increasing map pushing N(0, 1)
    onto a two-component 1-D Gaussian mixture F_i (per coordinate: weight w ∈ [0.3, 0.7], component means
    ±(0.8…1.3) and standard deviations 0.35…0.55 before standardisation, so every mixture is clearly bimodal).
    Each mixture is standardised exactly to mean 0 and variance v_i, with v_i ∝ exp(linspace(log ¼, log 4, D))
    normalised to average 1, so m = 0, s = 1 exactly and Cov(Q) = R diag(v) Rᵀ (a non-trivial linear baseline).
    ∇ψ*(x) = R G(Rᵀx) and ∇²ψ*(x) = R diag(G'(Rᵀx)) Rᵀ ⪰ 0 with G'(t) = ϕ(t)/f(G(t)).

    G is computed by a vectorised bisection on the mixture CDF in float64 (the bracket
    [min_k(μ_k + σ_k t), max_k(μ_k + σ_k t)] is exact) followed by Newton steps, using survival functions
    for t > 0 so the upper tail keeps full precision; the last two Newton steps are differentiable and give
    exact first and second derivatives. The inverse is analytic: T⁻¹(y) = R Φ⁻¹(F(Rᵀy)).
    :meth:`potential` evaluates φ_i(t) = t∫₀¹G_i(ut)du by composite Gauss–Legendre quadrature (16 panels × 12
    nodes, ≈ 1e-12 for |t| ≤ 4; for tests and the conjugate solver — the maps never use it).

    This family is monge's own construction (not from a paper), motivated by the NeurIPS 2021 W2 benchmark's
    remark that all its true maps are ICNN gradients.
    """

    n_newton: int = 3
    _table_range: float = 12.0
    _table_size: int = 2049

    def __init__(self, dim: int, seed: int = 0, *, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu"):
        from monge.samplers import StandardNormal

        dim = check_positive_int(dim, "dim")
        seed = _check_seed(seed)
        device = torch.device(device)
        rs = np.random.RandomState(seed)
        rot = _rotation(dim, rs)
        w = rs.uniform(0.35, 0.65, size=dim)
        weights = np.stack([w, 1.0 - w], axis=1)
        sep = rs.uniform(0.75, 1.0, size=(dim, 2)) * np.array([-1.0, 1.0])
        sds = rs.uniform(0.4, 0.5, size=(dim, 2))
        variances = np.exp(np.linspace(np.log(0.25), np.log(4.0), dim))
        variances = variances / variances.mean()
        if dim > 1:
            variances = variances[rs.permutation(dim)]
        mean = (weights * sep).sum(axis=1, keepdims=True)
        var = (weights * (sds**2 + sep**2)).sum(axis=1, keepdims=True) - mean**2
        factor = np.sqrt(variances[:, None] / var)
        mus = (sep - mean) * factor
        sds = sds * factor
        _, self._cost_seed = (int(v) for v in rs.randint(0, 2**31 - 1, size=2))

        self.rotation = torch.from_numpy(rot)
        self.component_weights = torch.from_numpy(weights)
        self.component_means = torch.from_numpy(mus)
        self.component_stds = torch.from_numpy(sds)
        self.coordinate_variances = torch.from_numpy(variances)
        self.dim = dim
        self._p64 = {"rot": self.rotation, "w": self.component_weights, "mu": self.component_means,
                     "sd": self.component_stds, "scale": torch.tensor(1.0, dtype=torch.float64),
                     "shift": torch.zeros(dim, dtype=torch.float64)}
        self._p64["table"] = self._build_table(self._p64)
        self._target_cov = (rot * variances) @ rot.T
        self._target_cov = 0.5 * (self._target_cov + self._target_cov.T)
        self.shift, self.scale = torch.zeros(dim, dtype=torch.float64), 1.0

        source = StandardNormal(dim, dtype=dtype, device=device)
        self._setup(f"separable:{dim}", source, seed=seed, dtype=dtype, device=device)

    def _params64(self) -> dict[str, torch.Tensor]:
        return self._p64

    def _source_moments(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.dim), np.eye(self.dim)

    def _moments(self) -> Moments:
        """All exact: P = N(0, I); Q has mean 0 and covariance R diag(v) Rᵀ."""
        return np.zeros(self.dim), np.eye(self.dim), np.zeros(self.dim), self._target_cov.copy()

    # -------------------------------------------------------------- 1-D quantile maps
    @staticmethod
    def _mixture_terms(v: torch.Tensor, sgn: torch.Tensor, p: dict[str, torch.Tensor]):
        """Σ_k w_k Φ(sgn·(v − μ_k)/σ_k) (the CDF if sgn = 1, the survival function if −1) and the density."""
        z = (v[..., None] - p["mu"]) / p["sd"]  # (n, D, 2)
        cdf = (p["w"] * torch.special.ndtr(sgn[..., None] * z)).sum(-1)
        dens = (p["w"] * torch.exp(-0.5 * z * z) / (p["sd"] * math.sqrt(2.0 * math.pi))).sum(-1)
        return cdf, dens

    def _quantile(self, t: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        """G(t) = F⁻¹(Φ(t)) coordinatewise for t of shape (n, D); differentiable twice in t.

        Start: linear interpolation in a table of exact values on t ∈ [−12, 12] (spacing ≈ 0.006; outside,
        the bracket midpoint); then safeguarded Newton steps (a step leaving the shrinking bracket is replaced
        by bisection); then two differentiable Newton steps from the detached root, which give exact first and
        second derivatives (the Newton map has zero derivative in v at the root).
        """
        td = t.detach()
        sgn = torch.where(td > 0, -torch.ones_like(td), torch.ones_like(td))
        target_p = torch.special.ndtr(-td.abs())

        def g(v, tt_p):  # increasing in v, zero at G(t)
            cdf, dens = self._mixture_terms(v, sgn, p)
            return sgn * (cdf - tt_p), dens

        cand = p["mu"] + p["sd"] * td[..., None]
        lo, hi = cand.min(-1).values, cand.max(-1).values
        table = p["table"]
        n_grid = table.shape[0]
        pos = (td + self._table_range) / (2.0 * self._table_range) * (n_grid - 1)
        idx = pos.floor().clamp(0, n_grid - 2)
        frac = pos - idx
        idx = idx.long()
        v0 = torch.gather(table, 0, idx) * (1 - frac) + torch.gather(table, 0, idx + 1) * frac
        inside = (pos >= 0) & (pos <= n_grid - 1)
        v = torch.where(inside, v0, 0.5 * (lo + hi))
        v = torch.minimum(torch.maximum(v, lo), hi)
        for _ in range(self.n_newton):
            val, dens = g(v, target_p)
            below = val < 0
            lo, hi = torch.where(below, v, lo), torch.where(below, hi, v)
            step = v - val / dens
            ok = (step >= lo) & (step <= hi)
            v = torch.where(ok, step, 0.5 * (lo + hi))
        tp = torch.special.ndtr(-t.abs())
        for _ in range(2):
            val, dens = g(v, tp)
            v = v - val / dens
        return v

    def _build_table(self, p: dict[str, torch.Tensor]) -> torch.Tensor:
        """Exact G on a uniform grid of [−12, 12] (bisection to float64 resolution), shape (n_grid, D)."""
        t = torch.linspace(-self._table_range, self._table_range, self._table_size, dtype=torch.float64)
        t = t[:, None].expand(-1, self.dim)
        sgn = torch.where(t > 0, -torch.ones_like(t), torch.ones_like(t))
        target_p = torch.special.ndtr(-t.abs())
        cand = p["mu"] + p["sd"] * t[..., None]
        lo, hi = cand.min(-1).values, cand.max(-1).values
        for _ in range(56):
            mid = 0.5 * (lo + hi)
            below = sgn * (self._mixture_terms(mid, sgn, p)[0] - target_p) < 0
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        return 0.5 * (lo + hi)

    def _quantile_derivative(self, t: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        """G'(t) = ϕ(t) / f(G(t))."""
        v = self._quantile(t.detach(), p)
        _, dens = self._mixture_terms(v, torch.ones_like(v), p)
        return torch.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi) / dens

    def _forward_work(self, x: torch.Tensor) -> torch.Tensor:
        p = self._params(x.device, x.dtype)
        return self._quantile(x @ p["rot"], p) @ p["rot"].T

    def _raw_value_and_grad(self, x: torch.Tensor, p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        t = x @ p["rot"]  # t_i = ⟨r_i, x⟩
        grad = self._quantile(t, p) @ p["rot"].T
        nodes = torch.as_tensor(_QUAD_NODES, dtype=x.dtype, device=x.device)
        wts = torch.as_tensor(_QUAD_WEIGHTS, dtype=x.dtype, device=x.device)
        n, d = t.shape
        tq = (t[:, None, :] * nodes[None, :, None]).reshape(n * nodes.shape[0], d)
        gq = self._quantile(tq, p).reshape(n, nodes.shape[0], d)
        value = (t * (wts[None, :, None] * gq).sum(1)).sum(-1)
        return value, grad

    def hessian(self, x: torch.Tensor) -> torch.Tensor:
        """∇²ψ*(x) = R diag(G'(Rᵀx)) Rᵀ, shape ``(n, dim, dim)`` (analytic)."""
        x = check_samples(x, name="x", dim=self.dim)
        work = _work_dtype(x.device)
        p = self._params(x.device, work)
        with torch.no_grad():
            dg = self._quantile_derivative(x.detach().to(work) @ p["rot"], p)
            h = torch.einsum("ij,nj,kj->nik", p["rot"], dg, p["rot"])
        return h.to(x.dtype)

    def true_inverse(self, y: torch.Tensor) -> torch.Tensor:
        """T⁻¹(y) = R Φ⁻¹(F(Rᵀy)) coordinatewise (exact; survival functions above the median)."""
        y = check_samples(y, name="y", dim=self.dim)
        work = _work_dtype(y.device)
        p = self._params(y.device, work)
        with torch.no_grad():
            z = y.detach().to(work) @ p["rot"]
            cdf, _ = self._mixture_terms(z, torch.ones_like(z), p)
            sf, _ = self._mixture_terms(z, -torch.ones_like(z), p)
            t = torch.where(cdf <= 0.5, torch.special.ndtri(cdf), -torch.special.ndtri(sf))
            x = t @ p["rot"].T
        return x.to(y.dtype)

    def __repr__(self) -> str:
        return f"SeparableMonotonePair(dim={self.dim}, seed={self.seed})"


# =========================================================================================== registry
def _smoothmax_factory(arg: str, *, seed: int, dtype: torch.dtype, device: str | torch.device,
                       root: Any = None) -> SmoothMaxQuadraticsPair:
    from monge.pairs.registry import parse_dim

    return SmoothMaxQuadraticsPair(parse_dim("smoothmax", arg), seed, dtype=dtype, device=device)


def _separable_factory(arg: str, *, seed: int, dtype: torch.dtype, device: str | torch.device,
                       root: Any = None) -> SeparableMonotonePair:
    from monge.pairs.registry import parse_dim

    return SeparableMonotonePair(parse_dim("separable", arg), seed, dtype=dtype, device=device)


def _register() -> None:
    from monge.pairs.registry import _FAMILIES, register_pair_family

    if "smoothmax" not in _FAMILIES:
        register_pair_family(
            "smoothmax", _smoothmax_factory,
            description=("monge's own construction: standardised 3-Gaussian mixture pushed by the gradient of "
                         "τ·logsumexp of 8 random strongly convex quadratics (not an ICNN), standardised like "
                         "the W2 benchmark; motivated by its remark that all its maps are ICNN gradients "
                         "(Korotin et al., NeurIPS 2021). Inverse via the conjugate solver."))
    if "separable" not in _FAMILIES:
        register_pair_family(
            "separable", _separable_factory,
            description=("monge's own construction: N(0, I) pushed by a rotated separable convex gradient whose "
                         "1-D parts are quantile maps onto bimodal mixtures (not an ICNN); exact map and "
                         "inverse. Motivated by the W2 benchmark's remark that all its maps are ICNN gradients "
                         "(Korotin et al., NeurIPS 2021)."))


_register()
