"""The documentation site (guides in docs/ and the API reference generated from docstrings) builds with
warnings as errors, and the README's links into docs/ point at files that exist."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

from helpers import REPO_ROOT


def test_mkdocs_builds_strict(tmp_path):
    missing = [name for name in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python")
               if importlib.util.find_spec(name.split(".")[0]) is None]
    assert not missing, f"the docs build needs {missing}: pip install -e '.[docs]' (the test extra includes it)"
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    fit_page = site / "api" / "fit" / "index.html"
    assert fit_page.is_file(), sorted(p.relative_to(site).as_posix() for p in site.rglob("index.html"))
    html = fit_page.read_text()
    assert "monge.api.fit" in html and "time_budget" in html
    for page in ("solvers", "pairs", "sweeps", "reproducing", "benchmarks", "api/estimator"):
        assert (site / page / "index.html").is_file(), page


def test_readme_links_into_docs_exist():
    text = (REPO_ROOT / "README.md").read_text()
    links = re.findall(r"\]\(((?:docs/)[^)#\s]+)", text)
    assert links, "README links no guide in docs/"
    missing = [link for link in links if not (REPO_ROOT / link).exists()]
    assert not missing, f"README links to missing files: {missing}"
