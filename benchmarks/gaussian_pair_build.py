"""Time building :class:`monge.pairs.GaussianPair` (and first use of its inverse and covariances) per dimension.

    python benchmarks/gaussian_pair_build.py --dims 256 1024 4096

Prints the torch thread count, build seconds, the seconds the lazily computed inverse map and covariances take on
first use, and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from monge.pairs import GaussianPair


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for dim in args.dims:
        started = time.perf_counter()
        pair = GaussianPair(dim, seed=args.seed)
        built = time.perf_counter() - started
        started = time.perf_counter()
        _ = pair.inverse_matrix, pair.source_cov, pair.target_cov
        lazy = time.perf_counter() - started
        peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"D = {dim:5d}: built in {built:6.2f} s, inverse and covariances {lazy:6.2f} s more; "
              f"identity L2-UVP {pair.identity_l2_uvp:.1f} %; peak RSS so far {peak_gib:.2f} GiB")


if __name__ == "__main__":
    main()
