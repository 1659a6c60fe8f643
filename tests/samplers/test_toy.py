"""Tests of the toy 2-D pairs (W2GN and W2GAN)."""

from __future__ import annotations

import math

import ot
import pytest
import torch

from monge.errors import UnknownNameError
from monge.samplers import TOY_PAIRS, Sampler, toy_pair
from monge.samplers.toy import Spiral, SwissRoll


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def w2_squared(a: torch.Tensor, b: torch.Tensor) -> float:
    """Exact squared W2 between two uniform point clouds (POT's network simplex)."""
    wa = torch.full((len(a),), 1.0 / len(a), dtype=torch.float64)
    wb = torch.full((len(b),), 1.0 / len(b), dtype=torch.float64)
    return float(ot.emd2(wa, wb, ot.dist(a.double(), b.double())))


def test_registry_names():
    w2gn = ("8gaussians", "49gaussians", "100gaussians", "swiss_roll")
    w2gan = ("4gaussians", "checkerboard", "2spirals")
    assert TOY_PAIRS == w2gn + w2gan


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", TOY_PAIRS)
def test_pairs_shape_dtype_finite_deterministic(name, dtype):
    source, target = toy_pair(name, dtype=dtype, device="cpu")
    for s in (source, target):
        assert isinstance(s, Sampler) and s.dim == 2 and s.dtype == dtype and s.device == torch.device("cpu")
        x = s.sample(300, gen(0))
        assert x.shape == (300, 2) and x.dtype == dtype
        assert bool(torch.isfinite(x).all())
        assert torch.equal(x, s.sample(300, gen(0)))
        assert not torch.equal(x, s.sample(300, gen(1)))
        # comparable scale: every toy distribution lives within a few units of the origin
        assert float(x.abs().max()) < 6.0


@pytest.mark.parametrize("name", TOY_PAIRS)
def test_target_differs_from_source(name):
    # Empirical W2^2 between 500 source and 500 target points vs. between two 500-point target draws. Over
    # seeds, source/target values are >= ~0.13 (the W2GN grids, whose moments match N(0, I) up to order 3) and
    # same-distribution values are ~0.01-0.10, except 4gaussians: its 4 far-apart clusters make resampling
    # noise ~0.2-0.6, but its source/target W2^2 is ~1.1 (radius 2 -> 1).
    source, target = toy_pair(name, dtype=torch.float64)
    g = gen(21)
    xs, xt = source.sample(500, g), target.sample(500, g)
    between = w2_squared(xs, xt)
    within = w2_squared(xt, target.sample(500, g))
    assert between > 0.1
    assert between > (1.5 if name != "4gaussians" else 1.0) * within
    if name == "4gaussians":
        assert between > 0.9


@pytest.mark.parametrize("name", TOY_PAIRS)
def test_toy_pair_is_cheap_and_draws_nothing(name):
    state = torch.random.get_rng_state()
    toy_pair(name)
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize("name", TOY_PAIRS)
def test_sampling_with_generator_leaves_global_rng_alone(name):
    state = torch.random.get_rng_state()
    for s in toy_pair(name):
        s.sample(100, gen(2))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_unknown_name():
    with pytest.raises(UnknownNameError, match="unknown toy pair 'moons'; available: .*8gaussians"):
        toy_pair("moons")


# ----------------------------------------------------------------------------------------------------------
# W2GN pairs: standard normal -> standardised target.
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["8gaussians", "49gaussians", "100gaussians", "swiss_roll"])
def test_w2gn_source_standard_normal_and_target_standardised(name):
    source, target = toy_pair(name, dtype=torch.float64)
    x = source.sample(100_000, gen(3))
    assert torch.allclose(x.mean(0), torch.zeros(2, dtype=torch.float64), atol=0.02)
    assert torch.allclose(torch.cov(x.T), torch.eye(2, dtype=torch.float64), atol=0.03)
    # Targets are standardised with exact moments: zero mean, identity covariance (SE <~0.005 at n=100k).
    y = target.sample(100_000, gen(4))
    assert torch.allclose(y.mean(0), torch.zeros(2, dtype=torch.float64), atol=0.02)
    assert torch.allclose(torch.cov(y.T), torch.eye(2, dtype=torch.float64), atol=0.03)
    # ...but they are not Gaussian: E|x|^4 is 8 for N(0, I_2) (SE ~0.06 at n=100k) and 4.1-5.6 for the targets.
    assert abs(float((x.norm(dim=1) ** 4).mean()) - 8.0) < 0.4
    assert float((y.norm(dim=1) ** 4).mean()) < 6.5


def test_8gaussians_clusters_on_circle():
    _, target = toy_pair("8gaussians", dtype=torch.float64)
    scale = math.sqrt(12.0**2 / 2 + 1.0)
    angles = torch.arange(8, dtype=torch.float64) * math.pi / 4
    centres = (12.0 / scale) * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    y = target.sample(20_000, gen(5))
    d = torch.cdist(y, centres)
    nearest = d.min(1).values
    # component std is 1/sqrt(73) ~ 0.117: 0.4 is ~3.4 std, exceeded with probability ~0.3% in 2-D
    assert float((nearest < 0.4).double().mean()) > 0.99
    assert float(nearest.median()) < 0.15
    freq = torch.bincount(d.argmin(1), minlength=8).double() / len(y)
    assert torch.allclose(freq, torch.full((8,), 1 / 8, dtype=torch.float64), atol=0.015)
    # radius of the circle ~1.40
    assert abs(float(y.norm(dim=1).mean()) - 12.0 / scale) < 0.02


