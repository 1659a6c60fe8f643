"""Plots of benchmark runs (matplotlib, Agg canvas, PNG files)."""

from monge.plot.plots import default_metrics, plot_convergence, plot_critic_2d, plot_map_2d

__all__ = ["default_metrics", "plot_convergence", "plot_critic_2d", "plot_map_2d"]
