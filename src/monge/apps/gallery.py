"""The 2-D gallery: the toy figures of the W2GN and W2GAN papers, redrawn with monge's solvers.

* Korotin, Egiazarian, Asadulaev, Safin, Burnaev. "Wasserstein-2 Generative Networks", ICLR 2021
  (arXiv:1909.13082): N(0, I) → 8 Gaussians, 49 Gaussians, 100 Gaussians and the swiss roll, with the forward
  map ∇ψθ (source → target) and the inverse map ∇ψ̄ω (target → source). Figures ``w2gn_<pair>.png``.
* Leygonie, She, Almahairi, Rajeswar, Courville. "Adversarial computation of optimal transport maps", 2019
  (arXiv:1906.09691): the 2-D pairs 4-Gaussians, checkerboard and two spirals, one panel per solver with
  displacement arrows x → T(x) (figure ``w2gan_pairs.png``: W2GAN against its WGAN-GP / WGAN-LP map
  baselines, W2GN and exact discrete OT on the plotted samples), and the W2GAN generator's pushforward
  along training (``w2gan_evolution.png``).
* W2GN's App. B.2, Fig. 11: an ICNN with ReLU activations has a discontinuous gradient that tears the support,
  one with CELU does not (``torn_<pair>.png``, :mod:`monge.apps.torn_map`).

Every panel is scored on held-out samples (x ~ P, y ~ Q, ``n_samples`` each, the same for all solvers of a
pair): ``w2_to_target`` is the exact discrete W2 between T(x) and y (POT's network simplex through
:func:`monge.metrics.discrete_w2`; for two independent sample sets of Q it is not 0 but the sampling floor
``w2_floor``), ``transport_cost`` is ½·mean‖T(x) − x‖² and ``ot_cost`` is the exact discrete OT cost
½·W2²(x, y) of the same samples, which an optimal map's cost should approach. The discrete-OT panel
(``"discrete-ot"``) maps x to its partner under the exact plan (``ot.emd``) between the plotted samples: the
reference every learned map is compared against.

Python: :func:`make_gallery`; command line: ``monge gallery``.
"""

from __future__ import annotations

import math
import time
import zlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from monge._checks import check_positive_int
from monge.apps.progress import training_progress
from monge.errors import InvalidInputError, UnknownNameError

W2GN_PAIRS: tuple[str, ...] = ("8gaussians", "49gaussians", "100gaussians", "swiss_roll")
"""The W2GN paper's toy pairs (source N(0, I), standardised targets)."""

W2GAN_PAIRS: tuple[str, ...] = ("4gaussians", "checkerboard", "2spirals")
"""The W2GAN paper's 2-D pairs."""

FIGURES: tuple[str, ...] = ("w2gn", "w2gan", "evolution", "torn")
"""Figure groups :func:`make_gallery` can draw (``figures=`` / ``monge gallery --only``)."""

DISCRETE_OT = "discrete-ot"
"""Name of the exact discrete-OT reference panel (not a trained solver)."""

DEFAULT_SOLVERS: tuple[str, ...] = ("w2gan", "wgan-gp-map", "wgan-lp-map", "w2gn", DISCRETE_OT)
"""Panels of ``w2gan_pairs.png`` by default: the W2GAN paper's comparison plus W2GN."""

_ADVERSARIAL = {"n_critic": 5, "generator_sizes": [64, 64, 64], "critic_sizes": [64, 64]}
GALLERY_OPTIONS: dict[str, dict[str, Any]] = {
    "w2gn": {"hidden_sizes": [64, 64, 32], "init_std": 0.1, "lr": 3e-3, "lr_decay": True, "pretrain_steps": 300},
    "w2gan": dict(_ADVERSARIAL),
    "wgan-gp-map": dict(_ADVERSARIAL),
    "wgan-lp-map": dict(_ADVERSARIAL),
}
"""Solver options of the full gallery (CPU-sized; other solvers use their own defaults). The adversarial
solvers take 5 critic steps per generator step instead of the authors' 20 to fit a CPU budget."""

GALLERY_STEPS: dict[str, int] = {"w2gn": 6000, "w2gan": 1000, "wgan-gp-map": 1000, "wgan-lp-map": 1000}
"""Training steps per fit when ``steps`` is not given (other solvers: 1000)."""

