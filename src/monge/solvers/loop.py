"""The training loop every solver shares: history, callback/early stop, divergence handling, and the
training state a checkpoint holds (so an interrupted fit can continue exactly where it stopped)."""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping, Sequence

import torch

from monge.errors import CheckpointError, TrainingDiverged
from monge.solvers.base import Callback, Progress, W2Result

TRAIN_STATE_FORMAT = 1


class TrainState:
    """Everything a fit needs to continue bit-exactly after step :attr:`step`.

    Args:
        parts: name → object with ``state_dict()`` / ``load_state_dict()``: the networks, optimisers and
            learning-rate schedules of the fit (``None`` values are skipped).
        generator: the fit's :class:`torch.Generator` (its state is saved and restored with the rest).
        history: the fit's per-step logs (restored in place, so closures holding it see the restored lists).

    :meth:`state_dict` holds only tensors, numbers, strings, lists and dicts, so it can be written with
    ``torch.save`` and read back with ``torch.load(..., weights_only=True)``.
    """

    def __init__(self, parts: Mapping[str, Any], generator: torch.Generator | None, history: dict[str, list[float]]):
        self.parts = {name: part for name, part in parts.items() if part is not None}
        self.generator = generator
        self.history = history
        self.step = 0

    def state_dict(self) -> dict[str, Any]:
        """A snapshot (copies of every tensor) of the parts, the generator, the history and the step count."""
        import copy

        return {
            "format": TRAIN_STATE_FORMAT,
            "step": int(self.step),
            "parts": {name: copy.deepcopy(part.state_dict()) for name, part in self.parts.items()},
            "generator": None if self.generator is None else self.generator.get_state().clone(),
            "history": {key: list(values) for key, values in self.history.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a snapshot from :meth:`state_dict`; :class:`CheckpointError` names what does not match."""
        if not isinstance(state, Mapping) or state.get("format") != TRAIN_STATE_FORMAT:
            found = state.get("format") if isinstance(state, Mapping) else type(state).__name__
            raise CheckpointError(f"training state: unsupported format {found!r} (expected {TRAIN_STATE_FORMAT})")
        saved = state.get("parts") or {}
        missing, extra = sorted(set(self.parts) - set(saved)), sorted(set(saved) - set(self.parts))
        if missing or extra:
            raise CheckpointError(f"training state does not match this fit: missing parts {missing}, "
                                  f"unexpected parts {extra}")
        if (state.get("generator") is None) != (self.generator is None):
            raise CheckpointError("training state: resuming needs the same kind of generator argument "
                                  "(an explicit torch.Generator, or None on both runs)")
        for name, part in self.parts.items():
            try:
                part.load_state_dict(saved[name])
            except (RuntimeError, KeyError, ValueError, TypeError) as exc:
                raise CheckpointError(f"training state: part {name!r} does not fit ({exc})") from exc
        if self.generator is not None:
            self.generator.set_state(state["generator"])
        self.history.clear()
        self.history.update({key: list(values) for key, values in (state.get("history") or {}).items()})
        self.step = int(state["step"])


def _restore_point(callback: Callback | None, state: TrainState, steps: int) -> int:
    """Ask a resumable callback (one with a ``restore(state) -> int`` method) to load its checkpoint."""
    restore = getattr(callback, "restore", None)
    if restore is None:
        return 0
    start = int(restore(state) or 0)
    if not 0 <= start <= steps:
        raise CheckpointError(f"training state is at step {start}, outside this fit's 0..{steps} steps")
    return start


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
    state: Mapping[str, Any] | None = None,
    generator: torch.Generator | None = None,
) -> W2Result:
    """Run ``step(i)`` for i = 0 … steps−1 and return ``make_result(steps_done)``.

    ``step(i)`` does one optimisation step (all inner updates included) and returns its scalar logs,
    with ``"loss"`` computed *before* the update. Each log is appended to ``history``. After each step
    ``callback(Progress(...))`` is called; if it returns ``True`` training stops early.

    ``state`` names every stateful part of the fit (networks, optimisers, schedules) and ``generator`` is the
    fit's generator: together with ``history`` they form the :class:`TrainState` handed to the callback in
    ``Progress.state``. A callback with a ``restore(state) -> int`` method is asked once, before the first
    step, to load a saved state and return the number of steps it had done; the loop then continues from
    there, so a fit interrupted and resumed from a checkpoint ends with the same parameters as one that ran
    through (bit-exact on CPU). Every solver passes all its state; the solver contract tests check it.

    If a log is not finite at step ``i``, the parameters are restored to those at which the loss of step
    ``i − 1`` was computed: the last parameters whose loss was finite. :class:`TrainingDiverged` is then
    raised, naming the step and carrying ``make_result(i)`` (``None`` when ``i == 0``). The loop keeps two
    parameter snapshots (one copy per step).

    When training ends (all steps, or stopped by the callback), ``history["train_time_s"]`` holds the seconds
    since ``started`` (a ``time.perf_counter()`` value; pass the start of ``fit`` so set-up such as identity
    pre-training counts; default: the start of the loop).
    """
    started = time.perf_counter() if started is None else started
    train_state = TrainState(state or {}, generator, history)
    start = _restore_point(callback, train_state, steps)

    def finish(steps_done: int) -> W2Result:
        history["train_time_s"] = [time.perf_counter() - started]
        return make_result(steps_done)

    params = list(params)
    buffers = [[p.detach().clone() for p in params] for _ in range(2)]
    for i in range(start, steps):
        with torch.no_grad():
            torch._foreach_copy_(buffers[i % 2], [p.detach() for p in params])
        logs = step(i)
        bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
        if bad:
            with torch.no_grad():
                torch._foreach_copy_(params, buffers[(i - 1) % 2] if i > start else buffers[i % 2])
            what = ", ".join(f"{k} = {v}" for k, v in bad.items())
            raise TrainingDiverged(i, f"{name}: {what}; the networks hold the parameters of the last finite step",
                                   make_result(i) if i else None)
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        train_state.step = i + 1
        if callback is not None and callback(Progress(i + 1, steps, logs, lambda s=i + 1: make_result(s),
                                                      train_state)):
            return finish(i + 1)
    return finish(steps)
