"""Metrics: L2-UVP, cosine, cost error, exact discrete W2, evaluate and baseline_metrics."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.metrics import baseline_metrics, cosine, cost_error, discrete_w2, evaluate, l2_uvp
from monge.nets.base import Potential
from monge.pairs import GaussianPair, make_pair
from monge.samplers import Gaussian
from monge.solvers.base import W2Result


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class LinearPotential(Potential):
    """Test-only potential ψ(x) = ½ xᵀAx (A symmetric), so ∇ψ(x) = A x."""

    def __init__(self, a: torch.Tensor):
        super().__init__()
        self.a = torch.nn.Parameter(a.clone(), requires_grad=False)
        self.dim = a.shape[0]

    def forward(self, x):
        return 0.5 * ((x @ self.a) * x).sum(-1)

    def gradient(self, x):
        return x @ self.a.T


def linear_result(a, a_inv=None, cost=float("nan")) -> W2Result:
    inv = None if a_inv is None else LinearPotential(a_inv)
    return W2Result(solver="test", forward_potential=LinearPotential(a), inverse_potential=inv, cost_estimate=cost)


@pytest.fixture(scope="module")
def pair8() -> GaussianPair:
    return GaussianPair(8, seed=0, dtype=torch.float64)


# ---------------------------------------------------------------------------- l2_uvp / cosine / cost_error
def test_l2_uvp_true_map_is_zero(pair8):
    x = pair8.source.sample(1000, gen(0))
    y = pair8.true_forward(x)
    assert l2_uvp(y, y, pair8.target_variance) == 0.0


def test_l2_uvp_identity_matches_closed_form(pair8):
    n = 100_000
    x = pair8.source.sample(n, gen(1))
    y = pair8.true_forward(x)
    a, cs = pair8.forward_matrix.numpy(), pair8.source_cov.numpy()
    ia = np.eye(8) - a
    closed = 100 * np.trace(ia @ cs @ ia.T) / np.trace(pair8.target_cov.numpy())
    per = 100 * ((x - y) ** 2).sum(1) / pair8.target_variance
    value = l2_uvp(x, y, pair8.target_variance)
    assert value == pytest.approx(per.mean().item(), rel=1e-12)  # the definition on this sample
    assert abs(value - closed) < 3 * per.std().item() / math.sqrt(n)  # Monte Carlo vs closed form
    assert value > 10  # the identity is far from the true map


def test_l2_uvp_hand_computed():
    mapped = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    true = torch.tensor([[0.0, 0.0], [0.0, 3.0]])
    # mean squared error = (1 + 9)/2 = 5; 100·5/2 = 250
    assert l2_uvp(mapped, true, 2.0) == pytest.approx(250.0, abs=1e-12)
    with pytest.raises(InvalidInputError, match="variance must be positive"):
        l2_uvp(mapped, true, 0.0)
    with pytest.raises(DimensionMismatchError):
        l2_uvp(mapped, torch.zeros(2, 3), 1.0)
    with pytest.raises(InvalidInputError, match="shapes differ"):
        l2_uvp(mapped, torch.zeros(3, 2), 1.0)


def test_cosine(pair8):
    x = pair8.source.sample(2000, gen(2))
    t = pair8.true_forward(x)
    disp = t - x
    assert cosine(x, t, t) == pytest.approx(1.0, abs=1e-12)
    assert cosine(x, x + 2 * disp, t) == pytest.approx(1.0, abs=1e-12)
    assert cosine(x, x - disp, t) == pytest.approx(-1.0, abs=1e-12)
    assert math.isnan(cosine(x, x, t))  # identity: zero displacement, cosine undefined
    # hand example: displacement (1,0) vs true (1,1) ⇒ 1/√2
    x0 = torch.zeros(3, 2, dtype=torch.float64)
    m = torch.tensor([[1.0, 0.0]] * 3, dtype=torch.float64)
    tt = torch.tensor([[1.0, 1.0]] * 3, dtype=torch.float64)
    assert cosine(x0, m, tt) == pytest.approx(1 / math.sqrt(2), abs=1e-12)


def test_cost_error():
    assert cost_error(1.1, 1.0) == pytest.approx(10.0, abs=1e-9)
    assert cost_error(0.9, 1.0) == pytest.approx(10.0, abs=1e-9)
    assert cost_error(3.0, 3.0) == 0.0
    with pytest.raises(InvalidInputError, match="true_cost"):
        cost_error(1.0, 0.0)


# ---------------------------------------------------------------------------- discrete W2
def test_discrete_w2_self_and_shift():
    a = torch.randn(300, 3, generator=gen(3), dtype=torch.float64)
    assert discrete_w2(a, a) == 0.0
    perm = torch.randperm(300, generator=gen(4))
    assert discrete_w2(a, a[perm]) == 0.0
    v = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    assert discrete_w2(a, a + v) == pytest.approx(float(v.norm()), abs=1e-6)
    assert discrete_w2(a, a + v, squared=True) == pytest.approx(float(v @ v), abs=1e-6)
    # float32 inputs are promoted to float64
    assert discrete_w2(a.float(), a.float() + v.float()) == pytest.approx(float(v.norm()), abs=1e-5)


def test_discrete_w2_unequal_sizes_hand_example():
    a = torch.tensor([[0.0], [2.0]])
    b = torch.tensor([[1.0]])
    assert discrete_w2(a, b, squared=True) == pytest.approx(1.0, abs=1e-12)


def test_discrete_w2_approaches_gaussian_closed_form():
    # N(0, diag(1, 4)) vs N((3, 0), diag(2, 0.5)): W2² = 9 + Bures² ; empirical W2 with n = 2000 per side is
    # biased up by O(n^{-1/2}) in 2-D; we require agreement within 5 % (measured: +2.0 %).
    ms, mt = np.zeros(2), np.array([3.0, 0.0])
    cs, ct = np.diag([1.0, 4.0]), np.diag([2.0, 0.5])
    closed = float(ot.gaussian.bures_wasserstein_distance(ms, mt, cs, ct))
    p = Gaussian(torch.tensor(ms), torch.tensor(cs), dtype=torch.float64)
    q = Gaussian(torch.tensor(mt), torch.tensor(ct), dtype=torch.float64)
    g = gen(5)
    est = discrete_w2(p.sample(2000, g), q.sample(2000, g))
    assert est == pytest.approx(closed, rel=0.05)


def test_discrete_w2_validation():
    with pytest.raises(DimensionMismatchError, match="dimension 2 but b has 3"):
        discrete_w2(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(InvalidInputError, match="NaN"):
        discrete_w2(torch.full((4, 2), float("nan")), torch.zeros(4, 2))
    with pytest.raises(InvalidInputError, match="shape"):
        discrete_w2(torch.zeros(4), torch.zeros(4, 1))


# ---------------------------------------------------------------------------- evaluate
def test_evaluate_true_map(pair8):
    res = linear_result(pair8.forward_matrix, pair8.inverse_matrix, cost=pair8.true_cost * 1.05)
    torch_state = torch.random.get_rng_state()
    out = evaluate(res, pair8, n=4096, generator=gen(6))
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert set(out) == {"l2_uvp_fwd", "cos_fwd", "fd_fwd", "l2_uvp_inv", "cos_inv", "cost_error", "cost_true"}
    assert out["l2_uvp_fwd"] < 1e-20 and out["l2_uvp_inv"] < 1e-20
    assert out["cos_fwd"] == pytest.approx(1.0, abs=1e-12) and out["cos_inv"] == pytest.approx(1.0, abs=1e-12)
    assert out["cost_error"] == pytest.approx(5.0, abs=1e-9)
    assert out["cost_true"] == pair8.true_cost
    # same generator seed ⇒ same numbers
    assert evaluate(res, pair8, n=512, generator=gen(9)) == evaluate(res, pair8, n=512, generator=gen(9))


def test_evaluate_without_inverse_or_cost(pair8):
    out = evaluate(linear_result(pair8.forward_matrix), pair8, n=256, generator=gen(7))
    assert set(out) == {"l2_uvp_fwd", "cos_fwd", "fd_fwd", "cost_true"}


def test_evaluate_float32_pair():
    pair = GaussianPair(4, seed=1)
    res = linear_result(pair.forward_matrix.float(), pair.inverse_matrix.float(), cost=pair.true_cost)
    out = evaluate(res, pair, n=1024, generator=gen(8))
    assert out["l2_uvp_fwd"] < 1e-8 and out["l2_uvp_inv"] < 1e-8 and out["cost_error"] < 1e-4
    assert out["cos_fwd"] == pytest.approx(1.0, abs=1e-5)


def test_evaluate_identity_agrees_with_baseline(pair8):
    eye = torch.eye(8, dtype=torch.float64)
    out = evaluate(linear_result(eye, eye), pair8, n=2048, generator=gen(10))
    base = baseline_metrics(pair8, n=2048, generator=gen(10))
    assert out["l2_uvp_fwd"] == pytest.approx(base["identity"]["l2_uvp_fwd"], rel=1e-12)
    assert out["l2_uvp_inv"] == pytest.approx(base["identity"]["l2_uvp_inv"], rel=1e-12)


def test_baseline_metrics(pair8):
    base = baseline_metrics(pair8, n=4096, generator=gen(11))
    assert set(base) == {"identity", "constant", "linear", "discrete_ot"}
    for name in base:
        fd = set() if name == "discrete_ot" else {"fd_fwd"}      # discrete OT maps onto the target samples
        assert set(base[name]) == {"l2_uvp_fwd", "cos_fwd", "l2_uvp_inv", "cos_inv"} | fd
    # the exact (linear) map's pushforward matches Q's moments up to sampling; the identity's does not
    assert base["linear"]["fd_fwd"] < 0.05 * base["identity"]["fd_fwd"]
    assert base["linear"]["l2_uvp_fwd"] < 1.0 and base["linear"]["l2_uvp_inv"] < 1.0
    assert base["linear"]["cos_fwd"] == pytest.approx(1.0, abs=1e-9)
    a, cs = pair8.forward_matrix.numpy(), pair8.source_cov.numpy()
    ia = np.eye(8) - a
    closed = 100 * np.trace(ia @ cs @ ia.T) / np.trace(pair8.target_cov.numpy())
    assert base["identity"]["l2_uvp_fwd"] == pytest.approx(closed, rel=0.1)
    assert base["identity"]["l2_uvp_fwd"] > 10
    # constant (target mean 0): E‖T*(x)‖² / Var(Q) = 100 % up to sampling error
    assert base["constant"]["l2_uvp_fwd"] == pytest.approx(100.0, rel=0.1)
    assert math.isnan(base["identity"]["cos_fwd"])


def test_pushforward_frechet_scores_the_samples_and_is_skipped_when_too_few(pair8):
    """fd_fwd is the Fréchet distance of T♯x to target samples: ≈ the closed-form Bures distance of the two
    Gaussians for the identity map, sampling-small for the true map, NaN for a map that returns inf, and absent
    with fewer than 4 samples per dimension (8 samples of D = 8)."""
    from monge.metrics.frechet import frechet_distance_gaussians
    from monge.metrics.w2 import pushforward_frechet

    eye = torch.eye(8, dtype=torch.float64)
    identity = evaluate(linear_result(eye), pair8, n=8192, generator=gen(31))["fd_fwd"]
    zeros = np.zeros(8)
    closed = frechet_distance_gaussians(zeros, pair8.source_cov.numpy(), np.asarray(pair8.target_mean),
                                        pair8.target_cov.numpy())
    assert identity == pytest.approx(closed, rel=0.1) and identity > 1
    exact = evaluate(linear_result(pair8.forward_matrix), pair8, n=8192, generator=gen(31))["fd_fwd"]
    assert exact < 0.02 * identity
    assert "fd_fwd" not in evaluate(linear_result(eye), pair8, n=8, generator=gen(32))
    y = pair8.target.sample(64, gen(33))
    assert math.isnan(pushforward_frechet(torch.full_like(y, float("inf")), y))


def test_baseline_metrics_needs_ground_truth():
    with pytest.raises(InvalidInputError, match="ground truth"):
        baseline_metrics(make_pair("toy:8gaussians"), n=16)


def test_evaluate_toy_identity():
    pair = make_pair("toy:swiss_roll")
    eye = torch.eye(2)
    out = evaluate(linear_result(eye, eye), pair, generator=gen(12), n_discrete=512)
    assert set(out) == {"w2_mapped_target", "w2_source_target", "w2_ratio", "w2_inverse_source"}
    assert out["w2_ratio"] == 1.0
    assert out["w2_mapped_target"] == out["w2_source_target"] > 0
    assert out["w2_inverse_source"] == pytest.approx(out["w2_source_target"], rel=1e-9)
    out2 = evaluate(linear_result(eye), pair, generator=gen(12), n_discrete=256)
    assert "w2_inverse_source" not in out2 and out2["w2_ratio"] == 1.0


def test_discrete_ot_map_of_a_translation_is_the_translation():
    """Between x and x + v the optimal plan is the identity matching, so the barycentric projections are
    exactly x + v forward and y − v backward."""
    from monge.metrics import discrete_ot_map

    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    v = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
    y = (x + v)[torch.randperm(300, generator=torch.Generator().manual_seed(1))]
    forward, inverse = discrete_ot_map(x, y)
    torch.testing.assert_close(forward, x + v, rtol=0, atol=1e-9)
    torch.testing.assert_close(inverse, y - v, rtol=0, atol=1e-9)


def test_baseline_metrics_include_discrete_ot_between_identity_and_linear():
    from monge.metrics import baseline_metrics

    pair = GaussianPair(2, seed=1)
    scores = baseline_metrics(pair, n=2048, generator=torch.Generator().manual_seed(0), n_discrete=1024)
    assert set(scores) == {"identity", "constant", "linear", "discrete_ot"}
    # In 2-D, discrete OT on 1024 samples is a decent map: far better than the identity, worse than exact.
    assert scores["linear"]["l2_uvp_fwd"] < 0.1 < scores["discrete_ot"]["l2_uvp_fwd"] < 10 < scores["identity"]["l2_uvp_fwd"]
    assert scores["discrete_ot"]["cos_fwd"] > 0.9
