"""The training loop's divergence guard and time-budget planner (``monge.solvers.loop``).

The guard must fire on finite blow-ups (a forced high learning rate), not only on NaN/inf, for every solver
family; it must recover when a lower learning rate helps and raise :class:`TrainingDiverged` with the last good
state when nothing helps; it must stay silent on healthy runs (every other solver test runs with it). The
planner must turn a time budget into a step count whose schedule ends inside the budget.
"""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch
from torch import nn

from monge.errors import TrainingDiverged
from monge.metrics import baseline_metrics, evaluate
from monge.pairs import GaussianPair, make_pair
from monge.samplers import Sampler, StandardNormal
from monge.solvers import SOLVERS, W2Result, get_solver
from monge.solvers import loop as loop_module
from monge.solvers.loop import BudgetPolicy, GuardPolicy, StepPlanner, TrainState, train_loop


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class FlakySampler(Sampler):
    """N(0, I) samples, except NaN for the calls listed in ``bad_calls`` (1-based; ``None``: every call from
    ``bad_from`` on)."""

    def __init__(self, dim: int, bad_calls: tuple[int, ...] = (), bad_from: int | None = None):
        self.dim, self.dtype, self.device = dim, torch.float32, torch.device("cpu")
        self.calls, self.bad_calls, self.bad_from = 0, bad_calls, bad_from

    def sample(self, n, generator=None):
        # Sampler.sample refuses non-finite samples (monge.errors.NonFiniteError); this test needs the NaN to reach
        # the training loss, as a numerical accident inside a step would.
        return self._sample(n, generator)

    def _sample(self, n, generator):
        self.calls += 1
        out = torch.randn(n, self.dim, generator=generator)
        bad = self.calls in self.bad_calls or (self.bad_from is not None and self.calls >= self.bad_from)
        return out * float("nan") if bad else out


# ---------------------------------------------------------------------------------------------- finite blow-ups
# One solver per family, with a learning rate far too high. Without the guard each of these stores a map tens
# of orders of magnitude off (W2GN lr 10: 1.2e17 % forward L2-UVP; MM-R lr 100: 4.6e7 %).
FORCED = [
    ("w2gn", {"lr": 10.0}),            # ICNN potentials, cycle-consistency dual
    ("enot", {"lr": 1.0}),             # unconstrained potentials, expectile regulariser
    ("mm-r", {"lr": 100.0}),           # maximin: map network against a potential
    ("mm-2", {"lr": 100.0}),           # minimax with two ICNNs
    ("amortized", {"lr": 100.0}),      # amortised conjugate
    ("lsot", {"lr": 100.0}),           # regularised dual + map
]


@pytest.mark.parametrize(("name", "options"), FORCED, ids=[n for n, _ in FORCED])
def test_forced_high_learning_rate_never_returns_a_garbage_map(name, options):
    """The guard fires, and what comes back is not orders of magnitude worse than the identity map."""
    pair = GaussianPair(4, seed=0)
    solver = get_solver(name, **{**SOLVERS[name].smoke_options, **options})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = solver.fit(pair.source, pair.target, steps=150, batch_size=128, generator=gen(0))
        except TrainingDiverged as exc:
            result = exc.result
    fired = [w for w in caught if issubclass(w.category, RuntimeWarning) and "diverged" in str(w.message)]
    assert fired, f"{name}: the guard never fired with {options}"
    assert result is not None and result.history.get("divergence_recoveries")
    identity = baseline_metrics(pair, n=2048, generator=gen(1), n_discrete=None)["identity"]["l2_uvp_fwd"]
    l2_uvp = evaluate(result, pair, n=2048, generator=gen(1))["l2_uvp_fwd"]
    assert math.isfinite(l2_uvp) and l2_uvp < 100 * identity, (name, l2_uvp, identity)


def test_forced_high_learning_rate_w1_critic_recovers():
    pair = make_pair("funnel:2:4", seed=0)
    solver = get_solver("wgan-lp", **{**SOLVERS["wgan-lp"].smoke_options, "lr": 10.0})
    with pytest.warns(RuntimeWarning, match="diverged"):
        result = solver.fit(pair.source, pair.target, steps=150, batch_size=128, generator=gen(0))
    assert result.history["divergence_recoveries"]
    assert all(torch.isfinite(p).all() for p in result.critic.parameters())
    assert math.isfinite(result.w1_estimate) and abs(result.w1_estimate) < 100 * pair.true_w1


# ---------------------------------------------------------------------------------------------- recovery semantics
def test_a_transient_nan_is_recovered_and_noted_in_the_history():
    # Call 1 is the guard's probe; the fit's draws are calls 2, 3, ...: call 9 is step 7's source batch.
    source = FlakySampler(2, bad_calls=(9,))
    with pytest.warns(RuntimeWarning, match=r"diverged at step 7 .*went back to step 0"):
        result = get_solver("enot", hidden_sizes=[16, 16]).fit(source, StandardNormal(2), steps=60, batch_size=32,
                                                                 generator=gen(0))
    assert result.steps == 60 and len(result.history["loss"]) == 60
    assert result.history["divergence_recoveries"] == [7.0]
    assert all(math.isfinite(v) for v in result.history["loss"])


