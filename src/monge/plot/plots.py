"""PNG plots of benchmark runs: convergence curves from the store and 2-D transport maps.

Figures are drawn with matplotlib's object-oriented API on the Agg canvas (no pyplot, no global backend
switch, never ``show()``), so plotting works headless and does not disturb a user's matplotlib state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from monge.errors import InvalidInputError
from monge.metrics.registry import METRICS

BASELINE_STYLES: dict[str, tuple[str, Any]] = {
    "identity": ("tab:gray", (0, (6, 3))),
    "constant": ("tab:brown", (0, (1, 2))),
    "linear": ("tab:purple", (0, (6, 2, 1, 2))),
    "discrete_ot": ("tab:olive", (0, (3, 1, 1, 1, 1, 1))),
    "dot": ("tab:olive", (0, (3, 1, 1, 1, 1, 1))),
}
"""Colour and dash pattern of each baseline's horizontal line in convergence plots (others: black dashed)."""

LOG_FLOOR_DECADES = 2.0
"""On a log axis, baselines more than this many decades below the runs' smallest value (or ≤ 0, which a log axis
cannot show) are drawn on the bottom edge and labelled "below the axis", so that an exact baseline (the linear map
on a Gaussian pair: ~1e-27 %) does not squash the runs' curves into a sliver."""


def metric_label(metric: str) -> str:
    """Axis label of ``metric``: its declared label (:mod:`monge.metrics.registry`), else the name itself."""
    info = METRICS.get(metric)
    return info.label if info is not None else metric


def _log_scale(metric: str) -> bool:
    info = METRICS.get(metric)
    return bool(info.log_scale) if info is not None else False


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure of ``width`` × ``height`` inches on an Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG atomically (temporary file, then rename); the folder is created if needed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp, format="png")
        tmp.replace(path)
    except OSError as exc:
        raise InvalidInputError(f"cannot write plot {path}: {exc.strerror or exc}") from exc
    return path


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().to("cpu").double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InvalidInputError(f"{name}: expected shape (n, 2) for a 2-D plot, got {arr.shape}")
    return arr


def default_metrics(metric_names: Iterable[str]) -> list[str]:
    """The metrics a convergence plot shows by default: forward/inverse L2-UVP when present, else the
    W1 gradient cosine and W1 deviation, else the W2 ratio, else every metric."""
    names = set(metric_names)
    for group in (["l2_uvp_fwd", "l2_uvp_inv"], ["cos_grad", "w1_dev"], ["w2_ratio"]):
        chosen = [m for m in group if m in names]
        if chosen:
            return chosen
    return sorted(names)


def _is_baseline(run: Any) -> bool:
    return str(run.get("solver", "")).startswith("baseline:")


