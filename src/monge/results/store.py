"""Embedded SQLite store for benchmark runs, evaluation metrics and sampled training losses.

One file holds every run: ``runs`` (one row per run: configuration, budget, status, timings, versions),
``evals`` (one row per metric per evaluation), ``losses`` (sampled training losses) and ``sweep_cells``
(one row per cell of a sweep: its config, whether it is stored, its run, attempts and last error). The schema is
versioned with ``PRAGMA user_version``; a database written by a newer monge is refused rather than
misread. The journal is in WAL mode and every write happens inside a transaction, so a run that fails
half-way never corrupts or removes rows that are already stored.

Example::

    store = ResultStore("results.sqlite")
    run_id = store.start_run(solver="w2gn", pair="gaussian:2", dim=2, seed=0, steps_requested=100,
                             batch_size=64, eval_every=50)
    store.log_eval(run_id, 50, 1.2, {"l2_uvp_fwd": 3.4})
    store.finish_run(run_id, "finished", steps_done=100, wall_time_s=2.0, train_time_s=1.5)
    store.leaderboard()
"""

from __future__ import annotations

import json
import math
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from monge.errors import InvalidInputError, StoreError
from monge.metrics.registry import best_value
from monge.results._schema import (_CHUNK, _RUN_COLUMNS, _RUNS_TABLE, _SCHEMA, _V2_RUN_COLUMNS, SCHEMA_VERSION,
                                   STALE_AFTER_S, STATUSES, _now, _parse_time)
from monge.results.cells import SweepCells, config_columns
from monge.results.owner import owner_alive, process_token

