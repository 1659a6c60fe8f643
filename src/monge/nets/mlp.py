"""Unconstrained networks: a non-convex MLP potential, a residual map x + MLP(x) and a plain MLP map."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
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


def _derivative(activation: str, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """σ'(z) from the pre-activation z and the activation h = σ(z), for the activations of ``_ACTIVATIONS``
    with their PyTorch defaults (ELU/CELU α = 1, LeakyReLU slope 0.01, Softplus β = 1)."""
    if activation in ("elu", "celu"):
        return torch.where(z > 0, 1.0, h + 1.0)
    if activation == "relu":
        return (z > 0).to(z.dtype)
    if activation == "leaky_relu":
        return torch.where(z > 0, 1.0, 0.01)
    if activation == "tanh":
        return 1.0 - h.square()
    if activation == "softplus":
        return torch.where(z > 20, 1.0, torch.sigmoid(z))      # nn.Softplus is linear above threshold 20
    if activation == "silu":
        s = torch.sigmoid(z)
        return s * (1.0 + z * (1.0 - s))
    raise InvalidInputError(f"no explicit derivative for activation {activation!r}")


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
        affine: add ½ xᵀAx + bᵀx instead, with a fixed symmetric A and b (buffers, identity and zero until
            :meth:`set_affine`): the initial gradient map is then the affine map x ↦ Ax + b, for example the
            Gaussian (Bures) OT map between the data's moments (a warm start). Implies ``quadratic``.
    """

    def __init__(self, dim: int, hidden_sizes: Sequence[int] = (128, 128), *, activation: str = "celu",
                 quadratic: bool = False, affine: bool = False, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None):
        super().__init__()
        self.dim, self.hidden_sizes, self.activation = int(dim), [int(h) for h in hidden_sizes], activation
        self.quadratic, self.affine = bool(quadratic or affine), bool(affine)
        self.net = _mlp([self.dim, *self.hidden_sizes, 1], activation)
        if self.affine:
            self.register_buffer("affine_matrix", torch.eye(self.dim))
            self.register_buffer("affine_shift", torch.zeros(self.dim))
        self.to(dtype=dtype, device=device)

    def set_affine(self, matrix: Any, shift: Any) -> None:
        """Set A (symmetrised) and b of the affine part ½ xᵀAx + bᵀx (a network built with ``affine=True``)."""
        if not self.affine:
            raise InvalidInputError("set_affine needs an MLPPotential built with affine=True")
        matrix = torch.as_tensor(matrix).to(self.affine_matrix)
        shift = torch.as_tensor(shift).to(self.affine_shift).reshape(-1)
        if matrix.shape != (self.dim, self.dim) or shift.shape != (self.dim,):
            raise DimensionMismatchError(f"set_affine expects A of shape ({self.dim}, {self.dim}) and b of shape "
                                         f"({self.dim},), got {tuple(matrix.shape)} and {tuple(shift.shape)}")
        with torch.no_grad():
            self.affine_matrix.copy_(0.5 * (matrix + matrix.T))
            self.affine_shift.copy_(shift)

    def _quadratic_part(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """½‖x‖² (or ½ xᵀAx + bᵀx) and its gradient x (or Ax + b)."""
        if not self.affine:
            return 0.5 * x.square().sum(-1), x
        ax = x @ self.affine_matrix
        return 0.5 * (x * ax).sum(-1) + x @ self.affine_shift, ax + self.affine_shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.dim, "MLPPotential")
        out = self.net(x).squeeze(-1)
        return out + self._quadratic_part(x)[0] if self.quadratic else out

    def explicit_value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """f(x) and ∇f(x) by explicit forward operations (a manual backward pass through the layers).

        Equal to :meth:`value_and_gradient` (autograd) up to rounding. Training through it needs a single
        backward instead of autograd's double backward, and it is a plain forward graph that
        ``torch.compile`` can fuse (ENOT's ``compile=True`` path); in eager mode autograd is as fast or faster.
        """
        value, grad = self._evaluate(x, frozen=False, with_gradient=True)
        assert grad is not None
        return value, grad

    def frozen_forward(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) computed with detached parameters: differentiable in ``x``, no gradient to the parameters."""
        return self._evaluate(x, frozen=True, with_gradient=False)[0]

    def _evaluate(self, x: torch.Tensor, *, frozen: bool, with_gradient: bool
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
        _check(x, self.dim, "MLPPotential")
        layers = [(m.weight.detach(), m.bias.detach()) if frozen else (m.weight, m.bias)
                  for m in self.net if isinstance(m, nn.Linear)]
        h, pre, post = x, [], []
        for weight, bias in layers[:-1]:
            z = F.linear(h, weight, bias)
            h = self._act(z)
            pre.append(z)
            post.append(h)
        value = F.linear(h, *layers[-1]).squeeze(-1)
        if not with_gradient:
            return (value + self._quadratic_part(x)[0] if self.quadratic else value), None
        grad = layers[-1][0]                                   # (1, width): ∂f/∂h of the last hidden layer
        for (weight, _), z, h in zip(reversed(layers[:-1]), reversed(pre), reversed(post)):
            grad = (grad * _derivative(self.activation, z, h)) @ weight
        grad = grad.expand(x.shape[0], self.dim)
        if self.quadratic:
            q_value, q_grad = self._quadratic_part(x)
            value, grad = value + q_value, grad + q_grad
        return value, grad

    def _act(self, z: torch.Tensor) -> torch.Tensor:
        return self.net[1](z) if len(self.net) > 1 else z

    def config(self) -> dict[str, Any]:
        config = {"class": type(self).__name__, "dim": self.dim, "hidden_sizes": self.hidden_sizes,
                  "activation": self.activation, "quadratic": self.quadratic}
        return {**config, "affine": True} if self.affine else config


@register_network
class ResidualMap(nn.Module):
    """A map network T(x) = x + MLP(x), initialised at the identity (last layer zero).

    Used as a generator / mover network (W2GAN, reversed maximin, OTM). ``gradient`` is an alias of
    ``forward`` so that a result object can treat maps and potential gradients alike.

    With ``bound`` = s the residual is bounded: T(x) = x + s·tanh(MLP(x)), so every coordinate of T(x) − x
    lies in (−s, s) (the W2GAN authors' image generators, s = 2). It is still the identity at initialisation.
    """

    def __init__(self, dim: int, hidden_sizes: Sequence[int] = (128, 128), *, activation: str = "celu",
                 bound: float | None = None, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None):
        super().__init__()
        self.dim, self.hidden_sizes, self.activation = int(dim), [int(h) for h in hidden_sizes], activation
        if bound is not None and not (isinstance(bound, (int, float)) and not isinstance(bound, bool) and bound > 0):
            raise InvalidInputError(f"ResidualMap: bound must be None or a number > 0, got {bound!r}")
        self.bound = None if bound is None else float(bound)
        self.net = _mlp([self.dim, *self.hidden_sizes, self.dim], activation)
        last = self.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.to(dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.dim, "ResidualMap")
        residual = self.net(x)
        return x + (residual if self.bound is None else self.bound * torch.tanh(residual))

    gradient = forward

    def config(self) -> dict[str, Any]:
        config = {"class": type(self).__name__, "dim": self.dim, "hidden_sizes": self.hidden_sizes,
                  "activation": self.activation}
        return config if self.bound is None else {**config, "bound": self.bound}


@register_network
class MLPMap(nn.Module):
    """A plain map network T(x) = MLP(x) (no skip connection; PyTorch's default init, so not the identity at
    the start: W2GAN's ``generator_form="mlp"`` pre-trains it to reconstruct its input). ``gradient`` is an
    alias of ``forward``."""

    def __init__(self, dim: int, hidden_sizes: Sequence[int] = (128, 128), *, activation: str = "celu",
                 dtype: torch.dtype | None = None, device: torch.device | str | None = None):
        super().__init__()
        self.dim, self.hidden_sizes, self.activation = int(dim), [int(h) for h in hidden_sizes], activation
        self.net = _mlp([self.dim, *self.hidden_sizes, self.dim], activation)
        self.to(dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.dim, "MLPMap")
        return self.net(x)

    gradient = forward

    def config(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "dim": self.dim, "hidden_sizes": self.hidden_sizes,
                "activation": self.activation}
