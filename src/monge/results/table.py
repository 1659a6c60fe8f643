"""The one table model of stored runs, and the tables monge shows.

A :class:`Table` is columns and rows of cells; each cell keeps its raw ``value`` (what CSV and JSON write) and its
display ``text`` (what rich, HTML and Markdown show), formatted by the metric catalogue
(:mod:`monge.metrics.registry`). :mod:`monge.results.render` turns any table into each output, so the terminal,
the HTML report and the exports cannot disagree.

Builders:

- :func:`run_table`: the leaderboard of W2 (map) or W1 (critic) runs: final and best value of each metric of
  that kind that any row has, the papers' number beside ours where they have one (its source cited);
- :func:`leaderboard_tables`: one :func:`run_table` per kind present;
- :func:`group_table`: mean ± standard deviation over seeds of every solver × pair;
- :func:`records_table`: one flat record per run with every ``final_<metric>``, ``best_<metric>`` (scores
  only, by each metric's direction) and published column (``monge results --format csv/json``).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from monge.errors import UnknownNameError
from monge.metrics.registry import METRICS, metric_info
from monge.results.rows import (RunSummary, garbage_flag, is_baseline, is_w1_row, published_source, published_value,
                                row_dict, status_of, stored_pair_version)

KIND_METRICS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "w2": (("l2_uvp_fwd", ("final", "best", "published")), ("l2_uvp_inv", ("final", "best")),
           ("cos_fwd", ("final",)), ("w2_ratio", ("final",))),
    "w1": (("cos_grad", ("final", "best", "published")), ("w1_dev", ("final", "published")), ("l2_grad", ("final",))),
}
"""The metric columns of each kind's leaderboard: metric → which of its values (final, best, published)."""

RUN_FIELDS = ("run_id", "created_at", "solver", "label", "pair", "pair_version", "dim", "seed", "status", "error",
              "steps_requested", "steps_done", "batch_size", "eval_every", "wall_time_s", "train_time_s", "steps_per_s",
              "sweep", "flag")
"""The leading columns of :func:`records_table`, in order; metric columns follow, sorted by name, then the
published columns of the catalogue."""

PUBLISHED_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(i.published for i in METRICS.values() if i.published))
"""The last columns of :func:`records_table`: the papers' numbers for the row's solver and pair (or empty)."""


@dataclass(frozen=True)
class Column:
    """A column: its ``key`` (the record key of CSV and JSON), display ``header``, whether it holds numbers
    (right-aligned) and whether it holds the papers' numbers (shown apart)."""

    key: str
    header: str
    numeric: bool = False
    published: bool = False


@dataclass(frozen=True)
class Cell:
    """A cell: the raw ``value`` and the display ``text``; ``status`` names a run status for styling."""

    value: Any
    text: str
    status: str | None = None


@dataclass
class Table:
    """A titled table: ``columns``, ``rows`` (tuples of cells, one per column), which rows are ``baselines``
    (shown muted), a ``caption`` and the ``sources`` of its published columns."""

    title: str | None
    columns: list[Column]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    baselines: list[bool] = field(default_factory=list)
    caption: str = ""
    sources: list[str] = field(default_factory=list)

    def add_row(self, cells: Sequence[Cell], *, baseline: bool = False) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"row has {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(tuple(cells))
        self.baselines.append(baseline)

    def records(self) -> list[dict[str, Any]]:
        """One dict per row, column key → raw value."""
        return [{c.key: cell.value for c, cell in zip(self.columns, row)} for row in self.rows]


def _text(value: Any, fmt: str = ".3g") -> str:
    if value is None or isinstance(value, bool):
        return "—" if value is None else str(value)
    if isinstance(value, float):
        return format(value, fmt) if math.isfinite(value) else "—"
    return str(value)


def format_number(value: Any) -> str:
    """A number for a table cell: 3 significant digits, ``—`` for a missing or non-finite value; a published
    bound given as text (``"<1"``, ``">50"``) is shown as it is."""
    if isinstance(value, str) and value[:1] in "<>" and value[1:].strip().replace(".", "", 1).isdigit():
        return value
    try:
        return _text(float(value)) if value is not None and not isinstance(value, bool) else "—"
    except (TypeError, ValueError):
        return "—"


def _metric_cell(metric: str, value: Any) -> Cell:
    info = METRICS.get(metric)
    if info is None or isinstance(value, str):  # a published bound ("<1") is text, shown as it is
        return Cell(value, format_number(value))
    return Cell(value, info.format(value))


