"""The ``monge`` command line: ``monge bench`` runs solvers on pairs, ``monge results`` lists stored runs,
``monge pairs list`` describes the pair families.

Every error monge raises on purpose (:class:`~monge.errors.MongeError`) is printed as one line
``error: <message>`` on stderr with exit code 1, without a traceback; usage errors are reported by typer.
"""

from __future__ import annotations

import importlib
import json
import sys
from functools import wraps
from pathlib import Path
from typing import Any, Callable, List, Optional, TypeVar

import typer

from monge.cli._help import MongeGroup
from monge.errors import InvalidInputError, MongeError, UnknownNameError

DEFAULT_DB = Path("monge-results.sqlite")

app = typer.Typer(
    name="monge",
    help="Neural optimal transport solvers, benchmarked against ground truth.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=MongeGroup,  # help pages show metavars (--steps N), not type tags (--steps <int>)
)

F = TypeVar("F", bound=Callable[..., Any])


def _version() -> str:
    from monge._version import __version__

    return __version__


def error_line(exc: BaseException) -> str:
    """The single line printed for ``exc``: ``error: <message>`` with newlines folded into spaces."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    return f"error: {message}"


def _handle_errors(func: F) -> F:
    """Turn a :class:`MongeError` raised by a command into one ``error:`` line and exit code 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MongeError as exc:
            typer.echo(error_line(exc), err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"monge {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Neural optimal transport solvers, benchmarked against ground truth."""


def _with_dims(pairs: list[str], dims: list[int]) -> list[str]:
    """Every ``family:<D>`` or ``family:<D>:<rest>`` spec in ``pairs`` once per dimension in ``dims`` (the first
    number after the family is the dimension; other specs unchanged)."""
    if any(d <= 0 for d in dims):
        raise InvalidInputError(f"--dims must be positive integers, got {dims}")
    out: list[str] = []
    for spec in pairs:
        family, sep, arg = spec.partition(":")
        first, sep2, rest = arg.partition(":")
        tail = f":{rest}" if sep2 else ""
        candidates = [f"{family}:{d}{tail}" for d in dims] if sep and first.strip().isdigit() else [spec]
        out.extend(c for c in candidates if c not in out)
    return out


DEFAULT_W2_SOLVER = "w2gn"
DEFAULT_W1_SOLVER = "wgan-lp"


def _default_solver(pairs: list[str], pair_root: Path | None) -> str:
    """The solver ``monge bench --pair ...`` runs without ``--solver``: W2GN, or WGAN-LP when every pair carries
    W1 ground truth."""
    from monge.pairs import make_pair

    costs = {getattr(make_pair(spec, root=pair_root), "cost", None) for spec in pairs}
    return DEFAULT_W1_SOLVER if costs == {"w1"} else DEFAULT_W2_SOLVER


def parse_option(text: str) -> tuple[str, Any]:
    """Parse one ``--option KEY=VALUE``; VALUE is JSON when it parses (``3``, ``[64,64]``, ``true``), else a string.

    Raises :class:`InvalidInputError` naming the option when there is no ``=`` or the key is not an identifier.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InvalidInputError(f"bad --option {text!r}: expected KEY=VALUE (e.g. --option lr=1e-3)")
    if not key.isidentifier():
        raise InvalidInputError(f"bad --option {text!r}: {key!r} is not a valid option name")
    raw = raw.strip()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def set_threads(threads: int | None) -> None:
    """Apply a ``--threads`` option: torch's CPU thread count, left alone when ``None``."""
    if threads is None:
        return
    if threads <= 0:
        raise InvalidInputError(f"--threads must be a positive integer, got {threads}")
    import torch

    torch.set_num_threads(threads)


def reap_orphans(store: Any) -> list[int]:
    """Mark ``interrupted`` the stored runs whose process died (:meth:`ResultStore.reap_orphans`) and say so on
    stderr; every command that opens a database calls it first."""
    ids = store.reap_orphans()
    if ids:
        typer.echo(f"note: run{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))} of {store.path} stopped "
                   f"without ending (the process that ran {'them' if len(ids) > 1 else 'it'} is gone): marked "
                   f"interrupted", err=True)
    return ids


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console = Console(stderr=stderr, width=max(console.width, 200))
    return console


@app.command()
@_handle_errors
def bench(
    solver: Optional[List[str]] = typer.Option(None, "--solver", "-s", help="Solver name (repeatable; `monge solvers` lists them). Default: the preset's; "
                                                           "without a preset w2gn, or wgan-lp when every pair has W1 ground truth."),
    pair: Optional[List[str]] = typer.Option(None, "--pair", "-p", metavar="SPEC",
                                             help="Pair spec such as gaussian:16 or toy:swiss_roll (repeatable)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Training steps per run (default 1000; with a time "
                                        "budget and no --steps, each run plans its steps to end inside the budget)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size (default 256)."),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Evaluate every N steps (default steps/5)."),
    eval_samples: Optional[int] = typer.Option(None, "--eval-samples", help="Samples per evaluation (default 4096)."),
    seed: Optional[List[int]] = typer.Option(None, "--seed", help="Seed (repeatable) (default 0)."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help="SQLite results database."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for PNG plots (convergence, 2-D maps)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Named preset (e.g. quick); flags override it."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", metavar="KEY=VALUE",
                                               help="Solver option KEY=VALUE (repeatable; VALUE parsed as JSON)."),
    time_budget: Optional[float] = typer.Option(None, "--time-budget", metavar="SECONDS",
                                                help="Training budget per run in seconds: the solver measures its "
                                                "step rate and plans its steps and learning-rate schedule to end "
                                                "inside it (--steps, if given, caps them)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Print one plain line as each run starts and "
                                     "ends instead of progress bars (for logs)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads (default: the preset's, else torch's "
                                          "choice; 1 is often fastest for small networks or on a busy machine)."),
    pair_root: Optional[Path] = typer.Option(None, "--pair-root", help="Folder of published pair files "
                                             "(for w2b-mix:<D> and w1b-funnel:<D>:<N>; see `monge pairs list`)."),
    dims: Optional[List[int]] = typer.Option(None, "--dims", help="Dimension (repeatable): replaces the dimension "
                                             "of every pair spec of the form family:<D> (e.g. --preset w2-hd --dims 2 "
                                             "--dims 16)."),
    budget_minutes: Optional[float] = typer.Option(None, "--budget-minutes", metavar="MINUTES",
                                                   help="Training budget per run in minutes (--time-budget × 60)."),
    device: str = typer.Option("cpu", "--device", help="Device of the runs: cpu, cuda, cuda:N, mps, or auto (CUDA "
                               "when available)."),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines",
                                   help="Also score and store the identity, constant, linear and discrete-OT "
                                        "baselines of every pair with ground truth."),
    keep_results: Optional[Path] = typer.Option(None, "--keep-results", metavar="DIR",
                                                help="Save each run's fitted maps (or critic) under DIR and record "
                                                     "the folder in the database, so that `monge report` draws the "
                                                     "2-D maps."),
    rerun: bool = typer.Option(False, "--rerun", help="Train every run again even when an identical finished run "
                               "is already stored (by default such runs, and the baselines, are reused)."),
) -> None:
    """Train solvers on pairs, evaluate them, store the runs and print a leaderboard.

    A run whose identical configuration (solver, options, pair, seed, budget...) is already stored and finished is
    reused, not trained again; --rerun trains it anew."""
    from monge.config.preset import custom_preset, get_preset
    from monge.results import ResultStore, leaderboard_tables, to_rich
    from monge.run.runner import run_bench, validate_configs

    if threads is not None and threads <= 0:
        raise InvalidInputError(f"--threads must be a positive integer, got {threads}")
    options = dict(parse_option(o) for o in option or [])
    if preset is not None:
        base = get_preset(preset)
    else:
        if not pair:
            raise InvalidInputError("no pair given: pass --pair SPEC (e.g. --pair gaussian:2) or --preset NAME")
        base = custom_preset(solver or [_default_solver(pair, pair_root)], pair)
    if budget_minutes is not None:
        if time_budget is not None:
            raise InvalidInputError("pass either --time-budget (seconds) or --budget-minutes, not both")
        time_budget = budget_minutes * 60.0
    if dims:
        pair = _with_dims(list(pair or base.pairs), dims)
    threads = threads if threads is not None else base.threads
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    configs = base.configs(solvers=solver, pairs=pair, seeds=seed, steps=steps, batch_size=batch_size,
                           eval_every=eval_every, eval_samples=eval_samples, time_budget_s=time_budget,
                           options=options, pair_root=None if pair_root is None else str(pair_root))
    from dataclasses import replace

    if time_budget is not None and steps is None:
        configs = [replace(c, steps=None) for c in configs]      # the budget alone plans each run's steps
    if device != "cpu":
        configs = [replace(c, device=device) for c in configs]
    validate_configs(configs)  # unknown names / bad options / missing devices fail before the database is touched
    err = _console(stderr=True)
    with ResultStore(db) as store:
        reap_orphans(store)
        summaries = run_bench(configs, store, out_dir=out, progress=not no_progress, console=err, baselines=baselines,
                              keep_results=keep_results, reuse=not rerun)
    for table in leaderboard_tables(summaries):
        _console().print(to_rich(table))
    for s in summaries:
        if s.error:
            err.print(f"run {s.run_id} ({s.solver} on {s.pair}, seed {s.seed}) {s.status}: {s.error}",
                      markup=False, highlight=False)
    reused = [s for s in summaries if s.reused and not s.solver.startswith("baseline:")]
    if reused:
        err.print(f"{len(reused)} of {len(configs)} runs were already stored with the same configuration and were "
                  f"reused (runs {', '.join(str(s.run_id) for s in reused)}); pass --rerun to train them again",
                  markup=False, highlight=False)
    if out is not None:
        err.print(f"plots written to {out}", markup=False, highlight=False)
    if keep_results is not None:
        err.print(f"fitted results saved under {keep_results}", markup=False, highlight=False)
    err.print(f"results stored in {db}", markup=False, highlight=False)
    bad = [s for s in summaries if s.status in ("failed", "diverged")]
    if bad:
        err.print(f"{len(bad)} of {len(configs)} runs did not give a result: "
                  + ", ".join(f"run {s.run_id} ({s.solver} on {s.pair}, seed {s.seed}) {s.status}" for s in bad),
                  markup=False, highlight=False)
        raise typer.Exit(1)


