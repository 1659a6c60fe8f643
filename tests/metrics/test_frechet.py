"""Fréchet distance (FID formula): exactness against scipy's sqrtm and the closed form, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.metrics import frechet_distance
from monge.metrics.frechet import frechet_distance_gaussians, gaussian_moments


def _scipy_fid(x: np.ndarray, y: np.ndarray) -> float:
    """The usual FID code: sqrtm of the non-symmetric product S1 S2."""
    m1, m2 = x.mean(0), y.mean(0)
    s1, s2 = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * np.real(root)))


@pytest.mark.parametrize("dim", [1, 3, 16])
def test_matches_scipy_sqrtm_on_random_features(dim):
    g = torch.Generator().manual_seed(dim)
    x = torch.randn(400, dim, generator=g) @ torch.randn(dim, dim, generator=g) + 0.5
    y = torch.randn(300, dim, generator=g, dtype=torch.float64) * 2.0 - 1.0
    ours = frechet_distance(x, y)
    ref = _scipy_fid(x.double().numpy(), y.numpy())
    assert ours == pytest.approx(ref, rel=1e-8, abs=1e-9)
    assert frechet_distance(y, x) == pytest.approx(ours, rel=1e-10)  # symmetric


def test_closed_form_for_two_known_gaussians():
    # Commuting (diagonal) covariances: W2² = ‖m1 − m2‖² + Σ (√a_i − √b_i)².
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, -1.0])
    expected = 1.0 + 9.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance_gaussians(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(expected, rel=1e-12)
    # A rotated, non-commuting pair: N(0, I) vs N(0, R diag(a) Rᵀ) has W2² = Σ (√a_i − 1)².
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    cov = rot @ np.diag(a) @ rot.T
    assert frechet_distance_gaussians(np.zeros(3), np.eye(3), np.zeros(3), cov) == pytest.approx(
        ((np.sqrt(a) - 1) ** 2).sum(), rel=1e-12)


def test_samples_of_known_gaussians_converge_to_the_closed_form():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, 2, generator=g, dtype=torch.float64)
    y = torch.randn(200_000, 2, generator=g, dtype=torch.float64) * torch.tensor([2.0, 0.5]) + torch.tensor([3.0, 0.0])
    expected = 9.0 + (2.0 - 1.0) ** 2 + (0.5 - 1.0) ** 2  # 10.25
    assert frechet_distance(x, y) == pytest.approx(expected, rel=0.01)


def test_identical_sets_give_zero_and_moments_are_unbiased():
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    mean, cov = gaussian_moments(x)
    np.testing.assert_allclose(mean, [2.0, 4.0])
    np.testing.assert_allclose(cov, np.cov(x.numpy().T), rtol=1e-12)


def test_bad_inputs():
    x = torch.randn(10, 3)
    with pytest.raises(DimensionMismatchError, match="features"):
        frechet_distance(x, torch.randn(10, 4))
    with pytest.raises(InvalidInputError, match="at least 2"):
        frechet_distance(x, torch.randn(1, 3))
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(InvalidInputError, match="NaN"):
        frechet_distance(bad, x)
    with pytest.raises(InvalidInputError, match="shape"):
        frechet_distance(torch.randn(10), x)
    with pytest.raises(InvalidInputError, match="empty"):
        frechet_distance(torch.empty(0, 3), x)
    with pytest.raises(DimensionMismatchError):
        frechet_distance_gaussians(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(InvalidInputError, match="cov2"):
        frechet_distance_gaussians(np.zeros(2), np.eye(2), np.zeros(2), np.full((2, 2), np.inf))
