"""1-Lipschitz networks: the GroupSort activation and an MLP whose weights have spectral norm ≤ 1.

- GroupSort / MaxMin: Anil, Lucas, Grosse, "Sorting out Lipschitz function approximation", ICML 2019.
- Orthogonal weights: ``torch.nn.utils.parametrizations.orthogonal`` (a rectangular weight is semi-orthogonal,
  spectral norm exactly 1). Anil et al. orthonormalise with Björck's iteration instead; the set of weights
  is the same.
- Spectral normalisation: Miyato, Kataoka, Koyama, Yoshida, "Spectral Normalization for Generative
  Adversarial Networks", ICLR 2018 (``torch.nn.utils.parametrizations.spectral_norm``): W / σ̂ with σ̂ a
  power-iteration estimate of the largest singular value of W.

A composition of 1-Lipschitz maps is 1-Lipschitz: with every weight of spectral norm ≤ 1 and a 1-Lipschitz
activation (all of :data:`ACTIVATIONS` are), the whole network is 1-Lipschitz in the Euclidean norm.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations

from monge.errors import InvalidInputError
from monge.nets.base import Potential, register_network
from monge.nets.mlp import _ACTIVATIONS, _check

CONSTRAINTS: tuple[str, ...] = ("orthogonal", "spectral", "none")
"""How :class:`LipschitzMLP` bounds its weights: orthogonal parametrisation, spectral normalisation, or not."""

ACTIVATIONS: tuple[str, ...] = ("groupsort", "relu", "leaky_relu", "elu", "celu", "tanh", "softplus")
"""Activations :class:`LipschitzMLP` accepts; every one is 1-Lipschitz (ELU/CELU with α = 1, Softplus with
β = 1, LeakyReLU with slope 0.01: PyTorch's defaults). SiLU is left out: its slope reaches ≈ 1.1."""

INIT_POWER_ITERATIONS = 15
"""Power iterations run on fresh (u, v) vectors at initialisation (as ``spectral_norm`` itself does)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class GroupSort(nn.Module):
    """Sort each consecutive group of ``group_size`` features in **ascending** order (Anil et al., ICML 2019).

    Features are grouped along the last dimension as (0 … g−1), (g … 2g−1), ...; ``group_size = 2`` is MaxMin
    (each pair becomes (min, max)); ``group_size`` equal to the width is FullSort. Sorting only permutes the
    entries of each group, so the map is 1-Lipschitz and its Jacobian is a permutation matrix almost
    everywhere (gradient-norm preserving). The order within a group is a fixed permutation of the outputs, so
    ascending or descending give the same function class.

    Args:
        group_size: features per group, an integer ≥ 2 (default 2, MaxMin). The input's last dimension must
            be divisible by it (:class:`~monge.errors.InvalidInputError` otherwise).
    """

    def __init__(self, group_size: int = 2):
        super().__init__()
        if not _is_int(group_size) or group_size < 2:
            raise InvalidInputError(f"GroupSort: group_size must be an integer >= 2, got {group_size!r}")
        self.group_size = int(group_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 0 or x.shape[-1] % self.group_size:
            width = x.shape[-1] if x.ndim else None
            raise InvalidInputError(f"GroupSort: the feature width {width} is not divisible by "
                                    f"group_size {self.group_size}")
        groups = x.unflatten(-1, (x.shape[-1] // self.group_size, self.group_size))
        return groups.sort(dim=-1).values.flatten(-2)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


def _uniform(like: torch.Tensor, bound: float, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else like.device
    draw = torch.rand(like.shape, generator=generator, dtype=like.dtype, device=device).to(like.device)
    return (2 * draw - 1) * bound


def _normal(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else like.device
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=device).to(like.device)


@torch.no_grad()
def _power_iterations(norm: nn.Module, weight: torch.Tensor, iterations: int) -> None:
    """``iterations`` power-method steps on the stored vectors (u, v) of a ``spectral_norm`` parametrisation,
    in place (the same update as PyTorch's): u ← W v / ‖W v‖, v ← Wᵀ u / ‖Wᵀ u‖."""
    for _ in range(iterations):
        norm._u.copy_(F.normalize(torch.mv(weight, norm._v), dim=0, eps=norm.eps))
        norm._v.copy_(F.normalize(torch.mv(weight.mT, norm._u), dim=0, eps=norm.eps))


@register_network
class LipschitzMLP(Potential):
    """An MLP critic f: R^dim → R whose Linear weights have spectral norm ≤ 1: 1-Lipschitz by construction.

    With ``constraint="orthogonal"`` every weight is orthogonal (square) or semi-orthogonal (rectangular) via
    ``torch.nn.utils.parametrizations.orthogonal``, so its spectral norm is 1 up to rounding; with GroupSort
    and no layer wider than its input (h₁ ≤ dim, h₂ ≤ h₁, ...) the network is gradient-norm preserving,
    ‖∇f‖ = 1 almost everywhere (Anil et al., ICML 2019); a widening layer has orthonormal columns and can
    only shrink the gradient. With ``constraint="spectral"`` every weight is divided by a power-iteration
    estimate σ̂ of its largest singular value (Miyato et al., ICLR 2018). σ̂ = uᵀWv with unit vectors u, v
    never exceeds the true σ, so the normalised weight has norm σ/σ̂ ≥ 1: the bound is exact only once the
    power method has converged (:meth:`update_spectral_norms` runs more iterations; convergence is slow when
    the top two singular values are close, but σ̂ is then close to σ anyway). ``"none"`` leaves the weights
    free (the architecture without the guarantee, for comparisons).

    Spectral normalisation depends on the module mode, as in PyTorch: in training mode every forward pass
    runs ``n_power_iterations`` power iterations and updates the stored vectors u, v (buffers ``_u``, ``_v`` in
    the state dict); in eval mode the stored vectors are used as they are, so the outputs are a pure function
    of the state dict. :meth:`config` records the mode (``training``), so a network rebuilt with
    :func:`~monge.nets.build_network` and given the saved state dict computes exactly what the saved one did.
    Call ``.eval()`` before evaluating a trained critic; the W1 solvers return their critics in eval mode.

    Args:
        dim: input dimension.
        hidden_sizes: widths of the hidden layers (each divisible by ``group_size`` with GroupSort; may be
            empty, for an affine f).
        constraint: ``"orthogonal"`` (default), ``"spectral"`` or ``"none"``.
        activation: one of :data:`ACTIVATIONS` (default ``"groupsort"``).
        group_size: GroupSort group size (2, MaxMin); ignored by the other activations.
        n_power_iterations: power iterations per forward pass in training mode (spectral only; 1 as in
            Miyato et al.).
        training: the mode to start in (default ``True``, PyTorch's); :meth:`config` stores the current mode.
        generator: optional ``torch.Generator`` for the initialisation (the global RNG is then left untouched):
            biases (and unconstrained or spectrally normalised weights) U(−1/√fan_in, 1/√fan_in) as PyTorch's
            default; orthogonal weights the first columns of a Haar-random orthogonal matrix (QR of a
            Gaussian matrix); spectral-norm vectors u, v Gaussian, then 15 power iterations.
        dtype: of the parameters.
        device: of the parameters.
    """

    def __init__(self, dim: int, hidden_sizes: Sequence[int] = (128, 128), *, constraint: str = "orthogonal",
                 activation: str = "groupsort", group_size: int = 2, n_power_iterations: int = 1,
                 training: bool = True, generator: torch.Generator | None = None,
                 dtype: torch.dtype | None = None, device: torch.device | str | None = None):
        super().__init__()
        who = "LipschitzMLP"
        if not _is_int(dim) or dim < 1:
            raise InvalidInputError(f"{who}: dim must be a positive integer, got {dim!r}")
        try:
            sizes = list(hidden_sizes)
        except TypeError as exc:
            raise InvalidInputError(f"{who}: hidden_sizes must be a list of positive integers, "
                                    f"got {hidden_sizes!r}") from exc
        if not all(_is_int(h) and h > 0 for h in sizes):
            raise InvalidInputError(f"{who}: hidden_sizes must be a list of positive integers, got {hidden_sizes!r}")
        if constraint not in CONSTRAINTS:
            raise InvalidInputError(f"{who}: constraint must be one of {list(CONSTRAINTS)}, got {constraint!r}")
        if activation not in ACTIVATIONS:
            raise InvalidInputError(f"{who}: activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
        if not _is_int(group_size) or group_size < 2:
            raise InvalidInputError(f"{who}: group_size must be an integer >= 2, got {group_size!r}")
        if activation == "groupsort" and any(h % group_size for h in sizes):
            raise InvalidInputError(f"{who}: with the groupsort activation every hidden width must be divisible "
                                    f"by group_size {group_size}, got hidden_sizes {sizes}")
        if not _is_int(n_power_iterations) or n_power_iterations < 1:
            raise InvalidInputError(f"{who}: n_power_iterations must be an integer >= 1, got {n_power_iterations!r}")
        if not isinstance(training, bool):
            raise InvalidInputError(f"{who}: training must be True or False, got {training!r}")
        self.dim, self.hidden_sizes = int(dim), [int(h) for h in sizes]
        self.constraint, self.activation = constraint, activation
        self.group_size, self.n_power_iterations = int(group_size), int(n_power_iterations)

        widths = [self.dim, *self.hidden_sizes, 1]
        # Built on the CPU (then moved): the parametrisations' own set-up draws from the CPU RNG only, which
        # fork_rng shields when a generator is given; reset_parameters then redraws everything.
        shield = torch.random.fork_rng(devices=[]) if generator is not None else contextlib.nullcontext()
        with shield:
            layers: list[nn.Module] = []
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
                layer = nn.Linear(a, b, dtype=dtype)
                if constraint == "orthogonal":
                    parametrizations.orthogonal(layer)
                elif constraint == "spectral":
                    parametrizations.spectral_norm(layer, n_power_iterations=self.n_power_iterations)
                layers.append(layer)
                if i < len(widths) - 2:
                    layers.append(GroupSort(self.group_size) if activation == "groupsort"
                                  else _ACTIVATIONS[activation]())
            self.net = nn.Sequential(*layers)
        self.to(device=device)
        self.reset_parameters(generator)
        self.train(training)

    def linear_layers(self) -> list[nn.Linear]:
        """The Linear layers, input to output."""
        return [m for m in self.net if isinstance(m, nn.Linear)]

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Redraw every parameter (and spectral-norm vector) from ``generator`` (the global RNG if ``None``);
        see the class docstring for the distributions."""
        for layer in self.linear_layers():
            bound = 1.0 / math.sqrt(layer.in_features)
            layer.bias.copy_(_uniform(layer.bias, bound, generator))
            if self.constraint == "none":
                layer.weight.copy_(_uniform(layer.weight, bound, generator))
                continue
            param = layer.parametrizations.weight
            if self.constraint == "spectral":
                norm = param[0]
                param.original.copy_(_uniform(param.original, bound, generator))
                norm._u.copy_(F.normalize(_normal(norm._u, generator), dim=0, eps=norm.eps))
                norm._v.copy_(F.normalize(_normal(norm._v, generator), dim=0, eps=norm.eps))
                _power_iterations(norm, param.original, INIT_POWER_ITERATIONS)
            else:
                # PyTorch's trivialisation: weight = (base @ Q(original))[:, :k] (transposed when wide), with
                # Q(original) = identity for original = "−I"; set base to a Haar-random orthogonal matrix.
                orth = param[0]
                q, r = torch.linalg.qr(_normal(orth.base, generator))
                orth.base.copy_(q * torch.where(r.diagonal() < 0, -1.0, 1.0).to(q.dtype))
                start = torch.zeros_like(param.original)
                start.diagonal().fill_(-1.0)
                param.original.copy_(start)

    @torch.no_grad()
    def update_spectral_norms(self, iterations: int = 50) -> None:
        """Run ``iterations`` power iterations on every layer's stored (u, v) without changing the weights, so
        that σ̂ is closer to the true spectral norm (a no-op unless ``constraint == "spectral"``). Non-finite
        vectors (left by a diverged step) are first reset to the normalised all-ones vector."""
        if self.constraint != "spectral":
            return
        for layer in self.linear_layers():
            param = layer.parametrizations.weight
            norm = param[0]
            for vec in (norm._u, norm._v):
                if not bool(torch.isfinite(vec).all()):
                    vec.fill_(1.0 / math.sqrt(vec.numel()))
            _power_iterations(norm, param.original, iterations)

    @torch.no_grad()
    def effective_weights(self) -> list[torch.Tensor]:
        """The (detached) weights an eval-mode forward pass uses, input to output; for spectral normalisation
        W / σ̂ with the stored (u, v), without running a power iteration."""
        mode = self.training
        self.eval()
        try:
            return [layer.weight.detach().clone() for layer in self.linear_layers()]
        finally:
            self.train(mode)

    def lipschitz_bound(self) -> float:
        """∏ ‖W_l‖₂ over the layers (exact spectral norms of :meth:`effective_weights`, by SVD in float64): an
        upper bound on the eval-mode network's Lipschitz constant, since every activation is 1-Lipschitz."""
        bound = 1.0
        for weight in self.effective_weights():
            bound *= float(torch.linalg.matrix_norm(weight.double(), ord=2))
        return bound

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.dim, "LipschitzMLP")
        return self.net(x).squeeze(-1)

    def config(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "dim": self.dim, "hidden_sizes": self.hidden_sizes,
                "constraint": self.constraint, "activation": self.activation, "group_size": self.group_size,
                "n_power_iterations": self.n_power_iterations, "training": self.training}
