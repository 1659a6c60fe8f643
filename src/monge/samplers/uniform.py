"""The uniform distribution on a centred cube [−s, s]^dim.

It is the source P of the Wasserstein-1 "MinFunnel" benchmark pairs (Korotin, Kolesov, Burnaev, "Kantorovich
Strikes Back! Wasserstein GANs are not Optimal Transport?", NeurIPS 2022), where s = 2.5.
"""

from __future__ import annotations

from typing import Any

import torch

from monge._checks import check_positive_float, check_positive_int
from monge.samplers.base import Sampler
from monge.samplers.gaussian import _resolve_device, _resolve_dtype, _rng_device


class UniformCube(Sampler):
    """Uniform on the cube [−half_side, half_side]^dim.

    A sample is ``half_side · (2u − 1)`` with ``u`` from ``torch.rand`` on the generator's device (so a
    CPU generator reproduces the same draws whatever the sampler's device); drawn in float64 when the
    sampler is float64, else in float32.

    Args:
        dim: dimension (positive int).
        half_side: s > 0, half the side length.
        dtype: floating dtype of the samples (default float32).
        device: device of the samples (default CPU).

    Raises:
        InvalidInputError: for a non-positive ``dim`` or a non-positive / non-finite ``half_side``.
    """

    def __init__(self, dim: int, half_side: float = 1.0, *, dtype: torch.dtype | None = None, device: Any = None):
        self.dim = check_positive_int(dim, "dim")
        self.half_side = check_positive_float(half_side, "half_side")
        self.dtype = _resolve_dtype(dtype)
        self.device = _resolve_device(device)

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        draw_dtype = torch.float64 if self.dtype == torch.float64 else torch.float32
        u = torch.rand(n, self.dim, generator=generator, dtype=draw_dtype, device=_rng_device(self, generator))
        return (2.0 * u - 1.0) * self.half_side

    def __repr__(self) -> str:
        return f"UniformCube(dim={self.dim}, half_side={self.half_side:g}, dtype={self.dtype}, device={self.device})"
