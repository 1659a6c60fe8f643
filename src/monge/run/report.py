"""A self-contained HTML report of a results database (``monge report``).

:func:`write_report` reads a :class:`~monge.run.store.ResultStore` and writes one HTML file that needs nothing
else to display: the CSS is inline, every figure is a PNG embedded as a base64 ``data:`` URI, and the page
loads no script, font or stylesheet from anywhere. All text taken from the database is HTML-escaped.

Sections:

1. header: title, database path, generation time, number of runs per status;
2. leaderboards per pair family (the part of the pair name before the first ``:``), W2 (map) and W1 (critic)
   runs in separate tables with the metrics of ``monge results``, the published number beside ours where the
   benchmark papers have one (source cited under the table), baseline rows greyed, and a compact table of
   mean ± std over seeds per solver × pair;
3. convergence curves, one figure per pair (:func:`monge.plot.plot_convergence`, the figure ``monge bench --out``
   writes too): runs as lines, the pair's baselines as labelled horizontal lines, error metrics on a log axis;
4. 2-D maps (:func:`monge.plot.plot_map_2d`) or critics (:func:`monge.plot.plot_critic_2d`) of runs on 2-D pairs
   whose stored config has ``"result_dir"``, a folder written by ``W2Result.save`` / ``W1Result.save``;
   a missing or unreadable folder gives a note instead of a figure (``monge bench --keep-results DIR`` saves and
   records these folders);
5. every run's configuration and versions in a ``<details>`` element;
6. the distinct version sets stored with the runs and the versions of the machine writing the report.

Example::

    from monge.run.report import write_report
    from monge.run.store import ResultStore

    with ResultStore("monge-results.sqlite", create=False) as store:
        write_report(store, "report.html", title="nightly sweep")
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import os
import re
import statistics
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch

from monge.errors import InvalidInputError, MongeError, StoreError
from monge.run.store import STATUSES, ResultStore

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
"""The first bytes of every PNG file."""

MAP_POINTS = 512
"""Source and target samples drawn for each 2-D map or critic figure."""

_MAP_SEED_OFFSET = 0x2E90_47
_DTYPES = {"float32": torch.float32, "float64": torch.float64}

_W2_METRICS: tuple[tuple[str, str], ...] = (
    ("l2_uvp_fwd", "fwd L2-UVP"), ("l2_uvp_inv", "inv L2-UVP"), ("cos_fwd", "cos fwd"), ("w2_ratio", "W2 ratio"),
)
_W1_METRICS: tuple[tuple[str, str], ...] = (("cos_grad", "cos∇"), ("w1_dev", "W1 dev %"), ("l2_grad", "L2∇"))

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 1.5rem auto;
       max-width: 1400px; padding: 0 1rem; color: #1b1f23; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #d0d7de; padding-bottom: 0.2rem; margin-top: 2.2rem; }
h3 { margin-top: 1.6rem; } h4 { margin: 1rem 0 0.3rem; color: #444; }
.meta { color: #57606a; margin: 0.2rem 0; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: 0.4rem 0 0.3rem; font-size: 0.86rem; }
th, td { border: 1px solid #d0d7de; padding: 0.2rem 0.5rem; }
th { background: #f0f3f6; text-align: left; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.pub, th.pub { background: #fff8e1; }
tr.baseline td { color: #8c959f; background: #f6f8fa; font-style: italic; }
.status-finished { color: #1a7f37; } .status-diverged, .status-failed { color: #cf222e; }
.status-stopped, .status-running, .status-pending { color: #9a6700; } .status-done { color: #1a7f37; }
tr.muted td { color: #8c959f; }
p.info { color: #57606a; font-size: 0.85rem; }
p.caption, p.source { font-size: 0.8rem; color: #57606a; margin: 0.1rem 0 0.8rem; max-width: 70rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #d0d7de; }
figcaption { font-size: 0.85rem; color: #57606a; }
p.note { background: #fff1f0; border-left: 4px solid #cf222e; padding: 0.3rem 0.6rem; font-size: 0.85rem; }
p.empty { font-size: 1.1rem; color: #57606a; }
details { margin: 0.25rem 0; } summary { cursor: pointer; }
pre { background: #f6f8fa; padding: 0.5rem; overflow-x: auto; font-size: 0.8rem; }
"""


