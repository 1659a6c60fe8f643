"""[MM-B] (minibatch conjugate) and [QC] (WGAN-QC) of the W2 benchmark: accuracy, training contract, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.metrics import evaluate
from monge.nets.icnn import DenseICNN
from monge.pairs import GaussianPair
from monge.solvers import MinibatchConjugate, WGANQC, get_solver

SMALL = dict(hidden_sizes=[32, 32, 16], pretrain_steps=200)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_mmb_recovers_the_gaussian_map():
    """Identity baseline ≈ 103 % L2-UVP on this pair; measured 0.21 % forward, 0.13 % inverse (150 steps,
    batch 256)."""
    pair = GaussianPair(2, seed=1)
    result = MinibatchConjugate(**SMALL).fit(pair.source, pair.target, steps=150, batch_size=256, generator=gen(0))
    metrics = evaluate(result, pair, n=4096, generator=gen(1))
    assert metrics["l2_uvp_fwd"] < 1.0, metrics
    assert metrics["l2_uvp_inv"] < 1.0, metrics
    assert abs(result.cost_estimate - pair.true_cost) / pair.true_cost < 0.05


def test_wganqc_recovers_the_gaussian_map():
    """Identity baseline ≈ 103 % L2-UVP on this pair. Measured 2.2 % forward, 0.9 % inverse (400 steps, batch
    64). The notebook's loss (``fit_target_mean=True``, the previous default) stays at 32 % with this budget
    and any longer one tried (34 % at 600 steps): its target-side mean term conflicts with the pointwise fit."""
    pair = GaussianPair(2, seed=1)
    result = WGANQC(**SMALL).fit(pair.source, pair.target, steps=400, batch_size=64, generator=gen(0))
    metrics = evaluate(result, pair, n=4096, generator=gen(1))
    assert metrics["l2_uvp_fwd"] < 10.0, metrics
    assert metrics["l2_uvp_inv"] < 10.0, metrics
    assert metrics["cos_fwd"] > 0.95, metrics
    assert result.settings["fit_target_mean"] is False


def test_wganqc_regresses_the_centred_source_duals():
    """The default loss depends on the duals only up to a constant, fits the source-side duals (f = −α on x),
    and ignores the target points' values. The notebook's loss does neither."""
    g = gen(2)
    x, y = torch.randn(16, 2, generator=g), 2.0 * torch.randn(16, 2, generator=g)
    solver = WGANQC(hidden_sizes=[8, 8, 4], gamma=0.0)
    net = DenseICNN(2, hidden_sizes=[8, 8, 4], generator=gen(0))
    sigma, _, target_x, target_y, _ = solver._batch_ot(x, y)
    with torch.no_grad():
        f_x = net(x) - 0.5 * x.square().sum(1)
    loss, _ = solver._loss(net, x, y, sigma, target_x, target_y)
    shifted, _ = solver._loss(net, x, y, sigma, target_x + 3.0, target_y - 5.0)
    exact, _ = solver._loss(net, x, y, sigma, f_x + 7.0, target_y)
    assert loss.item() > 1e-3
    assert shifted.item() == pytest.approx(loss.item(), rel=1e-6)
    assert exact.item() == pytest.approx(0.0, abs=1e-10)
    notebook = WGANQC(hidden_sizes=[8, 8, 4], gamma=0.0, fit_target_mean=True)
    base, _ = notebook._loss(net, x, y, sigma, target_x, target_y)
    moved, _ = notebook._loss(net, x, y, sigma, target_x, target_y - 5.0)
    assert moved.item() != pytest.approx(base.item(), rel=1e-3)


@pytest.mark.parametrize("cls", [MinibatchConjugate, WGANQC])
def test_one_step_gives_every_parameter_a_gradient(cls, monkeypatch):
    """After the first training step every parameter of both potentials has a non-zero gradient."""
    grads = {}
    step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        if not grads:
            for group in self.param_groups:
                for p in group["params"]:
                    grads[id(p)] = None if p.grad is None else float(p.grad.abs().sum())
        return step(self, *args, **kwargs)

    pair = GaussianPair(3, seed=0)
    solver = cls(hidden_sizes=[8, 8, 4], pretrain_steps=0)
    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    result = solver.fit(pair.source, pair.target, steps=1, batch_size=32, generator=gen(0))
    params = [*result.forward_potential.parameters(), *result.inverse_potential.parameters()]
    assert len(grads) == len(params)
    assert all(grads[id(p)] is not None and grads[id(p)] > 0 for p in params)


@pytest.mark.parametrize("name", ["mm-b", "wgan-qc"])
def test_losses_stay_finite(name):
    pair = GaussianPair(2, seed=1)
    result = get_solver(name, hidden_sizes=[8, 8, 4], pretrain_steps=20).fit(
        pair.source, pair.target, steps=15, batch_size=32, generator=gen(0))
    assert len(result.history["loss"]) == 15
    assert all(math.isfinite(v) for key, values in result.history.items() for v in values if key != "pretrain_mse")
    assert math.isfinite(result.cost_estimate)


@pytest.mark.parametrize("cls", [MinibatchConjugate, WGANQC])
@pytest.mark.parametrize(("options", "match"), [
    (dict(lr=0.0), "lr"),
    (dict(pretrain_steps=-1), "pretrain_steps"),
    (dict(hidden_sizes=[0]), "hidden_sizes"),
    (dict(activation="relu"), "activation"),
    (dict(strong_convexity=-1.0), "strong_convexity"),
])
def test_bad_options_are_named(cls, options, match):
    with pytest.raises(InvalidInputError, match=match):
        cls(**options)


def test_wganqc_bad_cost_scale():
    with pytest.raises(InvalidInputError, match="cost_scale"):
        WGANQC(cost_scale=0.0)
    with pytest.raises(InvalidInputError, match="gamma"):
        WGANQC(gamma=-1.0)
    with pytest.raises(InvalidInputError, match="fit_target_mean"):
        WGANQC(fit_target_mean="yes")


@pytest.mark.parametrize("cls", [MinibatchConjugate, WGANQC])
def test_bad_fit_input(cls):
    solver = cls(hidden_sizes=[8, 4], pretrain_steps=0)
    x = torch.randn(32, 2)
    with pytest.raises(DimensionMismatchError):
        solver.fit(x, torch.randn(32, 3), steps=2, batch_size=8)
    with pytest.raises(InvalidInputError, match="steps"):
        solver.fit(x, x, steps=0, batch_size=8)
    with pytest.raises(InvalidInputError, match="batch_size"):
        solver.fit(x, x, steps=2, batch_size=-1)
    with pytest.raises(InvalidInputError, match="source"):
        solver.fit([[1.0, 2.0]] * 3, x, steps=2, batch_size=8)
