"""Identical runs are reused instead of trained and stored again; fitted results can be kept for the report; runs
made on an older construction of a pair family are never reused or mixed with new ones."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import pytest

from monge.errors import InvalidInputError
from monge.pairs import pair_version
from monge.run import ResultStore, RunConfig, run_bench
from monge.config.run import run_key
from monge.results.rows import pair_label, stored_pair_version
from monge.run.runner import find_reusable_run
from monge.run.sweep import plan_cells
from monge.config.run import cell_key
from monge.solvers import SOLVERS

SMALL = dict(steps=4, batch_size=32, eval_every=2, eval_samples=256)


def _cfg(pair: str = "gaussian:2", **kw) -> RunConfig:
    return RunConfig("w2gn", pair, solver_options=dict(SOLVERS["w2gn"].smoke_options), **{**SMALL, **kw})


def _count(db) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        return (conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM evals").fetchone()[0])


def test_an_identical_bench_reuses_its_runs_and_baselines(tmp_path):
    db = tmp_path / "r.sqlite"
    configs = [_cfg(), _cfg("toy:4gaussians")]
    with ResultStore(db) as store:
        first = run_bench(configs, store, progress=False, baselines=True, reuse=True)
    assert _count(db)[0] == 2 + 4 and not any(s.reused for s in first)
    with ResultStore(db) as store:
        second = run_bench(configs, store, progress=False, baselines=True, reuse=True)
    assert _count(db)[0] == 6  # nothing stored twice
    assert [s.run_id for s in second] == [s.run_id for s in first] and all(s.reused for s in second)
    assert [(s.final, s.best) for s in second] == [(s.final, s.best) for s in first]
    # a different budget is another run; reuse=False (the API default, --rerun) trains everything again
    with ResultStore(db) as store:
        (longer,) = run_bench([replace(configs[0], steps=6)], store, progress=False, reuse=True)
        assert not longer.reused and longer.steps_done == 6
        again = run_bench(configs, store, progress=False, baselines=True)
    assert not any(s.reused for s in again) and _count(db)[0] == 6 + 1 + 6


def test_only_complete_runs_are_reused(tmp_path):
    db = tmp_path / "r.sqlite"
    cfg = _cfg()
    with ResultStore(db) as store:
        (done,) = run_bench([cfg], store, progress=False)
        store.conn.execute("UPDATE runs SET status = 'diverged', error = 'x' WHERE id = ?", (done.run_id,))
        (retried,) = run_bench([cfg], store, progress=False, reuse=True)
        assert not retried.reused and retried.run_id != done.run_id
        store.conn.execute("UPDATE runs SET status = 'stopped', error = 'interrupted' WHERE id = ?", (retried.run_id,))
        (third,) = run_bench([cfg], store, progress=False, reuse=True)
        assert not third.reused
        store.conn.execute("UPDATE runs SET status = 'stopped', error = NULL WHERE id = ?", (third.run_id,))
        (budget_stopped,) = run_bench([cfg], store, progress=False, reuse=True)  # stopped by its time budget
        assert budget_stopped.reused and budget_stopped.run_id == third.run_id
    assert _count(db)[0] == 3


def test_keep_results_saves_each_result_and_records_its_folder(tmp_path):
    db, kept = tmp_path / "r.sqlite", tmp_path / "kept"
    with ResultStore(db) as store:
        (summary,) = run_bench([_cfg()], store, progress=False, keep_results=kept)
        folder = store.run(summary.run_id)["config"]["result_dir"]
    assert folder == summary.result_dir == str((kept / f"run{summary.run_id}_w2gn_gaussian_2_seed0").resolve())
    assert json.loads((kept / f"run{summary.run_id}_w2gn_gaussian_2_seed0" / "result.json").read_text())["kind"] == \
        "W2Result"
    with ResultStore(db) as store:
        (reused,) = run_bench([_cfg()], store, progress=False, keep_results=kept, reuse=True)
        assert reused.reused and reused.result_dir == folder
        # without the saved folder, a run cannot serve a --keep-results bench: it is trained (and kept) again
        for path in sorted((kept / f"run{summary.run_id}_w2gn_gaussian_2_seed0").iterdir()):
            path.unlink()
        (rerun,) = run_bench([_cfg()], store, progress=False, keep_results=kept, reuse=True)
        assert not rerun.reused and rerun.result_dir and rerun.result_dir != folder
        # ... while a bench that does not keep results still reuses the newest stored run
        (plain,) = run_bench([_cfg()], store, progress=False, reuse=True)
        assert plain.reused and plain.run_id == rerun.run_id


def test_keep_results_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with ResultStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(InvalidInputError, match=r"results folder \(--keep-results\) .*file/kept: cannot create"):
            run_bench([_cfg()], store, progress=False, keep_results=blocker / "kept")
        assert store.runs() == []


def test_update_config_merges_values(tmp_path):
    from monge.errors import StoreError

    with ResultStore(tmp_path / "r.sqlite") as store:
        run = store.start_run(solver="s", pair="p", dim=2, seed=0, steps_requested=1, batch_size=1, eval_every=1,
                              config={"a": 1})
        assert store.update_config(run, {"b": [2]}) == {"a": 1, "b": [2]} == store.run(run)["config"]
        with pytest.raises(StoreError, match="no run with id 99"):
            store.update_config(99, {"b": 1})
        loop: list = []
        loop.append(loop)
        with pytest.raises(InvalidInputError, match="not JSON-serialisable"):
            store.update_config(run, {"c": loop})
        assert store.run(run)["config"] == {"a": 1, "b": [2]}  # nothing written


# ---------------------------------------------------------------------------- pair versions
def test_configs_record_the_pair_family_version():
    assert pair_version("gaussian:2") == 3 and pair_version("toy:4gaussians") == 1
    assert _cfg().to_dict()["pair_version"] == 3 and _cfg("toy:4gaussians").to_dict()["pair_version"] == 1
    assert _cfg(pair_version=3).validate().to_dict() == _cfg().to_dict()
    with pytest.raises(InvalidInputError, match="asks for version 1 of its pair family, but this monge builds "
                                                "version 3"):
        _cfg(pair_version=1).validate()
    with pytest.raises(InvalidInputError, match="pair_version must be a positive integer"):
        _cfg(pair_version=0).validate()


def test_keys_change_for_a_changed_family_only():
    """Sweep cells and reuse keys: a version-1 family keeps the keys of configs stored before versions existed;
    the Gaussian family's new version gives new keys, so old Gaussian cells and runs are not taken as done."""
    toy, gauss = _cfg("toy:4gaussians").to_dict(), _cfg().to_dict()
    old_toy = {k: v for k, v in toy.items() if k != "pair_version"}
    old_gauss = {k: v for k, v in gauss.items() if k != "pair_version"}
    assert cell_key(toy) == cell_key(old_toy) and run_key(toy) == run_key({**old_toy, "solver_settings": {}})
    assert cell_key(gauss) != cell_key(old_gauss) and run_key(gauss) != run_key(old_gauss)
    assert [key for key, _ in plan_cells([_cfg()])] == [cell_key(gauss)]


