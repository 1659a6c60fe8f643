"""Input-convex neural networks (ICNNs) whose gradient is a transport map.

:class:`DenseICNN` follows "Wasserstein-2 Generative Networks" (Korotin, Egiazarian, Asadulaev, Safin,
Burnaev; ICLR 2021), App. B.2, and loads the state-dict layout of the published W2 benchmark pairs
("Do Neural Optimal Transport Solvers Work?", Korotin et al., NeurIPS 2021).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.nets.base import Potential, register_network

ACTIVATIONS = ("celu", "softplus", "relu")
"""DenseICNN's activations: convex and non-decreasing. ``"celu"`` (W2GN's) and ``"softplus"`` are smooth, so ∇ψ is
continuous; ``"relu"`` makes ψ piecewise quadratic and ∇ψ jump across the kinks, so the gradient map can tear the
support apart (W2GN, Korotin et al., ICLR 2021, App. B.2, Fig. 11: why the paper uses CELU)."""


def activation(name: str, a: torch.Tensor) -> torch.Tensor:
    """σ(a) for one of :data:`ACTIVATIONS` (CELU with α = 1)."""
    if name == "relu":
        return torch.relu(a)
    return torch.celu(a) if name == "celu" else F.softplus(a)


def activation_and_slope(name: str, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """σ(a) and σ'(a) sharing one exponential, for the explicit input gradients: for CELU (α = 1)
    σ'(a) = exp(min(a, 0)) and σ(a) = max(a, 0) + σ'(a) − 1; for softplus σ' is the logistic sigmoid, and 1 where
    ``F.softplus`` switches to the identity (a > 20), so the slope is autograd's; for ReLU the step 1[a > 0]."""
    if name == "relu":
        return torch.relu(a), (a > 0).to(a.dtype)
    if name == "celu":
        slope = torch.exp(a.clamp(max=0))
        return a.clamp(min=0) + slope - 1, slope
    return F.softplus(a), torch.where(a > 20, 1.0, torch.sigmoid(a))


