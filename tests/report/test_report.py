"""``monge report``: the self-contained HTML report of a results database, checked with Python's HTML parser and
rendered in headless Chromium."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from monge.cli.main import app, main
from monge.errors import CheckpointError, InvalidInputError, StoreError
from monge.pairs import make_pair
from monge.run import ResultStore, RunConfig, run_bench
from monge.report import load_saved_result, render_report, write_report
from monge.results.rows import pair_family, published_value
from monge.results.table import format_number
from monge.solvers import SOLVERS, get_solver

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_PNG = "data:image/png;base64,"
TITLE = '<script>alert("x")</script> & sweep'


# ---------------------------------------------------------------------------- parsing
class ReportParser(HTMLParser):
    """Collects tables (class, headers, rows with their class and cell texts), images, links, headings, notes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self.images: list[dict] = []
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.headings: list[str] = []
        self.notes: list[str] = []
        self.texts: list[str] = []
        self.details = 0
        self._cell: list[str] | None = None
        self._row: dict | None = None
        self._heading: list[str] | None = None
        self._note: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        for key in ("src", "href"):
            if key in attrs:
                self.urls.append(attrs[key] or "")
        if tag == "table":
            self.tables.append({"class": attrs.get("class", ""), "headers": [], "rows": []})
        elif tag == "tr":
            self._row = {"class": attrs.get("class", ""), "cells": []}
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(attrs)
        elif tag in ("h1", "h2", "h3", "h4"):
            self._heading = []
        elif tag == "p" and attrs.get("class") == "note":
            self._note = []
        elif tag == "details":
            self.details += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            text = "".join(self._cell).strip()
            if tag == "th":
                self.tables[-1]["headers"].append(text)
            else:
                self._row["cells"].append(text)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row["cells"]:
                self.tables[-1]["rows"].append(self._row)
            self._row = None
        elif tag in ("h1", "h2", "h3", "h4") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None
        elif tag == "p" and self._note is not None:
            self.notes.append("".join(self._note))
            self._note = None

    def handle_data(self, data):
        self.texts.append(data)
        for buffer in (self._cell, self._heading, self._note):
            if buffer is not None:
                buffer.append(data)


def parse(html_text: str) -> ReportParser:
    parser = ReportParser()
    parser.feed(html_text)
    parser.close()
    return parser


def tables_after(parser: ReportParser, css: str) -> list[dict]:
    return [t for t in parser.tables if css in t["class"].split()]


def table_with_pair(parser: ReportParser, css: str, pair: str) -> dict:
    matches = [t for t in tables_after(parser, css) if t["rows"] and t["rows"][0]["cells"][2] == pair]
    assert len(matches) == 1, [t["rows"][0]["cells"][:3] for t in tables_after(parser, css)]
    return matches[0]