QUICK_STEPS = 20
"""Steps per fit in quick mode (small networks: each solver's ``smoke_options``)."""

EVOLUTION_FRACTIONS: tuple[float, ...] = (0.0, 0.05, 0.15, 0.3, 0.6, 1.0)
"""Where along training ``w2gan_evolution.png`` snapshots the generator (fractions of the steps)."""

_MAX_PNG_BYTES = 400_000


# ---------------------------------------------------------------------------------------------- checks
def _check_solvers(solvers: Iterable[str]) -> list[str]:
    from monge.solvers import available_solvers

    if isinstance(solvers, str):
        solvers = [solvers]
    names = list(solvers)
    if not names:
        raise InvalidInputError("solvers: give at least one solver name")
    known = [*available_solvers(cost="w2"), DISCRETE_OT]
    for name in names:
        if name not in known:
            raise UnknownNameError("gallery solver", str(name), known)
    if len(set(names)) != len(names):
        raise InvalidInputError(f"solvers: each solver may appear once, got {names}")
    return names


def _check_figures(figures: Iterable[str] | None) -> list[str]:
    if figures is None:
        return list(FIGURES)
    if isinstance(figures, str):
        figures = [figures]
    names = list(figures)
    if not names:
        raise InvalidInputError("figures: give at least one figure name (or None for all)")
    for name in names:
        if name not in FIGURES:
            raise UnknownNameError("gallery figure", str(name), FIGURES)
    return [f for f in FIGURES if f in names]


def _seeded(seed: int, *labels: str) -> torch.Generator:
    """A CPU generator seeded from ``seed`` and a stable hash of ``labels`` (one stream per fit/data set)."""
    key = zlib.crc32("/".join(labels).encode())
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + key) % (2**63))


# ---------------------------------------------------------------------------------------------- fitting
def _solver_options(solver: str, quick: bool, overrides: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    from monge.solvers import SOLVERS

    if quick:
        options = dict(getattr(SOLVERS[solver], "smoke_options", {}) or {})
    else:
        options = dict(GALLERY_OPTIONS.get(solver, {}))
    options.update((overrides or {}).get(solver, {}))
    return options


def _steps_for(solver: str, steps: int | None, quick: bool) -> int:
    if steps is not None:
        return steps
    return QUICK_STEPS if quick else GALLERY_STEPS.get(solver, 1000)


def _fit(solver: str, source: Any, target: Any, *, steps: int, batch_size: int, generator: torch.Generator,
         options: dict[str, Any], progress: bool, label: str,
         snapshot_at: Sequence[int] = (), snapshot_x: torch.Tensor | None = None) -> tuple[Any, float, dict[int, torch.Tensor]]:
    """Train ``solver``; returns (result, seconds, {step: forward(snapshot_x)} at the ``snapshot_at`` steps)."""
    import monge

    snapshots: dict[int, torch.Tensor] = {}
    wanted = set(snapshot_at)
    started = time.perf_counter()
    with training_progress(steps, label, enabled=progress) as bar:
        def callback(p: Any) -> None:
            bar(p)
            if snapshot_x is not None and p.step in wanted:
                snapshots[int(p.step)] = p.result().forward(snapshot_x).detach().clone()

        result = monge.fit(source, target, solver=solver, steps=steps, batch_size=batch_size, generator=generator,
                           callback=callback, **options)
    return result, time.perf_counter() - started, snapshots


def _map_scores(x: torch.Tensor, y: torch.Tensor, mapped: torch.Tensor, ot_cost: float) -> dict[str, float]:
    from monge.metrics import discrete_w2

    finite = bool(torch.isfinite(mapped).all())
    if not finite:
        return {"w2_to_target": math.inf, "transport_cost": math.inf, "ot_cost": ot_cost}
    return {"w2_to_target": discrete_w2(mapped, y),
            "transport_cost": float(0.5 * (mapped.double() - x.double()).square().sum(1).mean()),
            "ot_cost": ot_cost}


# ---------------------------------------------------------------------------------------------- drawing
def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _write_png(fig: Any, path: Path, *, max_bytes: int = _MAX_PNG_BYTES) -> Path:
    """Save ``fig`` to ``path``. A PNG over ``max_bytes`` is re-encoded with Pillow as a 256-colour palette
    image (same size), and only if that is still too large downscaled until it fits."""
    from PIL import Image

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp, format="png")
        if tmp.stat().st_size > max_bytes:
            with Image.open(tmp) as image:
                palette = image.convert("RGB").quantize(colors=256)
            palette.save(tmp, format="PNG", optimize=True)
        while tmp.stat().st_size > max_bytes:
            with Image.open(tmp) as image:
                w, h = image.size
                smaller = image.convert("RGB").resize((max(1, int(w * 0.85)), max(1, int(h * 0.85))),
                                                      Image.LANCZOS).quantize(colors=256)
            smaller.save(tmp, format="PNG", optimize=True)
        tmp.replace(path)
    except OSError as exc:
        raise InvalidInputError(f"cannot write figure {path}: {exc.strerror or exc}") from exc
    return path


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def _limits(*clouds: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    both = np.concatenate(clouds)
    lo, hi = np.percentile(both, 0.5, axis=0), np.percentile(both, 99.5, axis=0)
    pad = 0.08 * (hi - lo).max()
    return (lo[0] - pad, hi[0] + pad), (lo[1] - pad, hi[1] + pad)


def _style(ax: Any, limits: tuple[tuple[float, float], tuple[float, float]]) -> None:
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])


