"""A self-contained HTML report of a results database (``monge report``).

:func:`write_report` reads a :class:`~monge.results.store.ResultStore` and writes one HTML file that needs nothing
else to display: the CSS is inline, every figure is a PNG embedded as a base64 ``data:`` URI, and the page
loads no script, font or stylesheet from anywhere. The page is a Jinja2 template (``report/templates``) with
autoescaping, and its tables are :mod:`monge.results` tables, so they match ``monge results`` column for column.

Sections:

1. header: title, database path, generation time, number of runs per status;
2. leaderboards per pair family (the part of the pair name before the first ``:``), W2 (map) and W1 (critic)
   runs in separate tables (:func:`monge.results.run_table`), the published number beside ours where the
   benchmark papers have one (source cited under the table), baseline rows greyed, and a table of mean ± std
   over seeds per solver × pair (:func:`monge.results.group_table`);
3. sweeps: each sweep's cells with their run, status, attempts and last error;
4. convergence curves, one figure per pair (:func:`monge.plot.plot_convergence`, the figure ``monge bench --out``
   writes too): runs as lines, the pair's baselines as labelled horizontal lines, error metrics on a log axis;
5. 2-D maps (:func:`monge.plot.plot_map_2d`) or critics (:func:`monge.plot.plot_critic_2d`) of runs on 2-D pairs
   whose stored config has ``"result_dir"``, a folder written by ``W2Result.save`` / ``W1Result.save``;
   a missing or unreadable folder gives a note instead of a figure (``monge bench --keep-results DIR`` saves and
   records these folders);
6. every run's configuration and versions in a ``<details>`` element;
7. the distinct version sets stored with the runs and the versions of the machine writing the report.

Example::

    from monge.report import write_report
    from monge.results import ResultStore

    with ResultStore("monge-results.sqlite", create=False) as store:
        write_report(store, "report.html", title="nightly sweep")
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch

from monge._version import environment_versions
from monge.errors import InvalidInputError, MongeError, StoreError
from monge.pairs import current_pair_version
from monge.results.rows import is_baseline, is_w1_row, pair_family, row_dict, stored_pair_version
from monge.results.render import to_html
from monge.results.store import STATUSES, ResultStore
from monge.results.table import Cell, Column, Table, group_table, run_table
from monge.solvers import load_result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
"""The first bytes of every PNG file."""

MAP_POINTS = 512
"""Source and target samples drawn for each 2-D map or critic figure."""

_MAP_SEED_OFFSET = 0x2E90_47
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


load_saved_result = load_result
"""A saved result folder, whichever kind (:func:`monge.solvers.load_result`)."""


def _id_ranges(ids: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` → ``"1–3, 7"``."""
    parts: list[str] = []
    for i in sorted({int(i) for i in ids}):
        start, _, end = parts[-1].partition("–") if parts else ("", "", "")
        if parts and int(end or start) == i - 1:
            parts[-1] = f"{start}–{i}"
        else:
            parts.append(str(i))
    return ", ".join(parts)


