"""Race: monge's solvers against OTT-JAX's ENOT and W2NeuralDual on the published W2 benchmark pairs.

Every job trains on the same pair (Mix3toMix10, D = 2, 8, 32 by default) with unpaired minibatches of
``--batch-size`` (1024) drawn from monge's samplers of that pair, for the same wall-clock budget, one job at
a time. The clock runs from the job's start (compilation included) and stops while the map is evaluated. At
each checkpoint (1, 2, 4 and 8 minutes by default) the forward map is scored on the pair's published
reference sample (``reference/{D}.npz``: X and Y = T*(X)) with monge's ``l2_uvp`` and ``cosine``, so both
libraries are measured by the same code. For each job it prints steps/s, compile time (the first steps,
which include JAX's jit or ``torch.compile``; for monge the first run's in brackets), the metrics at each checkpoint, and the machine's load
average before and after.

Jobs:
  ``ott-enot``   OTT-JAX ``ExpectileNeuralDual`` with its defaults (4×128 ELU MLPs, Adam 3e-4, τ 0.99);
  ``ott-w2nd``   OTT-JAX ``W2NeuralDual`` with its defaults (ICNNs, L-BFGS conjugate fine-tuning);
  ``monge:NAME`` a monge solver by registry name with its defaults, or ``auto`` (``monge.solvers.auto``).

A monge job gets the time budget itself: it measures its step rate in the first seconds and plans its steps
so that its learning-rate schedule ends inside the budget (``monge.solvers.loop``); the clock includes that
and any compilation. ``--calibrate`` restores the older protocol (a calibration run of
``--calibration-seconds`` outside the budget, then ``steps/s × budget`` steps). ``monge:auto`` runs with the
budget ``--auto-minutes`` (4 by default), the other jobs with ``--budget-minutes``.

Pairs: ``--pair-root`` is a folder holding ``Mix3toMix10/`` (``../shared/data/w2bench`` for the published
pairs, whose ``reference/{D}.npz`` sample scores the maps; or the ``--out`` folder of ``monge pairs build``,
for which the reference is 4096 seeded source samples and their true images). ``--threads 1`` runs every job
on one thread (torch, and XLA through ``XLA_FLAGS``).

OTT-JAX is an optional benchmark dependency, never a dependency of monge or its tests. Install it beside
monge in the benchmark environment::

    pip install "ott-jax>=0.6" flax diffrax          # JAX CPU build from PyPI
    python benchmarks/race_ottjax.py --pair-root ../shared/data/w2bench
    python benchmarks/race_ottjax.py --dims 8 --jobs ott-enot monge:auto --budget-minutes 2 --checkpoints 1 2

Both libraries use every core (torch's default thread count, XLA's default); run it on a quiet machine:
the numbers are wall-clock.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from monge.metrics.w2 import cosine, l2_uvp
from monge.pairs import make_pair

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "w2bench"


class Reference:
    """The reference sample of a Mix3toMix10 pair and the scores of a map on it: the published
    ``reference/{D}.npz`` when the root has one, else 4096 source samples (seed 4096) of the pair and their
    images under its true map (pairs built with ``monge pairs build``)."""

    def __init__(self, root: Path, dim: int, pair: Any):
        file = root / "reference" / f"{dim}.npz"
        if file.is_file():
            data = np.load(file)
            self.x = torch.from_numpy(data["X"]).double()
            self.y = torch.from_numpy(data["Y"]).double()
            self.variance = float(data["output_var"])
            return
        x = pair.source.sample(4096, torch.Generator().manual_seed(4096))
        self.x = x.double()
        self.y = pair.true_forward(x).detach().double()
        self.variance = float(pair.target.sample(2**16, torch.Generator().manual_seed(4097)).double().var(0).sum())

    def score(self, mapped: torch.Tensor) -> dict[str, float]:
        mapped = mapped.detach().double()
        if not torch.isfinite(mapped).all():
            return {"l2_uvp": math.nan, "cos": math.nan}
        return {"l2_uvp": l2_uvp(mapped, self.y, self.variance), "cos": cosine(self.x, mapped, self.y)}


class Clock:
    """Wall-clock time of a job, paused while the map is evaluated."""

    def __init__(self) -> None:
        self.start, self.paused = time.perf_counter(), 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.paused

    def pause(self, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        try:
            return fn()
        finally:
            self.paused += time.perf_counter() - t


def batches(sampler: Any, batch_size: int, seed: int, as_numpy: bool = False) -> Iterator[Any]:
    """Endless unpaired minibatches from a monge sampler with its own seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        batch = sampler.sample(batch_size, generator)
        yield batch.numpy() if as_numpy else batch


