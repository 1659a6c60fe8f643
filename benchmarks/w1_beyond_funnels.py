"""W1 critics on pairs that are *not* MinFunnel pairs: does a solver's benchmark score carry over?

The MinFunnel pairs of the W1 benchmark have optimal critics −min_n(‖y − a_n‖ + b_n), exactly the family of
monge's ``c-concave`` cone critic. This script checks the critics on two pairs with closed-form answers
outside that family, in dimension D (default 8), 20 000 samples each, batch 512, the same steps for every
solver (one thread, seeded):

- ``shift``: P = N(0, I), Q = N(m, I) with ‖m‖ = 2: the plan translates by m, W1 = 2, and the optimal
  critic's gradient is m/‖m‖ everywhere;
- ``scale``: P = N(0, I), Q = N(0, 4I): the plan is y = 2x (mass moves outward), W1 = E‖x‖, and the
  optimal critic's gradient at y is y/‖y‖.

It prints the mean cosine of each critic's gradient with the true one at 4096 target samples and the dual
estimate E_Q f − E_P f against W1.

    python benchmarks/w1_beyond_funnels.py [--dim 8] [--steps 1500] [--solvers c-concave wgan-lp]
"""

from __future__ import annotations

import argparse
import time

import torch

from monge.metrics.w1 import gradient_cosine
from monge.solvers import get_solver

DEFAULT_OPTIONS = {"c-concave": {"lr_decay": True}, "wgan-lp": {"lr": 1e-3}, "wgan-gp": {"lr": 1e-3}}


def make_pair(kind: str, dim: int, n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    source = torch.randn(n, dim, generator=gen)
    if kind == "shift":
        shift = torch.zeros(dim)
        shift[0] = 2.0
        target = torch.randn(n, dim, generator=gen) + shift
        return source, target, (lambda y: (shift / shift.norm()).expand_as(y)), 2.0
    target = 2.0 * torch.randn(n, dim, generator=gen)
    return source, target, (lambda y: y / y.norm(dim=1, keepdim=True)), float(source.norm(dim=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--solvers", nargs="+", default=["c-concave", "wgan-lp"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"D = {args.dim}, {args.steps} steps, batch 512, torch {torch.__version__}, 1 thread")
    print(f"{'pair':6s} {'solver':10s} {'cos':>6s} {'W1 est':>7s} {'W1':>6s} {'time':>6s}")
    for kind in ("shift", "scale"):
        source, target, true_gradient, w1 = make_pair(kind, args.dim, 20000, seed=0)
        for name in args.solvers:
            start = time.perf_counter()
            result = get_solver(name, **DEFAULT_OPTIONS.get(name, {})).fit(
                source, target, steps=args.steps, batch_size=512, generator=torch.Generator().manual_seed(1))
            seconds = time.perf_counter() - start
            x, y = source[:4096], target[:4096]
            cos = gradient_cosine(result.gradient(y), true_gradient(y))
            print(f"{kind:6s} {name:10s} {cos:6.3f} {result.dual_value(x, y):7.3f} {w1:6.3f} {seconds:5.0f}s")


if __name__ == "__main__":
    main()
