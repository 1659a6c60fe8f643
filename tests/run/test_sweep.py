"""Sweeps: cells stored once by the driver, finished cells skipped, interrupted cells resumed bit-exactly,
workers that die retried a bounded number of times, and a local Ray instance running a tiny sweep."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from monge.errors import InvalidInputError
from monge.run.executors import LocalExecutor, ProgressEvent, make_executor
from monge.config.run import RunConfig
from monge.results import ResultStore
from monge.run.sweep import plan_cells, run_sweep, sweep_summary_lines
from monge.config.sweep import load_sweep

STEPS, EVAL_EVERY, CHECKPOINT_EVERY = 400, 100, 50

SWEEP_FILE = f"""
name = "tiny"
seeds = [0, 1]
pairs = ["gaussian:2"]

[budget]
steps = {STEPS}
batch_size = 64

[evaluation]
every = {EVAL_EVERY}
samples = 512

[checkpoint]
every = {CHECKPOINT_EVERY}

[executor]
workers = 2
retries = 2

[[solvers]]
name = "w2gn"
options = {{ hidden_sizes = [16, 16, 8], pretrain_steps = 30 }}

[[solvers]]
name = "enot"
options = {{ hidden_sizes = [16, 16] }}
"""


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("file") / "tiny.toml"
    path.write_text(SWEEP_FILE)
    return path


def tiny_runs(sweep_file: Path, steps: int | None = None) -> list[RunConfig]:
    from dataclasses import replace

    runs = list(load_sweep(sweep_file).runs)
    return [replace(r, steps=steps) for r in runs] if steps else runs


def sweep(store_path: Path, out: Path, runs, executor=None, **kwargs):
    with ResultStore(store_path) as store:
        outcome = run_sweep("tiny", runs, store, out_dir=out, executor=executor or LocalExecutor(2),
                            checkpoint_every=CHECKPOINT_EVERY, progress=False, **kwargs)
        rows = store.leaderboard(outcome.run_ids)
        evals = {r["run_id"]: store.evals(r["run_id"]) for r in rows}
        losses = {r["run_id"]: store.losses(r["run_id"]) for r in rows}
        cells = store.cells("tiny")
    return outcome, rows, evals, losses, cells


def networks(out: Path, key: str) -> dict[str, torch.Tensor]:
    tensors = {}
    for file in sorted((out / "results" / key).glob("*.pt")):
        for name, value in torch.load(file, weights_only=True).items():
            tensors[f"{file.stem}.{name}"] = value
    return tensors


@pytest.fixture(scope="module")
def reference(tmp_path_factory, sweep_file):
    """An uninterrupted sweep: what every interrupted and resumed sweep must reproduce exactly."""
    root = tmp_path_factory.mktemp("reference")
    outcome, rows, evals, losses, cells = sweep(root / "db.sqlite", root / "out", tiny_runs(sweep_file))
    return root, outcome, rows, evals, losses, cells


def _comparable(evals):
    return sorted((e["step"], e["metric"], e["value"]) for e in evals)


def assert_same_as_reference(reference, out: Path, rows, evals, losses, cells):
    ref_root, _, ref_rows, ref_evals, ref_losses, ref_cells = reference
    assert [c["status"] for c in cells] == ["done"] * len(ref_cells)
    assert len({c["run_id"] for c in cells}) == len(cells)
    by_key = {c["cell_key"]: c["run_id"] for c in cells}
    ref_by_key = {c["cell_key"]: c["run_id"] for c in ref_cells}
    assert by_key.keys() == ref_by_key.keys()
    for key, run_id in by_key.items():
        ref_id = ref_by_key[key]
        assert _comparable(evals[run_id]) == _comparable(ref_evals[ref_id]), key
        assert losses[run_id] == ref_losses[ref_id], key
        ref_nets, new_nets = networks(ref_root / "out", key), networks(out, key)
        assert ref_nets and ref_nets.keys() == new_nets.keys()
        for name, value in ref_nets.items():
            assert torch.equal(value, new_nets[name]), f"{key}: {name} differs from the uninterrupted run"
    assert {r["status"] for r in rows} == {"finished"}


def test_sweep_stores_each_cell_once_and_skips_them_on_rerun(reference, sweep_file):
    _, outcome, rows, evals, _, cells = reference
    assert outcome.ran == 4 and outcome.skipped == 0 and not outcome.failed and outcome.retries == 0
    assert [r["steps_done"] for r in rows] == [STEPS] * 4
    for r in rows:
        assert {e["step"] for e in evals[r["run_id"]]} == {100, 200, 300, 400}
        assert r["config"]["cell_key"] in {c["cell_key"] for c in cells}
        assert Path(r["config"]["result_dir"]).is_dir()
    assert not list((reference[0] / "out" / "checkpoints").iterdir())  # removed once stored
    again, rows2, *_ = sweep(reference[0] / "db.sqlite", reference[0] / "out", tiny_runs(sweep_file))
    assert again.ran == 0 and again.skipped == 4 and again.run_ids == outcome.run_ids
    assert "0 cells run" in sweep_summary_lines(again)[0]


def test_identical_runs_and_bad_settings_are_refused(tmp_path, sweep_file):
    runs = tiny_runs(sweep_file)
    with pytest.raises(InvalidInputError, match="same run twice"):
        plan_cells([runs[0], runs[0]])
    with ResultStore(tmp_path / "db.sqlite") as store:
        with pytest.raises(InvalidInputError, match="retries"):
            run_sweep("x", runs, store, out_dir=tmp_path, retries=-1, progress=False)
        with pytest.raises(InvalidInputError, match="no runs"):
            run_sweep("x", [], store, out_dir=tmp_path, progress=False)
        assert store.cells("x") == []
    with pytest.raises(InvalidInputError, match="'fork' is not safe"):
        LocalExecutor(2, start_method="fork")
    with pytest.raises(InvalidInputError, match="executor must be"):
        make_executor("slurm")


class KillingExecutor(LocalExecutor):
    """Kills a cell's worker with SIGKILL once it passes ``kill_after`` steps (``times`` kills per cell)."""

    def __init__(self, workers, kill_after, times=1):
        super().__init__(workers)
        self.kill_after, self.times, self.kills = kill_after, times, {}

    def events(self, timeout=None):
        events = super().events(timeout)
        for event in events:
            key = event.task.key
            if isinstance(event, ProgressEvent) and event.step >= self.kill_after and self.kills.get(key, 0) < self.times:
                pid = next(p for p, t in self.running_pids().items() if t.key == key)
                os.kill(pid, signal.SIGKILL)
                self.kills[key] = self.kills.get(key, 0) + 1
        return events


