"""Throughput of a sweep: does the local executor keep every core busy?

A sweep of ``--runs`` small runs (W2GN, DenseICNN [64, 64, 32], on ``gaussian:8``, seeds 0..runs−1, ``--steps``
steps of batch 256, one torch thread per run) is run three ways, each with a fresh results database, in this one
process, one after the other:

- ``in-process, one at a time``: :func:`monge.run.run_bench` (the ``monge bench`` path), torch with
  ``--threads`` threads (default: every core, what a user gets without a sweep);
- ``local executor, 1 worker``: :func:`monge.run.sweep.run_sweep` with one worker process (one run at a time,
  through the same worker path as the sweep: process start, checkpoints every 100 steps, results saved);
- ``local executor, N workers``: the default executor (one worker per core).

It prints wall-clock time and runs per minute of each, the ratio of the N-worker sweep to each one-at-a-time
baseline, and the load average before and after each (run it on a quiet machine: other load makes the ratio
meaningless). The issue's target: N-worker throughput ≥ 1.7 × one-at-a-time on 2 cores.

    python benchmarks/sweep_throughput.py            # 8 runs of 1500 steps
    python benchmarks/sweep_throughput.py --runs 4 --steps 300   # a quick look
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from monge.run.executors import LocalExecutor, default_workers
from monge.config.run import RunConfig
from monge.results import ResultStore
from monge.run.runner import run_bench
from monge.run.sweep import run_sweep


def runs(n: int, steps: int) -> list[RunConfig]:
    options = {"hidden_sizes": [64, 64, 32], "pretrain_steps": 100}
    return [RunConfig(solver="w2gn", pair="gaussian:8", seed=seed, steps=steps, batch_size=256, eval_every=steps // 2,
                      eval_samples=2048, solver_options=options) for seed in range(n)]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(label: str, work) -> float:
    before = load()
    t0 = time.perf_counter()
    finished = work()
    seconds = time.perf_counter() - t0
    print(f"{label:<34} {seconds:8.1f} s  {60 * finished / seconds:6.2f} runs/min  finished {finished}  "
          f"load before {before}, after {load()}", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the in-process baseline")
    parser.add_argument("--workers", type=int, default=None, help="workers of the parallel sweep (default: cores)")
    args = parser.parse_args()
    workers = args.workers or default_workers()
    configs = runs(args.runs, args.steps)
    print(f"{args.runs} runs of w2gn on gaussian:8, {args.steps} steps, batch 256; {workers} workers; torch "
          f"{torch.__version__}; {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def in_process() -> int:
            if args.threads:
                torch.set_num_threads(args.threads)
            with ResultStore(root / "bench.sqlite") as store:
                summaries = run_bench(configs, store, progress=False)
            return sum(s.status == "finished" for s in summaries)

        def sweep(n_workers: int, name: str) -> int:
            with ResultStore(root / f"{name}.sqlite") as store, LocalExecutor(n_workers) as executor:
                outcome = run_sweep(name, configs, store, out_dir=root / name, executor=executor, progress=False)
                return sum(r["status"] == "finished" for r in store.leaderboard(outcome.run_ids))

        base_in = timed("in-process, one at a time", in_process)
        base_one = timed("local executor, 1 worker", lambda: sweep(1, "one"))
        parallel = timed(f"local executor, {workers} workers", lambda: sweep(workers, "many"))
    print(f"throughput ratio, {workers} workers vs in-process one at a time: {base_in / parallel:.2f}x")
    print(f"throughput ratio, {workers} workers vs 1 worker:                  {base_one / parallel:.2f}x")


if __name__ == "__main__":
    main()
