"""Contract tests run over every registered W1 (distance-cost) solver: same API, result type and guarantees.

Each solver trains with its ``smoke_options`` on a tiny synthetic pair (x ~ U[0, 1]^3, y = x / 2) for a few
steps; fits are cached per (solver, seed) so that the whole file stays within seconds per solver.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from monge.errors import InvalidInputError
from monge.nets import LipschitzMLP
from monge.solvers import SOLVERS, W1Result, available_solvers, get_solver

SOLVER_NAMES = available_solvers(cost="w1")
LIPSCHITZ_NAMES = [name for name in SOLVER_NAMES if SOLVERS[name].lipschitz_by_construction]
DIM, N, STEPS, BATCH = 3, 256, 20, 64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pair() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(N, DIM, generator=gen(100))
    return x, 0.5 * x


def fit(name: str, *, seed: int = 0, steps: int = STEPS, callback=None, source=None, target=None) -> W1Result:
    x, y = pair()
    solver = get_solver(name, **SOLVERS[name].smoke_options)
    return solver.fit(x if source is None else source, y if target is None else target, steps=steps,
                      batch_size=BATCH, generator=gen(seed), callback=callback)


_FITS: dict[tuple[str, int], W1Result] = {}


def fitted(name: str, seed: int = 0) -> W1Result:
    """A cached fit (tests only read it)."""
    if (name, seed) not in _FITS:
        _FITS[name, seed] = fit(name, seed=seed)
    return _FITS[name, seed]


def test_the_registry_lists_the_w1_solvers():
    assert {"wgan", "wgan-gp", "wgan-lp", "sn-gan", "sort-out"} <= set(SOLVER_NAMES)
    assert {"sn-gan", "sort-out"} <= set(LIPSCHITZ_NAMES)
    assert "wgan" not in LIPSCHITZ_NAMES


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_solver_cites_its_paper_states_defaults_and_settings_are_json(name):
    cls = SOLVERS[name]
    assert cls.cost == "w1"
    assert isinstance(cls.paper, str) and len(cls.paper) > 20
    assert cls.__doc__ and "Args:" in cls.__doc__
    for options in ({}, cls.smoke_options):
        settings = get_solver(name, **options).settings()
        assert settings and json.loads(json.dumps(settings)) == settings


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_result_contract(name):
    result = fitted(name)
    assert isinstance(result, W1Result) and result.solver == name and result.steps == STEPS
    assert result.dim == DIM and math.isfinite(result.w1_estimate)
    for key in ("loss", "w1"):
        assert len(result.history[key]) == STEPS and all(math.isfinite(v) for v in result.history[key]), key
    assert len(result.history["train_time_s"]) == 1 and result.history["train_time_s"][0] >= 0
    x, y = pair()
    grad = result.gradient(y[:50])
    assert grad.shape == (50, DIM) and torch.isfinite(grad).all()
    values = result.potential(x[:50])
    assert values.shape == (50,) and torch.isfinite(values).all()
    assert json.loads(json.dumps(result.settings)) == result.settings
    # NumPy in gives NumPy out and a tensor keeps its dtype, with the same numbers
    as_array = result.gradient(y[:50].double().numpy())
    assert isinstance(as_array, np.ndarray) and as_array.dtype == np.float64
    assert np.allclose(as_array, grad.double().numpy(), atol=1e-6)
    assert result.potential(x[:50].double()).dtype == torch.float64
    # values and (for critic gradients) gradients are differentiable in inputs that require grad
    xg = x[:20].clone().requires_grad_(True)
    (dx,) = torch.autograd.grad(result.potential(xg).sum(), xg)
    assert torch.isfinite(dx).all() and dx.abs().sum() > 0


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_every_parameter_receives_a_gradient(name):
    got_grad: set[str] = set()
    nonzero: set[str] = set()
    first: dict[str, torch.Tensor] = {}
    nets: dict[str, torch.nn.Module] = {}

    def callback(progress):
        result = progress.result()
        nets.update({"critic": result.critic, "mover": result.mover})
        for prefix, net in nets.items():
            for pname, p in ([] if net is None else net.named_parameters()):
                key = f"{prefix}.{pname}"
                if progress.step == 1:
                    first[key] = p.detach().clone()
                if p.grad is not None:
                    got_grad.add(key)
                    if progress.step > 1 and bool(p.grad.ne(0).any()):
                        nonzero.add(key)

    fit(name, callback=callback)
    assert first, "no parameters seen"
    assert set(first) == got_grad, f"parameters that never received a gradient: {sorted(set(first) - got_grad)}"
    final = {f"{prefix}.{pname}": p for prefix, net in nets.items() if net is not None
             for pname, p in net.named_parameters()}
    unchanged = [key for key in nonzero if torch.equal(first[key], final[key].detach())]
    assert not unchanged, f"parameters with non-zero gradients that training never changed: {unchanged}"


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_save_load_round_trip(name, tmp_path):
    result = fitted(name)
    x, y = pair()
    values, grad = result.potential(x[:40]), result.gradient(y[:40])
    loaded = W1Result.load(result.save(tmp_path / name))
    assert loaded.solver == name and loaded.steps == result.steps and loaded.settings == result.settings
    assert loaded.gradient_from == result.gradient_from and (loaded.mover is None) == (result.mover is None)
    assert torch.equal(loaded.potential(x[:40]), values)
    assert torch.equal(loaded.gradient(y[:40]), grad)
    assert torch.equal(loaded.potential(x[:40]), values)   # evaluating changed nothing (eval-mode critics)


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_seeded_training_is_reproducible_and_global_rng_untouched(name):
    state = torch.random.get_rng_state()
    a, b = fit(name, seed=3), fit(name, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    x, y = pair()
    assert torch.equal(a.potential(x[:30]), b.potential(x[:30]))
    assert torch.equal(a.gradient(y[:30]), b.gradient(y[:30]))
    assert a.history["loss"] == b.history["loss"] and a.history["w1"] == b.history["w1"]
    c = fitted(name, seed=0)
    assert not torch.equal(a.potential(x[:30]), c.potential(x[:30]))


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_callback_stops_training_early(name):
    seen = []

    def callback(progress):
        seen.append(progress.step)
        return progress.step == 5

    result = fit(name, callback=callback)
    assert seen == [1, 2, 3, 4, 5] and result.steps == 5
    assert len(result.history["loss"]) == 5 and len(result.history["w1"]) == 5


@pytest.mark.parametrize("name", LIPSCHITZ_NAMES)
def test_lipschitz_by_construction_critics_have_gradients_of_norm_at_most_one(name):
    result = fitted(name)
    points = 3.0 * torch.randn(2000, DIM, generator=gen(7))
    norms = result.gradient(points).norm(dim=1)
    assert norms.max() <= 1 + 1e-3, float(norms.max())


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_bad_options_raise_invalid_input_naming_them(name):
    settings = get_solver(name).settings()
    with pytest.raises(InvalidInputError, match="no_such_option"):
        get_solver(name, no_such_option=1)
    bad = {"lr": -1.0, "hidden_sizes": [0], "activation": "no-such-activation", "betas": (0.5, 2.0)}
    tried = 0
    for key, value in bad.items():
        if key in settings:
            tried += 1
            with pytest.raises(InvalidInputError, match=key):
                get_solver(name, **{key: value})
    assert tried


@pytest.mark.parametrize("name", SOLVER_NAMES)
@pytest.mark.parametrize("which", ["source", "target"])
def test_nan_in_the_data_raises_invalid_input(name, which):
    x, y = pair()
    bad = (x if which == "source" else y).clone()
    bad[3, 1] = float("nan")
    with pytest.raises(InvalidInputError):
        fit(name, **{which: bad})


# ---------------------------------------------------------------------------------------- specific solvers
def test_wgan_weights_stay_clipped_and_defaults_are_the_benchmarks():
    solver = get_solver("wgan")
    assert solver.settings()["clip"] == 0.04 and solver.settings()["lr"] == 2e-4
    assert solver.settings()["optimizer"] == "rmsprop"
    for result in (fitted("wgan"), fit("wgan", steps=3)):
        for p in result.critic.parameters():
            assert p.abs().max() <= 0.04
    adam = get_solver("wgan", optimizer="adam", clip=0.05, **SOLVERS["wgan"].smoke_options)
    x, y = pair()
    result = adam.fit(x, y, steps=5, batch_size=BATCH, generator=gen(0))
    assert result.settings["optimizer"] == "adam" and max(p.abs().max() for p in result.critic.parameters()) <= 0.05
    for key, value in {"clip": 0.0, "optimizer": "sgd"}.items():
        with pytest.raises(InvalidInputError, match=key):
            get_solver("wgan", **{key: value})


def test_lipschitz_solvers_return_eval_mode_lipschitz_mlp_critics():
    sn, so = fitted("sn-gan").critic, fitted("sort-out").critic
    assert isinstance(sn, LipschitzMLP) and sn.constraint == "spectral" and sn.activation == "relu"
    assert isinstance(so, LipschitzMLP) and so.constraint == "orthogonal" and so.activation == "groupsort"
    assert not sn.training and not so.training
    assert sn.lipschitz_bound() <= 1 + 1e-4 and so.lipschitz_bound() <= 1 + 1e-4


def test_sn_gan_and_sort_out_options_are_validated():
    with pytest.raises(InvalidInputError, match="n_power_iterations"):
        get_solver("sn-gan", n_power_iterations=0)
    with pytest.raises(InvalidInputError, match="activation"):
        get_solver("sn-gan", activation="silu")                   # not 1-Lipschitz
    with pytest.raises(InvalidInputError, match="group_size"):
        get_solver("sort-out", group_size=1)
    with pytest.raises(InvalidInputError, match="divisible by group_size 3"):
        get_solver("sort-out", hidden_sizes=[30, 32], group_size=3)
    x, y = pair()                                                 # default widths max(128, 2·dim) = 128
    with pytest.raises(InvalidInputError, match="default hidden_sizes"):
        get_solver("sort-out", group_size=3).fit(x, y, steps=1, batch_size=8)
    result = get_solver("sort-out", hidden_sizes=[12], group_size=4).fit(x, y, steps=2, batch_size=8,
                                                                         generator=gen(0))
    assert result.critic.group_size == 4 and result.settings["group_size"] == 4