# ---------------------------------------------------------------------------- small helpers
def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def format_number(value: Any) -> str:
    """A metric for a table cell: 3 significant digits, ``—`` for a missing or non-finite value."""
    if value is None or isinstance(value, bool):
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{number:.3g}" if math.isfinite(number) else "—"


def pair_family(pair: str) -> str:
    """The family of a pair name: the part before the first ``:`` (``"w2b-mix:16"`` → ``"w2b-mix"``)."""
    return str(pair).split(":", 1)[0].strip() or str(pair)


def is_baseline(row: Mapping[str, Any]) -> bool:
    """Whether a stored run is a baseline row (solver ``baseline:*``) rather than a trained solver."""
    return str(row.get("solver", "")).startswith("baseline:")


def published_cell(solver: str, pair: str, metric: str) -> str | None:
    """The published number the report shows beside ours for ``solver`` on ``pair``, formatted, or ``None``.

    ``metric`` is ``"l2_uvp_fwd"`` (the W2 benchmark's forward L2-UVP, :func:`monge.pairs.w2bench.published_l2_uvp`),
    ``"cos_grad"`` or ``"w1_dev"`` (the W1 benchmark's gradient cosine and W1 deviation,
    :func:`monge.pairs.w1published.published_w1`).
    """
    if metric == "l2_uvp_fwd":
        from monge.pairs.w2bench import published_l2_uvp

        value = published_l2_uvp(solver, pair)
        return None if value is None else format_number(value)
    if metric in ("cos_grad", "w1_dev"):
        from monge.pairs.w1published import published_w1

        row = published_w1(solver, pair)
        if row is None:
            return None
        return format_number(row["cos" if metric == "cos_grad" else "w1_dev"])
    raise InvalidInputError(f"no published numbers for metric {metric!r}; expected l2_uvp_fwd, cos_grad or w1_dev")


def _published_source(kind: str) -> str:
    if kind == "w2":
        from monge.pairs.w2bench import published_w2bench_table

        return str(published_w2bench_table()["source"])
    from monge.pairs.w1published import published_w1bench_table

    return str(published_w1bench_table()["source"])


def _is_w1(row: Mapping[str, Any]) -> bool:
    """W1 (critic) run: it has W1 metrics, or (no metrics stored yet) its solver is a registered W1 solver."""
    from monge.run.runner import is_w1_row

    if is_w1_row(row):
        return True
    if row.get("final") or row.get("best"):
        return False
    from monge.solvers import SOLVERS

    name = str((row.get("config") or {}).get("solver") or row.get("solver", "")).strip().lower()
    cls = SOLVERS.get(name)
    return str(getattr(cls, "cost", "w2")) == "w1"


