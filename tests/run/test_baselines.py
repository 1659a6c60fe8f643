"""Baseline maps stored as leaderboard rows beside the solver runs."""

from __future__ import annotations

import pytest

from monge.config.run import RunConfig
from monge.run.runner import run_bench
from monge.results import ResultStore


@pytest.fixture()
def store(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as s:
        yield s


def test_every_ground_truth_pair_gets_baseline_rows(store):
    configs = [RunConfig("w2gn", "gaussian:2", seed=1, steps=20, batch_size=64, eval_samples=1024,
                         solver_options={"hidden_sizes": [16, 16, 8], "pretrain_steps": 50}),
               RunConfig("w2gn", "toy:4gaussians", steps=10, batch_size=64, eval_samples=512,
                         solver_options={"hidden_sizes": [16, 16, 8], "pretrain_steps": 50})]
    summaries = run_bench(configs, store, progress=False, baselines=True)
    names = [(s.solver, s.pair) for s in summaries]
    assert names[:2] == [("w2gn", "gaussian:2"), ("w2gn", "toy:4gaussians")]
    assert names[2:] == [(f"baseline:{b}", "gaussian:2") for b in ("identity", "constant", "linear", "discrete_ot")]
    by_name = {s.solver: s for s in summaries}
    assert by_name["baseline:linear"].metric("l2_uvp_fwd") < 0.01
    assert by_name["baseline:identity"].metric("l2_uvp_fwd") > 30
    assert by_name["baseline:discrete_ot"].status == "finished" and by_name["baseline:discrete_ot"].steps_done == 0
    stored = {row["solver"] for row in store.runs()}
    assert {"baseline:identity", "baseline:constant", "baseline:linear", "baseline:discrete_ot"} <= stored


def test_baselines_are_off_by_default_in_the_python_api(store):
    cfg = RunConfig("w2gn", "gaussian:2", seed=1, steps=5, batch_size=32, eval_samples=256,
                    solver_options={"hidden_sizes": [8, 8], "pretrain_steps": 10})
    summaries = run_bench([cfg], store, progress=False)
    assert [s.solver for s in summaries] == ["w2gn"]