@pytest.mark.parametrize("name, side", [("49gaussians", 7), ("100gaussians", 10)])
def test_grid_gaussians_cover_grid(name, side):
    _, target = toy_pair(name, dtype=torch.float64)
    grid = torch.linspace(-(side - 1) / 2, (side - 1) / 2, side, dtype=torch.float64)
    scale = math.sqrt(81.0 * float((grid**2).mean()) + 1.0)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    centres = 9.0 * torch.stack([xx.reshape(-1), yy.reshape(-1)], 1) / scale
    y = target.sample(30_000, gen(6))
    d = torch.cdist(y, centres)
    assert float(d.min(1).values.median()) < 1.2 / scale  # median radius of N(0, I/scale^2) is ~1.18/scale
    assert int(torch.unique(d.argmin(1)).numel()) == side * side


def test_swiss_roll_unstandardised_matches_definition():
    s = SwissRoll(noise=0.0, standardize=False, dtype=torch.float64)
    x = s.sample(5_000, gen(7))
    r = x.norm(dim=1)
    # noiseless swiss roll: the point at angle t has radius t, t in [1.5 pi, 4.5 pi]
    assert float(r.min()) >= 1.5 * math.pi - 1e-9 and float(r.max()) <= 4.5 * math.pi + 1e-9
    t = torch.atan2(x[:, 1], x[:, 0])
    assert torch.allclose(torch.cos(r - t), torch.ones_like(r), atol=1e-9)


# ----------------------------------------------------------------------------------------------------------
# W2GAN pairs: both sides defined by the paper.
# ----------------------------------------------------------------------------------------------------------


def test_4gaussians_radii_and_quadrants():
    source, target = toy_pair("4gaussians", dtype=torch.float64)
    xs, xt = source.sample(20_000, gen(8)), target.sample(20_000, gen(9))
    # reference code: source (its z) has radius 2, target (its r) radius 1
    assert abs(float(xs.norm(dim=1).mean()) - 2.0) < 0.02
    assert abs(float(xt.norm(dim=1).mean()) - 1.0) < 0.02
    for x, c in ((xs, math.sqrt(2)), (xt, 1 / math.sqrt(2))):
        assert torch.allclose(x.abs().mean(0), torch.full((2,), c, dtype=torch.float64), atol=0.02)
        quadrant = (x[:, 0] > 0).long() * 2 + (x[:, 1] > 0).long()
        freq = torch.bincount(quadrant, minlength=4).double() / len(x)
        assert torch.allclose(freq, torch.full((4,), 0.25, dtype=torch.float64), atol=0.02)


def test_checkerboard_squares():
    source, target = toy_pair("checkerboard", dtype=torch.float64)
    a = 1.5 / math.sqrt(2)
    # source: the 4 edge cells of a 3x3 board; target: the 4 corners and the centre
    src_centres = torch.tensor([[0.0, a], [0.0, -a], [a, 0.0], [-a, 0.0]], dtype=torch.float64)
    tgt_centres = torch.tensor([[a, a], [-a, -a], [a, -a], [-a, a], [0.0, 0.0]], dtype=torch.float64)
    for s, centres in ((source, src_centres), (target, tgt_centres)):
        x = s.sample(20_000, gen(10))
        dist_inf = (x[:, None, :] - centres[None]).abs().amax(-1)  # sup-norm distance to each centre
        inside = dist_inf <= 0.25 + 1e-12
        assert bool((inside.sum(1) == 1).all())  # every point in exactly one of its squares
        freq = inside.double().mean(0)
        assert torch.allclose(freq, torch.full_like(freq, 1 / len(centres)), atol=0.015)


def test_2spirals_target_is_source_rotated():
    source, target = toy_pair("2spirals", dtype=torch.float64)
    assert isinstance(source, Spiral) and isinstance(target, Spiral)
    xs, xt = source.sample(5_000, gen(11)), target.sample(5_000, gen(11))
    noise = (xs + xt) / 2  # same draws: arms cancel, leaving the U[0, 0.1)^2 jitter
    assert float(noise.min()) >= 0.0 and float(noise.max()) < 0.1
    arm = (xt - xs) / 2  # the target arm; the source is its rotation by 180 degrees
    r = arm.norm(dim=1)
    assert float(r.max()) <= 0.15 * math.radians(570.001) + 1e-9
    assert float(r.max()) > 0.15 * math.radians(560)
    # radius grows linearly with the angle: the arm point is 0.15 * theta * (cos theta, -sin theta)
    theta = r / 0.15
    expected = 0.15 * theta[:, None] * torch.stack([torch.cos(theta), -torch.sin(theta)], 1)
    assert torch.allclose(arm, expected, atol=1e-9)