@app.command()
@_handle_errors
def results(
    db: Path = typer.Option(DEFAULT_DB, "--db", help="SQLite results database."),
    solver: Optional[str] = typer.Option(None, "--solver", help="Only runs of this solver."),
    pair: Optional[str] = typer.Option(None, "--pair", metavar="SPEC", help="Only runs on this pair spec."),
    status: Optional[str] = typer.Option(None, "--status", help="Only runs with this status "
                                         "(running, finished, diverged, failed, stopped)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Show at most N runs (the newest)."),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="Only the runs of this sweep (`monge sweep`)."),
    output_format: str = typer.Option("table", "--format", "-f", help="table (rich, default), markdown (the same "
                                      "columns as GitHub tables), csv or json (one flat record per run with every "
                                      "final_/best_ metric and the published numbers)."),
) -> None:
    """List stored runs with their final and best metrics."""
    from monge.results import FORMATS, STATUSES, ResultStore, leaderboard_tables, records_table, render, to_rich

    if output_format not in FORMATS:
        raise UnknownNameError("output format", output_format, FORMATS)
    if status is not None and status not in STATUSES:
        raise InvalidInputError(f"unknown status {status!r}; available: {', '.join(STATUSES)}")
    if limit is not None and limit <= 0:
        raise InvalidInputError(f"--limit must be a positive integer, got {limit}")
    with ResultStore(db, create=False) as store:
        reap_orphans(store)
        run_ids = None
        if sweep is not None:
            if sweep not in store.sweeps():
                raise InvalidInputError(f"no sweep {sweep!r} in {db}; sweeps stored: {', '.join(store.sweeps()) or 'none'}")
            run_ids = [c["run_id"] for c in store.cells(sweep) if c["run_id"] is not None]
        rows = store.leaderboard(run_ids, solver=solver, pair=pair, status=status, limit=limit)
    if output_format in ("csv", "json"):
        typer.echo(render(records_table(rows), output_format), nl=False)
        if output_format == "json":
            typer.echo()
        return
    if not rows:
        typer.echo(f"no runs stored in {db} match")
        return
    for table in leaderboard_tables(rows, title=f"runs in {db}"):
        if output_format == "markdown":
            typer.echo(render(table, "markdown"))
        else:
            _console().print(to_rich(table))
    for row in rows:
        if row.get("error"):
            typer.echo(f"run {row['id']} ({row['solver']} on {row['pair']}, seed {row['seed']}) {row['status']}: "
                       f"{row['error']}")


