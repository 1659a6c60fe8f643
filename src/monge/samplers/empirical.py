"""Samplers built from data or from other samplers: resampling a data set, pushing a sampler through a map."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from monge._checks import check_positive_int, check_samples
from monge.errors import DimensionMismatchError, InvalidInputError
from monge.samplers.base import Sampler
from monge.samplers.gaussian import _resolve_device, _resolve_dtype, _rng_device


class Empirical(Sampler):
    """The empirical distribution of a data set: draws rows of ``data`` uniformly, with replacement.

    Args:
        data: ``(n, d)`` tensor or array of finite floats (validated by :func:`monge._checks.check_samples`).
        dtype: floating dtype of the samples; defaults to ``data``'s dtype if it is a floating tensor, else
            float32.
        device: device where the data is kept and samples are returned; defaults to ``data``'s device if it is
            a tensor, else CPU.

    Attributes:
        data: the ``(n, d)`` data (sampler dtype, on its device).

    Raises:
        InvalidInputError: naming ``data`` when it is empty, not 2-D, not numeric, or holds NaN/inf.
    """

    def __init__(self, data: Any, *, dtype: torch.dtype | None = None, device: Any = None):
        self.dtype = _resolve_dtype(dtype, like=data)
        self.device = _resolve_device(device, like=data)
        checked = check_samples(data, name="data")
        self.data = checked.detach().to(device=self.device, dtype=self.dtype)
        self.dim = int(self.data.shape[1])

    def __len__(self) -> int:
        """Number of rows of ``data``."""
        return int(self.data.shape[0])

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        idx = torch.randint(0, len(self), (n,), generator=generator, device=_rng_device(self, generator))
        return self.data[idx.to(self.data.device)]

    def __repr__(self) -> str:
        return f"Empirical(n={len(self)}, dim={self.dim}, dtype={self.dtype}, device={self.device})"


class PushForward(Sampler):
    """The push-forward ``transform # base``: samples ``base`` then applies ``transform`` (under ``no_grad``).

    Nothing is drawn at construction, so building a push-forward never consumes random numbers.

    Args:
        base: the sampler to push.
        transform: a map from ``(n, base.dim)`` tensors to ``(n, dim)`` tensors (a function or a module).
        dim: dimension of the output; defaults to ``base.dim``.
        dtype: dtype of the samples; defaults to ``base.dtype``.
        device: device of the samples; defaults to ``base.device``.

    Raises:
        InvalidInputError: when ``base`` is not a :class:`Sampler`, ``transform`` is not callable or ``dim`` is
            not a positive int; at sampling time when ``transform`` returns something else than a tensor of
            shape ``(n, dim)`` (:class:`DimensionMismatchError` for a wrong second axis).
    """

    def __init__(
        self,
        base: Sampler,
        transform: Callable[[torch.Tensor], torch.Tensor],
        *,
        dim: int | None = None,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ):
        if not isinstance(base, Sampler):
            raise InvalidInputError(f"base: expected a Sampler, got {type(base).__name__}")
        if not callable(transform):
            raise InvalidInputError(f"transform: expected a callable, got {type(transform).__name__}")
        self.base = base
        self.transform = transform
        self.dim = base.dim if dim is None else check_positive_int(dim, "dim")
        self.dtype = base.dtype if dtype is None else _resolve_dtype(dtype)
        self.device = base.device if device is None else _resolve_device(device)

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        x = self.base.sample(n, generator)
        with torch.no_grad():
            y = self.transform(x)
        if not isinstance(y, torch.Tensor):
            raise InvalidInputError(f"transform: expected it to return a tensor, got {type(y).__name__}")
        if y.ndim != 2 or y.shape[0] != n:
            raise InvalidInputError(f"transform: expected output of shape ({n}, {self.dim}), got {tuple(y.shape)}")
        if y.shape[1] != self.dim:
            raise DimensionMismatchError(f"transform: expected output dimension {self.dim}, got {y.shape[1]}")
        return y

    def __repr__(self) -> str:
        return f"PushForward(base={self.base!r}, dim={self.dim})"


def as_sampler(obj: Any, *, name: str = "samples") -> Sampler:
    """Return ``obj`` as a :class:`Sampler`.

    A :class:`Sampler` is returned unchanged; a tensor or NumPy array of shape ``(n, d)`` is validated (errors
    name ``name``) and wrapped into :class:`Empirical`; anything else raises :class:`InvalidInputError`.
    """
    if isinstance(obj, Sampler):
        return obj
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        data = check_samples(obj, name=name)
        dtype = obj.dtype if isinstance(obj, torch.Tensor) else torch.float32
        return Empirical(data, dtype=dtype)
    raise InvalidInputError(f"{name}: expected a Sampler, tensor or array, got {type(obj).__name__}")
