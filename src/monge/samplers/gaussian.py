"""Gaussian samplers: the standard normal, a general Gaussian and Gaussian mixtures.

Covariances are validated (finite, symmetric, positive semi-definite) and factorised once, in float64, at
construction: a Cholesky factor when the covariance is positive definite, otherwise a square-root factor
from its eigen-decomposition (so singular PSD covariances, e.g. a Gaussian on a line, are allowed).
Sampling then only needs standard normal draws, taken from the ``generator`` passed to ``sample``.
"""

from __future__ import annotations

from typing import Any

import torch

from monge._checks import check_parameter
from monge.errors import InvalidInputError
from monge.samplers.base import Sampler

# Relative tolerances used to accept a covariance: asymmetry up to _SYM_RTOL * max|C| and eigenvalues
# down to -_PSD_RTOL * max|eigenvalue| (float32 round-off on a singular covariance stays well inside).
_SYM_RTOL = 1e-5
_PSD_RTOL = 1e-6


# ---------------------------------------------------------------------------------------------------------
# Helpers shared by every sampler module (private).
# ---------------------------------------------------------------------------------------------------------


def _resolve_dtype(dtype: Any, like: Any = None) -> torch.dtype:
    """Return ``dtype`` checked to be floating; ``None`` means ``like``'s floating dtype if a tensor, else float32."""
    if dtype is None:
        if isinstance(like, torch.Tensor) and torch.is_floating_point(like):
            return like.dtype
        return torch.float32
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InvalidInputError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    return dtype


def _resolve_device(device: Any, like: Any = None) -> torch.device:
    """Return ``device`` as a :class:`torch.device`; ``None`` means ``like``'s device if a tensor, else CPU."""
    if device is None:
        return like.device if isinstance(like, torch.Tensor) else torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"device: cannot interpret {device!r} as a torch device") from exc


def _rng_device(sampler: Sampler, generator: torch.Generator | None) -> torch.device:
    """Device to draw random numbers on: the generator's when one is given, else the sampler's."""
    return generator.device if generator is not None else sampler.device


def _param(x: Any, name: str, *, ndim: int) -> torch.Tensor:
    """Convert a distribution parameter to a finite float64 CPU tensor with ``ndim`` axes, naming it on error."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            t = torch.as_tensor(x)
        except Exception as exc:  # noqa: BLE001 - any conversion failure is a bad input
            raise InvalidInputError(f"{name}: expected a tensor or array, got {type(x).__name__}") from exc
    if t.is_complex() or not (t.is_floating_point() or t.dtype in _REAL_INT_DTYPES):
        raise InvalidInputError(f"{name}: expected real numbers, got dtype {t.dtype}")
    return check_parameter(t.to(device="cpu", dtype=torch.float64), name, ndim=ndim)


_REAL_INT_DTYPES = {torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64}


def _cov_factor(cov: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a float64 ``(d, d)`` covariance; return ``(symmetrised cov, factor A with A A^T = cov)``.

    ``A`` is the lower Cholesky factor when ``cov`` is positive definite, else ``V diag(sqrt(λ'))`` from the
    eigen-decomposition ``cov = V diag(λ) V^T``, where eigenvalues below ``d · eps · λ_max`` (rounding noise,
    whose sign and size depend on the LAPACK path a processor takes) count as zero: a singular covariance gives
    samples exactly in its range on every machine.
    """
    scale = float(cov.abs().max())
    asym = float((cov - cov.T).abs().max())
    if asym > _SYM_RTOL * max(scale, 1e-300):
        raise InvalidInputError(f"{name} is not symmetric (max |C - C^T| = {asym:.3g})")
    cov = (cov + cov.T) / 2
    eigvals, eigvecs = torch.linalg.eigh(cov)
    lam_max = float(eigvals.abs().max())
    lam_min = float(eigvals.min())
    if lam_min < -_PSD_RTOL * lam_max:
        raise InvalidInputError(
            f"{name} is not positive semi-definite (smallest eigenvalue {lam_min:.3g}, largest {lam_max:.3g})"
        )
    zero = cov.shape[0] * torch.finfo(cov.dtype).eps * lam_max
    chol, info = torch.linalg.cholesky_ex(cov)
    if int(info) == 0 and lam_min > zero and bool(torch.isfinite(chol).all()):
        return cov, chol
    return cov, eigvecs * torch.where(eigvals > zero, eigvals, torch.zeros_like(eigvals)).sqrt()


# ---------------------------------------------------------------------------------------------------------
# Samplers.
# ---------------------------------------------------------------------------------------------------------


