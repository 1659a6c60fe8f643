"""Tests of the generic samplers: StandardNormal, Gaussian, GaussianMixture, Empirical, PushForward, as_sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.samplers import (
    Empirical,
    Gaussian,
    GaussianMixture,
    PushForward,
    Sampler,
    StandardNormal,
    as_sampler,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


COV3 = torch.tensor([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]], dtype=torch.float64)
MEAN3 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)


def make_samplers(dtype: torch.dtype) -> dict[str, Sampler]:
    data = torch.arange(30, dtype=torch.float64).reshape(10, 3)
    return {
        "standard_normal": StandardNormal(3, dtype=dtype),
        "gaussian": Gaussian(MEAN3, COV3, dtype=dtype),
        "mixture_std": GaussianMixture(torch.zeros(2, 3) + torch.tensor([[0.0], [5.0]]), std=[1.0, 0.5], dtype=dtype),
        "mixture_covs": GaussianMixture(torch.stack([MEAN3, -MEAN3]), torch.stack([COV3, 2 * COV3]), dtype=dtype),
        "empirical": Empirical(data, dtype=dtype),
        "pushforward": PushForward(StandardNormal(3, dtype=dtype), lambda x: 2 * x + 1),
    }


NAMES = list(make_samplers(torch.float32))


# ----------------------------------------------------------------------------------------------------------
# Contract shared by every sampler.
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_device(name, dtype):
    s = make_samplers(dtype)[name]
    x = s.sample(17, gen(0))
    assert x.shape == (17, 3)
    assert x.dtype == dtype == s.dtype
    assert s.device == torch.device("cpu") and isinstance(s.device, torch.device)
    assert x.device == s.device
    assert s.dim == 3
    assert bool(torch.isfinite(x).all())
    assert not x.requires_grad


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_samples_different_seed_different(name):
    s = make_samplers(torch.float64)[name]
    a, b, c = s.sample(64, gen(1)), s.sample(64, gen(1)), s.sample(64, gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("name", NAMES)
def test_generator_leaves_global_rng_alone(name):
    s = make_samplers(torch.float32)[name]
    state = torch.random.get_rng_state()
    s.sample(100, gen(3))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_default_generator_used_when_none():
    s = StandardNormal(2)
    state = torch.random.get_rng_state()
    try:
        a = s.sample(5)
        torch.random.set_rng_state(state)
        b = s.sample(5)
        assert torch.equal(a, b)
        assert not torch.equal(torch.random.get_rng_state(), state)
    finally:
        torch.random.set_rng_state(state)


@pytest.mark.parametrize("n", [0, -1, 2.5, True, "3"])
def test_bad_n_rejected(n):
    with pytest.raises(InvalidInputError, match="n must be a positive integer"):
        StandardNormal(2).sample(n)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 64), dim=st.integers(1, 6), var=st.floats(0.01, 100.0))
def test_any_n_and_dim_give_shape_n_dim(n, dim, var):
    g = gen(n * 7 + dim)
    samplers = (
        StandardNormal(dim),
        Gaussian(torch.zeros(dim), var * torch.eye(dim)),
        GaussianMixture(torch.zeros(2, dim), std=var**0.5),
    )
    for s in samplers:
        x = s.sample(n, g)
        assert x.shape == (n, dim)
        assert bool(torch.isfinite(x).all())


# ----------------------------------------------------------------------------------------------------------
# Gaussian.
# ----------------------------------------------------------------------------------------------------------


def test_gaussian_moments_200k():
    # Standard errors at n=200k: mean <= sqrt(2/n) ~ 0.0032, cov entries <= sqrt(2*2*2/n) ~ 0.0063.
    s = Gaussian(MEAN3, COV3)
    assert s.dtype == torch.float64
    x = s.sample(200_000, gen(4))
    assert torch.allclose(x.mean(0), MEAN3, atol=0.02)
    assert torch.allclose(torch.cov(x.T), COV3, atol=0.04)


def test_standard_normal_moments_and_attributes():
    s = StandardNormal(4, dtype=torch.float64)
    x = s.sample(200_000, gen(5))
    assert torch.allclose(x.mean(0), s.mean, atol=0.02)
    assert torch.allclose(torch.cov(x.T), s.cov, atol=0.03)
    assert torch.equal(s.cov, torch.eye(4, dtype=torch.float64))


def test_gaussian_singular_psd_covariance():
    v = torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64)
    cov = torch.outer(v, v)  # rank 1: samples lie on the line mean + R v
    s = Gaussian(MEAN3, cov)
    x = s.sample(50_000, gen(6))
    centred = x - MEAN3
    residual = centred - torch.outer(centred @ v / (v @ v), v)
    assert float(residual.abs().max()) < 1e-9
    assert torch.allclose(torch.cov(x.T), cov, atol=0.1)


@pytest.mark.parametrize("noise", [8.9e-16, -8.9e-16, 0.0])
def test_singular_covariance_does_not_depend_on_the_lapack_path(monkeypatch, noise):
    """A processor's LAPACK may return a zero eigenvalue as +8.9e-16 (whose root, 3e-8, used to push samples off
    the line), −8.9e-16 or 0: each must give samples exactly on the covariance's range."""
    v = torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64)
    real_eigh = torch.linalg.eigh

    def eigh_with_noise(matrix):
        values, vectors = real_eigh(matrix)
        return values.where(values.abs() > 1e-12, torch.full_like(values, noise)), vectors

    monkeypatch.setattr(torch.linalg, "eigh", eigh_with_noise)
    x = Gaussian(MEAN3, torch.outer(v, v)).sample(20_000, gen(6)) - MEAN3
    residual = x - torch.outer(x @ v / (v @ v), v)
    assert float(residual.abs().max()) < 1e-9


