"""The training loop every solver shares: history, callback/early stop, time budgets, the divergence guard,
and the training state a checkpoint holds (so an interrupted fit can continue exactly where it stopped)."""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import torch

from monge.errors import CheckpointError, MongeError, TrainingDiverged
from monge.solvers.base import Callback, Progress, W2Result

TRAIN_STATE_FORMAT = 1


class TrainState:
    """Everything a fit needs to continue bit-exactly after step :attr:`step`.

    Args:
        parts: name → object with ``state_dict()`` / ``load_state_dict()``: the networks, optimisers and
            learning-rate schedules of the fit (``None`` values are skipped).
        generator: the fit's :class:`torch.Generator` (its state is saved and restored with the rest).
        history: the fit's per-step logs (restored in place, so closures holding it see the restored lists).

    Besides :attr:`step` it records :attr:`seconds`, the training time spent so far (all attempts of a resumed
    fit), and :attr:`planned_steps`, the step count a time budget planned (``None`` without one).

    :meth:`state_dict` holds only tensors, numbers, strings, lists and dicts, so it can be written with
    ``torch.save`` and read back with ``torch.load(..., weights_only=True)``.
    """

    def __init__(self, parts: Mapping[str, Any], generator: torch.Generator | None, history: dict[str, list[float]]):
        self.parts = {name: part for name, part in parts.items() if part is not None}
        self.generator = generator
        self.history = history
        self.step = 0
        self.seconds = 0.0
        self.planned_steps: int | None = None

    def state_dict(self) -> dict[str, Any]:
        """A snapshot (copies of every tensor) of the parts, the generator, the history and the step count."""
        return {
            "format": TRAIN_STATE_FORMAT,
            "step": int(self.step),
            "seconds": float(self.seconds),
            "planned_steps": self.planned_steps,
            "parts": {name: copy.deepcopy(part.state_dict()) for name, part in self.parts.items()},
            "generator": None if self.generator is None else self.generator.get_state().clone(),
            "history": {key: list(values) for key, values in self.history.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any], *, generator: bool = True) -> None:
        """Restore a snapshot from :meth:`state_dict` (``generator=False`` keeps the generator where it is);
        :class:`CheckpointError` names what does not match."""
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
                part.load_state_dict(copy.deepcopy(saved[name]))
            except (RuntimeError, KeyError, ValueError, TypeError) as exc:
                raise CheckpointError(f"training state: part {name!r} does not fit ({exc})") from exc
        if self.generator is not None and generator:
            self.generator.set_state(state["generator"])
        self.history.clear()
        self.history.update({key: list(values) for key, values in (state.get("history") or {}).items()})
        self.step = int(state["step"])
        self.seconds = float(state.get("seconds", 0.0))
        planned = state.get("planned_steps")
        self.planned_steps = None if planned is None else int(planned)


def _restore_point(callback: Callback | None, state: TrainState, steps: int) -> int:
    """Ask a resumable callback (one with a ``restore(state) -> int`` method) to load its checkpoint."""
    restore = getattr(callback, "restore", None)
    if restore is None:
        return 0
    start = int(restore(state) or 0)
    if not 0 <= start <= steps:
        raise CheckpointError(f"training state is at step {start}, outside this fit's 0..{steps} steps")
    return start


# ---------------------------------------------------------------------------------------------- time budget
@dataclass(frozen=True)
class BudgetPolicy:
    """How a time budget is turned into a number of steps (see :class:`StepPlanner`).

    Attributes:
        skip_steps: the first steps after a (re)start are not timed (``torch.compile`` and caches warm up).
        calibration_s: seconds of timed steps before the first plan (at most a tenth of the budget, at least
            ``calibration_fraction`` of it, and at least ``min_timed_steps`` steps).
        replan_every: re-plan after each such fraction of the budget, with the rate of the last interval.
        safety: fraction of the remaining time the plan fills (the rest absorbs a slower machine).
    """

    skip_steps: int = 3
    calibration_s: float = 2.0
    calibration_fraction: float = 0.02
    min_timed_steps: int = 5
    replan_every: float = 0.05
    safety: float = 0.97


