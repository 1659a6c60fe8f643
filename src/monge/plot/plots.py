"""PNG plots of benchmark runs: convergence curves from the store and 2-D transport maps.

Figures are drawn with matplotlib's object-oriented API on the Agg canvas (no pyplot, no global backend
switch, never ``show()``), so plotting works headless and does not disturb a user's matplotlib state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from monge.errors import InvalidInputError

_METRIC_LABELS = {
    "l2_uvp_fwd": "forward L2-UVP",
    "l2_uvp_inv": "inverse L2-UVP",
    "cos_fwd": "forward cosine",
    "cos_inv": "inverse cosine",
    "cost_error": "cost error",
    "w2_ratio": "W2(mapped, target) / W2(source, target)",
    "w2_mapped_target": "W2(mapped, target)",
    "cos_grad": "cosine of critic gradients",
    "w1_dev": "W1 deviation (%)",
    "l2_grad": "L2 of critic gradients",
}


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


def plot_convergence(store: Any, run_ids: Sequence[int], path: str | Path, *, metrics: Sequence[str] | None = None) -> Path:
    """Plot metric vs training step for each run in ``run_ids`` (one line per run, one panel per metric)
    and write the PNG to ``path``. L2-UVP panels (and the W2 ratio) use a log scale.

    ``store`` is a :class:`~monge.run.store.ResultStore`; ``metrics`` defaults to :func:`default_metrics`.
    Returns the path written.
    """
    runs = {r["id"]: r for r in store.runs(run_ids=list(run_ids))}
    series: dict[int, dict[str, list[tuple[int, float]]]] = {}
    seen: set[str] = set()
    for rid in run_ids:
        if rid not in runs:
            continue
        per_metric: dict[str, list[tuple[int, float]]] = {}
        for row in store.evals(rid):
            seen.add(row["metric"])
            if row["value"] is not None:
                per_metric.setdefault(row["metric"], []).append((row["step"], row["value"]))
        series[rid] = per_metric
    chosen = list(metrics) if metrics is not None else default_metrics(seen)
    panels = max(1, len(chosen))
    fig = new_figure(5.0 * panels, 4.0)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    if not chosen:
        axes[0].text(0.5, 0.5, "no evaluations stored", ha="center", va="center", transform=axes[0].transAxes)
    pair_names = sorted({runs[r]["pair"] for r in series})
    for ax, metric in zip(axes, chosen):
        positive = True
        drew = False
        for rid, per_metric in series.items():
            points = per_metric.get(metric, [])
            if not points:
                continue
            steps, values = zip(*points)
            positive &= all(v > 0 for v in values)
            run = runs[rid]
            label = f"#{rid} {run['solver']} (seed {run['seed']})"
            if len(pair_names) > 1:
                label += f" {run['pair']}"
            if run["status"] != "finished":
                label += f" [{run['status']}]"
            ax.plot(steps, values, marker="o", markersize=3, label=label)
            drew = True
        if drew and positive and (metric.startswith("l2_uvp") or metric in {"w2_ratio", "cost_error", "w1_dev"}):
            ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
        ax.grid(True, which="both", alpha=0.3)
        if drew:
            ax.legend(fontsize=7)
    fig.suptitle(f"convergence on {', '.join(pair_names) or 'no runs'}")
    fig.tight_layout()
    return save_figure(fig, path)


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
