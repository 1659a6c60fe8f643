"""Does W2GAN's discriminator solve the W2 dual, and does its generator move along the true displacement?
(issue 22's bug hunt, first two checks) On Gaussian pairs, where ½W2² and the OT map T* are closed-form:

1. **Dual value.** With the generator frozen at the identity (``generator_lr`` 1e-12), the discriminator's
   regularised dual E φ(x) + E ψ(y) − penalties (``history["dual"]``, mean of the last 10 %) against the true
   ½W2²(P, Q) (``pair.true_cost``), and the dual-implied map x ↦ x − ∇φ(x) (``map="discriminator"``) scored
   by L2-UVP and the cosine of its displacement with T*(x) − x.
2. **Generator direction.** With the generator training (the solver's defaults otherwise), the generator's map
   scored the same way: a generator that follows the dual's displacement has a positive cosine with T*(x) − x.

    python benchmarks/w2gan_dual_check.py            # D = 2, 8; 1500 steps; seeds 0, 1
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from monge.metrics import evaluate
from monge.pairs import make_pair
from monge.solvers import get_solver

OPTIONS = {"generator_sizes": [64, 64, 64], "critic_sizes": [64, 64], "n_critic": 5}


def run(dim: int, seed: int, steps: int, frozen: bool) -> dict[str, float]:
    pair = make_pair(f"gaussian:{dim}", seed=seed)
    extra = {"generator_lr": 1e-12, "map": "discriminator"} if frozen else {}
    solver = get_solver("w2gan", **OPTIONS, **extra)
    t0 = time.perf_counter()
    result = solver.fit(pair.source, pair.target, steps=steps, batch_size=256, generator=torch.Generator().manual_seed(seed))
    dual = result.history["dual"]
    tail = dual[-max(1, len(dual) // 10):]
    metrics = evaluate(result, pair, n=4096, generator=torch.Generator().manual_seed(100 + seed))
    return {"dim": dim, "seed": seed, "frozen_generator": frozen, "true_half_w2sq": float(pair.true_cost),
            "dual_last10pct": sum(tail) / len(tail), "l2_uvp_fwd": metrics["l2_uvp_fwd"], "cos_fwd": metrics["cos_fwd"],
            "seconds": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, W2GAN options {OPTIONS}, {args.steps} steps, batch 256", flush=True)
    for frozen in (True, False):
        for dim in args.dims:
            for seed in args.seeds:
                print(json.dumps(run(dim, seed, args.steps, frozen)), flush=True)


if __name__ == "__main__":
    main()
