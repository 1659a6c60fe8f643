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

__all__ = ["SmoothMaxQuadraticsPair"]

CALIBRATION_SAMPLES = 2**14
"""Samples used to estimate m = E_P ∇φ and the scale s (smooth-max family)."""
COST_SAMPLES = 2**16
"""Samples used to estimate the true cost ½E‖x − T(x)‖² and the target moments."""


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**32:
        raise InvalidInputError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)


def _check_positive_float(value: Any, name: str) -> float:
    number = not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer))
    if not number or not math.isfinite(float(value)) or float(value) <= 0:
        raise InvalidInputError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


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


# =========================================================================================== registry
def _register(prefix: str, cls: Any, description: str) -> None:
    """Register pair family ``prefix`` (``prefix:<dim>``) built by ``cls(dim, seed, dtype=, device=)``, once."""
    from monge.pairs.registry import _FAMILIES, parse_dim, register_pair_family

    def factory(arg: str, *, seed: int, dtype: torch.dtype, device: str | torch.device, root: Any = None) -> Any:
        return cls(parse_dim(prefix, arg), seed, dtype=dtype, device=device)

    if prefix not in _FAMILIES:
        register_pair_family(prefix, factory, description=description)


_register("smoothmax", SmoothMaxQuadraticsPair, (
    "monge's own construction: standardised 3-Gaussian mixture pushed by the gradient of τ·logsumexp of 8 random "
    "strongly convex quadratics (not an ICNN), standardised like the W2 benchmark; motivated by its remark that all "
    "its maps are ICNN gradients (Korotin et al., NeurIPS 2021). Inverse via the conjugate solver."))
