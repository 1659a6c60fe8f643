"""The benchmark runner: stored rows, evaluation schedule, divergence/failure handling, plots, presets."""

from __future__ import annotations

import math
import time

import pytest
import torch
from torch import nn

from monge.errors import InvalidInputError, TrainingDiverged, UnknownNameError
from monge.nets.base import NETWORKS, Potential
from monge.results import leaderboard_tables, to_rich
from monge.run import PRESETS, ResultStore, RunConfig, get_preset, run_bench
from monge.results import summaries_from_store
from monge.solvers.base import SOLVERS, Progress, W2Result, W2Solver

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- a tiny test solver
class LinearTestPotential(Potential):
    """ψ(x) = ½ xᵀ W x + bᵀ x; its gradient is the affine map ½(W + Wᵀ) x + b."""

    is_convex = False

    def __init__(self, dim: int):
        super().__init__()
        self.dim = int(dim)
        self.weight = nn.Parameter(torch.eye(self.dim))
        self.bias = nn.Parameter(torch.zeros(self.dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((x @ self.weight) * x).sum(1) + x @ self.bias

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (0.5 * (self.weight + self.weight.T)) + self.bias

    def config(self) -> dict:
        return {"class": type(self).__name__, "dim": self.dim}


class LinearTestSolver(W2Solver):
    """Fits an affine map by matching the mean and covariance of mapped and target batches (Adam).

    ``nan_at``: the loss becomes NaN at that 0-based step (raises TrainingDiverged like real solvers);
    ``fail_at``: raises a MongeError (InvalidInputError); ``crash_at``: raises a RuntimeError (a bug);
    ``sleep``: seconds slept per step (for time budgets); ``garbage``: the returned map is multiplied by 1e4
    (a finite blow-up no loss saw).
    """

    paper = "test"

    def __init__(self, *, lr: float = 0.05, nan_at: int | None = None, fail_at: int | None = None,
                 crash_at: int | None = None, interrupt_at: int | None = None, sleep: float = 0.0,
                 garbage: bool = False):
        self.lr, self.nan_at, self.fail_at, self.crash_at, self.sleep = lr, nan_at, fail_at, crash_at, sleep
        self.interrupt_at, self.garbage = interrupt_at, garbage

    def settings(self) -> dict:
        return {"lr": self.lr}

    def fit(self, source, target, *, steps, batch_size, generator=None, callback=None):
        pot = LinearTestPotential(source.dim)
        opt = torch.optim.Adam(pot.parameters(), lr=self.lr)
        history: dict[str, list[float]] = {"loss": []}

        def result(step: int) -> W2Result:
            return W2Result(solver=self.name, forward_potential=pot, inverse_potential=None,
                            cost_estimate=float("nan"), history=history, settings=self.settings(), steps=step)

        for step in range(steps):
            x, y = source.sample(batch_size, generator), target.sample(batch_size, generator)
            t = pot.gradient(x)
            loss = (t.mean(0) - y.mean(0)).square().sum() + (torch.cov(t.T) - torch.cov(y.T)).square().sum()
            if step == self.nan_at:
                loss = loss * float("nan")
            if not math.isfinite(loss.item()):
                raise TrainingDiverged(step, "loss is nan", result(step).frozen() if step else None)
            if step == self.fail_at:
                raise InvalidInputError("test solver failed on purpose")
            if step == self.crash_at:
                raise RuntimeError("test solver crashed")
            if step == self.interrupt_at:
                raise KeyboardInterrupt
            opt.zero_grad()
            loss.backward()
            opt.step()
            history["loss"].append(loss.item())
            if self.garbage and step == steps - 1:
                with torch.no_grad():
                    pot.weight.mul_(1e4)
            if self.sleep:
                time.sleep(self.sleep)
            if callback is not None and callback(Progress(step + 1, steps, {"loss": loss.item()}, lambda s=step + 1: result(s))):
                return result(step + 1)
        return result(steps)


@pytest.fixture(autouse=True)
def test_solver():
    """Register the test solver and potential for one test only (other suites iterate the registries)."""
    SOLVERS["test-linear"] = LinearTestSolver
    LinearTestSolver.name = "test-linear"
    NETWORKS[LinearTestPotential.__name__] = LinearTestPotential
    yield
    SOLVERS.pop("test-linear", None)
    NETWORKS.pop(LinearTestPotential.__name__, None)


def _cfg(pair: str = "gaussian:2", **kw) -> RunConfig:
    base = dict(solver="test-linear", pair=pair, steps=20, batch_size=64, eval_every=5, eval_samples=512)
    base.update(kw)
    return RunConfig(**base)


# ---------------------------------------------------------------------------- tests
def test_run_writes_finished_row_and_evals(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        (summary,) = run_bench([_cfg(solver_options={"lr": 0.05})], store, progress=False)
        run = store.run(summary.run_id)
        assert run["status"] == "finished" and run["error"] is None
        assert run["solver"] == "test-linear" and run["pair"] == "gaussian:2" and run["dim"] == 2
        assert run["steps_requested"] == 20 and run["steps_done"] == 20
        assert run["batch_size"] == 64 and run["eval_every"] == 5
        assert run["config"]["solver_options"] == {"lr": 0.05} and run["config"]["pair"] == "gaussian:2"
        assert run["config"]["eval_samples"] == 512
        assert {"monge", "torch", "numpy", "python", "platform", "device"} <= set(run["versions"])
        assert run["wall_time_s"] >= run["train_time_s"] > 0 and run["steps_per_s"] > 0
        evals = store.evals(summary.run_id)
        assert sorted({e["step"] for e in evals}) == [5, 10, 15, 20]
        assert {"l2_uvp_fwd", "cos_fwd"} <= {e["metric"] for e in evals}
        times = [e["train_time_s"] for e in evals if e["metric"] == "l2_uvp_fwd"]
        assert times == sorted(times) and times[-1] <= run["train_time_s"] + 1e-9
        losses = store.losses(summary.run_id)
        assert {r["name"] for r in losses} == {"loss"} and losses[-1]["step"] == 20

        # the summary is what the store holds
        assert summary.status == "finished" and summary.steps_done == 20
        last = {e["metric"]: e["value"] for e in evals if e["step"] == 20}
        assert summary.final == last
        fwd = [e["value"] for e in evals if e["metric"] == "l2_uvp_fwd"]
        assert summary.best["l2_uvp_fwd"] == min(fwd) and summary.metric("l2_uvp_fwd") == fwd[-1]
        assert summary.wall_time_s == run["wall_time_s"] and summary.steps_per_s == run["steps_per_s"]
        assert summaries_from_store(store, [summary.run_id]) == [summary]
        # the affine fit improves on its identity start
        assert fwd[-1] < fwd[0]


def test_final_eval_when_steps_not_multiple_of_interval(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        (s,) = run_bench([_cfg(steps=12, eval_every=5)], store, progress=False)
        assert sorted({e["step"] for e in store.evals(s.run_id)}) == [5, 10, 12]


def test_diverged_run_is_stored_and_next_run_happens(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        first, second = run_bench([_cfg(solver_options={"nan_at": 7}), _cfg(pair="gaussian:8")], store,
                                  progress=False)
        assert first.status == "diverged" and "diverged at step 7" in first.error
        run = store.run(first.run_id)
        assert run["status"] == "diverged" and "diverged" in run["error"] and run["steps_done"] == 7
        # evaluated at step 5 on schedule, then the last good parameters at step 7
        assert sorted({e["step"] for e in store.evals(first.run_id)}) == [5, 7]
        assert math.isfinite(first.final["l2_uvp_fwd"])
        assert second.status == "finished" and store.run(second.run_id)["status"] == "finished"


def test_diverged_at_first_step_has_no_metrics(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        (s,) = run_bench([_cfg(solver_options={"nan_at": 0})], store, progress=False)
        assert s.status == "diverged" and s.steps_done == 0 and s.final == {}
        assert store.evals(s.run_id) == []


def test_failed_run_keeps_earlier_rows_and_continues(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        (ok,) = run_bench([_cfg()], store, progress=False)
        before = store.evals(ok.run_id)
        failed, after = run_bench([_cfg(solver_options={"fail_at": 12}), _cfg()], store, progress=False)
        assert failed.status == "failed" and "failed on purpose" in failed.error
        assert sorted({e["step"] for e in store.evals(failed.run_id)}) == [5, 10]
        assert after.status == "finished"
    with ResultStore(path) as store:
        assert store.evals(ok.run_id) == before
        assert store.run(ok.run_id)["status"] == "finished"
        assert [r["status"] for r in store.runs()] == ["finished", "failed", "finished"]


def test_unexpected_error_marks_run_failed_and_propagates(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        (ok,) = run_bench([_cfg()], store, progress=False)
        before = store.evals(ok.run_id)
        with pytest.raises(RuntimeError, match="crashed"):
            run_bench([_cfg(solver_options={"crash_at": 8})], store, progress=False)
    with ResultStore(path) as store:
        crashed = store.runs(limit=1)[0]
        assert crashed["status"] == "failed" and "RuntimeError" in crashed["error"]
        assert crashed["steps_done"] == 8
        assert store.evals(ok.run_id) == before and store.run(ok.run_id)["status"] == "finished"


def test_interrupted_run_is_stopped(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(KeyboardInterrupt):
            run_bench([_cfg(solver_options={"interrupt_at": 6}), _cfg()], store, progress=False)
        (run,) = store.runs()
        assert run["status"] == "stopped" and run["error"] == "interrupted" and run["steps_done"] == 6
        assert sorted({e["step"] for e in store.evals(run["id"])}) == [5]


def test_bad_names_detected_before_training(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(UnknownNameError, match="no-such-solver"):
            run_bench([_cfg(), _cfg(solver="no-such-solver")], store, progress=False)
        with pytest.raises(UnknownNameError, match="nope:3"):
            run_bench([_cfg(), _cfg(pair="nope:3")], store, progress=False)
        with pytest.raises(InvalidInputError, match="test-linear"):
            run_bench([_cfg(), _cfg(solver_options={"bogus": 1})], store, progress=False)
        with pytest.raises(InvalidInputError, match="steps"):
            run_bench([_cfg(steps=0)], store, progress=False)
        assert store.runs() == []


def test_time_budget_stops_run(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        (s,) = run_bench([_cfg(steps=1000, eval_every=500, time_budget_s=0.2, solver_options={"sleep": 0.02})],
                         store, progress=False)
        assert s.status == "stopped" and 0 < s.steps_done < 1000
        assert max(e["step"] for e in store.evals(s.run_id)) == s.steps_done


def test_seeded_and_global_rng_untouched(tmp_path):
    state = torch.random.get_rng_state()
    with ResultStore(tmp_path / "r.sqlite") as store:
        a, b = run_bench([_cfg(seed=3), _cfg(seed=3)], store, progress=False)
    assert torch.equal(state, torch.random.get_rng_state())
    assert a.final == b.final


def test_plots_written(tmp_path):
    out = tmp_path / "plots"
    with ResultStore(tmp_path / "r.sqlite") as store:
        s2, s8, toy = run_bench([_cfg(), _cfg(pair="gaussian:8"), _cfg(pair="toy:swiss_roll", steps=10)], store,
                                out_dir=out, progress=False)
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted([
        "convergence_gaussian_2.png", "convergence_gaussian_8.png", "convergence_toy_swiss_roll.png",
        f"map_{s2.run_id}_test-linear_gaussian_2.png", f"map_{toy.run_id}_test-linear_toy_swiss_roll.png"])
    for f in out.iterdir():
        data = f.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5000
    assert s2.plots and s8.plots == ()
    assert toy.final["w2_ratio"] > 0


def test_progress_bar_and_leaderboard_table(tmp_path):
    from rich.console import Console

    console = Console(record=True, width=220, force_terminal=False)
    with ResultStore(tmp_path / "r.sqlite") as store:
        summaries = run_bench([_cfg(), _cfg(pair="toy:swiss_roll", steps=5)], store, progress=True, console=console)
        for table in leaderboard_tables(summaries):
            console.print(to_rich(table))
        text = console.export_text()
        assert "test-linear" in text and "gaussian:2" in text and "W2 ratio final" in text and "finished" in text
        # the same table from stored rows
        console2 = Console(record=True, width=220)
        console2.print(to_rich(leaderboard_tables(store.leaderboard())[0]))
        assert f"{summaries[0].final['l2_uvp_fwd']:.3g}" in console2.export_text()


def test_run_config_validation():
    with pytest.raises(InvalidInputError, match="batch_size"):
        RunConfig("w2gn", "gaussian:2", batch_size=0).validate()
    with pytest.raises(InvalidInputError, match="dtype"):
        RunConfig("w2gn", "gaussian:2", dtype="float16").validate()
    with pytest.raises(InvalidInputError, match="time budget"):
        RunConfig("w2gn", "gaussian:2", time_budget_s=-1).validate()
    with pytest.raises(InvalidInputError, match="seed"):
        RunConfig("w2gn", "gaussian:2", seed=-1).validate()
    assert RunConfig("w2gn", "gaussian:2", steps=100).eval_interval == 20


def test_presets():
    quick = get_preset("quick")
    assert "w2gn" in quick.solvers and len(quick.pairs) >= 3
    assert any(p.startswith("toy:") for p in quick.pairs)
    configs = quick.configs(steps=7, pairs=["gaussian:4"], seeds=[1, 2], options={"lr": 0.01})
    assert [(c.pair, c.seed, c.steps) for c in configs] == [("gaussian:4", 1, 7), ("gaussian:4", 2, 7)]
    assert all(c.solver_options["lr"] == 0.01 for c in configs)
    assert all(c.batch_size == quick.batch_size for c in configs)
    assert quick.threads == 1 and quick.steps * len(quick.pairs) <= 20_000  # stays a ~1 minute run
    for preset in PRESETS.values():
        for c in preset.configs():
            c.validate()
    with pytest.raises(UnknownNameError, match="preset"):
        get_preset("nope")


def test_a_resumed_run_counts_the_wall_and_training_time_of_its_earlier_attempt(tmp_path):
    from monge.run.checkpoint import Checkpoint
    from monge.run.runner import build_runs
    from monge.run.tracker import MemoryLog, NullProgress, RunTracker, execute_run

    cfg = RunConfig(solver="w2gn", pair="gaussian:2", steps=60, batch_size=32, eval_every=30, eval_samples=256,
                    solver_options={"hidden_sizes": [8, 8], "pretrain_steps": 0})
    checkpoint = Checkpoint(tmp_path / "run.ckpt")

    class StopAt30(RunTracker):
        def __call__(self, progress):
            return super().__call__(progress) or progress.step == 30

    pairs, solvers = build_runs([cfg])
    (pair,), (solver,) = pairs.values(), solvers
    first = StopAt30(cfg, pair, MemoryLog(), NullProgress(), 0, checkpoint=checkpoint, checkpoint_every=30)
    first.attempt_start -= 100.0   # as if this attempt had been running for 100 s
    first.prior_train_time = 40.0  # … and had trained 40 s before this fit
    outcome, _ = execute_run(cfg, pair, solver, first)
    assert outcome.steps_done == 30 and outcome.wall_time_s >= 100.0 and outcome.train_time_s >= 40.0

    second = RunTracker(cfg, pair, MemoryLog(), NullProgress(), 0, checkpoint=checkpoint, checkpoint_every=30)
    outcome, _ = execute_run(cfg, pair, solver, second)
    assert second.resumed_from == 30 and outcome.steps_done == 60
    assert 100.0 <= outcome.wall_time_s < 160.0   # the first attempt's 100 s plus a few seconds of this one
    assert 40.0 <= outcome.train_time_s < outcome.wall_time_s


# ---------------------------------------------------------------------------- garbage maps and time budgets
def test_a_garbage_map_is_stored_as_diverged_and_flagged(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        (bad, good) = run_bench([_cfg(solver_options={"garbage": True}), _cfg()], store, progress=False)
        assert bad.status == "diverged" and "garbage map" in bad.error and "identity" in bad.error
        assert good.status == "finished" and good.final["l2_uvp_fwd_identity"] > 0
        # an older row (no identity recorded) that stored garbage as finished is flagged in tables and exports
        old = store.start_run(solver="old", pair="w2b-mix:128", dim=128, seed=0, steps_requested=10, batch_size=8,
                              eval_every=10, config={})
        store.log_eval(old, 10, 1.0, {"l2_uvp_fwd": 2.7e12, "cos_fwd": 0.01})
        store.finish_run(old, "finished", steps_done=10)
        rows = store.leaderboard()
    from monge.results import run_records
    from monge.results.rows import garbage_flag, status_of

    flags = {r["run_id"]: r["flag"] for r in run_records(rows)}
    assert flags[good.run_id] is None and "garbage map" in flags[old]
    assert flags[bad.run_id] is None                      # already stored as diverged, with its reason as error
    old_row = next(r for r in rows if r["id"] == old)
    assert "garbage map" in status_of({**old_row, "final": old_row["final"]})
    assert garbage_flag({"l2_uvp_fwd": 500.0, "l2_uvp_fwd_identity": 0.1}) is None     # the 1000 % floor
    assert garbage_flag({"l2_uvp_fwd": 5000.0, "l2_uvp_fwd_identity": 30.0})


def test_run_planned_by_its_time_budget_alone(tmp_path):
    cfg = RunConfig(solver="enot", pair="gaussian:2", solver_options={"hidden_sizes": [16, 16]}, steps=None,
                    time_budget_s=2.0, batch_size=64, eval_samples=512)
    assert cfg.validate().eval_interval == 0 and cfg.step_cap > 10**6
    with ResultStore(tmp_path / "r.sqlite") as store:
        (summary,) = run_bench([cfg], store, progress=False)
        evals = store.evals(summary.run_id)
    assert summary.status in ("finished", "stopped") and summary.steps_requested == 0
    assert 10 < summary.steps_done < cfg.step_cap
    assert summary.train_time_s < 2.0 + 5.0
    assert len({e["step"] for e in evals}) >= 2                   # evaluated during the run (by time) and at the end


def test_a_run_needs_steps_or_a_time_budget():
    with pytest.raises(InvalidInputError, match="steps, a time budget, or both"):
        RunConfig(solver="enot", pair="gaussian:2", steps=None).validate()
