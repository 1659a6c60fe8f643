"""W1 runs through the runner, the store, the leaderboard and the CLI (``monge bench --pair funnel:…``)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from monge.cli.main import app
from monge.errors import InvalidInputError
from monge.run import ResultStore, RunConfig, get_preset, run_bench
from monge.results import leaderboard_tables, run_table
from monge.run.runner import validate_configs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
runner = CliRunner()
TINY_GP = {"hidden_sizes": [32, 32], "lr": 1e-3}


def test_w1_run_is_stored_with_w1_metrics_and_dot_baseline(tmp_path):
    cfg = RunConfig(solver="c-concave", pair="funnel:2:4", solver_options={"n_cones": 32}, seed=3, steps=300,
                    batch_size=256, eval_every=150, eval_samples=1024)
    with ResultStore(tmp_path / "r.sqlite") as store:
        summaries = run_bench([cfg], store, out_dir=tmp_path / "plots", progress=False, baselines=True)
        run, dot = summaries
        assert (run.solver, run.status, run.steps_done) == ("c-concave", "finished", 300)
        assert dot.solver == "baseline:dot" and dot.status == "finished"
        steps = sorted({e["step"] for e in store.evals(run.run_id)})
        assert steps == [150, 300]
    final = run.final
    assert {"cos_grad", "l2_grad", "w1_estimate", "w1_true", "w1_dev"} <= set(final)
    # a short run on the 2-D, 4-funnel pair already points the right way and estimates W1 closely
    assert final["cos_grad"] > 0.7, final
    assert final["w1_dev"] < 10.0, final
    assert -1.0 <= dot.final["cos_grad"] <= 1.0 and dot.final["w1_estimate"] > 0
    plots = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert plots == ["convergence_funnel_2_4.png", f"critic_{run.run_id}_c-concave_funnel_2_4.png"]
    for name in plots:
        assert (tmp_path / "plots" / name).read_bytes()[:8] == PNG_MAGIC


def test_solver_and_pair_costs_must_match():
    with pytest.raises(InvalidInputError, match="W1 solver.*W2 ground truth"):
        validate_configs([RunConfig(solver="wgan-gp", pair="gaussian:2")])
    with pytest.raises(InvalidInputError, match="W2 solver.*W1 ground truth"):
        validate_configs([RunConfig(solver="w2gn", pair="funnel:2:4")])
    # pairs without ground truth accept both kinds
    validate_configs([RunConfig(solver="wgan-gp", pair="toy:swiss_roll"), RunConfig(solver="w2gn", pair="toy:swiss_roll")])


def test_w1_solver_on_a_toy_pair_is_scored_against_discrete_w1(tmp_path):
    cfg = RunConfig(solver="wgan-lp", pair="toy:4gaussians", solver_options=TINY_GP, steps=200, batch_size=256,
                    eval_every=200, eval_samples=512)
    with ResultStore(tmp_path / "r.sqlite") as store:
        (run,) = run_bench([cfg], store, progress=False)
    assert run.status == "finished"
    assert run.final["w1_discrete"] > 0 and run.final["w1_dev"] >= 0


def test_mixed_leaderboard_splits_tables(tmp_path):
    cfgs = [RunConfig(solver="wgan-gp", pair="funnel:2:4", solver_options=TINY_GP, steps=20, batch_size=64),
            RunConfig(solver="w2gn", pair="gaussian:2", solver_options={"hidden_sizes": [8, 8], "pretrain_steps": 0},
                      steps=20, batch_size=64)]
    with ResultStore(tmp_path / "r.sqlite") as store:
        summaries = run_bench(cfgs, store, progress=False)
    tables = leaderboard_tables(summaries)
    assert [t.title for t in tables] == ["monge leaderboard: W2 maps", "monge leaderboard: W1 critics"]
    assert [c.header for c in tables[1].columns][:8] == ["#", "solver", "pair", "seed", "status", "steps",
                                                          "cos∇ final", "cos∇ best"]


def test_published_w1_numbers_beside_ours():
    from monge.pairs.w1published import published_w1, published_w1bench_table

    table = published_w1bench_table()
    assert "NeurIPS 2022" in table["source"] and len(table["pairs"]) == 12
    lp = published_w1("wgan-lp", "w1b-funnel:8:64")
    assert lp is not None and lp["cos"] == pytest.approx(0.82729, abs=1e-4)
    assert lp["w1_dev"] == pytest.approx(100 * abs(1.182413 - 1.25929) / 1.25929, abs=1e-2)
    assert published_w1("3p-wgan-rev", "w1b-funnel:32:256")["cos"] == pytest.approx(0.469161, abs=1e-5)
    assert published_w1("baseline:dot", "w1b-funnel:2:4") is not None
    assert published_w1("wgan-lp", "funnel:8:64") is None and published_w1("w2gn", "w1b-funnel:8:64") is None
    row = {"run_id": 1, "solver": "wgan-lp", "pair": "w1b-funnel:8:64", "seed": 0, "status": "finished",
           "steps_done": 1, "steps_requested": 1, "final": {"cos_grad": 0.9, "w1_dev": 3.0}, "best": {}}
    headers = [c.header for c in run_table([row], "w1").columns]
    assert "published cos∇" in headers and "published W1 dev %" in headers


def test_w1_hd_preset():
    preset = get_preset("w1-hd")
    configs = preset.configs(pair_root="/nowhere")
    assert len(configs) == 12 * 12 and all(c.time_budget_s == 600.0 for c in configs)
    assert {c.pair for c in configs} == {f"w1b-funnel:{d}:{n}" for d in (2, 8, 32) for n in (4, 16, 64, 256)}
    steps = {c.solver: c.steps for c in configs}
    assert steps["wgan-gp"] == 40000 and steps["sn-gan"] == 5000 and steps["c-concave"] == 20000
    assert {c.steps for c in preset.configs(steps=7, pair_root="/nowhere")} == {7}
    assert next(c for c in configs if c.solver == "c-concave").solver_options == {}


def test_cli_bench_on_a_generated_funnel_pair_defaults_to_a_w1_solver(tmp_path):
    db = tmp_path / "r.sqlite"
    result = runner.invoke(app, ["bench", "--pair", "funnel:3:8", "--steps", "20", "--batch-size", "64",
                                 "--option", "hidden_sizes=[16, 16]", "--db", str(db), "--no-progress"])
    assert result.exit_code == 0, result.output
    with ResultStore(db) as store:
        solvers = sorted(r["solver"] for r in store.runs())
    assert solvers == ["baseline:dot", "wgan-lp"]
    assert "W1 dev" in result.stdout and "cos∇" in result.stdout
    bad = runner.invoke(app, ["bench", "--pair", "funnel:3:8", "--solver", "w2gn", "--db", str(db), "--no-progress"])
    assert bad.exit_code == 1 and "W1 ground truth" in bad.output


def test_cli_w1_hd_with_dims_on_the_published_pairs(tmp_path):
    from helpers import shared_data

    root = shared_data("w1bench")
    db = tmp_path / "r.sqlite"
    result = runner.invoke(app, ["bench", "--preset", "w1-hd", "--solver", "wgan-gp", "--pair-root", str(root),
                                 "--dims", "2", "--pair", "w1b-funnel:8:4", "--steps", "10", "--batch-size", "64",
                                 "--option", "hidden_sizes=[16, 16]", "--db", str(db), "--no-progress",
                                 "--no-baselines"])
    assert result.exit_code == 0, result.output
    with ResultStore(db) as store:
        assert {r["pair"] for r in store.runs()} == {"w1b-funnel:2:4"}
    assert "published cos∇" in result.stdout and "NeurIPS 2022" in result.stdout


def test_cli_solvers_lists_costs():
    result = runner.invoke(app, ["solvers", "--cost", "w1"])
    assert result.exit_code == 0 and "wgan-gp" in result.output and "w2gn" not in result.output
    bad = runner.invoke(app, ["solvers", "--cost", "w3"])
    assert bad.exit_code == 1 and "cost must be one of" in bad.output