@app.command()
@_handle_errors
def solvers(
    cost: Optional[str] = typer.Option(None, "--cost", help="Only W2 (map) or W1 (critic) solvers: w2 or w1."),
) -> None:
    """List the registered solvers: name, cost (W2 map / W1 critic), and the paper each one implements."""
    from rich.table import Table

    from monge.solvers import SOLVERS, available_solvers

    table = Table(title="solvers", show_lines=False)
    for column in ("name", "cost", "paper"):
        table.add_column(column)
    for name in available_solvers(cost=None if cost is None else cost.strip().lower()):
        cls = SOLVERS[name]
        table.add_row(name, str(getattr(cls, "cost", "w2")).upper(), str(getattr(cls, "paper", "")))
    _console().print(table)


pairs_app = typer.Typer(help="Benchmark pair families.", no_args_is_help=True, cls=MongeGroup)
app.add_typer(pairs_app, name="pairs")


@pairs_app.command("list")
@_handle_errors
def pairs_list() -> None:
    """Describe every pair family: its spec pattern, its construction version, whether it needs --pair-root, and
    its source."""
    from rich.table import Table

    from monge.pairs import describe_pair_families

    table = Table(title="pair families", show_lines=True)
    table.add_column("spec")
    table.add_column("version")
    table.add_column("needs --pair-root")
    table.add_column("description and source")
    for family in describe_pair_families():
        table.add_row(str(family["pattern"]), str(family["version"]), "yes" if family["needs_root"] else "no",
                      str(family["description"]))
    _console().print(table)


