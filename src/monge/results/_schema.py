"""The results database's schema: its version, statuses, tables and the time format of its rows."""

from __future__ import annotations

import time
from datetime import datetime, timezone

SCHEMA_VERSION = 3
"""Version of the schema this module writes (stored in ``PRAGMA user_version``). Version 2 added the
``sweep_cells`` table; version 3 the ``interrupted`` status and each run's ``owner`` (the process that runs it)
and ``heartbeat_at`` (its last write). Older files are upgraded in place when opened."""

STATUSES: tuple[str, ...] = ("running", "finished", "diverged", "failed", "stopped", "interrupted")
"""Allowed values of ``runs.status``. ``interrupted``: the process running it died (killed, crashed, machine
rebooted) before it ended; :meth:`ResultStore.reap_orphans` finds such runs."""

STALE_AFTER_S = 1800.0
"""A ``running`` run owned by another machine (or by an unknown process) whose last write is older than this is
taken for interrupted; runs of this machine are checked exactly, through their owner's process."""

_RUNS_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      TEXT    NOT NULL,
    solver          TEXT    NOT NULL,
    pair            TEXT    NOT NULL,
    dim             INTEGER NOT NULL,
    seed            INTEGER NOT NULL,
    steps_requested INTEGER NOT NULL,
    steps_done      INTEGER NOT NULL DEFAULT 0,
    batch_size      INTEGER NOT NULL,
    eval_every      INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'finished', 'diverged', 'failed', 'stopped', 'interrupted')),
    error           TEXT,
    wall_time_s     REAL,
    train_time_s    REAL,
    steps_per_s     REAL,
    config_json     TEXT    NOT NULL DEFAULT '{{}}',
    versions_json   TEXT    NOT NULL DEFAULT '{{}}',
    owner           TEXT,
    heartbeat_at    TEXT
)"""

_SCHEMA = _RUNS_TABLE.format(name="runs") + """;
CREATE INDEX IF NOT EXISTS runs_solver_pair ON runs (solver, pair);
CREATE TABLE IF NOT EXISTS evals (
    run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step         INTEGER NOT NULL,
    train_time_s REAL    NOT NULL,
    metric       TEXT    NOT NULL,
    value        REAL,
    PRIMARY KEY (run_id, step, metric)
);
CREATE TABLE IF NOT EXISTS losses (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step   INTEGER NOT NULL,
    name   TEXT    NOT NULL,
    value  REAL,
    PRIMARY KEY (run_id, step, name)
);
""" + """
CREATE TABLE IF NOT EXISTS sweep_cells (
    sweep       TEXT    NOT NULL,
    cell_key    TEXT    NOT NULL,
    position    INTEGER NOT NULL,
    config_json TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    run_id      INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (sweep, cell_key)
);
"""

CELL_STATUSES: tuple[str, ...] = ("pending", "done", "failed")
"""Allowed values of ``sweep_cells.status``: not yet stored, stored (any run status), given up after retries."""

_CHUNK = 500  # ids bound per query (SQLite limits the number of parameters)

_RUN_COLUMNS = (
    "id", "created_at", "solver", "pair", "dim", "seed", "steps_requested", "steps_done", "batch_size",
    "eval_every", "status", "error", "wall_time_s", "train_time_s", "steps_per_s", "config_json", "versions_json",
)
_V2_RUN_COLUMNS = _RUN_COLUMNS
"""The columns of the version-2 runs table, copied when a file is upgraded (``owner`` and ``heartbeat_at`` start
empty)."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())


def _parse_time(text: str | None) -> datetime | None:
    """A stored time (local time, as :func:`_now` writes it) as an aware datetime; ``None`` if unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).astimezone(timezone.utc)
    except ValueError:
        return None