def test_killed_workers_are_retried_and_resume_bit_exactly(reference, tmp_path, sweep_file):
    executor = KillingExecutor(2, kill_after=120)
    lines: list[str] = []
    outcome, rows, evals, losses, cells = sweep(tmp_path / "db.sqlite", tmp_path / "out", tiny_runs(sweep_file),
                                                executor=executor, log=lines.append)
    assert sum(executor.kills.values()) == 4 and outcome.retries == 4 and not outcome.failed
    # the plain log: one start line, then per cell a start, a retry, a resumed start and the stored result
    text = [line.split(" ", 1)[1] for line in lines]  # without the timestamp
    assert text[0] == "sweep tiny: 4 cells, 0 already stored, 4 to run"
    assert sum(t.startswith("started ") and "resuming at step" not in t for t in text) == 4
    assert sum(t.startswith("retrying ") and "SIGKILL" in t for t in text) == 4
    assert sum(t.startswith("started ") and "(attempt 2), resuming at step" in t for t in text) == 4
    stored = [t for t in text if t.startswith("[")]
    assert [t.split("]")[0] for t in stored] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert all(f"finished; {STEPS}/{STEPS} steps" in t and "fwd L2-UVP" in t for t in stored)
    assert outcome.resumed == 4  # each retry continued from its checkpoint (step >= 100), not from scratch
    assert all(c["attempts"] == 2 for c in cells)
    assert all(r["config"]["resumed_from"] >= 100 for r in rows)
    assert_same_as_reference(reference, tmp_path / "out", rows, evals, losses, cells)


