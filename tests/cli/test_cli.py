"""The ``monge`` command line: bench writes rows and plots, results lists them, bad input is one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monge.cli.main import app, main, parse_option
from monge.errors import InvalidInputError
from monge.results import ResultStore

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["--steps", "30", "--batch-size", "64", "--eval-every", "10", "--option", "hidden_sizes=[16, 16]",
        "--option", "pretrain_steps=50", "--no-progress"]

runner = CliRunner()


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    """One real W2GN bench (tiny budget) on a ground-truth pair and a toy pair, shared by several tests."""
    root = tmp_path_factory.mktemp("bench")
    result = runner.invoke(app, ["bench", "--solver", "w2gn", "--pair", "gaussian:2", "--pair", "toy:swiss_roll",
                                 "--db", str(root / "r.sqlite"), "--out", str(root / "plots"), *TINY])
    assert result.exit_code == 0, result.output
    return root, result


def test_bench_writes_rows(bench_dir):
    root, result = bench_dir
    with ResultStore(root / "r.sqlite") as store:
        runs = sorted(store.runs(), key=lambda r: r["id"])
        assert [(r["solver"], r["pair"], r["status"], r["steps_done"]) for r in runs] == [
            ("w2gn", "gaussian:2", "finished", 30), ("w2gn", "toy:swiss_roll", "finished", 30)] + [
            (f"baseline:{b}", "gaussian:2", "finished", 0) for b in ("identity", "constant", "linear", "discrete_ot")]
        assert runs[0]["config"]["solver_options"] == {"hidden_sizes": [16, 16], "pretrain_steps": 50}
        assert runs[0]["batch_size"] == 64 and runs[0]["eval_every"] == 10
        assert sorted({e["step"] for e in store.evals(runs[0]["id"])}) == [10, 20, 30]
        metrics = {e["metric"] for e in store.evals(runs[0]["id"])}
        assert {"l2_uvp_fwd", "l2_uvp_inv", "cos_fwd"} <= metrics
        assert "w2_ratio" in {e["metric"] for e in store.evals(runs[1]["id"])}
    # the leaderboard is printed on stdout
    assert "monge leaderboard" in result.stdout and "gaussian:2" in result.stdout and "W2 ratio" in result.stdout


def test_bench_without_progress_bars_prints_a_line_per_run_start_and_end(bench_dir):
    lines = bench_dir[1].stderr.splitlines()
    assert "[1/2] w2gn on gaussian:2 (seed 0): started" in lines
    done = next(line for line in lines if line.startswith("[1/2] w2gn on gaussian:2 (seed 0): finished"))
    assert "30 steps in" in done and "fwd L2-UVP" in done
    assert any(line.startswith("[2/2] w2gn on toy:swiss_roll (seed 0): finished, 30 steps") for line in lines)
    baselines = next(line for line in lines if line.startswith("baselines on gaussian:2 (seed 0): "))
    assert "identity: fwd L2-UVP" in baselines and "| discrete_ot: fwd L2-UVP" in baselines


def test_bench_writes_png_plots(bench_dir):
    root, _ = bench_dir
    files = sorted(p.name for p in (root / "plots").iterdir())
    assert files == ["convergence_gaussian_2.png", "convergence_toy_swiss_roll.png",
                     "map_1_w2gn_gaussian_2.png", "map_2_w2gn_toy_swiss_roll.png"]
    for name in files:
        data = (root / "plots" / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000


def test_results_lists_runs(bench_dir):
    root, _ = bench_dir
    db = str(root / "r.sqlite")
    result = runner.invoke(app, ["results", "--db", db])
    assert result.exit_code == 0, result.output
    assert "gaussian:2" in result.stdout and "toy:swiss_roll" in result.stdout and "finished" in result.stdout
    result = runner.invoke(app, ["results", "--db", db, "--pair", "toy:swiss_roll"])
    assert "toy:swiss_roll" in result.stdout and "gaussian:2" not in result.stdout
    result = runner.invoke(app, ["results", "--db", db, "--limit", "1"])  # newest: the last baseline row
    assert "baseline:discrete_ot" in result.stdout and "toy:swiss_roll" not in result.stdout
    result = runner.invoke(app, ["results", "--db", db, "--status", "diverged"])
    assert result.exit_code == 0 and "no runs" in result.stdout
    result = runner.invoke(app, ["results", "--db", db, "--solver", "w2gn", "--status", "finished"])
    assert result.stdout.count("w2gn") == 2


def test_results_export_markdown_csv_and_json(bench_dir):
    import csv
    import io
    import json

    root, _ = bench_dir
    db = str(root / "r.sqlite")
    with ResultStore(db) as store:
        rows = {r["id"]: r for r in store.leaderboard()}
    result = runner.invoke(app, ["results", "--db", db, "--format", "json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["run_id"] for r in records] == sorted(rows) and len({tuple(r) for r in records}) == 1  # same keys
    w2gn = next(r for r in records if r["solver"] == "w2gn" and r["pair"] == "gaussian:2")
    assert w2gn["final_l2_uvp_fwd"] == rows[w2gn["run_id"]]["final"]["l2_uvp_fwd"] and w2gn["steps_done"] == 30
    assert w2gn["best_cos_fwd"] == rows[w2gn["run_id"]]["best"]["cos_fwd"] and w2gn["published_l2_uvp_fwd"] == "<1"
    result = runner.invoke(app, ["results", "--db", db, "-f", "csv", "--solver", "w2gn"])
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["pair"], r["status"]) for r in table] == [("gaussian:2", "finished"), ("toy:swiss_roll", "finished")]
    assert float(table[0]["final_l2_uvp_fwd"]) == pytest.approx(w2gn["final_l2_uvp_fwd"]) and table[1]["final_l2_uvp_fwd"] == ""
    result = runner.invoke(app, ["results", "--db", db, "-f", "csv", "--status", "diverged"])  # no rows: header only
    assert result.exit_code == 0 and result.stdout.startswith("run_id,created_at,solver") and result.stdout.count("\n") == 1
    result = runner.invoke(app, ["results", "--db", db, "-f", "markdown", "--solver", "w2gn"])
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| # |"))
    assert lines[header + 1].startswith("|---:|---|---|---:|---|")
    body = [line for line in lines[header + 2:] if line.startswith("| ")]
    assert len(body) == 2 and "| finished |" in body[0] and "[green]" not in result.stdout
    headers = [h.strip() for h in lines[header].strip("|").split("|")]
    toy = [c.strip() for c in body[1].strip("|").split("|")]
    assert toy[2] == "toy:swiss_roll" and toy[headers.index("W2 ratio final")] != "—"
    result = runner.invoke(app, ["results", "--db", db, "--format", "xml"])
    assert result.exit_code == 1 and "unknown output format 'xml'; available: csv, json, markdown, table" in result.output


def test_results_shows_errors(tmp_path):
    db = tmp_path / "r.sqlite"
    with ResultStore(db) as store:
        rid = store.start_run(solver="w2gn", pair="gaussian:2", dim=2, seed=0, steps_requested=10, batch_size=8,
                              eval_every=5)
        store.finish_run(rid, "diverged", steps_done=3, error="training diverged at step 3: loss is nan")
    result = runner.invoke(app, ["results", "--db", str(db)])
    assert result.exit_code == 0
    assert "diverged" in result.stdout and "training diverged at step 3: loss is nan" in result.stdout


def test_preset_overridden_by_flags(tmp_path):
    db = tmp_path / "r.sqlite"
    result = runner.invoke(app, ["bench", "--preset", "quick", "--pair", "gaussian:2", "--steps", "5",
                                 "--eval-every", "5", "--seed", "1", "--seed", "2", "--db", str(db),
                                 "--option", "pretrain_steps=0", "--option", "hidden_sizes=[8]", "--no-progress",
                                 "--no-baselines"])
    assert result.exit_code == 0, result.output
    with ResultStore(db) as store:
        runs = store.runs()
    from monge.config.preset import get_preset

    assert sorted((r["pair"], r["seed"], r["steps_requested"]) for r in runs) == [("gaussian:2", 1, 5), ("gaussian:2", 2, 5)]
    assert all(r["batch_size"] == get_preset("quick").batch_size for r in runs)


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("monge ")


BAD_INPUTS = [
    (["--solver", "no-such-solver", "--pair", "gaussian:2"], "unknown solver 'no-such-solver'"),
    (["--pair", "no-such-pair:3"], "unknown pair 'no-such-pair:3'"),
    (["--pair", "toy:no_such_toy"], "toy:no_such_toy"),
    (["--pair", "gaussian:x"], "gaussian:x"),
    (["--pair", "gaussian:2", "--option", "hidden_sizes"], "bad --option 'hidden_sizes'"),
    (["--pair", "gaussian:2", "--option", "no_such_option=1"], "no_such_option"),
    (["--pair", "gaussian:2", "--preset", "nope"], "unknown preset 'nope'"),
    (["--pair", "gaussian:2", "--steps", "0"], "steps must be a positive integer"),
    (["--pair", "gaussian:2", "--threads", "0"], "--threads must be a positive integer"),
    ([], "no pair given"),
]


@pytest.mark.parametrize("args,needle", BAD_INPUTS, ids=[b[1][:24] for b in BAD_INPUTS])
def test_bad_input_is_one_line(tmp_path, args, needle):
    db = tmp_path / "r.sqlite"
    result = runner.invoke(app, ["bench", "--db", str(db), "--no-progress", *args])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not db.exists()  # detected before anything is stored or trained


def test_unwritable_db_path(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    db = blocker / "sub" / "r.sqlite"
    result = runner.invoke(app, ["bench", "--db", str(db), "--pair", "gaussian:2", *TINY])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(db) in lines[0]


def test_db_that_is_a_directory_or_not_sqlite(tmp_path):
    result = runner.invoke(app, ["results", "--db", str(tmp_path)])
    assert result.exit_code == 1 and "is a directory" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"definitely not sqlite" * 50)
    result = runner.invoke(app, ["results", "--db", str(junk)])
    assert result.exit_code == 1 and "junk.sqlite" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    result = runner.invoke(app, ["results", "--db", str(tmp_path / "missing.sqlite")])
    assert result.exit_code == 1 and "no such file" in result.stderr


def test_usage_errors_stay_with_typer(tmp_path):
    result = runner.invoke(app, ["bench", "--steps", "many"])
    assert result.exit_code == 2 and "--steps" in result.output


def test_main_returns_exit_code(tmp_path, capsys):
    code = main(["bench", "--solver", "nope", "--pair", "gaussian:2", "--db", str(tmp_path / "r.sqlite")])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown solver 'nope'")
    assert main(["--version"]) == 0


def test_parse_option():
    assert parse_option("lr=1e-3") == ("lr", 1e-3)
    assert parse_option("hidden_sizes=[64, 64]") == ("hidden_sizes", [64, 64])
    assert parse_option("activation=celu") == ("activation", "celu")
    assert parse_option("stop_gradient=false") == ("stop_gradient", False)
    for bad in ("novalue", "=3", "not-an-id=1"):
        with pytest.raises(InvalidInputError):
            parse_option(bad)


def test_subprocess_bad_input_one_line(tmp_path):
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "monge", "bench", "--solver", "no-such-solver", "--pair", "gaussian:2",
         "--db", str(tmp_path / "r.sqlite"), "--no-progress"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: unknown solver 'no-such-solver'") and "w2gn" in lines[0]
    assert proc.stdout == ""


def test_pairs_list_describes_every_family():
    from typer.testing import CliRunner

    from monge.cli.main import app

    result = CliRunner().invoke(app, ["pairs", "list"])
    assert result.exit_code == 0, result.output
    assert "gaussian:<dim>" in result.output and "toy:<name>" in result.output
    assert "ICLR 2021" in result.output and "needs --pair-root" in result.output
    gaussian_row = next(line for line in result.output.splitlines() if "gaussian:<dim>" in line)
    assert "│ 3 " in gaussian_row                                     # the Gaussian family's construction version


def test_dims_and_budget_minutes_and_published_column(tmp_path):
    from helpers import shared_data

    root = shared_data("w2bench")
    db = tmp_path / "r.sqlite"
    result = runner.invoke(app, ["bench", "--preset", "w2-hd", "--solver", "w2gn", "--pair-root", str(root), "--dims", "2",
                                 "--steps", "5",
                                 "--eval-every", "5", "--batch-size", "32", "--budget-minutes", "1", "--db", str(db),
                                 "--option", "hidden_sizes=[8, 8]", "--option", "pretrain_steps=0",
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    with ResultStore(db) as store:
        runs = store.runs()
    assert {r["pair"] for r in runs} == {"w2b-mix:2"}
    assert all(r["config"].get("time_budget_s") == 60.0 for r in runs if r["solver"] == "w2gn")
    assert "published fwd" in result.stdout and "14.1" in result.stdout and "NeurIPS 2021" in result.stdout
    both = runner.invoke(app, ["bench", "--pair", "gaussian:2", "--time-budget", "5", "--budget-minutes", "1",
                               "--db", str(db)])
    assert both.exit_code == 1 and "not both" in both.output


def test_bench_with_the_auto_solver(tmp_path):
    """``monge bench --solver auto`` stores the run under "auto", with the chosen solver and its reason."""
    db = tmp_path / "r.sqlite"
    result = runner.invoke(app, ["bench", "--solver", "auto", "--pair", "gaussian:2", "--steps", "20",
                                 "--batch-size", "64", "--eval-every", "20", "--db", str(db), "--no-progress",
                                 "--no-baselines"])
    assert result.exit_code == 0, result.output
    with ResultStore(db) as store:
        (run,) = store.runs()
        assert (run["solver"], run["status"], run["steps_done"]) == ("auto", "finished", 20)
        settings = run["config"]["solver_settings"]
        assert settings["chosen_solver"] == "enot" and settings["hidden_sizes"] == [64, 64, 64]
        assert settings["compile"] is False and "ENOT for D=2" in settings["reason"]
        l2 = [e["value"] for e in store.evals(run["id"]) if e["metric"] == "l2_uvp_fwd"]
        assert len(l2) == 1 and 0 <= l2[0] < 200
    assert "auto" in result.stdout


def test_bench_with_a_time_budget_and_no_steps_plans_the_steps(tmp_path):
    """``--budget-minutes`` without ``--steps``: the run is planned by time (stored with 0 steps requested) and
    auto's reason names the budget."""
    db = tmp_path / "r.sqlite"
    result = runner.invoke(app, ["bench", "--solver", "auto", "--pair", "gaussian:2", "--budget-minutes", "0.04",
                                 "--batch-size", "64", "--db", str(db), "--no-progress", "--no-baselines"])
    assert result.exit_code == 0, result.output
    with ResultStore(db) as store:
        (run,) = store.runs()
    assert run["status"] in ("finished", "stopped") and run["steps_requested"] == 0 and run["steps_done"] > 10
    assert "2.4 s budget" in run["config"]["solver_settings"]["reason"]