def test_gaussian_dtype_device_inference_and_attributes():
    s = Gaussian([0.0, 1.0], [[1.0, 0.0], [0.0, 4.0]])
    assert s.dtype == torch.float32 and s.device == torch.device("cpu")
    assert s.mean.dtype == torch.float32 and s.cov.dtype == torch.float32
    assert Gaussian(torch.zeros(2, dtype=torch.float64), torch.eye(2)).dtype == torch.float64
    s64 = Gaussian(torch.zeros(2), torch.eye(2), dtype=torch.float64, device="cpu")
    assert s64.mean.dtype == torch.float64 and s64.sample(3, gen(0)).dtype == torch.float64


@pytest.mark.parametrize(
    "mean, cov, match",
    [
        ([0.0, float("nan")], torch.eye(2), "mean: contains NaN or inf"),
        ([0.0, float("inf")], torch.eye(2), "mean: contains NaN or inf"),
        ([0.0, 0.0], [[1.0, float("nan")], [float("nan"), 1.0]], "cov: contains NaN or inf"),
        ([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]], "cov is not positive semi-definite"),
        ([0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]], "cov is not symmetric"),
        ([0.0, 0.0, 0.0], torch.eye(2), r"cov: expected shape \(3, 3\)"),
        ([[0.0, 0.0]], torch.eye(2), "mean: expected 1 dimension"),
        ([], torch.zeros(0, 0), "mean: empty"),
        ("abc", torch.eye(2), "mean"),
    ],
)
def test_gaussian_bad_input(mean, cov, match):
    with pytest.raises(InvalidInputError, match=match):
        Gaussian(mean, cov)


def test_bad_dtype_and_device():
    with pytest.raises(InvalidInputError, match="dtype"):
        StandardNormal(2, dtype=torch.int64)
    with pytest.raises(InvalidInputError, match="device"):
        StandardNormal(2, device="not-a-device")
    with pytest.raises(InvalidInputError, match="dim must be a positive integer"):
        StandardNormal(0)


# ----------------------------------------------------------------------------------------------------------
# GaussianMixture.
# ----------------------------------------------------------------------------------------------------------


def test_mixture_weights_respected():
    # Components 100 apart with std 1: nearest mean identifies the component. SE of a frequency at n=100k
    # is <= 0.0016; tolerance 0.01.
    means = torch.tensor([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    s = GaussianMixture(means, std=1.0, weights=[5.0, 3.0, 2.0])
    assert torch.allclose(s.weights, torch.tensor([0.5, 0.3, 0.2]))
    x = s.sample(100_000, gen(7))
    comp = torch.cdist(x, means).argmin(1)
    freq = torch.bincount(comp, minlength=3).double() / len(x)
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), atol=0.01)
    # zero weight -> never drawn
    s0 = GaussianMixture(means, std=1.0, weights=[1.0, 0.0, 1.0])
    comp0 = torch.cdist(s0.sample(10_000, gen(8)), means).argmin(1)
    assert int((comp0 == 1).sum()) == 0


