"""``monge sweep FILE``: run a sweep file (TOML or YAML) locally or on Ray, resumably (:mod:`monge.run.sweep`)."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer

from monge.cli.main import DEFAULT_DB, _console, _handle_errors, app, reap_orphans
from monge.errors import InvalidInputError


@app.command("sweep")
@_handle_errors
def sweep(
    file: Path = typer.Argument(..., help="Sweep file (.toml, .yaml or .yml); see docs/sweeps.md."),
    db: Optional[Path] = typer.Option(None, "--db", help=f"SQLite results database (default: the file's "
                                      f"\\[output] db, else {DEFAULT_DB})."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for checkpoints and saved results (default: the "
                                       "file's \\[output] dir, else monge-sweeps/<name>)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="local (processes on this machine) or ray "
                                           "(default: the file's \\[executor] kind, else local)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Local worker processes at once (default: the "
                                          "file's, else one per CPU core); with Ray and no --address, the CPUs of "
                                          "the local Ray instance."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster to join: auto or HOST:PORT (default: "
                                          "the file's; none starts a local Ray instance)."),
    cpus_per_run: Optional[float] = typer.Option(None, "--cpus-per-run", help="Ray: CPUs each run reserves (default: "
                                                 "the file's num_cpus, else 1)."),
    gpus_per_run: Optional[float] = typer.Option(None, "--gpus-per-run", help="Ray: GPUs each run reserves, e.g. 1 "
                                                 "(default: the file's num_gpus, else 0)."),
    retries: Optional[int] = typer.Option(None, "--retries", help="Retries of a cell whose worker raised or died "
                                          "(default: the file's, else 2)."),
    pair_root: Optional[Path] = typer.Option(None, "--pair-root", help="Folder of published pair files (replaces the "
                                             "file's top-level pair_root)."),
    device: Optional[str] = typer.Option(None, "--device", help="Device of every run: cpu, cuda, cuda:N, mps or auto "
                                         "(default: the file's device, else cpu); resolved on the worker."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the cells (and which are already stored) without "
                                 "running anything."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No live progress bars: print a timestamped line "
                                     "per cell started, stored, retried or failed (for logs)."),
) -> None:
    """Run every cell of a sweep file that is not stored yet (finished cells are skipped, interrupted ones resume
    from their last checkpoint), then print the sweep's leaderboard."""
    from monge.results import ResultStore, leaderboard_tables, to_rich
    from monge.run.runner import validate_configs
    from monge.run.sweep import plan_cells, sweep_summary_lines
    from monge.config.run import cell_key
    from monge.config.sweep import load_sweep

    spec = load_sweep(file, pair_root=pair_root)
    if device is not None:
        from dataclasses import replace

        spec = replace(spec, runs=tuple(replace(r, device=device).validate() for r in spec.runs))
    settings = spec.executor
    kind = executor or settings.kind
    if kind not in ("local", "ray"):
        raise InvalidInputError(f"--executor must be local or ray, got {kind!r}")
    if workers is not None and workers <= 0:
        raise InvalidInputError(f"--workers must be a positive integer, got {workers}")
    for flag, value in (("--cpus-per-run", cpus_per_run), ("--gpus-per-run", gpus_per_run)):
        if value is not None and value < 0:
            raise InvalidInputError(f"{flag} must be a number >= 0, got {value}")
    if retries is not None and retries < 0:
        raise InvalidInputError(f"--retries must be an integer >= 0, got {retries}")
    db_path = db or spec.db or DEFAULT_DB
    out_dir = out or spec.out_dir or Path("monge-sweeps") / spec.name
    err = _console(stderr=True)
    if dry_run:
        validate_configs(spec.runs, on_device=False)
        cells = plan_cells(spec.runs)
        stored: dict[str, str] = {}
        if Path(db_path).exists():
            with ResultStore(db_path, create=False) as store:
                stored = {cell_key(c["config"]): c["status"] for c in store.cells(spec.name)}
        for key, cfg in cells:
            typer.echo(f"{key}  {stored.get(key, 'new'):<8} {cfg.display_name} on {cfg.pair} (seed {cfg.seed}), "
                       f"{_budget_text(cfg)}, batch {cfg.batch_size}")
        todo = sum(stored.get(k) != "done" for k, _ in cells)
        typer.echo(f"sweep {spec.name}: {len(cells)} cells, {todo} to run; database {db_path}, output {out_dir}")
        return
    validate_configs(spec.runs, on_device=False)  # bad names / options fail before the database is touched
    try:
        with _terminate_as_interrupt():
            outcome, rows = _run(spec, kind=kind, db_path=db_path, out_dir=out_dir, workers=workers, address=address,
                                 cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run, retries=retries,
                                 no_progress=no_progress, err=err)
    except KeyboardInterrupt as exc:
        what = "terminated" if isinstance(exc, _Terminated) else "interrupted"
        err.print(f"{what}: the cells already stored are in {db_path}; run the same command again to continue "
                  "(interrupted cells resume from their last checkpoint)", markup=False, highlight=False)
        raise typer.Exit(code=143 if isinstance(exc, _Terminated) else 130) from None
    for table in leaderboard_tables(rows, title=f"sweep {spec.name}"):
        _console().print(to_rich(table))
    for line in sweep_summary_lines(outcome):
        err.print(line, markup=False, highlight=False)
    err.print(f"results stored in {db_path}; checkpoints and saved results in {out_dir}", markup=False,
              highlight=False)
    if outcome.failed:
        raise typer.Exit(code=1)


def _run(spec, *, kind, db_path, out_dir, workers, address, cpus_per_run, gpus_per_run, retries, no_progress, err):
    """Run the sweep's cells with the chosen executor; returns the outcome and the leaderboard rows."""
    from monge.run.executors import make_executor
    from monge.results import ResultStore
    from monge.run.sweep import run_sweep

    settings = spec.executor
    with ResultStore(db_path) as store, make_executor(kind, workers=workers or settings.workers,
                                                      address=address or settings.address,
                                                      num_cpus=settings.num_cpus if cpus_per_run is None else cpus_per_run,
                                                      num_gpus=settings.num_gpus if gpus_per_run is None else gpus_per_run) as ex:
        reap_orphans(store)
        outcome = run_sweep(spec.name, spec.runs, store, out_dir=out_dir, executor=ex,
                            retries=settings.retries if retries is None else retries,
                            checkpoint_every=spec.checkpoint_every, threads_per_run=settings.threads_per_run,
                            progress=not no_progress, console=err,
                            log=(lambda line: err.print(line, markup=False, highlight=False)) if no_progress else None)
        return outcome, store.leaderboard(outcome.run_ids)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``, a scheduler's stop) arrived: stop like Ctrl-C."""


@contextmanager
def _terminate_as_interrupt():
    """Turn SIGTERM into :class:`_Terminated` while the sweep runs, so ``kill`` stops the workers and leaves
    the database consistent just as Ctrl-C does (a sweep started in the background ignores SIGINT)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _budget_text(cfg: Any) -> str:
    minutes = f"{cfg.time_budget_s / 60:g} min" if cfg.time_budget_s else None
    if cfg.steps is None:
        return f"{minutes} (steps planned by time)"
    return f"{cfg.steps} steps" + (f" or {minutes}" if minutes else "")