def _id_ranges(ids: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` → ``"1–3, 7"``."""
    ordered = sorted(set(int(i) for i in ids))
    parts: list[str] = []
    start = prev = None
    for i in ordered + [None]:  # type: ignore[list-item]
        if start is not None and (i is None or i != prev + 1):
            parts.append(str(start) if start == prev else f"{start}–{prev}")
            start = None
        if i is not None:
            if start is None:
                start = i
            prev = i
    return ", ".join(parts)


def _image_tag(png: Path, alt: str) -> str:
    data = png.read_bytes()
    if not data.startswith(PNG_MAGIC):
        raise InvalidInputError(f"figure {png} is not a PNG file")
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{_esc(alt)}">'


def _table(headers: Sequence[tuple[str, str]], rows: Sequence[tuple[str, Sequence[tuple[str, str]]]],
           *, css_class: str = "") -> str:
    """An HTML table. ``headers``: (text, class) pairs; ``rows``: (row class, [(cell html, cell class)])."""
    out = [f'<table class="{_esc(css_class)}">' if css_class else "<table>", "<thead><tr>"]
    out += [f'<th class="{cls}">{_esc(text)}</th>' if cls else f"<th>{_esc(text)}</th>" for text, cls in headers]
    out.append("</tr></thead><tbody>")
    for row_class, cells in rows:
        out.append(f'<tr class="{row_class}">' if row_class else "<tr>")
        out += [f'<td class="{cls}">{cell}</td>' if cls else f"<td>{cell}</td>" for cell, cls in cells]
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _labelled(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with its ``pair`` replaced by :func:`monge.run.runner.pair_label` (``gaussian:2 (v1)`` for a run made
    with an older construction of its pair family), so that such runs are tabulated, averaged and plotted apart."""
    from monge.run.runner import pair_label

    out = dict(row)
    out["pair"] = pair_label(row)
    return out


# ---------------------------------------------------------------------------- leaderboards
def _common_cells(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    status = str(row.get("status", ""))
    return [(_esc(row.get("run_id", row.get("id", ""))), "num"), (_esc(row.get("solver", "")), ""),
            (_esc(row.get("pair", "")), ""), (_esc(row.get("seed", "")), "num"),
            (f'<span class="status-{_esc(status)}">{_esc(status)}</span>', ""),
            (_esc(f"{row.get('steps_done', 0)}/{row.get('steps_requested', 0)}"), "num")]


def _speed_cells(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    wall, speed = row.get("wall_time_s"), row.get("steps_per_s")
    return [("—" if wall is None else _esc(f"{wall:.1f} s"), "num"),
            ("—" if speed is None else _esc(f"{speed:.1f}"), "num")]


_COMMON_HEADERS = [("#", ""), ("solver", ""), ("pair", ""), ("seed", ""), ("status", ""), ("steps", "")]
_SPEED_HEADERS = [("wall", ""), ("steps/s", "")]


def _has_metric(rows: Sequence[Mapping[str, Any]], metric: str) -> bool:
    return any(metric in (r.get("final") or {}) or metric in (r.get("best") or {}) for r in rows)


def w2_table_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """The HTML leaderboard of W2 (map) runs (:meth:`ResultStore.leaderboard` rows), with the published forward
    L2-UVP column and its source when any row has one. L2-UVP and cosine columns appear when a row has them, the
    W2 ratio columns (pairs without ground truth) likewise."""
    published = [published_cell(str(r.get("solver", "")), str(r.get("pair", "")), "l2_uvp_fwd") for r in rows]
    show_published = any(p is not None for p in published)
    has_ratio = _has_metric(rows, "w2_ratio")
    has_l2 = _has_metric(rows, "l2_uvp_fwd") or not has_ratio
    headers = list(_COMMON_HEADERS)
    if has_l2:
        headers += [("fwd L2-UVP final", ""), ("fwd L2-UVP best", "")]
        headers += [("published fwd", "pub")] if show_published else []
        headers += [("inv L2-UVP final", ""), ("inv L2-UVP best", ""), ("cos fwd", "")]
    if has_ratio:
        headers += [("W2 ratio final", ""), ("W2 ratio best", "")]
    headers += _SPEED_HEADERS
    body = []
    for row, pub in zip(rows, published):
        final, best = row.get("final") or {}, row.get("best") or {}
        cells = _common_cells(row)
        if has_l2:
            cells += [(format_number(final.get("l2_uvp_fwd")), "num"), (format_number(best.get("l2_uvp_fwd")), "num")]
            if show_published:
                cells.append((pub or "—", "num pub"))
            cells += [(format_number(final.get("l2_uvp_inv")), "num"), (format_number(best.get("l2_uvp_inv")), "num"),
                      (format_number(final.get("cos_fwd")), "num")]
        if has_ratio:
            cells += [(format_number(final.get("w2_ratio")), "num"), (format_number(best.get("w2_ratio")), "num")]
        cells += _speed_cells(row)
        body.append(("baseline" if is_baseline(row) else "", cells))
    notes = []
    if has_l2:
        notes.append("L2-UVP in % of the target (fwd) / source (inv) variance, lower is better; cos fwd: cosine of "
                     "the learned and true displacements, higher is better")
    if has_ratio:
        notes.append("W2 ratio = W2(mapped, target) / W2(source, target) on pairs without ground truth, lower is "
                     "better")
    caption = "; ".join(notes) + ". Grey rows are baselines."
    out = _table(headers, body, css_class="leaderboard w2") + f'<p class="caption">{_esc(caption)}</p>'
    if show_published:
        out += f'<p class="source">published fwd: {_esc(_published_source("w2"))}</p>'
    return out


def w1_table_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """The HTML leaderboard of W1 (critic) runs: gradient cosine (final, best), W1 deviation, gradient L2, with
    the published cosine and deviation and their source when any row has them."""
    published = [(published_cell(str(r.get("solver", "")), str(r.get("pair", "")), "cos_grad"),
                  published_cell(str(r.get("solver", "")), str(r.get("pair", "")), "w1_dev")) for r in rows]
    show_published = any(p[0] is not None for p in published)
    headers = list(_COMMON_HEADERS) + [("cos∇ final", ""), ("cos∇ best", "")]
    headers += [("published cos∇", "pub")] if show_published else []
    headers += [("W1 dev % final", "")]
    headers += [("published dev %", "pub")] if show_published else []
    headers += [("L2∇ final", "")] + _SPEED_HEADERS
    body = []
    for row, (pub_cos, pub_dev) in zip(rows, published):
        final, best = row.get("final") or {}, row.get("best") or {}
        cells = _common_cells(row)
        cells += [(format_number(final.get("cos_grad")), "num"), (format_number(best.get("cos_grad")), "num")]
        if show_published:
            cells.append((pub_cos or "—", "num pub"))
        cells.append((format_number(final.get("w1_dev")), "num"))
        if show_published:
            cells.append((pub_dev or "—", "num pub"))
        cells += [(format_number(final.get("l2_grad")), "num")] + _speed_cells(row)
        body.append(("baseline" if is_baseline(row) else "", cells))
    caption = ("cos∇: mean cosine of the critic's gradient with the true one, higher is better; W1 dev: "
               "100·|Ŵ1 − W1|/W1; L2∇: mean ‖∇f − ∇f*‖². Grey rows are baselines.")
    out = _table(headers, body, css_class="leaderboard w1") + f'<p class="caption">{_esc(caption)}</p>'
    if show_published:
        out += f'<p class="source">published: {_esc(_published_source("w1"))}</p>'
    return out


def _mean_std(values: Sequence[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return format_number(values[0])
    return f"{format_number(statistics.fmean(values))} ± {format_number(statistics.stdev(values))}"


def group_table_html(rows: Sequence[Mapping[str, Any]], metrics: Sequence[tuple[str, str]]) -> str:
    """Mean ± sample standard deviation of each final metric over the runs of every solver × pair (one run per
    seed), for the ``metrics`` (key, header) that any row has; ``n seeds`` counts the distinct seeds."""
    present = [(key, label) for key, label in metrics if _has_metric(rows, key)]
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((str(row.get("solver", "")), str(row.get("pair", ""))), []).append(row)
    headers = [("solver", ""), ("pair", ""), ("n seeds", "")] + [(f"{label} (mean ± std)", "") for _, label in present]
    body = []
    for (solver, pair), members in groups.items():
        cells = [(_esc(solver), ""), (_esc(pair), ""), (str(len({m.get("seed") for m in members})), "num")]
        for key, _ in present:
            values = [float(v) for m in members if (v := (m.get("final") or {}).get(key)) is not None
                      and math.isfinite(float(v))]
            cells.append((_esc(_mean_std(values)), "num"))
        body.append(("baseline" if solver.startswith("baseline:") else "", cells))
    return _table(headers, body, css_class="groups")


def _natural(text: str) -> tuple:
    """Sort key that orders numbers inside names by value: ``w2b-mix:8`` before ``w2b-mix:32``."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part)


def _sort_key(row: Mapping[str, Any]) -> tuple:
    return (_natural(str(row.get("pair", ""))), is_baseline(row), str(row.get("solver", "")), int(row.get("seed") or 0),
            int(row.get("run_id") or row.get("id") or 0))


def _leaderboard_section(rows: Sequence[Mapping[str, Any]]) -> str:
    families: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        families.setdefault(pair_family(str(row.get("pair", ""))), []).append(row)
    out = ['<section id="leaderboards"><h2>Leaderboards</h2>']
    for family in sorted(families):
        members = sorted(families[family], key=_sort_key)
        w1 = [r for r in members if _is_w1(r)]
        w2 = [r for r in members if not _is_w1(r)]
        out.append(f'<h3 id="family-{_esc(family)}">{_esc(family)}</h3>')
        for kind, kind_rows, table, metrics in (("W2 maps", w2, w2_table_html, _W2_METRICS),
                                                ("W1 critics", w1, w1_table_html, _W1_METRICS)):
            if not kind_rows:
                continue
            out.append(f"<h4>{_esc(kind)} ({len(kind_rows)} runs)</h4>")
            out.append(table(kind_rows))
            out.append(f"<h4>{_esc(kind)}: mean ± std over seeds</h4>")
            out.append(group_table_html(kind_rows, metrics))
    out.append("</section>")
    return "".join(out)


# ---------------------------------------------------------------------------- figures
def _convergence_section(store: ResultStore, rows: Sequence[Mapping[str, Any]], folder: Path) -> str:
    from monge.plot import plot_convergence

    by_pair: dict[str, list[int]] = {}
    seeds: dict[str, set[int]] = {}
    ordered = sorted(rows, key=lambda r: int(r["run_id"]))
    for row in ordered:
        if not is_baseline(row):
            by_pair.setdefault(str(row["pair"]), []).append(int(row["run_id"]))
            seeds.setdefault(str(row["pair"]), set()).add(int(row.get("seed") or 0))
    # the baselines of each pair (and seed) with trained runs: horizontal lines on the same figure
    lines: dict[str, list[int]] = {}
    for row in ordered:
        pair = str(row["pair"])
        if is_baseline(row) and pair in by_pair and int(row.get("seed") or 0) in seeds[pair]:
            lines.setdefault(pair, []).append(int(row["run_id"]))
    out = ['<section id="convergence"><h2>Convergence</h2>']
    if not by_pair:
        out.append('<p class="empty">No trained runs (only baselines).</p>')
    else:
        out.append('<p class="info">One line per run; the baselines of the same pair and seeds are horizontal '
                   "lines. Error metrics (L2-UVP, W2 ratio, W1 deviation) are on a log axis.</p>")
    for index, pair in enumerate(sorted(by_pair, key=_natural)):
        ids = by_pair[pair]
        png = plot_convergence(store, ids + lines.get(pair, []), folder / f"convergence_{index}.png")
        caption = f"{pair}: runs {_id_ranges(ids)}"
        if lines.get(pair):
            caption += f"; baselines {_id_ranges(lines[pair])}"
        out.append(f"<figure>{_image_tag(png, f'convergence on {pair}')}"
                   f"<figcaption>{_esc(caption)}</figcaption></figure>")
    out.append("</section>")
    return "".join(out)


def _resolve_result_dir(value: Any, db_path: Path) -> Path:
    path = Path(str(value)).expanduser()
    if not path.is_absolute() and not path.exists() and str(db_path) != ":memory:":
        beside_db = db_path.parent / path
        if beside_db.exists():
            return beside_db
    return path


def load_saved_result(path: str | Path) -> Any:
    """Load a result folder written by ``W2Result.save`` or ``W1Result.save``, whichever ``result.json``'s
    ``kind`` names; raises :class:`~monge.errors.CheckpointError` naming the file when it cannot."""
    from monge.errors import CheckpointError
    from monge.solvers.base import W2Result, read_result_meta
    from monge.solvers.w1.base import W1Result

    meta_path, meta = read_result_meta(path)
    kind = meta.get("kind") if isinstance(meta, dict) else None
    if kind == "W1Result":
        return W1Result.load(path)
    if kind == "W2Result":
        return W2Result.load(path)
    raise CheckpointError(f"{meta_path}: unknown result kind {kind!r} (expected W2Result or W1Result)")


def _map_figure(row: Mapping[str, Any], result_dir: Path, png: Path) -> Path:
    from monge.pairs import make_pair
    from monge.run.runner import plot_result_2d

    from monge.run.runner import current_pair_version, stored_pair_version

    config = row.get("config") or {}
    result = load_saved_result(result_dir)
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


def _maps_section(rows: Sequence[Mapping[str, Any]], folder: Path, db_path: Path) -> str:
    candidates = [r for r in sorted(rows, key=lambda r: int(r["run_id"]))
                  if int(r.get("dim") or 0) == 2 and (r.get("config") or {}).get("result_dir")]
    out = ['<section id="maps"><h2>2-D maps and critics</h2>']
    if not candidates:
        out.append('<p class="empty">No run on a 2-D pair has a saved result (<code>result_dir</code> in its '
                   "config).</p>")
    for row in candidates:
        label = f"run {row['run_id']}: {row['solver']} on {row['pair']} (seed {row['seed']})"
        result_dir = _resolve_result_dir(row["config"]["result_dir"], db_path)
        try:
            png = _map_figure(row, result_dir, folder / f"map_{row['run_id']}.png")
        except (MongeError, OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            out.append(f'<p class="note">{_esc(label)}: no figure, the saved result in '
                       f"<code>{_esc(result_dir)}</code> could not be used ({_esc(message)}).</p>")
            continue
        out.append(f"<figure>{_image_tag(png, label)}<figcaption>{_esc(label)}, from "
                   f"<code>{_esc(result_dir)}</code></figcaption></figure>")
    out.append("</section>")
    return "".join(out)


# ---------------------------------------------------------------------------- configs and versions
def _configs_section(rows: Sequence[Mapping[str, Any]]) -> str:
    out = ['<section id="configs"><h2>Run configurations</h2>']
    for row in sorted(rows, key=lambda r: int(r["run_id"])):
        summary = (f"run {row['run_id']}: {row['solver']} on {row['pair']}, seed {row['seed']}, {row['status']}, "
                   f"created {row.get('created_at', '')}")
        body = {"config": row.get("config") or {}, "versions": row.get("versions") or {}}
        if row.get("error"):
            body["error"] = row["error"]
        text = json.dumps(body, indent=2, sort_keys=True, default=str, ensure_ascii=False)
        out.append(f'<details id="run-{int(row["run_id"])}"><summary>{_esc(summary)}</summary>'
                   f"<pre>{_esc(text)}</pre></details>")
    out.append("</section>")
    return "".join(out)


def _versions_table(versions: Mapping[str, Any]) -> str:
    rows = [("", [(_esc(k), ""), (_esc(v), "")]) for k, v in sorted(versions.items())]
    return _table([("package", ""), ("version", "")], rows, css_class="versions")


def _system_section(rows: Sequence[Mapping[str, Any]]) -> str:
    from monge.run.runner import environment_versions

    sets: dict[str, list[int]] = {}
    for row in rows:
        key = json.dumps(row.get("versions") or {}, sort_keys=True, default=str)
        sets.setdefault(key, []).append(int(row["run_id"]))
    out = ['<section id="system"><h2>System information</h2>']
    if sets:
        out.append(f"<h3>Versions stored with the runs ({len(sets)} distinct set{'s' if len(sets) != 1 else ''})</h3>")
        for index, (key, ids) in enumerate(sorted(sets.items(), key=lambda kv: min(kv[1])), start=1):
            out.append(f"<h4>set {index}: runs {_esc(_id_ranges(ids))}</h4>")
            versions = json.loads(key)
            out.append(_versions_table(versions) if versions else "<p>no versions stored</p>")
    out.append("<h3>Machine writing this report</h3>")
    out.append(_versions_table(environment_versions()))
    out.append("</section>")
    return "".join(out)


def _header(title: str, db_path: Path, generated: str, rows: Sequence[Mapping[str, Any]],
            selected: Sequence[int] | None) -> str:
    counts = Counter(str(r.get("status", "")) for r in rows)
    ordered = [s for s in STATUSES if counts.get(s)] + sorted(s for s in counts if s not in STATUSES)
    out = [f"<header><h1>{_esc(title)}</h1>",
           f'<p class="meta">database: <code>{_esc(db_path)}</code></p>',
           f'<p class="meta">generated: {_esc(generated)}</p>']
    if selected is not None:
        out.append(f'<p class="meta">selected runs: {_esc(_id_ranges(selected))}</p>')
    status_rows = [("", [(f'<span class="status-{_esc(s)}">{_esc(s)}</span>', ""), (str(counts[s]), "num")])
                   for s in ordered]
    status_rows.append(("", [("<strong>total</strong>", ""), (f"<strong>{len(rows)}</strong>", "num")]))
    out.append(_table([("status", ""), ("runs", "")], status_rows, css_class="counts"))
    out.append("</header>")
    return "".join(out)


_NAV = ('<nav><a href="#leaderboards">Leaderboards</a><a href="#sweeps">Sweeps</a><a href="#convergence">Convergence</a>'
        '<a href="#maps">2-D maps</a><a href="#configs">Configurations</a><a href="#system">System</a></nav>')


def _sweeps_section(store: ResultStore, rows: Sequence[Mapping[str, Any]]) -> str:
    """One table per sweep stored in the database: each cell's run, status, attempts and last error."""
    shown = {int(r["run_id"]) for r in rows}
    out = ['<section id="sweeps"><h2>Sweeps</h2>']
    names = store.sweeps()
    if not names:
        out.append('<p class="info">No sweeps in this database (runs from <code>monge bench</code> only).</p>')
    for name in names:
        cells = store.cells(name)
        counts = Counter(c["status"] for c in cells)
        out.append(f"<h3>{_esc(name)}</h3><p class=\"meta\">{len(cells)} cells: "
                   + ", ".join(f"{counts[s]} {s}" for s in ("done", "pending", "failed") if counts.get(s)) + "</p>")
        table_rows = []
        for cell in cells:
            config = cell["config"]
            run = "" if cell["run_id"] is None else str(cell["run_id"])
            status = cell["status"]
            table_rows.append(("muted" if cell["run_id"] is not None and cell["run_id"] not in shown else "", [
                (f"<code>{_esc(cell['cell_key'])}</code>", ""), (_esc(run), "num"),
                (_esc(config.get("label") or config.get("solver", "")), ""), (_esc(config.get("pair", "")), ""),
                (_esc(config.get("seed", "")), "num"), (f'<span class="status-{_esc(status)}">{_esc(status)}</span>', ""),
                (_esc(cell["attempts"]), "num"), (_esc((cell["error"] or "").strip().splitlines()[0] if cell["error"] else ""), ""),
            ]))
        out.append(_table([("cell", ""), ("run", ""), ("solver", ""), ("pair", ""), ("seed", ""), ("cell status", ""),
                           ("attempts", ""), ("last error", "")], table_rows))
    out.append("</section>")
    return "".join(out)


def render_report(store: ResultStore, *, title: str | None = None, run_ids: Iterable[int] | None = None,
                  figure_folder: str | Path | None = None) -> str:
    """The report's HTML text (see :func:`write_report`). Figures are rendered into ``figure_folder`` (default: a
    temporary folder, removed afterwards) and embedded as base64 PNG data URIs."""
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
    rows = [_labelled(row) for row in rows]
    title = title or f"monge report: {store.path.name}"
    generated = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
             _header(title, store.path, generated, rows, selected)]
    if not rows:
        parts.append('<p class="empty">There are no runs in this database'
                     + (" matching the selected ids" if selected is not None else "") + ".</p>")
        parts.append(_system_section(rows))
    else:
        parts.append(_NAV)
        parts.append(_leaderboard_section(rows))
        parts.append(_sweeps_section(store, rows))
        with tempfile.TemporaryDirectory(prefix="monge-report-") as tmp:
            folder = Path(figure_folder) if figure_folder is not None else Path(tmp)
            parts.append(_convergence_section(store, rows, folder))
            parts.append(_maps_section(rows, folder, store.path))
        parts.append(_configs_section(rows))
        parts.append(_system_section(rows))
    parts.append("</body></html>\n")
    return "\n".join(parts)


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


__all__ = ["MAP_POINTS", "format_number", "group_table_html", "is_baseline", "load_saved_result", "pair_family",
           "published_cell", "render_report", "w1_table_html", "w2_table_html", "write_report"]
