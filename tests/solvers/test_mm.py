"""Minimax-family W2 solvers: Taghvaei & Jalali (mm-1), Makkuva et al. (mm-2), reversed maximin (mm-r)."""

from __future__ import annotations

import math

import pytest
import torch

from monge.errors import InvalidInputError
from monge.metrics import evaluate
from monge.pairs import GaussianPair
from monge.solvers import Makkuva, ReversedMaximin, TaghvaeiJalali, W2Result, get_solver


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# Small, seeded configurations (GaussianPair(2, seed=1): the identity map scores ≈ 103 % L2-UVP).
# Measured L2-UVP (forward) with these budgets: mm-1 0.17 %, mm-2 0.13 %, mm-r (ICNN) 0.10 %,
# mm-r (MLP f + residual T, 400 steps) 4.8 %, mm-2 (convex=False, 400 steps) 3.6 %. Tolerances leave ~3-6x room.
CASES = [
    ("mm-1", dict(hidden_sizes=[32, 32, 16], pretrain_steps=200), 100, 1.0, 1.5),
    ("mm-2", dict(hidden_sizes=[32, 32, 16], pretrain_steps=200, inner_steps=5), 100, 1.0, 1.5),
    ("mm-r", dict(hidden_sizes=[32, 32, 16], inner_steps=5, potential="icnn", map="icnn-gradient",
                  pretrain_steps=200), 100, 1.0, None),
    ("mm-r", dict(hidden_sizes=[32, 32], inner_steps=5), 400, 15.0, None),
]


@pytest.mark.parametrize(("name", "options", "steps", "max_fwd", "max_inv"), CASES)
def test_recovers_the_gaussian_map(name, options, steps, max_fwd, max_inv):
    pair = GaussianPair(2, seed=1)
    result = get_solver(name, **options).fit(pair.source, pair.target, steps=steps, batch_size=512, generator=gen(0))
    metrics = evaluate(result, pair, n=4096, generator=gen(1))
    assert metrics["l2_uvp_fwd"] < max_fwd, metrics
    if max_inv is not None:
        assert metrics["l2_uvp_inv"] < max_inv, metrics
    assert abs(result.cost_estimate - pair.true_cost) / pair.true_cost < 0.1


SMOKE = {
    "mm-1": [dict(), dict(direction="reverse"), dict(conjugate_solver="adam")],
    "mm-2": [dict(), dict(convex=False), dict(convexity="penalty")],
    "mm-r": [dict(), dict(potential="icnn"), dict(map="icnn-gradient"), dict(map="mlp"),
             dict(map="icnn-gradient", rank=0), dict(lr_decay=True)],
}


@pytest.mark.parametrize(("name", "extra"), [(n, e) for n, es in SMOKE.items() for e in es])
def test_every_parameter_is_trained_and_losses_finite(name, extra, monkeypatch):
    cls = {"mm-1": TaghvaeiJalali, "mm-2": Makkuva, "mm-r": ReversedMaximin}[name]
    pair = GaussianPair(3, seed=0)
    options = {**cls.smoke_options, **extra, "pretrain_steps": 0}
    # The networks as fit() hands them to the training loop (before any update).
    initial = _initial_parameters(cls, options, pair, monkeypatch)
    result = cls(**options).fit(pair.source, pair.target, steps=1, batch_size=64, generator=gen(0))
    trained = _params(result)
    assert initial and initial.keys() == trained.keys()
    # The output bias of a non-convex potential is an additive constant: its gradient is exactly zero.
    unchanged = [k for k in initial if torch.equal(initial[k], trained[k]) and initial[k].shape != (1,)]
    assert not unchanged, f"{name} {extra}: parameters not updated by one step: {unchanged}"
    # k steps: every log finite, finite map.
    result = cls(**options).fit(pair.source, pair.target, steps=5, batch_size=64, generator=gen(1))
    assert len(result.history["loss"]) == 5
    for key, values in result.history.items():
        assert all(math.isfinite(v) for v in values), (key, values)
    assert torch.isfinite(result.forward(pair.source.sample(16, gen(2)))).all()


def _networks(result: W2Result) -> list[torch.nn.Module]:
    nets = [result.forward_potential]
    if result.inverse_potential is not None:
        nets.append(result.inverse_potential)
    return nets