def _arrow_panel(ax: Any, x: np.ndarray, y: np.ndarray, mapped: np.ndarray, arrows: int) -> None:
    ax.scatter(y[:, 0], y[:, 1], s=2, alpha=0.25, color="tab:green", linewidths=0)
    ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.25, color="tab:blue", linewidths=0)
    finite = np.isfinite(mapped).all(axis=1)
    ax.scatter(mapped[finite, 0], mapped[finite, 1], s=2, alpha=0.35, color="tab:red", linewidths=0)
    idx = np.flatnonzero(finite)
    if idx.size and arrows > 0:
        idx = idx[np.linspace(0, idx.size - 1, min(arrows, idx.size)).astype(int)]
        d = mapped[idx] - x[idx]
        ax.quiver(x[idx, 0], x[idx, 1], d[:, 0], d[:, 1], angles="xy", scale_units="xy", scale=1.0,
                  width=0.005, color="black", alpha=0.7)


# ---------------------------------------------------------------------------------------------- figures
def _w2gn_figure(pair: str, out_dir: Path, *, steps: int | None, quick: bool, seed: int, batch_size: int,
                 n_samples: int, options: dict[str, dict[str, Any]] | None, progress: bool
                 ) -> tuple[Path, dict[str, float]]:
    from monge.metrics import discrete_w2
    from monge.samplers.toy import toy_pair

    source, target = toy_pair(pair)
    data = _seeded(seed, "w2gn", pair, "data")
    x, y = source.sample(n_samples, data), target.sample(n_samples, data)
    n_steps = _steps_for("w2gn", steps, quick)
    result, seconds, _ = _fit("w2gn", source, target, steps=n_steps, batch_size=batch_size,
                              generator=_seeded(seed, "w2gn", pair, "fit"), options=_solver_options("w2gn", quick, options),
                              progress=progress, label=f"w2gn on {pair}")
    forward, inverse = result.forward(x), result.inverse(y)
    scores = {"w2_forward": discrete_w2(forward, y), "w2_inverse": discrete_w2(inverse, x),
              "w2_identity": discrete_w2(x, y), "w2_floor": discrete_w2(target.sample(n_samples, data), y),
              "steps": float(n_steps), "train_s": seconds}
    xs, ys, fs, inv = _np(x), _np(y), _np(forward), _np(inverse)
    limits = _limits(xs, ys)
    fig = _figure(13.0, 3.7)
    axes = fig.subplots(1, 4)
    panels = [(xs, "tab:blue", None, "source P = N(0, I)"), (ys, "tab:green", None, f"target Q ({pair})"),
              (fs, "tab:red", ys, f"forward ∇ψθ(x), W2 to Q = {scores['w2_forward']:.3f}"),
              (inv, "tab:purple", xs, f"inverse ∇ψ̄ω(y), W2 to P = {scores['w2_inverse']:.3f}")]
    for ax, (points, colour, under, title) in zip(axes, panels):
        if under is not None:
            ax.scatter(under[:, 0], under[:, 1], s=2, alpha=0.15, color="grey", linewidths=0)
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, color=colour, linewidths=0)
        ax.set_title(title, fontsize=8.5)
        _style(ax, limits)
    fig.suptitle(f"W2GN on N(0, I) → {pair}: {n_steps} steps, {seconds:.0f} s; identity W2 = "
                 f"{scores['w2_identity']:.3f}, sampling floor W2(Q, Q') = {scores['w2_floor']:.3f}", fontsize=9.5)
    fig.tight_layout()
    return _write_png(fig, out_dir / f"w2gn_{pair}.png"), scores


