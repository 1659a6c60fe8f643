"""monge: neural optimal transport in PyTorch, measured against ground truth.

>>> import torch, monge
>>> pair = monge.GaussianPair(2, seed=1)
>>> g = torch.Generator().manual_seed(0)
>>> result = monge.fit(pair.source, pair.target, steps=20, batch_size=64, generator=g)   # solver="auto"
>>> result.settings["chosen_solver"], result.forward(pair.source.sample(5, g)).shape
('enot', torch.Size([5, 2]))
>>> w2gn = monge.fit(pair.source, pair.target, solver="w2gn", steps=20, batch_size=64, generator=g,
...                  hidden_sizes=[16, 16, 8], pretrain_steps=50)
"""

from __future__ import annotations

from typing import Any

import torch

__version__ = "0.1.0"

from monge.errors import (CheckpointError, DimensionMismatchError, InvalidInputError, MongeError, StoreError,  # noqa: E402
                          TrainingDiverged, UnknownNameError)
from monge.metrics import discrete_w1, discrete_w2, evaluate, l2_uvp  # noqa: E402
from monge.nets import DenseICNN, MLPPotential, ResidualMap  # noqa: E402
from monge.pairs import (BenchmarkPair, FunnelPair, GaussianPair, SamplePair, ToyPair, W1BenchmarkPair,  # noqa: E402
                         available_pairs, make_pair)
from monge.samplers import Empirical, Gaussian, GaussianMixture, PushForward, StandardNormal  # noqa: E402
from monge.solvers import W1Result, W2GN, W2Result, available_solvers, get_solver  # noqa: E402


def fit(source: Any, target: Any, *, solver: str = "auto", steps: int | None = None, time_budget: float | None = None,
        batch_size: int = 1024, generator: torch.Generator | None = None, callback: Any = None,
        **options: Any) -> W2Result:
    """Fit a transport map from ``source`` to ``target`` with a registered solver.

    ``source`` / ``target`` are samplers or ``(n, dim)`` tensors/arrays of samples (resampled with
    replacement). ``solver="auto"`` (default) picks monge's fastest accurate solver and settings for the
    data's dimension and size (:mod:`monge.solvers.auto`); any registered name (``monge.available_solvers()``)
    picks that one. ``options`` go to the solver's constructor (see its docstring for the defaults).

    The budget is ``steps`` (default 5000), or ``time_budget`` seconds of training: the step rate is measured
    in the first seconds and the number of steps planned so that the learning-rate schedule ends inside the
    budget (``steps``, when also given, caps it). Training that diverges (NaN/inf, or a loss or map that
    blows up while staying finite) goes back to its last good state with a lower learning rate, and raises
    :class:`TrainingDiverged` when that does not help (:mod:`monge.solvers.loop`).

    Returns a :class:`W2Result` with ``forward``, ``inverse``, ``cost_estimate``, ``history``, ``save``.
    """
    from monge.solvers.loop import BUDGET_STEP_CAP, TimeBudget

    built = get_solver(solver, **options)
    if getattr(built, "cost", "w2") != "w2":
        raise InvalidInputError(f"solver {solver!r} fits a W1 critic, not a map: use monge.fit_critic(source, target, "
                                f"solver={solver!r})")
    if time_budget is not None:
        callback = TimeBudget(time_budget, callback)
        steps = BUDGET_STEP_CAP if steps is None else steps
    return built.fit(source, target, steps=5000 if steps is None else steps, batch_size=batch_size,
                     generator=generator, callback=callback)


def fit_critic(source: Any, target: Any, *, solver: str = "wgan-lp", steps: int | None = None,
               time_budget: float | None = None, batch_size: int = 1024, generator: torch.Generator | None = None,
               callback: Any = None, **options: Any) -> W1Result:
    """Fit a distance-cost (W1) critic between ``source`` (P) and ``target`` (Q) with a registered W1 solver.

    The critic f approximately maximises E_Q f − E_P f over 1-Lipschitz functions (the Kantorovich–Rubinstein
    dual): ``result.w1_estimate`` estimates W1(P, Q), ``result.gradient(y)`` the direction in which the optimal
    plan moves mass arriving at y, ``result.dual_value(x, y)`` the dual on fresh samples. ``solver`` is any
    name of ``monge.available_solvers(cost="w1")``; the default, WGAN-LP, has the best published mean gradient
    cosine on the W1 benchmark. ``options`` go to the solver's constructor. ``steps`` and ``time_budget`` are
    the budget, as in :func:`fit`.
    """
    from monge.solvers.loop import BUDGET_STEP_CAP, TimeBudget

    built = get_solver(solver, **options)
    if getattr(built, "cost", "w2") != "w1":
        raise InvalidInputError(f"solver {solver!r} fits a W2 map, not a W1 critic: use monge.fit(source, target, "
                                f"solver={solver!r})")
    if time_budget is not None:
        callback = TimeBudget(time_budget, callback)
        steps = BUDGET_STEP_CAP if steps is None else steps
    return built.fit(source, target, steps=5000 if steps is None else steps, batch_size=batch_size,
                     generator=generator, callback=callback)


__all__ = [
    "__version__", "fit", "fit_critic",
    # errors
    "MongeError", "InvalidInputError", "DimensionMismatchError", "UnknownNameError", "CheckpointError",
    "StoreError", "TrainingDiverged",
    # building blocks
    "DenseICNN", "MLPPotential", "ResidualMap",
    "StandardNormal", "Gaussian", "GaussianMixture", "Empirical", "PushForward",
    "W2GN", "W2Result", "W1Result", "get_solver", "available_solvers",
    "SamplePair", "BenchmarkPair", "W1BenchmarkPair", "GaussianPair", "FunnelPair", "ToyPair", "make_pair",
    "available_pairs",
    "evaluate", "l2_uvp", "discrete_w2", "discrete_w1",
]
