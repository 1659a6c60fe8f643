"""ENOT (Buzun, Bobrin, Dylov, NeurIPS 2024): the expectile loss, accuracy, the binding gap, directions,
which network each loss trains, and bad input."""

from __future__ import annotations

import pytest
import torch

from monge.errors import InvalidInputError, TrainingDiverged
from monge.metrics import evaluate
from monge.nets import MLPPotential
from monge.pairs import GaussianPair
from monge.solvers import ENOT
from monge.solvers.w2.enot import expectile_loss

SMALL = dict(hidden_sizes=[64, 64], lr=3e-3, lr_decay=True)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_expectile_loss_weights_the_two_signs():
    diff = torch.tensor([2.0, -2.0, 0.0])
    assert torch.allclose(expectile_loss(diff, 0.99), torch.tensor([0.99 * 4, 0.01 * 4, 0.0]))
    assert torch.allclose(expectile_loss(diff, 0.5), torch.tensor([2.0, 2.0, 0.0]))


def test_expectile_of_a_sample_tends_to_its_maximum():
    """Minimising E L_τ(u − m) over m gives the τ-expectile: the mean at τ = ½, near the maximum as τ → 1,
    which is why ENOT's regulariser approximates the c-transform (a maximum)."""
    u = torch.linspace(0.0, 1.0, 101)
    for tau, lo, hi in ((0.5, 0.49, 0.51), (0.99, 0.85, 1.0)):
        m = torch.zeros((), requires_grad=True)
        opt = torch.optim.Adam([m], lr=0.05)
        for _ in range(800):
            opt.zero_grad()
            expectile_loss(u - m, tau).mean().backward()
            opt.step()
        m = m.detach()
        assert lo < m.item() < hi, (tau, m.item())


@pytest.mark.parametrize(("dim", "seed", "steps"), [(2, 1, 600), (8, 0, 1000)])
def test_recovers_the_gaussian_map_both_ways(dim, seed, steps):
    """Batch 256, widths [64, 64], lr 3e-3 with cosine decay (half the steps per direction). Measured L2-UVP
    fwd 0.75 % / inv 0.97 % (D=2, 600 steps) and 0.85 % / 0.86 % (D=8, 1000 steps), cosine 0.996 and 0.982,
    cost error 1.4 % and 2.3 %; the identity is ≈ 100 %."""
    pair = GaussianPair(dim, seed=seed)
    result = ENOT(**SMALL).fit(pair.source, pair.target, steps=steps, batch_size=256, generator=gen(0))
    metrics = evaluate(result, pair, n=4096, generator=gen(1))
    assert metrics["l2_uvp_fwd"] < 2.0, metrics
    assert metrics["l2_uvp_inv"] < 2.0, metrics
    assert metrics["cos_fwd"] > 0.97, metrics
    assert abs(result.cost_estimate - pair.true_cost) / pair.true_cost < 0.05, (result.cost_estimate, pair.true_cost)


def test_binding_gap_is_closed_on_the_plan():
    """At the optimum g^c(x) + g(y) = c(x, y) for y = T(x) and ≤ c(x, y) for other pairs; after training the
    gap on pairs (x, T*(x)) of the true plan is small next to the cost, and non-positive on average off it."""
    pair = GaussianPair(2, seed=1)
    result = ENOT(**SMALL).fit(pair.source, pair.target, steps=600, batch_size=256, generator=gen(0))
    psi, phi = result.forward_potential, result.inverse_potential

    def g(z):                    # Kantorovich potential of the target for the cost ‖x − y‖²
        return z.square().sum(1) - 2 * phi(z)

    x = pair.source.sample(2048, gen(2))
    with torch.no_grad():
        t = psi.gradient(x)
        g_conj = (x - t).square().sum(1) - g(t)
        on_plan = g_conj + g(pair.true_forward(x)) - (x - pair.true_forward(x)).square().sum(1)
        y = pair.target.sample(2048, gen(3))
        off_plan = g_conj + g(y) - (x - y).square().sum(1)
    cost = (x - pair.true_forward(x)).square().sum(1).mean()
    assert on_plan.abs().mean() < 0.05 * cost, (on_plan.abs().mean(), cost)
    assert off_plan.mean() < 0 and (off_plan > 0.05 * cost).float().mean() < 0.02


@pytest.mark.parametrize("explicit", [False, True])
def test_each_loss_trains_its_own_network(explicit):
    """With autograd gradients or the explicit ones of the compiled path: the dual (and regulariser) loss reaches only the dual potential, the map loss only the mover: with the
    map loss removed the mover's parameters get no gradient, and with the dual loss removed the dual's none.
    (The output biases are the exception: g + k, g^c − k leave every gap unchanged, and a constant in ψ does
    not move the map ∇ψ, so both get exactly 0.)"""
    pair = GaussianPair(3, seed=0)
    x, y = pair.source.sample(64, gen(0)), pair.target.sample(64, gen(1))
    solver = ENOT(hidden_sizes=[8, 8], compile=explicit)   # _step_losses itself is never compiled here
    with torch.random.fork_rng():  # fixed weights whatever other tests did to the global RNG
        torch.manual_seed(0)
        mover, dual = (MLPPotential(3, [8, 8], activation="elu", quadratic=True) for _ in range(2))
    dual_loss, map_loss, dual_value, regulariser = solver._step_losses(mover, dual, x, y)
    assert not dual_value.requires_grad and not regulariser.requires_grad and regulariser > 0
    dual_loss.backward(retain_graph=True)
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in mover.parameters())
    *inner, output_bias = dual.parameters()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in inner)
    assert float(output_bias.grad.abs().sum()) < 1e-6  # zero up to float32 rounding of the batch sums
    for p in dual.parameters():
        p.grad = None
    map_loss.backward()
    assert all(p.grad is None for p in dual.parameters())
    *inner, output_bias = mover.parameters()    # a constant in ψ does not move the map ∇ψ
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in inner)