def test_runs_of_the_old_gaussian_pairs_are_not_reused_and_are_labelled(tmp_path):
    db = tmp_path / "r.sqlite"
    cfg = _cfg()
    with ResultStore(db) as store:
        (new,) = run_bench([cfg], store, progress=False)
        # a run stored by an earlier monge: the same config without pair_version (version 1 of the Gaussian pairs)
        old_config = {k: v for k, v in store.run(new.run_id)["config"].items() if k != "pair_version"}
        old = store.start_run(solver="w2gn", pair="gaussian:2", dim=2, seed=0, steps_requested=4, batch_size=32,
                              eval_every=2, config=old_config)
        store.log_eval(old, 4, 1.0, {"l2_uvp_fwd": 0.01})
        store.finish_run(old, "finished", steps_done=4)
        assert find_reusable_run(store, cfg, type("P", (), {"name": "gaussian:2"})())["id"] == new.run_id
        store.conn.execute("DELETE FROM runs WHERE id = ?", (new.run_id,))
        assert find_reusable_run(store, cfg, type("P", (), {"name": "gaussian:2"})()) is None
        (fresh,) = run_bench([cfg], store, progress=False, reuse=True)
        assert not fresh.reused
        rows = {r["id"]: r for r in store.leaderboard()}
    assert stored_pair_version(rows[old]) == 1 and stored_pair_version(rows[fresh.run_id]) == 3
    assert pair_label(rows[old]) == "gaussian:2 (v1)" and pair_label(rows[fresh.run_id]) == "gaussian:2"
    assert pair_label({**rows[old], "pair": "gaussian:2 (v1)"}) == "gaussian:2 (v1)"  # labelled once
    assert pair_label({"pair": "gaussian:2"}) == "gaussian:2"  # a summary of this session (no stored config)
    hand_made = {"pair": "gaussian:2", "config": {"note": "no run config"}}
    assert stored_pair_version(hand_made) is None and pair_label(hand_made) == "gaussian:2"
    from monge.results import run_records

    versions = {r["run_id"]: r["pair_version"] for r in run_records(rows.values())}
    assert versions == {old: 1, fresh.run_id: 3}


def test_report_keeps_old_gaussian_runs_apart(tmp_path):
    import torch

    from monge.pairs import make_pair
    from monge.report import render_report
    from monge.solvers import get_solver

    pair = make_pair("gaussian:2")
    get_solver("w2gn", **SOLVERS["w2gn"].smoke_options).fit(
        pair.source, pair.target, steps=2, batch_size=16, generator=torch.Generator().manual_seed(0)).save(
        tmp_path / "saved")
    with ResultStore(tmp_path / "r.sqlite") as store:
        for config in ({"pair": "gaussian:2", "pair_version": 3}, {"pair": "gaussian:2"}):
            for seed in (0, 1):
                run = store.start_run(solver="w2gn", pair="gaussian:2", dim=2, seed=seed, steps_requested=4,
                                      batch_size=8, eval_every=2, config={**config, "seed": seed,
                                                                          "result_dir": str(tmp_path / "saved")})
                store.log_eval(run, 4, 1.0, {"l2_uvp_fwd": 1.0 + seed + ("pair_version" in config)})
                store.finish_run(run, "finished", steps_done=4)
        text = render_report(store)
    assert 'alt="convergence on gaussian:2 (v1)"' in text and 'alt="convergence on gaussian:2"' in text  # 2 figures
    assert ">gaussian:2 (v1)<" in text and ">gaussian:2<" in text
    # mean ± std over seeds: one group per construction (1.0, 2.0 for v1; 2.0, 3.0 for v3)
    assert "1.5 ± 0.707" in text and "2.5 ± 0.707" in text
    # 2-D maps: drawn for the current construction; an old run's samples cannot be redrawn, which a note says
    assert 'alt="run 1: w2gn on gaussian:2 (seed 0)"' in text and 'alt="run 2: w2gn on gaussian:2 (seed 1)"' in text
    note = "the run was made on version 1 of pair &#39;gaussian:2&#39; and this monge builds version 3"
    assert text.count(note) == 2