# ---------------------------------------------------------------------------- a small real database
def _set_config(db: Path, run_id: int, **extra) -> None:
    con = sqlite3.connect(db)
    try:
        config = json.loads(con.execute("SELECT config_json FROM runs WHERE id = ?", (run_id,)).fetchone()[0])
        config.update(extra)
        con.execute("UPDATE runs SET config_json = ? WHERE id = ?", (json.dumps(config), run_id))
        con.commit()
    finally:
        con.close()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A store with W2 runs (two solvers, two 2-D pairs, two seeds of one), a W1 run, baselines, a hand-made
    w2b-mix run (the published column), and saved results referenced from stored configs."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("bench")
    db = root / "results.sqlite"
    options = {name: dict(SOLVERS[name].smoke_options) for name in ("w2gn", "enot", "wgan-lp")}
    configs = [RunConfig(solver=s, pair=p, solver_options=options[s], steps=30, batch_size=64, eval_every=15,
                         eval_samples=512) for s in ("w2gn", "enot") for p in ("gaussian:2", "toy:8gaussians")]
    configs += [RunConfig(solver="w2gn", pair="gaussian:2", seed=1, solver_options=options["w2gn"], steps=30,
                          batch_size=64, eval_every=15, eval_samples=512),
                RunConfig(solver="wgan-lp", pair="funnel:2:4", solver_options=options["wgan-lp"], steps=30,
                          batch_size=64, eval_every=15, eval_samples=512)]
    with ResultStore(db) as store:
        summaries = run_bench(configs, store, progress=False, baselines=True)
        mix = store.start_run(solver="w2gn", pair="w2b-mix:2", dim=2, seed=0, steps_requested=10, batch_size=8,
                              eval_every=10, config={"solver": "w2gn", "pair": "w2b-mix:2", "seed": 0})
        store.log_eval(mix, 10, 0.5, {"l2_uvp_fwd": 0.25, "l2_uvp_inv": 0.5, "cos_fwd": 0.99})
        store.finish_run(mix, "finished", steps_done=10, wall_time_s=1.0, train_time_s=0.5)
        running = store.start_run(solver="mm-2", pair="gaussian:2", dim=2, seed=0, steps_requested=10,
                                  batch_size=8, eval_every=10, config={"note": "<b>not bold</b>"})
    ids = {(s.solver, s.pair, s.seed): s.run_id for s in summaries}
    generator = torch.Generator().manual_seed(0)
    w2_pair = make_pair("gaussian:2", seed=0)
    w2 = get_solver("w2gn", **options["w2gn"]).fit(w2_pair.source, w2_pair.target, steps=30, batch_size=64,
                                                   generator=generator)
    w1_pair = make_pair("funnel:2:4", seed=0)
    w1 = get_solver("wgan-lp", **options["wgan-lp"]).fit(w1_pair.source, w1_pair.target, steps=30, batch_size=64,
                                                         generator=generator)
    w2.save(root / "saved_w2")
    w1.save(root / "saved_w1")
    corrupt = root / "corrupt"
    corrupt.mkdir()
    (corrupt / "result.json").write_text("{not json")
    _set_config(db, ids[("w2gn", "gaussian:2", 0)], result_dir=str(root / "saved_w2"))
    _set_config(db, ids[("wgan-lp", "funnel:2:4", 0)], result_dir="saved_w1")  # relative to the database folder
    _set_config(db, ids[("enot", "toy:8gaussians", 0)], result_dir=str(root / "missing"))
    _set_config(db, ids[("enot", "gaussian:2", 0)], result_dir=str(corrupt))
    return {"root": root, "db": db, "ids": ids, "mix": mix, "running": running, "summaries": summaries}


@pytest.fixture(scope="module")
def report(bench):
    out = bench["root"] / "nested" / "folder" / "report.html"
    with ResultStore(bench["db"], create=False) as store:
        written = write_report(store, out, title=TITLE)
    assert written == out
    text = out.read_text(encoding="utf-8")
    return {"path": out, "text": text, "parser": parse(text)}


# ---------------------------------------------------------------------------- content
def test_header_counts_runs_by_status_and_escapes_the_title(bench, report):
    parser, text = report["parser"], report["text"]
    assert "<script" not in text  # the title's tag is escaped, and the report carries no script
    assert parser.headings[0] == TITLE
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; sweep" in text
    assert str(bench["db"]) in "".join(parser.texts)
    (counts,) = tables_after(parser, "counts")
    cells = {row["cells"][0]: row["cells"][1] for row in counts["rows"]}
    with ResultStore(bench["db"], create=False) as store:
        total = len(store.runs())
    assert cells == {"finished": str(total - 1), "running": "1", "total": str(total)}


def test_leaderboards_per_family_with_baselines_greyed(bench, report):
    parser, ids = report["parser"], bench["ids"]
    for family in ("funnel", "gaussian", "toy", "w2b-mix"):
        assert family in parser.headings
    gaussian = table_with_pair(parser, "w2", "gaussian:2")
    assert gaussian["headers"][:8] == ["#", "solver", "pair", "seed", "status", "steps", "fwd L2-UVP final",
                                       "fwd L2-UVP best"]
    assert "published fwd L2-UVP" in gaussian["headers"] and "W2 ratio final" not in gaussian["headers"]  # W2GN's Table 1
    by_id = {int(r["cells"][0]): r for r in gaussian["rows"]}
    expected = {s.run_id for s in bench["summaries"] if s.pair == "gaussian:2"} | {bench["running"]}
    assert set(by_id) == expected
    for run_id, row in by_id.items():
        solver = row["cells"][1]
        assert (row["class"] == "baseline") == solver.startswith("baseline:"), row
    w2gn = by_id[ids[("w2gn", "gaussian:2", 0)]]
    summary = next(s for s in bench["summaries"] if s.run_id == ids[("w2gn", "gaussian:2", 0)])
    column = gaussian["headers"].index("fwd L2-UVP final")
    assert w2gn["cells"][column] == format_number(summary.final["l2_uvp_fwd"])
    assert w2gn["cells"][gaussian["headers"].index("steps")] == "30/30"
    assert by_id[bench["running"]]["cells"][column] == "—"  # a run without evaluations
    toy = table_with_pair(parser, "w2", "toy:8gaussians")
    assert "W2 ratio final" in toy["headers"] and "fwd L2-UVP final" not in toy["headers"]
    assert all(r["cells"][toy["headers"].index("W2 ratio final")] != "—" for r in toy["rows"])
    funnel = table_with_pair(parser, "w1", "funnel:2:4")
    assert {"cos∇ final", "W1 dev % final", "L2∇ final"} <= set(funnel["headers"])
    assert [r["cells"][1] for r in funnel["rows"]] == ["wgan-lp", "baseline:dot"]
    assert [r["class"] for r in funnel["rows"]] == ["", "baseline"]


