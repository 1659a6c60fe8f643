"""The metric catalogue: every number monge's evaluations store, with its direction, labels, unit, format, plot
scale and the published column it maps to. Every reader uses it: the store's ``best`` values, the leaderboard
tables and their exports (:mod:`monge.results`), the plots' axes and the progress bars.

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
        header: the short column title of tables and progress bars (``"fwd L2-UVP"``; default: ``label``).
        unit: ``"%"`` for percentages, ``""`` otherwise.
        fmt: the format spec of a table cell (``".3g"``).
        published: the column of the papers' number for this metric beside ours (``"published_l2_uvp_fwd"``),
            or ``None`` when no benchmark paper reports it (:func:`monge.results.published_value`).
    """

    name: str
    direction: str
    label: str
    log_scale: bool
    description: str
    header: str = ""
    unit: str = ""
    fmt: str = ".3g"
    published: str | None = None

    def format(self, value: float | None) -> str:
        """``value`` for a table cell with :attr:`fmt`; ``—`` for a missing or non-finite value."""
        if value is None or isinstance(value, bool) or not math.isfinite(float(value)):
            return "—"
        return format(float(value), self.fmt)


METRICS: dict[str, MetricInfo] = {}
"""Declared metrics by name (use :func:`register_metric` to add one)."""


def register_metric(name: str, *, direction: str, label: str, description: str, log_scale: bool | None = None,
                    header: str | None = None, unit: str = "", fmt: str = ".3g", published: str | None = None,
                    replace: bool = False) -> MetricInfo:
    """Declare metric ``name`` and return its :class:`MetricInfo`.

    Args:
        name: the stored key.
        direction: ``"lower"``, ``"higher"`` or ``"none"``.
        label: axis label / column title.
        description: what the number is.
        log_scale: plot on a log axis; default ``True`` for ``"lower"`` metrics (errors spanning decades).
        header: the short column title (default: ``label``).
        unit: ``"%"`` or ``""``.
        fmt: a float format spec for table cells.
        published: the papers' column for this metric, or ``None``.
        replace: allow redeclaring an existing metric.

    Raises :class:`InvalidInputError` for an empty name, an unknown direction or a duplicate.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"metric name must be a non-empty string, got {name!r}")
    if direction not in DIRECTIONS:
        raise InvalidInputError(f"metric {name!r}: direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if name in METRICS and not replace:
        raise InvalidInputError(f"metric {name!r} is already declared (pass replace=True to redeclare it)")
    try:
        format(1.0, fmt)
    except (TypeError, ValueError):
        raise InvalidInputError(f"metric {name!r}: fmt must be a float format spec such as '.3g', got {fmt!r}") from None
    info = MetricInfo(name, direction, label, direction == "lower" if log_scale is None else bool(log_scale),
                      description, header or label, unit, fmt, published)
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
_P = "%"
for _name, _direction, _header, _unit, _label, _description, _published in (
    # W2 maps on pairs with ground truth (monge.metrics.w2.evaluate, baseline_metrics)
    ("l2_uvp_fwd", "lower", "fwd L2-UVP", _P, "forward L2-UVP (%)", "100·E‖T(x) − T*(x)‖²/Var(Q)",
     "published_l2_uvp_fwd"),
    ("l2_uvp_inv", "lower", "inv L2-UVP", _P, "inverse L2-UVP (%)", "100·E‖T⁻¹(y) − T*⁻¹(y)‖²/Var(P)", None),
    ("cos_fwd", "higher", "cos fwd", "", "forward cosine", "cosine of the learned and true displacements x → T(x)",
     None),
    ("cos_inv", "higher", "cos inv", "", "inverse cosine", "cosine of the learned and true displacements y → T⁻¹(y)",
     None),
    ("cost_error", "lower", "cost error", _P, "cost error (%)", "100·|estimated ½W2² − true ½W2²| / true ½W2²", None),
    ("cost_true", "none", "true ½W2²", "", "true ½W2²", "the pair's closed-form ½W2² (a constant of the pair)", None),
    ("fd_fwd", "lower", "FD(T♯P, Q)", "", "Fréchet distance of T♯P to Q",
     "squared W2 between Gaussians fitted to T♯(source samples) and target samples (FID formula, raw coordinates)",
     None),
    ("l2_uvp_fwd_identity", "none", "identity L2-UVP", _P, "identity map's forward L2-UVP (%)",
     "the identity map's forward L2-UVP on the run's evaluation samples (the yardstick of garbage maps)", None),
    # W2 maps on pairs without ground truth (toy pairs)
    ("w2_mapped_target", "lower", "W2(T♯P, Q)", "", "W2(mapped, target)",
     "exact discrete W2 between T♯(source samples) and target", None),
    ("w2_source_target", "none", "W2(P, Q)", "", "W2(source, target)",
     "exact discrete W2 between the source and target samples", None),
    ("w2_ratio", "lower", "W2 ratio", "", "W2(mapped, target) / W2(source, target)",
     "1 for the identity map, 0 for a perfect map", None),
    ("w2_inverse_source", "lower", "W2(T⁻¹♯Q, P)", "", "W2(inverse-mapped, source)",
     "exact discrete W2 between T⁻¹♯(target samples) and source", None),
    # W1 critics (monge.metrics.w1.evaluate_w1, dot_baseline)
    ("cos_grad", "higher", "cos∇", "", "cosine of critic gradients", "mean cosine of ∇f(y) and the true ∇f*(y)",
     "published_cos_grad"),
    ("l2_grad", "lower", "L2∇", "", "L2 of critic gradients", "mean ‖∇f(y) − ∇f*(y)‖²", None),
    ("w1_dev", "lower", "W1 dev %", _P, "W1 deviation (%)",
     "100·|Ŵ1 − W1|/W1 (W1: true, or exact discrete on pairs without it)", "published_w1_dev"),
    ("w1_estimate", "none", "Ŵ1", "", "W1 estimate", "the critic's dual value mean_Q f − mean_P f (scored by w1_dev)",
     None),
    ("w1_true", "none", "W1", "", "true W1", "the pair's W1 (a constant of the pair)", None),
    ("w1_discrete", "none", "discrete W1", "", "discrete W1",
     "exact discrete W1 between samples (the reference of w1_dev without ground truth)", None),
    ("w1_train_estimate", "none", "Ŵ1 (training)", "", "W1 estimate (training)",
     "the solver's own running W1 estimate", None),
):
    register_metric(_name, direction=_direction, label=_label, description=_description, header=_header,
                    unit=_unit, published=_published)
del _name, _direction, _header, _unit, _label, _description, _published, _P


__all__ = ["DIRECTIONS", "METRICS", "MetricInfo", "best_value", "metric_direction", "metric_info", "register_metric"]
