"""AmortizedConjugate (Amos, ICLR 2023): accuracy, amortisation losses, gradients, fine-tuning, bad input."""

from __future__ import annotations

import pytest
import torch

from monge.conjugate import LBFGSConjugate, conjugate
from monge.errors import InvalidInputError
from monge.metrics import evaluate
from monge.pairs import GaussianPair
from monge.solvers import AmortizedConjugate, W2Result, get_solver


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class _Identity(torch.nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.w = torch.nn.Parameter(torch.zeros(1))

    def gradient(self, x):
        return x


SMALL = dict(hidden_sizes=[16, 16], amortizer_hidden_sizes=[16, 16], finetune_iters=5, pretrain_steps=20)


# ----------------------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize(("dim", "seed"), [(2, 1), (8, 0)])
def test_icnn_potential_recovers_the_gaussian_map(dim, seed):
    """300 steps, batch 512, ICNN potential. Measured L2-UVP fwd 0.014 % (D=2) and 0.020 % (D=8), inverse
    (the amortisation model H alone) 2.3 % and 2.0 %; identity is ≈ 100 %."""
    pair = GaussianPair(dim, seed=seed)
    result = AmortizedConjugate(potential="icnn").fit(pair.source, pair.target, steps=300, batch_size=512,
                                                      generator=gen(0))
    metrics = evaluate(result, pair, n=4096, generator=gen(1))
    identity = evaluate(W2Result("identity", _Identity(dim), _Identity(dim), float("nan")), pair, n=4096,
                        generator=gen(1))
    assert identity["l2_uvp_fwd"] > 15.0
    assert metrics["l2_uvp_fwd"] < 0.2, metrics
    assert metrics["l2_uvp_inv"] < 5.0, metrics
    assert metrics["cos_fwd"] > 0.995
    assert abs(result.cost_estimate - pair.true_cost) / pair.true_cost < 0.02


def test_default_mlp_potential_learns_the_gaussian_map():
    """The paper's default non-convex MLP potential (lr raised for the short budget): measured L2-UVP fwd
    1.3 % after 300 steps at D = 2 (1.2 % after 1000 steps with the paper's lr 5e-4)."""
    pair = GaussianPair(2, seed=1)
    result = AmortizedConjugate(lr=2e-3).fit(pair.source, pair.target, steps=300, batch_size=512, generator=gen(0))
    metrics = evaluate(result, pair, n=4096, generator=gen(1))
    assert metrics["l2_uvp_fwd"] < 3.0, metrics
    assert metrics["l2_uvp_inv"] < 5.0, metrics
    assert abs(result.cost_estimate - pair.true_cost) / pair.true_cost < 0.05


# ----------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("amortization", ["regression", "objective", "cycle"])
@pytest.mark.parametrize("potential", ["mlp", "icnn"])
def test_each_amortization_loss_runs(amortization, potential):
    # the ICNN needs its identity pre-training (20 steps leave E‖∇f(x) − x‖² ≈ 70 and the regression loss at 1e5)
    pair = GaussianPair(3, seed=0)
    options = {**SMALL, "pretrain_steps": 200} if potential == "icnn" else SMALL
    solver = AmortizedConjugate(potential=potential, amortization=amortization, **options)
    result = solver.fit(pair.source, pair.target, steps=15, batch_size=64, generator=gen(0))
    assert result.settings["amortization"] == amortization
    for key in ("loss", "dual", "amortization", "residual", "w2_dual"):
        assert len(result.history[key]) == 15 and all(v == v for v in result.history[key]), key
    y = pair.target.sample(32, gen(1))
    assert torch.isfinite(result.inverse(y)).all() and torch.isfinite(result.forward(y)).all()


def test_no_finetuning_uses_the_amortized_point():
    pair = GaussianPair(3, seed=0)
    solver = AmortizedConjugate(**{**SMALL, "finetune_iters": 0}, amortization="objective")
    result = solver.fit(pair.source, pair.target, steps=5, batch_size=64, generator=gen(0))
    assert result.history["finetune_iters"] == [0.0] * 5 and "residual" not in result.history


@pytest.mark.parametrize("amortization", ["regression", "objective", "cycle"])
@pytest.mark.parametrize("potential", ["mlp", "icnn"])
def test_every_parameter_receives_a_gradient(amortization, potential):
    solver = AmortizedConjugate(potential=potential, amortization=amortization, **SMALL)
    f, h = solver._build_networks(3, torch.float32, torch.device("cpu"), gen(0))
    with torch.no_grad():  # move H away from the identity so its zero last layer is not a special point
        for p in h.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen(5)))
    x, y = torch.randn(64, 3, generator=gen(1)), 1.5 * torch.randn(64, 3, generator=gen(2))
    solver_ft = LBFGSConjugate(max_iter=5, tol=0.1)
    loss, logs = solver._loss(f, h, list(f.parameters()), solver_ft, x, y)
    loss.backward()
    # f's output bias is an additive constant: the dual objective does not depend on it (zero gradient).
    constant = "f.net.4.bias" if potential == "mlp" else None
    for name, p in [*f.named_parameters(prefix="f"), *h.named_parameters(prefix="H")]:
        assert p.grad is not None, name
        assert bool(p.grad.abs().sum() > 0) or name == constant, name