def _params(result: W2Result) -> dict[str, torch.Tensor]:
    """Copies of every network's parameters, keyed by network position and name."""
    return {f"{i}.{k}": p.detach().clone() for i, net in enumerate(_networks(result)) for k, p in net.named_parameters()}


class _Captured(Exception):
    def __init__(self, result):
        super().__init__("captured")
        self.result = result


def _initial_parameters(cls, options, pair, monkeypatch) -> dict[str, torch.Tensor]:
    import monge.solvers.loop as loop

    def spy(**kwargs):
        raise _Captured(kwargs["make_result"](0))

    with monkeypatch.context() as m:
        m.setattr(loop, "train_loop", spy)           # the solvers reach it through loop.run_w2_training
        with pytest.raises(_Captured) as info:
            cls(**options).fit(pair.source, pair.target, steps=1, batch_size=64, generator=gen(0))
    return _params(info.value.result)


@pytest.mark.parametrize(("name", "options", "word"), [
    ("mm-1", dict(direction="sideways"), "direction"),
    ("mm-1", dict(conjugate_iters=0), "conjugate_iters"),
    ("mm-1", dict(conjugate_solver="newton"), "conjugate_solver"),
    ("mm-1", dict(lr=-1.0), "lr"),
    ("mm-2", dict(inner_steps=0), "inner_steps"),
    ("mm-2", dict(convexity="hope"), "convexity"),
    ("mm-2", dict(penalty_weight=float("nan")), "penalty_weight"),
    ("mm-2", dict(hidden_sizes=[0, 4]), "hidden_sizes"),
    ("mm-r", dict(potential="cnn"), "potential"),
    ("mm-r", dict(map="linear"), "map"),
    ("mm-r", dict(lr_decay="yes"), "lr_decay"),
    ("mm-r", dict(rank=-1), "rank"),
    ("mm-r", dict(inner_steps=1.5), "inner_steps"),
    ("mm-r", dict(betas=(0.9,)), "betas"),
])
def test_bad_options_are_named(name, options, word):
    with pytest.raises(InvalidInputError, match=word):
        get_solver(name, **options)


@pytest.mark.parametrize("name", ["mm-1", "mm-2", "mm-r"])
def test_bad_fit_arguments(name):
    solver = get_solver(name, **{"hidden_sizes": [8, 8], "pretrain_steps": 0})
    x = torch.randn(32, 2)
    with pytest.raises(InvalidInputError, match="steps"):
        solver.fit(x, x, steps=0, batch_size=8)
    with pytest.raises(InvalidInputError, match="source"):
        solver.fit(torch.full((4, 2), float("nan")), x, steps=1, batch_size=8)
    with pytest.raises(ValueError, match="dimension"):
        solver.fit(x, torch.randn(32, 3), steps=1, batch_size=8)


def test_taghvaei_jalali_conjugate_inverse_saves_and_loads(tmp_path):
    pair = GaussianPair(2, seed=1)
    result = TaghvaeiJalali(**TaghvaeiJalali.smoke_options).fit(pair.source, pair.target, steps=3, batch_size=64,
                                                              generator=gen(0))
    y = pair.target.sample(16, gen(3))
    x = result.inverse(y)
    assert torch.allclose(result.forward(x), y, atol=1e-3)          # the inverse is (∇ψ)⁻¹
    loaded = W2Result.load(result.save(tmp_path / "mm1"))
    assert torch.allclose(loaded.inverse(y), x, atol=1e-5)


def test_conjugate_inverse_is_differentiable_with_the_inverse_jacobian():
    """∂x*/∂y of the L-BFGS conjugate map is ∇²ψ(x*)⁻¹, the inverse of the forward map's Jacobian at x*."""
    pair = GaussianPair(3, seed=0)
    result = TaghvaeiJalali(hidden_sizes=[16, 16, 8], pretrain_steps=20, conjugate_iters=10).fit(
        pair.source, pair.target, steps=30, batch_size=64, generator=gen(0))
    y = pair.target.sample(1, gen(1))
    x = result.inverse(y)
    j_inverse = torch.autograd.functional.jacobian(lambda v: result.inverse(v.unsqueeze(0))[0], y[0])
    j_forward = torch.autograd.functional.jacobian(lambda v: result.forward(v.unsqueeze(0))[0], x[0])
    assert torch.allclose(j_inverse @ j_forward, torch.eye(3), atol=1e-3)
    assert torch.allclose(result.inverse(y.clone().requires_grad_(True)).detach(), x, atol=1e-4)
