"""``solver="auto"``: monge's fastest accurate solver and settings for the data at hand.

The choice is ENOT (:class:`~monge.solvers.ENOT`) in every dimension: on the published W2 benchmark pairs it
is monge's most accurate solver for a fixed CPU budget, and among the fastest per step (README, "The W2
benchmark's published pairs" and "Race with OTT-JAX"). What depends on the data:

- **dimension** → network widths (:data:`WIDTHS_BY_DIM`): the smallest networks that were accurate enough
  in the race, the authors' 4×128 above D = 32 (not measured there). Race evidence (Mix3toMix10 pairs,
  batch 1024, 2 CPU cores, forward L2-UVP after 4 minutes, steps/s): D = 2, [64]×3: 0.056 %, 183/s;
  D = 8, [96]×3: 0.540–0.573 %, 125–142/s ([128]×3: 0.575 %, 85/s); D = 32, [96]×4: 3.50–3.79 %,
  88–89/s ([96]×3: 5.25 %, 136/s; [128]×4: 3.30 %, 65/s). OTT-JAX's ENOT, for comparison, reaches
  0.154 / 0.885 / 4.18 % after 8 minutes at about 100 steps/s.
- **number of steps** → ``torch.compile`` for runs of at least :data:`COMPILE_MIN_STEPS` steps (compilation
  costs seconds and pays off after about a thousand steps); shorter runs stay eager.
- **data size** → the batch is capped by the number of samples when the data are finite (tensors or
  :class:`~monge.samplers.Empirical` samplers).

The learning rate is 3e-3 with cosine decay over the run (ENOT's own default is 3e-4 constant, tuned for
much longer runs): at 3000 steps on ``w2b-mix:8`` forward L2-UVP is 8.2 / 5.2 / 1.7 / 1.6 % for lr 3e-4 /
1e-3 / 3e-3 / 1e-2 (``monge.run.presets``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch

from monge.errors import InvalidInputError
from monge.samplers import Empirical
from monge.solvers.base import Callback, W2Result, W2Solver, get_solver, register_solver
from monge.solvers.common import prepare_data
from monge.solvers.w2.enot import ENOT

WIDTHS_BY_DIM: tuple[tuple[int, list[int]], ...] = (
    (4, [64, 64, 64]),
    (16, [96, 96, 96]),
    (32, [96, 96, 96, 96]),
    (10**9, [128, 128, 128, 128]),
)
"""(largest dimension, hidden widths of both ENOT potentials), first match wins."""

COMPILE_MIN_STEPS = 2000
"""Runs of at least this many steps use ``torch.compile`` (see :class:`~monge.solvers.ENOT`'s ``compile``)."""

COMPILE_MIN_SECONDS = 60.0
"""Runs with a time budget of at least this many seconds use ``torch.compile`` (compilation takes seconds)."""

LEARNING_RATE = 3e-3


@dataclass(frozen=True)
class AutoChoice:
    """What ``auto`` picked: a registered solver, its options, the batch size, and why."""

    solver: str
    options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 1024
    reason: str = ""


def choose_solver(dim: int, *, steps: int = 10_000, batch_size: int = 1024,
                  n_samples: int | None = None, time_budget: float | None = None) -> AutoChoice:
    """monge's choice of solver and settings for ``dim``-dimensional data, a run of ``steps`` steps (a cap when
    there is a ``time_budget`` in seconds) at ``batch_size``, and (for finite data) ``n_samples`` samples on the
    smaller side. See the module docs."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise InvalidInputError(f"auto: dim must be a positive integer, got {dim!r}")
    widths = next(w for top, w in WIDTHS_BY_DIM if dim <= top)
    compile_ = steps >= COMPILE_MIN_STEPS and (time_budget is None or time_budget >= COMPILE_MIN_SECONDS)
    length = f"{time_budget:g} s budget" if time_budget is not None else f"{steps} steps"
    batch = batch_size if n_samples is None else max(1, min(batch_size, n_samples))
    options = {"hidden_sizes": list(widths), "lr": LEARNING_RATE, "lr_decay": True, "compile": compile_}
    reason = (f"ENOT for D={dim}: widths {widths}, lr {LEARNING_RATE:g} with cosine decay, "
              f"{'compiled' if compile_ else 'eager'} ({length}), batch {batch}"
              + (f" (capped by {n_samples} samples)" if batch < batch_size else ""))
    return AutoChoice("enot", options, batch, reason)


def _finite_size(sampler: Any) -> int | None:
    return len(sampler) if isinstance(sampler, Empirical) else None


@register_solver("auto")
class Auto(W2Solver):
    """Pick monge's fastest accurate solver and settings for the data (:func:`choose_solver`), then fit it.

    The result is the chosen solver's, labelled ``result.solver == "auto"``; its settings name the chosen
    solver (``"chosen_solver"``), hold that solver's settings, and the reason for the choice (``"reason"``).

    Args:
        compile: force ``torch.compile`` on (True) or off (False); ``None`` (default) decides by the number of
            steps.
    """

    paper = ("Chooses among monge's solvers; currently ENOT: " + ENOT.paper)
    smoke_options = {"compile": False}

    def __init__(self, *, compile: bool | None = None):
        if compile is not None and not isinstance(compile, bool):
            raise InvalidInputError(f"auto: compile must be true, false or null, got {compile!r}")
        self.compile = compile

    def settings(self) -> dict[str, Any]:
        return {"compile": self.compile}

    def plan(self, source: Any, target: Any, *, steps: int, batch_size: int = 1024,
             time_budget: float | None = None) -> AutoChoice:
        """The choice :meth:`fit` makes for these data (samplers or sample tensors) and budget, without fitting."""
        return self._plan(*prepare_data(source, target, steps, batch_size), steps=steps, batch_size=batch_size,
                          time_budget=time_budget)

    def _plan(self, source: Any, target: Any, *, steps: int, batch_size: int,
              time_budget: float | None = None) -> AutoChoice:
        sizes = [n for n in (_finite_size(source), _finite_size(target)) if n is not None]
        choice = choose_solver(source.dim, steps=steps, batch_size=batch_size, n_samples=min(sizes) if sizes else None,
                               time_budget=time_budget)
        if self.compile is not None and self.compile != choice.options.get("compile"):
            choice = replace(choice, options={**choice.options, "compile": self.compile},
                             reason=f"{choice.reason}; compile={self.compile} by request")
        return choice

    def settings_for_run(self, source: Any, target: Any, *, steps: int, batch_size: int,
                         time_budget: float | None = None) -> dict[str, Any]:
        """The settings :meth:`fit` will record: the chosen solver, its settings, the batch and the reason."""
        return self._result_settings(self.plan(source, target, steps=steps, batch_size=batch_size,
                                               time_budget=time_budget))

    @staticmethod
    def _result_settings(choice: AutoChoice) -> dict[str, Any]:
        return {"chosen_solver": choice.solver, **get_solver(choice.solver, **choice.options).settings(),
                "batch_size": choice.batch_size, "reason": choice.reason}

    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int = 1024,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W2Result:
        """Choose by the data's dimension, size and budget (:meth:`plan`; a callback's ``time_budget_s`` is the
        time budget), then fit the chosen solver."""
        source, target = prepare_data(source, target, steps, batch_size)
        choice = self._plan(source, target, steps=steps, batch_size=batch_size,
                            time_budget=getattr(callback, "time_budget_s", None))
        result = get_solver(choice.solver, **choice.options).fit(source, target, steps=steps, batch_size=choice.batch_size,
                                                                 generator=generator, callback=callback)
        return replace(result, solver=self.name, settings=self._result_settings(choice))