def _natural(text: str) -> tuple:
    """Sort key that orders numbers inside names by value: ``w2b-mix:8`` before ``w2b-mix:32``."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part)


def _sort_key(row: Mapping[str, Any]) -> tuple:
    return (_natural(str(row.get("pair", ""))), is_baseline(row), str(row.get("solver", "")), int(row.get("seed") or 0),
            int(row.get("run_id") or 0))


def _png(path: Path) -> str:
    data = path.read_bytes()
    if not data.startswith(PNG_MAGIC):
        raise InvalidInputError(f"figure {path} is not a PNG file")
    return base64.b64encode(data).decode("ascii")


def _html(table: Table, css_class: str) -> Any:
    from markupsafe import Markup

    return Markup(to_html(table, css_class=css_class))  # noqa: S704 - rendered by an autoescaping template


def _plain_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], css_class: str, *,
                 status: int | None = None, muted: Iterable[bool] = ()) -> Any:
    """A small table of plain cells; column ``status`` (if given) holds statuses."""
    table = Table(None, [Column(h, h) for h in headers])
    muted = list(muted)
    for index, row in enumerate(rows):
        table.add_row([Cell(v, "" if v is None else str(v), str(v) if i == status else None) for i, v in enumerate(row)],
                      baseline=index < len(muted) and muted[index])
    return _html(table, css_class)


# ---------------------------------------------------------------------------- sections
def _families(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    families: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        families.setdefault(pair_family(str(row.get("pair", ""))), []).append(row)
    out = []
    for family in sorted(families):
        members = sorted(families[family], key=_sort_key)
        kinds = []
        for name, kind in (("W2 maps", "w2"), ("W1 critics", "w1")):
            chosen = [r for r in members if is_w1_row(r) == (kind == "w1")]
            if chosen:
                kinds.append({"name": name, "count": len(chosen),
                              "runs": _html(run_table(chosen, kind, title=None), f"leaderboard {kind}"),
                              "groups": _html(group_table(chosen, kind), "groups")})
        out.append({"name": family, "kinds": kinds})
    return out


def _sweeps(store: ResultStore, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    shown = {int(r["run_id"]) for r in rows}
    out = []
    for name in store.sweeps():
        cells = store.cells(name)
        counts = Counter(c["status"] for c in cells)
        summary = f"{len(cells)} cells: " + ", ".join(f"{counts[s]} {s}" for s in ("done", "pending", "failed")
                                                      if counts.get(s))
        body = [(c["cell_key"], c["run_id"], c["config"].get("label") or c["config"].get("solver", ""),
                 c["config"].get("pair", ""), c["config"].get("seed", ""), c["status"], c["attempts"],
                 (c["error"] or "").strip().splitlines()[0] if c["error"] else "") for c in cells]
        table = _plain_table(("cell", "run", "solver", "pair", "seed", "cell status", "attempts", "last error"), body,
                             "cells", status=5, muted=[c["run_id"] is not None and c["run_id"] not in shown
                                                      for c in cells])
        out.append({"name": name, "summary": summary, "table": table})
    return out


def _convergence(store: ResultStore, rows: Sequence[Mapping[str, Any]], folder: Path) -> list[dict[str, Any]]:
    from monge.plot import plot_convergence

    by_pair: dict[str, list[int]] = {}
    seeds: dict[str, set[int]] = {}
    ordered = sorted(rows, key=lambda r: int(r["run_id"]))
    for row in ordered:
        if not is_baseline(row):
            by_pair.setdefault(str(row["pair"]), []).append(int(row["run_id"]))
            seeds.setdefault(str(row["pair"]), set()).add(int(row.get("seed") or 0))
    lines: dict[str, list[int]] = {}  # the baselines of each pair and seed with trained runs: horizontal lines
    for row in ordered:
        pair = str(row["pair"])
        if is_baseline(row) and pair in by_pair and int(row.get("seed") or 0) in seeds[pair]:
            lines.setdefault(pair, []).append(int(row["run_id"]))
    out = []
    for index, pair in enumerate(sorted(by_pair, key=_natural)):
        ids = by_pair[pair]
        png = plot_convergence(store, ids + lines.get(pair, []), folder / f"convergence_{index}.png")
        caption = f"{pair}: runs {_id_ranges(ids)}" + (f"; baselines {_id_ranges(lines[pair])}" if lines.get(pair) else "")
        out.append({"png": _png(png), "label": f"convergence on {pair}", "caption": caption, "note": None})
    return out


def _resolve_result_dir(value: Any, db_path: Path) -> Path:
    path = Path(str(value)).expanduser()
    if not path.is_absolute() and not path.exists() and str(db_path) != ":memory:":
        beside_db = db_path.parent / path
        if beside_db.exists():
            return beside_db
    return path


def _map_figure(row: Mapping[str, Any], result_dir: Path, png: Path) -> Path:
    from monge.pairs import make_pair
    from monge.plot import plot_result_2d

    config = row.get("config") or {}
    result = load_result(result_dir)
    if "pair" not in config:
        raise InvalidInputError("stored config has no 'pair'")
    current = current_pair_version(config["pair"])
    if current is not None and stored_pair_version(row) not in (None, current):
        raise InvalidInputError(f"the run was made on version {stored_pair_version(row)} of pair {config['pair']!r} "
                                f"and this monge builds version {current}, so its samples cannot be redrawn")
    seed = int(config.get("seed", row.get("seed", 0)))
    dtype = _DTYPES.get(str(config.get("dtype", "float32")), torch.float32)
    pair = make_pair(config["pair"], seed=seed, dtype=dtype, root=config.get("pair_root"))
    if pair.dim != 2:
        raise InvalidInputError(f"pair {config['pair']!r} is {pair.dim}-D, not 2-D")
    generator = torch.Generator().manual_seed((seed + _MAP_SEED_OFFSET) % (2**63))
    title = f"run {row['run_id']}: {row['solver']} on {row['pair']} ({row['status']}, {row['steps_done']} steps)"
    return plot_result_2d(result, pair, png, title=title, n=MAP_POINTS, generator=generator)


def _maps(rows: Sequence[Mapping[str, Any]], folder: Path, db_path: Path) -> list[dict[str, Any]]:
    out = []
    for row in sorted(rows, key=lambda r: int(r["run_id"])):
        if int(row.get("dim") or 0) != 2 or not (row.get("config") or {}).get("result_dir"):
            continue
        label = f"run {row['run_id']}: {row['solver']} on {row['pair']} (seed {row['seed']})"
        result_dir = _resolve_result_dir(row["config"]["result_dir"], db_path)
        try:
            png = _map_figure(row, result_dir, folder / f"map_{row['run_id']}.png")
        except (MongeError, OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            out.append({"label": label, "where": str(result_dir),
                        "note": " ".join(str(exc).split()) or type(exc).__name__})
            continue
        out.append({"png": _png(png), "label": label, "caption": f"{label}, from {result_dir}", "note": None})
    return out


def _configs(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in sorted(rows, key=lambda r: int(r["run_id"])):
        body = {"config": row.get("config") or {}, "versions": row.get("versions") or {},
                **({"error": row["error"]} if row.get("error") else {})}
        out.append({"id": int(row["run_id"]),
                    "summary": f"run {row['run_id']}: {row['solver']} on {row['pair']}, seed {row['seed']}, "
                               f"{row['status']}, created {row.get('created_at', '')}",
                    "text": json.dumps(body, indent=2, sort_keys=True, default=str, ensure_ascii=False)})
    return out


def _version_sets(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    sets: dict[str, list[int]] = {}
    for row in rows:
        sets.setdefault(json.dumps(row.get("versions") or {}, sort_keys=True, default=str), []).append(int(row["run_id"]))
    return [{"runs": _id_ranges(ids),
             "table": _plain_table(("package", "version"), sorted(json.loads(key).items()), "versions")
             if json.loads(key) else None}
            for key, ids in sorted(sets.items(), key=lambda kv: min(kv[1]))]


def _counts(rows: Sequence[Mapping[str, Any]]) -> Any:
    counts = Counter(str(r.get("status", "")) for r in rows)
    ordered = [s for s in STATUSES if counts.get(s)] + sorted(s for s in counts if s not in STATUSES)
    return _plain_table(("status", "runs"), [*((s, counts[s]) for s in ordered), ("total", len(rows))], "counts",
                        status=0)


# ---------------------------------------------------------------------------- the page
def render_report(store: ResultStore, *, title: str | None = None, run_ids: Iterable[int] | None = None,
                  figure_folder: str | Path | None = None) -> str:
    """The report's HTML text (see :func:`write_report`). Figures are rendered into ``figure_folder`` (default: a
    temporary folder, removed afterwards) and embedded as base64 PNG data URIs."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    selected: list[int] | None = None
    if run_ids is not None:
        try:
            selected = sorted({int(i) for i in run_ids})
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"run ids must be integers, got {run_ids!r}") from exc
    rows = store.leaderboard(selected) if selected is not None else store.leaderboard()
    if selected is not None:
        missing = sorted(set(selected) - {int(r["run_id"]) for r in rows})
        if missing:
            raise StoreError(f"results database {store.path}: no run with id {', '.join(map(str, missing))}")
    rows = [row_dict(row) for row in rows]  # older pair constructions are labelled apart ("gaussian:2 (v1)")
    context: dict[str, Any] = {
        "title": title or f"monge report: {store.path.name}", "db_path": str(store.path),
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "selected": None if selected is None else _id_ranges(selected), "counts": _counts(rows),
        "families": _families(rows) if rows else [], "version_sets": _version_sets(rows),
        "machine": _plain_table(("package", "version"), sorted(environment_versions().items()), "versions"),
        "sweeps": [], "convergence": [], "maps": [], "configs": []}
    if rows:
        context.update(sweeps=_sweeps(store, rows), configs=_configs(rows))
        with tempfile.TemporaryDirectory(prefix="monge-report-") as tmp:
            folder = Path(figure_folder) if figure_folder is not None else Path(tmp)
            context.update(convergence=_convergence(store, rows, folder), maps=_maps(rows, folder, store.path))
    environment = Environment(loader=PackageLoader("monge.report", "templates"), autoescape=True,
                              undefined=StrictUndefined)
    return environment.get_template("report.html.j2").render(**context)


