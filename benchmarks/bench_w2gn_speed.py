"""W2GN training speed: monge's explicit-gradient path vs plain autograd double backward.

Both paths train the same DenseICNN pair on the same W2GN loss (batch 1024 by default) in one process;
the script prints steps/s for each and their ratio, for D = 2, 16, 64, 128 with hidden sizes
[max(2D,64), max(2D,64), max(D,32)]. With ``--time-to-target`` it also reports the wall-clock time W2GN
(default settings) needs to reach 1 % forward L2-UVP on ``GaussianPair`` D = 16 and D = 64.

    python benchmarks/bench_w2gn_speed.py                 # speed table
    python benchmarks/bench_w2gn_speed.py --time-to-target

Run it on a quiet machine: the numbers are wall-clock.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from monge.metrics import evaluate
from monge.pairs import GaussianPair
from monge.solvers import W2GN


def steps_per_second(dim: int, *, explicit: bool, batch_size: int, seconds: float, warmup: int = 5) -> float:
    pair = GaussianPair(dim, seed=0)
    gen = torch.Generator().manual_seed(0)
    solver = W2GN(pretrain_steps=0, explicit_gradient=explicit)
    # Warm-up run (allocations, first-call overheads), then a timed run limited by wall clock.
    solver.fit(pair.source, pair.target, steps=warmup, batch_size=batch_size, generator=gen)
    start = time.perf_counter()
    done = 0

    def stop(progress):
        nonlocal done
        done = progress.step
        return time.perf_counter() - start > seconds

    solver.fit(pair.source, pair.target, steps=10**9, batch_size=batch_size, generator=gen, callback=stop)
    return done / (time.perf_counter() - start)


def time_to_target(dim: int, *, target: float, batch_size: int, budget_s: float, eval_every: int) -> tuple[float | None, int, float]:
    """Seconds of training (evaluation excluded) until forward L2-UVP < target; (None, steps, best) if never."""
    pair = GaussianPair(dim, seed=0)
    gen, eval_gen = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    train_time, last, best, reached = 0.0, time.perf_counter(), float("inf"), None

    def check(progress):
        nonlocal train_time, last, best, reached
        if progress.step % eval_every:
            return False
        train_time += time.perf_counter() - last
        uvp = evaluate(progress.result(), pair, n=4096, generator=eval_gen)["l2_uvp_fwd"]
        best = min(best, uvp)
        last = time.perf_counter()
        if uvp < target:
            reached = (train_time, progress.step)
            return True
        return train_time > budget_s

    t0 = time.perf_counter()
    res = W2GN().fit(pair.source, pair.target, steps=10**9, batch_size=batch_size, generator=gen, callback=check)
    if reached is None:
        return None, res.steps, best
    return reached[0], reached[1], best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 16, 64, 128])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per path and dimension")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--time-to-target", action="store_true", help="also time W2GN to 1%% L2-UVP on D=16, 64")
    parser.add_argument("--budget", type=float, default=600.0, help="training-time cap for --time-to-target (s)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"{'D':>5} {'hidden':>16} {'monge steps/s':>14} {'autograd steps/s':>17} {'ratio':>7}")
    for dim in args.dims:
        hidden = [max(2 * dim, 64), max(2 * dim, 64), max(dim, 32)]
        fast = steps_per_second(dim, explicit=True, batch_size=args.batch_size, seconds=args.seconds)
        slow = steps_per_second(dim, explicit=False, batch_size=args.batch_size, seconds=args.seconds)
        print(f"{dim:>5} {str(hidden):>16} {fast:>14.1f} {slow:>17.1f} {fast / slow:>6.2f}x", flush=True)
    if args.time_to_target:
        print("\ntime to 1% forward L2-UVP on GaussianPair (W2GN defaults, training time, eval every 100 steps)")
        for dim in (16, 64):
            seconds, steps, best = time_to_target(dim, target=1.0, batch_size=args.batch_size,
                                                  budget_s=args.budget, eval_every=100)
            status = f"{seconds:.1f} s ({steps} steps)" if seconds is not None else f"not reached in {steps} steps (best {best:.2f} %)"
            print(f"  D={dim}: {status}", flush=True)


if __name__ == "__main__":
    main()
