"""Layering rules from the architecture: imports point down only; solvers never see ground truth."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import monge

PACKAGE = Path(monge.__file__).parent

# layer → packages it must not import (higher layers, and ground truth for solvers)
FORBIDDEN = {
    "samplers": {"nets", "conjugate", "solvers", "pairs", "metrics", "run", "plot", "cli", "apps"},
    "nets": {"samplers", "conjugate", "solvers", "pairs", "metrics", "run", "plot", "cli", "apps"},
    "conjugate": {"samplers", "solvers", "pairs", "metrics", "run", "plot", "cli", "apps"},
    "solvers": {"pairs", "metrics", "run", "plot", "cli", "apps"},
    "pairs": {"solvers", "run", "plot", "cli", "apps"},
    "metrics": {"run", "plot", "cli", "apps"},
    "plot": {"run", "cli", "apps"},
    "config": {"run", "plot", "cli", "apps"},             # configuration imports no execution and no results
    "results": {"solvers", "run", "plot", "cli", "apps", "config"},  # stored results import no solver
    "report": {"run", "cli", "apps"},
    "run": {"cli", "apps", "report"},
    "apps": {"cli"},
}
for _layer in ("samplers", "nets", "conjugate", "solvers", "pairs", "metrics", "plot", "config", "results"):
    FORBIDDEN[_layer] |= {"api", "estimator", "report"}  # the front door and the report sit on top
for _layer in ("samplers", "nets", "conjugate", "solvers", "pairs", "metrics", "plot", "config"):
    FORBIDDEN[_layer] |= {"results"}
for _layer in ("samplers", "nets", "conjugate", "solvers", "pairs", "metrics", "plot", "results"):
    FORBIDDEN[_layer] |= {"config"}
RENDERING = ("jinja2", "rich.table", "csv", "html", "markupsafe")
"""Modules that render tables or pages: only results/ (and the report, the CLI and the apps' own outputs) use them."""


def _imported_monge_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "monge" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_down_only(layer):
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no files in monge/{layer}"
    for file in files:
        bad = _imported_monge_packages(file) & FORBIDDEN[layer]
        assert not bad, f"{file.relative_to(PACKAGE)} imports monge.{sorted(bad)}"


def test_the_layer_check_catches_a_violation(tmp_path):
    offender = tmp_path / "bad.py"
    offender.write_text("from monge.pairs import GaussianPair\nimport monge.metrics\n")
    assert _imported_monge_packages(offender) == {"pairs", "metrics"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("layer", ["run", "config"])
def test_run_and_config_render_nothing(layer):
    """run/ is execution only and config/ configuration only: tables, pages and exports are results/'s job."""
    for file in sorted((PACKAGE / layer).rglob("*.py")):
        bad = {m for m in _imported_modules(file) if m.split(".")[0] in RENDERING or m in RENDERING}
        assert not bad, f"{file.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_no_html_is_written_by_hand():
    """HTML comes from Jinja2 templates with autoescaping, never from Python strings."""
    for file in sorted(PACKAGE.rglob("*.py")):
        text = file.read_text()
        for tag in ("<table", "<html", "<tr", "<td", "<div", "<figure", "<section"):
            assert tag not in text, f"{file.relative_to(PACKAGE)} writes {tag}> by hand"
