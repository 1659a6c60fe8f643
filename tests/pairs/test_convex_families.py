"""Non-ICNN W2 ground-truth families: smoothmax:<dim> (smooth max of quadratics) and separable:<dim>."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.metrics.w2 import l2_uvp
from monge.pairs import (BenchmarkPair, SeparableMonotonePair, SmoothMaxQuadraticsPair, describe_pair_families,
                         make_pair)

DIMS = (2, 8, 32)
FAMILIES = {"smoothmax": SmoothMaxQuadraticsPair, "separable": SeparableMonotonePair}


@pytest.fixture(scope="module")
def pairs64():
    cache: dict[tuple[str, int], BenchmarkPair] = {}

    def get(family: str, dim: int) -> BenchmarkPair:
        if (family, dim) not in cache:
            cache[(family, dim)] = FAMILIES[family](dim, seed=0, dtype=torch.float64)
        return cache[(family, dim)]

    return get


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------- convexity
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_map_is_gradient_of_convex_potential(pairs64, family, dim):
    pair = pairs64(family, dim)
    x = pair.source.sample(4, generator=_gen(1)) * 1.5  # also a little outside the bulk
    # Explicit gradient == autograd gradient of the potential.
    xr = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(pair.potential(xr).sum(), xr)
    tol = 1e-10 if family == "smoothmax" else 1e-9  # separable: potential by composite Gauss–Legendre
    torch.testing.assert_close(auto, pair.true_forward(x), rtol=0, atol=tol)
    # Hessian (torch.func, float64) symmetric positive semi-definite at every point.
    hess = torch.func.hessian(lambda v: pair.potential(v[None])[0])
    for row in x:
        h = hess(row)
        torch.testing.assert_close(h, h.T, rtol=0, atol=1e-7)
        assert torch.linalg.eigvalsh(0.5 * (h + h.T)).min().item() > -1e-7
        if family == "separable":  # and equal to the analytic R diag(G') Rᵀ
            torch.testing.assert_close(h, pair.hessian(row[None])[0], rtol=1e-6, atol=1e-6)
        else:  # strongly convex: ∇²ψ* ⪰ 0.5·s·I
            assert torch.linalg.eigvalsh(h).min().item() > 0.5 * pair.scale * (1 - 1e-9)


# ------------------------------------------------------------------------------------------- standardisation
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_standardised_mean_zero_unit_average_variance(pairs64, family, dim):
    pair = pairs64(family, dim)
    n = 2**15
    y = pair.target.sample(n, generator=_gen(123))  # independent of the private calibration seed
    var = y.var(dim=0)
    # Mean: the test sample alone has per-coordinate MC error sqrt(var_i / n); smoothmax's m is itself an
    # estimate from 2^14 samples (error sqrt(var_i / 2^14)). Allow 5 combined standard errors per coordinate.
    calib = 2**-14 if family == "smoothmax" else 0.0
    se = torch.sqrt(var * (1.0 / n + calib))
    assert bool((y.mean(dim=0).abs() < 5 * se).all()), (y.mean(dim=0).abs() / se).max()
    # Average per-coordinate variance: exact (1) for separable; smoothmax's scale s is estimated from 2^14
    # samples (relative error ≈ 1 %); tolerance 0.05 for smoothmax, 0.03 (≈ 5 MC errors) for separable.
    assert abs(var.mean().item() - 1.0) < (0.05 if family == "smoothmax" else 0.03)
    assert abs(pair.target_variance / dim - 1.0) < (0.05 if family == "smoothmax" else 1e-12)
    assert pair.source_variance == pytest.approx(dim, rel=1e-12)  # both sources are exactly standardised


@pytest.mark.parametrize("dim", DIMS)
def test_separable_coordinates_are_the_bimodal_mixtures(pairs64, dim):
    pair = pairs64("separable", dim)
    z = pair.target.sample(2**14, generator=_gen(4)) @ pair.rotation
    for i in range(pair.dim):
        w, mu, sd = pair.component_weights[i], pair.component_means[i], pair.component_stds[i]
        grid = torch.linspace(-2.5, 2.5, 11, dtype=torch.float64)
        cdf = (w * torch.special.ndtr((grid[:, None] - mu) / sd)).sum(1)
        emp = (z[:, i, None] <= grid).double().mean(0)
        assert (emp - cdf).abs().max().item() < 0.02  # KS-type bound, ≈ 2.5 / sqrt(n)
        assert ((w * mu).sum().abs().item() < 1e-12
                and abs((w * (sd**2 + mu**2)).sum().item() - pair.coordinate_variances[i].item()) < 1e-12)
        # bimodal: the density at the mean of the two modes is below both component peaks
        f = lambda v: (w * torch.exp(-0.5 * ((v - mu) / sd) ** 2) / sd).sum()  # noqa: E731
        assert f(mu.mean()) < min(f(mu[0]), f(mu[1]))


# ------------------------------------------------------------------------------------------- inverse
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_inverse_after_forward(pairs64, family, dim):
    pair = pairs64(family, dim)
    x = pair.source.sample(500, generator=_gen(2))
    back = pair.true_inverse(pair.true_forward(x))
    # smoothmax: L-BFGS conjugate to residual 1e-9, ∇ψ* is 0.5·s-strongly monotone ⇒ error ≤ 2e-9/s.
    tol = 1e-7 if family == "smoothmax" else 1e-9
    assert (back - x).abs().max().item() < tol
    if family == "smoothmax":
        assert bool(pair.last_inverse_result.converged.all())
    y = pair.target.sample(500, generator=_gen(3))
    assert (pair.true_forward(pair.true_inverse(y)) - y).abs().max().item() < tol


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_float32(family):
    pair = make_pair(f"{family}:8", seed=0)
    assert pair.dtype == torch.float32
    x = pair.source.sample(300, generator=_gen(2))
    y = pair.true_forward(x)
    assert x.dtype == y.dtype == torch.float32 and pair.target.sample(3, _gen(0)).dtype == torch.float32
    assert (pair.true_inverse(y) - x).abs().max().item() < 1e-4  # float32 rounding of y (computed in float64)


def test_separable_analytic_inverse_agrees_with_conjugate(pairs64):
    from monge.conjugate import LBFGSConjugate, conjugate

    pair = pairs64("separable", 8)
    y = pair.target.sample(200, generator=_gen(5))
    res = conjugate(pair.potential_and_gradient, y, solver=LBFGSConjugate(max_iter=500, tol=1e-9))
    assert bool(res.converged.all())
    assert (res.argmax - pair.true_inverse(y)).abs().max().item() < 1e-7


# ------------------------------------------------------------------------------------------- not affine, cost
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_map_is_not_affine(pairs64, family, dim):
    pair = pairs64(family, dim)
    x = pair.source.sample(2**13, generator=_gen(7))
    y = pair.true_forward(x)
    lin = l2_uvp(pair.baseline("linear")(x), y, pair.target_variance)
    # measured ≈ 2.9 / 8.9 / 18 % (smoothmax) and ≈ 7.7 / 7.1 / 8.2 % (separable) for D = 2 / 8 / 32
    assert lin > 1.5, lin
    assert l2_uvp(x, y, pair.target_variance) > lin  # identity is worse than the Bures map


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_true_cost_matches_independent_estimate(pairs64, family):
    pair = pairs64(family, 8)
    x = pair.source.sample(2**14, generator=_gen(11))
    est = 0.5 * ((x - pair.true_forward(x)) ** 2).sum(1)
    # |difference| ≤ 5 standard errors of the independent estimate (the stored one uses 2^16 samples)
    assert abs(pair.true_cost - est.mean().item()) < 5 * est.std().item() / math.sqrt(2**14)
    assert pair.true_cost > 0


# ------------------------------------------------------------------------------------------- seeds, registry
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_seeds_and_global_rng(family):
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    a, b, c = (FAMILIES[family](4, seed=s, dtype=torch.float64) for s in (5, 5, 6))
    x = a.source.sample(64, generator=_gen(0))
    assert torch.equal(a.true_forward(x), b.true_forward(x))
    assert not torch.allclose(a.true_forward(x), c.true_forward(x))
    assert a.true_cost == b.true_cost != c.true_cost
    a.true_inverse(a.true_forward(x))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(u, v) for u, v in zip(np.random.get_state(), np_state))


def test_make_pair_specs_and_descriptions():
    sm = make_pair("smoothmax:8", seed=3)
    sep = make_pair(" Separable:8 ", dtype=torch.float64)
    assert isinstance(sm, SmoothMaxQuadraticsPair) and sm.name == "smoothmax:8" and sm.seed == 3 and sm.dim == 8
    assert isinstance(sep, SeparableMonotonePair) and sep.name == "separable:8" and sep.dtype == torch.float64
    assert sm.has_ground_truth and sep.has_ground_truth
    desc = {d["prefix"]: d["description"] for d in describe_pair_families()}
    assert "NeurIPS 2021" in desc["smoothmax"] and "ICNN" in desc["separable"]


@pytest.mark.parametrize("spec", ["smoothmax:0", "smoothmax:x", "separable:-2", "separable:"])
def test_bad_specs(spec):
    with pytest.raises(InvalidInputError):
        make_pair(spec)


@pytest.mark.parametrize("kwargs,word", [({"n_quadratics": 0}, "n_quadratics"), ({"temperature": -1.0}, "temperature"),
                                          ({"b_scale": float("nan")}, "b_scale"), ({"seed": -1}, "seed"),
                                          ({"mixture_std": "a"}, "mixture_std")])
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(InvalidInputError, match=word):
        SmoothMaxQuadraticsPair(2, **kwargs)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bad_inputs(family):
    pair = FAMILIES[family](3)
    with pytest.raises(InvalidInputError, match="dim"):
        FAMILIES[family](0)
    with pytest.raises(DimensionMismatchError):
        pair.true_forward(torch.zeros(2, 4))
    with pytest.raises(DimensionMismatchError):
        pair.true_inverse(torch.zeros(2, 2))
    with pytest.raises(InvalidInputError, match="NaN"):
        pair.true_forward(torch.full((2, 3), float("nan")))
