"""Two-dimensional toy pairs (no ground truth): a thin wrapper over :func:`monge.samplers.toy_pair`."""

from __future__ import annotations

import torch

from monge.errors import UnknownNameError
from monge.pairs.base import SamplePair


def toy_names() -> list[str]:
    """Names of the available toy pairs (those of :data:`monge.samplers.TOY_PAIRS`)."""
    from monge.samplers import TOY_PAIRS

    return sorted(TOY_PAIRS)


class ToyPair(SamplePair):
    """A 2-D toy source/target pair (e.g. Gaussian → ``"swiss_roll"``, ``"8gaussians"``...) as used for the
    qualitative figures of neural OT papers. There is no known optimal map, so metrics compare sample sets
    with the exact discrete W2 instead (see :func:`monge.metrics.evaluate`).
    """

    def __init__(self, name: str, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        from monge.samplers import toy_pair

        names = toy_names()
        if name not in names:
            raise UnknownNameError("toy pair", str(name), names)
        source, target = toy_pair(name, dtype=dtype, device=device)
        super().__init__(f"toy:{name}", source, target)
        self.toy_name = name