def _evolution_steps(n_steps: int) -> list[int]:
    return sorted({min(n_steps, max(0, round(f * n_steps))) for f in EVOLUTION_FRACTIONS})


def _evolution_figure(pair: str, out_dir: Path, x: torch.Tensor, y: torch.Tensor, snapshots: dict[int, torch.Tensor],
                      n_steps: int) -> tuple[Path, dict[str, float]]:
    from monge.metrics import discrete_w2

    shown = sorted(snapshots)
    scores = {f"w2_step_{s}": discrete_w2(snapshots[s], y) if bool(torch.isfinite(snapshots[s]).all()) else math.inf
              for s in shown}
    xs, ys = _np(x), _np(y)
    limits = _limits(xs, ys)
    fig = _figure(2.6 * len(shown), 3.1)
    axes = np.atleast_1d(fig.subplots(1, len(shown)))
    for ax, s in zip(axes, shown):
        points = _np(snapshots[s])
        ax.scatter(ys[:, 0], ys[:, 1], s=2, alpha=0.2, color="tab:green", linewidths=0)
        finite = np.isfinite(points).all(axis=1)
        ax.scatter(points[finite, 0], points[finite, 1], s=2, alpha=0.5, color="tab:red", linewidths=0)
        ax.set_title(f"step {s}: W2 = {scores[f'w2_step_{s}']:.3f}", fontsize=8.5)
        _style(ax, limits)
    fig.suptitle(f"W2GAN generator G#P (red) against Q (green) along training on {pair} ({n_steps} steps)",
                 fontsize=9.5)
    fig.tight_layout()
    return _write_png(fig, out_dir / "w2gan_evolution.png"), scores


def _pairs_figure(out_dir: Path, panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]],
                  scores: dict[str, dict[str, dict[str, float]]], solvers: list[str], arrows: int) -> Path:
    pairs = list(panels)
    fig = _figure(2.9 * len(solvers), 3.45 * len(pairs))
    axes = np.asarray(fig.subplots(len(pairs), len(solvers), squeeze=False))
    for row, pair in enumerate(pairs):
        first = panels[pair][solvers[0]]
        limits = _limits(first[0], first[1])
        for col, solver in enumerate(solvers):
            ax = axes[row, col]
            x, y, mapped = panels[pair][solver]
            _arrow_panel(ax, x, y, mapped, arrows)
            s = scores[pair][solver]
            label = "discrete OT (exact, on samples)" if solver == DISCRETE_OT else solver
            ax.set_title(f"{pair} · {label}\nW2(T#P, Q) = {s['w2_to_target']:.3f}\n"
                         f"cost {s['transport_cost']:.3f} (OT {s['ot_cost']:.3f})", fontsize=8)
            _style(ax, limits)
    fig.suptitle("source (blue) → T(source) (red) against target (green); arrows x → T(x)", fontsize=10)
    fig.tight_layout()
    return _write_png(fig, out_dir / "w2gan_pairs.png")


