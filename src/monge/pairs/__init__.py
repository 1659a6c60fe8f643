"""Benchmark pairs: source/target samplers with (or without) a ground-truth W2 map.

>>> from monge.pairs import make_pair
>>> pair = make_pair("gaussian:4", seed=0)
>>> pair.dim, pair.has_ground_truth
(4, True)
"""

from monge.pairs.base import BASELINES, BenchmarkPair, SamplePair, W1BenchmarkPair
from monge.pairs.gaussian import GaussianPair
from monge.pairs.registry import (available_pairs, current_pair_version, describe_pair_families, make_pair,
                                  pair_version, register_pair_family)
from monge.pairs.toy import ToyPair

__all__ = [
    "BASELINES",
    "BenchmarkPair",
    "GaussianPair",
    "SamplePair",
    "ToyPair",
    "W1BenchmarkPair",
    "available_pairs",
    "describe_pair_families",
    "make_pair",
    "current_pair_version",
    "pair_version",
    "register_pair_family",
]
from monge.pairs.w2bench import Mix3toMix10Pair  # noqa: E402  (registers the "w2b-mix" family)

__all__ += ["Mix3toMix10Pair"]

from monge.pairs.convex_families import SmoothMaxQuadraticsPair  # noqa: E402
from monge.pairs.separable import SeparableMonotonePair  # noqa: E402

__all__ += ["SeparableMonotonePair", "SmoothMaxQuadraticsPair"]

from monge.pairs.funnel import W1BENCH_DIMS, W1BENCH_WIDTHS, FunnelPair, MinFunnel  # noqa: E402  (registers "w1b-funnel", "funnel")

__all__ += ["FunnelPair", "MinFunnel", "W1BENCH_DIMS", "W1BENCH_WIDTHS"]

from monge.pairs.images import ImagePotentialPair, image_funnel_pair  # noqa: E402  (registers "w2img", "w1img")

__all__ += ["ImagePotentialPair", "image_funnel_pair"]