def _finite_or_none(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class ResultStore(SweepCells):
    """A results database in one SQLite file (created with its parent folder when missing).

    Args:
        path: database file. ``":memory:"`` gives a throw-away in-memory store.
        create: when ``False``, a missing file raises :class:`StoreError` instead of being created.

    Raises:
        StoreError: naming ``path`` when it is a directory, cannot be created or written, is not an SQLite
            database, or was written by a newer schema version.

    The store is a context manager (``with ResultStore(p) as store: ...`` closes it).
    """

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path) if str(path) != ":memory:" else Path(":memory:")
        self._conn: sqlite3.Connection | None = None
        memory = str(path) == ":memory:"
        if not memory:
            if self.path.is_dir():
                raise StoreError(f"results database {self.path}: is a directory")
            if not self.path.exists():
                if not create:
                    raise StoreError(f"results database {self.path}: no such file")
                blocker = next((p for p in self.path.parents if p.exists()), None)
                if blocker is not None and not blocker.is_dir():
                    raise StoreError(f"results database {self.path}: {blocker} is a file, not a folder")
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(
                        f"results database {self.path}: cannot create folder {self.path.parent} "
                        f"({exc.strerror or exc})"
                    ) from exc
        try:
            conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"results database {self.path}: cannot open ({exc})") from exc
        self._conn = conn
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"results database {self.path}: schema version {version} is newer than this monge "
                    f"supports ({SCHEMA_VERSION}); upgrade monge"
                )
            if not memory:
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if version < SCHEMA_VERSION:
                self._migrate(version)
        except StoreError:
            self.close()
            raise
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"results database {self.path}: cannot use it ({exc})") from exc

    # ------------------------------------------------------------------ plumbing
    def _migrate(self, version: int) -> None:
        if version in (1, 2):
            self._rebuild_runs_table()
        with self._tx() as conn:
            if version == 0:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                foreign = tables - {"runs", "evals", "losses", "sweep_cells", "sqlite_sequence"}
                if foreign:
                    raise StoreError(
                        f"results database {self.path}: holds other tables ({', '.join(sorted(foreign))}); "
                        "not a monge results database"
                    )
            # every statement is CREATE ... IF NOT EXISTS: version 1 gains the sweep_cells table
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _rebuild_runs_table(self) -> None:
        """Upgrade a version-1/2 runs table to version 3 (SQLite cannot change a CHECK constraint in place): the
        documented rebuild — new table, copy, drop, rename — in one transaction with foreign keys off, so the
        evaluation and loss rows keep pointing at their runs."""
        conn = self.conn
        conn.execute("PRAGMA foreign_keys = OFF")
        try:
            with self._tx() as tx:
                tx.execute(_RUNS_TABLE.format(name="runs_v3"))
                columns = ", ".join(_V2_RUN_COLUMNS)
                tx.execute(f"INSERT INTO runs_v3 ({columns}) SELECT {columns} FROM runs")
                tx.execute("DROP TABLE runs")
                tx.execute("ALTER TABLE runs_v3 RENAME TO runs")
                tx.execute("CREATE INDEX IF NOT EXISTS runs_solver_pair ON runs (solver, pair)")
                broken = tx.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise StoreError(f"results database {self.path}: upgrade would break {len(broken)} references")
        finally:
            conn.execute("PRAGMA foreign_keys = ON")

    @property
    def conn(self) -> sqlite3.Connection:
        """The open SQLite connection (raises :class:`StoreError` once the store is closed)."""
        if self._conn is None:
            raise StoreError(f"results database {self.path}: store is closed")
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on any exception."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"results database {self.path}: cannot write ({exc})") from exc
        try:
            yield conn
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"results database {self.path}: write failed ({exc})") from exc
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StoreError(f"results database {self.path}: commit failed ({exc})") from exc

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"results database {self.path}: read failed ({exc})") from exc

    @property
    def schema_version(self) -> int:
        """The schema version stored in the file."""
        return int(self._query("PRAGMA user_version")[0][0])

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r})"

    # ------------------------------------------------------------------ writing
    def start_run(
        self,
        *,
        solver: str,
        pair: str,
        dim: int,
        seed: int,
        steps_requested: int,
        batch_size: int,
        eval_every: int,
        config: Mapping[str, Any] | None = None,
        versions: Mapping[str, Any] | None = None,
    ) -> int:
        """Insert a run with status ``running`` and return its id.

        ``config`` (solver options, pair spec, budget) and ``versions`` (library versions, platform,
        device) are stored as JSON.
        """
        config_json, versions_json = config_columns(config, versions)
        created = _now()
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO runs (created_at, solver, pair, dim, seed, steps_requested, batch_size, eval_every,"
                " status, config_json, versions_json, owner, heartbeat_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                (created, solver, pair, int(dim), int(seed), int(steps_requested), int(batch_size),
                 int(eval_every), config_json, versions_json, process_token(), created),
            )
            return int(cur.lastrowid)

    def log_eval(self, run_id: int, step: int, train_time: float, metrics: Mapping[str, float]) -> None:
        """Store one evaluation of run ``run_id`` at ``step`` (``train_time`` seconds of training so far).

        Non-finite values are stored as NULL. Logging the same metric at the same step again replaces it.
        """
        rows = [(int(run_id), int(step), float(train_time), str(k), _finite_or_none(v)) for k, v in metrics.items()]
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO evals (run_id, step, train_time_s, metric, value) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("UPDATE runs SET steps_done = MAX(steps_done, ?), heartbeat_at = ? WHERE id = ?",
                         (int(step), _now(), int(run_id)))

    def log_losses(self, run_id: int, records: Iterable[tuple[int, Mapping[str, float]]]) -> None:
        """Store sampled training losses of run ``run_id``: ``records`` is an iterable of
        ``(step, {name: value})`` pairs (written in one transaction)."""
        rows = [(int(run_id), int(step), str(k), _finite_or_none(v)) for step, logs in records for k, v in logs.items()]
        if not rows:
            return
        with self._tx() as conn:
            conn.executemany("INSERT OR REPLACE INTO losses (run_id, step, name, value) VALUES (?, ?, ?, ?)", rows)
            if rows:
                conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (_now(), rows[0][0]))

    def finish_run(
        self,
        run_id: int,
        status: str,
        *,
        steps_done: int | None = None,
        error: str | None = None,
        wall_time_s: float | None = None,
        train_time_s: float | None = None,
        steps_per_s: float | None = None,
    ) -> None:
        """Record the end of run ``run_id`` with ``status`` (finished, diverged, failed or stopped).

        ``steps_per_s`` defaults to ``steps_done / train_time_s`` when both are known.
        """
        if status not in STATUSES or status == "running":
            raise InvalidInputError(f"run status must be one of {', '.join(STATUSES[1:])}; got {status!r}")
        if steps_per_s is None and steps_done and train_time_s:
            steps_per_s = steps_done / train_time_s
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = ?, error = ?, steps_done = COALESCE(?, steps_done), wall_time_s = ?,"
                " train_time_s = ?, steps_per_s = ? WHERE id = ?",
                (status, error, None if steps_done is None else int(steps_done), _finite_or_none(wall_time_s),
                 _finite_or_none(train_time_s), _finite_or_none(steps_per_s), int(run_id)),
            )
            if cur.rowcount != 1:
                raise StoreError(f"results database {self.path}: no run with id {run_id}")

    def heartbeat(self, run_id: int) -> None:
        """Record that run ``run_id`` is still training (its ``heartbeat_at``; see :meth:`reap_orphans`)."""
        with self._tx() as conn:
            conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'", (_now(), int(run_id)))

    def reap_orphans(self, *, stale_after_s: float = STALE_AFTER_S) -> list[int]:
        """Mark ``interrupted`` every ``running`` run whose process is gone, and return their ids.

        A run records its owner (host, process id and the process's start time, :func:`process_token`). On this
        host the owner is checked exactly: the run is orphaned when that process no longer exists (a reused
        process id has another start time). A run of another host, or of an unknown owner (stored before
        version 3), is orphaned when its last write (``heartbeat_at``, else ``created_at``) is older than
        ``stale_after_s``. ``monge bench``, ``results``, ``report`` and ``sweep`` call this when they open a
        database; ``bench`` then trains such runs again (they are not complete).
        """
        rows = self._query("SELECT id, owner, heartbeat_at, created_at FROM runs WHERE status = 'running'")
        now = datetime.now(timezone.utc)
        orphans: list[tuple[int, str]] = []
        for row in rows:
            alive = owner_alive(row["owner"])
            if alive is None:
                last = _parse_time(row["heartbeat_at"] or row["created_at"])
                if last is not None and (now - last).total_seconds() <= stale_after_s:
                    continue
                why = f"no write for more than {stale_after_s:.0f} s and its process cannot be checked from here"
            elif alive:
                continue
            else:
                why = f"its process ({row['owner']}) is gone"
            orphans.append((int(row["id"]), f"interrupted: {why}"))
        if orphans:
            with self._tx() as conn:
                conn.executemany("UPDATE runs SET status = 'interrupted', error = ? WHERE id = ? AND status = 'running'",
                                 [(why, run_id) for run_id, why in orphans])
        return [run_id for run_id, _ in orphans]

    def update_config(self, run_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``values`` into the stored config of run ``run_id`` in one transaction and return the new config
        (e.g. ``{"result_dir": ...}`` once the run's fitted result is saved). :class:`StoreError` if there is no
        such run, :class:`InvalidInputError` if the values are not JSON-serialisable."""
        with self._tx() as conn:
            row = conn.execute("SELECT config_json FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            if row is None:
                raise StoreError(f"results database {self.path}: no run with id {run_id}")
            try:
                config = json.loads(row["config_json"] or "{}")
            except json.JSONDecodeError:
                config = {}
            config.update(dict(values))
            conn.execute("UPDATE runs SET config_json = ? WHERE id = ?", (config_columns(config, None)[0], int(run_id)))
        return config

    def _insert_run(self, conn: sqlite3.Connection, record: Mapping[str, Any]) -> int:
        """Insert a complete run (row, evaluations, losses) with ``conn`` inside an open transaction."""
        try:
            return self._insert_run_rows(conn, record)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"run record is malformed ({type(exc).__name__}: {exc}); nothing was stored") from exc

    def _insert_run_rows(self, conn: sqlite3.Connection, record: Mapping[str, Any]) -> int:
        config_json, versions_json = config_columns(record.get("config"), record.get("versions"))
        status = record["status"]
        if status not in STATUSES or status == "running":
            raise InvalidInputError(f"a recorded run must have ended (finished, diverged, failed, stopped); got {status!r}")
        steps_done, train_time = int(record.get("steps_done") or 0), record.get("train_time_s")
        steps_per_s = record.get("steps_per_s")
        if steps_per_s is None and steps_done and train_time:
            steps_per_s = steps_done / train_time
        cur = conn.execute(
            "INSERT INTO runs (created_at, solver, pair, dim, seed, steps_requested, steps_done, batch_size, eval_every,"
            " status, error, wall_time_s, train_time_s, steps_per_s, config_json, versions_json)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.get("created_at") or _now(), record["solver"], record["pair"], int(record["dim"]),
             int(record["seed"]), int(record["steps_requested"]), steps_done, int(record["batch_size"]),
             int(record["eval_every"]), status, record.get("error"), _finite_or_none(record.get("wall_time_s")),
             _finite_or_none(train_time), _finite_or_none(steps_per_s), config_json, versions_json),
        )
        run_id = int(cur.lastrowid)
        conn.executemany(
            "INSERT OR REPLACE INTO evals (run_id, step, train_time_s, metric, value) VALUES (?, ?, ?, ?, ?)",
            [(run_id, int(step), float(t), str(k), _finite_or_none(v))
             for step, t, metrics in record.get("evals", ()) for k, v in dict(metrics).items()])
        conn.executemany(
            "INSERT OR REPLACE INTO losses (run_id, step, name, value) VALUES (?, ?, ?, ?)",
            [(run_id, int(step), str(k), _finite_or_none(v)) for step, logs in record.get("losses", ())
             for k, v in dict(logs).items()])
        return run_id

    def record_run(self, record: Mapping[str, Any]) -> int:
        """Store a complete, ended run in one transaction and return its id.

        ``record`` holds the :meth:`start_run` fields (solver, pair, dim, seed, steps_requested, batch_size,
        eval_every, config, versions), the :meth:`finish_run` fields (status, error, steps_done, wall_time_s,
        train_time_s, steps_per_s), ``evals`` (``(step, train_time, {metric: value})`` triples) and ``losses``
        (``(step, {name: value})`` pairs). Either all of it is stored or nothing is.
        """
        with self._tx() as conn:
            return self._insert_run(conn, record)

    # ------------------------------------------------------------------ reading
    def runs(
        self,
        *,
        solver: str | None = None,
        pair: str | None = None,
        status: str | None = None,
        run_ids: Iterable[int] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Stored runs, newest first, filtered by exact ``solver``, ``pair``, ``status`` and/or ids.

        Each run is a dict of its columns, with ``config`` and ``versions`` decoded from JSON.
        """
        where, params = [], []
        for column, value in (("solver", solver), ("pair", pair), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if run_ids is not None:
            wanted = {int(i) for i in run_ids}
            if not wanted:
                return []
            if len(wanted) <= _CHUNK:
                where.append(f"id IN ({', '.join('?' * len(wanted))})")
                params += sorted(wanted)
            else:  # too many to bind: filter in Python
                rows = self.runs(solver=solver, pair=pair, status=status)
                return [r for r in rows if r["id"] in wanted][: limit if limit is not None else None]
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            if int(limit) <= 0:
                raise InvalidInputError(f"limit must be a positive integer, got {limit!r}")
            sql += " LIMIT ?"
            params.append(int(limit))
        return [self._run_dict(row) for row in self._query(sql, params)]

    def run(self, run_id: int) -> dict[str, Any]:
        """One run as a dict (see :meth:`runs`); :class:`StoreError` if there is no such run."""
        rows = self._query("SELECT * FROM runs WHERE id = ?", (int(run_id),))
        if not rows:
            raise StoreError(f"results database {self.path}: no run with id {run_id}")
        return self._run_dict(rows[0])

    @staticmethod
    def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
        out = {k: row[k] for k in _RUN_COLUMNS}
        for key in ("config", "versions"):
            try:
                out[key] = json.loads(out[f"{key}_json"] or "{}")
            except json.JSONDecodeError:
                out[key] = {}
        return out

    def evals(self, run_id: int) -> list[dict[str, Any]]:
        """Evaluation rows of run ``run_id`` ordered by step then metric: dicts with
        ``step``, ``train_time_s``, ``metric``, ``value`` (``None`` for a non-finite value)."""
        rows = self._query(
            "SELECT step, train_time_s, metric, value FROM evals WHERE run_id = ? ORDER BY step, metric", (int(run_id),)
        )
        return [dict(row) for row in rows]

    def losses(self, run_id: int) -> list[dict[str, Any]]:
        """Sampled loss rows of run ``run_id`` ordered by step then name: dicts with ``step``, ``name``, ``value``."""
        rows = self._query("SELECT step, name, value FROM losses WHERE run_id = ? ORDER BY step, name", (int(run_id),))
        return [dict(row) for row in rows]

    def leaderboard(self, run_ids: Iterable[int] | None = None, **filters: Any) -> list[dict[str, Any]]:
        """One row per run (the given ``run_ids``, else every run matching ``filters`` of :meth:`runs`),
        in ascending id order: the run's columns plus ``final`` (each metric at the last evaluated step)
        and ``best`` (each metric's best value over the run by its declared direction,
        :func:`monge.metrics.registry.best_value`: max for higher-is-better metrics such as the cosines, min for
        lower-is-better ones such as L2-UVP and the cost error; reference quantities such as ``cost_true`` and
        undeclared metrics have no best value)."""
        runs = self.runs(run_ids=run_ids, **filters)
        runs.sort(key=lambda r: r["id"])
        if not runs:
            return []
        ids = [r["id"] for r in runs]
        rows: list[sqlite3.Row] = []
        for start in range(0, len(ids), _CHUNK):  # stay under SQLite's bound-parameter limit
            chunk = ids[start:start + _CHUNK]
            rows += self._query(
                f"SELECT run_id, step, metric, value FROM evals WHERE run_id IN ({', '.join('?' * len(chunk))})"
                " ORDER BY run_id, step",
                chunk,
            )
        final: dict[int, dict[str, float | None]] = {i: {} for i in ids}
        series: dict[int, dict[str, list[float | None]]] = {i: {} for i in ids}
        for row in rows:
            rid, metric, value = row["run_id"], row["metric"], row["value"]
            final[rid][metric] = value  # ordered by step: the last one wins
            series[rid].setdefault(metric, []).append(value)
        best: dict[int, dict[str, float]] = {i: {} for i in ids}
        for rid, per_metric in series.items():
            for metric, values in per_metric.items():
                value = best_value(metric, values)
                if value is not None:
                    best[rid][metric] = value
        out = []
        for run in runs:
            row = {k: v for k, v in run.items() if not k.endswith("_json")}
            row["run_id"] = run["id"]
            row["final"] = final[run["id"]]
            row["best"] = best[run["id"]]
            out.append(row)
        return out