class StepPlanner:
    """Plans the number of steps of a fit that has a time budget, so that its schedule ends inside it.

    Until it has measured the step rate (:class:`BudgetPolicy`) the plan is ``cap`` steps; then it is
    ``steps done + rate × remaining seconds × safety`` (never more than ``cap``), and is re-planned with the
    rate of the latest interval every ``replan_every`` of the budget. Every learning-rate schedule of the
    fit with a ``T_max`` (:class:`torch.optim.lr_scheduler.CosineAnnealingLR`) is stretched or shortened to
    the plan; its recursive form moves smoothly to the new end. Without a budget the plan is ``cap``.
    """

    def __init__(self, cap: int, seconds: float | None, state: TrainState, policy: BudgetPolicy = BudgetPolicy()):
        self.cap, self.seconds, self.state, self.policy = cap, seconds, state, policy
        self.total = cap if state.planned_steps is None else min(cap, state.planned_steps)
        self.anchor: tuple[int, float] | None = None        # (steps run, seconds) where the rate is timed from
        self.next_plan_at = 0.0
        self.planned = state.planned_steps is not None
        if self.planned:
            self.apply()

    def apply(self) -> None:
        """Record the plan in the training state and set every schedule's ``T_max`` to it."""
        self.state.planned_steps = self.total
        for part in self.state.parts.values():
            if hasattr(part, "T_max"):
                part.T_max = max(1, self.total)

    def over(self, elapsed: float) -> bool:
        """Whether the budget is spent."""
        return self.seconds is not None and elapsed >= self.seconds

    def update(self, steps_done: int, steps_run: int, elapsed: float) -> None:
        """Called after every step with the fit's step count, the steps run since this (re)start (rewinds of
        the divergence guard included) and the seconds spent so far."""
        if self.seconds is None or steps_run < self.policy.skip_steps:
            return
        p = self.policy
        if self.anchor is None:
            self.anchor = (steps_run, elapsed)
            self.next_plan_at = elapsed + max(p.calibration_fraction * self.seconds,
                                              min(p.calibration_s, 0.1 * self.seconds))
            return
        if elapsed < self.next_plan_at or steps_run - self.anchor[0] < p.min_timed_steps:
            return
        remaining = self.seconds - elapsed
        if self.planned and remaining < p.replan_every * self.seconds:
            return                                      # the schedule's tail stays as planned
        rate = (steps_run - self.anchor[0]) / max(elapsed - self.anchor[1], 1e-9)
        self.total = max(steps_done + 1, min(self.cap, steps_done + int(rate * remaining * p.safety)))
        self.planned = True
        self.apply()
        self.anchor = (steps_run, elapsed)
        self.next_plan_at = elapsed + p.replan_every * self.seconds


BUDGET_STEP_CAP = 10_000_000
"""The step cap of a fit given only a time budget (``monge.fit(..., time_budget=600)``)."""


class TimeBudget:
    """A callback that gives a fit a time budget in seconds, wrapping an optional user callback.

    The training loop reads :attr:`time_budget_s` and plans the fit's steps to end inside it (see
    :func:`train_loop`); calls and ``restore`` are passed on to ``callback``.
    """

    def __init__(self, seconds: float, callback: Callback | None = None):
        from monge.errors import InvalidInputError

        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
                or seconds <= 0:
            raise InvalidInputError(f"time_budget must be a positive number of seconds, got {seconds!r}")
        self.time_budget_s = float(seconds)
        self.callback = callback

    def __call__(self, progress: Progress) -> bool:
        return bool(self.callback(progress)) if self.callback is not None else False

    def restore(self, state: TrainState) -> int:
        restore = getattr(self.callback, "restore", None)
        return int(restore(state) or 0) if restore is not None else 0


# ---------------------------------------------------------------------------------------------- divergence guard
@dataclass(frozen=True)
class GuardPolicy:
    """When the training loop's divergence guard fires and what it does then (see :class:`DivergenceGuard`).

    Attributes:
        loss_factor: a step whose |loss| exceeds ``loss_factor`` × the reference scale is a blow-up.
        map_factor: a map whose mean squared displacement E‖T(x) − x‖² on the probe exceeds ``map_factor``
            × E(‖x‖² + ‖y‖²) is a blow-up (the optimal map's is at most 2× that).
        healthy_factor: a good state is saved only while every |loss| since the last one stayed below
            ``healthy_factor`` × the reference scale.
        check_every: steps between map checks (and good-state snapshots).
        max_recoveries: recoveries before :class:`~monge.errors.TrainingDiverged` is raised.
        lr_factor: each recovery multiplies every learning rate by this.
        probe_size: samples of each distribution in the probe that sets the data scale.
        warmup: the largest |loss| of the first ``warmup`` steps also sets the reference scale.
    """

    loss_factor: float = 1e4
    map_factor: float = 1e3
    healthy_factor: float = 1e2
    check_every: int = 50
    max_recoveries: int = 3
    lr_factor: float = 0.1
    probe_size: int = 256
    warmup: int = 20


