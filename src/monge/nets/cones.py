"""A c-concave critic for the distance cost: the negated lower envelope of K cones.

f(y) = −min_k (‖y − a_k‖ + b_k), with learnable apexes a_k ∈ R^dim and heights b_k ∈ R.

Why this form: for the cost c(x, y) = ‖x − y‖ every optimal Kantorovich potential is c-concave, i.e. the
c-transform of some function g, u(y) = inf_x ‖x − y‖ − g(x); restricted to finitely many points x = a_k this is
exactly a minimum of cones (the McShane extension of a 1-Lipschitz function from K points). So the family is
1-Lipschitz by construction, its gradient has norm exactly 1 almost everywhere (as an optimal W1 critic's has
on the transport rays), and it is dense in the 1-Lipschitz functions on a compact set as K grows.

With ``temperature > 0`` the minimum is replaced by the soft minimum −τ·log Σ exp(−(‖y − a_k‖ + b_k)/τ), still
1-Lipschitz (a log-sum-exp of 1-Lipschitz functions) and smooth in the parameters.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from monge.errors import InvalidInputError
from monge.nets.base import Potential, register_network
from monge.nets.mlp import _check


@register_network
class ConeCritic(Potential):
    """f(y) = −min_k(‖y − a_k‖ + b_k) (or its soft minimum); see the module docstring.

    Args:
        dim: input dimension.
        n_cones: number K of cones.
        temperature: 0 for the hard minimum (default), τ > 0 for the soft minimum.
        apexes: initial apexes (K, dim), e.g. data samples drawn with the caller's generator (the ``c-concave``
            solver passes K target samples). Default: all at the origin, a placeholder for loading a state dict
            (no random draw, so building the network never touches the global RNG).
    """

    def __init__(self, dim: int, n_cones: int = 512, *, temperature: float = 0.0, apexes: torch.Tensor | None = None,
                 dtype: torch.dtype | None = None, device: torch.device | str | None = None):
        super().__init__()
        if isinstance(n_cones, bool) or not isinstance(n_cones, int) or n_cones <= 0:
            raise InvalidInputError(f"ConeCritic: n_cones must be a positive integer, got {n_cones!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) \
                or temperature < 0:
            raise InvalidInputError(f"ConeCritic: temperature must be a finite number >= 0, got {temperature!r}")
        self.dim, self.n_cones, self.temperature = int(dim), int(n_cones), float(temperature)
        if apexes is None:
            apexes = torch.zeros(self.n_cones, self.dim)
        elif tuple(apexes.shape) != (self.n_cones, self.dim):
            raise InvalidInputError(f"ConeCritic: apexes must have shape ({self.n_cones}, {self.dim}), "
                                    f"got {tuple(apexes.shape)}")
        self.apexes = nn.Parameter(apexes.detach().clone())
        self.heights = nn.Parameter(torch.zeros(self.n_cones, dtype=self.apexes.dtype, device=self.apexes.device))
        self.to(dtype=dtype, device=device)

    def cone_values(self, y: torch.Tensor) -> torch.Tensor:
        """‖y − a_k‖ + b_k for every point and cone, shape (n, K)."""
        _check(y, self.dim, "ConeCritic")
        return torch.cdist(y, self.apexes) + self.heights

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        d = self.cone_values(y)
        if self.temperature > 0:
            return self.temperature * torch.logsumexp(-d / self.temperature, dim=1)
        return -d.min(dim=1).values

    def active_cones(self, y: torch.Tensor) -> torch.Tensor:
        """Index of the cone attaining the minimum at each point, shape (n,)."""
        with torch.no_grad():
            return self.cone_values(y).argmin(dim=1)

    def config(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "dim": self.dim, "n_cones": self.n_cones,
                "temperature": self.temperature}
