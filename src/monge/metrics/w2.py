"""Quadratic-cost (W2) metrics: L2-UVP, cosine, cost error, exact discrete W2, and ``evaluate``.

L2-UVP and the cosine metric are those of Korotin et al., "Wasserstein-2 Generative Networks" (ICLR 2021)
and "Do Neural Optimal Transport Solvers Work? A Continuous Wasserstein-2 Benchmark" (NeurIPS 2021).
Every function computes in float64 and returns Python floats.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np
import torch

from monge._checks import check_samples
from monge.errors import DimensionMismatchError, InvalidInputError

Map = Callable[[torch.Tensor], torch.Tensor]


def _f64(t: torch.Tensor, name: str, dim: int | None = None) -> torch.Tensor:
    return check_samples(t, name=name, dim=dim).detach().to(torch.float64)


def _same_shape(**tensors: torch.Tensor) -> None:
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    if len(set(shapes.values())) > 1:
        listing = ", ".join(f"{k} {s}" for k, s in shapes.items())
        cls = DimensionMismatchError if len({s[1] for s in shapes.values()}) > 1 else InvalidInputError
        raise cls(f"shapes differ: {listing}")


def _to_cpu(**tensors: torch.Tensor) -> dict[str, torch.Tensor]:
    devices = {t.device for t in tensors.values()}
    if len(devices) > 1:
        return {k: v.cpu() for k, v in tensors.items()}
    return tensors


def l2_uvp(mapped: torch.Tensor, true_mapped: torch.Tensor, variance: float) -> float:
    """Unexplained variance percentage: 100 · E‖T(x) − T*(x)‖² / Var(Q) (Korotin et al., ICLR 2021;
    NeurIPS 2021), with Var(Q) the sum of per-coordinate variances of the target. 0 for the true map."""
    m, t = _f64(mapped, "mapped"), _f64(true_mapped, "true_mapped")
    _same_shape(mapped=m, true_mapped=t)
    d = _to_cpu(m=m, t=t)
    variance = float(variance)
    if not math.isfinite(variance) or variance <= 0:
        raise InvalidInputError(f"variance must be positive and finite, got {variance}")
    return float(100.0 * ((d["m"] - d["t"]) ** 2).sum(dim=1).mean() / variance)


def cosine(x: torch.Tensor, mapped: torch.Tensor, true_mapped: torch.Tensor) -> float:
    """Cosine between the learned and the true displacement (Korotin et al., NeurIPS 2021):

    cos = E⟨T*(x) − x, T(x) − x⟩ / sqrt(2·cost · E‖T(x) − x‖²), cost = ½ E‖x − T*(x)‖².

    1 for any positive multiple of the true displacement, −1 for a negative one; NaN when either
    displacement is identically zero (e.g. the identity map), where the cosine is undefined.
    """
    x64, m, t = _f64(x, "x"), _f64(mapped, "mapped"), _f64(true_mapped, "true_mapped")
    _same_shape(x=x64, mapped=m, true_mapped=t)
    d = _to_cpu(x=x64, m=m, t=t)
    true_disp, disp = d["t"] - d["x"], d["m"] - d["x"]
    cost = 0.5 * (true_disp**2).sum(dim=1).mean()
    denom = torch.sqrt(2.0 * cost * (disp**2).sum(dim=1).mean())
    if float(denom) == 0.0:
        return float("nan")
    return float((true_disp * disp).sum(dim=1).mean() / denom)


def cost_error(estimate: float, true_cost: float) -> float:
    """Relative error of a cost estimate in percent: 100·|estimate − true| / true."""
    estimate, true_cost = float(estimate), float(true_cost)
    if not math.isfinite(true_cost) or true_cost == 0:
        raise InvalidInputError(f"true_cost must be finite and non-zero, got {true_cost}")
    return 100.0 * abs(estimate - true_cost) / abs(true_cost)


def _sq_dist(a: torch.Tensor, b: torch.Tensor, chunk_elems: int = 1 << 24) -> torch.Tensor:
    """Pairwise squared Euclidean distances by explicit differences (no ‖a‖²+‖b‖²−2ab cancellation)."""
    rows = max(1, chunk_elems // max(1, b.shape[0] * a.shape[1]))
    return torch.cat([((blk[:, None, :] - b[None, :, :]) ** 2).sum(-1) for blk in a.split(rows)])


def discrete_w2(a: torch.Tensor, b: torch.Tensor, *, squared: bool = False) -> float:
    """Exact W2 between the equal-weight empirical measures of sample sets ``a`` (n, d) and ``b`` (m, d).

    Solves the discrete OT problem exactly with POT's network simplex (``ot.emd2``, squared Euclidean
    cost, ``numItermax = 1e7``) in float64. Returns W2, or W2² when ``squared``. Warns
    (``RuntimeWarning``) if the solver stops before optimality.
    """
    import ot

    a64, b64 = _f64(a, "a"), _f64(b, "b")
    if a64.shape[1] != b64.shape[1]:
        raise DimensionMismatchError(f"a has dimension {a64.shape[1]} but b has {b64.shape[1]}")
    a64, b64 = a64.cpu(), b64.cpu()
    cost = _sq_dist(a64, b64).numpy()
    wa = np.full(a64.shape[0], 1.0 / a64.shape[0])
    wb = np.full(b64.shape[0], 1.0 / b64.shape[0])
    value, log = ot.emd2(wa, wb, cost, numItermax=10_000_000, log=True)
    if log.get("warning"):
        warnings.warn(f"discrete_w2: ot.emd2 did not converge: {log['warning']}", RuntimeWarning, stacklevel=2)
    value = max(float(value), 0.0)
    return value if squared else math.sqrt(value)


# ---------------------------------------------------------------------------- evaluate
FRECHET_SAMPLES_PER_DIM = 4
"""``fd_fwd`` is computed when each side has at least this many samples per dimension (4096 samples: D ≤ 1024);
with fewer, the covariance estimates are too noisy (and the square roots too slow) for the number to mean much."""


def pushforward_frechet(mapped: torch.Tensor, target: torch.Tensor) -> float | None:
    """Fréchet distance between T♯P samples ``mapped`` and target samples (the squared W2 between their fitted
    Gaussians; :func:`monge.metrics.frechet_distance`): how well the pushed-forward samples match Q's first two
    moments, whatever the map (the generative-quality view, beside L2-UVP's map-accuracy view). NaN when
    ``mapped`` is not finite; ``None`` (not computed) with fewer than :data:`FRECHET_SAMPLES_PER_DIM` samples
    per dimension on either side."""
    from monge.metrics.frechet import frechet_distance

    n = min(mapped.shape[0], target.shape[0])
    if n < FRECHET_SAMPLES_PER_DIM * target.shape[1]:
        return None
    if not bool(torch.isfinite(mapped).all()):
        return float("nan")
    return frechet_distance(mapped, target)


def _gt_metrics(
    pair: Any, forward: Map, inverse: Map | None, x: torch.Tensor, y: torch.Tensor
) -> dict[str, float]:
    out: dict[str, float] = {}
    true_y = pair.true_forward(x)
    mapped = forward(x)
    out["l2_uvp_fwd"] = l2_uvp(mapped, true_y, pair.target_variance)
    out["cos_fwd"] = cosine(x, mapped, true_y)
    fd = pushforward_frechet(mapped, y)
    if fd is not None:
        out["fd_fwd"] = fd
    if inverse is not None:
        true_x = pair.true_inverse(y)
        back = inverse(y)
        out["l2_uvp_inv"] = l2_uvp(back, true_x, pair.source_variance)
        out["cos_inv"] = cosine(y, back, true_x)
    return out


def evaluate(
    result: Any, pair: Any, n: int = 4096, generator: torch.Generator | None = None, *, n_discrete: int = 1024
) -> dict[str, float]:
    """Score a fitted map (or, for a :class:`~monge.solvers.w1.W1Result`, a W1 critic: see
    :func:`monge.metrics.w1.evaluate_w1`) against a pair; returns named floats.

    ``result`` is anything with ``forward(x)``, ``inverse(y)``, ``has_inverse`` and ``cost_estimate``
    (a :class:`~monge.solvers.base.W2Result`). Draws x ~ source then y ~ target with ``generator``.

    With ground truth (``pair.has_ground_truth``; n samples each), following Korotin et al. (ICLR 2021,
    NeurIPS 2021):
      - ``l2_uvp_fwd`` = 100·E‖T(x) − T*(x)‖²/Var(Q), ``cos_fwd`` (see :func:`cosine`);
      - ``fd_fwd``: the Fréchet distance between T♯x and y (:func:`pushforward_frechet`; when n ≥ 4·D), the
        generative-quality view of the same map;
      - if ``result.has_inverse``: ``l2_uvp_inv`` = 100·E‖T⁻¹(y) − T*⁻¹(y)‖²/Var(P), ``cos_inv`` (cosine
        with the roles of source and target swapped);
      - ``cost_true`` = ½W2², and ``cost_error`` (percent) when ``result.cost_estimate`` is finite.

    Without ground truth (toy pairs; n_discrete samples each), exact discrete W2 (:func:`discrete_w2`):
    ``w2_mapped_target`` = W2(T♯x, y), ``w2_source_target`` = W2(x, y), ``w2_ratio`` = their ratio, and
    ``w2_inverse_source`` = W2(T⁻¹♯y, x) when the result has an inverse.
    """
    from monge._checks import check_generator
    from monge.solvers.w1.base import W1Result

    check_generator(generator)
    if not isinstance(result, W1Result) and not callable(getattr(result, "forward", None)):
        raise InvalidInputError(f"result: expected a fitted result (a W2Result from monge.fit, or a W1Result), got "
                                f"{type(result).__name__}")
    if not hasattr(pair, "source") or not hasattr(pair, "target"):
        raise InvalidInputError(f"pair: expected a benchmark pair such as monge.make_pair('gaussian:4'), got "
                                f"{type(pair).__name__}")
    if isinstance(result, W1Result):
        from monge.metrics.w1 import evaluate_w1

        return evaluate_w1(result, pair, n=n, generator=generator)
    if getattr(pair, "cost", None) == "w1":
        raise InvalidInputError(f"pair {getattr(pair, 'name', pair)!r} carries W1 ground truth; a W2 map "
                                f"({type(result).__name__}) cannot be scored on it")
    has_inv = bool(getattr(result, "has_inverse", False))
    inverse = result.inverse if has_inv else None
    if getattr(pair, "has_ground_truth", False):
        x = pair.source.sample(n, generator=generator)
        y = pair.target.sample(n, generator=generator)
        out = _gt_metrics(pair, result.forward, inverse, x, y)
        true_cost = float(pair.true_cost)
        out["cost_true"] = true_cost
        estimate = float(getattr(result, "cost_estimate", float("nan")))
        if math.isfinite(estimate) and true_cost != 0:
            out["cost_error"] = cost_error(estimate, true_cost)
        return out
    x = pair.source.sample(n_discrete, generator=generator)
    y = pair.target.sample(n_discrete, generator=generator)
    w_mt = discrete_w2(result.forward(x), y)
    w_st = discrete_w2(x, y)
    out = {
        "w2_mapped_target": w_mt,
        "w2_source_target": w_st,
        "w2_ratio": w_mt / w_st if w_st > 0 else float("nan"),
    }
    if inverse is not None:
        out["w2_inverse_source"] = discrete_w2(inverse(y), x)
    return out


def identity_l2_uvp(pair: Any, n: int = 4096, generator: torch.Generator | None = None) -> float:
    """Forward L2-UVP (%) of the identity map on a pair with W2 ground truth, on the same draw as
    :func:`evaluate` with this ``n`` and generator (x ~ source first): the yardstick a garbage map is measured
    against (orders of magnitude above it is no result)."""
    if not getattr(pair, "has_ground_truth", False) or getattr(pair, "cost", None) == "w1":
        raise InvalidInputError(f"identity_l2_uvp needs a pair with W2 ground truth, got {pair!r}")
    x = pair.source.sample(n, generator=generator)
    y = pair.target.sample(n, generator=generator)
    return float(_gt_metrics(pair, lambda z: z, None, x, y)["l2_uvp_fwd"])


def discrete_ot_map(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Barycentric projections of the exact discrete OT plan between equal-weight samples x (n, d), y (m, d).

    Solves the plan π with POT's ``ot.emd`` (squared Euclidean cost, float64) and returns
    ``(forward, inverse)``: forward[i] = n·Σ_j π_ij y_j (where x_i goes) and inverse[j] = m·Σ_i π_ij x_i.
    This is the "discrete OT" baseline: the best a method that only sees these samples can do.
    """
    import ot

    x64, y64 = _f64(x, "x").cpu(), _f64(y, "y").cpu()
    if x64.shape[1] != y64.shape[1]:
        raise DimensionMismatchError(f"x has dimension {x64.shape[1]} but y has {y64.shape[1]}")
    wa = np.full(x64.shape[0], 1.0 / x64.shape[0])
    wb = np.full(y64.shape[0], 1.0 / y64.shape[0])
    plan = torch.from_numpy(ot.emd(wa, wb, _sq_dist(x64, y64).numpy(), numItermax=10_000_000))
    forward = x64.shape[0] * plan @ y64
    inverse = y64.shape[0] * plan.T @ x64
    return forward.to(x.dtype), inverse.to(y.dtype)


def baseline_metrics(
    pair: Any, n: int = 4096, generator: torch.Generator | None = None, *, n_discrete: int | None = 1024
) -> dict[str, dict[str, float]]:
    """Forward/inverse L2-UVP and cosine of the ``identity``, ``constant`` and ``linear`` (Bures) baselines
    of a :class:`~monge.pairs.BenchmarkPair`, on one shared draw x ~ source, y ~ target (n each), and of
    the ``discrete_ot`` baseline (:func:`discrete_ot_map` between the first ``n_discrete`` of those
    samples, scored on the same points, without ``fd_fwd``: it maps onto the very target samples the Fréchet
    distance would compare with; ``None`` skips it).

    For a pair with W1 ground truth the only baseline is the published discrete-OT one,
    ``{"dot": ...}`` (:func:`monge.metrics.w1.dot_baseline` on ``n_discrete`` samples of each side).

    The identity's cosine is NaN (zero displacement). Returns ``{baseline: {metric: value}}``.
    """
    from monge.pairs.base import BASELINES

    if not getattr(pair, "has_ground_truth", False):
        raise InvalidInputError(f"baseline_metrics needs a pair with ground truth, got {pair!r}")
    if getattr(pair, "cost", None) == "w1":
        from monge.metrics.w1 import dot_baseline

        return {"dot": dot_baseline(pair, n=n_discrete or n, generator=generator)}
    x = pair.source.sample(n, generator=generator)
    y = pair.target.sample(n, generator=generator)
    out = {name: _gt_metrics(pair, pair.baseline(name), pair.baseline_inverse(name), x, y) for name in BASELINES}
    if n_discrete:
        xs, ys = x[:n_discrete], y[:n_discrete]
        forward, inverse = discrete_ot_map(xs, ys)
        out["discrete_ot"] = _gt_metrics(pair, lambda _: forward, lambda _: inverse, xs, ys)
        out["discrete_ot"].pop("fd_fwd", None)   # its images are the target samples themselves: 0 by construction
    return out
