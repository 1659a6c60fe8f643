"""The sampler contract: something you can draw ``(n, dim)`` samples from."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from monge._checks import check_finite_output, check_generator, check_positive_int


class Sampler(ABC):
    """A distribution on R^dim.

    Subclasses implement :meth:`_sample`; :meth:`sample` validates ``n`` and returns a tensor of shape
    ``(n, dim)`` with the sampler's ``dtype`` on its ``device``. Randomness comes only from the
    ``generator`` passed in (or torch's default generator when it is ``None``); a sampler never reseeds
    anything.
    """

    dim: int
    dtype: torch.dtype
    device: torch.device

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` samples as a ``(n, dim)`` tensor."""
        check_positive_int(n, "n")
        check_generator(generator)
        out = self._sample(n, generator).to(device=self.device, dtype=self.dtype)
        return check_finite_output(out, f"sampler {self!r}", "its parameters overflow the sample dtype, or the map "
                                   "it pushes through is not finite")

    @abstractmethod
    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """Draw ``n`` samples; may return them on another device/dtype (``sample`` converts)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"