def test_cell_is_failed_after_bounded_retries_then_replaced_on_rerun(reference, tmp_path, sweep_file):
    runs = tiny_runs(sweep_file)[:1]
    executor = KillingExecutor(1, kill_after=60, times=99)
    outcome, rows, *_ , cells = sweep(tmp_path / "db.sqlite", tmp_path / "out", runs, executor=executor, retries=1)
    assert outcome.retries == 1 and len(outcome.failed) == 1
    assert "killed by SIGKILL" in outcome.failed[0][2]
    assert cells[0]["status"] == "failed" and cells[0]["attempts"] == 2
    assert [r["status"] for r in rows] == ["failed"] and "SIGKILL" in rows[0]["error"]
    outcome2, rows2, *_ , cells2 = sweep(tmp_path / "db.sqlite", tmp_path / "out", runs)
    assert outcome2.ran == 1 and outcome2.resumed == 1 and [r["status"] for r in rows2] == ["finished"]
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1  # the failed row was replaced
    ref_root, *_ , ref_cells = reference
    key = cells2[0]["cell_key"]
    assert key == ref_cells[0]["cell_key"]
    for name, value in networks(ref_root / "out", key).items():
        assert torch.equal(value, networks(tmp_path / "out", key)[name])


def test_cells_keep_their_keys_when_the_data_moves_and_older_keys_are_adopted(tmp_path, sweep_file):
    from dataclasses import replace

    runs = tiny_runs(sweep_file, steps=60)[:2]
    (key, _), (key2, cfg2) = plan_cells(runs)
    assert [k for k, _ in plan_cells([replace(r, pair_root=str(tmp_path / "elsewhere")) for r in runs])] == [key, key2]
    outcome, *_ = sweep(tmp_path / "db.sqlite", tmp_path / "out", runs[:1])
    assert outcome.ran == 1
    # a database written when keys hashed pair_root too: the done cell and a pending one (with its checkpoint)
    # stored under old keys
    with ResultStore(tmp_path / "db.sqlite") as store:
        assert store.rekey_cells("tiny", {key: "0ld0000000000001"}) == {key: "0ld0000000000001"}
        store.register_cells("tiny", [("0ld0000000000002", cfg2.to_dict())])
    (tmp_path / "out" / "checkpoints" / "0ld0000000000002.ckpt").write_bytes(b"\x00not a checkpoint")
    outcome, rows, _, _, cells = sweep(tmp_path / "db.sqlite", tmp_path / "out", runs)
    assert outcome.skipped == 1 and outcome.ran == 1  # the done cell was recognised, the other one ran
    assert sorted(c["cell_key"] for c in cells) == sorted([key, key2]) and {c["status"] for c in cells} == {"done"}
    assert sorted(r["config"]["cell_key"] for r in rows) == sorted([key, key2])
    assert (tmp_path / "out" / "checkpoints" / f"{key2}.ckpt.corrupt").exists()  # the checkpoint followed its cell
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


def test_corrupt_checkpoint_is_set_aside_and_the_cell_restarts(tmp_path, sweep_file):
    runs = tiny_runs(sweep_file, steps=100)[:1]
    (key, _), = plan_cells(runs)
    (tmp_path / "out" / "checkpoints").mkdir(parents=True)
    (tmp_path / "out" / "checkpoints" / f"{key}.ckpt").write_bytes(b"\x00garbage")
    outcome, rows, *_ = sweep(tmp_path / "db.sqlite", tmp_path / "out", runs)
    assert outcome.ran == 1 and outcome.resumed == 0 and rows[0]["status"] == "finished"
    assert any("corrupt" in note for note in outcome.notes)
    assert (tmp_path / "out" / "checkpoints" / f"{key}.ckpt.corrupt").read_bytes() == b"\x00garbage"


