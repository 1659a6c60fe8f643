"""``kill -9`` of a running ``monge bench``: the run is marked interrupted by the next command, nothing is lost,
and the same bench command trains it again to the end."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

BENCH = ["-m", "monge", "bench", "--pair", "gaussian:2", "--solver", "w2gn", "--no-baselines",
         "--no-progress", "--threads", "1", "-o", "hidden_sizes=[8,8]", "-o", "pretrain_steps=10"]


def _rows(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, status, error, steps_done FROM runs ORDER BY id").fetchall()


def test_a_killed_bench_leaves_an_interrupted_run_that_bench_trains_again(tmp_path):
    db = tmp_path / "r.sqlite"
    proc = subprocess.Popen([sys.executable, *BENCH, "--steps", "2000000", "--db", str(db)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if db.exists() and any(row[1] == "running" for row in _safe_rows(db)):
                time.sleep(2.0)                                      # well inside training
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the bench never stored a running run")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    [(run_id, status, _, _)] = _rows(db)
    assert status == "running"                                       # what a kill leaves behind
    listed = subprocess.run([sys.executable, "-m", "monge", "results", "--db", str(db)], cwd=tmp_path,
                            capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert f"run {run_id} of" in listed.stderr and "marked interrupted" in listed.stderr
    [(_, status, error, _)] = _rows(db)
    assert status == "interrupted" and "process" in error
    rerun = subprocess.run([sys.executable, *BENCH, "--steps", "30", "--db", str(db)],
                           cwd=tmp_path, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    rows = _rows(db)
    assert [r[1] for r in rows] == ["interrupted", "finished"] and rows[1][3] == 30


def _safe_rows(db):
    try:
        return _rows(db)
    except sqlite3.Error:
        return []
