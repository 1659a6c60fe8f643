"""Every metric monge stores has a declared direction, and ``best`` values (store, ``monge results``) follow it."""

from __future__ import annotations

import csv
import io

import pytest

from monge.errors import InvalidInputError, UnknownNameError
from monge.metrics import METRICS, best_value, metric_direction, metric_info, register_metric
from monge.metrics.registry import DIRECTIONS
from monge.run import ResultStore, RunConfig, run_bench
from monge.results import records_table, run_records, to_csv
from monge.solvers import SOLVERS


@pytest.fixture(scope="module")
def stored_metric_names(tmp_path_factory):
    """Every metric name a real bench stores: W2 maps on a ground-truth pair and on a toy pair, a W1 critic on a
    ground-truth funnel pair and on a toy pair, and the baselines of both ground-truth pairs."""
    root = tmp_path_factory.mktemp("metrics")
    w2, w1 = dict(SOLVERS["w2gn"].smoke_options), dict(SOLVERS["wgan-lp"].smoke_options)
    small = dict(steps=4, batch_size=32, eval_every=2, eval_samples=256)
    configs = [RunConfig("w2gn", "gaussian:2", solver_options=w2, **small),
               RunConfig("w2gn", "toy:4gaussians", solver_options=w2, **small),
               RunConfig("wgan-lp", "funnel:2:4", solver_options=w1, **small),
               RunConfig("wgan-lp", "toy:4gaussians", solver_options=w1, **small)]
    with ResultStore(root / "r.sqlite") as store:
        run_bench(configs, store, progress=False, baselines=True)
        names = {row[0] for row in store.conn.execute("SELECT DISTINCT metric FROM evals")}
    return names


def test_every_stored_metric_is_declared_with_a_direction(stored_metric_names):
    """A metric added to an evaluation without a declaration in monge.metrics.registry fails here."""
    expected_somewhere = {"l2_uvp_fwd", "l2_uvp_inv", "cos_fwd", "cost_error", "cost_true", "l2_uvp_fwd_identity",
                          "w2_ratio", "cos_grad", "w1_dev", "w1_estimate"}
    assert expected_somewhere <= stored_metric_names
    undeclared = sorted(stored_metric_names - set(METRICS))
    assert not undeclared, f"metrics stored without a declared direction: {undeclared}"
    for name in stored_metric_names:
        assert metric_direction(name) in DIRECTIONS


@pytest.mark.parametrize("name", sorted(METRICS))
def test_best_follows_the_declared_direction_in_the_store_and_the_csv(tmp_path, name):
    """For every declared metric: the store's ``best`` and the CSV's ``best_<metric>`` are the minimum for
    lower-is-better metrics, the maximum for higher-is-better ones, and absent for reference quantities; the
    final value is always the last one."""
    info = metric_info(name)
    assert info.direction in DIRECTIONS and info.label and info.description
    values = [2.0, 1.0, 3.0, 2.5]  # best is neither the first nor the last value
    with ResultStore(tmp_path / "r.sqlite") as store:
        run = store.start_run(solver="s", pair="p", dim=2, seed=0, steps_requested=4, batch_size=8, eval_every=1)
        for step, value in enumerate(values, start=1):
            store.log_eval(run, step, float(step), {name: value, "undeclared_metric": value})
        store.finish_run(run, "finished", steps_done=4)
        (row,) = store.leaderboard()
    record = run_records([row])[0]
    parsed = next(csv.DictReader(io.StringIO(to_csv(records_table([row])))))
    assert row["final"][name] == 2.5 and float(parsed[f"final_{name}"]) == 2.5
    expected = {"lower": 1.0, "higher": 3.0, "none": None}[info.direction]
    assert row["best"].get(name) == expected
    if expected is None:
        assert f"best_{name}" not in record
    else:
        assert record[f"best_{name}"] == expected and float(parsed[f"best_{name}"]) == expected
    # an undeclared metric keeps its final value but gets no best: there is no right direction to guess
    assert "undeclared_metric" not in row["best"] and "best_undeclared_metric" not in record
    assert record["final_undeclared_metric"] == 2.5


def test_cost_error_is_lower_is_better():
    """The reported bug: ``best_cost_error`` was the worst value (``"cost_error".startswith("cos")``)."""
    assert metric_direction("cost_error") == "lower"
    assert best_value("cost_error", [925.9, 937.9, 941.4, 951.7]) == 925.9
    assert metric_direction("cos_fwd") == "higher"
    assert best_value("cos_fwd", [0.2, None, float("nan"), 0.9, 0.5]) == 0.9
    assert best_value("l2_uvp_fwd", [None, float("inf")]) is None
    assert best_value("cost_true", [1.0, 2.0]) is None and best_value("no_such_metric", [1.0]) is None


def test_registry_validation():
    with pytest.raises(UnknownNameError, match="unknown metric 'nope'"):
        metric_direction("nope")
    with pytest.raises(InvalidInputError, match="direction must be one of lower, higher, none, got 'up'"):
        register_metric("test_metric_bad", direction="up", label="x", description="x")
    with pytest.raises(InvalidInputError, match="already declared"):
        register_metric("l2_uvp_fwd", direction="lower", label="x", description="x")
    assert "test_metric_bad" not in METRICS
    try:
        info = register_metric("test_metric_new", direction="higher", label="new", description="a test metric")
        assert info.log_scale is False and metric_info("test_metric_new") is info
        assert register_metric("test_metric_new", direction="lower", label="new", description="d",
                               replace=True).log_scale is True
    finally:
        METRICS.pop("test_metric_new", None)
