"""``solver="auto"``: monge's fastest accurate solver and settings for the data at hand.

The choice is ENOT (:class:`~monge.solvers.ENOT`) in every dimension: on the published W2 benchmark pairs it
is monge's most accurate solver for a fixed CPU budget, and among the fastest per step (docs/benchmarks.md, "The W2
benchmark's published pairs" and "Race with OTT-JAX"). What depends on the data:

- **dimension** → network widths (:data:`WIDTHS_BY_DIM`): the smallest networks that were accurate enough
  in the race, the authors' 4×128 above D = 32 (not measured there). Race evidence (Mix3toMix10 pairs,
  batch 1024, 2 CPU cores, forward L2-UVP after 4 minutes, steps/s): D = 2, [64]×3: 0.056 %, 183/s;
  D = 8, [96]×3: 0.540–0.573 %, 125–142/s ([128]×3: 0.575 %, 85/s); D = 32, [96]×4: 3.50–3.79 %,
  88–89/s ([96]×3: 5.25 %, 136/s; [128]×4: 3.30 %, 65/s). OTT-JAX's ENOT, for comparison, reaches
  0.154 / 0.885 / 4.18 % after 8 minutes at about 100 steps/s.
- **number of steps** → ``torch.compile`` for runs of at least :data:`COMPILE_MIN_STEPS` steps (compilation
  costs seconds and pays off after about a thousand steps); shorter runs stay eager.
- **units of the data** → ``auto`` trains on standardised data: both sides shifted by their common mean and
  divided by their common RMS spread (:func:`standardisation`, on a fixed probe of 4096 samples each). The
  quadratic-cost OT map commutes with a common translation and isotropic scaling, so the map is the same; the
  result's potentials are :class:`~monge.nets.RescaledPotential` s that map in the data's own units. Without it
  the learning rates above, chosen on standardised benchmark pairs, blew up on ``gaussian:256`` (per-coordinate
  spread about 4): the divergence guard caught it, but the recovered map scored about 1000 %.
- **data size** → the batch is capped by the number of samples when the data are finite (tensors or
  :class:`~monge.samplers.Empirical` samplers).

- **dimension** → learning rate (:data:`LEARNING_RATE_BY_DIM`), with cosine decay over the run (ENOT's own
  default is 3e-4 constant, tuned for much longer runs): 3e-3 up to D = 32, 1e-3 up to D = 64, 3e-4 above.
  At 3000 steps on ``w2b-mix:8`` forward L2-UVP is 8.2 / 5.2 / 1.7 / 1.6 % for lr 3e-4 / 1e-3 / 3e-3 / 1e-2
  (``monge.config.preset``); on the published D = 32 pair, 15-minute runs on one thread reach 2.65 % at 3e-3 and
  5.0 % at 1e-3; on a D = 64 pair built with the published recipe, a 3-minute budget gives 61 % at 3e-3 and 16 %
  at 1e-3, and 15 minutes at 3e-4 end at 48 %; on ``gaussian:256`` (standardised) 1e-3 blew up three times
  (docs/hd-accuracy.md). The D > 64 rate has the least evidence.
- **dimension and device** → bfloat16 matrix products (ENOT's ``mixed_precision``) from D = 32 up, where the
  step is mostly matrix products, when the device multiplies bfloat16 natively (:func:`fast_bfloat16`): on
  this project's CPU (AVX-512 BF16) the compiled step at D = 64 runs about 1.6× as many steps/s, and the
  accuracy at D = 8 is the same (3.42 % against 3.43 % after 3000 steps).
"""


from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch

from monge.errors import InvalidInputError, TrainingDiverged
from monge.nets.base import RescaledPotential
from monge.samplers import Empirical, PushForward
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

LEARNING_RATE_BY_DIM: tuple[tuple[int, float], ...] = ((32, 3e-3), (64, 1e-3), (10**9, 3e-4))
"""(largest dimension, ENOT learning rate), first match wins."""

_LR_EVIDENCE = {1e-3: " (D > 32: 61 % at 3e-3 against 16 % at 1e-3 on a built D=64 pair, docs/hd-accuracy.md)",
                3e-4: " (D > 64: 1e-3 blew up on gaussian:256, docs/hd-accuracy.md)"}

MIXED_PRECISION_MIN_DIM = 32
"""From this dimension up, ``auto`` uses bfloat16 matrix products where the device has them natively."""

COMPILE_MIN_STEPS = 2000
"""Runs of at least this many steps use ``torch.compile`` (see :class:`~monge.solvers.ENOT`'s ``compile``)."""

COMPILE_MIN_SECONDS = 300.0
"""Runs with a time budget of at least this many seconds use ``torch.compile``. Compilation takes 15–30 s on an
idle 2-core CPU and several times that on a busy one: with 60 s (the earlier threshold) a loaded machine spent a
whole 1-minute budget compiling and trained 1 step."""



