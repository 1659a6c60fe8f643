"""The functional entry points: :func:`fit` (a W2 map) and :func:`fit_critic` (a W1 critic)."""

from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np
import torch

from monge._checks import check_generator
from monge.errors import InvalidInputError
from monge.samplers import Empirical, PushForward, Sampler
from monge.solvers import W1Result, W2Result, get_solver
from monge.solvers.base import Callback

Data = Union[Sampler, torch.Tensor, np.ndarray, Sequence[Sequence[float]]]
"""What ``fit`` takes as source or target: a sampler, or ``(n, dim)`` samples as a tensor, an array or nested lists."""

DEFAULT_STEPS = 5000
"""Training steps of a fit given neither ``steps`` nor ``time_budget``."""


def fit(source: Data, target: Data, *, solver: str = "auto", steps: int | None = None,
        time_budget: float | None = None, batch_size: int = 1024, generator: torch.Generator | None = None,
        callback: Callback | None = None,
        device: str | torch.device | None = None, dtype: torch.dtype | None = None, progress: bool = False,
        **options: Any) -> W2Result:
    """Fit a transport map from ``source`` to ``target`` with a registered solver.

    ``source`` / ``target`` are samplers or ``(n, dim)`` arrays/tensors of samples (resampled with
    replacement; the two sizes may differ). ``solver="auto"`` (default) picks monge's fastest accurate solver
    and settings for the data's dimension and size (:mod:`monge.solvers.auto`); any registered name
    (``monge.available_solvers()``) picks that one. ``options`` go to the solver's constructor (see its
    docstring for the defaults).

    The budget is ``steps`` (default 5000), or ``time_budget`` seconds of training: the step rate is measured
    in the first seconds and the number of steps planned so that the learning-rate schedule ends inside the
    budget (``steps``, when also given, caps it). Training that diverges (NaN/inf, or a loss or map that
    blows up while staying finite) goes back to its last good state with a lower learning rate, and raises
    :class:`~monge.errors.TrainingDiverged` when that does not help (:mod:`monge.solvers.loop`).

    Training runs where the data are: on their device (CPU for NumPy arrays) and in their floating dtype
    (float32 for NumPy arrays). ``device`` and ``dtype`` move the data, and with them the training and the
    fitted networks (a sampler is wrapped so that its samples are moved). ``progress=True`` shows a
    progress bar with the latest loss and cost estimate (:class:`~monge.solvers.progress.ProgressBar`).
    ``generator`` (a :class:`torch.Generator`) makes the fit reproducible.

    Returns a :class:`~monge.solvers.W2Result` with ``forward``, ``inverse``, ``cost_estimate``,
    ``history``, ``save`` and ``to``; its maps return NumPy for NumPy and tensors for tensors.
    """
    built = _build(solver, "w2", options)
    return _train(built, source, target, steps=steps, time_budget=time_budget, batch_size=batch_size,
                  generator=generator, callback=callback, device=device, dtype=dtype, progress=progress)


def fit_critic(source: Data, target: Data, *, solver: str = "wgan-lp", steps: int | None = None,
               time_budget: float | None = None, batch_size: int = 1024, generator: torch.Generator | None = None,
               callback: Callback | None = None, device: str | torch.device | None = None, dtype: torch.dtype | None = None,
               progress: bool = False, **options: Any) -> W1Result:
    """Fit a distance-cost (W1) critic between ``source`` (P) and ``target`` (Q) with a registered W1 solver.

    The critic f approximately maximises E_Q f − E_P f over 1-Lipschitz functions (the Kantorovich–Rubinstein
    dual): ``result.w1_estimate`` estimates W1(P, Q), ``result.gradient(y)`` the direction in which the optimal
    plan moves mass arriving at y, ``result.dual_value(x, y)`` the dual on fresh samples. ``solver`` is any
    name of ``monge.available_solvers(cost="w1")``; the default, WGAN-LP, has the best published mean gradient
    cosine on the W1 benchmark. ``options`` go to the solver's constructor. ``steps``, ``time_budget``,
    ``device``, ``dtype`` and ``progress`` work as in :func:`fit`.
    """
    built = _build(solver, "w1", options)
    return _train(built, source, target, steps=steps, time_budget=time_budget, batch_size=batch_size,
                  generator=generator, callback=callback, device=device, dtype=dtype, progress=progress)


def _build(solver: Any, cost: str, options: dict[str, Any]) -> Any:
    if not isinstance(solver, str):
        raise InvalidInputError(f"solver must be a registered solver name (a str), got {solver!r}")
    built = get_solver(solver, **options)
    found = getattr(built, "cost", "w2")
    if found != cost:
        other = "fit_critic" if found == "w1" else "fit"
        what = "a W1 critic" if found == "w1" else "a W2 map"
        raise InvalidInputError(f"solver {solver!r} fits {what}: use monge.{other}(source, target, solver={solver!r})")
    return built


def _train(built: Any, source: Any, target: Any, *, steps: int | None, time_budget: float | None, batch_size: int,
           generator: torch.Generator | None, callback: Any, device: Any, dtype: Any, progress: bool) -> Any:
    from monge.solvers.loop import BUDGET_STEP_CAP, TimeBudget
    from monge.solvers.progress import ProgressBar

    check_generator(generator)
    if not isinstance(progress, bool):
        raise InvalidInputError(f"progress must be True or False, got {progress!r}")
    source, target = place(source, "source", device, dtype), place(target, "target", device, dtype)
    bar = ProgressBar(built.name, callback) if progress else None
    callback = bar or callback
    if time_budget is not None:
        callback = TimeBudget(time_budget, callback)
        steps = BUDGET_STEP_CAP if steps is None else steps
    try:
        return built.fit(source, target, steps=DEFAULT_STEPS if steps is None else steps, batch_size=batch_size,
                         generator=generator, callback=callback)
    finally:
        if bar is not None:
            bar.close()


def place(data: Any, name: str, device: Any = None, dtype: Any = None) -> Sampler:
    """``data`` (a sampler, or ``(n, dim)`` samples as an array or tensor) as a sampler on ``device`` in
    ``dtype``; ``None`` keeps the data's own (CPU and float32 for arrays that are not tensors)."""
    if data is None:
        raise InvalidInputError(f"{name}: expected a sampler, tensor or array of shape (n, dim), got None")
    if isinstance(data, Sampler):
        if (device is None or torch.device(device) == data.device) and (dtype is None or dtype == data.dtype):
            return data
        return PushForward(data, _identity, device=device, dtype=dtype)
    if isinstance(data, torch.Tensor) or hasattr(data, "__array__") or isinstance(data, (list, tuple)):
        from monge._checks import check_samples

        checked = check_samples(data, name=name)
        if not isinstance(data, torch.Tensor) and dtype is None:
            dtype = torch.float32
        return Empirical(checked, dtype=dtype, device=device)
    raise InvalidInputError(f"{name}: expected a sampler, tensor or array of shape (n, dim), "
                            f"got {type(data).__name__}")


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x