class ConvexQuadratic(nn.Module):
    """Input layer whose output neuron o is ``Σ_r ⟨x, F[:, r, o]⟩² + ⟨W[o], x⟩ + b[o]`` (convex in x).

    Parameter names and shapes match the published benchmark files: ``quadratic_decomposed``
    (dim × rank × out), ``weight`` (out × dim), ``bias`` (out).
    """

    def __init__(self, dim: int, out_features: int, rank: int = 1):
        super().__init__()
        self.dim, self.out_features, self.rank = dim, out_features, rank
        if rank:
            self.quadratic_decomposed = nn.Parameter(torch.empty(dim, rank, out_features))
        else:  # a linear input layer (the original ICNN): an empty, untrained placeholder keeps one code path
            self.register_buffer("quadratic_decomposed", torch.empty(dim, 0, out_features))
        self.weight = nn.Parameter(torch.empty(out_features, dim))
        self.bias = nn.Parameter(torch.empty(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (n, dim) @ (dim, rank*out) -> (n, rank, out)
        flat = self.quadratic_decomposed.reshape(self.dim, self.rank * self.out_features)   # explicit: rank may be 0
        u = (x @ flat).view(x.shape[0], self.rank, self.out_features)
        return u.square().sum(dim=1) + F.linear(x, self.weight, self.bias)


class _Linear(nn.Module):
    """Bias-free linear layer with a ``weight`` (out × in) whose construction draws no random numbers
    (``nn.Linear`` would consume the global RNG before :meth:`DenseICNN.reset_parameters` runs)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.t()


@register_network
class DenseICNN(Potential):
    """Dense input-convex network ψ (Korotin et al., ICLR 2021, App. B.2).

    Architecture with hidden sizes ``[h0, h1, …, hK]`` and rank ``r``::

        z0 = q0(x)                              (convex-quadratic input layer, no activation)
        zk = σ(C_{k-1} z_{k-1} + qk(x))         k = 1..K, C ≥ 0 ("convexity-preserving" weights)
        ψ(x) = w · zK + (β/2)‖x‖²               w ≥ 0, β = ``strong_convexity``
             [+ ½‖L x‖² + ⟨c, x⟩]               with ``full_quadratic=True``: L (D × D) and c learnable

    σ is CELU (default, α = 1) or softplus: convex and non-decreasing, so ψ is convex whenever
    :meth:`convexify` has clamped ``C`` and ``w`` to be non-negative (it is called at construction).

    :meth:`value_and_gradient` computes ∇ψ with explicit forward operations: all input layers share one
    matmul of x, and the backward through the convexity-preserving block is a short chain of small
    matmuls. Training a loss of ∇ψ then needs a single backward pass (no double backward).
    :meth:`autograd_value_and_gradient` is the autograd reference.

    Args:
        dim: input dimension D.
        hidden_sizes: ``[h0, …, hK]`` (at least one layer).
        rank: rank r of each quadratic form (1). ``rank=0`` drops the quadratic terms: the input layers are
            linear, which is the original ICNN of Amos, Xu & Kolter ("Input Convex Neural Networks", ICML 2017);
            the quadratic input layers are W2GN's modification (the "modified ICNN" of monge's architecture
            study, docs/benchmarks.md).
        activation: ``"celu"`` (W2GN's), ``"softplus"`` or ``"relu"`` (a discontinuous gradient map, see
            :data:`ACTIVATIONS`).
        strong_convexity: β ≥ 0.
        init_std: parameters are drawn from N(0, init_std²) (then convexified); the W2GN code uses 1/20.
        full_quadratic: add a learnable full-rank convex quadratic ½‖Lx‖² + ⟨c, x⟩ (L starts at the identity, c at
            0; monge's addition, off by default). ½xᵀLᵀLx is convex for every L, so no constraint is needed, and
            its gradient LᵀLx + c is any affine map with a symmetric positive semi-definite matrix: Gaussian OT maps
            are then exactly representable, and :meth:`set_affine` starts the network at one (the Gaussian
            initialisation of OTT-JAX's ICNN, ``gaussian_map_samples``; Bunne, Krause & Cuturi, "Supervised
            Training of Conditional Monge Maps", NeurIPS 2022). Costs two D × D matrix products per evaluation.
        generator: optional ``torch.Generator`` for the initialisation (global RNG untouched if given).
    """

    is_convex = True

    def __init__(
        self,
        dim: int,
        hidden_sizes: Sequence[int] = (64, 64, 32),
        *,
        rank: int = 1,
        activation: str = "celu",
        strong_convexity: float = 1e-6,
        init_std: float = 0.05,
        full_quadratic: bool = False,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        hidden_sizes = [int(h) for h in hidden_sizes]
        if int(dim) <= 0 or not hidden_sizes or min(hidden_sizes) <= 0 or int(rank) < 0:
            raise InvalidInputError(
                f"DenseICNN needs dim > 0, rank >= 0 and positive hidden sizes; got dim={dim}, rank={rank}, "
                f"hidden_sizes={hidden_sizes}"
            )
        if activation not in ACTIVATIONS:
            raise InvalidInputError(f"DenseICNN activation must be one of {ACTIVATIONS}, got {activation!r}")
        if not (strong_convexity >= 0 and math.isfinite(strong_convexity)):
            raise InvalidInputError(f"strong_convexity must be finite and >= 0, got {strong_convexity}")
        self.dim, self.hidden_sizes, self.rank = int(dim), hidden_sizes, int(rank)
        self.activation, self.strong_convexity, self.init_std = activation, float(strong_convexity), float(init_std)
        self.quadratic_layers = nn.ModuleList(ConvexQuadratic(self.dim, h, self.rank) for h in hidden_sizes)
        self.convex_layers = nn.ModuleList(
            _Linear(h_in, h_out) for h_in, h_out in zip(hidden_sizes[:-1], hidden_sizes[1:])
        )
        self.final_layer = _Linear(hidden_sizes[-1], 1)
        self.full_quadratic = bool(full_quadratic)
        if self.full_quadratic:
            self.quadratic_factor = nn.Parameter(torch.empty(self.dim, self.dim))
            self.linear_term = nn.Parameter(torch.empty(self.dim))
        self.to(dtype=dtype, device=device)
        self.reset_parameters(generator)

    # ------------------------------------------------------------------ set-up
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw every parameter from N(0, init_std²) (as the W2GN code does), then convexify; the full quadratic
        part, if any, starts at L = I and c = 0."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name in ("quadratic_factor", "linear_term"):
                    continue
                noise = torch.randn(p.shape, generator=generator, dtype=p.dtype,
                                    device=generator.device if generator is not None else p.device)
                p.copy_(noise.to(p.device) * self.init_std)
            if self.full_quadratic:
                self.quadratic_factor.copy_(torch.eye(self.dim))
                self.linear_term.zero_()
        self.convexify()

    def set_affine(self, matrix: Any, shift: Any) -> None:
        """Make ∇ψ the affine map x ↦ A x + b (A symmetric positive semi-definite, e.g. a Gaussian OT map): the
        full quadratic part gets L = (A − βI)₊^{1/2} (β = ``strong_convexity``) and c = b, and the ICNN part's
        final weights are zeroed, so it contributes nothing until training moves them. Needs
        ``full_quadratic=True``."""
        if not self.full_quadratic:
            raise InvalidInputError("set_affine needs a DenseICNN built with full_quadratic=True")
        matrix = torch.as_tensor(matrix, dtype=torch.float64).cpu()
        shift = torch.as_tensor(shift, dtype=torch.float64).cpu().reshape(-1)
        if matrix.shape != (self.dim, self.dim) or shift.shape != (self.dim,):
            raise DimensionMismatchError(f"set_affine expects A of shape ({self.dim}, {self.dim}) and b of shape "
                                         f"({self.dim},), got {tuple(matrix.shape)} and {tuple(shift.shape)}")
        if not bool(torch.isfinite(matrix).all() and torch.isfinite(shift).all()):
            raise InvalidInputError("set_affine: A and b must be finite")
        w, v = torch.linalg.eigh(0.5 * (matrix + matrix.T) - self.strong_convexity * torch.eye(self.dim, dtype=torch.float64))
        root = (v * w.clamp(min=0).sqrt()) @ v.T
        with torch.no_grad():
            self.quadratic_factor.copy_(0.5 * (root + root.T))
            self.linear_term.copy_(shift)
            self.final_layer.weight.zero_()

    def shrink_to_identity_scale(self, x: torch.Tensor) -> float:
        """Scale the network part of ∇ψ down to its least-squares fit of the identity on the points ``x``.

        ∇ψ = a·g(x) + r(x), where g is the gradient of ``w · zK`` and r the rest (strong convexity, full quadratic
        part); a = ⟨g, x − r⟩ / ‖g‖² over the batch. If 0 < a < 1 the final weights w are multiplied by a, which
        keeps them non-negative; otherwise nothing changes. Returns the factor applied (1.0 when none).

        Why: with the N(0, init_std²) initialisation the initial gradient grows with the hidden widths. With
        W2GN's default widths it is below the data's scale up to D ≈ 128, 4× too large at D = 256 and ~100× at
        D = 768, where 1000 steps of identity pre-training (lr 1e-3) could not bring it back (mean squared error
        1753 on the data after 300 steps, against 0.006 after this rescale). With init std 0.1 (the ``w2-hd``
        preset) it applies from D = 64; up to D = 256 pre-training reaches its tolerance with or without it, in
        up to 4× fewer steps with it (measured on Gaussian pairs, 2026-12-04). Identity pre-training calls it first.
        """
        self._check_input(x)
        with torch.no_grad():
            full = self.gradient(x)
            weight = self.final_layer.weight.clone()
            self.final_layer.weight.zero_()
            rest = self.gradient(x)
            self.final_layer.weight.copy_(weight)
            g = full - rest
            norm = g.square().sum()
            factor = float((g * (x - rest)).sum() / norm) if float(norm) > 0 else 1.0
            if not (0.0 < factor < 1.0):
                return 1.0
            self.final_layer.weight.mul_(factor)
        return factor

    def convexify(self) -> None:
        """Clamp the convexity-preserving weights (hidden-to-hidden and final) to be non-negative."""
        with torch.no_grad():
            for layer in self.convex_layers:
                layer.weight.clamp_(min=0)
            self.final_layer.weight.clamp_(min=0)

    def config(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "dim": self.dim,
            "hidden_sizes": list(self.hidden_sizes),
            "rank": self.rank,
            "activation": self.activation,
            "strong_convexity": self.strong_convexity,
            "init_std": self.init_std,
            **({"full_quadratic": True} if self.full_quadratic else {}),
        }

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, hidden_sizes={self.hidden_sizes}, rank={self.rank}, "
                f"activation={self.activation}, strong_convexity={self.strong_convexity:g}"
                + (", full_quadratic=True" if self.full_quadratic else ""))

    # ------------------------------------------------------------------ evaluation
    def _act(self, a: torch.Tensor) -> torch.Tensor:
        return activation(self.activation, a)

    def _act_and_derivative(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return activation_and_slope(self.activation, a)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise DimensionMismatchError(f"DenseICNN expects inputs of shape (n, {self.dim}), got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ψ(x) for a batch ``x`` of shape (n, dim); returns shape (n,)."""
        return self._evaluate(x, with_gradient=False)[0]

    def layerwise_forward(self, x: torch.Tensor) -> torch.Tensor:
        """ψ(x) layer by layer, as written in the paper (reference for tests and benchmarks)."""
        self._check_input(x)
        z = self.quadratic_layers[0](x)
        for quadratic, convex in zip(self.quadratic_layers[1:], self.convex_layers):
            z = self._act(convex(z) + quadratic(x))
        value = self.final_layer(z).squeeze(-1) + 0.5 * self.strong_convexity * x.square().sum(dim=-1)
        if self.full_quadratic:
            value = value + 0.5 * (x @ self.quadratic_factor.t()).square().sum(dim=-1) + x @ self.linear_term
        return value

    def _stacked_input_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All input layers as one (D, r·H + H) matrix [F | Wᵀ] and one bias of length H = Σ h_k."""
        quad = torch.cat([layer.quadratic_decomposed for layer in self.quadratic_layers], dim=2)
        lin = torch.cat([layer.weight for layer in self.quadratic_layers], dim=0)
        bias = torch.cat([layer.bias for layer in self.quadratic_layers], dim=0)
        return torch.cat([quad.reshape(self.dim, quad.shape[1] * quad.shape[2]), lin.t()], dim=1), bias

    def value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ψ(x) (shape (n,)) and ∇ψ(x) (shape (n, dim)) by explicit forward operations."""
        return self._evaluate(x, with_gradient=True)

    def _evaluate(self, x: torch.Tensor, *, with_gradient: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        self._check_input(x)
        n, total = x.shape[0], sum(self.hidden_sizes)
        stacked, bias = self._stacked_input_weights()
        xm = x @ stacked                                          # one matmul for every input layer
        u = xm[:, : self.rank * total].view(n, self.rank, total)  # ⟨x, F[:, r, o]⟩
        q = u.square().sum(dim=1) + xm[:, self.rank * total:] + bias
        qs = q.split(self.hidden_sizes, dim=1)

        # Forward through the convexity-preserving block, keeping σ'(a_k) for the gradient.
        z, slopes = qs[0], []
        for qk, convex in zip(qs[1:], self.convex_layers):
            a = convex(z) + qk
            if with_gradient:
                z, slope = self._act_and_derivative(a)
                slopes.append(slope)
            else:
                z = self._act(a)
        final = self.final_layer.weight  # (1, hK)
        value = (z @ final.t()).squeeze(-1) + 0.5 * self.strong_convexity * x.square().sum(dim=-1)
        if self.full_quadratic:
            lx = x @ self.quadratic_factor.t()                     # L x
            value = value + 0.5 * lx.square().sum(dim=-1) + x @ self.linear_term
        if not with_gradient:
            return value, None

        # Backward: δ_k = ∂ψ/∂q_k, a chain of small matmuls.
        deltas = []
        g = final.expand(n, -1)
        for k in range(len(self.convex_layers), 0, -1):
            delta = g * slopes[k - 1]
            deltas.append(delta)
            g = delta @ self.convex_layers[k - 1].weight
        deltas.append(g)
        delta_all = torch.cat(deltas[::-1], dim=1)                # (n, H)

        # ∇q_o(x) = 2 Σ_r u_{r,o} F[:, r, o] + W[o]: one matmul with the same stacked weights.
        coeff = torch.cat([(2.0 * u * delta_all.unsqueeze(1)).reshape(n, -1), delta_all], dim=1)
        grad = coeff @ stacked.t() + self.strong_convexity * x
        if self.full_quadratic:
            grad = grad + lx @ self.quadratic_factor + self.linear_term   # Lᵀ L x + c
        return value, grad
