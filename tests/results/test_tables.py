"""One table model, five outputs: rich, HTML, Markdown, CSV and JSON show the same cells; the catalogue names the
columns; bad kinds and formats are named."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from rich.console import Console

from monge.errors import UnknownNameError
from monge.results import (group_table, leaderboard_tables, records_table, render, run_table, to_html, to_markdown,
                           to_rich)


def _row(run_id, solver, pair, seed, final, *, best=None, status="finished"):
    return {"id": run_id, "solver": solver, "pair": pair, "seed": seed, "status": status, "steps_done": 10,
            "steps_requested": 10, "final": final, "best": best if best is not None else dict(final),
            "wall_time_s": 1.5, "steps_per_s": 6.7, "config": {}}


ROWS = [_row(1, "w2gn", "w2b-mix:2", 0, {"l2_uvp_fwd": 0.25, "l2_uvp_inv": 0.5, "cos_fwd": 0.99},
             best={"l2_uvp_fwd": 0.2, "l2_uvp_inv": 0.5, "cos_fwd": 0.995}),
        _row(2, "w2gn", "w2b-mix:2", 1, {"l2_uvp_fwd": 0.35, "l2_uvp_inv": float("nan"), "cos_fwd": 0.98}),
        _row(3, "baseline:identity", "w2b-mix:2", 0, {"l2_uvp_fwd": 50.0}),
        _row(4, "wgan-lp", "w1b-funnel:8:64", 0, {"cos_grad": 0.9, "w1_dev": 3.0, "l2_grad": 0.1})]


def test_one_model_renders_the_same_cells_in_every_format():
    (table,) = [t for t in leaderboard_tables(ROWS) if "W2" in (t.title or "")]
    headers = [c.header for c in table.columns]
    assert headers[:8] == ["#", "solver", "pair", "seed", "status", "steps", "fwd L2-UVP final", "fwd L2-UVP best"]
    assert headers[8] == "published fwd L2-UVP" and "W2 ratio final" not in headers
    markdown = render(table, "markdown").splitlines()
    body = [line for line in markdown if line.startswith("| 1 |")]
    assert body == ["| 1 | w2gn | w2b-mix:2 | 0 | finished | 10/10 | 0.25 | 0.2 | 0.1 | 0.5 | 0.5 | 0.99 | 1.5 s | 6.7 |"]
    records = list(csv.DictReader(io.StringIO(render(table, "csv"))))
    assert records[0]["final_l2_uvp_fwd"] == "0.25" and records[0]["published_l2_uvp_fwd"] == "0.1"
    assert records[1]["final_l2_uvp_inv"] == ""                        # NaN: an empty cell, not "nan"
    parsed = json.loads(render(table, "json"))
    assert parsed[1]["final_l2_uvp_inv"] is None and parsed[2]["solver"] == "baseline:identity"
    console = Console(record=True, width=250)
    console.print(to_rich(table))
    text = console.export_text()
    assert "0.25" in text and "published fwd L2-UVP" in text and "Korotin, Li, Genevay" in text
    html = to_html(table, css_class="leaderboard w2")
    assert html.count('<tr class="baseline">') == 1 and '<td class="num pub">0.1</td>' in html


def test_html_escapes_every_stored_text():
    rows = [_row(1, '<script>alert("x")</script>', "gaussian:2", 0, {"l2_uvp_fwd": 1.0})]
    html = to_html(run_table(rows, "w2"))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_w1_columns_and_published_values_come_from_the_catalogue():
    table = run_table([ROWS[3]], "w1")
    headers = [c.header for c in table.columns]
    assert {"cos∇ final", "cos∇ best", "published cos∇", "W1 dev % final", "published W1 dev %", "L2∇ final"} <= set(headers)
    (record,) = table.records()
    assert record["published_cos_grad"] == pytest.approx(0.827, abs=1e-3)
    assert len(table.sources) == 1 and "Kantorovich" in table.sources[0]      # one source for both columns


def test_group_table_mean_and_std_over_seeds():
    table = group_table(ROWS[:3], "w2")
    (w2gn, baseline) = table.records()
    assert w2gn["n_seeds"] == 2 and w2gn["l2_uvp_fwd"]["mean"] == pytest.approx(0.3)
    assert w2gn["l2_uvp_fwd"]["std"] == pytest.approx(math.sqrt(0.005))
    assert table.rows[0][3].text == "0.3 ± 0.0707" and table.baselines == [False, True]
    assert w2gn["l2_uvp_inv"]["n"] == 1                                  # the NaN final is left out


def test_records_have_best_columns_only_for_scores():
    rows = [_row(1, "w2gn", "gaussian:2", 0, {"l2_uvp_fwd": 1.0, "cost_true": 2.0})]
    (record,) = records_table(rows).records()
    assert record["final_cost_true"] == 2.0 and "best_cost_true" not in record
    assert record["best_l2_uvp_fwd"] == 1.0 and record["published_l2_uvp_fwd"] == "<1"   # W2GN's Table 1 bound


def test_w2gn_table_one_is_the_published_column_on_gaussian_pairs():
    """gaussian:<D> rows get W2GN's Table 1 (numbers and its "<1"/">50" bounds, as text) with its own source;
    mm-1 has no published number there (not in the copy available offline)."""
    rows = [_row(1, "w2gn", "gaussian:1024", 0, {"l2_uvp_fwd": 0.8}),
            _row(2, "lsot", "gaussian:4096", 0, {"l2_uvp_fwd": 60.0}),
            _row(3, "mm-1", "gaussian:1024", 0, {"l2_uvp_fwd": 5.0}),
            _row(4, "w2gn", "gaussian:2", 0, {"l2_uvp_fwd": 0.1})]
    table = run_table(rows, "w2")
    records = table.records()
    assert [r["published_l2_uvp_fwd"] for r in records] == [1.7, ">50", None, "<1"]
    column = [c.key for c in table.columns].index("published_l2_uvp_fwd")
    assert [row[column].text for row in table.rows] == ["1.7", ">50", "—", "<1"]
    assert len(table.sources) == 1 and "Wasserstein-2 Generative Networks" in table.sources[0]
    assert ">50" in to_markdown(table) and "&lt;1" in to_html(table)


def test_unknown_kind_and_format_are_named():
    with pytest.raises(UnknownNameError, match="table kind 'w3'"):
        run_table(ROWS, "w3")
    with pytest.raises(UnknownNameError, match="output format 'xml'"):
        render(run_table(ROWS[:1]), "xml")


def test_steps_column_shows_the_request_only_when_there_was_one():
    """A run planned by its time budget (and a baseline) stores no requested step count: "833", not "833/0"."""
    planned = {**_row(1, "w2gn", "gaussian:8", 0, {"l2_uvp_fwd": 0.1}), "steps_done": 833, "steps_requested": 0}
    fixed = _row(2, "w2gn", "gaussian:8", 1, {"l2_uvp_fwd": 0.1})
    table = run_table([planned, fixed], "w2")
    column = [c.header for c in table.columns].index("steps")
    assert [row[column].text for row in table.rows] == ["833", "10/10"]