@pairs_app.command("build")
@_handle_errors
def pairs_build(
    out: Path = typer.Option(..., "--out", help="Folder under which Mix{N}toMix{M}/ (or W2Img-<data>/) is written."),
    dim: Optional[int] = typer.Option(None, "--dim", help="Dimension D of a new Gaussian-mixture pair."),
    image: Optional[str] = typer.Option(None, "--image", metavar="DATA",
                                        help="Build the W2 image pairs w2img:DATA:early|mid|late instead, DATA = "
                                             "digits (1×16×16) or patches (3×16×16 photo patches)."),
    n_input: int = typer.Option(3, "--n-input", help="Gaussian components of the input mixture."),
    n_output: int = typer.Option(10, "--n-output", help="Gaussian components of each random target mixture."),
    seed: int = typer.Option(0, "--seed", help="Seeds the mixtures and both trainings (same seed, same pair)."),
    steps: Optional[int] = typer.Option(None, "--steps",
                                        help="W2GN steps per potential (default 5000; 3000 with --image)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size",
                                             help="W2GN batch size (default 1024; 64 with --image)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="W2GN learning rate of the image pairs (default 1e-2)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Do not show progress bars."),
) -> None:
    """Build new W2 benchmark pairs with the published recipe and monge's W2GN: a Gaussian-mixture pair (--dim;
    load it with `monge bench --pair w2b-mix:D --pair-root OUT/Mix{N}toMix{M}`) or the image pairs (--image; load
    them with `monge bench --pair w2img:DATA:late --pair-root OUT`)."""
    from monge.run.build_pairs import build_image_pair, build_mixture_pair

    if (dim is None) == (image is None):
        raise InvalidInputError("give exactly one of --dim D (a Gaussian-mixture pair) or --image DATA (image pairs)")
    if lr is not None and image is None:
        raise InvalidInputError("--lr applies to the image pairs (--image DATA) only")
    set_threads(threads)
    err = _console(stderr=True)
    if image is not None:
        steps, batch_size = steps or 3000, batch_size or 64
        title = f"W2GN, ConvICNN, {image}"

        def build(callback: Any = None) -> Path:
            options = {} if lr is None else {"lr": lr}
            return build_image_pair(image, out, seed=seed, steps=steps, batch_size=batch_size, callback=callback,
                                    **options)
    else:
        steps, batch_size = steps or 5000, batch_size or 1024
        title = f"W2GN, D={dim}"

        def build(callback: Any = None) -> Path:
            return build_mixture_pair(dim, out, n_input=n_input, n_output=n_output, seed=seed, steps=steps,
                                      batch_size=batch_size, callback=callback)
    if no_progress:
        folder = build()
    else:
        from rich.progress import Progress

        with Progress(console=err) as bar:
            tasks = {v: bar.add_task(f"potential {v}/2 ({title})", total=steps) for v in (1, 2)}
            folder = build(lambda v, p: bar.update(tasks[v], completed=p.step))
    if image is not None:
        key = image.strip().lower()
        typer.echo(f"pairs written to {folder} (early/mid/late_v1.pt, _v2.pt, construction.json); "
                   f"use: monge bench --pair w2img:{key}:late --pair-root {out}")
    else:
        typer.echo(f"pair written to {folder} ({dim}_v1.pt, {dim}_v2.pt, {dim}.json); "
                   f"use: monge bench --pair w2b-mix:{dim} --pair-root {folder}")


# Commands that live in their own module of this package (sweeps and reports, then the applications of
# monge/apps) register themselves on ``app``; they are imported here, after ``app`` and the helpers above exist.
COMMAND_MODULES = ("sweep", "report", "color", "domain", "latent", "image_map", "gallery")
for _module in COMMAND_MODULES:
    importlib.import_module(f"monge.cli.{_module}")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the CLI and return its exit code.

    A :class:`MongeError` escaping a command becomes one ``error: <message>`` line on stderr and exit code 1;
    usage errors (unknown flags, bad integers...) are reported by typer as usual (exit code 2).
    """
    try:
        app(args=argv, prog_name="monge")
    except MongeError as exc:
        print(error_line(exc), file=sys.stderr)
        return 1
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return int(exc.code or 0)
        print(exc.code, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