def write_report(store: ResultStore | str | Path, out_path: str | Path, *, title: str | None = None,
                 run_ids: Iterable[int] | None = None) -> Path:
    """Write a self-contained HTML report of ``store`` (a :class:`ResultStore`, or the path of a database, which
    must exist) to ``out_path`` and return that path.

    ``run_ids`` limits the report to those runs (:class:`StoreError` if one is not stored); ``title`` defaults to
    ``"monge report: <database file name>"``. The output folder is created; the file is written to a temporary
    file beside it and renamed, so a failed write never leaves a half-written report.

    Raises:
        StoreError: a missing or unreadable database, or an unknown run id.
        InvalidInputError: ``out_path`` is a folder or cannot be written.
    """
    if not isinstance(store, ResultStore):
        with ResultStore(store, create=False) as opened:
            return write_report(opened, out_path, title=title, run_ids=run_ids)
    out_path = Path(out_path)
    if out_path.is_dir():
        raise InvalidInputError(f"report path {out_path} is a folder; give a file name such as {out_path / 'report.html'}")
    text = render_report(store, title=title, run_ids=run_ids)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    except OSError as exc:
        raise InvalidInputError(f"cannot write report {out_path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as tmp_file:
            tmp_file.write(text)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, out_path)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise InvalidInputError(f"cannot write report {out_path}: {exc.strerror or exc}") from exc
    return out_path


__all__ = ["MAP_POINTS", "PNG_MAGIC", "load_saved_result", "render_report", "write_report"]
