"""Unconstrained networks: a non-convex MLP potential and a residual map x + MLP(x)."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.nets.base import Potential, register_network

_ACTIVATIONS = {"celu": nn.CELU, "relu": nn.ReLU, "silu": nn.SiLU, "softplus": nn.Softplus, "tanh": nn.Tanh,
                "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}


def _mlp(sizes: Sequence[int], activation: str) -> nn.Sequential:
    if activation not in _ACTIVATIONS:
        raise InvalidInputError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if min(sizes) <= 0:
        raise InvalidInputError(f"layer sizes must be positive, got {list(sizes)}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def _check(x: torch.Tensor, dim: int, who: str) -> None:
    if x.ndim != 2 or x.shape[1] != dim:
        raise DimensionMismatchError(f"{who} expects inputs of shape (n, {dim}), got {tuple(x.shape)}")


@register_network
class MLPPotential(Potential):
    """A non-convex potential f(x) = MLP(x) ∈ R; its gradient (by autograd) is used as a map.

    Used by the unconstrained solvers (e.g. the benchmark's [MM] and [MM:R] variants, ENOT).

    Args:
        dim: input dimension.
        hidden_sizes: widths of the hidden layers.
        activation: one of celu, relu, silu, softplus, tanh, leaky_relu, elu (default celu).
        quadratic: add ½‖x‖² so that the initial gradient map is close to the identity.
    """

    def __init__(self, dim: int, hidden_sizes: Sequence[int] = (128, 128), *, activation: str = "celu",
                 quadratic: bool = False, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None):
        super().__init__()
        self.dim, self.hidden_sizes, self.activation, self.quadratic = int(dim), [int(h) for h in hidden_sizes], activation, bool(quadratic)
        self.net = _mlp([self.dim, *self.hidden_sizes, 1], activation)
        self.to(dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.dim, "MLPPotential")
        out = self.net(x).squeeze(-1)
        return out + 0.5 * x.square().sum(-1) if self.quadratic else out

    def config(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "dim": self.dim, "hidden_sizes": self.hidden_sizes,
                "activation": self.activation, "quadratic": self.quadratic}


@register_network
class ResidualMap(nn.Module):
    """A map network T(x) = x + MLP(x), initialised at the identity (last layer zero).

    Used as a generator / mover network (W2GAN, reversed maximin, OTM). ``gradient`` is an alias of
    ``forward`` so that a result object can treat maps and potential gradients alike.
    """

    def __init__(self, dim: int, hidden_sizes: Sequence[int] = (128, 128), *, activation: str = "celu",
                 dtype: torch.dtype | None = None, device: torch.device | str | None = None):
        super().__init__()
        self.dim, self.hidden_sizes, self.activation = int(dim), [int(h) for h in hidden_sizes], activation
        self.net = _mlp([self.dim, *self.hidden_sizes, self.dim], activation)
        last = self.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.to(dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.dim, "ResidualMap")
        return x + self.net(x)

    gradient = forward

    def config(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "dim": self.dim, "hidden_sizes": self.hidden_sizes,
                "activation": self.activation}
