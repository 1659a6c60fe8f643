"""Plots of benchmark runs (matplotlib, Agg canvas, PNG files)."""

from monge.plot.plots import (convergence_figure, default_metrics, metric_label, plot_convergence, plot_critic_2d,
                              plot_map_2d, plot_result_2d)

__all__ = ["convergence_figure", "default_metrics", "metric_label", "plot_convergence", "plot_critic_2d",
           "plot_map_2d", "plot_result_2d"]