def test_mixture_full_covariances_per_component():
    means = torch.tensor([[-50.0, 0.0], [50.0, 0.0]], dtype=torch.float64)
    covs = torch.tensor([[[1.0, 0.8], [0.8, 1.0]], [[4.0, -1.0], [-1.0, 0.5]]], dtype=torch.float64)
    s = GaussianMixture(means, covs, weights=[1.0, 3.0])
    x = s.sample(100_000, gen(9))
    left = x[:, 0] < 0
    assert abs(float(left.double().mean()) - 0.25) < 0.01
    for j, mask in enumerate([left, ~left]):
        assert torch.allclose(x[mask].mean(0), means[j], atol=0.05)
        assert torch.allclose(torch.cov(x[mask].T), covs[j], atol=0.1)
    assert torch.equal(s.covs, covs)


def test_mixture_isotropic_std_per_component():
    means = torch.tensor([[-50.0, 0.0], [50.0, 0.0]], dtype=torch.float64)
    s = GaussianMixture(means, std=torch.tensor([0.5, 2.0]))
    x = s.sample(100_000, gen(10))
    left = x[:, 0] < 0
    assert abs(float(x[left].std(0).mean()) - 0.5) < 0.02
    assert abs(float(x[~left].std(0).mean()) - 2.0) < 0.05
    assert torch.allclose(s.covs[1], 4.0 * torch.eye(2, dtype=torch.float64))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(means=[[0.0, 0.0]]), "exactly one of covs"),
        (dict(means=[[0.0, 0.0]], covs=[torch.eye(2).tolist()], std=1.0), "exactly one of covs"),
        (dict(means=[[0.0, float("nan")]], std=1.0), "means: contains NaN"),
        (dict(means=[0.0, 0.0], std=1.0), "means: expected 2 dimension"),
        (dict(means=[[0.0, 0.0]], std=-1.0), "std: must be non-negative"),
        (dict(means=[[0.0, 0.0], [1.0, 1.0]], std=[1.0, 1.0, 1.0]), r"std: expected a float or shape \(2,\)"),
        (dict(means=[[0.0, 0.0]], covs=torch.eye(2)), "covs: expected 3 dimension"),
        (dict(means=[[0.0, 0.0]], covs=torch.eye(3)[None]), r"covs: expected shape \(1, 2, 2\)"),
        (
            dict(means=[[0.0, 0.0], [1.0, 1.0]], covs=torch.stack([torch.eye(2), -torch.eye(2)])),
            r"covs\[1\] is not positive",
        ),
        (dict(means=[[0.0, 0.0], [1.0, 1.0]], std=1.0, weights=[1.0, -0.5]), "weights: must be non-negative"),
        (dict(means=[[0.0, 0.0], [1.0, 1.0]], std=1.0, weights=[0.0, 0.0]), "weights: must have a positive sum"),
        (dict(means=[[0.0, 0.0], [1.0, 1.0]], std=1.0, weights=[1.0]), r"weights: expected shape \(2,\)"),
        (dict(means=[[0.0, 0.0], [1.0, 1.0]], std=1.0, weights=[1.0, float("inf")]), "weights: contains NaN or inf"),
    ],
)
def test_mixture_bad_input(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        GaussianMixture(**kwargs)


# ----------------------------------------------------------------------------------------------------------
# Empirical.
# ----------------------------------------------------------------------------------------------------------


def test_empirical_returns_only_rows_uniformly():
    data = torch.randn(10, 3, generator=gen(11), dtype=torch.float64)
    s = Empirical(data)
    assert s.dtype == torch.float64 and len(s) == 10 and torch.equal(s.data, data)
    x = s.sample(50_000, gen(12))
    match = (x[:, None, :] == data[None, :, :]).all(-1)  # (n, 10)
    assert bool((match.sum(1) == 1).all())  # every sample is exactly one row of data
    freq = match.double().mean(0)
    assert torch.allclose(freq, torch.full((10,), 0.1, dtype=torch.float64), atol=0.01)


def test_empirical_from_numpy_and_dtype():
    arr = np.arange(12, dtype=np.float64).reshape(6, 2)
    s = Empirical(arr)
    assert s.dtype == torch.float32 and s.dim == 2
    assert Empirical(arr, dtype=torch.float64).sample(4, gen(0)).dtype == torch.float64
    assert Empirical(torch.tensor(arr, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize(
    "data, match",
    [
        (torch.zeros(0, 2), "data: empty"),
        (torch.zeros(5), r"data: expected shape \(n, dim\)"),
        (torch.tensor([[0.0, float("nan")], [1.0, 1.0]]), "data: 1 of 2 samples contain NaN or inf"),
        (torch.zeros(3, 2, dtype=torch.int64), "data: expected floating-point"),
    ],
)
def test_empirical_bad_input(data, match):
    with pytest.raises(InvalidInputError, match=match):
        Empirical(data)


# ----------------------------------------------------------------------------------------------------------
# PushForward and as_sampler.
# ----------------------------------------------------------------------------------------------------------


def test_pushforward_applies_map_without_grad():
    lin = torch.nn.Linear(2, 3)
    base = StandardNormal(2)
    s = PushForward(base, lin, dim=3)
    assert s.dim == 3 and s.dtype == base.dtype and s.device == base.device
    y = s.sample(50, gen(13))
    x = base.sample(50, gen(13))
    with torch.no_grad():
        expected = lin(x)
    assert torch.allclose(y, expected)
    assert not y.requires_grad
    # Gaussian pushed by an affine map: mean/cov follow.
    a = torch.tensor([[2.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    g = PushForward(StandardNormal(2, dtype=torch.float64), lambda z: z @ a.T + 3.0)
    assert g.dim == 2
    z = g.sample(100_000, gen(14))
    assert torch.allclose(z.mean(0), torch.full((2,), 3.0, dtype=torch.float64), atol=0.03)
    assert torch.allclose(torch.cov(z.T), a @ a.T, atol=0.06)


def test_pushforward_does_not_sample_at_construction():
    state = torch.random.get_rng_state()
    PushForward(StandardNormal(2), lambda z: z)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_pushforward_bad_input():
    with pytest.raises(InvalidInputError, match="base: expected a Sampler"):
        PushForward(torch.zeros(3, 2), lambda z: z)
    with pytest.raises(InvalidInputError, match="transform: expected a callable"):
        PushForward(StandardNormal(2), 3)
    with pytest.raises(InvalidInputError, match="dim must be a positive integer"):
        PushForward(StandardNormal(2), lambda z: z, dim=0)
    with pytest.raises(DimensionMismatchError, match="expected output dimension 2, got 3"):
        PushForward(StandardNormal(2), lambda z: torch.cat([z, z[:, :1]], 1)).sample(4, gen(0))
    with pytest.raises(InvalidInputError, match="transform: expected it to return a tensor"):
        PushForward(StandardNormal(2), lambda z: z.numpy()).sample(4, gen(0))


def test_as_sampler_wraps_and_rejects():
    s = StandardNormal(2)
    assert as_sampler(s) is s
    t = torch.randn(7, 2, generator=gen(15), dtype=torch.float64)
    e = as_sampler(t)
    assert isinstance(e, Empirical) and torch.equal(e.data, t) and e.dtype == torch.float64
    e2 = as_sampler(np.ones((4, 3)))
    assert isinstance(e2, Empirical) and e2.dim == 3 and e2.dtype == torch.float32
    with pytest.raises(InvalidInputError, match="source: expected a Sampler, tensor or array, got list"):
        as_sampler([[0.0, 1.0]], name="source")
    with pytest.raises(InvalidInputError, match="target: 1 of 2 samples contain NaN"):
        as_sampler(torch.tensor([[0.0, 1.0], [float("nan"), 0.0]]), name="target")
    with pytest.raises(InvalidInputError, match="target: empty"):
        as_sampler(np.zeros((0, 2)), name="target")