@pytest.mark.slow
def test_sweep_killed_at_random_points_resumes_without_losing_or_duplicating_rows(reference, tmp_path, sweep_file):
    db, out = tmp_path / "db.sqlite", tmp_path / "out"
    command = [sys.executable, "-m", "monge", "sweep", str(sweep_file), "--db", str(db), "--out", str(out),
               "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(20261123)
    checkpoints = out / "checkpoints"
    for cycle in range(4):  # kill the whole sweep (driver and workers) with SIGKILL at a random moment
        process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        if cycle > 0:  # later kills land after some checkpoint exists, so that resuming is exercised
            deadline = time.monotonic() + 60
            while process.poll() is None and time.monotonic() < deadline and not list(checkpoints.glob("*.ckpt")):
                time.sleep(0.05)
        time.sleep(rng.uniform(0.2, 2.5) if cycle == 0 else rng.uniform(0.0, 0.8))
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:  # it had already finished
            pass
        process.wait(timeout=30)
        if db.exists():
            with sqlite3.connect(db) as conn:  # whatever was committed is whole: no run without its cell
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if not tables:  # killed between opening the file and committing the schema: nothing stored yet
                    continue
                assert {"runs", "evals", "losses", "sweep_cells"} <= tables  # the schema commits as one transaction
                stored = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
                done = conn.execute("SELECT COUNT(*) FROM sweep_cells WHERE status = 'done'").fetchone()[0]
                assert stored == done
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert "sweep tiny" in finished.stdout
    with ResultStore(db) as store:
        cells = store.cells("tiny")
        rows = store.leaderboard([c["run_id"] for c in cells])
        evals = {r["run_id"]: store.evals(r["run_id"]) for r in rows}
        losses = {r["run_id"]: store.losses(r["run_id"]) for r in rows}
        assert len(store.runs()) == 4
    assert any(r["config"]["resumed_from"] > 0 for r in rows), "no cell was resumed: the kills missed the runs"
    assert_same_as_reference(reference, out, rows, evals, losses, cells)


@pytest.mark.slow
def test_ray_executor_runs_a_tiny_sweep_on_a_local_instance(reference, tmp_path, sweep_file):
    executor = make_executor("ray", workers=2)
    try:
        outcome, rows, evals, losses, cells = sweep(tmp_path / "db.sqlite", tmp_path / "out", tiny_runs(sweep_file),
                                                    executor=executor)
    finally:
        executor.close()
    assert outcome.ran == 4 and not outcome.failed
    assert_same_as_reference(reference, tmp_path / "out", rows, evals, losses, cells)


def test_cli_dry_run_lists_cells_and_their_stored_status(reference, sweep_file, capsys):
    from monge.cli.main import main

    db = reference[0] / "db.sqlite"
    assert main(["sweep", str(sweep_file), "--db", str(db), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count(" done ") == 4 and "4 cells, 0 to run" in out
    assert main(["sweep", str(sweep_file), "--db", str(reference[0] / "new.sqlite"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count(" new ") == 4 and "4 cells, 4 to run" in out and "w2gn on gaussian:2 (seed 1), 400 steps" in out
    assert not (reference[0] / "new.sqlite").exists()  # a dry run writes nothing


def test_cli_rerun_of_a_finished_sweep_runs_nothing_and_bad_files_are_named(reference, sweep_file, tmp_path, capsys):
    from monge.cli.main import main

    root = reference[0]
    assert main(["sweep", str(sweep_file), "--db", str(root / "db.sqlite"), "--out", str(root / "out"),
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "0 cells run (0 resumed from checkpoints), 4 already stored" in captured.err
    assert "sweep tiny" in captured.out  # the leaderboard of the sweep's runs
    bad = tmp_path / "bad.toml"
    bad.write_text(SWEEP_FILE.replace('name = "enot"', 'name = "entot"'))
    assert main(["sweep", str(bad), "--db", str(tmp_path / "x.sqlite")]) == 1
    err = capsys.readouterr().err
    assert "bad.toml, solvers[1].name: unknown solver 'entot'" in err
    assert not (tmp_path / "x.sqlite").exists()
    assert main(["sweep", str(sweep_file), "--executor", "slurm", "--db", str(tmp_path / "x.sqlite")]) == 1
    assert "--executor must be local or ray" in capsys.readouterr().err


def test_ray_executor_without_ray_names_the_extra(monkeypatch):
    import builtins

    from monge.errors import MissingDependencyError

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(MissingDependencyError, match=r"pip install 'monge\[ray\]'"):
        make_executor("ray")


def test_w2_hd_example_sweep_loads_and_pair_root_can_be_replaced(tmp_path):
    from helpers import shared_data

    root = shared_data("w2bench")
    example = Path(__file__).resolve().parents[2] / "examples" / "sweeps" / "w2-hd.toml"
    moved = tmp_path / "deep" / "er" / "still" / "w2-hd.toml"
    moved.parent.mkdir(parents=True)
    moved.write_text(example.read_text())  # its relative pair_root no longer points at the data
    with pytest.raises(InvalidInputError, match=r"w2-hd.toml, pairs\[0\]: root .*: not a directory"):
        load_sweep(moved)
    spec = load_sweep(moved, pair_root=root)
    assert len(spec.runs) == 30 and {r.pair_root for r in spec.runs} == {str(root.resolve())}
    assert {r.display_name for r in spec.runs} >= {"w2gn", "enot", "amortized"}
    assert spec.runs[0].time_budget_s == 20 * 60 and spec.runs[0].solver_options["cycle_weight_x"] == 2.0


def test_report_of_one_sweep(reference, tmp_path, capsys):
    from monge.cli.main import main

    db = reference[0] / "db.sqlite"
    out = tmp_path / "tiny.html"
    assert main(["report", "--db", str(db), "--sweep", "tiny", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.count('<tr class="muted">') == 0 and "4 cells: 4 done" in text
    assert text.count("data:image/png") >= 1 + 4  # the pair's convergence figure and a 2-D map per run
    assert main(["report", "--db", str(db), "--sweep", "nope", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "no sweep 'nope'" in err and "sweeps stored: tiny" in err


@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
                         ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_kill_stops_the_sweep_and_its_workers_and_says_how_to_continue(sweep_file, tmp_path, signum, code, word):
    import threading

    for attempt in range(3):   # a loaded machine can finish the tiny sweep before the signal: start again
        out = tmp_path / f"out{attempt}"
        process = subprocess.Popen([sys.executable, "-m", "monge", "sweep", str(sweep_file), "--db",
                                    str(tmp_path / f"db{attempt}.sqlite"), "--out", str(out), "--no-progress"],
                                   env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   # a test run started in the background (nohup … &) ignores SIGINT, and so would
                                   # the sweep: give it Ctrl-C's default action, as in a terminal
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        lines: list[str] = []
        started = threading.Event()

        def read_log(stream=process.stderr, lines=lines, started=started) -> None:
            for line in stream:                  # the --no-progress log, line by line as the sweep writes it
                lines.append(line)
                if " started " in line:
                    started.set()
            started.set()                        # the log ended: the sweep is over

        reader = threading.Thread(target=read_log, daemon=True)
        reader.start()
        started.wait(timeout=60)                 # a worker is training a cell: interrupt now
        if process.poll() is None:
            break
        reader.join(timeout=10)
        process.communicate()
    process.send_signal(signum)
    process.wait(timeout=30)                     # stdout is empty or tiny on an interrupt: no pipe can fill
    process.stdout.read()
    reader.join(timeout=10)
    err = "".join(lines)
    assert process.returncode == code, err
    assert word in err and "run the same command again" in err and "Traceback" not in err
    assert "sweep tiny: 4 cells, 0 already stored, 4 to run" in err and " started w2gn" in err  # --no-progress log
    deadline = time.monotonic() + 10  # the workers, fork server and resource tracker stop with the driver
    while _live_processes_in_group(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _live_processes_in_group(process.pid) == []


def _live_processes_in_group(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (from /proc: this test runs on Linux)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


def test_results_of_one_sweep(reference, capsys):
    from monge.cli.main import main

    db = reference[0] / "db.sqlite"
    assert main(["results", "--db", str(db), "--sweep", "tiny"]) == 0
    out = capsys.readouterr().out
    assert out.count("gaussian:2") == 4 and out.count("finished") == 4
    assert main(["results", "--db", str(db), "--sweep", "tiny", "--solver", "enot"]) == 0
    assert capsys.readouterr().out.count("finished") == 2
    assert main(["results", "--db", str(db), "--sweep", "other"]) == 1
    assert "no sweep 'other'" in capsys.readouterr().err


def test_device_setting_is_checked_and_resolved_where_the_run_trains(tmp_path):
    cfg = RunConfig(solver="w2gn", pair="gaussian:2", device="auto").validate()
    assert cfg.resolved_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InvalidInputError, match="device must be"):
        RunConfig(solver="w2gn", pair="gaussian:2", device="gpu0").validate()
    if not torch.cuda.is_available():
        cuda = RunConfig(solver="w2gn", pair="gaussian:2", device="cuda").validate()  # valid, but not here
        with pytest.raises(InvalidInputError, match="'cuda' is not available on this machine"):
            cuda.resolved_device()
        from monge.run.runner import validate_configs

        validate_configs([cuda], on_device=False)  # a sweep driver may send it to a GPU worker
        with pytest.raises(InvalidInputError, match="not available"):
            validate_configs([cuda])
    bad = tmp_path / "bad.toml"
    bad.write_text(SWEEP_FILE.replace('seeds = [0, 1]', 'seeds = [0, 1]\ndevice = "tpu"'))
    with pytest.raises(InvalidInputError, match=r"bad.toml, device: device must be .*got 'tpu'"):
        load_sweep(bad)
    good = tmp_path / "good.toml"
    good.write_text(SWEEP_FILE.replace('seeds = [0, 1]', 'seeds = [0, 1]\ndevice = "auto"'))
    assert {r.device for r in load_sweep(good).runs} == {"auto"}
