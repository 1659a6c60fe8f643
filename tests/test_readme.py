"""The README's Python example runs as written and reaches what it claims."""

from __future__ import annotations

import re

from helpers import REPO_ROOT


def test_readme_python_example(tmp_path, monkeypatch, capsys):
    text = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    metrics = namespace["monge"].evaluate(namespace["result"], namespace["pair"], generator=namespace["g"])
    assert metrics["l2_uvp_fwd"] < 1.0 and metrics["cos_fwd"] > 0.99
    assert (tmp_path / "runs" / "w2gn-g16" / "result.json").is_file()
    x = namespace["x"][:5]
    assert (namespace["same"].forward(x) == namespace["result"].forward(x)).all()
    assert "l2_uvp_fwd" in capsys.readouterr().out


def test_solver_guide_lists_every_registered_solver():
    """docs/solvers.md, which the README links, names every registered solver (in backticks)."""
    from monge.solvers import available_solvers

    assert "(docs/solvers.md)" in (REPO_ROOT / "README.md").read_text(), "README does not link docs/solvers.md"
    text = (REPO_ROOT / "docs" / "solvers.md").read_text()
    missing = [name for name in available_solvers() if f"`{name}`" not in text]
    assert not missing, f"docs/solvers.md's solver tables lack {missing}"


def test_readme_results_example_prints_markdown_tables(tmp_path, monkeypatch, capsys):
    """The README's ``monge.results`` block reads a database and prints its leaderboard as Markdown."""
    from monge.results import ResultStore

    block = next(b for b in re.findall(r"```python\n(.*?)```", (REPO_ROOT / "README.md").read_text(), re.S)
                 if "from monge.results import" in b)
    monkeypatch.chdir(tmp_path)
    with ResultStore("results.sqlite") as store:
        run = store.start_run(solver="w2gn", pair="w2b-mix:2", dim=2, seed=0, steps_requested=10, batch_size=8,
                              eval_every=10)
        store.log_eval(run, 10, 1.0, {"l2_uvp_fwd": 0.25, "cos_fwd": 0.99})
        store.finish_run(run, "finished", steps_done=10)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "| # | solver | pair |" in out and "| 0.25 |" in out and "| 0.1 |" in out   # ours and the published
