"""The declared metrics: every number monge's evaluations store, with its direction, label and plot scale.

A metric's *direction* says which of two values is better: ``"lower"`` (errors, L2-UVP, W2 ratios, deviations),
``"higher"`` (cosines) or ``"none"`` for reference quantities that do not score a map (the true cost, the
identity map's L2-UVP, an estimate compared with a reference elsewhere). The store's ``best`` values (``best_*``
columns of ``monge results --format csv``) follow it, and are not given for ``"none"`` metrics; plots use the
label and the scale. A metric that evaluations produce must be declared here (the test suite checks every key
:func:`monge.metrics.evaluate`, :func:`monge.metrics.baseline_metrics` and the runner emit).

Example::

    from monge.metrics.registry import best_value, metric_direction

    metric_direction("cost_error")                 # "lower"
    best_value("cos_fwd", [0.5, 0.9, 0.7])         # 0.9
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from monge.errors import InvalidInputError, UnknownNameError

DIRECTIONS: tuple[str, ...] = ("lower", "higher", "none")
"""Allowed metric directions: smaller is better, larger is better, not a score (a reference quantity)."""


@dataclass(frozen=True)
class MetricInfo:
    """One declared metric.

    Attributes:
        name: the key stored in the ``evals`` table (``"l2_uvp_fwd"``).
        direction: ``"lower"``, ``"higher"`` or ``"none"`` (see :data:`DIRECTIONS`).
        label: axis label / column title (``"forward L2-UVP (%)"``).
        log_scale: whether plots draw it on a logarithmic axis (positive quantities spanning decades).
        description: one sentence: what the number is.
    """

    name: str
    direction: str
    label: str
    log_scale: bool
    description: str


METRICS: dict[str, MetricInfo] = {}
"""Declared metrics by name (use :func:`register_metric` to add one)."""


def register_metric(name: str, *, direction: str, label: str, description: str, log_scale: bool | None = None,
                    replace: bool = False) -> MetricInfo:
    """Declare metric ``name`` and return its :class:`MetricInfo`.

    Args:
        name: the stored key.
        direction: ``"lower"``, ``"higher"`` or ``"none"``.
        label: axis label / column title.
        description: what the number is.
        log_scale: plot on a log axis; default ``True`` for ``"lower"`` metrics (errors spanning decades).
        replace: allow redeclaring an existing metric.

    Raises :class:`InvalidInputError` for an empty name, an unknown direction or a duplicate.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"metric name must be a non-empty string, got {name!r}")
    if direction not in DIRECTIONS:
        raise InvalidInputError(f"metric {name!r}: direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if name in METRICS and not replace:
        raise InvalidInputError(f"metric {name!r} is already declared (pass replace=True to redeclare it)")
    info = MetricInfo(name, direction, label, direction == "lower" if log_scale is None else bool(log_scale),
                      description)
    METRICS[name] = info
    return info


def metric_info(name: str) -> MetricInfo:
    """The declaration of metric ``name``; :class:`UnknownNameError` listing the declared ones otherwise."""
    if name not in METRICS:
        raise UnknownNameError("metric", str(name), sorted(METRICS))
    return METRICS[name]


def metric_direction(name: str) -> str:
    """``"lower"``, ``"higher"`` or ``"none"`` for a declared metric; :class:`UnknownNameError` otherwise."""
    return metric_info(name).direction


def best_value(name: str, values: Iterable[float | None]) -> float | None:
    """The best of ``values`` for metric ``name`` by its direction (minimum for ``"lower"``, maximum for
    ``"higher"``), ignoring ``None`` and non-finite values. ``None`` when there is no finite value, when the
    metric is a reference quantity (``"none"``), or when it is not declared (there is no right answer to guess)."""
    info = METRICS.get(name)
    if info is None or info.direction == "none":
        return None
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return None
    return max(finite) if info.direction == "higher" else min(finite)


# ---------------------------------------------------------------------------- monge's metrics
for _name, _direction, _label, _description in (
    # W2 maps on pairs with ground truth (monge.metrics.w2.evaluate, baseline_metrics)
    ("l2_uvp_fwd", "lower", "forward L2-UVP (%)", "100·E‖T(x) − T*(x)‖²/Var(Q)"),
    ("l2_uvp_inv", "lower", "inverse L2-UVP (%)", "100·E‖T⁻¹(y) − T*⁻¹(y)‖²/Var(P)"),
    ("cos_fwd", "higher", "forward cosine", "cosine of the learned and true displacements x → T(x)"),
    ("cos_inv", "higher", "inverse cosine", "cosine of the learned and true displacements y → T⁻¹(y)"),
    ("cost_error", "lower", "cost error (%)", "100·|estimated ½W2² − true ½W2²| / true ½W2²"),
    ("cost_true", "none", "true ½W2²", "the pair's closed-form ½W2² (a constant of the pair)"),
    ("l2_uvp_fwd_identity", "none", "identity map's forward L2-UVP (%)",
     "the identity map's forward L2-UVP on the run's evaluation samples (the yardstick of garbage maps)"),
    # W2 maps on pairs without ground truth (toy pairs)
    ("w2_mapped_target", "lower", "W2(mapped, target)", "exact discrete W2 between T♯(source samples) and target"),
    ("w2_source_target", "none", "W2(source, target)", "exact discrete W2 between the source and target samples"),
    ("w2_ratio", "lower", "W2(mapped, target) / W2(source, target)", "1 for the identity map, 0 for a perfect map"),
    ("w2_inverse_source", "lower", "W2(inverse-mapped, source)",
     "exact discrete W2 between T⁻¹♯(target samples) and source"),
    # W1 critics (monge.metrics.w1.evaluate_w1, dot_baseline)
    ("cos_grad", "higher", "cosine of critic gradients", "mean cosine of ∇f(y) and the true ∇f*(y)"),
    ("l2_grad", "lower", "L2 of critic gradients", "mean ‖∇f(y) − ∇f*(y)‖²"),
    ("w1_dev", "lower", "W1 deviation (%)", "100·|Ŵ1 − W1|/W1 (W1: true, or exact discrete on pairs without it)"),
    ("w1_estimate", "none", "W1 estimate", "the critic's dual value mean_Q f − mean_P f (scored by w1_dev)"),
    ("w1_true", "none", "true W1", "the pair's W1 (a constant of the pair)"),
    ("w1_discrete", "none", "discrete W1", "exact discrete W1 between samples (the reference of w1_dev without "
     "ground truth)"),
    ("w1_train_estimate", "none", "W1 estimate (training)", "the solver's own running W1 estimate"),
):
    register_metric(_name, direction=_direction, label=_label, description=_description)
del _name, _direction, _label, _description


__all__ = ["DIRECTIONS", "METRICS", "MetricInfo", "best_value", "metric_direction", "metric_info", "register_metric"]
