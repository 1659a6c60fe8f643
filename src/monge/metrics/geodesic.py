"""How far a distribution is from the W2 geodesic between two Gaussians (McCann's interpolation, closed form).

W2GAN's central claim (Leygonie et al., "Adversarial Computation of Optimal Transport Maps", 2019) is that its
generator's distribution moves along the W2 geodesic from the source P to the target Q during training. Between
Gaussians P = N(0, Σs) and Q = N(m, A Σs A) with optimal map T*(x) = A x + m, McCann's interpolant is

    μ_t = ((1 − t)·id + t·T*)♯P = N(t·m, M_t Σs M_t),   M_t = (1 − t) I + t A,   t ∈ [0, 1],

and W2(μ_s, μ_t) = |s − t|·W2(P, Q). :func:`geodesic_distance` fits a Gaussian to samples y (their mean and
covariance), finds the closest point μ_t* of the geodesic in the Bures–Wasserstein distance (W2 between
Gaussians, :func:`monge.metrics.frechet.frechet_distance_gaussians`), and reports the distance divided by
W2(P, Q): 0 on the geodesic, and t* says how far along it the samples are. Only the first two moments count, which
for Gaussian pairs is the whole story on the geodesic (every μ_t is Gaussian) and a lower bound elsewhere.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from monge._checks import check_samples
from monge.errors import DimensionMismatchError, InvalidInputError
from monge.metrics.frechet import frechet_distance_gaussians


def mccann_moments(pair: Any, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of μ_t = ((1 − t)·id + t·T*)♯P for a :class:`~monge.pairs.GaussianPair`."""
    matrix, source_cov = _gaussian_parts(pair)
    m_t = (1.0 - t) * np.eye(pair.dim) + t * matrix
    cov = m_t @ source_cov @ m_t.T
    return t * pair.target_mean.numpy(), 0.5 * (cov + cov.T)


def geodesic_distance(samples: Any, pair: Any) -> dict[str, float]:
    """Distance of the Gaussian fit of ``samples`` (n, D) to the W2 geodesic from ``pair.source`` to
    ``pair.target`` (a :class:`~monge.pairs.GaussianPair`).

    Returns ``t`` (the closest point's position, 0 = source, 1 = target), ``w2_to_geodesic`` (W2 to μ_t),
    ``relative`` (that over W2(P, Q), the number to read: 0 on the geodesic), ``w2_to_target`` and
    ``w2_source_target`` (both Bures–Wasserstein, in the data's units).

    Raises:
        InvalidInputError: ``samples`` are not finite, have fewer than 2 rows, or ``pair`` has no closed form.
        DimensionMismatchError: the samples' dimension is not the pair's.
    """
    matrix, _ = _gaussian_parts(pair)
    y = check_samples(samples, name="samples", dim=pair.dim).detach().to("cpu", torch.float64).numpy()
    if len(y) < 2:
        raise InvalidInputError(f"samples: need at least 2 rows to fit a covariance, got {len(y)}")
    mean = y.mean(axis=0)
    cov = np.atleast_2d(np.cov(y, rowvar=False))

    def squared(t: float) -> float:
        return frechet_distance_gaussians(mean, cov, *mccann_moments(pair, t))

    grid = np.linspace(0.0, 1.0, 21)
    values = [squared(float(t)) for t in grid]
    k = int(np.argmin(values))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    best = minimize_scalar(squared, bounds=(float(lo), float(hi)), method="bounded", options={"xatol": 1e-5})
    t_star, d2 = (float(best.x), float(best.fun)) if best.fun <= values[k] else (float(grid[k]), values[k])
    total = math.sqrt(2.0 * pair.true_cost)
    distance = math.sqrt(max(d2, 0.0))
    return {"t": t_star, "w2_to_geodesic": distance, "relative": distance / total if total > 0 else float("nan"),
            "w2_to_target": math.sqrt(squared(1.0)), "w2_source_target": total}


def _gaussian_parts(pair: Any) -> tuple[np.ndarray, np.ndarray]:
    matrix = getattr(pair, "forward_matrix", None)
    source_cov = getattr(pair, "source_cov", None)
    if matrix is None or source_cov is None or not hasattr(pair, "target_mean"):
        raise InvalidInputError(f"the W2 geodesic is in closed form only for Gaussian pairs (GaussianPair); got "
                                f"{type(pair).__name__}")
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (pair.dim, pair.dim):
        raise DimensionMismatchError(f"pair's map has shape {matrix.shape}, expected ({pair.dim}, {pair.dim})")
    return matrix, np.asarray(source_cov, dtype=np.float64)


__all__ = ["geodesic_distance", "mccann_moments"]