PROBE_SEED = 0x9B0BE
"""Seed of the probe's own generator: drawing the probe never moves the fit's generator."""


class DivergenceGuard:
    """Catches blow-ups that stay finite as well as NaN/inf, and recovers from them.

    The reference scale of the losses is the larger of the data scale s = E‖x‖² + E‖y‖² (and √s, for
    distance costs) on a fixed probe of both distributions, and the largest |loss| of the first steps.
    A step is bad when a log is not finite, or |loss| > ``loss_factor`` × reference; every ``check_every``
    steps the map (for W2 results) is also checked on the probe: non-finite, or mean ‖T(x) − x‖² >
    ``map_factor`` × max(s, the starting map's mean ‖T(x) − x‖²), is bad. A good state (networks, optimisers, schedules, history, step) is saved at
    each check that passes while the losses stayed healthy.

    On a bad step the fit goes back to the last good state, every learning rate is multiplied by
    ``lr_factor`` (optimisers and schedules), the step that fired is appended to
    ``history["divergence_recoveries"]`` and a :class:`RuntimeWarning` says so; training continues from
    there with fresh batches. After ``max_recoveries`` recoveries the next bad step raises
    :class:`~monge.errors.TrainingDiverged` holding the last good state.
    """

    def __init__(self, name: str, state: TrainState, make_result: Callable[[int], Any],
                 data: Sequence[Any] | None, generator: torch.Generator | None, policy: GuardPolicy = GuardPolicy()):
        self.name, self.state, self.make_result, self.policy = name, state, make_result, policy
        self.probe, self.scale = self._probe(data, generator)
        self.good: dict[str, Any] | None = None
        self.since_good = 0.0
        self.initial_displacement: float | None = None

    def _probe(self, data: Sequence[Any] | None, generator: torch.Generator | None
               ) -> tuple[torch.Tensor | None, float]:
        if data is None:
            return None, 0.0
        device = generator.device if generator is not None else torch.device("cpu")
        probe_gen = torch.Generator(device=device).manual_seed(PROBE_SEED)
        try:
            with torch.no_grad():
                x, y = (sampler.sample(self.policy.probe_size, probe_gen).detach() for sampler in data)
        except (MongeError, RuntimeError):
            return None, 0.0
        if x.ndim != 2 or not bool(torch.isfinite(x).all()) or not bool(torch.isfinite(y).all()):
            return None, 0.0
        scale = float(x.square().sum(1).mean() + y.square().sum(1).mean())
        return x, scale

    @property
    def recoveries(self) -> int:
        return len(self.state.history.get("divergence_recoveries", []))

    def reference(self, step: int) -> float:
        """The loss scale a blow-up is measured against at ``step`` (0 when none is known yet)."""
        early = self.state.history.get("loss", [])[:min(step, self.policy.warmup)]
        finite = [abs(v) for v in early if math.isfinite(v)]
        return max(self.scale, math.sqrt(self.scale), max(finite, default=0.0))

    def check_logs(self, step: int, logs: Mapping[str, float]) -> str | None:
        """Why the logs of ``step`` are a divergence, or ``None``."""
        bad = _non_finite(logs)
        if bad:
            return bad
        loss = logs.get("loss")
        ref = self.reference(step)
        if loss is None or ref <= 0:
            return None
        self.since_good = max(self.since_good, abs(loss) / ref)
        if abs(loss) > self.policy.loss_factor * ref:
            return (f"loss = {loss:.3g}, more than {self.policy.loss_factor:g}× its reference scale {ref:.3g} "
                    "(finite blow-up)")
        return None

    def check_map(self, steps_done: int) -> str | None:
        """Why the current map is garbage on the probe, or ``None`` (also ``None`` for results without a map)."""
        if self.probe is None or self.scale <= 0:
            return None
        result = self.make_result(steps_done)
        if not hasattr(result, "forward_potential"):
            return None
        try:
            mapped = result.forward(self.probe)
        except (MongeError, RuntimeError) as exc:
            return f"the map fails on the probe ({exc})"
        if not bool(torch.isfinite(mapped).all()):
            return "the map returns NaN or inf"
        displacement = float((mapped - self.probe).square().sum(1).mean())
        if self.initial_displacement is None:
            self.initial_displacement = displacement
        reference = max(self.scale, self.initial_displacement)
        if displacement > self.policy.map_factor * reference:
            return (f"the map moves points by E‖T(x) − x‖² = {displacement:.3g}, more than "
                    f"{self.policy.map_factor:g}× the data scale {reference:.3g} (finite blow-up)")
        return None

    def save_if_good(self) -> None:
        """Keep the current state as the last good one if the losses stayed healthy since the last save."""
        if self.good is None or self.since_good <= self.policy.healthy_factor:
            self.good = self.state.state_dict()
        self.since_good = 0.0

    def recover(self, step: int, why: str, *, final: bool = False) -> int:
        """Go back to the last good state with lower learning rates; returns its step. Raises
        :class:`TrainingDiverged` when no recovery is left, or with ``final`` (the fit has no steps left)."""
        assert self.good is not None
        recoveries = self.recoveries
        self.state.load_state_dict(self.good, generator=False)
        good_step = self.state.step
        if final or recoveries >= self.policy.max_recoveries:
            tried = ("at the end of training" if final else
                     f"{recoveries} recoveries with lower learning rates did not help")
            raise TrainingDiverged(step, f"{self.name}: {why}; {tried}; the networks hold the last good state "
                                         f"(step {good_step})", self.make_result(good_step))
        scale = self.policy.lr_factor          # the good state already holds the earlier recoveries' rates
        for part in self.state.parts.values():
            if isinstance(part, torch.optim.Optimizer):
                for group in part.param_groups:
                    group["lr"] = group["lr"] * scale
            elif isinstance(part, torch.optim.lr_scheduler.LRScheduler):
                part.base_lrs = [lr * scale for lr in part.base_lrs]
                if hasattr(part, "eta_min"):
                    part.eta_min = part.eta_min * scale
        self.state.history["divergence_recoveries"] = (
            list(self.good["history"].get("divergence_recoveries", [])) + [float(step)])
        warnings.warn(f"{self.name}: training diverged at step {step} ({why}); went back to step {good_step} "
                      f"and multiplied the learning rates by {scale:g} (recovery {recoveries + 1} of "
                      f"{self.policy.max_recoveries})", RuntimeWarning, stacklevel=3)
        self.good = self.state.state_dict()
        return good_step


