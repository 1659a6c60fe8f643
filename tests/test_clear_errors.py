"""Inputs that used to give obscure errors (AttributeError, torch RuntimeErrors) get monge errors naming them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import monge
from monge.errors import InvalidInputError, NonFiniteError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def pair():
    return monge.GaussianPair(2, seed=1)


@pytest.mark.parametrize("call", [
    lambda p: monge.fit(p.source, p.target, steps=1, batch_size=8, generator="seed"),
    lambda p: monge.fit_critic(p.source, p.target, steps=1, batch_size=8, generator="seed"),
    lambda p: p.source.sample(4, "seed"),
    lambda p: monge.get_solver("w2gn").fit(p.source, p.target, steps=1, batch_size=8, generator=3),
    lambda p: monge.evaluate(monge.fit(p.source, p.target, steps=1, batch_size=8), p, generator="seed"),
])
def test_a_generator_of_the_wrong_type_is_named(pair, call):
    with pytest.raises(InvalidInputError, match="generator must be a torch.Generator or None, got"):
        call(pair)


@pytest.mark.parametrize("solver", ["enot", "w2gn", "mm-2", "lsot", "wgan-lp", "sort-out"])
def test_mixed_dtypes_are_named_and_dtype_converts_both(solver):
    x32, y64 = torch.randn(64, 2, generator=gen(0)), torch.randn(64, 2, generator=gen(1)).double()
    fit = monge.fit_critic if solver in monge.available_solvers("w1") else monge.fit
    with pytest.raises(InvalidInputError, match="source samples are torch.float32 but target samples are "
                                                "torch.float64.*dtype="):
        fit(x32, y64, solver=solver, steps=1, batch_size=8)
    result = fit(x32, y64, solver=solver, steps=1, batch_size=8, generator=gen(), dtype=torch.float64,
                 hidden_sizes=[4, 4])
    assert result.steps == 1


@pytest.mark.parametrize("solver", ["sort-out", "wgan-lp", "enot"])
def test_half_precision_data_is_named(solver):
    x = torch.randn(64, 2, generator=gen(0)).half()
    fit = monge.fit_critic if solver in monge.available_solvers("w1") else monge.fit
    with pytest.raises(InvalidInputError, match="samples are torch.float16, but training needs float32 or float64"):
        fit(x, x + 1, solver=solver, steps=1, batch_size=8)


def test_none_and_bad_arguments_are_named(pair):
    result = monge.fit(pair.source, pair.target, steps=2, batch_size=8, generator=gen())
    with pytest.raises(InvalidInputError, match="result: expected a fitted result"):
        monge.evaluate(None, pair)
    with pytest.raises(InvalidInputError, match="pair: expected a benchmark pair"):
        monge.evaluate(result, None)
    with pytest.raises(InvalidInputError, match="solver must be a registered solver name"):
        monge.fit(pair.source, pair.target, solver=None)
    with pytest.raises(InvalidInputError, match="solver must be a registered solver name"):
        monge.get_solver(None)
    for batch_size in (0, -1, 2.5, "8"):
        with pytest.raises(InvalidInputError, match="batch_size must be a positive integer"):
            result.forward(pair.source.sample(4, gen()), batch_size=batch_size)
    with pytest.raises(InvalidInputError, match="x: expected real samples, got complex"):
        result.forward(np.ones((3, 2), dtype=np.complex64))


def test_non_finite_outputs_raise(pair):
    result = monge.fit(pair.source, pair.target, solver="w2gn", steps=2, batch_size=8, generator=gen(),
                       hidden_sizes=[4], pretrain_steps=2)
    blown = result.to()
    with torch.no_grad():
        for p in blown.forward_potential.parameters():
            p.mul_(1e30)
    x = pair.source.sample(5, gen())
    with pytest.raises(NonFiniteError, match=r"the map \(x\) produced NaN or inf for \d of 5 rows"):
        blown.forward(x)
    assert torch.isfinite(result.forward(x)).all()                     # the original is untouched
    nan_map = monge.PushForward(pair.source, lambda v: v * float("nan"))
    with pytest.raises(NonFiniteError, match="sampler PushForward.*produced NaN or inf for 3 of 3 rows"):
        nan_map.sample(3, gen())


def test_an_impossible_pair_size_is_refused_before_allocating():
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(InvalidInputError, match=r"GaussianPair\(100000\) needs about \d+\.\d GiB, more than 50% of"):
            monge.make_pair("gaussian:100000")
        assert tracemalloc.get_traced_memory()[1] < 2**26               # nothing big was allocated
    finally:
        tracemalloc.stop()
