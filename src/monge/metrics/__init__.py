"""Metrics: plain functions of tensors plus ``evaluate(result, pair)``, and the declaration of every stored
metric's direction (lower or higher is better), label and plot scale (:mod:`monge.metrics.registry`).

L2-UVP and cosine follow Korotin et al., "Wasserstein-2 Generative Networks" (ICLR 2021) and "Do Neural
Optimal Transport Solvers Work? A Continuous Wasserstein-2 Benchmark" (NeurIPS 2021).
"""

from monge.metrics.w2 import (baseline_metrics, cosine, cost_error, discrete_ot_map, discrete_w2, evaluate,
                              identity_l2_uvp,
                              l2_uvp)

__all__ = ["baseline_metrics", "cosine", "cost_error", "discrete_ot_map", "discrete_w2", "evaluate",
           "identity_l2_uvp", "l2_uvp"]

from monge.metrics.w1 import (discrete_w1, dot_baseline, evaluate_w1, gradient_cosine, gradient_l2,  # noqa: E402
                              w1_deviation)

__all__ += ["discrete_w1", "dot_baseline", "evaluate_w1", "gradient_cosine", "gradient_l2", "w1_deviation"]

from monge.metrics.frechet import frechet_distance  # noqa: E402

__all__ += ["frechet_distance"]

from monge.metrics.registry import (METRICS, MetricInfo, best_value, metric_direction,  # noqa: E402
                                    metric_info, register_metric)

__all__ += ["METRICS", "MetricInfo", "best_value", "metric_direction", "metric_info", "register_metric"]

from monge.metrics.geodesic import geodesic_distance, mccann_moments  # noqa: E402

__all__ += ["geodesic_distance", "mccann_moments"]
