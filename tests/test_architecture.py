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
    "config": {"run", "plot", "cli", "apps", "api", "estimator"},
    "run": {"cli", "apps"},
    "apps": {"cli"},
}
for _layer in ("samplers", "nets", "conjugate", "solvers", "pairs", "metrics", "plot"):
    FORBIDDEN[_layer] |= {"api", "estimator"}          # the Python front door sits on top, beside run/ and apps/


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
