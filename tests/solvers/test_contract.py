"""Contract tests run over every registered W2 solver: the same API, result type and guarantees."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monge.errors import NoInverseError
from monge.pairs import GaussianPair
from monge.solvers import SOLVERS, W2Result, available_solvers, get_solver

SOLVER_NAMES = available_solvers(cost="w2")


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def fit_small(name: str, *, steps: int = 12, seed: int = 0, pair=None):
    pair = pair or GaussianPair(3, seed=0)
    solver = get_solver(name, **SOLVERS[name].smoke_options)
    return solver.fit(pair.source, pair.target, steps=steps, batch_size=64, generator=gen(seed)), pair


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_solver_cites_its_paper_and_states_defaults(name):
    cls = SOLVERS[name]
    assert isinstance(cls.paper, str) and len(cls.paper) > 20
    assert cls.__doc__ and "Args:" in cls.__doc__  # hyper-parameters and defaults documented on the class
    settings = get_solver(name).settings()
    assert settings and all(isinstance(k, str) for k in settings)


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_result_contract(name, tmp_path):
    result, pair = fit_small(name)
    assert isinstance(result, W2Result) and result.solver == name and result.steps == 12
    x, y = pair.source.sample(20, gen(1)), pair.target.sample(20, gen(2))
    mapped = result.forward(x)
    assert mapped.shape == (20, 3) and torch.isfinite(mapped).all()
    maps = [(result.forward, x, mapped)]
    if result.has_inverse:
        assert result.inverse(y).shape == (20, 3)
        maps.append((result.inverse, y, result.inverse(y)))
    else:
        with pytest.raises(NoInverseError, match="no inverse"):
            result.inverse(y)
    for apply, points, out in maps:
        # NumPy in gives NumPy out and a tensor keeps its dtype, with the same numbers
        as_array = apply(points.double().numpy())
        assert isinstance(as_array, np.ndarray) and as_array.dtype == np.float64
        assert np.allclose(as_array, out.double().numpy(), atol=1e-6)
        assert apply(points.double()).dtype == torch.float64 and not apply(points).requires_grad
        # the maps are differentiable in inputs that require grad, and the gradient reaches them
        pg = points.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(apply(pg).pow(2).sum(), pg)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert len(result.history["loss"]) == 12 and all(map(lambda v: v == v, result.history["loss"]))
    loaded = W2Result.load(result.save(tmp_path / name))
    assert torch.equal(loaded.forward(x), mapped)


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_seeded_training_is_reproducible_and_global_rng_untouched(name):
    state = torch.random.get_rng_state()
    a, pair = fit_small(name, seed=3)
    b, _ = fit_small(name, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    x = pair.source.sample(10, gen(4))
    assert torch.equal(a.forward(x), b.forward(x))


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_bad_fit_input_is_named(name):
    """Every solver rejects mismatched dimensions, a non-positive budget and NaN samples before training."""
    from monge.errors import DimensionMismatchError, InvalidInputError

    solver = get_solver(name, **SOLVERS[name].smoke_options)
    x = torch.randn(32, 2, generator=gen(0))
    with pytest.raises(DimensionMismatchError):
        solver.fit(x, torch.randn(32, 3, generator=gen(1)), steps=2, batch_size=8)
    with pytest.raises(InvalidInputError, match="steps"):
        solver.fit(x, x, steps=0, batch_size=8)
    with pytest.raises(InvalidInputError, match="batch_size"):
        solver.fit(x, x, steps=2, batch_size=0)
    with pytest.raises(InvalidInputError, match="source"):
        solver.fit(torch.full((8, 2), float("nan")), x, steps=2, batch_size=8)


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_training_time_is_recorded_also_when_stopped_early(name):
    """The shared loop records ``history["train_time_s"]`` (one positive value, from the start of ``fit``),
    whether training runs all its steps or a callback stops it."""
    full, _ = fit_small(name, steps=3)
    pair = GaussianPair(3, seed=0)
    solver = get_solver(name, **SOLVERS[name].smoke_options)
    stopped = solver.fit(pair.source, pair.target, steps=50, batch_size=64, generator=gen(0),
                         callback=lambda progress: progress.step >= 2)
    assert stopped.steps == 2 and len(stopped.history["loss"]) == 2
    for result in (full, stopped):
        assert len(result.history["train_time_s"]) == 1 and result.history["train_time_s"][0] > 0
