"""Generative modelling with OT maps (OTM): noise embedded into data space, mapped onto the data.

Reproduces, at CPU scale, the noise-to-data generation of

> L. Rout, A. Korotin, E. Burnaev. **Generative Modeling with Optimal Transport Maps.** ICLR 2022
> (arXiv:2110.02999), Algorithm 1 and §4.

The data distribution Q lives in a high dimension D (images); the noise lives in a low dimension k. OTM does
not learn a map between spaces of different dimension: it first *embeds* the noise into data space with a
fixed map — bicubic upsampling of a small noise image to the data's image size (:class:`UpsampledNoise`) — and
then learns the quadratic-cost OT map from that embedded distribution P to Q with the reversed maximin
(:class:`monge.solvers.w2.maximin.ReversedMaximin`, ``"mm-r"``)::

    sup_f inf_T  E_P[½‖x − T(x)‖² − f(T(x))] + E_Q f(y)

with an unconstrained map network T (monge's residual map T(x) = x + MLP(x), or a plain MLP) and an MLP
potential f. The paper uses a UNet map and a ResNet potential on 32×32 / 64×64 images, 10 inner steps of T per
step of f and Adam lr 1e-4; :data:`OTM_OPTIONS` are monge's CPU-sized settings (stated and measured there).

Python: :func:`fit_otm` returns an :class:`OTMGenerator` (``sample(n, generator)``); the comparison with W2GAN
and latent-space W2GN at one CPU budget is :func:`monge.apps.generate.compare_generators`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from monge._checks import check_positive_int, check_samples
from monge.errors import DimensionMismatchError, InvalidInputError
from monge.samplers.base import Sampler
from monge.solvers.base import Callback, W2Result

PAPER = ("L. Rout, A. Korotin, E. Burnaev. Generative Modeling with Optimal Transport Maps. ICLR 2022 "
         "(arXiv:2110.02999), Algorithm 1")

OTM_OPTIONS: dict[str, Any] = {"map": "residual", "potential": "mlp", "hidden_sizes": [512, 512],
                               "inner_steps": 10, "lr": 1e-3, "betas": (0.0, 0.99),
                               "lr_decay": True}
"""Reversed-maximin options of :func:`fit_otm` unless overridden: the paper's 10 inner steps of T per step of f;
Adam betas (0, 0.99) as in the authors' code; monge's CPU-sized choices: MLP widths 512-512 (the paper's networks
are a UNet and a ResNet) and lr 1e-3 with cosine decay to 1 % (the paper: constant 1e-4). Measured on the digits,
2 minutes of one thread, seed 0, classifier-feature Fréchet distance (source 100): constant lr 1e-4 → 22.4,
constant 1e-3 → 13.6 (and 65.8 after 3 minutes: the game oscillates), 1e-3 with decay → 9.5."""

MODES = ("bicubic", "bilinear", "nearest")
"""Upsampling modes of :class:`UpsampledNoise` (the paper's is bicubic)."""


def _shape(value: Any, name: str) -> tuple[int, int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise InvalidInputError(f"{name} must be three positive integers (C, H, W), got {value!r}")
    return int(value[0]), int(value[1]), int(value[2])


class UpsampledNoise(Sampler):
    """Noise z ~ N(0, I) shaped as a small image ``noise_shape`` = (C, h, w), upsampled to ``image_shape`` =
    (C, H, W) and flattened: OTM's embedding of low-dimensional noise into data space (Rout et al., §4).

    The embedding is a fixed linear map, so the samples lie on a k = C·h·w dimensional subspace of
    R^(C·H·W); ``scale`` and ``shift`` (scalars, or one value per channel) place them in the data's range
    (default: the data is roughly in [0, 1], so shift ½, scale ½ per coordinate of noise).

    Args:
        image_shape: (C, H, W) of the data images; ``dim`` is C·H·W.
        noise_shape: (C, h, w) of the noise, h ≤ H and w ≤ W; the latent dimension is C·h·w.
        mode: ``"bicubic"`` (the paper's), ``"bilinear"`` or ``"nearest"``.
        scale, shift: affine placement of the embedded noise.
    """

    def __init__(self, image_shape: Sequence[int], noise_shape: Sequence[int], *, mode: str = "bicubic",
                 scale: float = 0.5, shift: float = 0.5, dtype: torch.dtype = torch.float32,
                 device: Any = "cpu"):
        self.image_shape = _shape(image_shape, "image_shape")
        self.noise_shape = _shape(noise_shape, "noise_shape")
        if self.noise_shape[0] != self.image_shape[0]:
            raise DimensionMismatchError(f"noise_shape has {self.noise_shape[0]} channels but image_shape has "
                                         f"{self.image_shape[0]}")
        if self.noise_shape[1] > self.image_shape[1] or self.noise_shape[2] > self.image_shape[2]:
            raise InvalidInputError(f"noise_shape {self.noise_shape} must not be larger than image_shape "
                                    f"{self.image_shape} (the noise is upsampled into the data space)")
        if mode not in MODES:
            raise InvalidInputError(f"mode must be one of {MODES}, got {mode!r}")
        for name, value in (("scale", scale), ("shift", shift)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
        if scale <= 0:
            raise InvalidInputError(f"scale must be > 0, got {scale}")
        self.mode, self.scale, self.shift = mode, float(scale), float(shift)
        self.dim = math.prod(self.image_shape)
        self.latent_dim = math.prod(self.noise_shape)
        self.dtype, self.device = dtype, torch.device(device)

    def embed(self, z: torch.Tensor) -> torch.Tensor:
        """Noise ``(n, latent_dim)`` → embedded points ``(n, dim)``."""
        z = check_samples(z, name="z", dim=self.latent_dim)
        images = z.reshape(-1, *self.noise_shape)
        if self.noise_shape[1:] != self.image_shape[1:]:
            kwargs = {} if self.mode == "nearest" else {"align_corners": False}
            images = F.interpolate(images, size=self.image_shape[1:], mode=self.mode, **kwargs)
        return self.shift + self.scale * images.reshape(images.shape[0], -1)

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        device = generator.device if generator is not None else self.device
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=self.dtype, device=device)
        return self.embed(z.to(self.device))

    def __repr__(self) -> str:
        return (f"UpsampledNoise(noise_shape={self.noise_shape}, image_shape={self.image_shape}, "
                f"mode={self.mode!r})")


@dataclass(frozen=True)
class OTMGenerator:
    """A fitted OTM generator: :attr:`noise` (the embedded-noise sampler P) and :attr:`result` (the map T,
    a :class:`~monge.solvers.base.W2Result` from P to the data)."""

    noise: UpsampledNoise
    result: W2Result

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` generated samples T(x), x ~ P, shape ``(n, dim)``."""
        check_positive_int(n, "n")
        with torch.no_grad():
            return self.result.forward(self.noise.sample(n, generator))


def fit_otm(data: Any, image_shape: Sequence[int], noise_shape: Sequence[int], *, steps: int | None = None,
            time_budget: float | None = None, batch_size: int = 256, generator: torch.Generator | None = None,
            callback: Callback | None = None, mode: str = "bicubic", **options: Any) -> OTMGenerator:
    """Fit OTM from noise of ``noise_shape`` embedded into ``image_shape`` onto ``data`` ``(n, C·H·W)`` (pixels in
    about [0, 1]). ``options`` override :data:`OTM_OPTIONS` (any :class:`~monge.solvers.w2.maximin.ReversedMaximin`
    option); the budget is ``steps`` outer steps and/or ``time_budget`` seconds (as :func:`monge.fit`).

    Raises:
        DimensionMismatchError: ``data`` does not have C·H·W columns.
        InvalidInputError: bad shapes, data or options (named).
    """
    from monge import fit

    data = check_samples(data, name="data")
    noise = UpsampledNoise(image_shape, noise_shape, mode=mode, dtype=data.dtype, device=data.device)
    if data.shape[1] != noise.dim:
        raise DimensionMismatchError(f"data has {data.shape[1]} columns but image_shape {noise.image_shape} has "
                                     f"{noise.dim} pixels")
    result = fit(noise, data, solver="mm-r", steps=steps, time_budget=time_budget, batch_size=batch_size,
                 generator=generator, callback=callback, **{**OTM_OPTIONS, **options})
    return OTMGenerator(noise=noise, result=result)


__all__ = ["MODES", "OTMGenerator", "OTM_OPTIONS", "PAPER", "UpsampledNoise", "fit_otm"]
