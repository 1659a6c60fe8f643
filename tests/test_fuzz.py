"""A fuzz of the public API: whatever it is given, monge returns a usable result or raises one of its own errors.

``fit``, ``fit_critic``, ``evaluate``, the fitted maps, the samplers and the result loaders get arbitrary
arguments (arrays of every shape, dtype and value, wrong types, bad sizes and devices, corrupted files). Every
failure must be a :class:`~monge.errors.MongeError` whose message names the argument — never an AttributeError,
a torch RuntimeError or a silent NaN. CI runs a few hundred cases under a fixed seed (the ``ci`` profile); set
``HYPOTHESIS_PROFILE=thorough`` for thousands of cases.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import monge
from monge.errors import MongeError

settings.register_profile("ci", max_examples=60, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")

DTYPES = [np.float64, np.float32, np.float16, np.int64, np.bool_, np.complex64]
SPECIAL = [np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, 1e-300]


def mostly(valid, invalid):
    """``valid`` seven times in eight, else ``invalid``: the fuzz reaches training as well as the checks."""
    return st.integers(0, 7).flatmap(lambda i: invalid if i == 7 else valid)


@st.composite
def arrays(draw, dim: int | None = None):
    """Mostly well-formed (n, dim) data, often broken: other shapes, dtypes, NaN/inf, torch or NumPy or lists."""
    rows = draw(mostly(st.sampled_from([5, 40]), st.sampled_from([0, 1, 2])))
    d = dim or 2
    shape = draw(mostly(st.just((rows, d)), st.sampled_from([(rows, 3), (rows,), (rows, d, 2), (), (rows, 0)])))
    dtype = draw(mostly(st.sampled_from(DTYPES[:2]), st.sampled_from(DTYPES[2:])))
    data = np.random.default_rng(draw(st.integers(0, 2**16))).normal(size=shape).astype(dtype)
    if data.size and np.issubdtype(dtype, np.floating) and draw(st.integers(0, 7)) == 0:
        data.flat[draw(st.integers(0, data.size - 1))] = draw(st.sampled_from(SPECIAL))
    kind = draw(st.sampled_from(["numpy", "torch", "torch", "list"]))
    if kind == "torch":
        return torch.from_numpy(data)
    return data.tolist() if kind == "list" else data


JUNK = st.sampled_from([None, "x", 3, 2.5, {"a": 1}, object(), [[1, "a"]], b"bytes", torch.device("meta")])
GENERATORS = mostly(st.sampled_from([None, "seeded"]), st.sampled_from([0, "0", 1.5, np.random.default_rng(0)]))
BATCH_SIZES = mostly(st.sampled_from([1, 16]), st.sampled_from([0, -3, 2.5, "16", None, True]))
STEPS = mostly(st.sampled_from([1, 2]), st.sampled_from([0, -1, 1.5, "2", None]))
DATA = mostly(arrays(), JUNK)


def generator_of(value):
    return torch.Generator().manual_seed(0) if value == "seeded" else value


def only_monge_errors(call):
    """Run ``call``; a raised exception must be a MongeError whose message is not empty."""
    try:
        out = call()
    except MongeError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        event(f"raised {type(exc).__name__}: {str(exc)[:70]}")
        return None
    event("returned")
    return out


@settings(settings.get_profile(PROFILE))
@given(source=DATA, target=DATA, solver=mostly(st.sampled_from(["enot", "w2gn", "auto"]), st.sampled_from(["nope", None, 3])),
       steps=STEPS, batch_size=BATCH_SIZES, generator=GENERATORS,
       device=mostly(st.sampled_from([None, "cpu"]), st.sampled_from(["nowhere", 7])),
       dtype=mostly(st.sampled_from([None, torch.float64]), st.sampled_from([torch.float16, torch.int64, "float32"])),
       time_budget=mostly(st.sampled_from([None, None, 0.2]), st.sampled_from([0, -1, float("nan"), "1"])))
def test_fit_returns_a_usable_map_or_a_monge_error(source, target, solver, steps, batch_size, generator, device,
                                                   dtype, time_budget):
    options = {"hidden_sizes": [4]} if solver in ("enot", "w2gn") else {}
    if solver == "w2gn":
        options["pretrain_steps"] = 2
    result = only_monge_errors(lambda: monge.fit(
        source, target, solver=solver, steps=steps, batch_size=batch_size, generator=generator_of(generator), device=device,
        dtype=dtype, time_budget=time_budget, **options))
    if result is not None:
        x = torch.zeros(3, result.dim, dtype=next(result.forward_potential.parameters()).dtype)
        assert torch.isfinite(result.forward(x)).all()


@settings(settings.get_profile(PROFILE))
@given(source=DATA, target=DATA, solver=mostly(st.sampled_from(["wgan-lp", "wgan-gp", "sort-out"]),
                                               st.sampled_from(["w2gn", "nope"])),
       steps=STEPS, batch_size=BATCH_SIZES, generator=GENERATORS,
       dtype=mostly(st.sampled_from([None, torch.float64]), st.just(torch.float16)))
def test_fit_critic_returns_a_critic_or_a_monge_error(source, target, solver, steps, batch_size, generator, dtype):
    result = only_monge_errors(lambda: monge.fit_critic(source, target, solver=solver, steps=steps,
                                                        batch_size=batch_size, generator=generator_of(generator),
                                                        dtype=dtype,
                                                        hidden_sizes=[4, 4]))
    if result is not None:
        assert np.isfinite(result.w1_estimate) or result.w1_estimate != result.w1_estimate


@pytest.fixture(scope="module")
def fitted():
    pair = monge.GaussianPair(2, seed=1)
    g = torch.Generator().manual_seed(0)
    maps = monge.fit(pair.source, pair.target, solver="w2gn", steps=3, batch_size=16, generator=g,
                     hidden_sizes=[4], pretrain_steps=2)
    critic = monge.fit_critic(pair.source, pair.target, steps=3, batch_size=16, generator=g, hidden_sizes=[4])
    return pair, maps, critic


@settings(settings.get_profile(PROFILE))
@given(data=DATA, batch_size=BATCH_SIZES, which=st.sampled_from(range(4)))
def test_maps_return_the_input_kind_or_a_monge_error(fitted, data, batch_size, which):
    _, maps, critic = fitted
    apply = [maps.forward, maps.inverse, critic.potential, critic.gradient][which]
    out = only_monge_errors(lambda: apply(data, batch_size=batch_size))
    if out is not None:
        assert isinstance(out, torch.Tensor if isinstance(data, torch.Tensor) else np.ndarray)
        assert np.isfinite(np.asarray(out.detach() if isinstance(out, torch.Tensor) else out)).all()


@settings(settings.get_profile(PROFILE))
@given(result=mostly(st.sampled_from(["maps", "critic"]), st.sampled_from([None, "junk"])),
       pair=mostly(st.sampled_from(["w2", "toy"]), st.sampled_from([None, "junk"])),
       n=mostly(st.just(64), st.sampled_from([0, -2, 2.5, None])), generator=GENERATORS)
def test_evaluate_scores_or_raises_a_monge_error(fitted, result, pair, n, generator):
    w2pair, maps, critic = fitted
    results = {"maps": maps, "critic": critic, None: None, "junk": object()}
    pairs = {"w2": w2pair, "toy": monge.make_pair("toy:swiss_roll"), None: None, "junk": 3}
    scores = only_monge_errors(lambda: monge.evaluate(results[result], pairs[pair], n=n,
                                                      generator=generator_of(generator)))
    if scores is not None:
        assert all(np.isfinite(v) for v in scores.values() if isinstance(v, float))


@settings(settings.get_profile(PROFILE))
@given(kind=st.sampled_from(["gaussian", "empirical", "normal", "mixture"]), a=DATA, b=DATA,
       n=mostly(st.sampled_from([1, 5]), st.sampled_from([0, -1, 2.5, None, "3"])), generator=GENERATORS)
def test_samplers_sample_or_raise_a_monge_error(kind, a, b, n, generator):
    def build_and_sample():
        if kind == "gaussian":
            sampler = monge.Gaussian(a, b)
        elif kind == "empirical":
            sampler = monge.Empirical(a)
        elif kind == "normal":
            sampler = monge.StandardNormal(a if not isinstance(a, (np.ndarray, torch.Tensor, list)) else 2)
        else:
            sampler = monge.GaussianMixture(a, b, weights=torch.ones(2) / 2)
        return sampler.sample(n, generator_of(generator))

    out = only_monge_errors(build_and_sample)
    if out is not None:
        assert torch.isfinite(out).all()


@settings(settings.get_profile(PROFILE))
@given(target=st.sampled_from(["forward.pt", "inverse.pt", "result.json"]), offset=st.floats(0, 0.999),
       mode=st.sampled_from(["flip", "truncate", "empty", "garbage", "delete"]))
def test_damaged_result_folders_raise_checkpoint_errors(fitted, tmp_path_factory, target, offset, mode):
    _, maps, _ = fitted
    folder = maps.save(tmp_path_factory.mktemp("fuzz") / "r")
    path = folder / target
    data = bytearray(path.read_bytes())
    cut = int(len(data) * offset)
    if mode == "flip":
        data[cut] ^= 0xFF
        path.write_bytes(bytes(data))
    elif mode == "truncate":
        path.write_bytes(bytes(data[:cut]))
    elif mode == "empty":
        path.write_bytes(b"")
    elif mode == "garbage":
        path.write_bytes(os.urandom(64))
    else:
        path.unlink()
    with pytest.raises(monge.CheckpointError):
        monge.W2Result.load(folder)
    shutil.rmtree(folder)
