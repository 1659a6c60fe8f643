"""Fréchet distance between two feature sets: the squared W2 distance between their fitted Gaussians.

For feature sets X and Y with means m1, m2 and covariances S1, S2 the distance is

    d²_F = ‖m1 − m2‖² + tr(S1 + S2 − 2 (S1^{1/2} S2 S1^{1/2})^{1/2}),

the closed-form W2² between N(m1, S1) and N(m2, S2) (Dowson & Landau, "The Fréchet distance between
multivariate normal distributions", J. Multivariate Analysis, 1982). With Inception features it is the FID of
Heusel, Ramsauer, Unterthiner, Nessler & Hochreiter, "GANs Trained by a Two Time-Scale Update Rule Converge to
a Local Nash Equilibrium" (NeurIPS 2017); Korotin et al., "Wasserstein-2 Generative Networks" (ICLR 2021),
§5.2, score latent-space generation with it. monge scores digits with the features of a small classifier
trained in the run (:mod:`monge.apps.digits`), so its numbers are not comparable with Inception FIDs.

Everything is computed in float64. The matrix square roots come from symmetric eigendecompositions
(:func:`monge.pairs.base.psd_sqrt`, the one monge uses for its Bures maps): S1^{1/2} S2 S1^{1/2} is symmetric
positive semi-definite, so this is exact where ``scipy.linalg.sqrtm`` of the non-symmetric S1 S2 (the usual
FID code) needs a Schur decomposition and can return small imaginary parts.
"""

from __future__ import annotations

import numpy as np
import torch

from monge._checks import check_samples
from monge.errors import DimensionMismatchError, InvalidInputError
from monge.pairs.base import psd_sqrt


def gaussian_moments(x: torch.Tensor, *, name: str = "x") -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and unbiased covariance ``(d, d)`` of the rows of ``x`` (float64 numpy arrays).

    Raises :class:`InvalidInputError` naming ``name`` for NaN/inf, a bad shape, or fewer than two rows.
    """
    x = check_samples(x, name=name)
    if x.shape[0] < 2:
        raise InvalidInputError(f"{name}: need at least 2 samples to estimate a covariance, got {x.shape[0]}")
    arr = x.detach().to(device="cpu", dtype=torch.float64).numpy()
    mean = arr.mean(axis=0)
    centred = arr - mean
    cov = centred.T @ centred / (arr.shape[0] - 1)
    return mean, 0.5 * (cov + cov.T)


def frechet_distance_gaussians(mean1: np.ndarray, cov1: np.ndarray, mean2: np.ndarray, cov2: np.ndarray) -> float:
    """‖m1 − m2‖² + tr(S1 + S2 − 2 (S1^{1/2} S2 S1^{1/2})^{1/2}): W2² between N(m1, S1) and N(m2, S2).

    The covariances must be symmetric positive semi-definite (tiny negative eigenvalues from rounding are
    clipped to 0). The result is clipped at 0, since rounding can make it slightly negative for equal inputs.
    """
    m1, m2 = np.asarray(mean1, dtype=np.float64), np.asarray(mean2, dtype=np.float64)
    s1, s2 = np.asarray(cov1, dtype=np.float64), np.asarray(cov2, dtype=np.float64)
    d = m1.shape[0]
    if m1.shape != (d,) or m2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise DimensionMismatchError(f"Gaussian parameters disagree: means {m1.shape}, {m2.shape}; "
                                     f"covariances {s1.shape}, {s2.shape}")
    for name, value in (("mean1", m1), ("cov1", s1), ("mean2", m2), ("cov2", s2)):
        if not np.isfinite(value).all():
            raise InvalidInputError(f"{name} contains NaN or inf")
    s1_half = psd_sqrt(s1)
    cross = psd_sqrt(s1_half @ (0.5 * (s2 + s2.T)) @ s1_half)
    value = float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(cross))
    return max(value, 0.0)


def frechet_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Fréchet distance between feature sets ``x`` ``(n, d)`` and ``y`` ``(m, d)``: W2² of their fitted Gaussians.

    Means and unbiased covariances are estimated in float64; the value is the FID formula
    ‖m1 − m2‖² + tr(S1 + S2 − 2 (S1^{1/2} S2 S1^{1/2})^{1/2}) (see the module docstring). It is a squared
    distance, symmetric in its arguments and 0 for identical sets.

    Raises:
        InvalidInputError: ``x`` or ``y`` is not a 2-D finite floating tensor/array, or has fewer than 2 rows.
        DimensionMismatchError: the feature dimensions differ.

    >>> g = torch.Generator().manual_seed(0)
    >>> a = torch.randn(500, 3, generator=g, dtype=torch.float64)
    >>> round(frechet_distance(a, a + 1.0), 6)     # a shift by (1, 1, 1): ‖m1 − m2‖² = 3
    3.0
    """
    x = check_samples(x, name="x")
    y = check_samples(y, name="y")
    if x.shape[1] != y.shape[1]:
        raise DimensionMismatchError(f"x has {x.shape[1]} features but y has {y.shape[1]}")
    return frechet_distance_gaussians(*gaussian_moments(x, name="x"), *gaussian_moments(y, name="y"))
