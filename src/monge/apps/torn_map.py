"""W2GN's torn map (Korotin et al., "Wasserstein-2 Generative Networks", ICLR 2021, App. B.2, Fig. 11): the gradient
of an ICNN with ReLU activations is discontinuous, so the map ∇ψ tears the support of the pushed-forward
distribution apart; with CELU (the paper's choice) ∇ψ is continuous.

The gallery's ``torn`` figure fits W2GN twice on N(0, I) → a toy pair, once with each activation, and pushes a fine
grid of the source square through both maps. The score that tells a torn map from a continuous one is the
**jump ratio** (:func:`jump_ratio`): the largest distance between the images of two neighbouring grid points at
spacing h/4, divided by the same at spacing h. A continuous (locally Lipschitz) map gives about 1/4; a map that
jumps gives about 1, because its jumps do not shrink with the spacing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from monge.apps.gallery import _figure, _fit, _seeded, _style, _write_png

ACTIVATIONS: tuple[str, ...] = ("celu", "relu")
"""The two W2GN fits of the figure: the paper's CELU and the ReLU that tears."""


def max_jump(transport: Callable[[torch.Tensor], torch.Tensor], lo: float, hi: float, points: int) -> float:
    """The largest ‖T(a) − T(b)‖ over horizontally or vertically neighbouring points of the ``points × points`` grid
    of the square [lo, hi]²."""
    axis = torch.linspace(lo, hi, points, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    mapped = transport(grid.float()).double().reshape(points, points, -1)
    rows = (mapped[1:] - mapped[:-1]).norm(dim=-1).max()
    cols = (mapped[:, 1:] - mapped[:, :-1]).norm(dim=-1).max()
    return float(torch.maximum(rows, cols))


def jump_ratio(transport: Callable[[torch.Tensor], torch.Tensor], *, lo: float = -2.0, hi: float = 2.0,
               points: int = 101) -> float:
    """:func:`max_jump` on a grid 4× finer than ``points`` over the same square, divided by :func:`max_jump` on
    ``points``: about 0.25 for a continuous map, about 1 for one that tears (its jumps do not shrink)."""
    coarse = max_jump(transport, lo, hi, points)
    fine = max_jump(transport, lo, hi, 4 * (points - 1) + 1)
    return fine / coarse if coarse > 0 else 0.0


def distinct_count(scores: dict[str, dict[str, float]], activation: str) -> str:
    """The number of distinct mapped grid points (to 1e-3) as text, e.g. ``"25,921"``."""
    return f"{int(scores[activation]['distinct_images']):,}"


def torn_map_figure(pair: str, out_dir: Path, *, seed: int, options: dict[str, Any], steps: int, batch_size: int,
                    n_samples: int, progress: bool) -> tuple[Path, dict[str, dict[str, float]]]:
    """Fit W2GN with each of :data:`ACTIVATIONS` (the gallery's W2GN ``options`` otherwise) on N(0, I) → ``pair``
    and draw the pushforward of a source grid through each map beside the target samples (``torn_<pair>.png``).
    Returns the path and, per activation, the ``jump_ratio``, the grid's ``max_jump`` and the fit's ``train_s``."""
    from monge.samplers.toy import toy_pair

    source, target = toy_pair(pair)
    y = target.sample(n_samples, _seeded(seed, "torn", pair, "data"))
    axis = torch.linspace(-2.0, 2.0, 161)
    grid = torch.cartesian_prod(axis, axis)
    scores: dict[str, dict[str, float]] = {}
    images = {}
    for activation in ACTIVATIONS:
        result, seconds, _ = _fit("w2gn", source, target, steps=steps, batch_size=batch_size,
                                 generator=_seeded(seed, "torn", pair, activation),
                                 options={**options, "activation": activation}, progress=progress,
                                 label=f"w2gn[{activation}] on {pair}")
        with torch.no_grad():
            images[activation] = result.forward(grid).numpy()
        distinct = len(np.unique(np.round(images[activation], 3), axis=0))
        scores[activation] = {"jump_ratio": jump_ratio(result.forward), "max_jump": max_jump(result.forward, -2, 2, 161),
                              "distinct_images": float(distinct), "train_s": seconds}
    ys = y.numpy()
    limits = ((-3.2, 3.2), (-3.2, 3.2))
    fig = _figure(11.0, 3.9)
    axes = fig.subplots(1, 3)
    colours = np.arctan2(grid[:, 1].numpy(), grid[:, 0].numpy())
    axes[0].scatter(ys[:, 0], ys[:, 1], s=2, alpha=0.5, color="tab:green", linewidths=0)
    axes[0].set_title(f"target Q ({pair})", fontsize=9)
    for ax, activation in zip(axes[1:], ACTIVATIONS):
        image = images[activation]
        ax.scatter(image[:, 0], image[:, 1], s=3, c=colours, cmap="hsv", alpha=0.6, linewidths=0)
        ax.set_title(f"∇ψ with {activation.upper()}: a 161² grid of [−2, 2]² lands on {distinct_count(scores, activation)}"
                     f" points\njump ratio {scores[activation]['jump_ratio']:.2f} (continuous ≈ 0.25, torn ≈ 1)",
                     fontsize=8.5)
    for ax in axes:
        _style(ax, limits)
    fig.suptitle(f"W2GN's torn map (App. B.2, Fig. 11): ICNN activations on N(0, I) → {pair}, {steps} steps each",
                 fontsize=9.5)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return _write_png(fig, out_dir / f"torn_{pair}.png"), scores


__all__ = ["ACTIVATIONS", "jump_ratio", "max_jump", "torn_map_figure"]