def test_bench_exits_non_zero_and_names_the_runs_without_a_result(tmp_path):
    db = tmp_path / "r.sqlite"
    result = runner.invoke(app, ["bench", "--solver", "w2gn", "--pair", "gaussian:2", "--steps", "100", "--batch-size",
                                 "64", "--option", "lr=1e12", "--option", "hidden_sizes=[8, 8]", "--option",
                                 "pretrain_steps=0", "--db", str(db), "--no-progress", "--no-baselines"])
    assert result.exit_code == 1
    assert "1 of 1 runs did not give a result: run 1 (w2gn on gaussian:2, seed 0) diverged" in result.stderr
    with ResultStore(db) as store:
        (run,) = store.runs()
    assert run["status"] == "diverged"


def _row_count(db: Path) -> int:
    with ResultStore(db) as store:
        return len(store.runs())


def test_identical_bench_reuses_its_runs_and_rerun_trains_them_again(tmp_path):
    db = tmp_path / "r.sqlite"
    command = ["bench", "--solver", "w2gn", "--pair", "gaussian:2", "--db", str(db), *TINY]
    first = runner.invoke(app, command)
    assert first.exit_code == 0, first.output
    assert _row_count(db) == 1 + 4 and "reused" not in first.stderr  # the run and its 4 baselines
    second = runner.invoke(app, command)
    assert second.exit_code == 0, second.output
    assert _row_count(db) == 5  # nothing stored twice
    assert "1 of 1 runs were already stored with the same configuration and were reused (runs 1); pass --rerun" \
        in second.stderr
    assert "baseline:identity" in second.stdout and "w2gn" in second.stdout  # the leaderboard is still printed
    changed = runner.invoke(app, [*command, "--seed", "1"])
    assert changed.exit_code == 0 and _row_count(db) == 5 + 5  # another seed: another run and other baselines
    rerun = runner.invoke(app, [*command, "--rerun"])
    assert rerun.exit_code == 0, rerun.output
    assert _row_count(db) == 10 + 5 and "reused" not in rerun.stderr


