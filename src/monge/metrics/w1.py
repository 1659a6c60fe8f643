"""Distance-cost (W1) metrics: gradient cosine and L2, W1 deviation, exact discrete W1, the discrete-OT
baseline and ``evaluate_w1``.

The metrics are those of Korotin, Kolesov, Burnaev, "Kantorovich Strikes Back! Wasserstein GANs are not Optimal
Transport?", NeurIPS 2022 (reference code github.com/justkolesov/Wasserstein1Benchmark, ``src/methods.py``):
on fresh samples y ~ Q, the mean per-sample cosine between the learned critic's gradient ∇f(y) and the optimal
critic's ∇f*(y), the mean squared distance ‖∇f(y) − ∇f*(y)‖², and the deviation 100·|Ŵ1 − W1|/W1 of the
critic's estimate Ŵ1 = mean_Q f − mean_P f. Every function computes in float64 and returns Python floats.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from monge._checks import check_positive_int, check_samples
from monge.errors import DimensionMismatchError, InvalidInputError

COSINE_EPS = 1e-15
"""Added to the cosine's denominator, as in the authors' ``cosine_metrics`` (a zero gradient scores 0)."""
DISCRETE_SAMPLES = 1024
"""Samples per side behind ``w1_discrete`` in :func:`evaluate_w1` for pairs without ground truth."""


def _pair64(pred: Any, true: Any, names: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
    p = check_samples(pred, name=names[0]).detach().to("cpu", torch.float64)
    t = check_samples(true, name=names[1]).detach().to("cpu", torch.float64)
    if p.shape[1] != t.shape[1]:
        raise DimensionMismatchError(f"{names[0]} has dimension {p.shape[1]} but {names[1]} has {t.shape[1]}")
    if p.shape[0] != t.shape[0]:
        raise InvalidInputError(f"{names[0]} has {p.shape[0]} samples but {names[1]} has {t.shape[0]}")
    return p, t


def gradient_cosine(pred: torch.Tensor, true: torch.Tensor) -> float:
    """Mean over samples of cos(pred_i, true_i) = ⟨pred_i, true_i⟩ / (‖pred_i‖·‖true_i‖ + 1e-15): the published
    cosine metric (1 for gradients pointing the right way whatever their length, −1 for the opposite)."""
    p, t = _pair64(pred, true, ("pred", "true"))
    den = (p.norm(dim=1) * t.norm(dim=1)) + COSINE_EPS
    return float(((p * t).sum(dim=1) / den).mean())


def gradient_l2(pred: torch.Tensor, true: torch.Tensor) -> float:
    """Mean over samples of ‖pred_i − true_i‖² (the published L2 metric; 0 for the true gradient, 4 for the
    opposite unit vectors)."""
    p, t = _pair64(pred, true, ("pred", "true"))
    return float((p - t).square().sum(dim=1).mean())


def w1_deviation(estimate: float, true: float) -> float:
    """Deviation of a W1 estimate in percent: 100·|estimate − true| / true (NaN for a NaN estimate)."""
    try:
        estimate, true = float(estimate), float(true)
    except (TypeError, ValueError):
        raise InvalidInputError(f"estimate and true must be numbers, got {estimate!r} and {true!r}") from None
    if not math.isfinite(true) or true <= 0:
        raise InvalidInputError(f"true W1 must be positive and finite, got {true}")
    return 100.0 * abs(estimate - true) / true


def _cost(x64: torch.Tensor, y64: torch.Tensor) -> np.ndarray:
    return torch.cdist(x64, y64, compute_mode="donot_use_mm_for_euclid_dist").numpy()


def _samples64(x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    x64 = check_samples(x, name="x").detach().to("cpu", torch.float64)
    y64 = check_samples(y, name="y").detach().to("cpu", torch.float64)
    if x64.shape[1] != y64.shape[1]:
        raise DimensionMismatchError(f"x has dimension {x64.shape[1]} but y has {y64.shape[1]}")
    return x64, y64


def _emd(x64: torch.Tensor, y64: torch.Tensor, *, plan: bool) -> tuple[float, np.ndarray | None, np.ndarray]:
    import ot

    cost = _cost(x64, y64)
    wa = np.full(x64.shape[0], 1.0 / x64.shape[0])
    wb = np.full(y64.shape[0], 1.0 / y64.shape[0])
    if plan:
        gamma, log = ot.emd(wa, wb, cost, numItermax=10_000_000, log=True)
        value = float(log["cost"])
    else:
        gamma = None
        value, log = ot.emd2(wa, wb, cost, numItermax=10_000_000, log=True)
    if log.get("warning"):
        warnings.warn(f"exact OT (POT) did not converge: {log['warning']}", RuntimeWarning, stacklevel=3)
    return max(float(value), 0.0), gamma, cost


def discrete_w1(x: torch.Tensor, y: torch.Tensor) -> float:
    """Exact W1 between the equal-weight empirical measures of ``x`` (n, d) and ``y`` (m, d), Euclidean cost.

    POT's network simplex (``ot.emd2``, ``numItermax = 1e7``) on a float64 ``torch.cdist`` cost matrix; warns
    (``RuntimeWarning``) if it stops before optimality. Beware: in high dimension the empirical W1 of a few
    thousand samples is far above the population W1 (the published "DOT" row reports 7.2 for a true 1.8 at D=32).
    """
    x64, y64 = _samples64(x, y)
    return _emd(x64, y64, plan=False)[0]


def _gt_scores(pair: Any, grad: torch.Tensor, y: torch.Tensor, estimate: float) -> dict[str, float]:
    true_grad = pair.true_gradient(y)
    w1_true = float(pair.true_w1)
    return {
        "cos_grad": gradient_cosine(grad, true_grad),
        "l2_grad": gradient_l2(grad, true_grad),
        "w1_estimate": float(estimate),
        "w1_true": w1_true,
        "w1_dev": w1_deviation(estimate, w1_true),
    }


def _has_w1_truth(pair: Any) -> bool:
    return bool(getattr(pair, "has_ground_truth", False)) and getattr(pair, "cost", None) == "w1"


def dot_baseline(pair: Any, n: int = 4096, generator: torch.Generator | None = None) -> dict[str, float]:
    """The published discrete-OT ("DOT") baseline on a W1 benchmark pair (Korotin et al., NeurIPS 2022).

    Draws x ~ P then y ~ Q (``n`` each, independent, from ``generator``) and solves the exact OT problem between
    them with the Euclidean cost (POT ``ot.emd``). Between equal-size uniform samples the optimal plan is a
    permutation σ; the estimated gradient at y_j is the unit vector (y_j − x_σ(j))/‖y_j − x_σ(j)‖ (the direction
    the discrete plan moves the mass arriving at y_j) and the W1 estimate is the discrete OT cost. Returns the
    keys of :func:`evaluate_w1` for a ground-truth pair: ``cos_grad``, ``l2_grad``, ``w1_estimate``,
    ``w1_true``, ``w1_dev``. Cost: O(n²) memory and a network simplex on n² edges (n = 4096 takes seconds).
    """
    check_positive_int(n, "n")
    if not _has_w1_truth(pair):
        raise InvalidInputError(f"dot_baseline needs a W1 benchmark pair (with true_gradient), got {pair!r}")
    x = pair.source.sample(n, generator=generator)
    y = pair.target.sample(n, generator=generator)
    x64, y64 = _samples64(x, y)
    value, gamma, _ = _emd(x64, y64, plan=True)
    sigma = torch.from_numpy(np.asarray(gamma).argmax(axis=0))            # source matched to each y_j
    d = y64 - x64[sigma]
    grad = d / d.norm(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
    return _gt_scores(pair, grad, y.detach(), value)


def _result_device(result: Any) -> torch.device | None:
    critic = getattr(result, "critic", None)
    if critic is None or not hasattr(critic, "parameters"):
        return None
    try:
        return next(critic.parameters()).device
    except StopIteration:
        return None


def evaluate_w1(result: Any, pair: Any, n: int = 4096, generator: torch.Generator | None = None) -> dict[str, float]:
    """Score a fitted W1 critic against a pair; returns named floats.

    ``result`` is anything with ``gradient(y)``, ``dual_value(x, y)`` and ``w1_estimate`` (a
    :class:`~monge.solvers.w1.base.W1Result`). Draws x ~ P then y ~ Q (independent, ``n`` each) from
    ``generator`` (moved to the critic's device when it has parameters).

    With W1 ground truth (``pair.has_ground_truth`` and ``pair.cost == "w1"``), as published by Korotin,
    Kolesov, Burnaev (NeurIPS 2022):
      - ``cos_grad``: mean cosine between ``result.gradient(y)`` and ``pair.true_gradient(y)``
        (:func:`gradient_cosine`); ``l2_grad``: mean ‖∇f(y) − ∇f*(y)‖² (:func:`gradient_l2`);
      - ``w1_estimate`` = ``result.dual_value(x, y)`` (Ŵ1 = mean_Q f − mean_P f), ``w1_true`` =
        ``pair.true_w1``, ``w1_dev`` = 100·|Ŵ1 − W1|/W1.
    Without it (toy pairs, W2 pairs): ``w1_estimate`` as above, ``w1_discrete`` = exact discrete W1
    (:func:`discrete_w1`) between the first min(n, 1024) samples of x and y (an overestimate that grows with
    the dimension) and ``w1_dev`` relative to it.
    In both cases ``w1_train_estimate`` = ``result.w1_estimate`` when it is finite.
    """
    check_positive_int(n, "n")
    x = pair.source.sample(n, generator=generator)
    y = pair.target.sample(n, generator=generator)
    device = _result_device(result)
    xr, yr = (x, y) if device is None else (x.to(device), y.to(device))
    estimate = float(result.dual_value(xr, yr))
    if _has_w1_truth(pair):
        grad = result.gradient(yr)
        if not isinstance(grad, torch.Tensor) or tuple(grad.shape) != tuple(y.shape):
            shape = tuple(grad.shape) if isinstance(grad, torch.Tensor) else type(grad).__name__
            raise InvalidInputError(f"result.gradient(y) returned {shape}, expected a tensor of shape {tuple(y.shape)}")
        out = _gt_scores(pair, grad.detach().to(y.device), y, estimate)
    else:
        m = min(n, DISCRETE_SAMPLES)
        reference = discrete_w1(x[:m], y[:m])
        out = {"w1_estimate": estimate, "w1_discrete": reference,
               "w1_dev": w1_deviation(estimate, reference) if reference > 0 else float("nan")}
    train = float(getattr(result, "w1_estimate", float("nan")))
    if math.isfinite(train):
        out["w1_train_estimate"] = train
    return out