def test_published_value_beside_ours_with_its_source(bench, report):
    parser, text = report["parser"], report["text"]
    mix = table_with_pair(parser, "w2", "w2b-mix:2")
    headers = mix["headers"]
    assert headers[headers.index("fwd L2-UVP best") + 1] == "published fwd L2-UVP"
    (row,) = mix["rows"]
    assert row["cells"][headers.index("fwd L2-UVP final")] == "0.25"
    assert row["cells"][headers.index("published fwd L2-UVP")] == "0.1"  # W2GN's D = 2 number in the W2 benchmark
    assert "published: Korotin, Li, Genevay" in "".join(parser.texts)
    assert text.count('class="source"') == 2  # the w2b-mix table (W2 benchmark) and the gaussian one (W2GN's Table 1)


def test_published_value_function():
    assert published_value("published_l2_uvp_fwd", "w2gn", "w2b-mix:2") == pytest.approx(0.1)
    assert published_value("published_l2_uvp_fwd", "w2gn", "gaussian:2") == "<1"            # W2GN's Table 1 bound
    assert published_value("published_l2_uvp_fwd", "mm-1", "gaussian:2") is None
    assert published_value("published_l2_uvp_fwd", "enot", "w2b-mix:2") is None
    assert format_number(published_value("published_cos_grad", "wgan-lp", "w1b-funnel:8:64")) == "0.827"
    assert format_number(published_value("published_w1_dev", "wgan-lp", "w1b-funnel:8:64")) == "6.1"
    assert published_value("published_cos_grad", "wgan-lp", "funnel:8:64") is None
    assert published_value("published_l2_uvp_inv", "w2gn", "w2b-mix:2") is None


def test_group_table_gives_mean_and_std_over_seeds(bench, report):
    parser = report["parser"]
    groups = [t for t in tables_after(parser, "groups") if t["rows"][0]["cells"][1] == "gaussian:2"]
    (table,) = groups
    rows = {(r["cells"][0], r["cells"][1]): r for r in table["rows"]}
    assert table["headers"][:3] == ["solver", "pair", "n seeds"]
    w2gn = rows[("w2gn", "gaussian:2")]
    assert w2gn["cells"][2] == "2" and "±" in w2gn["cells"][3]
    finals = [s.final["l2_uvp_fwd"] for s in bench["summaries"] if (s.solver, s.pair) == ("w2gn", "gaussian:2")]
    assert w2gn["cells"][3].split(" ± ")[0] == format_number(sum(finals) / 2)
    assert rows[("enot", "gaussian:2")]["cells"][2] == "1" and "±" not in rows[("enot", "gaussian:2")]["cells"][3]
    assert rows[("baseline:linear", "gaussian:2")]["class"] == "baseline"


def test_images_are_embedded_pngs_and_nothing_is_fetched(report):
    parser = report["parser"]
    # convergence per pair with trained runs (funnel, gaussian, toy, w2b-mix) + the two saved results' figures
    assert len(parser.images) == 6
    for image in parser.images:
        src = image["src"]
        assert src.startswith(DATA_PNG)
        assert base64.b64decode(src[len(DATA_PNG):], validate=True)[:8] == PNG_MAGIC
        assert image.get("alt")
    assert not [u for u in parser.urls if u.startswith(("http://", "https://", "//"))]
    assert all(u.startswith(("#", DATA_PNG)) for u in parser.urls)
    assert not {"script", "link", "iframe", "object"} & set(parser.tags)


def test_missing_and_corrupt_result_dirs_give_notes(bench, report):
    notes = report["parser"].notes
    assert len(notes) == 2
    assert any("missing" in n and "no such folder" in n for n in notes)
    assert any("corrupt" in n and "JSON" in n for n in notes)
    alts = [image["alt"] for image in report["parser"].images]
    assert f"run {bench['ids'][('w2gn', 'gaussian:2', 0)]}: w2gn on gaussian:2 (seed 0)" in alts
    assert f"run {bench['ids'][('wgan-lp', 'funnel:2:4', 0)]}: wgan-lp on funnel:2:4 (seed 0)" in alts


