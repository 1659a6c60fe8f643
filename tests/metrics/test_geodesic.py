"""Distance to the W2 geodesic between Gaussians (McCann's interpolation in closed form)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.metrics import geodesic_distance, mccann_moments
from monge.pairs import GaussianPair, make_pair


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dim", [2, 8])
@pytest.mark.parametrize("t", [0.0, 0.3, 0.7, 1.0])
def test_mccann_interpolant_is_on_the_geodesic_at_its_time(dim, t):
    """Samples (1 − t)x + tT*(x) are at distance ≈ 0 (sampling noise of 20 000 samples) at position t."""
    pair = GaussianPair(dim, seed=1, dtype=torch.float64)
    x = pair.source.sample(20_000, gen(0))
    out = geodesic_distance((1 - t) * x + t * pair.true_forward(x), pair)
    assert out["t"] == pytest.approx(t, abs=0.02)
    assert out["relative"] < 0.03
    assert out["w2_source_target"] == pytest.approx(math.sqrt(2 * pair.true_cost), rel=1e-12)
    assert out["w2_to_target"] == pytest.approx((1 - t) * out["w2_source_target"], abs=0.03 * out["w2_source_target"])


def test_geodesic_closed_form_endpoints_and_constant_speed():
    pair = GaussianPair(4, seed=2, dtype=torch.float64)
    mean0, cov0 = mccann_moments(pair, 0.0)
    mean1, cov1 = mccann_moments(pair, 1.0)
    np.testing.assert_allclose(mean0, 0.0, atol=1e-14)
    np.testing.assert_allclose(cov0, pair.source_cov.numpy(), atol=1e-12)
    np.testing.assert_allclose(cov1, pair.target_cov.numpy(), atol=1e-10)
    np.testing.assert_allclose(mean1, pair.target_mean.numpy(), atol=1e-14)
    from monge.metrics.frechet import frechet_distance_gaussians

    total = math.sqrt(2 * pair.true_cost)
    for s, t in ((0.0, 0.5), (0.2, 0.9)):
        w2 = math.sqrt(frechet_distance_gaussians(*mccann_moments(pair, s), *mccann_moments(pair, t)))
        assert w2 == pytest.approx(abs(s - t) * total, rel=1e-6)


def test_a_path_off_the_geodesic_is_measured_off_it():
    """Half-way to the target by the wrong route: the source rotated by 90° and scaled, so the fitted Gaussian has
    the right mean and spread but the wrong orientation; its distance to the geodesic is a sizeable fraction of
    W2(P, Q) while the McCann point half-way is at ≈ 0."""
    pair = GaussianPair(2, seed=3, dtype=torch.float64)
    x = pair.source.sample(20_000, gen(0))
    rotate = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
    half = 0.5 * x + 0.5 * pair.true_forward(x)
    wrong = (half - half.mean(0)) @ rotate.T + half.mean(0)
    assert geodesic_distance(half, pair)["relative"] < 0.03
    assert geodesic_distance(wrong, pair)["relative"] > 0.2


def test_bad_input_is_named():
    pair = GaussianPair(3, seed=0)
    with pytest.raises(DimensionMismatchError):
        geodesic_distance(torch.zeros(10, 2), pair)
    with pytest.raises(InvalidInputError, match="NaN"):
        geodesic_distance(torch.full((10, 3), float("nan")), pair)
    with pytest.raises(InvalidInputError, match="at least 2 rows"):
        geodesic_distance(torch.zeros(1, 3), pair)
    with pytest.raises(InvalidInputError, match="only for Gaussian pairs"):
        geodesic_distance(torch.zeros(10, 2), make_pair("toy:4gaussians"))
