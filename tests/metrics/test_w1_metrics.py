"""W1 metrics: gradient cosine / L2, deviation, exact discrete W1, the DOT baseline and evaluate_w1."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import shared_data

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.metrics import discrete_w1, dot_baseline, evaluate_w1, gradient_cosine, gradient_l2, w1_deviation
from monge.pairs import FunnelPair, make_pair
from monge.solvers.w1.base import W1Result

KEYS = {"cos_grad", "l2_grad", "w1_estimate", "w1_true", "w1_dev"}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small float64 element-wise kernels: one thread is faster on a busy 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def pair():
    return FunnelPair.generate(3, 6, seed=1, dtype=torch.float64)


# ---------------------------------------------------------------------------- plain functions
def test_gradient_cosine_known_values():
    pred = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    true = torch.tensor([[2.0, 0.0], [0.0, -1.0]])
    assert gradient_cosine(pred, true) == pytest.approx(0.0, abs=1e-12)            # (1 + (−1)) / 2
    pred = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    true = torch.tensor([[3.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    # 1, 1/√2, and 0 for a zero gradient (the eps keeps it finite)
    assert gradient_cosine(pred, true) == pytest.approx((1 + 1 / math.sqrt(2)) / 3, abs=1e-12)
    assert gradient_cosine(true, -true) == pytest.approx(-1.0, abs=1e-12)


def test_gradient_l2_known_values():
    pred = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    true = torch.tensor([[0.0, 0.0], [0.0, -1.0]])
    assert gradient_l2(pred, true) == pytest.approx(2.5)                            # (1 + 4) / 2
    assert gradient_l2(true, true) == 0.0


def test_w1_deviation():
    assert w1_deviation(1.1, 1.0) == pytest.approx(10.0)
    assert w1_deviation(0.9, 1.0) == pytest.approx(10.0)
    assert w1_deviation(3.0, 2.0) == pytest.approx(50.0)
    assert math.isnan(w1_deviation(float("nan"), 1.0))
    with pytest.raises(InvalidInputError, match="true W1 must be positive and finite, got 0.0"):
        w1_deviation(1.0, 0.0)
    with pytest.raises(InvalidInputError, match="must be numbers"):
        w1_deviation("a", 1.0)


def test_gradient_metrics_check_shapes():
    with pytest.raises(DimensionMismatchError, match="pred has dimension 2 but true has 3"):
        gradient_cosine(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(InvalidInputError, match="pred has 4 samples but true has 5"):
        gradient_l2(torch.zeros(4, 2), torch.zeros(5, 2))
    with pytest.raises(InvalidInputError, match="true: 1 of 1 samples contain NaN"):
        gradient_cosine(torch.zeros(1, 2), torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(InvalidInputError, match="pred: empty"):
        gradient_l2(torch.zeros(0, 2), torch.zeros(0, 2))


def test_discrete_w1_known_values():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    y = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    assert discrete_w1(x, y) == pytest.approx(1.0, abs=1e-12)
    # 1-D: the sorted matching, mean |3|
    assert discrete_w1(torch.tensor([[0.0], [1.0], [2.0]]), torch.tensor([[5.0], [3.0], [4.0]])) == pytest.approx(3.0)
    # unequal sizes: half the mass goes to 1, half to 3
    assert discrete_w1(torch.tensor([[0.0]]), torch.tensor([[1.0], [3.0]])) == pytest.approx(2.0)
    # distance cost, not squared: a shift by (3, 4) costs 5
    z = torch.randn(50, 2, generator=gen(0), dtype=torch.float64)
    assert discrete_w1(z, z + torch.tensor([3.0, 4.0], dtype=torch.float64)) == pytest.approx(5.0, abs=1e-9)
    with pytest.raises(DimensionMismatchError, match="x has dimension 2 but y has 3"):
        discrete_w1(torch.zeros(3, 2), torch.zeros(3, 3))


# ---------------------------------------------------------------------------- evaluate_w1
class _Fake:
    """A minimal result object: the true critic (or its negation) of a pair."""

    def __init__(self, pair, sign=1.0, w1_estimate=float("nan")):
        self.pair, self.sign, self.w1_estimate = pair, sign, w1_estimate

    def gradient(self, y):
        return self.sign * self.pair.true_gradient(y)

    def dual_value(self, x, y):
        f = self.pair.true_critic
        return self.sign * float(f(y).mean() - f(x).mean())


def test_evaluate_w1_true_and_negated_critic(pair):
    good = evaluate_w1(_Fake(pair), pair, n=4096, generator=gen(0))
    assert set(good) == KEYS
    assert good["cos_grad"] == pytest.approx(1.0, abs=1e-9) and good["l2_grad"] < 1e-12
    assert good["w1_true"] == pair.true_w1
    assert abs(good["w1_estimate"] - pair.true_w1) < 0.1 * pair.true_w1
    assert good["w1_dev"] == pytest.approx(100 * abs(good["w1_estimate"] - pair.true_w1) / pair.true_w1)
    bad = evaluate_w1(_Fake(pair, sign=-1.0, w1_estimate=0.5), pair, n=4096, generator=gen(0))
    assert set(bad) == KEYS | {"w1_train_estimate"} and bad["w1_train_estimate"] == 0.5
    assert bad["cos_grad"] == pytest.approx(-1.0, abs=1e-9) and bad["l2_grad"] == pytest.approx(4.0, abs=1e-9)
    assert bad["w1_estimate"] == pytest.approx(-good["w1_estimate"]) and bad["w1_dev"] > 150
    # same generator seed → same draws
    assert evaluate_w1(_Fake(pair), pair, n=512, generator=gen(3)) == evaluate_w1(_Fake(pair), pair, n=512,
                                                                                 generator=gen(3))


class _TrueCritic(torch.nn.Module):
    def __init__(self, pair):
        super().__init__()
        self.pair, self.dim = pair, pair.dim
        self.unused = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def forward(self, x):
        return self.pair.true_critic(x)


def test_evaluate_w1_on_a_real_w1_result(pair):
    result = W1Result(solver="test", critic=_TrueCritic(pair), w1_estimate=1.25)
    out = evaluate_w1(result, pair, n=2048, generator=gen(1))
    assert out["cos_grad"] == pytest.approx(1.0, abs=1e-9) and out["l2_grad"] < 1e-12
    assert out["w1_train_estimate"] == 1.25 and out["w1_dev"] < 10


def test_evaluate_w1_without_ground_truth():
    toy = make_pair("toy:4gaussians", dtype=torch.float64)

    class Zero:
        w1_estimate = float("nan")

        def dual_value(self, x, y):
            return 0.0

    out = evaluate_w1(Zero(), toy, n=600, generator=gen(2))
    assert set(out) == {"w1_estimate", "w1_discrete", "w1_dev"}
    g = gen(2)
    x, y = toy.source.sample(600, g), toy.target.sample(600, g)
    assert out["w1_discrete"] == pytest.approx(discrete_w1(x, y), rel=1e-12)
    # the 4-Gaussians pair moves each blob from radius 2 to radius 1: W1 ≈ 1
    assert 0.9 < out["w1_discrete"] < 1.15 and out["w1_estimate"] == 0.0 and out["w1_dev"] == pytest.approx(100.0)


def test_evaluate_w1_checks_the_gradient_shape(pair):
    class Wrong(_Fake):
        def gradient(self, y):
            return torch.zeros(y.shape[0], y.shape[1] + 1)

    with pytest.raises(InvalidInputError, match=r"result.gradient\(y\) returned \(64, 4\), expected .*\(64, 3\)"):
        evaluate_w1(Wrong(pair), pair, n=64, generator=gen(0))
    with pytest.raises(InvalidInputError, match="n must be a positive integer"):
        evaluate_w1(_Fake(pair), pair, n=0)


# ---------------------------------------------------------------------------- DOT baseline
def test_dot_baseline_on_the_published_2d_pair():
    root = shared_data("w1bench")
    pair = make_pair("w1b-funnel:2:4", root=root)
    out = dot_baseline(pair, 1024, gen(0))
    assert set(out) == KEYS
    # published (n = 4096): cos 0.859, L2 0.162, cost 0.820 for a true W1 of 0.817
    assert out["cos_grad"] > 0.7 and out["l2_grad"] < 0.6
    assert abs(out["w1_estimate"] - pair.true_w1) < 0.25 * pair.true_w1
    assert out["w1_dev"] == pytest.approx(100 * abs(out["w1_estimate"] - pair.true_w1) / pair.true_w1)


def test_dot_baseline_matches_discrete_w1_and_needs_ground_truth(pair):
    out = dot_baseline(pair, 300, gen(4))
    g = gen(4)
    x, y = pair.source.sample(300, g), pair.target.sample(300, g)
    assert out["w1_estimate"] == pytest.approx(discrete_w1(x, y), rel=1e-9)
    assert out["cos_grad"] > 0.3
    with pytest.raises(InvalidInputError, match="needs a W1 benchmark pair"):
        dot_baseline(make_pair("toy:4gaussians"), 64, gen(0))