def test_forward_only_training_has_no_inverse():
    pair = GaussianPair(2, seed=1)
    result = ENOT(hidden_sizes=[16, 16], bidirectional=False).fit(pair.source, pair.target, steps=5,
                                                                  batch_size=32, generator=gen(0))
    assert not result.has_inverse
    with pytest.raises(NotImplementedError):
        result.inverse(pair.target.sample(4, gen(1)))


def test_divergence_keeps_the_last_finite_parameters():
    """lr 1e12 blows up even after the guard's three ×0.1 recoveries: the error carries the last good state."""
    pair = GaussianPair(2, seed=1)
    with pytest.warns(RuntimeWarning, match="diverged"), pytest.raises(TrainingDiverged, match="did not help") as info:
        ENOT(hidden_sizes=[16, 16], lr=1e12).fit(pair.source, pair.target, steps=200, batch_size=32,
                                                 generator=gen(0))
    result = info.value.result
    assert result is not None and len(result.history["divergence_recoveries"]) == 3
    assert all(torch.isfinite(p).all() for p in result.forward_potential.parameters())


@pytest.mark.parametrize(("options", "match"), [
    (dict(expectile=1.0), "expectile"),
    (dict(expectile=0.2), "expectile"),
    (dict(expectile_weight=-1.0), "expectile_weight"),
    (dict(lr=0.0), "lr"),
    (dict(betas=(0.9,)), "betas"),
    (dict(hidden_sizes=[0]), "hidden_sizes"),
    (dict(activation="swish"), "activation"),
    (dict(bidirectional="yes"), "bidirectional"),
    (dict(lr_decay=1), "lr_decay"),
    (dict(compile="yes"), "compile"),
])
def test_bad_options_are_named(options, match):
    with pytest.raises(InvalidInputError, match=match):
        ENOT(**options)


def test_compiled_steps_train_like_eager_steps():
    """``compile=True`` (explicit gradients, ``torch.compile``) takes the same steps as eager autograd: after
    30 steps from the same seed the maps agree to float32 rounding and the dual estimates match step by step.
    (The logged loss may drift by a constant: the output biases get exactly zero gradient in eager mode and
    rounding-level ones when compiled, which Adam turns into small steps; a constant in a potential moves
    neither map nor dual value.)"""
    pair = GaussianPair(2, seed=1)
    runs = [ENOT(hidden_sizes=[16, 16], lr=3e-3, compile=flag).fit(pair.source, pair.target, steps=30, batch_size=64,
                                                                   generator=gen(0)) for flag in (False, True)]
    eager, compiled = runs
    assert compiled.settings["compile"] is True
    assert torch.allclose(torch.tensor(eager.history["w2_dual"]), torch.tensor(compiled.history["w2_dual"]),
                          rtol=1e-3, atol=1e-3)
    x = pair.source.sample(256, gen(1))
    assert torch.allclose(eager.forward(x), compiled.forward(x), atol=1e-4)
    assert torch.allclose(eager.inverse(x), compiled.inverse(x), atol=1e-4)


def test_monge_options_warm_start_ema_mixed_precision():
    """warm_start: the first map is the Bures map (near exact on a Gaussian pair); ema: the result holds the
    averaged networks, not the live ones; mixed_precision: float32 networks, accuracy of the float32 run."""
    from monge.metrics import evaluate

    pair = GaussianPair(8, seed=1)
    score = lambda r: evaluate(r, pair, n=4096, generator=gen(9))["l2_uvp_fwd"]  # noqa: E731
    warm = ENOT(hidden_sizes=[16, 16], warm_start=True, lr=1e-12).fit(pair.source, pair.target, steps=1,
                                                                      batch_size=64, generator=gen(0))
    cold = ENOT(hidden_sizes=[16, 16], lr=1e-12).fit(pair.source, pair.target, steps=1, batch_size=64,
                                                     generator=gen(0))
    assert score(warm) < 0.1 * score(cold)
    averaged = ENOT(hidden_sizes=[16, 16], ema=0.9).fit(pair.source, pair.target, steps=20, batch_size=64,
                                                        generator=gen(0))
    live = ENOT(hidden_sizes=[16, 16]).fit(pair.source, pair.target, steps=20, batch_size=64, generator=gen(0))
    x = pair.source.sample(16, gen(1))
    assert not torch.equal(averaged.forward(x), live.forward(x))
    fp32 = ENOT(hidden_sizes=[32, 32], lr=3e-3, lr_decay=True).fit(pair.source, pair.target, steps=300,
                                                                   batch_size=256, generator=gen(0))
    bf16 = ENOT(hidden_sizes=[32, 32], lr=3e-3, lr_decay=True, mixed_precision=True).fit(
        pair.source, pair.target, steps=300, batch_size=256, generator=gen(0))
    assert all(p.dtype == torch.float32 for p in bf16.forward_potential.parameters())
    assert score(bf16) < 1.5 * score(fp32) + 0.5
    with pytest.raises(InvalidInputError, match="ema"):
        ENOT(ema=1.0)
