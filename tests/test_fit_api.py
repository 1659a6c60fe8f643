"""``monge.fit`` / ``fit_critic`` in Python: device and dtype, results' ``to``, progress bars, argument errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import monge
from monge.errors import InvalidInputError, UnknownNameError


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def small_fit(source, target, **kwargs):
    return monge.fit(source, target, **{"steps": 20, "batch_size": 32, "generator": gen(0), **kwargs})


def test_numpy_data_train_in_float32_and_dtype_moves_training():
    pair = monge.GaussianPair(2, seed=1)
    xs, xt = pair.source.sample(400, gen(1)).double().numpy(), pair.target.sample(300, gen(2)).double().numpy()
    default = small_fit(xs, xt)
    assert next(default.forward_potential.parameters()).dtype == torch.float32
    double = small_fit(xs, xt, dtype=torch.float64, device="cpu")
    assert next(double.forward_potential.parameters()).dtype == torch.float64
    out = double.forward(torch.from_numpy(xs))
    assert out.dtype == torch.float64 and out.shape == (400, 2)
    assert isinstance(double.forward(xs.astype(np.float32)), np.ndarray)
    assert double.forward(xs.astype(np.float32)).dtype == np.float32
    # a sampler is wrapped so that its samples come in the asked dtype
    from_sampler = small_fit(pair.source, pair.target, dtype=torch.float64)
    assert next(from_sampler.forward_potential.parameters()).dtype == torch.float64


def test_float64_training_reaches_the_known_map():
    pair = monge.GaussianPair(2, seed=1)
    result = monge.fit(pair.source, pair.target, solver="enot", steps=250, batch_size=128, generator=gen(0),
                       dtype=torch.float64)
    metrics = monge.evaluate(result.to(dtype=torch.float32), pair, generator=gen(3))
    # version 3 of gaussian:2 seed 1 (identity 41.5 %): measured 3.1 % and cosine 0.963 (0.97 held on version 2)
    assert metrics["l2_uvp_fwd"] < 5.0 and metrics["cos_fwd"] > 0.95, metrics


def test_results_move_between_devices_and_dtypes_without_changing_the_original():
    pair = monge.GaussianPair(3, seed=0)
    result = small_fit(pair.source, pair.target, solver="w2gn", hidden_sizes=[8, 8], pretrain_steps=10)
    x = pair.source.sample(7, gen(1))
    moved = result.to(dtype=torch.float64)
    assert next(result.forward_potential.parameters()).dtype == torch.float32       # the original is unchanged
    assert torch.allclose(moved.forward(x.double()), result.forward(x).double(), atol=1e-5)
    meta = result.to("meta")
    out = meta.forward(torch.empty(7, 3, device="meta"))
    assert out.device.type == "meta" and out.shape == (7, 3)
    assert meta.inverse(torch.empty(2, 3, device="meta")).shape == (2, 3)
    with pytest.raises(InvalidInputError, match=r"on cpu but the map's parameters are on meta.*result\.to"):
        meta.forward(x)
    critic = monge.fit_critic(pair.source, pair.target, steps=10, batch_size=32, generator=gen(0),
                              hidden_sizes=[8, 8])
    assert critic.to("meta").potential(torch.empty(5, 3, device="meta")).shape == (5,)
    assert critic.to(dtype=torch.float64).gradient(x.double()).dtype == torch.float64


def test_progress_bar_shows_steps_loss_and_cost(capsys):
    pair = monge.GaussianPair(2, seed=1)
    seen = []
    small_fit(pair.source, pair.target, progress=True, callback=seen.append)
    err = capsys.readouterr().err
    assert "20/20" in err and "loss" in err and "w2_dual" in err
    assert len(seen) == 20                                  # the user's callback still sees every step
    monge.fit_critic(pair.source, pair.target, steps=12, batch_size=32, generator=gen(0), progress=True)
    err = capsys.readouterr().err
    assert "12/12" in err and "w1" in err
    small_fit(pair.source, pair.target)
    assert capsys.readouterr().err == ""                    # off by default


def test_progress_bar_under_a_time_budget_shows_the_planned_total(capsys):
    pair = monge.GaussianPair(2, seed=1)
    result = monge.fit(pair.source, pair.target, time_budget=2, batch_size=32, generator=gen(0), progress=True)
    err = capsys.readouterr().err
    assert f"{result.steps}/{result.steps}" in err or f"{result.steps}/" in err


@pytest.mark.parametrize("kwargs, match", [
    ({"solver": None}, "solver must be a registered solver name"),
    ({"generator": "0"}, "generator must be a torch.Generator"),
    ({"progress": "yes"}, "progress must be True or False"),
    ({"dtype": torch.int64}, "dtype must be a floating-point"),
])
def test_bad_arguments_are_named(kwargs, match):
    pair = monge.GaussianPair(2, seed=1)
    with pytest.raises(InvalidInputError, match=match):
        small_fit(pair.source, pair.target, **kwargs)


def test_missing_data_and_unknown_solver_are_named():
    pair = monge.GaussianPair(2, seed=1)
    with pytest.raises(InvalidInputError, match="source: expected a sampler, tensor or array.*got None"):
        monge.fit(None, pair.target, steps=1)
    with pytest.raises(InvalidInputError, match="target: expected .*got dict"):
        monge.fit(pair.source, {"x": 1}, steps=1)
    with pytest.raises(UnknownNameError, match="unknown solver 'nope'"):
        monge.fit(pair.source, pair.target, solver="nope")
    with pytest.raises(InvalidInputError, match="fits a W1 critic: use monge.fit_critic"):
        monge.fit(pair.source, pair.target, solver="wgan-lp")
    with pytest.raises(InvalidInputError, match="fits a W2 map: use monge.fit"):
        monge.fit_critic(pair.source, pair.target, solver="enot")
    result = small_fit(pair.source, pair.target)
    with pytest.raises(InvalidInputError, match="batch_size must be a positive integer"):
        result.forward(pair.source.sample(3, gen(0)), batch_size=0)


def test_public_names_resolve_and_stay_lazy():
    import subprocess
    import sys

    code = "import sys, monge; assert 'torch' not in sys.modules; print(len(dir(monge)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(monge.__all__)
    for name in monge.__all__:
        assert getattr(monge, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'torch'"):
        monge.torch  # noqa: B018
    code = "import monge; assert monge.solvers.W2GN is monge.W2GN and monge.pairs.GaussianPair is monge.GaussianPair"
    subprocess.run([sys.executable, "-c", code], check=True)           # subpackages as attributes, as before