def convergence_figure(store: Any, run_ids: Sequence[int], *, metrics: Sequence[str] | None = None) -> Any:
    """The convergence figure of ``run_ids`` (a matplotlib Figure; :func:`plot_convergence` saves it).

    One panel per metric (``metrics``, default :func:`default_metrics` of the trained runs), one line per trained
    run (metric vs training step), and the baseline runs among ``run_ids`` (solver ``baseline:<name>``, as stored by
    ``monge bench``) as labelled horizontal lines at their value (``"identity: 20.1"``; with the seed when the
    baselines of several seeds are shown; the newest row of each baseline and seed when there are several).

    Metrics declared with a log scale (L2-UVP, cost error, W2 ratio, W1 deviation, ...; see
    :mod:`monge.metrics.registry`) get a logarithmic y-axis. Non-positive values cannot sit on it: run points
    ≤ 0 are left out of their line (the legend counts them), baselines ≤ 0 or more than :data:`LOG_FLOOR_DECADES`
    decades below the runs are drawn on the bottom edge and labelled "below the axis", and a panel without any
    positive value falls back to a linear axis.
    """
    runs = {r["id"]: r for r in store.runs(run_ids=list(run_ids))}
    ordered = [rid for rid in dict.fromkeys(run_ids) if rid in runs]
    trained = [rid for rid in ordered if not _is_baseline(runs[rid])]
    newest: dict[tuple[str, int], int] = {}
    for rid in ordered:
        if _is_baseline(runs[rid]):
            key = (str(runs[rid]["solver"]), int(runs[rid]["seed"]))
            newest[key] = max(rid, newest.get(key, rid))
    baselines = sorted(newest.values())
    series: dict[int, dict[str, list[tuple[int, float]]]] = {}
    seen: set[str] = set()
    for rid in trained + baselines:
        per_metric: dict[str, list[tuple[int, float]]] = {}
        for row in store.evals(rid):
            if rid in trained:
                seen.add(row["metric"])
            if row["value"] is not None:
                per_metric.setdefault(row["metric"], []).append((row["step"], row["value"]))
        series[rid] = per_metric
    if not trained:
        seen = {m for rid in baselines for m in series[rid]}
    chosen = list(metrics) if metrics is not None else default_metrics(seen)
    panels = max(1, len(chosen))
    fig = new_figure(5.5 * panels, 4.2)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    if not chosen:
        axes[0].text(0.5, 0.5, "no evaluations stored", ha="center", va="center", transform=axes[0].transAxes)
    pair_names = sorted({str(runs[r]["pair"]) for r in trained + baselines})
    baseline_seeds = {int(runs[r]["seed"]) for r in baselines}
    for ax, metric in zip(axes, chosen):
        _convergence_panel(ax, metric, runs, trained, baselines, series, several_pairs=len(pair_names) > 1,
                           several_seeds=len(baseline_seeds) > 1)
    fig.suptitle(f"convergence on {', '.join(pair_names) or 'no runs'}")
    fig.tight_layout()
    return fig


def _convergence_panel(ax: Any, metric: str, runs: dict, trained: list[int], baselines: list[int], series: dict,
                       *, several_pairs: bool, several_seeds: bool) -> None:
    run_points = {rid: series[rid].get(metric, []) for rid in trained}
    levels = {rid: series[rid][metric][-1][1] for rid in baselines if series[rid].get(metric)}
    positive_runs = [v for points in run_points.values() for _, v in points if v > 0]
    positive_levels = [v for v in levels.values() if v > 0]
    log = _log_scale(metric) and bool(positive_runs or positive_levels)
    drew = False
    for rid, points in run_points.items():
        if not points:
            continue
        steps = [p[0] for p in points]
        values = [p[1] if (p[1] > 0 or not log) else float("nan") for p in points]
        run = runs[rid]
        label = f"#{rid} {run['solver']} (seed {run['seed']})"
        if several_pairs:
            label += f" {run['pair']}"
        if run["status"] != "finished":
            label += f" [{run['status']}]"
        hidden = sum(1 for v in values if v != v)
        if hidden:
            label += f" ({hidden} point{'s' if hidden > 1 else ''} ≤ 0 not shown)"
        ax.plot(steps, values, marker="o", markersize=3, label=label)
        drew = True
    floor = None
    if log:
        reference = positive_runs or positive_levels
        floor = min(reference) / 10.0**LOG_FLOOR_DECADES
        shown = [v for v in positive_runs + positive_levels if v >= floor]
        below = any(v < floor for v in levels.values())
        low, high = min(shown), max(shown)
        bottom = floor if below else low / 1.5
        ax.set_yscale("log")
        ax.set_ylim(bottom, high * 1.5)
        floor = bottom
    rank = {rid: i for i, rid in enumerate(sorted(levels, key=lambda r: levels[r]))}
    for rid, value in levels.items():
        run = runs[rid]
        name = str(run["solver"]).split(":", 1)[1]
        color, dashes = BASELINE_STYLES.get(name, ("black", (0, (4, 2))))
        label = f"{name}: {value:.3g}"
        if several_seeds:
            label = f"{name} (seed {run['seed']}): {value:.3g}"
        if several_pairs:
            label += f" {run['pair']}"
        y = value
        if log and floor is not None and value < floor:
            y, label = floor, f"{label} (below the axis)"
        ax.axhline(y, color=color, linestyle=dashes, linewidth=1.2, label=label)
        # names written on the lines, staggered so that close baselines (identity, discrete OT) stay readable
        ax.annotate(name, xy=(1.0 - 0.16 * (rank[rid] % 3), y), xycoords=("axes fraction", "data"), xytext=(-3, 2),
                    textcoords="offset points", ha="right", va="bottom", fontsize=7, color=color)
        drew = True
    ax.set_xlabel("training step")
    ax.set_ylabel(metric_label(metric))
    ax.grid(True, which="both", alpha=0.3)
    if drew:
        ax.legend(fontsize=7)


