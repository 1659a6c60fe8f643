"""Distributions you can draw from: Gaussians, mixtures, data sets, push-forwards and toy 2-D pairs.

Every sampler draws ``(n, dim)`` tensors with ``sample(n, generator=None)``; randomness comes only from the
``generator`` argument (torch's default generator when ``None``).
"""

from monge.samplers.base import Sampler
from monge.samplers.empirical import Empirical, PushForward, as_sampler
from monge.samplers.gaussian import Gaussian, GaussianMixture, StandardNormal
from monge.samplers.toy import TOY_PAIRS, toy_pair

__all__ = [
    "Sampler",
    "StandardNormal",
    "Gaussian",
    "GaussianMixture",
    "Empirical",
    "PushForward",
    "as_sampler",
    "TOY_PAIRS",
    "toy_pair",
]

from monge.samplers.uniform import UniformCube  # noqa: E402

__all__ += ["UniformCube"]

from monge.samplers.images import ImagePatches, WithNoise  # noqa: E402

__all__ += ["ImagePatches", "WithNoise"]