def test_bench_keep_results_then_report_shows_the_2d_map(tmp_path):
    from html.parser import HTMLParser

    db, kept, html = tmp_path / "r.sqlite", tmp_path / "kept", tmp_path / "report.html"
    result = runner.invoke(app, ["bench", "--solver", "w2gn", "--pair", "gaussian:2", "--db", str(db),
                                 "--keep-results", str(kept), "--no-baselines", *TINY])
    assert result.exit_code == 0, result.output
    assert f"fitted results saved under {kept}" in result.stderr
    with ResultStore(db) as store:
        (run,) = store.runs()
    assert run["config"]["result_dir"] == str((kept / "run1_w2gn_gaussian_2_seed0").resolve())
    assert (kept / "run1_w2gn_gaussian_2_seed0" / "result.json").is_file()
    report = runner.invoke(app, ["report", "--db", str(db), "--out", str(html)])
    assert report.exit_code == 0, report.output

    class Images(HTMLParser):
        def __init__(self):
            super().__init__()
            self.alts, self.notes, self._in_note = [], [], False

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "img":
                self.alts.append(attrs.get("alt"))
            self._in_note = tag == "p" and attrs.get("class") == "note"

        def handle_data(self, data):
            if self._in_note:
                self.notes.append(data)

    parser = Images()
    text = html.read_text(encoding="utf-8")
    parser.feed(text)
    assert "run 1: w2gn on gaussian:2 (seed 0)" in parser.alts  # the 2-D map figure of the kept result
    assert "convergence on gaussian:2" in parser.alts and parser.notes == []
    maps = text[text.index('<section id="maps">'):]
    assert maps.index("data:image/png;base64,") < maps.index("</section>")
