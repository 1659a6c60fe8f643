"""Mix3toMix10 loading speed: build a published W2 benchmark pair and draw 2^14 mapped target samples.

Times, in one process: loading the two published potentials and estimating the constants (m, s) from
2^14 input samples (``Mix3toMix10Pair(...)``), drawing 2^14 target samples ∇ψ*♯P, and — separately —
the one-off 2^16-sample statistics behind ``true_cost`` / ``target_variance`` / the linear baseline.
Target: under 30 s for loading + sampling at D = 256 on a 2-core CPU.

    python benchmarks/bench_w2bench_load.py --root ../shared/data/w2bench          # largest D available
    python benchmarks/bench_w2bench_load.py --root ../shared/data/w2bench --dim 32

``--dim`` defaults to 128 when its files exist, otherwise to the largest dimension found under ``root``
(the shared test data holds only D = 2, 8, 32). The script prints the D it used.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from monge.pairs.w2bench import FOLDER, W2BENCH_DIMS, Mix3toMix10Pair


def available_dims(root: Path) -> list[int]:
    folder = root / FOLDER if (root / FOLDER).is_dir() else root
    return [d for d in W2BENCH_DIMS if (folder / f"{d}_v1.pt").is_file() and (folder / f"{d}_v2.pt").is_file()]


def main() -> None:
    default_root = Path(__file__).resolve().parents[2] / "shared" / "data" / "w2bench"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=default_root,
                        help=f"folder containing {FOLDER}/ (default: {default_root})")
    parser.add_argument("--dim", type=int, default=None, help="dimension (default: 128, else the largest found)")
    parser.add_argument("--samples", type=int, default=2**14, help="mapped samples to draw (default 2^14)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dims = available_dims(args.root)
    if not dims:
        sys.exit(f"no Mix3toMix10 files under {args.root}")
    if args.dim is None:
        dim = 128 if 128 in dims else max(dims)
        note = "default" if dim == 128 else f"largest available of {dims}; 128 not found"
    else:
        dim, note = args.dim, "requested"
    print(f"Mix3toMix10 D={dim} ({note}); torch {torch.__version__}, {args.threads} thread(s), "
          f"{platform.processor() or platform.machine()}")

    t0 = time.perf_counter()
    pair = Mix3toMix10Pair(dim, args.root)
    t1 = time.perf_counter()
    y = pair.target.sample(args.samples, generator=torch.Generator().manual_seed(1))
    t2 = time.perf_counter()
    cost = pair.true_cost
    t3 = time.perf_counter()
    rows = [
        ("load + estimate constants (2^14 samples)", t1 - t0, f"scale {pair.scale:.5f}"),
        (f"draw {args.samples} mapped samples", t2 - t1, f"{y.shape[0] / (t2 - t1):,.0f} samples/s"),
        ("total load + sample", t2 - t0, "target < 30 s"),
        ("one-off 2^16-sample cost / moments", t3 - t2, f"true_cost {cost:.4f}"),
    ]
    for label, seconds, extra in rows:
        print(f"  {label:<42s} {seconds:7.2f} s   ({extra})")


if __name__ == "__main__":
    main()