def plot_convergence(store: Any, run_ids: Sequence[int], path: str | Path, *,
                     metrics: Sequence[str] | None = None) -> Path:
    """Draw :func:`convergence_figure` of ``run_ids`` (trained runs as curves, baselines as labelled horizontal
    lines, log y-axis for error metrics) and write the PNG to ``path``; returns the path written.

    ``store`` is a :class:`~monge.results.store.ResultStore`; ``metrics`` defaults to :func:`default_metrics`. Both
    ``monge bench --out`` and ``monge report`` draw their convergence plots with it.
    """
    return save_figure(convergence_figure(store, run_ids, metrics=metrics), path)


def plot_map_2d(source: Any, target: Any, mapped: Any, path: str | Path, *, arrows: int = 64,
                title: str | None = None) -> Path:
    """Plot a 2-D transport map and write the PNG to ``path`` (returned).

    Left panel: ``source`` samples with displacement arrows source → ``mapped`` for up to ``arrows``
    points, over the ``target`` samples. Right panel: ``mapped`` (= T(source)) against ``target``, which
    should look alike when the map is good. Inputs are ``(n, 2)`` tensors or arrays; ``mapped`` must
    correspond row by row to ``source`` (non-finite mapped points are left out).
    """
    src, tgt, out = _as_numpy(source, "source"), _as_numpy(target, "target"), _as_numpy(mapped, "mapped")
    if src.shape != out.shape:
        raise InvalidInputError(f"mapped must have the shape of source {src.shape}, got {out.shape}")
    finite = np.isfinite(out).all(axis=1)
    fig = new_figure(11.0, 5.5)
    left, right = fig.subplots(1, 2, sharex=True, sharey=True)
    left.scatter(tgt[:, 0], tgt[:, 1], s=3, alpha=0.25, color="tab:green", label="target")
    left.scatter(src[:, 0], src[:, 1], s=3, alpha=0.35, color="tab:blue", label="source")
    k = min(int(arrows), int(finite.sum()))
    if k > 0:
        idx = np.flatnonzero(finite)[np.linspace(0, int(finite.sum()) - 1, k).astype(int)]
        d = out[idx] - src[idx]
        left.quiver(src[idx, 0], src[idx, 1], d[:, 0], d[:, 1], angles="xy", scale_units="xy", scale=1.0,
                    width=0.004, color="black", alpha=0.8, label="x → T(x)")
        left.scatter(src[idx, 0], src[idx, 1], s=10, color="tab:blue", edgecolors="black", linewidths=0.5)
    left.set_title("source and displacements x → T(x)", fontsize=9)
    right.scatter(tgt[:, 0], tgt[:, 1], s=3, alpha=0.35, color="tab:green", label="target")
    right.scatter(out[finite, 0], out[finite, 1], s=3, alpha=0.35, color="tab:red", label="mapped T(source)")
    right.set_title("mapped T(source) vs target", fontsize=9)
    for ax in (left, right):
        ax.set_aspect("equal", adjustable="box")
        ax.legend(loc="upper right", fontsize=7, markerscale=3)
        ax.grid(True, alpha=0.2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_critic_2d(source: Any, target: Any, critic: Any, gradient: Any, path: str | Path, *, grid: int = 80,
                   arrows: int = 64, true_gradient: Any = None, title: str | None = None) -> Path:
    """Plot a 2-D W1 critic and write the PNG to ``path`` (returned).

    Left panel: filled contours of the critic f on a ``grid`` × ``grid`` box around the samples, with
    ``source`` and ``target`` samples. Right panel: the critic's gradient ∇f(y) at up to ``arrows`` target
    points (black), and the true gradient when ``true_gradient`` is given (red): they should agree.
    ``critic(points)`` returns (m,) values and ``gradient(points)`` (m, 2) vectors for an (m, 2) tensor of
    points (a :class:`~monge.solvers.w1.W1Result`'s ``potential`` and ``gradient``); ``true_gradient`` is such
    a callable too.
    """
    import torch

    src, tgt = _as_numpy(source, "source"), _as_numpy(target, "target")
    both = np.concatenate([src, tgt])
    lo, hi = both.min(axis=0), both.max(axis=0)
    pad = 0.05 * (hi - lo + 1e-9)
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], grid), np.linspace(lo[1] - pad[1], hi[1] + pad[1], grid))
    ref = target if hasattr(target, "dtype") and hasattr(target, "device") else torch.as_tensor(tgt)
    points = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=ref.dtype, device=ref.device)
    values = critic(points).detach().to("cpu").double().numpy().reshape(gx.shape)
    k = min(int(arrows), tgt.shape[0])
    idx = np.linspace(0, tgt.shape[0] - 1, k).astype(int)
    at = torch.as_tensor(tgt[idx], dtype=ref.dtype, device=ref.device)
    learned = gradient(at).detach().to("cpu").double().numpy()
    fig = new_figure(11.0, 5.5)
    left, right = fig.subplots(1, 2, sharex=True, sharey=True)
    filled = left.contourf(gx, gy, values, levels=20, cmap="viridis", alpha=0.8)
    fig.colorbar(filled, ax=left, shrink=0.8)
    left.scatter(src[:, 0], src[:, 1], s=2, alpha=0.25, color="white", label="source")
    left.scatter(tgt[:, 0], tgt[:, 1], s=2, alpha=0.35, color="tab:red", label="target")
    left.set_title("critic f (maximises E_target f − E_source f)", fontsize=9)
    right.scatter(tgt[:, 0], tgt[:, 1], s=2, alpha=0.2, color="tab:green", label="target")
    scale = 0.05 * float(np.max(hi - lo))
    right.quiver(tgt[idx, 0], tgt[idx, 1], scale * learned[:, 0], scale * learned[:, 1], angles="xy",
                 scale_units="xy", scale=1.0, width=0.004, color="black", label="learned ∇f")
    if true_gradient is not None:
        true = true_gradient(at).detach().to("cpu").double().numpy()
        right.quiver(tgt[idx, 0], tgt[idx, 1], scale * true[:, 0], scale * true[:, 1], angles="xy",
                     scale_units="xy", scale=1.0, width=0.003, color="tab:red", alpha=0.7, label="true ∇f*")
    right.set_title("critic gradients at target points", fontsize=9)
    for ax in (left, right):
        ax.set_aspect("equal", adjustable="box")
        ax.legend(loc="upper right", fontsize=7, markerscale=3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_result_2d(result: Any, pair: Any, path: str | Path, *, title: str, n: int, generator: Any) -> Path:
    """Draw a fitted result on a 2-D pair from ``n`` source and target samples of ``generator``: the map with
    its displacement arrows (W2, :func:`plot_map_2d`) or the critic's contours and gradients beside the true ones
    (W1, :func:`plot_critic_2d`). Used by ``monge bench --out`` and the report."""
    source = pair.source.sample(n, generator)
    target = pair.target.sample(n, generator)
    if getattr(result, "cost", "w2") == "w1":
        return plot_critic_2d(source, target, result.potential, result.gradient, path, title=title,
                              true_gradient=getattr(pair, "true_gradient", None))
    weights = next(iter(result.forward_potential.parameters()), None)
    mapped = result.forward(source if weights is None else source.to(dtype=weights.dtype))
    return plot_map_2d(source, target, mapped, path, title=title)
