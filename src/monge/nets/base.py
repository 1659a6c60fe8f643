"""Network contracts: potentials (scalar fields whose gradient is a map) and maps."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from monge.errors import UnknownNameError

NETWORKS: dict[str, type[nn.Module]] = {}


def register_network(cls: type[nn.Module]) -> type[nn.Module]:
    """Class decorator: make ``cls`` rebuildable from ``{"class": name, **config()}`` (see :func:`build_network`)."""
    NETWORKS[cls.__name__] = cls
    return cls


def build_network(config: dict[str, Any]) -> nn.Module:
    """Rebuild a registered network from the dict returned by its ``config()`` (with a ``"class"`` key)."""
    config = dict(config)
    name = config.pop("class", None)
    if name not in NETWORKS:
        raise UnknownNameError("network", str(name), list(NETWORKS))
    return NETWORKS[name](**config)


class Potential(nn.Module):
    """A scalar potential ψ: R^dim → R, batched: ``forward(x)`` has shape ``(n,)``.

    ``gradient(x)`` returns ∇ψ(x) with shape ``(n, dim)`` and is differentiable with respect to the
    parameters (so losses of the map can be trained). The default implementation uses autograd;
    networks with an explicit formula override it. ``value_and_gradient`` returns both at once.
    """

    dim: int
    is_convex: ClassVar[bool] = False

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        """∇ψ(x), shape (n, dim), differentiable with respect to the parameters."""
        return self.value_and_gradient(x)[1]

    def value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ψ(x) (n,) and ∇ψ(x) (n, dim); autograd by default, explicit formulas in subclasses that have them."""
        return self.autograd_value_and_gradient(x)

    def autograd_value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ψ(x) and ∇ψ(x) through autograd (double backward when trained): the reference oracle."""
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            x_ = x if x.requires_grad else x.detach().requires_grad_(True)
            value = self.forward(x_)
            (grad,) = torch.autograd.grad(value.sum(), x_, create_graph=create_graph)
        if not create_graph:
            value, grad = value.detach(), grad.detach()
        return value, grad

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this network (JSON-serialisable, with a ``"class"`` key)."""
        raise NotImplementedError

    def convexify(self) -> None:
        """Project parameters back onto the set that keeps the potential convex (no-op if not convex)."""


@register_network
class RescaledPotential(Potential):
    """A potential fitted in standardised coordinates, expressed in the original ones.

    With ``inner`` = ψ₀ fitted on z = (x − m)/s (a shared shift m and scale s for both distributions),
    ψ(x) = s²·ψ₀((x − m)/s) + ⟨m, x⟩, so ∇ψ(x) = s·∇ψ₀((x − m)/s) + m: the quadratic-cost OT map commutes with
    a common translation and isotropic scaling, and this is the map in the data's own units. ``shift`` and
    ``scale`` are buffers (saved with the weights); ``inner`` is a network or its ``config()``.
    """

    def __init__(self, inner: Any, *, shift: Any = None, scale: float = 1.0):
        super().__init__()
        self.inner = inner if isinstance(inner, nn.Module) else build_network(inner)
        self.dim = int(self.inner.dim)
        reference = next(self.inner.parameters(), torch.zeros(()))
        shift = torch.zeros(self.dim) if shift is None else torch.as_tensor(shift).reshape(-1)
        self.register_buffer("shift", shift.to(dtype=reference.dtype, device=reference.device))
        self.register_buffer("scale", torch.tensor(float(scale), dtype=reference.dtype, device=reference.device))
        self.is_convex = bool(getattr(self.inner, "is_convex", False))

    def _inner_input(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale.square() * self.inner(self._inner_input(x)) + x @ self.shift

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.inner.gradient(self._inner_input(x)) + self.shift

    def value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        value, grad = self.inner.value_and_gradient(self._inner_input(x))
        return self.scale.square() * value + x @ self.shift, self.scale * grad + self.shift

    def config(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "inner": self.inner.config()}
