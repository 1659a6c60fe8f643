"""The command line's help pages: built without PyTorch, metavars instead of type tags, named arguments.

Start-up *time* is measured by ``benchmarks/cli_startup.py``, never here; these tests check what makes it fast (no
heavy module is imported to show help) and what the pages say.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperArgument, TyperOption
from typer.testing import CliRunner

from monge.cli.main import app

SRC = Path(__file__).resolve().parents[2] / "src"
WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}
# the type tags typer prints when a parameter has no metavar: <bool>, <int>, <list[str]>, <path>...
TYPE_TAG = re.compile(r"<(?:bool|str|int|float|path|list\[\w+\])>")
# packages that only the commands themselves may import (never their help pages)
HEAVY = ("torch", "numpy", "scipy", "matplotlib", "ot", "sklearn", "PIL", "pandas", "ray",
         "monge.solvers", "monge.run", "monge.apps", "monge.pairs", "monge.nets", "monge.samplers",
         "monge.metrics", "monge.plot", "monge.conjugate", "monge.api", "monge.estimator")


def command_paths(command=None, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the CLI, the root ``()`` and groups included (``("pairs", "build")``...)."""
    command = typer.main.get_command(app) if command is None else command
    paths = [prefix]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        paths += command_paths(sub, (*prefix, name))
    return paths


def resolve(path: tuple[str, ...]):
    """The click command at ``path``, looked up as the CLI does (so its ``--help`` option exists)."""
    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name="monge")
    for name in path:
        command = command.get_command(ctx, name)
        ctx = typer.Context(command, info_name=name, parent=ctx)
    return command, ctx


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


PATHS = command_paths()


def test_every_command_is_listed():
    assert {("bench",), ("results",), ("solvers",), ("sweep",), ("report",), ("color-transfer",),
            ("image-map",), ("pairs", "list"), ("pairs", "build")} <= set(PATHS)


def test_help_pages_import_neither_torch_nor_the_library():
    """In a fresh interpreter: importing the CLI and rendering every help page leaves the heavy modules out."""
    script = f"""
import contextlib, io, json, sys
from typer.testing import CliRunner
from monge.cli.main import app, main
imported_by_cli = sorted(sys.modules)
paths = {json.dumps([list(p) for p in PATHS])}
codes = [CliRunner().invoke(app, [*p, "--help"]).exit_code for p in paths]
with contextlib.redirect_stdout(io.StringIO()) as out:
    codes.append(main(["bench", "--help"]))
print(json.dumps({{"codes": codes, "cli": imported_by_cli, "after": sorted(sys.modules),
                   "bench_help": out.getvalue()}}))
"""
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["codes"] == [0] * (len(PATHS) + 1)
    assert "--time-budget" in report["bench_help"]
    for stage in ("cli", "after"):
        heavy = [m for m in report[stage] if m in HEAVY or m.startswith(tuple(f"{h}." for h in HEAVY))]
        assert not heavy, f"{stage}: {heavy}"
    assert "torch" not in report["after"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "monge")
def test_help_shows_no_type_tags(path):
    text = help_text(path)
    assert "--help" in text
    assert not TYPE_TAG.findall(text), text


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "monge")
def test_flags_have_no_metavar_and_valued_options_have_one(path):
    command, ctx = resolve(path)
    options = [p for p in command.get_params(ctx) if isinstance(p, TyperOption)]
    assert any(o.opts == ["--help"] for o in options)
    for option in options:
        shown = option.display_type_rich(ctx)
        if option.is_flag:
            assert not shown, (option.opts, shown)
        else:
            assert shown and "<" not in shown and shown == shown.upper(), (option.opts, shown)


def test_help_rows_read_as_usage():
    """The rows of ``monge bench --help``: flags alone, valued options followed by their metavar."""
    text = help_text(("bench",))
    for row in (r"--steps\s+N\s+Training steps", r"--db\s+PATH\s+SQLite", r"--option\s+-o\s+KEY=VALUE\s+Solver",
                r"--pair\s+-p\s+SPEC\s+Pair spec", r"--time-budget\s+SECONDS\s+Training budget",
                r"--no-progress\s+Print one plain line", r"--baselines\s+--no-baselines\s+Also score", r"--help\s+Show this"):
        assert re.search(row, text), row
    root = help_text(())
    assert re.search(r"--version\s+Print the version", root) and re.search(r"--help\s+Show this", root)


def test_color_transfer_names_its_arguments():
    text = help_text(("color-transfer",))
    assert "Usage: monge color-transfer [OPTIONS] {SOURCE} {REFERENCE} {OUT}" in text
    for name, words in (("SOURCE", "Image to recolour"), ("REFERENCE", "Image whose colours to take"),
                        ("OUT", "Output image")):
        assert re.search(rf"\*\s+{name}\s+{words}", text), name


@pytest.mark.parametrize("path", [p for p in PATHS if p], ids=" ".join)
def test_every_argument_has_a_name_and_a_help_text(path):
    command, _ = resolve(path)
    arguments = [p for p in command.params if isinstance(p, TyperArgument)]
    text = help_text(path) if arguments else ""
    for argument in arguments:
        assert argument.help, f"{path}: argument {argument.name} has no help text"
        assert argument.metavar == argument.name.upper()
        assert re.search(rf"\s{argument.metavar}\s+{re.escape(argument.help[:20])}", text), argument.metavar


@pytest.mark.parametrize("path", [p for p in PATHS if p], ids=" ".join)
def test_command_summaries_are_not_broken_at_source_lines(path):
    """Typer keeps a docstring's line breaks in rich help; the group folds them, so summaries wrap to the
    terminal instead of breaking where the source line ended (paragraphs stay apart)."""
    command, _ = resolve(path)
    assert command.help and all("\n" not in paragraph for paragraph in command.help.split("\n\n"))
    if path == ("report",):
        assert "every run's configuration and the versions used; print its path." in command.help


def test_rich_markup_does_not_eat_sweep_file_sections():
    text = help_text(("sweep",))
    assert "the file's [output] db" in text and "the file's [executor] kind" in text
