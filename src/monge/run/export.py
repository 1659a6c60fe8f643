"""Stored runs in other formats: flat records (CSV, JSON) and Markdown tables (``monge results --format``).

:func:`run_records` flattens :meth:`~monge.run.store.ResultStore.leaderboard` rows into one dict per run with
``final_<metric>`` / ``best_<metric>`` columns and the published numbers beside them, for pandas, spreadsheets
and papers. :func:`markdown_table` renders any leaderboard :class:`rich.table.Table` as a GitHub Markdown table.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Iterable, Mapping

RUN_FIELDS = ("run_id", "created_at", "solver", "label", "pair", "pair_version", "dim", "seed", "status", "error",
              "steps_requested", "steps_done", "batch_size", "eval_every", "wall_time_s", "train_time_s", "steps_per_s",
              "sweep", "flag")
"""The leading columns of :func:`run_records`, in order; metric columns follow, sorted by name, then
:data:`PUBLISHED_FIELDS`."""

PUBLISHED_FIELDS = ("published_l2_uvp_fwd", "published_cos_grad", "published_w1_dev")
"""The last columns of :func:`run_records`: the papers' numbers for the row's solver and pair (or empty)."""

FORMATS = ("table", "markdown", "csv", "json")
"""Output formats of ``monge results --format``."""


def run_records(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One flat dict per leaderboard row: :data:`RUN_FIELDS`, then ``final_<metric>`` for every metric any row
    has and ``best_<metric>`` for those of them that are scores (declared ``"lower"`` or ``"higher"`` in
    :mod:`monge.metrics.registry`: the best value over the run in that direction; reference quantities such as
    ``cost_true`` have no ``best_`` column), then the published numbers of the row's solver on its pair where the
    papers have them (``published_l2_uvp_fwd`` for the W2 benchmark, ``published_cos_grad`` / ``published_w1_dev``
    for the W1 benchmark). ``pair_version`` is the version of the pair family's construction the run was made
    with (:func:`monge.run.runner.stored_pair_version`: 1 for runs stored before monge recorded it, ``None`` for
    rows written by hand without a run config). Every dict has the same keys (missing values are
    ``None``), so the records load as one table.
    """
    from monge.metrics.registry import METRICS
    from monge.pairs.w1published import published_w1
    from monge.run.runner import garbage_flag, stored_pair_version
    from monge.pairs.w2bench import published_l2_uvp

    rows = [dict(r) for r in rows]
    metrics = sorted({m for r in rows for part in ("final", "best") for m in (r.get(part) or {})})
    scored = [m for m in metrics if m in METRICS and METRICS[m].direction != "none"]
    records = []
    for r in rows:
        config = r.get("config") or {}
        record: dict[str, Any] = {name: r.get(name) for name in RUN_FIELDS}
        record["run_id"] = r.get("run_id", r.get("id"))
        record["label"] = config.get("label") or r.get("solver")
        record["sweep"] = config.get("sweep")
        record["pair_version"] = stored_pair_version(r)
        record["flag"] = garbage_flag(r.get("final") or {}) if r.get("status") in ("finished", "stopped") else None
        for part, names in (("final", metrics), ("best", scored)):
            values = r.get(part) or {}
            record.update({f"{part}_{m}": values.get(m) for m in names})
        solver, pair = str(r.get("solver", "")), str(r.get("pair", ""))
        w1 = published_w1(solver, pair)
        record["published_l2_uvp_fwd"] = published_l2_uvp(solver, pair)
        record["published_cos_grad"] = None if w1 is None else w1.get("cos")
        record["published_w1_dev"] = None if w1 is None else w1.get("w1_dev")
        records.append(record)
    return records


def records_csv(records: list[Mapping[str, Any]]) -> str:
    """:func:`run_records` as CSV text with a header row (empty cells for missing values)."""
    out = io.StringIO()
    fields = list(records[0]) if records else [*RUN_FIELDS, *PUBLISHED_FIELDS]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in rec.items()} for rec in records)
    return out.getvalue()


def records_json(records: list[Mapping[str, Any]]) -> str:
    """:func:`run_records` as a JSON array (non-finite numbers as ``null``)."""
    def clean(value: Any) -> Any:
        return None if isinstance(value, float) and not math.isfinite(value) else value

    return json.dumps([{k: clean(v) for k, v in rec.items()} for rec in records], indent=2, default=str)


def markdown_table(table: Any) -> str:
    """A :class:`rich.table.Table` as a GitHub Markdown table: title as a bold line, rich markup removed, ``|``
    escaped, right-aligned columns marked ``---:``, the caption below."""
    from rich.text import Text

    def plain(cell: Any) -> str:
        text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
        return text.replace("|", "\\|").replace("\n", " ")

    columns = list(table.columns)
    cells = [list(c.cells) for c in columns]
    lines = []
    if table.title:
        lines += [f"**{plain(table.title)}**", ""]
    lines.append("| " + " | ".join(plain(c.header) for c in columns) + " |")
    lines.append("|" + "|".join("---:" if c.justify == "right" else "---" for c in columns) + "|")
    for i in range(table.row_count):
        lines.append("| " + " | ".join(plain(column[i]) for column in cells) + " |")
    if table.caption:
        lines += ["", *(plain(part) for part in str(table.caption).splitlines())]
    return "\n".join(lines) + "\n"


__all__ = ["FORMATS", "PUBLISHED_FIELDS", "RUN_FIELDS", "markdown_table", "records_csv", "records_json", "run_records"]
