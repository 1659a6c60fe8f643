"""Run solvers on benchmark pairs, evaluate them on a schedule and store everything (``monge bench``).

One run is (solver name + options, pair spec, seed, budget), described by a :class:`~monge.config.run.RunConfig`.
:func:`run_bench` validates every config first (unknown solver or pair names, bad options fail before any
training), then trains each run with its own seeded :class:`torch.Generator` (the global RNG is never
touched), evaluates every ``eval_every`` steps and at the end with :func:`monge.metrics.evaluate` on a
separately seeded generator (evaluation time is not counted as training time; :mod:`monge.run.tracker`), and
writes runs, metrics and sampled losses into a :class:`~monge.results.store.ResultStore`. A run that diverges or
fails with a :class:`~monge.errors.MongeError` is recorded as such and the next run still happens.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from monge._version import environment_versions
from monge.config.run import RunConfig, check_costs_match, run_key
from monge.errors import InvalidInputError, MongeError
from monge.metrics import baseline_metrics
from monge.pairs import current_pair_version, make_pair
from monge.pairs.base import BASELINES
from monge.plot import plot_convergence, plot_result_2d
from monge.results.rows import RunSummary, summaries_from_store
from monge.results.store import ResultStore
from monge.run.tracker import (NullProgress, RunTracker, StoreLog, eval_generator, execute_run, metrics_headline,
                               progress_bar)
from monge.solvers import get_solver, load_result


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "pair"


def validate_configs(configs: Iterable[RunConfig], *, on_device: bool = True) -> None:
    """Check every config (budget, solver name and options, pair spec, device) without training anything.

    Raises :class:`~monge.errors.UnknownNameError` or :class:`InvalidInputError` naming the problem.
    :func:`run_bench` does this itself; call it to fail before opening a store. ``on_device=False`` skips the
    check that each run's device exists here (a sweep driver sending runs to other machines).
    """
    build_runs(list(configs), on_device=on_device)


def build_runs(configs: Sequence[RunConfig], *, on_device: bool = True) -> tuple[dict, list]:
    """Validate every config and build its pair and solver once, before any training, so that bad names and
    options fail early. Returns ``({pair_key(cfg): pair}, [solver of each config])``.

    With ``on_device`` (for runs trained here) pairs are built on each run's device, which must be available;
    without (a sweep driver, which only checks and describes the runs) they are built on the CPU.
    """
    pairs: dict[tuple, Any] = {}
    solvers = []
    for cfg in configs:
        if not isinstance(cfg, RunConfig):
            raise InvalidInputError(f"expected RunConfig objects, got {type(cfg).__name__}")
        cfg.validate()
        key = pair_key(cfg, on_device=on_device)
        if key not in pairs:
            pairs[key] = make_pair(cfg.pair, seed=cfg.seed, dtype=cfg.torch_dtype, root=cfg.pair_root,
                                   device=key[-1])
        solver = get_solver(cfg.solver, **dict(cfg.solver_options))
        check_costs_match(cfg.solver, solver, cfg.pair, pairs[key])
        solvers.append(solver)
    return pairs, solvers


def pair_key(cfg: RunConfig, *, on_device: bool = True) -> tuple:
    """What identifies a run's pair in :func:`build_runs`' result: spec, seed, dtype, root and device."""
    device = str(cfg.resolved_device()) if on_device else "cpu"
    return (cfg.pair, cfg.seed, cfg.dtype, cfg.pair_root, device)


def run_bench(
    configs: Iterable[RunConfig],
    store: ResultStore,
    *,
    out_dir: str | Path | None = None,
    progress: bool = True,
    console: Any = None,
    baselines: bool = False,
    keep_results: str | Path | None = None,
    reuse: bool = False,
) -> list[RunSummary]:
    """Run every config, store runs/metrics/losses in ``store`` and return one :class:`RunSummary` each.

    With ``baselines`` (the CLI's default), every pair with ground truth also gets one stored row per baseline map
    (``baseline:identity``, ``baseline:constant``, ``baseline:linear``, ``baseline:discrete_ot``; see
    :func:`monge.metrics.baseline_metrics`), scored on the runs' evaluation samples; their summaries follow
    the runs in the returned list.

    All configs are validated (names, options, budgets) before any training starts. With ``out_dir``,
    writes ``convergence_<pair>.png`` per pair (:func:`monge.plot.plot_convergence`: the runs' curves on a log
    axis with the baselines as labelled horizontal lines) and ``map_<run id>_<solver>_<pair>.png`` for each run on
    a 2-D pair. ``progress`` shows a rich progress bar on ``console`` (default: a stderr console). Without
    ``progress``, a given ``console`` gets one plain line as each run starts and ends (for logs and CI, where a
    bar does not show); with neither, nothing is printed.

    With ``keep_results`` (a folder, created if needed), each run's fitted result (``W2Result.save`` /
    ``W1Result.save``) is saved under ``<keep_results>/run<id>_<solver>_<pair>_seed<seed>/`` and the absolute path
    is stored as ``result_dir`` in the run's config, where ``monge report`` finds it to draw 2-D maps.

    With ``reuse`` (the CLI's default; ``monge bench --rerun`` turns it off) a config whose identical run is
    already stored (same :func:`run_key`: solver, label, options, pair spec and version, seed, budget, batch
    size, evaluation, dtype, device) and complete (finished, or stopped by its time budget) is not trained again:
    its stored row is returned with ``reused=True``. With ``keep_results`` a stored run only counts when its
    saved result folder still exists. Baseline rows are reused likewise (same pair, version, seed, dtype and
    evaluation samples). Failed or diverged runs are always trained again.
    """
    configs = list(configs)
    pairs, solvers = build_runs(configs)
    out_path = _make_folder(out_dir, "output folder")
    keep_path = _make_folder(keep_results, "results folder (--keep-results)")
    if progress:
        if console is None:
            from rich.console import Console

            console = Console(stderr=True)
        bar: Any = progress_bar(console)
    else:
        bar = NullProgress()

    def say(line: str) -> None:
        if not progress and console is not None:
            console.print(line, markup=False, highlight=False, soft_wrap=True)

    summaries: list[RunSummary] = []
    with bar:
        for index, (cfg, solver) in enumerate(zip(configs, solvers)):
            pair = pairs[pair_key(cfg)]
            name = f"[{index + 1}/{len(configs)}] {cfg.display_name} on {cfg.pair} (seed {cfg.seed})"
            stored = find_reusable_run(store, cfg, pair, need_result=keep_path is not None) if reuse else None
            if stored is not None:
                summary = replace(summaries_from_store(store, [stored["id"]])[0], reused=True)
                info = f"reused stored run {summary.run_id} {metrics_headline(summary.final)}"
                bar.add_task(name, total=1, completed=1, info=info)
                say(f"{name}: {info}")
                if out_path is not None and pair.dim == 2 and summary.result_dir:
                    result = _load_kept_result(summary.result_dir, store)
                    if result is not None:
                        summary = _map_plot(summary, cfg, pair, result, out_path)
                summaries.append(summary)
                continue
            if index > 0:  # a fresh solver per run: fit may keep state between calls
                solver = get_solver(cfg.solver, **dict(cfg.solver_options))
            say(f"{name}: started")
            summary, result = _one_run(cfg, pair, solver, store, bar, name)
            wall = f" in {summary.wall_time_s:.0f} s" if summary.wall_time_s is not None else ""
            say(f"{name}: {summary.status}, {summary.steps_done} steps{wall}; {metrics_headline(summary.final)}"
                .rstrip("; "))
            if keep_path is not None and result is not None:
                summary = _keep_result(summary, result, keep_path, store)
            if out_path is not None and result is not None and pair.dim == 2:
                summary = _map_plot(summary, cfg, pair, result, out_path)
            summaries.append(summary)
    if baselines:
        for (spec, seed, dtype, *_), pair in pairs.items():
            if getattr(pair, "has_ground_truth", False):
                eval_samples = next(c.eval_samples for c in configs if (c.pair, c.seed) == (spec, seed))
                scored = _store_baselines(pair, spec, seed, eval_samples, store, dtype=dtype, reuse=reuse)
                summaries.extend(scored)
                say(f"baselines on {spec} (seed {seed}): " + " | ".join(
                    f"{s.solver.removeprefix('baseline:')}: {metrics_headline(s.final)}" for s in scored))
    if out_path is not None:
        by_pair: dict[str, list[int]] = {}
        for s in summaries:
            by_pair.setdefault(s.pair, []).append(s.run_id)
        for pair_name, ids in by_pair.items():
            plot_convergence(store, ids, out_path / f"convergence_{_slug(pair_name)}.png")
    return summaries


def _make_folder(path: str | Path | None, what: str) -> Path | None:
    """``path`` as a created folder (``None`` stays ``None``); :class:`InvalidInputError` naming it otherwise."""
    if path is None:
        return None
    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"{what} {folder}: cannot create it ({exc.strerror or exc})") from exc
    return folder


def _complete(row: Mapping[str, Any]) -> bool:
    """A stored run whose outcome a rerun would repeat: finished, or stopped by its time budget (not interrupted)."""
    return row.get("status") == "finished" or (row.get("status") == "stopped" and not row.get("error"))


def _kept_result_folder(value: Any, store: ResultStore) -> Path | None:
    """The saved-result folder a stored ``result_dir`` names (relative paths: beside the database), if it holds a
    ``result.json``."""
    if not value:
        return None
    path = Path(str(value)).expanduser()
    if not path.is_absolute() and str(store.path) != ":memory:":
        path = store.path.parent / path
    return path if (path / "result.json").is_file() else None


def find_reusable_run(store: ResultStore, cfg: RunConfig, pair: Any, *, need_result: bool = False
                      ) -> dict[str, Any] | None:
    """The newest stored run that ``cfg`` would repeat: same :func:`run_key` (so the same pair version too),
    stored under the same solver label and pair name, and complete (finished, or stopped by its time budget).
    With ``need_result`` its saved result folder (``result_dir``) must still exist. ``None`` when there is none."""
    key = run_key(cfg.to_dict())
    for row in store.runs(solver=cfg.display_name, pair=str(getattr(pair, "name", cfg.pair))):
        if not _complete(row) or run_key(row["config"]) != key:
            continue
        if need_result and _kept_result_folder(row["config"].get("result_dir"), store) is None:
            continue
        return row
    return None


def _keep_result(summary: RunSummary, result: Any, keep_path: Path, store: ResultStore) -> RunSummary:
    """Save a run's fitted result under ``keep_path`` and record the folder as the run's ``result_dir``."""
    folder = (keep_path / f"run{summary.run_id}_{_slug(summary.solver)}_{_slug(summary.pair)}_seed{summary.seed}"
              ).resolve()
    try:
        result.save(folder)
    except (OSError, MongeError) as exc:
        raise InvalidInputError(f"run {summary.run_id} ({summary.solver} on {summary.pair}) is stored, but its result "
                                f"cannot be saved to {folder}: {getattr(exc, 'strerror', None) or exc}") from exc
    store.update_config(summary.run_id, {"result_dir": str(folder)})
    return replace(summary, result_dir=str(folder))


def _load_kept_result(result_dir: str, store: ResultStore) -> Any:
    """The result saved in a stored run's ``result_dir``, or ``None`` when it cannot be loaded."""
    folder = _kept_result_folder(result_dir, store)
    if folder is None:
        return None
    try:
        return load_result(folder)
    except MongeError:
        return None


def run_record_fields(cfg: RunConfig, pair: Any, solver: Any, **extra_config: Any) -> dict[str, Any]:
    """The stored description of a run (``ResultStore.start_run`` keyword arguments)."""
    return dict(
        solver=cfg.display_name,
        pair=str(getattr(pair, "name", cfg.pair)),
        dim=int(pair.dim),
        seed=cfg.seed,
        steps_requested=cfg.steps or 0,
        batch_size=cfg.batch_size,
        eval_every=cfg.eval_interval,
        config={**cfg.to_dict(), "cost": str(getattr(solver, "cost", "w2")),
                "solver_settings": _safe_settings(solver, pair, cfg), **extra_config},
        versions=environment_versions(getattr(pair, "device", "cpu")),
    )


def _one_run(cfg: RunConfig, pair: Any, solver: Any, store: ResultStore, bar: Any, name: str):
    run_id = store.start_run(**run_record_fields(cfg, pair, solver))
    task = bar.add_task(name, total=cfg.steps, info="")
    tracker = RunTracker(cfg, pair, StoreLog(store, run_id), bar, task)
    wall0 = time.perf_counter()
    try:
        outcome, result = execute_run(cfg, pair, solver, tracker)
    except BaseException as exc:  # not ours (a bug, Ctrl-C): record the run, then re-raise
        interrupted = isinstance(exc, KeyboardInterrupt)
        try:
            tracker.loss_buffer = []
            store.finish_run(run_id, "stopped" if interrupted else "failed", steps_done=tracker.step,
                             error="interrupted" if interrupted else f"{type(exc).__name__}: {exc}".strip(),
                             wall_time_s=time.perf_counter() - wall0, train_time_s=tracker.train_time())
        except MongeError:
            pass
        raise
    store.finish_run(run_id, outcome.status, steps_done=outcome.steps_done, error=outcome.error,
                     wall_time_s=outcome.wall_time_s, train_time_s=outcome.train_time_s,
                     steps_per_s=outcome.steps_per_s)
    bar.update(task, completed=outcome.steps_done, info=f"{outcome.status} {tracker._info()}".strip())
    row = store.leaderboard([run_id])[0]
    return RunSummary.from_row(row), result


def _baseline_names(pair: Any) -> tuple[str, ...]:
    """The baselines :func:`monge.metrics.baseline_metrics` scores on ``pair`` (called as :func:`_store_baselines`
    calls it)."""
    return ("dot",) if getattr(pair, "cost", None) == "w1" else (*BASELINES, "discrete_ot")


def _baseline_config(name: str, spec: str, seed: int, eval_samples: int, dtype: str) -> dict[str, Any]:
    return {"baseline": name, "pair": spec, "seed": int(seed), "eval_samples": int(eval_samples), "dtype": dtype,
            "pair_version": current_pair_version(spec)}


def _stored_baselines(store: ResultStore, pair: Any, spec: str, seed: int, eval_samples: int, dtype: str
                      ) -> list[int] | None:
    """Ids of a complete stored set of the pair's baseline rows with the same configuration (the newest of each),
    or ``None`` when one is missing."""
    ids = []
    for name in _baseline_names(pair):
        wanted = _baseline_config(name, spec, seed, eval_samples, dtype)
        match = next((row["id"] for row in store.runs(solver=f"baseline:{name}", pair=str(getattr(pair, "name", spec)),
                                                       status="finished")
                      if row["seed"] == seed and all(row["config"].get(k) == v for k, v in wanted.items())), None)
        if match is None:
            return None
        ids.append(match)
    return ids


def _store_baselines(pair: Any, spec: str, seed: int, eval_samples: int, store: ResultStore, *,
                     dtype: str = "float32", reuse: bool = False) -> list[RunSummary]:
    """Score the pair's baseline maps on the runs' evaluation samples and store one finished run each (with
    ``reuse``, return the stored rows of an identical earlier scoring instead)."""
    if reuse:
        ids = _stored_baselines(store, pair, spec, seed, eval_samples, dtype)
        if ids is not None:
            return [replace(s, reused=True) for s in summaries_from_store(store, ids)]
    t0 = time.perf_counter()
    gen = eval_generator(seed)
    scores = baseline_metrics(pair, n=eval_samples, generator=gen, n_discrete=min(eval_samples, 1024))
    seconds = time.perf_counter() - t0
    run_ids = []
    for name, metrics in scores.items():
        run_id = store.start_run(solver=f"baseline:{name}", pair=str(getattr(pair, "name", spec)), dim=int(pair.dim),
                                 seed=seed, steps_requested=0, batch_size=0, eval_every=0,
                                 config=_baseline_config(name, spec, seed, eval_samples, dtype),
                                 versions=environment_versions(getattr(pair, "device", "cpu")))
        store.log_eval(run_id, 0, 0.0, metrics)
        store.finish_run(run_id, "finished", steps_done=0, wall_time_s=seconds / len(scores), train_time_s=0.0)
        run_ids.append(run_id)
    return [RunSummary.from_row(row) for row in store.leaderboard(run_ids)]


def _safe_settings(solver: Any, pair: Any = None, cfg: Any = None) -> dict[str, Any]:
    """The solver's settings for the run's record; for ``auto``, those of the solver it will choose."""
    try:
        if pair is not None and cfg is not None and hasattr(solver, "settings_for_run"):
            settings = solver.settings_for_run(pair.source, pair.target, steps=cfg.step_cap, batch_size=cfg.batch_size,
                                               time_budget=cfg.time_budget_s)
        else:
            settings = solver.settings()
        return dict(settings) if isinstance(settings, Mapping) else {}
    except Exception:  # noqa: BLE001 - settings are informational only
        return {}


def _map_plot(summary: RunSummary, cfg: RunConfig, pair: Any, result: Any, out_path: Path) -> RunSummary:
    kind = "critic" if getattr(result, "cost", "w2") == "w1" else "map"
    path = out_path / f"{kind}_{summary.run_id}_{_slug(summary.solver)}_{_slug(summary.pair)}.png"
    title = f"run {summary.run_id}: {summary.solver} on {summary.pair} ({summary.status}, {summary.steps_done} steps)"
    gen = eval_generator(cfg.seed, 1)
    try:
        plot_result_2d(result, pair, path, title=title, n=min(1024, cfg.eval_samples), generator=gen)
    except MongeError:
        return summary
    return replace(summary, plots=summary.plots + (str(path),))


__all__ = ["build_runs", "find_reusable_run", "pair_key", "run_bench", "run_record_fields", "validate_configs"]