class StandardNormal(Sampler):
    """The standard normal distribution N(0, I) on R^dim.

    Args:
        dim: dimension (positive int).
        dtype: floating dtype of the samples.
        device: device of the samples.
    """

    def __init__(self, dim: int, *, dtype: torch.dtype = torch.float32, device: Any = "cpu"):
        from monge._checks import check_positive_int

        self.dim = check_positive_int(dim, "dim")
        self.dtype = _resolve_dtype(dtype)
        self.device = _resolve_device(device)

    @property
    def mean(self) -> torch.Tensor:
        """The mean, a zero vector of shape ``(dim,)``."""
        return torch.zeros(self.dim, dtype=self.dtype, device=self.device)

    @property
    def cov(self) -> torch.Tensor:
        """The covariance, the ``(dim, dim)`` identity."""
        return torch.eye(self.dim, dtype=self.dtype, device=self.device)

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(n, self.dim, generator=generator, device=_rng_device(self, generator), dtype=self.dtype)


class Gaussian(Sampler):
    """A Gaussian N(mean, cov) on R^d, with a possibly singular positive semi-definite covariance.

    Samples are ``mean + A z`` with ``z ~ N(0, I)`` and ``A A^T = cov``; ``A`` is computed in float64 (Cholesky,
    or an eigen-decomposition square root when ``cov`` is singular) and stored in the sampler's dtype.

    Args:
        mean: ``(d,)`` tensor/array, finite.
        cov: ``(d, d)`` tensor/array, finite, symmetric, positive semi-definite.
        factor: instead of ``cov``, a finite ``(d, d)`` matrix A with cov = A Aᵀ: samples are ``mean + A z`` with
            no decomposition at all (what a construction that already knows a factor passes; O(d²) set-up).
        dtype: floating dtype of the samples; defaults to ``mean``'s dtype if it is a floating tensor, else
            float32.
        device: device of the samples; defaults to ``mean``'s device if it is a tensor, else CPU.

    Attributes:
        mean: ``(d,)`` tensor (sampler dtype, on its device).
        cov: ``(d, d)`` symmetrised covariance (sampler dtype, on its device; built from ``factor`` on first access).

    Raises:
        InvalidInputError: naming ``mean`` or ``cov`` when they are not finite, have the wrong shape, or ``cov``
            is not symmetric positive semi-definite.
    """

    def __init__(self, mean: Any, cov: Any = None, *, factor: Any = None, dtype: torch.dtype | None = None,
                 device: Any = None):
        self.dtype = _resolve_dtype(dtype, like=mean)
        self.device = _resolve_device(device, like=mean)
        mean64 = _param(mean, "mean", ndim=1)
        d = mean64.shape[0]
        if (cov is None) == (factor is None):
            raise InvalidInputError("Gaussian: give exactly one of cov (d, d) or factor (d, d) with cov = factor factorᵀ")
        name, given = ("cov", cov) if factor is None else ("factor", factor)
        given64 = _param(given, name, ndim=2)
        if tuple(given64.shape) != (d, d):
            raise InvalidInputError(
                f"{name}: expected shape ({d}, {d}) to match mean of shape ({d},), got {tuple(given64.shape)}"
            )
        if factor is None:
            cov64, factor64 = _cov_factor(given64, "cov")
            self._cov: torch.Tensor | None = cov64.to(device=self.device, dtype=self.dtype)
        else:  # no decomposition: the covariance is built only if asked for
            factor64, self._cov = given64, None
        self.dim = d
        self.mean = mean64.to(device=self.device, dtype=self.dtype)
        self._factor = factor64.to(device=self.device, dtype=self.dtype)

    @property
    def cov(self) -> torch.Tensor:
        """``(d, d)`` covariance in the sampler's dtype (from ``factor`` on first access when built from one)."""
        if self._cov is None:
            self._cov = self._factor @ self._factor.T
        return self._cov

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        dev = _rng_device(self, generator)
        z = torch.randn(n, self.dim, generator=generator, device=dev, dtype=self.dtype)
        return torch.addmm(self.mean.to(dev), z, self._factor.to(dev).T)

    def __repr__(self) -> str:
        return f"Gaussian(dim={self.dim}, dtype={self.dtype}, device={self.device})"