# ---------------------------------------------------------------------------------------------- the loop
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
    data: Sequence[Any] | None = None,
    guard: GuardPolicy | None = GuardPolicy(),
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

    **Time budget.** A callback with a ``time_budget_s`` attribute (seconds, or ``None``) gives the fit a
    budget: ``steps`` becomes a cap, the :class:`StepPlanner` measures the step rate in the first seconds and
    plans the number of steps so that the learning-rate schedule ends inside the budget, and training stops
    when the budget is spent. ``Progress.steps`` is the current plan. The seconds count set-up (from
    ``started``) and the steps, not the time spent inside the callback (evaluations, checkpoints).

    **Divergence.** With ``guard`` (default :class:`GuardPolicy`; ``data = (source, target)`` samplers
    give it the data scale and a probe for the map) a :class:`DivergenceGuard` watches every step: a
    non-finite log, a loss orders of magnitude above its scale, or a map that moves points orders of
    magnitude further than the data spread sends the fit back to its last good state with lower learning
    rates (noted in ``history["divergence_recoveries"]`` and a warning); when that does not help,
    :class:`TrainingDiverged` is raised, naming the step and carrying ``make_result`` of the last good state.
    ``guard=None`` turns the guard off (a non-finite log then raises at once, with the parameters of the
    previous step).

    When training ends (all steps, or stopped by the callback or the budget), ``history["train_time_s"]``
    holds the seconds since ``started`` (a ``time.perf_counter()`` value; pass the start of ``fit`` so set-up
    such as identity pre-training counts; default: the start of the loop).
    """
    started = time.perf_counter() if started is None else started
    train_state = TrainState(state or {}, generator, history)
    start = _restore_point(callback, train_state, steps)
    budget = getattr(callback, "time_budget_s", None)
    planner = StepPlanner(steps, None if budget is None else float(budget), train_state)
    watch = None if guard is None else DivergenceGuard(name, train_state, make_result, data, generator, guard)
    params = list(params)
    previous = None if watch is not None else [p.detach().clone() for p in params]

    clock_start, excluded = started, 0.0
    seconds_before = train_state.seconds

    def elapsed() -> float:
        return seconds_before + time.perf_counter() - clock_start - excluded

    def finish(steps_done: int) -> W2Result:
        train_state.seconds = elapsed()
        history["train_time_s"] = [time.perf_counter() - started]
        return make_result(steps_done)

    if watch is not None:
        watch.check_map(start)                 # the starting map's displacement (an untrained map may be far off)
        watch.save_if_good()
    i, run_steps, checked = start, 0, start
    while i < planner.total:
        if previous:
            with torch.no_grad():
                torch._foreach_copy_(previous, [p.detach() for p in params])
        logs = step(i)
        run_steps += 1
        why = _non_finite(logs) if watch is None else watch.check_logs(i, logs)
        if why is None:
            for key, value in logs.items():
                history.setdefault(key, []).append(value)
            train_state.step = i + 1
            if watch is not None and ((i + 1) % watch.policy.check_every == 0 or i + 1 >= planner.total):
                why, checked = watch.check_map(i + 1), i + 1
                if why is None:
                    watch.save_if_good()
        if why is not None:
            if watch is None:
                if previous:
                    with torch.no_grad():
                        torch._foreach_copy_(params, previous)
                raise TrainingDiverged(i, f"{name}: {why}; the networks hold the parameters of the last finite step",
                                       make_result(i))
            i = watch.recover(i, why)
            train_state.seconds = elapsed()
            if planner.planned:
                planner.apply()            # the good state's schedules hold an older plan
            continue
        i += 1
        train_state.seconds = elapsed()
        planner.update(i, run_steps, train_state.seconds)
        if callback is not None:
            t0 = time.perf_counter()
            stop = callback(Progress(i, planner.total, logs, lambda s=i: make_result(s), train_state))
            excluded += time.perf_counter() - t0
            if stop:
                break
        if planner.over(elapsed()):
            break
    if watch is not None and checked != i:
        why = watch.check_map(i)
        if why is not None:
            watch.recover(i, why, final=True)
    return finish(i)


def run_w2_training(solver: Any, *, steps: int, params: Sequence[torch.Tensor], step: Callable[[int], dict[str, float]],
                    history: dict[str, list[float]], forward: torch.nn.Module, inverse: torch.nn.Module | None = None,
                    estimate: str | Callable[[int], float] = "w2_dual", callback: Callback | None = None,
                    started: float | None = None, state: Mapping[str, Any] | None = None,
                    generator: torch.Generator | None = None, data: Sequence[Any] | None = None) -> W2Result:
    """Run :func:`train_loop` for a W2 ``solver`` and build its :class:`W2Result`: the networks ``forward``
    and ``inverse``, the solver's name and settings, and as ``cost_estimate`` the mean of the last 50 values
    of ``history[estimate]`` (or ``estimate(steps_done)`` when it is a function). The other arguments go to
    :func:`train_loop` as they are (its ``name`` is the solver's class name)."""
    from monge.solvers.common import mean_of_last

    def make_result(steps_done: int) -> W2Result:
        cost = estimate(steps_done) if callable(estimate) else mean_of_last(history[estimate])
        return W2Result(solver=solver.name, forward_potential=forward, inverse_potential=inverse, cost_estimate=cost,
                        history=history, settings=solver.settings(), steps=steps_done)

    return train_loop(name=type(solver).__name__, steps=steps, params=params, step=step, make_result=make_result,
                      history=history, callback=callback, started=started, state=state, generator=generator,
                      data=data)


def _non_finite(logs: Mapping[str, float]) -> str | None:
    bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
    return ", ".join(f"{k} = {v}" for k, v in bad.items()) if bad else None