def test_configs_and_versions(bench, report):
    parser, text = report["parser"], report["text"]
    with ResultStore(bench["db"], create=False) as store:
        runs = store.runs()
    assert parser.details == len(runs)
    assert "&lt;b&gt;not bold&lt;/b&gt;" in text and "<b>not bold" not in text
    assert "Versions stored with the runs (2 distinct sets)" in parser.headings  # bench runs + hand-made runs
    assert "Machine writing this report" in parser.headings
    configs = "".join(parser.texts)
    assert '"seed": 1' in configs and '"solver_options"' in configs and '"torch"' in configs


def test_load_saved_result_by_kind(bench):
    assert type(load_saved_result(bench["root"] / "saved_w2")).__name__ == "W2Result"
    assert type(load_saved_result(bench["root"] / "saved_w1")).__name__ == "W1Result"
    with pytest.raises(CheckpointError, match="corrupt"):
        load_saved_result(bench["root"] / "corrupt")
    with pytest.raises(CheckpointError, match="no such folder"):
        load_saved_result(bench["root"] / "missing")


def test_run_ids_select_runs_and_unknown_ids_fail(bench, tmp_path):
    wanted = [bench["ids"][("enot", "toy:8gaussians", 0)], bench["mix"]]
    out = write_report(bench["db"], tmp_path / "some.html", run_ids=wanted)  # a path opens the store itself
    parser = parse(out.read_text(encoding="utf-8"))
    run_rows = [r for t in tables_after(parser, "leaderboard") for r in t["rows"]]
    assert sorted(int(r["cells"][0]) for r in run_rows) == sorted(wanted)
    assert parser.details == 2 and len(parser.notes) == 1
    with pytest.raises(StoreError, match="no run with id 9999"):
        write_report(bench["db"], tmp_path / "none.html", run_ids=[wanted[0], 9999])
    assert not (tmp_path / "none.html").exists()


def test_empty_database_gives_a_valid_page(tmp_path):
    with ResultStore(tmp_path / "empty.sqlite") as store:
        out = write_report(store, tmp_path / "out" / "empty.html")
    text = out.read_text(encoding="utf-8")
    parser = parse(text)
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "There are no runs in this database." in text
    assert parser.images == [] and parser.details == 0
    (counts,) = tables_after(parser, "counts")
    assert counts["rows"][-1]["cells"] == ["total", "0"]
    assert [p.name for p in out.parent.iterdir()] == ["empty.html"]  # no temporary file left behind


def test_bad_paths(tmp_path):
    with pytest.raises(StoreError, match="no such file"):
        write_report(tmp_path / "absent.sqlite", tmp_path / "r.html")
    assert not (tmp_path / "absent.sqlite").exists()
    with ResultStore(tmp_path / "e.sqlite") as store:
        with pytest.raises(InvalidInputError, match="is a folder"):
            write_report(store, tmp_path)
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(InvalidInputError, match="cannot write report"):
            write_report(store, blocker / "r.html")
        with pytest.raises(InvalidInputError, match="run ids must be integers"):
            render_report(store, run_ids=["one"])


def test_small_helpers():
    assert pair_family("w2b-mix:16") == "w2b-mix" and pair_family("w1b-funnel:8:64") == "w1b-funnel"
    assert pair_family("toy:8gaussians") == "toy"
    assert format_number(0.123456) == "0.123" and format_number(None) == "—"
    assert format_number(float("nan")) == "—" and format_number("x") == "—"