class GaussianMixture(Sampler):
    """A finite mixture of Gaussians ``sum_j w_j N(means[j], covs[j])`` on R^d.

    Each sample first draws its component with ``torch.multinomial`` (probabilities ``weights``), then a
    Gaussian draw from that component.

    Args:
        means: ``(k, d)`` component means.
        covs: ``(k, d, d)`` component covariances (each symmetric PSD). Give exactly one of ``covs`` and ``std``.
        std: isotropic standard deviation(s): a non-negative float shared by all components, or a ``(k,)``
            tensor/array (component ``j`` has covariance ``std[j]**2 * I``).
        weights: ``(k,)`` non-negative weights with a positive sum (normalised); uniform when ``None``.
        dtype: floating dtype of the samples; defaults to ``means``'s dtype if it is a floating tensor, else
            float32.
        device: device of the samples; defaults to ``means``'s device if it is a tensor, else CPU.

    Attributes:
        means: ``(k, d)``; weights: ``(k,)`` normalised; std: ``(k,)`` or ``None`` when ``covs`` was given;
        covs: ``(k, d, d)`` (built on access for isotropic mixtures); n_components: ``k``.
    """

    def __init__(
        self,
        means: Any,
        covs: Any = None,
        *,
        std: Any = None,
        weights: Any = None,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ):
        self.dtype = _resolve_dtype(dtype, like=means)
        self.device = _resolve_device(device, like=means)
        means64 = _param(means, "means", ndim=2)
        k, d = means64.shape
        if (covs is None) == (std is None):
            raise InvalidInputError("GaussianMixture: give exactly one of covs (k, d, d) or std (float or (k,))")

        factors64 = None
        std64 = None
        if covs is not None:
            covs64 = _param(covs, "covs", ndim=3)
            if tuple(covs64.shape) != (k, d, d):
                raise InvalidInputError(
                    f"covs: expected shape ({k}, {d}, {d}) to match means of shape ({k}, {d}), "
                    f"got {tuple(covs64.shape)}"
                )
            pairs = [_cov_factor(covs64[j], f"covs[{j}]") for j in range(k)]
            covs64 = torch.stack([c for c, _ in pairs])
            factors64 = torch.stack([f for _, f in pairs])
        else:
            std64 = _param(std, "std", ndim=0) if _is_scalar(std) else _param(std, "std", ndim=1)
            if std64.ndim == 0:
                std64 = std64.expand(k).clone()
            if tuple(std64.shape) != (k,):
                raise InvalidInputError(
                    f"std: expected a float or shape ({k},) to match {k} means, got {tuple(std64.shape)}"
                )
            if bool((std64 < 0).any()):
                raise InvalidInputError(f"std: must be non-negative, got min {float(std64.min()):.3g}")

        if weights is None:
            w64 = torch.full((k,), 1.0 / k, dtype=torch.float64)
        else:
            w64 = _param(weights, "weights", ndim=1)
            if tuple(w64.shape) != (k,):
                raise InvalidInputError(f"weights: expected shape ({k},) to match {k} means, got {tuple(w64.shape)}")
            if bool((w64 < 0).any()):
                raise InvalidInputError(f"weights: must be non-negative, got min {float(w64.min()):.3g}")
            total = float(w64.sum())
            if total <= 0:
                raise InvalidInputError("weights: must have a positive sum, got 0")
            w64 = w64 / total

        self.dim = d
        self.n_components = k
        to = dict(device=self.device, dtype=self.dtype)
        self.means = means64.to(**to)
        self.weights = w64.to(**to)
        self.std = std64.to(**to) if std64 is not None else None
        self._covs = covs64.to(**to) if covs is not None else None
        self._factors = factors64.to(**to) if factors64 is not None else None

    @property
    def covs(self) -> torch.Tensor:
        """The ``(k, d, d)`` component covariances."""
        if self._covs is not None:
            return self._covs
        eye = torch.eye(self.dim, dtype=self.dtype, device=self.device)
        return self.std[:, None, None] ** 2 * eye

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        dev = _rng_device(self, generator)
        idx = torch.multinomial(self.weights.to(dev), n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, device=dev, dtype=self.dtype)
        means = self.means.to(dev)
        if self._factors is None:
            return means[idx] + self.std.to(dev)[idx, None] * z
        factors = self._factors.to(dev)
        out = torch.empty_like(z)
        counts = torch.bincount(idx, minlength=self.n_components).tolist()
        for j, count in enumerate(counts):
            if count:
                rows = torch.nonzero(idx == j).squeeze(1)
                out.index_copy_(0, rows, torch.addmm(means[j], z.index_select(0, rows), factors[j].T))
        return out

    def __repr__(self) -> str:
        return (
            f"GaussianMixture(n_components={self.n_components}, dim={self.dim}, "
            f"dtype={self.dtype}, device={self.device})"
        )


def _is_scalar(x: Any) -> bool:
    """True for a Python number or a 0-d tensor/array."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return True
    return getattr(x, "ndim", None) == 0
