"""A convolutional input-convex potential on flattened images, whose gradient maps one image style to another.

:class:`ConvICNN` follows the ConvICNN of "Wasserstein-2 Generative Networks" (A. Korotin, V. Egiazarian,
A. Asadulaev, A. Safin, E. Burnaev; ICLR 2021), §5.3 and App. B.3: a convex-quadratic convolutional input
layer, a hidden path of convolutions with non-negative weights and convex non-decreasing activations, and
linear skip connections from the input. It is a :class:`~monge.nets.Potential` over R^D with
D = C·H·W, so every W2 solver that accepts custom potentials (``W2GN(forward_potential=...,
inverse_potential=...)``) can train it on flattened images.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.nets.base import Potential, register_network

ACTIVATIONS = ("celu", "softplus")


@register_network
class ConvICNN(Potential):
    """Convolutional input-convex network ψ on images flattened to vectors (Korotin et al., ICLR 2021, App. B.3).

    With ``channels = [c0, c1, …, cK]``, an input x of shape ``image_shape = (C, H, W)`` and x_k the input
    average-pooled to the spatial size of layer k::

        z0 = A0 * x + (Q0 * x)²                         convex-quadratic input layer (no activation)
        zk = σ(Pk * z_{k-1} + Ak * x_k)                 k = 1..K; Pk ≥ 0, stride 2 (halves H and W)
        ψ(x) = Σ_c w_c · mean_{h,w} zK[c] + ⟨a, x⟩ + (β/2)‖x‖²     w ≥ 0, β = exp(log β) > 0

    ``*`` is a 2-D convolution with ``kernel_size`` × ``kernel_size`` kernels ("same" zero padding); A_k, Q0
    and ``a`` are unconstrained (affine in x), the hidden-path kernels P_k and the output weights w are kept
    non-negative by :meth:`convexify` (called at construction and by the solvers after each step), and σ is
    CELU (α = 1) or softplus: convex and non-decreasing. ψ is then convex in x. Average pooling is linear,
    so the skip connections A_k x_k stay affine in x.

    β starts at ``quadratic_strength`` and the rest of the network starts small (``init_scale``), so the map
    ∇ψ starts near β·x: with the default β = 1 it is close to the identity map, and W2GN needs no identity
    pre-training for it. With ``learn_quadratic=True`` β is trained (as log β, so it stays positive), which
    lets the map contract as well as expand. The input gradient comes from autograd (the
    :class:`~monge.nets.Potential` default): training a loss of ∇ψ uses a double backward.

    Args:
        image_shape: ``(C, H, W)`` of the images; the potential's dimension is ``dim = C·H·W``.
        channels: ``[c0, …, cK]`` channel counts (default ``(16, 32, 32)``); c0 is the input layer's width,
            each further entry one stride-2 hidden layer. At least one entry.
        kernel_size: odd kernel size of every convolution (default 3).
        activation: ``"celu"`` (default, as in the paper) or ``"softplus"``.
        quadratic_strength: initial β of the (β/2)‖x‖² term (default 1.0: the map starts near the identity).
        learn_quadratic: train β (default True); otherwise β stays fixed.
        init_scale: scale of the initial weights (default 0.1): input convolutions are drawn from
            N(0, init_scale²/fan_in), hidden kernels from U(0, 2/fan_in) (an averaging path of gain 1),
            output weights from |N(0, init_scale²)|/c_K, biases and ``a`` start at 0.
        generator: ``torch.Generator`` for the initial weights. Without one a fresh generator seeded with 0
            is used, so the global RNG is never touched.
        dtype: of the parameters.
        device: of the parameters.
    """

    is_convex = True

    def __init__(
        self,
        image_shape: Sequence[int],
        channels: Sequence[int] = (16, 32, 32),
        *,
        kernel_size: int = 3,
        activation: str = "celu",
        quadratic_strength: float = 1.0,
        learn_quadratic: bool = True,
        init_scale: float = 0.1,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        shape = tuple(image_shape) if isinstance(image_shape, (list, tuple)) else ()
        if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
            raise InvalidInputError(f"ConvICNN: image_shape must be three positive integers (C, H, W), "
                                    f"got {image_shape!r}")
        channels = [int(c) for c in channels]
        if not channels or min(channels) <= 0:
            raise InvalidInputError(f"ConvICNN: channels must be a non-empty list of positive integers, got {channels}")
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size <= 0 or kernel_size % 2 == 0:
            raise InvalidInputError(f"ConvICNN: kernel_size must be a positive odd integer, got {kernel_size!r}")
        if activation not in ACTIVATIONS:
            raise InvalidInputError(f"ConvICNN: activation must be one of {ACTIVATIONS}, got {activation!r}")
        if not (quadratic_strength > 0 and math.isfinite(quadratic_strength)):
            raise InvalidInputError(f"ConvICNN: quadratic_strength must be finite and > 0, got {quadratic_strength}")
        if not (init_scale >= 0 and math.isfinite(init_scale)):
            raise InvalidInputError(f"ConvICNN: init_scale must be finite and >= 0, got {init_scale}")
        self.image_shape = shape
        self.dim = shape[0] * shape[1] * shape[2]
        self.channels, self.kernel_size, self.activation = channels, kernel_size, activation
        self.quadratic_strength, self.learn_quadratic = float(quadratic_strength), bool(learn_quadratic)
        self.init_scale = float(init_scale)

        c_in, k = shape[0], kernel_size
        # Parameters are created empty (no random draws) and initialised by reset_parameters(generator).
        self.input_linear = nn.Parameter(torch.empty(channels[0], c_in, k, k))
        self.input_bias = nn.Parameter(torch.empty(channels[0]))
        self.input_quadratic = nn.Parameter(torch.empty(channels[0], c_in, k, k))
        self.hidden_weights = nn.ParameterList(
            nn.Parameter(torch.empty(c_out, c_prev, k, k)) for c_prev, c_out in zip(channels[:-1], channels[1:]))
        self.hidden_biases = nn.ParameterList(nn.Parameter(torch.empty(c)) for c in channels[1:])
        self.skip_weights = nn.ParameterList(nn.Parameter(torch.empty(c, c_in, k, k)) for c in channels[1:])
        self.output_weight = nn.Parameter(torch.empty(channels[-1]))
        self.linear_term = nn.Parameter(torch.empty(self.dim))
        log_beta = torch.empty(())
        if self.learn_quadratic:
            self.log_beta = nn.Parameter(log_beta)
        else:
            self.register_buffer("log_beta", log_beta)
        self.to(dtype=dtype, device=device)
        self.reset_parameters(generator)

    # ------------------------------------------------------------------ set-up
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw the initial weights from ``generator`` (see the class docstring), then convexify."""
        if generator is None:
            generator = torch.Generator().manual_seed(0)

        def draw(shape: Sequence[int], like: torch.Tensor, kind: str) -> torch.Tensor:
            fn = torch.randn if kind == "normal" else torch.rand
            return fn(tuple(shape), generator=generator, dtype=like.dtype, device=generator.device).to(like.device)

        k2 = self.kernel_size ** 2
        with torch.no_grad():
            fan_in = self.image_shape[0] * k2
            for p in (self.input_linear, self.input_quadratic, *self.skip_weights):
                p.copy_(draw(p.shape, p, "normal") * (self.init_scale / math.sqrt(fan_in)))
            for w in self.hidden_weights:
                w.copy_(draw(w.shape, w, "uniform") * (2.0 / (w.shape[1] * k2)))
            self.output_weight.copy_(draw(self.output_weight.shape, self.output_weight, "normal").abs()
                                     * (self.init_scale / self.channels[-1]))
            self.input_bias.zero_()
            for b in self.hidden_biases:
                b.zero_()
            self.linear_term.zero_()
            self.log_beta.fill_(math.log(self.quadratic_strength))
        self.convexify()

    def convexify(self) -> None:
        """Clamp the hidden-path kernels P_k and the output weights w to be non-negative."""
        with torch.no_grad():
            for w in self.hidden_weights:
                w.clamp_(min=0)
            self.output_weight.clamp_(min=0)

    def config(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "image_shape": list(self.image_shape),
            "channels": list(self.channels),
            "kernel_size": self.kernel_size,
            "activation": self.activation,
            "quadratic_strength": self.quadratic_strength,
            "learn_quadratic": self.learn_quadratic,
            "init_scale": self.init_scale,
        }

    def extra_repr(self) -> str:
        return (f"image_shape={self.image_shape}, channels={self.channels}, kernel_size={self.kernel_size}, "
                f"activation={self.activation}, beta={float(self.beta.detach()):.4g}")

    @property
    def beta(self) -> torch.Tensor:
        """The current strength β of the (β/2)‖x‖² term."""
        return self.log_beta.exp()

    # ------------------------------------------------------------------ evaluation
    def _act(self, a: torch.Tensor) -> torch.Tensor:
        return torch.celu(a) if self.activation == "celu" else F.softplus(a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ψ(x) for flattened images ``x`` of shape (n, C·H·W); returns shape (n,)."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise DimensionMismatchError(f"ConvICNN expects inputs of shape (n, {self.dim}) (images "
                                         f"{self.image_shape} flattened), got {tuple(x.shape)}")
        pad = self.kernel_size // 2
        images = x.reshape(-1, *self.image_shape)
        z = (F.conv2d(images, self.input_linear, self.input_bias, padding=pad)
             + F.conv2d(images, self.input_quadratic, padding=pad).square())
        for weight, bias, skip in zip(self.hidden_weights, self.hidden_biases, self.skip_weights):
            hidden = F.conv2d(z, weight, bias, stride=2, padding=pad)
            pooled = F.adaptive_avg_pool2d(images, hidden.shape[-2:])
            z = self._act(hidden + F.conv2d(pooled, skip, padding=pad))
        value = z.mean(dim=(2, 3)) @ self.output_weight
        return value + x @ self.linear_term + 0.5 * self.beta * x.square().sum(dim=1)