def test_pairs_are_listed_in_numeric_order_of_their_dimensions(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        for pair in ("w2b-mix:32", "w2b-mix:8", "w2b-mix:2"):
            run = store.start_run(solver="w2gn", pair=pair, dim=int(pair.split(":")[1]), seed=0, steps_requested=10,
                                  batch_size=8, eval_every=10)
            store.log_eval(run, 10, 0.5, {"l2_uvp_fwd": 1.0})
            store.finish_run(run, "finished", steps_done=10, wall_time_s=1.0, train_time_s=0.5)
        text = write_report(store, tmp_path / "r.html").read_text(encoding="utf-8")
    (table,) = tables_after(parse(text), "leaderboard")
    assert [row["cells"][2] for row in table["rows"]] == ["w2b-mix:2", "w2b-mix:8", "w2b-mix:32"]
    assert text.index("convergence on w2b-mix:2") < text.index("convergence on w2b-mix:8") < text.index(
        "convergence on w2b-mix:32")


# ---------------------------------------------------------------------------- CLI
def test_cli_writes_the_report_and_prints_its_path(bench, tmp_path):
    out = tmp_path / "cli" / "r.html"
    result = CliRunner().invoke(app, ["report", "--db", str(bench["db"]), "--out", str(out), "--title", "cli run",
                                      "--run-id", str(bench["mix"])])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    parser = parse(out.read_text(encoding="utf-8"))
    assert parser.headings[0] == "cli run" and parser.details == 1


def test_cli_missing_database_is_one_error_line(tmp_path, capsys):
    missing = tmp_path / "nope.sqlite"
    assert main(["report", "--db", str(missing), "--out", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: results database {missing}: no such file"]
    assert not missing.exists() and not (tmp_path / "r.html").exists()


# ---------------------------------------------------------------------------- headless Chromium
PROBE = """<pre id="probe"></pre><script>
window.addEventListener("load", function () {
  var tables = Array.prototype.filter.call(document.querySelectorAll("table"), function (t) {
    return t.tBodies.length > 0 && t.tBodies[0].rows.length >= 1; }).length;
  var images = Array.prototype.slice.call(document.images);
  var rendered = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var failed = images.filter(function (i) { return i.complete && i.naturalWidth === 0; }).length;
  document.getElementById("probe").textContent = JSON.stringify(
    {tables: tables, images: images.length, rendered: rendered, failed: failed});
});
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("MONGE_REQUIRE_CHROMIUM") == "1":
            pytest.fail("MONGE_REQUIRE_CHROMIUM=1 but no chromium on PATH (Debian: apt-get install chromium)")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); set MONGE_REQUIRE_CHROMIUM=1 "
                    "to make this a failure")
    return found


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
               "--virtual-time-budget=10000", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_report_renders_in_headless_chromium(report, tmp_path):
    binary = _chromium()
    original = report["text"]
    assert original.count("</body>") == 1
    probed = tmp_path / "probed.html"
    probed.write_text(original.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = _run_chromium(binary, tmp_path / "profile", "--dump-dom", probed.resolve().as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    start = done.stdout.index('<pre id="probe">') + len('<pre id="probe">')
    probe = json.loads(done.stdout[start:done.stdout.index("</pre>", start)])
    expected_tables = sum(1 for t in report["parser"].tables if t["rows"])
    assert probe == {"tables": expected_tables, "images": 6, "rendered": 6, "failed": 0}
    assert expected_tables >= 10
    assert report["path"].read_text(encoding="utf-8") == original  # the probe went into the copy only

    shot = tmp_path / "shot.png"
    done = _run_chromium(binary, tmp_path / "profile", "--hide-scrollbars", "--window-size=1200,1600",
                         f"--screenshot={shot}", report["path"].resolve().as_uri())
    assert done.returncode == 0 and shot.read_bytes()[:8] == PNG_MAGIC, done.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        gray = image.convert("L")
        assert gray.size == (1200, 1600)
        dark = sum(gray.histogram()[:200])
    assert dark > 0.01 * 1200 * 1600  # text, table borders and figures, not a blank page


def test_sweeps_section_lists_cells_with_status_attempts_and_errors(tmp_path):
    record = dict(solver="w2gn", pair="gaussian:2", dim=2, seed=0, steps_requested=10, batch_size=8, eval_every=5,
                  config={"solver": "w2gn", "pair": "gaussian:2", "seed": 0}, versions={}, status="finished",
                  steps_done=10, wall_time_s=1.0, train_time_s=1.0, evals=[(10, 1.0, {"l2_uvp_fwd": 2.5})], losses=[])
    with ResultStore(tmp_path / "s.sqlite") as store:
        store.register_cells("grid", [("cellA", {"solver": "w2gn", "pair": "gaussian:2", "seed": 0}),
                                      ("cellB", {"solver": "enot", "pair": "gaussian:2", "seed": 1})])
        store.record_cell("grid", "cellA", record, status="done", attempts=1)
        store.record_cell("grid", "cellB", None, status="failed", error="worker process 7 died (killed by SIGKILL)\nmore",
                          attempts=3)
        text = render_report(store)
    section = text[text.index('<section id="sweeps">'):]
    section = section[:section.index("</section>")]
    assert "2 cells: 1 done, 1 failed" in section
    assert "cellA" in section and "cellB" in section
    assert "worker process 7 died (killed by SIGKILL)" in section and "more" not in section
    assert '<span class="status-failed">failed</span>' in section and ">3<" in section
