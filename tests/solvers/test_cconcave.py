"""The c-concave cone critic (``c-concave``): its network, exactness on funnel pairs, and a seeded accuracy run."""

from __future__ import annotations

import pytest
import torch

from monge.errors import InvalidInputError
from monge.metrics.w1 import evaluate_w1, gradient_cosine
from monge.nets import ConeCritic
from monge.pairs import FunnelPair
from monge.solvers import get_solver
from monge.solvers.w1 import W1Result


def test_cone_critic_holds_a_funnel_pairs_true_critic_exactly():
    """With apexes at the funnel centres and heights at the biases, the cone critic is f* = −u."""
    pair = FunnelPair.generate(3, 8, seed=4, dtype=torch.float64)
    critic = ConeCritic(3, 8, apexes=pair.centers.clone(), dtype=torch.float64)
    with torch.no_grad():
        critic.heights.copy_(pair.biases)
    g = torch.Generator().manual_seed(0)
    x, y = pair.plan(2000, g)
    assert torch.allclose(critic(x), pair.true_critic(x), atol=1e-12)
    result = W1Result("c-concave", critic, float("nan"))
    assert gradient_cosine(result.gradient(y), pair.true_gradient(y)) == pytest.approx(1.0, abs=1e-9)
    assert result.dual_value(x, y) == pytest.approx(float((x - y).norm(dim=1).mean()), rel=1e-9)


def test_cone_critic_is_one_lipschitz_with_unit_gradient():
    g = torch.Generator().manual_seed(1)
    hard = ConeCritic(5, 32, apexes=torch.randn(32, 5, generator=g))
    soft = ConeCritic(5, 32, temperature=0.3, apexes=torch.randn(32, 5, generator=g))
    y = torch.randn(500, 5, generator=g)
    for critic, exact in ((hard, True), (soft, False)):
        grad = W1Result("c-concave", critic, 0.0).gradient(y).norm(dim=1)
        assert float(grad.max()) <= 1.0 + 1e-5
        if exact:
            assert torch.allclose(grad, torch.ones_like(grad), atol=1e-5)
    # at an apex the hard minimum has a zero subgradient, not NaN
    at_apex = hard.apexes.detach()[:3].clone()
    assert torch.isfinite(W1Result("c-concave", hard, 0.0).gradient(at_apex)).all()


@pytest.mark.parametrize("kwargs, needle", [({"n_cones": 0}, "n_cones"), ({"temperature": -1.0}, "temperature"),
                                            ({"lr": 0.0}, "lr"), ({"lr_decay": "yes"}, "lr_decay")])
def test_bad_options_are_named(kwargs, needle):
    with pytest.raises(InvalidInputError, match=needle):
        get_solver("c-concave", **kwargs)


def test_cone_critic_rejects_bad_apexes():
    with pytest.raises(InvalidInputError, match="apexes must have shape"):
        ConeCritic(2, 4, apexes=torch.zeros(3, 2))


def test_seeded_accuracy_on_a_two_dimensional_funnel_pair():
    """A short, seeded run on a generated D=2, N=4 pair: the gradient cosine and W1 are close to the truth."""
    pair = FunnelPair.generate(2, 4, seed=0, dtype=torch.float64)
    solver = get_solver("c-concave", n_cones=64, lr_decay=True)
    result = solver.fit(pair.source, pair.target, steps=800, batch_size=512, generator=torch.Generator().manual_seed(0))
    metrics = evaluate_w1(result, pair, n=4096, generator=torch.Generator().manual_seed(1))
    assert metrics["cos_grad"] > 0.9, metrics
    assert metrics["w1_dev"] < 3.0, metrics
    assert abs(result.w1_estimate - pair.true_w1) / pair.true_w1 < 0.05