def fast_bfloat16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` multiplies bfloat16 matrices natively (CUDA with bf16 support; a CPU whose oneDNN
    has bf16 kernels, e.g. AVX-512 BF16 or AMX)."""
    device = torch.device(device)
    try:
        if device.type == "cuda":
            return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        if device.type == "cpu":
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
    return False


@dataclass(frozen=True)
class AutoChoice:
    """What ``auto`` picked: a registered solver, its options, the batch size, and why."""

    solver: str
    options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 1024
    reason: str = ""


def choose_solver(dim: int, *, steps: int = 10_000, batch_size: int = 1024,
                  n_samples: int | None = None, time_budget: float | None = None,
                  device: torch.device | str = "cpu") -> AutoChoice:
    """monge's choice of solver and settings for ``dim``-dimensional data on ``device``, a run of ``steps`` steps
    (a cap when there is a ``time_budget`` in seconds) at ``batch_size``, and (for finite data) ``n_samples``
    samples on the smaller side. See the module docs."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise InvalidInputError(f"auto: dim must be a positive integer, got {dim!r}")
    widths = next(w for top, w in WIDTHS_BY_DIM if dim <= top)
    lr = next(rate for top, rate in LEARNING_RATE_BY_DIM if dim <= top)
    compile_ = steps >= COMPILE_MIN_STEPS and (time_budget is None or time_budget >= COMPILE_MIN_SECONDS)
    mixed = dim >= MIXED_PRECISION_MIN_DIM and fast_bfloat16(device)
    length = f"{time_budget:g} s budget" if time_budget is not None else f"{steps} steps"
    batch = batch_size if n_samples is None else max(1, min(batch_size, n_samples))
    options = {"hidden_sizes": list(widths), "lr": lr, "lr_decay": True, "compile": compile_,
               "mixed_precision": mixed}
    reason = (f"ENOT for D={dim}: widths {widths}, lr {lr:g} with cosine decay"
              f"{_LR_EVIDENCE[lr] if dim > 32 else ''}, "
              f"{'bfloat16 matrix products, ' if mixed else ''}"
              f"{'compiled' if compile_ else 'eager'} ({length}), batch {batch}"
              + (f" (capped by {n_samples} samples)" if batch < batch_size else ""))
    return AutoChoice("enot", options, batch, reason)


STANDARDISATION_SAMPLES = 4096
STANDARDISATION_SEED = 0x57A7D


def standardisation(source: Any, target: Any) -> tuple[torch.Tensor, float]:
    """(m, s): the common mean and RMS per-coordinate spread of ``STANDARDISATION_SAMPLES`` samples of each side,
    drawn with a generator of their own (the fit's random stream does not move)."""
    generator = torch.Generator().manual_seed(STANDARDISATION_SEED)
    with torch.no_grad():
        both = torch.cat([source.sample(STANDARDISATION_SAMPLES, generator),
                          target.sample(STANDARDISATION_SAMPLES, generator)])
    shift = both.mean(0)
    scale = float(both.sub(shift).square().sum(1).mean().div(both.shape[1]).sqrt())
    return shift, (scale if scale > 0 and scale == scale and scale != float("inf") else 1.0)


class _Rescaled:
    """What ``auto`` hands the chosen solver as its callback: passes the budget, ``restore`` and every call on
    to the user's callback, with ``Progress.result`` rescaled to the data's units."""

    def __init__(self, callback: Any, rescale: Any):
        self.callback, self.rescale = callback, rescale
        self.time_budget_s = getattr(callback, "time_budget_s", None)

    def __call__(self, progress: Any) -> Any:
        if self.callback is None:
            return False
        return self.callback(replace(progress, result=lambda: self.rescale(progress.result())))

    def restore(self, state: Any) -> int:
        restore = getattr(self.callback, "restore", None)
        return int(restore(state) or 0) if restore is not None else 0


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
                               time_budget=time_budget, device=source.device)
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
        source, target = prepare_data(source, target, steps, batch_size, generator)
        choice = self._plan(source, target, steps=steps, batch_size=batch_size,
                            time_budget=getattr(callback, "time_budget_s", None))
        shift, scale = standardisation(source, target)
        settings = self._result_settings(choice)

        def rescale(result: W2Result) -> W2Result:
            def wrap(net: Any) -> Any:
                return None if net is None else RescaledPotential(net, shift=shift, scale=scale)

            return replace(result, solver=self.name, settings=settings, forward_potential=wrap(result.forward_potential),
                           inverse_potential=wrap(result.inverse_potential),
                           cost_estimate=result.cost_estimate * scale**2)

        def standardised(sampler: Any) -> Any:
            return PushForward(sampler, lambda x: (x - shift.to(x)) / scale)

        try:
            result = get_solver(choice.solver, **choice.options).fit(
                standardised(source), standardised(target), steps=steps, batch_size=choice.batch_size,
                generator=generator, callback=_Rescaled(callback, rescale))
        except TrainingDiverged as exc:
            exc.result = None if exc.result is None else rescale(exc.result)
            raise
        return rescale(result)
