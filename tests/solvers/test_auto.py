"""``solver="auto"``: the choice by dimension, steps and data size; the result it returns; its accuracy."""

from __future__ import annotations

import pytest
import torch

import monge
from monge.errors import InvalidInputError
from monge.metrics import evaluate
from monge.pairs import GaussianPair
from monge.solvers import Auto, choose_solver, get_solver
from monge.solvers.auto import COMPILE_MIN_STEPS


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("dim", "widths"), [(1, [64, 64, 64]), (2, [64, 64, 64]), (4, [64, 64, 64]),
                                             (8, [96, 96, 96]), (16, [96, 96, 96]),
                                             (32, [96, 96, 96, 96]), (33, [128, 128, 128, 128]),
                                             (256, [128, 128, 128, 128])])
def test_widths_follow_the_dimension(dim, widths):
    choice = choose_solver(dim)
    assert choice.solver == "enot" and choice.options["hidden_sizes"] == widths
    assert choice.options["lr"] == (3e-3 if dim <= 32 else 1e-3 if dim <= 64 else 3e-4)
    assert choice.options["lr_decay"] is True
    assert get_solver(choice.solver, **choice.options).settings()["hidden_sizes"] == widths


def test_bfloat16_products_from_d32_where_the_device_has_them(monkeypatch):
    import monge.solvers.auto as auto_module

    monkeypatch.setattr(auto_module, "fast_bfloat16", lambda device="cpu": True)
    assert choose_solver(32).options["mixed_precision"] is True and "bfloat16" in choose_solver(32).reason
    assert choose_solver(16).options["mixed_precision"] is False
    monkeypatch.setattr(auto_module, "fast_bfloat16", lambda device="cpu": False)
    assert choose_solver(256).options["mixed_precision"] is False


def test_auto_maps_in_the_data_units():
    """Data far from the origin and spread wide (×30, +100): auto trains on standardised data and returns a map
    in the data's units, as accurate as on the original pair, that saves and loads."""
    from monge.metrics import l2_uvp
    from monge.solvers.base import W2Result

    pair = GaussianPair(4, seed=1)
    x0 = pair.source.sample(4096, gen(5))
    result = monge.fit(pair.source.sample(20000, gen(0)) * 30 + 100, pair.target.sample(20000, gen(1)) * 30 + 100,
                       steps=400, batch_size=256, generator=gen(2))
    mapped = (result.forward(x0 * 30 + 100) - 100) / 30
    variance = float(pair.target.sample(20000, gen(3)).var(0).sum())
    assert l2_uvp(mapped, pair.true_forward(x0), variance) < 3.0
    assert result.cost_estimate == pytest.approx(900 * pair.true_cost, rel=0.1)


def test_compilation_only_pays_off_on_long_runs():
    assert choose_solver(8, steps=COMPILE_MIN_STEPS - 1).options["compile"] is False
    assert choose_solver(8, steps=COMPILE_MIN_STEPS).options["compile"] is True


def test_batch_is_capped_by_the_number_of_samples():
    assert choose_solver(2, batch_size=1024, n_samples=300).batch_size == 300
    assert choose_solver(2, batch_size=256, n_samples=300).batch_size == 256
    assert choose_solver(2, batch_size=256).batch_size == 256
    assert "capped by 300 samples" in choose_solver(2, n_samples=300).reason


@pytest.mark.parametrize("dim", [0, -1, 2.5, True, "8"])
def test_bad_dimension_is_named(dim):
    with pytest.raises(InvalidInputError, match="dim"):
        choose_solver(dim)


def test_bad_compile_option_is_named():
    with pytest.raises(InvalidInputError, match="compile"):
        Auto(compile="yes")


def test_fit_reports_the_choice_and_uses_the_capped_batch():
    """Finite data of 40 samples: batches of 40 (not 64); the result is labelled auto and names ENOT."""
    x = torch.randn(40, 2, generator=gen(0))
    y = torch.randn(60, 2, generator=gen(1)) + 3.0
    seen = []
    result = monge.fit(x, y, steps=5, batch_size=64, generator=gen(2),
                       callback=lambda p: seen.append(p.result().forward(x[:1])) and False)
    assert result.solver == "auto" and result.steps == 5 and len(seen) == 5
    assert result.settings["chosen_solver"] == "enot"
    assert result.settings["hidden_sizes"] == [64, 64, 64] and result.settings["compile"] is False
    assert "batch 40 (capped by 40 samples)" in result.settings["reason"]


def test_compile_option_overrides_the_choice():
    pair = GaussianPair(2, seed=0)
    assert Auto().plan(pair.source, pair.target, steps=COMPILE_MIN_STEPS).options["compile"] is True
    planned = Auto(compile=False).settings_for_run(pair.source, pair.target, steps=COMPILE_MIN_STEPS, batch_size=8)
    assert planned["chosen_solver"] == "enot" and planned["compile"] is False and planned["batch_size"] == 8
    result = Auto(compile=False).fit(pair.source, pair.target, steps=COMPILE_MIN_STEPS, batch_size=8,
                                     generator=gen(0), callback=lambda p: p.step >= 3)
    assert result.settings["compile"] is False and result.steps == 3
    assert result.settings["reason"].endswith("compile=False by request")


def test_auto_recovers_the_gaussian_map():
    """D = 4, 800 steps of batch 256 (eager: fewer than COMPILE_MIN_STEPS). Measured forward L2-UVP 0.49 %,
    inverse 0.63 %; the identity is ≈ 100 %."""
    pair = GaussianPair(4, seed=0)
    result = monge.fit(pair.source, pair.target, steps=800, batch_size=256, generator=gen(0))
    metrics = evaluate(result, pair, n=4096, generator=gen(1))
    assert metrics["l2_uvp_fwd"] < 2.0 and metrics["l2_uvp_inv"] < 2.0, metrics


def test_fit_with_a_time_budget_plans_its_steps_and_ends_its_schedule():
    """``monge.fit(..., time_budget=s)``: the step count comes from the measured rate, and the cosine schedule
    of auto's ENOT ends with the run (its last learning rate is a tiny fraction of the first)."""
    import monge
    from monge.solvers.loop import BUDGET_STEP_CAP

    pair = GaussianPair(2, seed=1)
    rates = []

    def watch(progress):
        rates.append(progress.state.parts["psi_optimizer"].param_groups[0]["lr"])

    result = monge.fit(pair.source, pair.target, time_budget=2.0, batch_size=64, generator=gen(0), callback=watch)
    assert 20 < result.steps < BUDGET_STEP_CAP and len(rates) == result.steps
    assert rates[-1] < 0.05 * rates[0]
    assert "2 s budget" in result.settings["reason"] and result.settings["compile"] is False
    capped = monge.fit(pair.source, pair.target, time_budget=60.0, steps=15, batch_size=64, generator=gen(0))
    assert capped.steps == 15
    with pytest.raises(InvalidInputError, match="time_budget"):
        monge.fit(pair.source, pair.target, time_budget=-1.0)


def test_auto_compiles_for_long_budgets_only():
    assert choose_solver(64, steps=10**7, time_budget=600.0).options["compile"] is True
    assert choose_solver(64, steps=10**7, time_budget=10.0).options["compile"] is False
    assert "600 s budget" in choose_solver(64, steps=10**7, time_budget=600.0).reason
