"""``monge report``: write a self-contained HTML report of a results database (:mod:`monge.report`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from monge.cli.main import DEFAULT_DB, _handle_errors, app, reap_orphans
from monge.errors import InvalidInputError


@app.command("report")
@_handle_errors
def report(
    db: Path = typer.Option(DEFAULT_DB, "--db", help="SQLite results database (must exist)."),
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML file to write (its folder is created)."),
    title: Optional[str] = typer.Option(None, "--title", help="Page title (default: monge report: <db name>)."),
    run_id: Optional[List[int]] = typer.Option(None, "--run-id", help="Only this run (repeatable; default: all)."),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="Only the runs of this sweep (`monge sweep`)."),
) -> None:
    """Write one self-contained HTML file (inline CSS, embedded PNGs) with leaderboards per pair family,
    convergence curves, 2-D maps of saved results, every run's configuration and the versions used;
    print its path."""
    from monge.report import write_report
    from monge.results import ResultStore

    with ResultStore(db, create=False) as store:
        reap_orphans(store)
        run_ids = list(run_id or [])
        if sweep is not None:
            names = store.sweeps()
            if sweep not in names:
                raise InvalidInputError(f"no sweep {sweep!r} in {db}; sweeps stored: {', '.join(names) or 'none'}")
            run_ids += [c["run_id"] for c in store.cells(sweep) if c["run_id"] is not None]
            if not run_ids:
                raise InvalidInputError(f"sweep {sweep!r} has no stored runs yet")
        path = write_report(store, out, title=title, run_ids=run_ids or None)
    typer.echo(str(path))
