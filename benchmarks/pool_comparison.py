"""Could a maintained pool (``concurrent.futures.ProcessPoolExecutor``) replace the sweep's hand-written local
executor? Two measurements, in this one process:

1. **Throughput.** The same sweep (``--runs`` W2GN runs on ``gaussian:8``, ``--steps`` steps, one torch thread per
   run, checkpoints and saved results as in every sweep) through :class:`monge.run.executors.LocalExecutor` and
   through :class:`FuturesExecutor` below (a ``ProcessPoolExecutor`` on a forkserver that preloads torch and
   monge), each with 1 and with ``--workers`` workers. Ratios are of wall-clock times measured one after the
   other on the same machine; run it on a quiet machine.
2. **A worker that dies.** Two long cells run on two workers and one worker is killed with SIGKILL (as the
   kernel's out-of-memory killer would). The local executor reports that one cell as failed (with the signal)
   and the other cell finishes; the futures pool is marked broken, every cell it was running or holding fails
   with ``BrokenProcessPool``, and nothing tells which cell's worker died.

    python benchmarks/pool_comparison.py                 # 8 runs of 1500 steps
    python benchmarks/pool_comparison.py --runs 4 --steps 300
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import multiprocessing
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from monge.config.run import RunConfig
from monge.results import ResultStore
from monge.run.executors import DoneEvent, Executor, FailedEvent, LocalExecutor
from monge.run.sweep import run_sweep
from monge.run.worker import CellTask, run_cell


class FuturesExecutor(Executor):
    """The sweep's executor contract on ``concurrent.futures.ProcessPoolExecutor`` (no progress events)."""

    name = "futures"

    def __init__(self, workers: int):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["torch", "monge.run.worker"])
        self.pool = futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        self.running: dict[futures.Future, CellTask] = {}

    def submit(self, task: CellTask) -> None:
        self.running[self.pool.submit(run_cell, task)] = task

    def pending(self) -> int:
        return len(self.running)

    def events(self, timeout: float | None = None) -> list[Any]:
        done, _ = futures.wait(list(self.running), timeout=timeout, return_when=futures.FIRST_COMPLETED)
        out = []
        for future in done:
            task = self.running.pop(future)
            try:
                out.append(DoneEvent(task, future.result()))
            except Exception as exc:  # noqa: BLE001 - reported to the driver, as the local executor does
                out.append(FailedEvent(task, f"{type(exc).__name__}: {exc}"))
        return out

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def configs(n: int, steps: int) -> list[RunConfig]:
    options = {"hidden_sizes": [64, 64, 32], "pretrain_steps": 100}
    return [RunConfig(solver="w2gn", pair="gaussian:8", seed=seed, steps=steps, batch_size=256, eval_every=steps // 2,
                      eval_samples=2048, solver_options=options) for seed in range(n)]


def throughput(make: Any, runs: list[RunConfig], root: Path, name: str) -> float:
    t0 = time.perf_counter()
    with ResultStore(root / f"{name}.sqlite") as store, make() as executor:
        outcome = run_sweep(name, runs, store, out_dir=root / name, executor=executor, progress=False)
        finished = sum(r["status"] == "finished" for r in store.leaderboard(outcome.run_ids))
    seconds = time.perf_counter() - t0
    print(f"{name:<22} {seconds:7.1f} s  {60 * finished / seconds:6.2f} runs/min  finished {finished}/{len(runs)}  "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    return seconds


def kill_one(executor: Executor, pids: Any) -> list[str]:
    """Two 20 000-step cells on two workers; SIGKILL the first worker after 3 s; the events that follow."""
    tasks = [CellTask(sweep="kill", key=f"cell{i}", config=r.to_dict(), checkpoint_path=None, threads=1)
             for i, r in enumerate(configs(2, 20_000))]
    for task in tasks:
        executor.submit(task)
    seen: list[str] = []
    start = time.time()
    while time.time() - start < 3.0 or len(list(pids())) < 2:       # both cells started and running
        executor.events(timeout=0.2)
    os.kill(sorted(pids())[0], signal.SIGKILL)
    deadline = time.time() + 600
    while executor.pending() and time.time() < deadline:
        for event in executor.events(timeout=1.0):
            if not isinstance(event, (DoneEvent, FailedEvent)):
                continue                                            # progress
            what = "done" if isinstance(event, DoneEvent) else f"failed ({getattr(event, 'error', '')[:80]})"
            seen.append(f"{event.task.key}: {what}")
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-kill", action="store_true")
    args = parser.parse_args()
    runs = configs(args.runs, args.steps)
    print(f"{args.runs} runs of w2gn on gaussian:8, {args.steps} steps, batch 256; torch {torch.__version__}; "
          f"{os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        local1 = throughput(lambda: LocalExecutor(1), runs, root, "local, 1 worker")
        pool1 = throughput(lambda: FuturesExecutor(1), runs, root, "futures, 1 worker")
        local = throughput(lambda: LocalExecutor(args.workers), runs, root, f"local, {args.workers} workers")
        pool = throughput(lambda: FuturesExecutor(args.workers), runs, root, f"futures, {args.workers} workers")
    print(f"speed-up of {args.workers} workers over 1: local {local1 / local:.2f}x, futures {pool1 / pool:.2f}x")
    print(f"futures / local wall time: 1 worker {pool1 / local1:.2f}, {args.workers} workers {pool / local:.2f}")
    if args.skip_kill:
        return
    with LocalExecutor(2) as executor:
        print("local executor, one worker killed:  ", kill_one(executor, lambda: executor.running_pids()))
    executor = FuturesExecutor(2)
    try:
        print("futures pool, one worker killed:    ",
              kill_one(executor, lambda: list(executor.pool._processes)))  # noqa: SLF001 - the only way
    finally:
        executor.close()


if __name__ == "__main__":
    main()