def _check_kind(kind: str) -> str:
    if kind not in KIND_METRICS:
        raise UnknownNameError("table kind", str(kind), sorted(KIND_METRICS))
    return kind


def _has(rows: Sequence[Mapping[str, Any]], metric: str) -> bool:
    return any(metric in r["final"] or metric in r["best"] for r in rows)


_LEAD = (Column("run_id", "#", True), Column("solver", "solver"), Column("pair", "pair"), Column("seed", "seed", True),
         Column("status", "status"), Column("steps", "steps", True))
_SPEED = (Column("wall_time_s", "wall", True), Column("steps_per_s", "steps/s", True))


def _lead_cells(r: Mapping[str, Any]) -> list[Cell]:
    # runs planned by a time budget (and baselines) have no requested step count: their steps done stand alone
    steps = f"{r.get('steps_done', 0)}/{r['steps_requested']}" if r.get("steps_requested") else f"{r.get('steps_done', 0)}"
    return [Cell(r.get("run_id"), _text(r.get("run_id"))), Cell(r.get("solver"), _text(r.get("solver"))),
            Cell(r.get("pair"), _text(r.get("pair"))), Cell(r.get("seed"), _text(r.get("seed"))),
            Cell(status_of(r), status_of(r), str(r.get("status", ""))), Cell(steps, steps)]


def _speed_cells(r: Mapping[str, Any]) -> list[Cell]:
    wall, speed = r.get("wall_time_s"), r.get("steps_per_s")
    return [Cell(wall, "—" if wall is None else f"{wall:.1f} s"), Cell(speed, "—" if speed is None else f"{speed:.1f}")]


def _caption(metrics: Iterable[str]) -> str:
    parts = []
    for name in metrics:
        info = metric_info(name)
        better = {"lower": ", lower is better", "higher": ", higher is better"}.get(info.direction, "")
        parts.append(f"{info.header}: {info.description}{better}")
    return "; ".join(parts)


def run_table(rows: Iterable[RunSummary | Mapping[str, Any]], kind: str = "w2", *,
              title: str | None = "monge leaderboard") -> Table:
    """The leaderboard of ``kind`` (``"w2"`` maps or ``"w1"`` critics) runs; see the module docstring.

    Each metric of :data:`KIND_METRICS` that any row has gets its columns (W2 runs with no metric yet show the
    L2-UVP ones); a published column appears when the papers have a number for any row, with its source."""
    rows, kind = [row_dict(r) for r in rows], _check_kind(kind)
    if kind == "w2":  # the L2-UVP group unless only W2 ratios were evaluated (pairs without ground truth)
        ratio = _has(rows, "w2_ratio")
        l2 = _has(rows, "l2_uvp_fwd") or not ratio
        shown = [(m, w) for m, w in KIND_METRICS["w2"] if (ratio if m == "w2_ratio" else l2)]
    else:
        shown = [(m, w) for m, w in KIND_METRICS[kind] if _has(rows, m)] or list(KIND_METRICS[kind])
    columns, plan = list(_LEAD), []
    sources: list[str] = []
    for metric, which in shown:
        info = metric_info(metric)
        for part in which:
            if part == "published":
                values = [published_value(info.published or "", str(r.get("solver", "")), str(r.get("pair", "")))
                          for r in rows]
                if all(v is None for v in values):
                    continue
                columns.append(Column(str(info.published), f"published {info.header}", True, True))
                sources += [published_source(str(info.published), str(r.get("pair", "")))
                            for r, v in zip(rows, values) if v is not None]
                plan.append((metric, part, values))
            else:
                columns.append(Column(f"{part}_{metric}", f"{info.header} {part}", True))
                plan.append((metric, part, None))
    columns += _SPEED
    caption = _caption(m for m, _ in shown)
    table = Table(title, columns, caption=caption + ("." if caption else "") + (
        " Grey rows are baselines." if any(is_baseline(r) for r in rows) else ""),
        sources=[f"published: {source}" for source in dict.fromkeys(sources)])
    for i, r in enumerate(rows):
        cells = _lead_cells(r)
        for metric, part, values in plan:
            cells.append(_metric_cell(metric, values[i] if values is not None else r[part].get(metric)))
        table.add_row(cells + _speed_cells(r), baseline=is_baseline(r))
    return table


