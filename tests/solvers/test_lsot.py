"""LSOT (Seguy et al., ICLR 2018): accuracy on a Gaussian pair, training contract and bad options."""

from __future__ import annotations

import math

import pytest
import torch

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.metrics import evaluate
from monge.pairs import GaussianPair
from monge.solvers import LSOT, get_solver

SMALL = dict(hidden_sizes=[32, 32])


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_lsot_recovers_the_gaussian_map_up_to_its_regularisation_bias():
    """Identity baseline ≈ 103 % L2-UVP on this pair. LSOT maps to the barycentric projection of the
    l2-regularised plan, a biased map: measured 9.4 % forward / 6.6 % inverse (600 steps, batch 256)."""
    pair = GaussianPair(2, seed=1)
    result = LSOT(**SMALL).fit(pair.source, pair.target, steps=600, batch_size=256, generator=gen(0))
    metrics = evaluate(result, pair, n=4096, generator=gen(1))
    assert metrics["l2_uvp_fwd"] < 15.0, metrics
    assert metrics["l2_uvp_inv"] < 15.0, metrics
    assert metrics["cos_fwd"] > 0.9, metrics
    assert 0 < result.cost_estimate < 1.2 * pair.true_cost


def test_every_map_parameter_is_trained_and_losses_stay_finite():
    """The map networks start at the identity (zero last layer); after a few map steps every parameter of
    both maps has moved from its seeded initial value, and all logs are finite."""
    from monge.nets.mlp import MLPPotential, ResidualMap
    from monge.solvers.common import seeded

    pair = GaussianPair(3, seed=0)
    result = LSOT(hidden_sizes=[8, 8]).fit(pair.source, pair.target, steps=8, batch_size=32, generator=gen(0))
    g = gen(0)
    seeded(lambda: MLPPotential(3, [8, 8]), g)   # u and v are drawn first from the same generator
    seeded(lambda: MLPPotential(3, [8, 8]), g)
    t0 = seeded(lambda: ResidualMap(3, [8, 8]), g)
    s0 = seeded(lambda: ResidualMap(3, [8, 8]), g)
    for fitted, init in ((result.forward_potential, t0), (result.inverse_potential, s0)):
        for (name, p), q in zip(fitted.named_parameters(), init.parameters()):
            assert not torch.equal(p, q), name
    assert all(math.isfinite(v) for key in ("loss", "w2_dual", "transport_cost") for v in result.history[key])
    assert result.history["phase"] == [0.0] * 4 + [1.0] * 4


def test_dual_phase_updates_both_potentials():
    """One dual step gives every parameter of u and v a non-zero gradient."""
    solver = LSOT(hidden_sizes=[8, 8])
    from monge.nets.mlp import MLPPotential
    from monge.solvers.common import seeded

    g = gen(0)
    u, v = seeded(lambda: MLPPotential(2, [8, 8]), g), seeded(lambda: MLPPotential(2, [8, 8]), g)
    x, y = torch.randn(32, 2, generator=gen(1)), torch.randn(32, 2, generator=gen(2)) + 0.1
    with torch.no_grad():
        for net in (u, v):
            net.net[-1].bias.add_(0.5 * solver._best_constant(0.5 * torch.cdist(x, y) ** 2))
    ux, vy, delta = solver._delta(u, v, x, y)
    (-(ux.mean() + vy.mean() - solver._penalty(delta))).backward()
    for p in (*u.parameters(), *v.parameters()):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_entropic_regularisation_runs_and_is_recorded():
    pair = GaussianPair(2, seed=1)
    result = get_solver("lsot", regularization="entropic", epsilon=0.1, hidden_sizes=[8, 8]).fit(
        pair.source, pair.target, steps=10, batch_size=32, generator=gen(0))
    assert result.settings["regularization"] == "entropic"
    assert all(math.isfinite(v) for v in result.history["loss"])
    assert torch.isfinite(result.forward(pair.source.sample(5, gen(2)))).all()


def test_without_inverse_the_result_has_none():
    pair = GaussianPair(2, seed=1)
    result = LSOT(hidden_sizes=[8], fit_inverse=False).fit(pair.source, pair.target, steps=4, batch_size=16)
    assert not result.has_inverse


@pytest.mark.parametrize(("options", "match"), [
    (dict(regularization="kl"), "regularization"),
    (dict(epsilon=0.0), "epsilon"),
    (dict(epsilon=float("nan")), "epsilon"),
    (dict(lr=-1.0), "lr"),
    (dict(map_fraction=1.0), "map_fraction"),
    (dict(hidden_sizes=[]), "hidden_sizes"),
])
def test_bad_options_are_named(options, match):
    with pytest.raises(InvalidInputError, match=match):
        LSOT(**options)


def test_bad_fit_input():
    solver = LSOT(hidden_sizes=[8])
    x = torch.randn(32, 2)
    with pytest.raises(DimensionMismatchError):
        solver.fit(x, torch.randn(32, 3), steps=2, batch_size=8)
    with pytest.raises(InvalidInputError, match="steps"):
        solver.fit(x, x, steps=0, batch_size=8)
    with pytest.raises(InvalidInputError, match="batch_size"):
        solver.fit(x, x, steps=2, batch_size=0)
    with pytest.raises(InvalidInputError, match="target"):
        solver.fit(x, "nope", steps=2, batch_size=8)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(InvalidInputError, match="source"):
        solver.fit(bad, x, steps=2, batch_size=8)
