"""The training loop every solver shares: history, callback/early stop, and divergence handling."""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import torch

from monge.errors import TrainingDiverged
from monge.solvers.base import Callback, Progress, W2Result


def train_loop(
    *,
    name: str,
    steps: int,
    params: Sequence[torch.Tensor],
    step: Callable[[int], dict[str, float]],
    make_result: Callable[[int], W2Result],
    history: dict[str, list[float]],
    callback: Callback | None = None,
    started: float | None = None,
) -> W2Result:
    """Run ``step(i)`` for i = 0 … steps−1 and return ``make_result(steps_done)``.

    ``step(i)`` does one optimisation step (all inner updates included) and returns its scalar logs,
    with ``"loss"`` computed *before* the update. Each log is appended to ``history``. After each step
    ``callback(Progress(...))`` is called; if it returns ``True`` training stops early.

    If a log is not finite at step ``i``, the parameters are restored to those at which the loss of step
    ``i − 1`` was computed: the last parameters whose loss was finite. :class:`TrainingDiverged` is then
    raised, naming the step and carrying ``make_result(i)`` (``None`` when ``i == 0``). The loop keeps two
    parameter snapshots (one copy per step).

    When training ends (all steps, or stopped by the callback), ``history["train_time_s"]`` holds the seconds
    since ``started`` (a ``time.perf_counter()`` value; pass the start of ``fit`` so set-up such as identity
    pre-training counts; default: the start of the loop).
    """
    started = time.perf_counter() if started is None else started

    def finish(steps_done: int) -> W2Result:
        history["train_time_s"] = [time.perf_counter() - started]
        return make_result(steps_done)

    params = list(params)
    buffers = [[p.detach().clone() for p in params] for _ in range(2)]
    for i in range(steps):
        with torch.no_grad():
            torch._foreach_copy_(buffers[i % 2], [p.detach() for p in params])
        logs = step(i)
        bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
        if bad:
            with torch.no_grad():
                torch._foreach_copy_(params, buffers[(i - 1) % 2] if i else buffers[0])
            what = ", ".join(f"{k} = {v}" for k, v in bad.items())
            raise TrainingDiverged(i, f"{name}: {what}; the networks hold the parameters of the last finite step",
                                   make_result(i) if i else None)
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        if callback is not None and callback(Progress(i + 1, steps, logs, lambda s=i + 1: make_result(s))):
            return finish(i + 1)
    return finish(steps)
