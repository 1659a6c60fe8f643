"""Samplers of images: random patches of a picture, and Gaussian noise added to another sampler.

They are the input measures of monge's image-space benchmark pairs (:mod:`monge.pairs.images`), built after the
published image pairs of Korotin et al. (NeurIPS 2021, W2; NeurIPS 2022, W1), whose inputs are generated
images plus N(0, 0.01²) noise so that the measure has a density.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from monge._checks import check_positive_float, check_positive_int
from monge.errors import InvalidInputError
from monge.samplers.base import Sampler
from monge.samplers.gaussian import _resolve_device, _resolve_dtype, _rng_device


class ImagePatches(Sampler):
    """Uniformly placed ``size`` × ``size`` patches of one image ``(C, H, W)``, flattened channel-first to vectors
    of dimension C·size² (the layout of ``torch.flatten`` on ``(C, size, size)``).

    Args:
        image: a ``(C, H, W)`` (or ``(H, W)``) tensor or array of finite values, e.g. a photograph in [0, 1].
        size: patch side (at most min(H, W)).
        dtype: of the samples (default: the image's dtype if floating, else float32).
        device: where the image is kept and samples are returned (default: the image's, else CPU).

    Attributes: ``image`` (C, H, W), ``size``, ``image_shape`` = (C, size, size), ``dim``.
    """

    def __init__(self, image: Any, size: int, *, dtype: torch.dtype | None = None, device: Any = None):
        self.dtype = _resolve_dtype(dtype, like=image)
        self.device = _resolve_device(device, like=image)
        try:
            picture = torch.as_tensor(image)
        except Exception as exc:  # noqa: BLE001 - any conversion failure is a bad input
            raise InvalidInputError(f"image: expected a (C, H, W) tensor or array, got {type(image).__name__}") from exc
        if picture.ndim == 2:
            picture = picture.unsqueeze(0)
        if picture.ndim != 3 or min(picture.shape) == 0:
            raise InvalidInputError(f"image must have shape (C, H, W) or (H, W), got {tuple(picture.shape)}")
        picture = picture.to(device=self.device, dtype=self.dtype)
        if not bool(torch.isfinite(picture).all()):
            raise InvalidInputError("image contains NaN or infinite values")
        self.size = check_positive_int(size, "size")
        if self.size > min(picture.shape[1:]):
            raise InvalidInputError(f"patch size {self.size} is larger than the image ({picture.shape[1]}×"
                                    f"{picture.shape[2]} pixels)")
        self.image = picture
        self.image_shape = (int(picture.shape[0]), self.size, self.size)
        self.dim = math.prod(self.image_shape)

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        _, height, width = self.image.shape
        rng = _rng_device(self, generator)
        top = torch.randint(0, height - self.size + 1, (n,), generator=generator, device=rng).to(self.device)
        left = torch.randint(0, width - self.size + 1, (n,), generator=generator, device=rng).to(self.device)
        offsets = torch.arange(self.size, device=self.device)
        rows, cols = (top[:, None] + offsets)[:, :, None], (left[:, None] + offsets)[:, None, :]
        windows = self.image[:, rows, cols]                      # (C, n, size, size)
        return windows.permute(1, 0, 2, 3).reshape(n, self.dim)

    def __repr__(self) -> str:
        return (f"ImagePatches(image={tuple(self.image.shape)}, size={self.size}, dtype={self.dtype}, "
                f"device={self.device})")


class WithNoise(Sampler):
    """``base`` plus independent N(0, std²·I) noise (the published image pairs' ``NormalNoiseTransformer``).

    Args:
        base: the sampler to blur.
        std: noise standard deviation (> 0; the published image pairs use 0.01 for pixels in [−1, 1]).
        clip: optional half side s: samples are clamped to [−s, s]^dim after the noise (the W1 image pairs draw
            inside a cube); ``None`` (default) leaves them as they are.
    """

    def __init__(self, base: Sampler, std: float, *, clip: float | None = None):
        if not isinstance(base, Sampler):
            raise InvalidInputError(f"base must be a monge Sampler, got {type(base).__name__}")
        self.std = check_positive_float(std, "std")
        self.clip = None if clip is None else check_positive_float(clip, "clip")
        self.base = base
        self.dim, self.dtype, self.device = base.dim, base.dtype, base.device
        self.image_shape = getattr(base, "image_shape", None)

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        x = self.base.sample(n, generator)
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=_rng_device(self, generator))
        out = x + self.std * noise.to(x.device)
        return out if self.clip is None else out.clamp(-self.clip, self.clip)

    def __repr__(self) -> str:
        clip = "" if self.clip is None else f", clip={self.clip:g}"
        return f"WithNoise({self.base!r}, std={self.std:g}{clip})"


__all__ = ["ImagePatches", "WithNoise"]