def test_amortization_loss_trains_h_only():
    """The f-gradient of the total loss equals that of the dual objective alone (the objective and cycle
    amortisation losses hold f's parameters constant)."""
    for amortization in ("objective", "cycle"):
        solver = AmortizedConjugate(amortization=amortization, **SMALL)
        f, h = solver._build_networks(3, torch.float32, torch.device("cpu"), gen(0))
        x, y = torch.randn(32, 3, generator=gen(1)), torch.randn(32, 3, generator=gen(2))
        loss, logs = solver._loss(f, h, list(f.parameters()), None, x, y)
        full = torch.autograd.grad(loss, list(f.parameters()))
        x_hat = h(y).detach()
        dual = f(x).mean() + ((x_hat * y).sum(1) - f(x_hat)).mean()
        alone = torch.autograd.grad(dual, list(f.parameters()))
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(full, alone))


def test_finetuning_improves_the_conjugate_residual():
    """After training, a few L-BFGS iterations from H(y) reduce ‖∇f(x) − y‖ below that of H(y) itself."""
    pair = GaussianPair(3, seed=0)
    result = AmortizedConjugate(**SMALL).fit(pair.source, pair.target, steps=40, batch_size=128, generator=gen(0))
    f = result.forward_potential
    y = pair.target.sample(256, gen(3))
    x_h = result.inverse(y)
    residual_h = (result.forward(x_h) - y).norm(dim=1).mean()
    fine = conjugate(f, y, x0=x_h, solver=LBFGSConjugate(max_iter=10, tol=1e-6))
    assert float(fine.residual.mean()) < 0.5 * float(residual_h)
    assert result.history["residual"][-1] < 0.1 + 1e-6 or result.history["finetune_iters"][-1] == 5


def test_seeded_networks_and_rng():
    state = torch.random.get_rng_state()
    pair = GaussianPair(2, seed=0)
    a = AmortizedConjugate(**SMALL).fit(pair.source, pair.target, steps=3, batch_size=32, generator=gen(7))
    b = AmortizedConjugate(**SMALL).fit(pair.source, pair.target, steps=3, batch_size=32, generator=gen(7))
    assert torch.equal(torch.random.get_rng_state(), state)
    y = pair.target.sample(8, gen(1))
    assert torch.equal(a.inverse(y), b.inverse(y)) and torch.equal(a.forward(y), b.forward(y))


# ----------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("options", "name"), [
    ({"potential": "convex"}, "potential"),
    ({"amortization": "none"}, "amortization"),
    ({"finetune_iters": -1}, "finetune_iters"),
    ({"finetune_iters": 2.5}, "finetune_iters"),
    ({"finetune_iters": 0}, "finetune_iters"),          # regression needs fine-tuning
    ({"finetune_tol": 0.0}, "finetune_tol"),
    ({"lr": float("nan")}, "lr"),
    ({"lr": 0}, "lr"),
    ({"weight_decay": -1.0}, "weight_decay"),
    ({"betas": (0.9,)}, "betas"),
    ({"betas": (0.9, 1.0)}, "betas"),
    ({"hidden_sizes": [16, 0]}, "hidden_sizes"),
    ({"amortizer_hidden_sizes": []}, "amortizer_hidden_sizes"),
    ({"activation": "sigmoidish"}, "activation"),
    ({"pretrain_steps": True}, "pretrain_steps"),
])
def test_bad_options_are_named(options, name):
    with pytest.raises(InvalidInputError, match=name):
        AmortizedConjugate(**options)


def test_unknown_option_and_bad_data():
    with pytest.raises(InvalidInputError, match="amortized"):
        get_solver("amortized", nonsense=1)
    solver = AmortizedConjugate(**SMALL)
    with pytest.raises(InvalidInputError):
        solver.fit(torch.full((10, 2), float("nan")), torch.randn(10, 2), steps=1, batch_size=4)
    with pytest.raises(ValueError):
        solver.fit(torch.randn(10, 2), torch.randn(10, 3), steps=1, batch_size=4)
    with pytest.raises(ValueError):
        solver.fit(torch.randn(10, 2), torch.randn(10, 2), steps=0, batch_size=4)
