"""W2GN training speed: monge's default path vs a plain autograd double-backward implementation.

All variants train the same DenseICNN pair on the same W2GN loss (batch 1024 by default) in one process:

- ``plain autograd``: the network evaluated layer by layer and ∇ψ by ``torch.autograd.grad(...,
  create_graph=True)``, with separate evaluations of ψθ(x), ψθ(ỹ) and ∇ψθ(ỹ) as in the reference code;
  training then needs autograd's double backward;
- ``monge``: W2GN's default path (one stacked matmul for all input layers, the explicit input gradient,
  ψθ(ỹ) and ∇ψθ(ỹ) from one evaluation, a single backward);
- ``monge compile``: the same with ``W2GN(compile=True)`` (compilation time excluded and printed).

It prints steps/s and ratios for D = 2, 16, 64, 128 with hidden sizes [max(2D,64), max(2D,64), max(D,32)]. With ``--time-to-target`` it also reports the wall-clock time W2GN
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


class PlainAutogradW2GN(W2GN):
    """The W2GN loss written plainly with autograd, as in the authors' reference code."""

    def _loss(self, psi, psi_bar, x, y):
        def push(net, z):
            z = z if z.requires_grad else z.detach().requires_grad_(True)
            return torch.autograd.grad(net.layerwise_forward(z).sum(), z, create_graph=True)[0]

        y_inv = push(psi_bar, y)
        correlation = psi.layerwise_forward(x).mean() - psi.layerwise_forward(y_inv.detach()).mean()
        cycle = (push(psi, y_inv) - y).square().sum(1).mean()
        loss = correlation + 0.5 * self.cycle_weight * cycle
        return loss, cycle.detach(), loss.detach()


def steps_per_second(dim: int, solver: W2GN, *, batch_size: int, seconds: float, warmup: int = 3) -> tuple[float, float]:
    """(steps/s, seconds of the warm-up run, which includes any compilation)."""
    pair = GaussianPair(dim, seed=0)
    gen = torch.Generator().manual_seed(0)
    # The same solver object twice: the warm-up run pays first-call costs (and compilation, which torch
    # caches per function), then a run limited by wall clock is timed.
    t0 = time.perf_counter()
    solver.fit(pair.source, pair.target, steps=warmup, batch_size=batch_size, generator=gen)
    warm = time.perf_counter() - t0
    start = time.perf_counter()
    done = 0

    def stop(progress):
        nonlocal done
        done = progress.step
        return time.perf_counter() - start > seconds

    solver.fit(pair.source, pair.target, steps=10**9, batch_size=batch_size, generator=gen, callback=stop)
    return done / (time.perf_counter() - start), warm


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
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    parser.add_argument("--time-to-target", action="store_true", help="also time W2GN to 1%% L2-UVP on D=16, 64")
    parser.add_argument("--budget", type=float, default=600.0, help="training-time cap for --time-to-target (s)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    header = (f"{'D':>5} {'hidden':>16} {'plain autograd':>15} {'monge':>9} {'ratio':>6} "
              f"{'monge compile':>14} {'ratio':>6} {'compile s':>10}")
    print(header)
    for dim in args.dims:
        hidden = [max(2 * dim, 64), max(2 * dim, 64), max(dim, 32)]
        plain, _ = steps_per_second(dim, PlainAutogradW2GN(pretrain_steps=0), batch_size=args.batch_size,
                                    seconds=args.seconds)
        fast, _ = steps_per_second(dim, W2GN(pretrain_steps=0), batch_size=args.batch_size, seconds=args.seconds)
        if args.no_compile:
            comp, comp_s = float("nan"), float("nan")
        else:
            comp, comp_s = steps_per_second(dim, W2GN(pretrain_steps=0, compile=True), batch_size=args.batch_size,
                                            seconds=args.seconds)
        print(f"{dim:>5} {str(hidden):>16} {plain:>15.1f} {fast:>9.1f} {fast / plain:>5.2f}x "
              f"{comp:>14.1f} {comp / plain:>5.2f}x {comp_s:>10.1f}", flush=True)
    if args.time_to_target:
        print("\ntime to 1% forward L2-UVP on GaussianPair (W2GN defaults, training time, eval every 100 steps)")
        for dim in (16, 64):
            seconds, steps, best = time_to_target(dim, target=1.0, batch_size=args.batch_size,
                                                  budget_s=args.budget, eval_every=100)
            status = f"{seconds:.1f} s ({steps} steps)" if seconds is not None else f"not reached in {steps} steps (best {best:.2f} %)"
            print(f"  D={dim}: {status}", flush=True)


if __name__ == "__main__":
    main()