def run_ott(kind: str, pair: Any, reference: Reference, *, budget: float, checkpoints: list[float],
            batch_size: int, seed: int, chunk: int) -> dict[str, Any]:
    """Train an OTT-JAX solver in chunks of ``chunk`` steps (ENOT; 2 for W2NeuralDual) until the budget is
    spent."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    # The batches come from monge's torch samplers. One torch thread for them: idle OpenMP workers of torch
    # would otherwise spin beside XLA's thread pool and slow OTT-JAX down (measured: about 2x).
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_ott(kind, pair, reference, budget=budget, checkpoints=checkpoints, batch_size=batch_size,
                        seed=seed, chunk=chunk)
    finally:
        torch.set_num_threads(torch_threads)


def _run_ott(kind: str, pair: Any, reference: Reference, *, budget: float, checkpoints: list[float],
             batch_size: int, seed: int, chunk: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    from ott.neural.methods.expectile_neural_dual import ExpectileNeuralDual
    from ott.neural.methods.neuraldual import W2NeuralDual

    dim = pair.dim
    sources = batches(pair.source, batch_size, seed, as_numpy=True)
    targets = batches(pair.target, batch_size, seed + 1, as_numpy=True)
    cls = ExpectileNeuralDual if kind == "ott-enot" else W2NeuralDual
    clock = Clock()
    solver = cls(dim_data=dim, num_train_iters=2, valid_freq=10**12, rng=jax.random.PRNGKey(seed))
    x_ref = jnp.asarray(reference.x.float().numpy())

    def forward_map() -> torch.Tensor:
        potentials = solver.to_dual_potentials()
        mapped = potentials.transport(x_ref) if kind == "ott-enot" else potentials.transport(x_ref, forward=True)
        return torch.from_numpy(np.array(mapped))

    def train(n: int) -> None:
        solver.num_train_iters = n
        solver(sources, targets, sources, targets)
        jax.block_until_ready(solver.state_f.params)

    train(2)
    compile_s, steps = clock.elapsed(), 2
    solver_steps = chunk if kind == "ott-enot" else 2
    return _race_loop(clock, lambda: train(solver_steps), solver_steps, steps, compile_s, forward_map, reference,
                      budget, checkpoints)


def _race_loop(clock: Clock, advance: Callable[[], None], per_call: int, steps: int, compile_s: float,
               forward_map: Callable[[], torch.Tensor], reference: Reference, budget: float,
               checkpoints: list[float]) -> dict[str, Any]:
    """Advance training until the budget is spent, scoring the map when a checkpoint is passed."""
    marks: list[dict[str, Any]] = []
    pending = sorted(checkpoints)
    steps_at_compile = steps
    while pending:
        advance()
        steps += per_call
        now = clock.elapsed()
        while pending and now >= pending[0]:
            scores = clock.pause(lambda: reference.score(forward_map()))
            marks.append({"minutes": pending.pop(0) / 60, "elapsed_s": now, "steps": steps, **scores})
        if now >= budget:
            break
    train_s = clock.elapsed() - compile_s
    return {"steps": steps, "compile_s": compile_s,
            "steps_per_s": (steps - steps_at_compile) / train_s if train_s > 0 else math.nan, "marks": marks}


def _checkpoint_scorer(clock: Clock, pair: Any, reference: Reference, budget: float, checkpoints: list[float]
                       ) -> tuple[Callable[[Any], bool], list[dict[str, Any]], list[float], dict[str, Any]]:
    """A monge callback that scores the forward map at each checkpoint passed (clock paused) and stops at the
    budget; returns it with the marks it fills, the checkpoints still pending and its step/compile record."""
    marks: list[dict[str, Any]] = []
    pending, state = sorted(checkpoints), {"steps": 0, "compile_s": math.nan}

    def callback(progress: Any) -> bool:
        now = clock.elapsed()
        if progress.step == 10:
            state["compile_s"] = now
        state["steps"], state["planned"] = progress.step, progress.steps
        while pending and (now >= pending[0] or progress.step == progress.steps):
            def score() -> dict[str, float]:
                with torch.no_grad():
                    return reference.score(progress.result().forward(reference.x.to(pair.dtype)))
            marks.append({"minutes": pending.pop(0) / 60, "elapsed_s": now, "steps": progress.step,
                          **clock.pause(score)})
        return now >= budget

    return callback, marks, pending, state


def run_monge(spec: str, pair: Any, reference: Reference, *, budget: float, checkpoints: list[float],
              batch_size: int, seed: int, calibration_s: float, planned: bool = True) -> dict[str, Any]:
    """Train a monge solver (``NAME`` or ``NAME:{json options}``; ``auto`` included) for the budget, scoring the
    forward map at the checkpoints. With ``planned`` (default) the solver gets the budget itself
    (``monge.solvers.loop.TimeBudget``): it measures its step rate and plans its steps and schedule; otherwise
    (``--calibrate``) a calibration run outside the budget measures steps/s and the run asks for
    ``steps/s × budget`` steps."""
    from monge.solvers import get_solver
    from monge.solvers.loop import BUDGET_STEP_CAP, TimeBudget

    name, _, text = spec.partition(":")
    options = json.loads(text) if text else {}

    def fit(steps: int, callback: Callable[[Any], bool]) -> Any:
        generator = torch.Generator().manual_seed(seed)
        return get_solver(name, **options).fit(pair.source, pair.target, steps=steps, batch_size=batch_size,
                                               generator=generator, callback=callback)

    if planned:
        return _run_monge_planned(fit, pair, reference, budget, checkpoints, TimeBudget, BUDGET_STEP_CAP)

    # Calibration (outside the budget): steps/s after the first 10 steps, which include any compilation.
    calibration: dict[str, float] = {}
    calib_clock = Clock()

    def calibrate(progress: Any) -> bool:
        if progress.step == 10:
            calibration["t10"] = calib_clock.elapsed()
        calibration["steps"], calibration["t"] = progress.step, calib_clock.elapsed()
        return progress.step > 10 and calib_clock.elapsed() >= calibration_s

    fit(10**9, calibrate)
    rate = (calibration["steps"] - 10) / max(calibration["t"] - calibration["t10"], 1e-9)
    planned = max(int(rate * budget), 20)
    torch._dynamo.reset()   # the timed run compiles again (from the on-disk cache, as a user's second run)

    clock = Clock()
    callback, marks, _, state = _checkpoint_scorer(clock, pair, reference, budget, checkpoints)
    result = fit(planned, callback)
    train_s = clock.elapsed() - state["compile_s"]
    return {"solver": result.solver, "settings": result.settings, "steps": state["steps"],
            "planned_steps": planned, "calibrated_steps_per_s": rate, "compile_s": state["compile_s"],
            "first_compile_s": calibration["t10"],
            "steps_per_s": (state["steps"] - 10) / train_s if train_s > 0 else math.nan, "marks": marks}


def _run_monge_planned(fit: Callable[..., Any], pair: Any, reference: Reference, budget: float,
                       checkpoints: list[float], budget_callback: Any, cap: int) -> dict[str, Any]:
    clock = Clock()
    callback, marks, pending, state = _checkpoint_scorer(clock, pair, reference, budget, checkpoints)
    result = fit(cap, budget_callback(budget, callback))
    train_s = clock.elapsed() - state["compile_s"]
    if pending:                                   # the schedule ended before the last checkpoints
        scores = reference.score(result.forward(reference.x.to(pair.dtype)))
        marks += [{"minutes": t / 60, "elapsed_s": clock.elapsed(), "steps": state["steps"], **scores}
                  for t in pending]
    return {"solver": result.solver, "settings": result.settings, "steps": state["steps"],
            "planned_steps": state.get("planned"), "compile_s": state["compile_s"],
            "steps_per_s": (state["steps"] - 10) / train_s if train_s > 0 else math.nan, "marks": marks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pair-root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--jobs", nargs="+", default=["ott-enot", "ott-w2nd", "monge:auto"])
    parser.add_argument("--budget-minutes", type=float, default=8.0)
    parser.add_argument("--auto-minutes", type=float, default=4.0)
    parser.add_argument("--checkpoints", type=float, nargs="+", default=[1, 2, 4, 8], help="minutes")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibration-seconds", type=float, default=20.0)
    parser.add_argument("--ott-chunk", type=int, default=100, help="OTT-JAX ENOT steps between clock reads")
    parser.add_argument("--json", type=Path, help="append one JSON line per job to this file")
    parser.add_argument("--compile-sampling", action="store_true",
                        help="draw every job's target batches through the pair's torch.compile'd ground-truth map "
                             "(Mix3toMix10Pair.compile_sampling: the same samplers for every job, ~2x cheaper)")
    parser.add_argument("--calibrate", action="store_true",
                        help="monge jobs: calibrate steps/s outside the budget and ask for steps/s × budget steps "
                             "(the old protocol) instead of giving the solver the time budget")
    parser.add_argument("--threads", type=int, help="CPU threads of every job (torch and XLA); default: all cores")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                   f"intra_op_parallelism_threads={args.threads}").strip()

    if not (args.pair_root / "Mix3toMix10").is_dir():
        parser.error(f"--pair-root {args.pair_root} has no Mix3toMix10 folder (published or built pairs)")
    if any(job.startswith("ott-") for job in args.jobs):
        if importlib.util.find_spec("ott") is None:
            parser.error("the ott-* jobs need OTT-JAX: pip install 'ott-jax>=0.6' flax diffrax")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__} with {torch.get_num_threads()} threads, python {platform.python_version()}")
    for dim in args.dims:
        pair = make_pair(f"w2b-mix:{dim}", root=args.pair_root)
        if args.compile_sampling:
            pair.compile_sampling()
        reference = Reference(args.pair_root, dim, pair)
        for job in args.jobs:
            minutes = args.auto_minutes if job == "monge:auto" else args.budget_minutes
            checkpoints = [60 * m for m in args.checkpoints if m <= minutes]
            load_before = os.getloadavg()
            if job.startswith("ott-"):
                out = run_ott(job, pair, reference, budget=60 * minutes, checkpoints=checkpoints,
                              batch_size=args.batch_size, seed=args.seed, chunk=args.ott_chunk)
            elif job.startswith("monge:"):
                out = run_monge(job.split(":", 1)[1], pair, reference, budget=60 * minutes,
                                checkpoints=checkpoints, batch_size=args.batch_size, seed=args.seed,
                                calibration_s=args.calibration_seconds, planned=not args.calibrate)
            else:
                parser.error(f"unknown job {job!r} (ott-enot, ott-w2nd, monge:NAME)")
            out.update({"job": job, "dim": dim, "budget_minutes": minutes, "load_before": load_before,
                        "compiled_sampling": bool(args.compile_sampling),
                        "load_after": os.getloadavg(), "threads": torch.get_num_threads()})
            marks = "  ".join(f"{m['minutes']:g} min: {m['l2_uvp']:.3f} % (cos {m['cos']:.3f}, {m['steps']} steps)"
                              for m in out["marks"])
            first = f" [{out['first_compile_s']:.1f} s]" if out.get("first_compile_s") is not None else ""
            print(f"D={dim:<3} {job:<12} {out['steps_per_s']:7.2f} steps/s  compile {out['compile_s']:5.1f} s{first}  "
                  f"{marks}  load {load_before[0]:.2f} -> {out['load_after'][0]:.2f}", flush=True)
            if args.json:
                with args.json.open("a") as fh:
                    fh.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