def leaderboard_tables(rows: Iterable[RunSummary | Mapping[str, Any]], *,
                       title: str = "monge leaderboard") -> list[Table]:
    """A W2 :func:`run_table` and a W1 one (only those that have rows; the W2 one when there are none)."""
    rows = [row_dict(item) for item in rows]
    w1 = [r for r in rows if is_w1_row(r)]
    w2 = [r for r in rows if not is_w1_row(r)]
    out = []
    if w2 or not w1:
        out.append(run_table(w2, "w2", title=title if not w1 else f"{title}: W2 maps"))
    if w1:
        out.append(run_table(w1, "w1", title=title if not w2 else f"{title}: W1 critics"))
    return out


def _mean_std(values: Sequence[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return format_number(values[0])
    return f"{format_number(statistics.fmean(values))} ± {format_number(statistics.stdev(values))}"


def group_table(rows: Iterable[RunSummary | Mapping[str, Any]], kind: str = "w2", *,
                title: str | None = None) -> Table:
    """Mean ± sample standard deviation of each final metric of ``kind`` over the runs of every solver × pair
    (one run per seed); ``n seeds`` counts the distinct seeds. Values: ``{"mean", "std", "n"}`` dicts."""
    rows, kind = [row_dict(r) for r in rows], _check_kind(kind)
    metrics = [m for m, _ in KIND_METRICS[kind] if _has(rows, m)]
    columns = [Column("solver", "solver"), Column("pair", "pair"), Column("n_seeds", "n seeds", True)]
    columns += [Column(m, f"{metric_info(m).header} (mean ± std)", True) for m in metrics]
    table = Table(title, columns)
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault((str(r.get("solver", "")), str(r.get("pair", ""))), []).append(r)
    for (solver, pair), members in groups.items():
        seeds = len({m.get("seed") for m in members})
        cells = [Cell(solver, solver), Cell(pair, pair), Cell(seeds, str(seeds))]
        for metric in metrics:
            values = [float(v) for m in members if (v := m["final"].get(metric)) is not None and math.isfinite(float(v))]
            stats = {"mean": statistics.fmean(values) if values else None,
                     "std": statistics.stdev(values) if len(values) > 1 else None, "n": len(values)}
            cells.append(Cell(stats, _mean_std(values)))
        table.add_row(cells, baseline=solver.startswith("baseline:"))
    return table


def records_table(rows: Iterable[Mapping[str, Any]]) -> Table:
    """One flat record per stored run: :data:`RUN_FIELDS`, then ``final_<metric>`` for every metric any row has and
    ``best_<metric>`` for those of them that are scores (declared ``"lower"`` or ``"higher"``: the best value over
    the run in that direction; reference quantities such as ``cost_true`` have no ``best_`` column), then the
    papers' numbers (:data:`PUBLISHED_FIELDS`). ``pair_version`` is the pair family's construction the run was
    made with (:func:`~monge.results.rows.stored_pair_version`); ``flag`` says why a map is garbage. Missing
    values are ``None``, so the records load as one table."""
    rows = [dict(r) for r in rows]
    metrics = sorted({m for r in rows for part in ("final", "best") for m in (r.get(part) or {})})
    scored = [m for m in metrics if m in METRICS and METRICS[m].direction != "none"]
    keys = [*RUN_FIELDS, *(f"final_{m}" for m in metrics), *(f"best_{m}" for m in scored), *PUBLISHED_FIELDS]
    table = Table(None, [Column(k, k, k not in ("created_at", "solver", "label", "pair", "status", "error", "sweep",
                                                "flag")) for k in keys])
    for r in rows:
        config = r.get("config") or {}
        record: dict[str, Any] = {name: r.get(name) for name in RUN_FIELDS}
        record.update(run_id=r.get("run_id", r.get("id")), label=config.get("label") or r.get("solver"),
                      sweep=config.get("sweep"), pair_version=stored_pair_version(r),
                      flag=garbage_flag(r.get("final") or {}) if r.get("status") in ("finished", "stopped") else None)
        for part, names in (("final", metrics), ("best", scored)):
            record.update({f"{part}_{m}": (r.get(part) or {}).get(m) for m in names})
        solver, pair = str(r.get("solver", "")), str(r.get("pair", ""))
        record.update({column: published_value(column, solver, pair) for column in PUBLISHED_FIELDS})
        table.add_row([Cell(record[k], _text(record[k])) for k in keys], baseline=is_baseline(r))
    return table


def run_records(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """:func:`records_table`'s records: one flat dict per stored run."""
    return records_table(rows).records()


__all__ = ["Cell", "Column", "KIND_METRICS", "PUBLISHED_FIELDS", "RUN_FIELDS", "Table", "format_number",
           "group_table", "leaderboard_tables", "records_table", "run_records", "run_table"]