# ---------------------------------------------------------------------------------------------- API
def make_gallery(
    out_dir: str | Path,
    *,
    steps: int | None = None,
    solvers: Sequence[str] = DEFAULT_SOLVERS,
    seed: int = 0,
    progress: bool = True,
    figures: Sequence[str] | None = None,
    quick: bool = False,
    batch_size: int | None = None,
    n_samples: int | None = None,
    arrows: int = 40,
    evolution_pair: str = "4gaussians",
    torn_pair: str = "8gaussians",
    w2gn_pairs: Sequence[str] = W2GN_PAIRS,
    w2gan_pairs: Sequence[str] = W2GAN_PAIRS,
    options: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Draw the 2-D gallery into ``out_dir`` and return ``{"figures": {name: path}, "scores": {...},
    "seconds": total}``.

    Args:
        out_dir: folder for the PNGs (created).
        steps: training steps of every fit; default per solver (:data:`GALLERY_STEPS`, or
            :data:`QUICK_STEPS` with ``quick``).
        solvers: panels of ``w2gan_pairs.png``: W2 solver names (``monge.available_solvers(cost="w2")``)
            and/or ``"discrete-ot"``.
        seed: every fit and every evaluation sample set gets its own ``torch.Generator`` seeded from
            ``seed`` and the figure, pair and solver names, so the gallery is reproducible.
        progress: show a progress bar per fit (stderr).
        figures: subset of :data:`FIGURES` (``"w2gn"``, ``"w2gan"``, ``"evolution"``, ``"torn"``); None draws all.
        quick: tiny networks (each solver's ``smoke_options``), few steps and samples: a test run.
        batch_size: minibatch per side (default 256, quick 64).
        n_samples: evaluation and plotted samples per side (default 1000, quick 200).
        arrows: displacement arrows per panel.
        evolution_pair: W2GAN pair of ``w2gan_evolution.png``; torn_pair: toy pair of ``torn_<pair>.png``.
        w2gn_pairs / w2gan_pairs: the pairs drawn (default: all of each paper).
        options: per-solver option overrides, e.g. ``{"w2gan": {"n_critic": 20}}``.

    Scores (all measured on the plotted samples): ``scores["w2gn"][pair]`` has ``w2_forward`` (discrete W2
    between ∇ψθ(x) and y), ``w2_inverse`` (between ∇ψ̄ω(y) and x), ``w2_identity``, ``w2_floor``,
    ``train_s``; ``scores["w2gan"][pair][solver]`` has ``w2_to_target``, ``transport_cost``, ``ot_cost``,
    ``train_s``; ``scores["evolution"]`` has ``w2_step_<k>`` per snapshot; ``scores["torn"][activation]`` has
    ``jump_ratio``, ``max_jump`` and ``train_s`` (:mod:`monge.apps.torn_map`, pair ``torn_pair``).

    Raises:
        UnknownNameError: an unknown solver, figure or pair name.
        InvalidInputError: non-positive ``steps``, ``batch_size``, ``n_samples`` or a file that cannot be written.
    """
    from monge.samplers.toy import TOY_PAIRS, toy_pair

    solver_list = _check_solvers(solvers)
    wanted = _check_figures(figures)
    if steps is not None:
        check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size if batch_size is not None else (64 if quick else 256), "batch_size")
    n_samples = check_positive_int(n_samples if n_samples is not None else (200 if quick else 1000), "n_samples")
    if isinstance(arrows, bool) or not isinstance(arrows, int) or arrows < 0:
        raise InvalidInputError(f"arrows must be a non-negative integer, got {arrows!r}")
    for name in [*w2gn_pairs, *w2gan_pairs, evolution_pair, torn_pair]:
        if name not in TOY_PAIRS:
            raise UnknownNameError("toy pair", str(name), TOY_PAIRS)
    if options is not None:
        _check_solvers(list(options))
    out = Path(out_dir)
    started = time.perf_counter()
    paths: dict[str, Path] = {}
    scores: dict[str, Any] = {}

    if "w2gn" in wanted:
        scores["w2gn"] = {}
        for pair in w2gn_pairs:
            paths[f"w2gn_{pair}"], scores["w2gn"][pair] = _w2gn_figure(
                pair, out, steps=steps, quick=quick, seed=seed, batch_size=batch_size, n_samples=n_samples,
                options=options, progress=progress)

    evolution = "evolution" in wanted
    evo_steps = _steps_for("w2gan", steps, quick)
    evo_at = _evolution_steps(evo_steps)
    evo_data: tuple[torch.Tensor, torch.Tensor, dict[int, torch.Tensor]] | None = None

    if "w2gan" in wanted:
        panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        scores["w2gan"] = {}
        for pair in w2gan_pairs:
            from monge.metrics import discrete_ot_map, discrete_w2

            source, target = toy_pair(pair)
            data = _seeded(seed, "w2gan", pair, "data")
            x, y = source.sample(n_samples, data), target.sample(n_samples, data)
            ot_cost = 0.5 * discrete_w2(x, y, squared=True)
            panels[pair], scores["w2gan"][pair] = {}, {}
            for solver in solver_list:
                if solver == DISCRETE_OT:
                    t0 = time.perf_counter()
                    mapped = discrete_ot_map(x, y)[0]
                    seconds = time.perf_counter() - t0
                else:
                    snap = evolution and solver == "w2gan" and pair == evolution_pair
                    n_steps = _steps_for(solver, steps, quick)
                    result, seconds, snapshots = _fit(
                        solver, source, target, steps=n_steps, batch_size=batch_size,
                        generator=_seeded(seed, "w2gan", pair, solver), options=_solver_options(solver, quick, options),
                        progress=progress, label=f"{solver} on {pair}",
                        snapshot_at=evo_at if snap else (), snapshot_x=x if snap else None)
                    mapped = result.forward(x)
                    if snap:
                        evo_data = (x, y, {0: x.clone(), **snapshots})
                entry = _map_scores(x, y, mapped, ot_cost)
                entry["train_s"] = seconds
                scores["w2gan"][pair][solver] = entry
                panels[pair][solver] = (_np(x), _np(y), _np(mapped))
        paths["w2gan_pairs"] = _pairs_figure(out, panels, scores["w2gan"], solver_list, arrows)

    if evolution:
        if evo_data is None:
            source, target = toy_pair(evolution_pair)
            data = _seeded(seed, "w2gan", evolution_pair, "data")
            x, y = source.sample(n_samples, data), target.sample(n_samples, data)
            _, _, snapshots = _fit("w2gan", source, target, steps=evo_steps, batch_size=batch_size,
                                   generator=_seeded(seed, "w2gan", evolution_pair, "w2gan"),
                                   options=_solver_options("w2gan", quick, options), progress=progress,
                                   label=f"w2gan on {evolution_pair}", snapshot_at=evo_at, snapshot_x=x)
            evo_data = (x, y, {0: x.clone(), **snapshots})
        x, y, snapshots = evo_data
        paths["w2gan_evolution"], scores["evolution"] = _evolution_figure(evolution_pair, out, x, y, snapshots,
                                                                          evo_steps)
    if "torn" in wanted:
        from monge.apps.torn_map import torn_map_figure

        paths[f"torn_{torn_pair}"], scores["torn"] = torn_map_figure(
            torn_pair, out, seed=seed, options=_solver_options("w2gn", quick, options),
            steps=_steps_for("w2gn", steps, quick), batch_size=batch_size, n_samples=n_samples, progress=progress)
    return {"figures": paths, "scores": scores, "seconds": time.perf_counter() - started}


def score_lines(report: dict[str, Any]) -> list[str]:
    """Plain-text lines summarising the scores of a :func:`make_gallery` report (for the CLI and docs)."""
    lines: list[str] = []
    for pair, s in report["scores"].get("w2gn", {}).items():
        lines.append(f"w2gn {pair}: W2(forward, Q) {s['w2_forward']:.3f}, W2(inverse, P) {s['w2_inverse']:.3f}, "
                     f"identity {s['w2_identity']:.3f}, floor {s['w2_floor']:.3f}, {s['train_s']:.0f} s")
    for pair, per_solver in report["scores"].get("w2gan", {}).items():
        for solver, s in per_solver.items():
            lines.append(f"{pair} {solver}: W2(T#P, Q) {s['w2_to_target']:.3f}, cost {s['transport_cost']:.3f} "
                         f"(discrete OT {s['ot_cost']:.3f}), {s['train_s']:.1f} s")
    for activation, s in report["scores"].get("torn", {}).items():
        lines.append(f"torn map, {activation}: jump ratio {s['jump_ratio']:.2f} (continuous ≈ 0.25, torn ≈ 1), "
                     f"largest grid jump {s['max_jump']:.3f}, {s['train_s']:.0f} s")
    evo = report["scores"].get("evolution")
    if evo:
        lines.append("w2gan evolution: " + ", ".join(f"{k.removeprefix('w2_')} W2 {v:.3f}" for k, v in evo.items()))
    return lines
