"""The sweep-cell half of the results database: one row per cell of a sweep (``monge sweep``), what it ran and
how it ended. :class:`SweepCells` is a base of :class:`~monge.results.store.ResultStore`, which gives it ``_tx``,
``_query``, ``_insert_run`` and ``path``."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from monge.errors import InvalidInputError, StoreError
from monge.results._schema import CELL_STATUSES, _now


def config_columns(config: Mapping[str, Any] | None, versions: Mapping[str, Any] | None) -> tuple[str, str]:
    """A run's ``config_json`` and ``versions_json`` columns; :class:`InvalidInputError` if not serialisable."""
    try:
        return (json.dumps(dict(config or {}), sort_keys=True, default=str),
                json.dumps(dict(versions or {}), sort_keys=True, default=str))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"run config is not JSON-serialisable: {exc}") from exc


class SweepCells:
    """Sweep cells: register, rekey, list and record them (see :class:`~monge.results.store.ResultStore`)."""

    path: Any

    def register_cells(self, sweep: str, cells: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Add the cells ``(cell_key, config)`` of sweep ``sweep`` that are not stored yet, as ``pending``
        (cells already present keep their status, run and attempts)."""
        rows = []
        for position, (key, config) in enumerate(cells):
            rows.append((str(sweep), str(key), position, json.dumps(dict(config), sort_keys=True, default=str), _now()))
        with self._tx() as conn:
            conn.executemany("INSERT OR IGNORE INTO sweep_cells (sweep, cell_key, position, config_json, updated_at)"
                             " VALUES (?, ?, ?, ?, ?)", rows)

    def rekey_cells(self, sweep: str, keys: Mapping[str, str]) -> dict[str, str]:
        """Give cells of sweep ``sweep`` new keys (``{old: new}``) in one transaction, and the ``cell_key`` in
        their runs' configs with them; returns the renames done. A cell whose new key is already taken keeps
        its old key."""
        done: dict[str, str] = {}
        with self._tx() as conn:
            for old, new in keys.items():
                row = conn.execute("SELECT run_id FROM sweep_cells WHERE sweep = ? AND cell_key = ?",
                                   (str(sweep), str(old))).fetchone()
                taken = conn.execute("SELECT 1 FROM sweep_cells WHERE sweep = ? AND cell_key = ?",
                                     (str(sweep), str(new))).fetchone()
                if row is None or taken is not None or old == new:
                    continue
                conn.execute("UPDATE sweep_cells SET cell_key = ? WHERE sweep = ? AND cell_key = ?",
                             (str(new), str(sweep), str(old)))
                if row["run_id"] is not None:
                    run = conn.execute("SELECT config_json FROM runs WHERE id = ?", (int(row["run_id"]),)).fetchone()
                    config = json.loads(run["config_json"] or "{}") if run is not None else {}
                    if config.get("cell_key") == old:
                        config["cell_key"] = str(new)
                        conn.execute("UPDATE runs SET config_json = ? WHERE id = ?",
                                     (config_columns(config, None)[0], int(row["run_id"])))
                done[str(old)] = str(new)
        return done

    def cells(self, sweep: str) -> list[dict[str, Any]]:
        """The cells of sweep ``sweep`` in their order: dicts with ``cell_key``, ``position``, ``config``,
        ``status`` (pending, done, failed), ``run_id``, ``attempts`` and ``error``."""
        rows = self._query("SELECT * FROM sweep_cells WHERE sweep = ? ORDER BY position", (str(sweep),))
        out = []
        for row in rows:
            cell = {k: row[k] for k in ("sweep", "cell_key", "position", "status", "run_id", "attempts", "error",
                                        "updated_at")}
            cell["config"] = json.loads(row["config_json"] or "{}")
            out.append(cell)
        return out

    def sweeps(self) -> list[str]:
        """Names of the sweeps stored in this database."""
        return [r[0] for r in self._query("SELECT DISTINCT sweep FROM sweep_cells ORDER BY sweep")]

    def record_cell(self, sweep: str, cell_key: str, record: Mapping[str, Any] | None, *, status: str = "done",
                    error: str | None = None, attempts: int | None = None) -> int | None:
        """Store the outcome of one sweep cell in one transaction and return its run id.

        With a ``record`` (see :meth:`record_run`) the run is inserted and the cell points to it; a run the
        cell pointed to before (a failed earlier attempt) is deleted in the same transaction, so a cell never
        has two runs. ``status`` is the cell's new status: ``done``, ``failed`` (given up), or ``pending``
        (``record`` must then be ``None``: only ``attempts``/``error`` change, for a retry to come).
        """
        if status not in CELL_STATUSES:
            raise InvalidInputError(f"cell status must be one of {', '.join(CELL_STATUSES)}; got {status!r}")
        with self._tx() as conn:
            row = conn.execute("SELECT run_id, attempts FROM sweep_cells WHERE sweep = ? AND cell_key = ?",
                               (str(sweep), str(cell_key))).fetchone()
            if row is None:
                raise StoreError(f"results database {self.path}: sweep {sweep!r} has no cell {cell_key!r}")
            run_id = row["run_id"]
            if record is not None:
                if run_id is not None:
                    conn.execute("DELETE FROM runs WHERE id = ?", (int(run_id),))
                run_id = self._insert_run(conn, record)
            conn.execute(
                "UPDATE sweep_cells SET status = ?, run_id = ?, attempts = ?, error = ?, updated_at = ?"
                " WHERE sweep = ? AND cell_key = ?",
                (status, run_id, int(row["attempts"] if attempts is None else attempts), error, _now(),
                 str(sweep), str(cell_key)))
            return None if run_id is None else int(run_id)
