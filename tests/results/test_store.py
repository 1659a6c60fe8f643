"""The SQLite results store: schema versioning, rows, filters, leaderboard, bad paths, failure safety."""

from __future__ import annotations

import math
import sqlite3

import pytest

from monge.errors import InvalidInputError, StoreError
from monge.results import SCHEMA_VERSION, ResultStore


def _run(store: ResultStore, solver: str = "w2gn", pair: str = "gaussian:2", seed: int = 0) -> int:
    return store.start_run(solver=solver, pair=pair, dim=2, seed=seed, steps_requested=100, batch_size=64,
                           eval_every=50, config={"solver_options": {"lr": 1e-3}, "pair": pair},
                           versions={"torch": "x"})


def test_schema_version_and_wal(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "evals", "losses"} <= tables
    conn.close()
    # reopening an existing store works and keeps the version
    with ResultStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION


def test_rows_roundtrip(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        rid = _run(store)
        run = store.run(rid)
        assert run["status"] == "running" and run["steps_done"] == 0
        assert run["config"]["solver_options"] == {"lr": 1e-3}
        assert run["versions"] == {"torch": "x"}
        store.log_eval(rid, 50, 0.5, {"l2_uvp_fwd": 10.0, "cos_fwd": 0.5, "bad": float("nan")})
        store.log_eval(rid, 100, 1.0, {"l2_uvp_fwd": 4.0, "cos_fwd": 0.9, "bad": 1.0})
        store.log_losses(rid, [(1, {"loss": 3.0}), (50, {"loss": 2.0, "cycle": 0.1})])
        store.finish_run(rid, "finished", steps_done=100, wall_time_s=2.0, train_time_s=1.0)
        run = store.run(rid)
        assert run["status"] == "finished" and run["steps_done"] == 100
        assert run["steps_per_s"] == pytest.approx(100.0)
        evals = store.evals(rid)
        assert [(e["step"], e["metric"]) for e in evals] == [
            (50, "bad"), (50, "cos_fwd"), (50, "l2_uvp_fwd"), (100, "bad"), (100, "cos_fwd"), (100, "l2_uvp_fwd")]
        assert evals[0]["value"] is None  # NaN stored as NULL
        assert evals[2]["train_time_s"] == 0.5
        assert [(r["step"], r["name"], r["value"]) for r in store.losses(rid)] == [
            (1, "loss", 3.0), (50, "cycle", 0.1), (50, "loss", 2.0)]


def test_filters_and_limit(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        a = _run(store, "w2gn", "gaussian:2")
        b = _run(store, "w2gn", "gaussian:8")
        c = _run(store, "other", "gaussian:2")
        store.finish_run(a, "finished", steps_done=100)
        store.finish_run(b, "diverged", steps_done=10, error="nan")
        assert [r["id"] for r in store.runs()] == [c, b, a]  # newest first
        assert [r["id"] for r in store.runs(solver="w2gn")] == [b, a]
        assert [r["id"] for r in store.runs(pair="gaussian:2")] == [c, a]
        assert [r["id"] for r in store.runs(status="diverged")] == [b]
        assert [r["id"] for r in store.runs(status="running")] == [c]
        assert [r["id"] for r in store.runs(solver="w2gn", pair="gaussian:2")] == [a]
        assert [r["id"] for r in store.runs(limit=2)] == [c, b]
        assert store.runs(run_ids=[]) == []
        assert store.run(b)["error"] == "nan"
        with pytest.raises(InvalidInputError):
            store.runs(limit=0)
        with pytest.raises(StoreError, match="no run with id 999"):
            store.run(999)


def test_leaderboard_numbers_equal_logged(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        a = _run(store)
        logged = {10: {"l2_uvp_fwd": 5.0, "l2_uvp_inv": 7.0, "cos_fwd": 0.8},
                  20: {"l2_uvp_fwd": 2.0, "l2_uvp_inv": 9.0, "cos_fwd": 0.95},
                  30: {"l2_uvp_fwd": 3.0, "l2_uvp_inv": 8.0, "cos_fwd": 0.9}}
        for step, metrics in logged.items():
            store.log_eval(a, step, step / 10, metrics)
        store.finish_run(a, "finished", steps_done=30, wall_time_s=4.0, train_time_s=3.0, steps_per_s=12.5)
        b = _run(store, pair="toy:swiss_roll")
        store.log_eval(b, 5, 0.1, {"w2_ratio": 0.7})
        store.finish_run(b, "stopped", steps_done=5)

        rows = store.leaderboard()
        assert [r["run_id"] for r in rows] == [a, b]
        ra = rows[0]
        assert ra["final"] == logged[30]
        assert ra["best"] == {"l2_uvp_fwd": 2.0, "l2_uvp_inv": 7.0, "cos_fwd": 0.95}  # min, min, max
        assert ra["steps_per_s"] == 12.5 and ra["wall_time_s"] == 4.0 and ra["steps_done"] == 30
        assert rows[1]["final"] == {"w2_ratio": 0.7} and rows[1]["status"] == "stopped"
        assert [r["run_id"] for r in store.leaderboard([b])] == [b]
        assert [r["run_id"] for r in store.leaderboard(None, pair="gaussian:2")] == [a]


def test_bad_status_rejected(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        rid = _run(store)
        with pytest.raises(InvalidInputError, match="status"):
            store.finish_run(rid, "exploded")
        with pytest.raises(StoreError, match="no run with id"):
            store.finish_run(rid + 1, "finished")


def test_creates_missing_parent_folders(tmp_path):
    path = tmp_path / "a" / "b" / "r.sqlite"
    with ResultStore(path) as store:
        _run(store)
    assert path.is_file()


def test_store_error_for_directory(tmp_path):
    with pytest.raises(StoreError, match=str(tmp_path)) as info:
        ResultStore(tmp_path)
    assert "directory" in str(info.value)


def test_store_error_for_uncreatable_folder(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    path = blocker / "sub" / "r.sqlite"
    with pytest.raises(StoreError, match="is a file, not a folder") as info:
        ResultStore(path)
    assert str(path) in str(info.value)


def test_store_error_for_non_sqlite_file(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("hello, I am not a database " * 100)
    with pytest.raises(StoreError, match="notes.sqlite"):
        ResultStore(path)
    assert path.read_text().startswith("hello")  # untouched


def test_store_error_for_foreign_sqlite(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a monge results database"):
        ResultStore(path)


def test_a_store_killed_before_its_schema_committed_opens_as_new(tmp_path):
    # a process killed between opening the file and committing the schema leaves a database without tables:
    # both an empty file and one with only WAL switched on open as a new store
    for name, setup in (("empty.sqlite", lambda p: p.touch()),
                        ("wal.sqlite", lambda p: sqlite3.connect(p).execute("PRAGMA journal_mode = WAL").close())):
        path = tmp_path / name
        setup(path)
        with ResultStore(path) as store:
            assert store.schema_version == SCHEMA_VERSION
            run_id = _run(store)
            assert [r["id"] for r in store.runs()] == [run_id]


def test_missing_file_without_create(tmp_path):
    with pytest.raises(StoreError, match="no such file"):
        ResultStore(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()


def test_newer_schema_rejected(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        _run(store)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer") as info:
        ResultStore(path)
    assert str(path) in str(info.value)


def test_failed_write_rolls_back_and_keeps_rows(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        rid = _run(store)
        store.log_eval(rid, 10, 0.1, {"l2_uvp_fwd": 1.0})
        store.finish_run(rid, "finished", steps_done=10)
        # a write that fails half-way (an exception inside the transaction) leaves nothing behind
        with pytest.raises(RuntimeError):
            with store._tx() as conn:
                conn.execute("INSERT INTO evals (run_id, step, train_time_s, metric, value) VALUES (?, 20, 0, 'x', 1)",
                             (rid,))
                raise RuntimeError("boom")
        assert [e["step"] for e in store.evals(rid)] == [10]
        # a non-finite metric never breaks a write
        store.log_eval(rid, 11, 0.2, {"l2_uvp_fwd": math.inf})
    with ResultStore(path) as store:
        assert store.run(rid)["status"] == "finished"
        assert [(e["step"], e["value"]) for e in store.evals(rid)] == [(10, 1.0), (11, None)]


def test_closed_store_raises(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.runs()


def test_memory_store():
    with ResultStore(":memory:") as store:
        rid = _run(store)
        assert store.run(rid)["id"] == rid


def test_many_runs_leaderboard(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        ids = [_run(store, seed=i) for i in range(620)]
        for rid in ids[::100]:
            store.log_eval(rid, 1, 0.0, {"l2_uvp_fwd": float(rid)})
        rows = store.leaderboard()
        assert len(rows) == 620
        assert [r["final"].get("l2_uvp_fwd") for r in rows if r["final"]] == [float(i) for i in ids[::100]]
        assert len(store.runs(run_ids=ids)) == 620
        assert [r["id"] for r in store.runs(run_ids=ids, limit=3)] == ids[::-1][:3]


def _record(**overrides):
    record = dict(solver="w2gn", pair="gaussian:2", dim=2, seed=0, steps_requested=10, batch_size=8, eval_every=5,
                  config={"lr": 1e-3}, versions={"torch": "x"}, status="finished", error=None, steps_done=10,
                  wall_time_s=2.0, train_time_s=1.0, steps_per_s=None,
                  evals=[(5, 0.5, {"l2_uvp_fwd": 3.0}), (10, 1.0, {"l2_uvp_fwd": 2.0})],
                  losses=[(1, {"loss": 0.5}), (10, {"loss": 0.1})])
    record.update(overrides)
    return record


def test_record_run_stores_everything_in_one_transaction(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        run_id = store.record_run(_record())
        row = store.leaderboard([run_id])[0]
        assert row["status"] == "finished" and row["steps_per_s"] == pytest.approx(10.0)
        assert row["final"] == {"l2_uvp_fwd": 2.0} and row["best"] == {"l2_uvp_fwd": 2.0}
        assert [x["value"] for x in store.losses(run_id)] == [0.5, 0.1]
        with pytest.raises(InvalidInputError, match="must have ended"):
            store.record_run(_record(status="running"))
        with pytest.raises(InvalidInputError, match="malformed"):  # a bad row half-way: nothing is kept
            store.record_run(_record(evals=[(5, 0.5, {"l2_uvp_fwd": 1.0}), (6, "later", {"x": 1.0})]))
        assert [r["id"] for r in store.runs()] == [run_id]


def test_sweep_cells_keep_one_run_each(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.register_cells("s", [("a", {"seed": 0}), ("b", {"seed": 1})])
        store.register_cells("s", [("a", {"seed": 0}), ("b", {"seed": 1})])  # idempotent
        assert [(c["cell_key"], c["status"], c["attempts"]) for c in store.cells("s")] == [("a", "pending", 0),
                                                                                          ("b", "pending", 0)]
        failed = store.record_cell("s", "a", _record(status="failed", error="boom", evals=[], losses=[]),
                                   status="failed", error="boom", attempts=3)
        done = store.record_cell("s", "a", _record(), status="done", attempts=4)
        assert failed != done and [r["id"] for r in store.runs()] == [done]  # the failed run was replaced
        store.record_cell("s", "b", None, status="pending", error="worker died", attempts=1)
        cells = {c["cell_key"]: c for c in store.cells("s")}
        assert cells["a"]["status"] == "done" and cells["a"]["run_id"] == done and cells["a"]["attempts"] == 4
        assert cells["b"]["run_id"] is None and cells["b"]["error"] == "worker died"
        assert store.sweeps() == ["s"]
        with pytest.raises(StoreError, match="no cell 'zz'"):
            store.record_cell("s", "zz", None, status="pending")
        with pytest.raises(InvalidInputError, match="cell status"):
            store.record_cell("s", "a", None, status="running")
        # re-keying: a taken or unknown key is left alone; a cell's run follows it
        assert store.rekey_cells("s", {"a": "b", "zz": "y"}) == {}
        assert store.rekey_cells("s", {"a": "c"}) == {"a": "c"}
        assert [c["cell_key"] for c in store.cells("s")] == ["c", "b"] and store.cells("s")[0]["run_id"] == done


def test_version_1_database_is_upgraded_in_place(tmp_path):
    path = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, solver TEXT NOT NULL,
            pair TEXT NOT NULL, dim INTEGER NOT NULL, seed INTEGER NOT NULL, steps_requested INTEGER NOT NULL,
            steps_done INTEGER NOT NULL DEFAULT 0, batch_size INTEGER NOT NULL, eval_every INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'running', error TEXT, wall_time_s REAL, train_time_s REAL,
            steps_per_s REAL, config_json TEXT NOT NULL DEFAULT '{}', versions_json TEXT NOT NULL DEFAULT '{}');
        CREATE TABLE evals (run_id INTEGER NOT NULL, step INTEGER NOT NULL, train_time_s REAL NOT NULL,
            metric TEXT NOT NULL, value REAL, PRIMARY KEY (run_id, step, metric));
        CREATE TABLE losses (run_id INTEGER NOT NULL, step INTEGER NOT NULL, name TEXT NOT NULL, value REAL,
            PRIMARY KEY (run_id, step, name));
        INSERT INTO runs (created_at, solver, pair, dim, seed, steps_requested, batch_size, eval_every, status)
            VALUES ('2026-01-01T00:00:00', 'w2gn', 'gaussian:2', 2, 0, 10, 8, 5, 'finished');
        INSERT INTO evals VALUES (1, 10, 1.0, 'l2_uvp_fwd', 4.5);
        PRAGMA user_version = 1;
    """)
    conn.close()
    with ResultStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 3
        assert store.leaderboard()[0]["final"] == {"l2_uvp_fwd": 4.5}
        store.register_cells("s", [("a", {})])
        assert store.cells("s")[0]["status"] == "pending"


def test_version_2_database_gains_the_interrupted_status_and_keeps_its_rows(tmp_path):
    path = tmp_path / "v2.sqlite"
    with ResultStore(path) as store:
        run = store.start_run(solver="w2gn", pair="gaussian:2", dim=2, seed=0, steps_requested=10, batch_size=8,
                              eval_every=5)
        store.log_eval(run, 5, 1.0, {"l2_uvp_fwd": 3.0})
    conn = sqlite3.connect(path)                       # rewrite the file as version 2 wrote it
    conn.executescript("""
        PRAGMA foreign_keys = OFF;
        CREATE TABLE runs_old AS SELECT id, created_at, solver, pair, dim, seed, steps_requested, steps_done,
            batch_size, eval_every, status, error, wall_time_s, train_time_s, steps_per_s, config_json,
            versions_json FROM runs;
        DROP TABLE runs;
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, solver TEXT NOT NULL,
            pair TEXT NOT NULL, dim INTEGER NOT NULL, seed INTEGER NOT NULL, steps_requested INTEGER NOT NULL,
            steps_done INTEGER NOT NULL DEFAULT 0, batch_size INTEGER NOT NULL, eval_every INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'finished', 'diverged', 'failed', 'stopped')),
            error TEXT, wall_time_s REAL, train_time_s REAL, steps_per_s REAL,
            config_json TEXT NOT NULL DEFAULT '{}', versions_json TEXT NOT NULL DEFAULT '{}');
        INSERT INTO runs SELECT * FROM runs_old;
        DROP TABLE runs_old;
        UPDATE runs SET created_at = '2026-01-01T00:00:00';
        PRAGMA user_version = 2;
    """)
    conn.close()
    with ResultStore(path) as store:
        assert store.schema_version == 3
        assert store.leaderboard()[0]["final"] == {"l2_uvp_fwd": 3.0}          # evaluations still attached
        assert store.reap_orphans() == [run]            # no owner, last write long ago: interrupted
        row = store.leaderboard()[0]
        assert row["status"] == "interrupted" and "no write for more than" in row["error"]
        store.finish_run(run, "interrupted", error="again")                   # the status is allowed now
        assert sqlite3.connect(path).execute("PRAGMA foreign_key_check").fetchall() == []


def test_running_rows_of_dead_processes_are_marked_interrupted(tmp_path):
    import subprocess
    import sys

    from monge.results.owner import owner_alive, process_token

    me = process_token()
    assert owner_alive(me) is True and owner_alive(None) is None and owner_alive("elsewhere|1|x") is None
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = f"{me.split('|')[0]}|{int(gone.stdout)}|x"
    assert owner_alive(dead) is False
    with ResultStore(tmp_path / "r.sqlite") as store:
        mine = store.start_run(solver="w2gn", pair="gaussian:2", dim=2, seed=0, steps_requested=10, batch_size=8,
                               eval_every=5)
        orphan = store.start_run(solver="enot", pair="gaussian:2", dim=2, seed=0, steps_requested=10, batch_size=8,
                                 eval_every=5)
        remote = store.start_run(solver="lsot", pair="gaussian:2", dim=2, seed=0, steps_requested=10, batch_size=8,
                                 eval_every=5)
        store.conn.execute("UPDATE runs SET owner = ? WHERE id = ?", (dead, orphan))
        store.conn.execute("UPDATE runs SET owner = 'elsewhere|7|x' WHERE id = ?", (remote,))
        assert store.reap_orphans() == [orphan]                              # fresh remote heartbeat: alive
        assert store.reap_orphans(stale_after_s=-1) == [remote]             # stale remote heartbeat
        statuses = {row["id"]: row["status"] for row in store.leaderboard()}
        assert statuses == {mine: "running", orphan: "interrupted", remote: "interrupted"}


def test_training_runs_write_a_heartbeat(tmp_path, monkeypatch):
    """A bench run refreshes its heartbeat while it trains (every HEARTBEAT_EVERY_S; 0 here), so that a run of
    another host is not taken for interrupted between sparse evaluations."""
    import monge.run.runner as runner
    import monge.run.tracker as tracker

    beats: list[int] = []
    real = ResultStore.heartbeat
    monkeypatch.setattr(tracker, "HEARTBEAT_EVERY_S", 0.0)
    monkeypatch.setattr(ResultStore, "heartbeat", lambda self, run_id: (beats.append(run_id), real(self, run_id)))
    with ResultStore(tmp_path / "r.sqlite") as store:
        [summary] = runner.run_bench([tracker.RunConfig(solver="enot", pair="gaussian:2", steps=12, batch_size=16,
                                                       solver_options={"hidden_sizes": [8]})], store, progress=False)
        assert len(beats) >= 12 and set(beats) == {summary.run_id}
        row = store.conn.execute("SELECT heartbeat_at, status FROM runs").fetchone()
        assert row["heartbeat_at"] is not None and row["status"] == "finished"
        store.heartbeat(summary.run_id)                      # a finished run is left as it is
        assert store.reap_orphans(stale_after_s=-1) == []