@pytest.mark.parametrize("name", ["w2gn", "enot", "mm-r", "w2gan", "wgan-lp"])
def test_persistent_nan_raises_with_the_last_good_state(name):
    source = FlakySampler(2, bad_from=6)
    solver = get_solver(name, **{**SOLVERS[name].smoke_options, **({"pretrain_steps": 0} if name == "w2gn" else {})})
    with pytest.warns(RuntimeWarning), pytest.raises(TrainingDiverged, match="did not help") as info:
        solver.fit(source, StandardNormal(2), steps=40, batch_size=16, generator=gen(0))
    result = info.value.result
    assert result is not None and result.steps == 0
    assert len(result.history["divergence_recoveries"]) == GuardPolicy().max_recoveries
    networks = [getattr(result, key) for key in ("forward_potential", "critic") if hasattr(result, key)]
    assert networks and all(torch.isfinite(p).all() for net in networks for p in net.parameters())


def test_recovery_lowers_every_learning_rate_and_resumes_from_the_good_state():
    """A loss that blows up (finite) at step 70: back to the state of step 50, learning rate × 0.1."""
    net = nn.Linear(2, 1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    history: dict[str, list[float]] = {}
    calls = []

    def step(i):
        calls.append(i)
        loss = 1e9 if len(calls) == 71 else 1.0 + 0.01 * i
        opt.zero_grad()
        net(torch.ones(1, 2)).sum().backward()
        opt.step()
        schedule.step()
        return {"loss": loss}

    def make_result(steps):
        return W2Result(solver="test", forward_potential=net, inverse_potential=None, cost_estimate=0.0,
                        history=history, steps=steps)

    lr_before = schedule.base_lrs[0]
    with pytest.warns(RuntimeWarning, match="diverged at step 70"):
        train_loop(name="test", steps=100, params=list(net.parameters()), step=step, make_result=make_result,
                   history=history, state={"net": net, "opt": opt, "schedule": schedule})
    assert calls[:71] == list(range(71)) and calls[71] == 50 and calls[-1] == 99
    assert history["divergence_recoveries"] == [70.0] and len(history["loss"]) == 100
    assert schedule.base_lrs[0] == pytest.approx(0.1 * lr_before)


def test_guard_off_raises_at_the_first_non_finite_log():
    net = nn.Linear(2, 1)
    history: dict[str, list[float]] = {}

    def make_result(steps):
        return W2Result(solver="test", forward_potential=net, inverse_potential=None, cost_estimate=0.0,
                        history=history, steps=steps)

    with pytest.raises(TrainingDiverged, match="diverged at step 3"):
        train_loop(name="test", steps=10, params=list(net.parameters()), step=lambda i: {"loss": math.nan if i == 3
                                                                                       else 1.0},
                   make_result=make_result, history=history, guard=None)


# ---------------------------------------------------------------------------------------------- time budgets
class FakeClock:
    """``time.perf_counter`` replaced by a clock that the step function advances."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Budget:
    """A callback with a time budget (what ``monge.fit(time_budget=...)`` and the runner hand the loop)."""

    def __init__(self, seconds):
        self.time_budget_s = seconds
        self.totals: list[int] = []

    def __call__(self, progress):
        self.totals.append(progress.steps)
        return False


@pytest.mark.parametrize(("seconds_per_step", "budget"), [(0.01, 60.0), (0.05, 600.0), (0.2, 30.0)])
def test_planner_ends_the_schedule_inside_the_budget(monkeypatch, seconds_per_step, budget):
    clock = FakeClock()
    monkeypatch.setattr(loop_module.time, "perf_counter", clock)
    net = nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10**9)
    history: dict[str, list[float]] = {}
    lrs = []

    def step(i):
        clock.now += seconds_per_step * (20 if i == 0 else 1)       # a slow first step (compilation)
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
        return {"loss": 1.0}

    callback = Budget(budget)
    result_steps = []
    train_loop(name="test", steps=10**9, params=list(net.parameters()), step=step, history=history,
               make_result=lambda s: result_steps.append(s), callback=callback,
               state={"opt": opt, "schedule": schedule})
    done = result_steps[-1]
    ideal = (budget - 19 * seconds_per_step) / seconds_per_step
    assert 0.9 * ideal <= done <= ideal + 1                       # fills the budget, never overruns it
    assert callback.totals[-1] == done and schedule.T_max == done  # the plan is where training ended
    assert lrs[-1] < 1e-3 * lrs[0]                                 # the cosine schedule reached its end
    assert history["train_time_s"][0] <= budget + seconds_per_step


def test_planner_follows_a_machine_that_slows_down(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(loop_module.time, "perf_counter", clock)
    history: dict[str, list[float]] = {}
    done = []

    def step(i):
        clock.now += 0.01 if i < 1000 else 0.03                   # three times slower after 10 s
        return {"loss": 1.0}

    train_loop(name="test", steps=10**9, params=[], step=step, history=history, make_result=done.append,
               callback=Budget(60.0), guard=None)
    assert 1000 + 0.9 * 50 / 0.03 <= done[-1] <= 1000 + 50 / 0.03 + 1


def test_planner_state_survives_a_restart():
    state = TrainState({}, None, {})
    planner = StepPlanner(10**6, 100.0, state)
    for k, t in enumerate(itertools.islice(itertools.count(0.0, 0.1), 200)):
        planner.update(k + 1, k + 1, t)
    assert planner.planned and state.planned_steps == planner.total
    assert planner.total == pytest.approx(1000 * BudgetPolicy().safety, rel=0.05)
    restarted = TrainState({}, None, {})
    restarted.load_state_dict(state.state_dict())
    assert StepPlanner(10**6, 100.0, restarted).total == planner.total
