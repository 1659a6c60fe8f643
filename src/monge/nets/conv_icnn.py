"""Convolutional input-convex potentials on flattened images, whose gradient maps one image style to another.

Two designs, both :class:`~monge.nets.Potential` s over R^D with D = C·H·W, so every W2 solver that accepts
custom potentials (``W2GN(forward_potential=..., inverse_potential=...)``) can train them on flattened images:

- :class:`W2GNConvICNN` is the ConvICNN of "Wasserstein-2 Generative Networks" (A. Korotin, V. Egiazarian,
  A. Asadulaev, A. Safin, E. Burnaev; ICLR 2021), §5.3 and App. B.3 (``ConvICNN128`` in the authors' code): a
  convex-quadratic input block of two deep linear convolution stacks, then a convex block of stride-2
  convolutions and dense layers with non-negative weights; only the input block sees x. It has an explicit
  input gradient (a hand-written backward through the convolutions).
- :class:`ConvICNN` is monge's smaller design in the same spirit ("pooled-skips"): one convex-quadratic input
  convolution, stride-2 convolutions with non-negative kernels, and linear skip convolutions from the
  average-pooled input into every layer. Its input gradient comes from autograd.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.nets.base import Potential, register_network
from monge.nets.icnn import activation as _activation
from monge.nets.icnn import activation_and_slope

ACTIVATIONS = ("celu", "softplus")
"""The convolutional ICNNs' activations: CELU (α = 1, W2GN's) and softplus, both smooth, convex and non-decreasing."""


def _check_image_shape(owner: str, image_shape: Any) -> tuple[int, int, int]:
    shape = tuple(image_shape) if isinstance(image_shape, (list, tuple)) else ()
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise InvalidInputError(f"{owner}: image_shape must be three positive integers (C, H, W), got {image_shape!r}")
    return shape  # type: ignore[return-value]


def _check_common(owner: str, kernel_size: Any, activation: str, init_scale: float) -> None:
    """The options both convolutional ICNNs share."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size <= 0 or kernel_size % 2 == 0:
        raise InvalidInputError(f"{owner}: kernel_size must be a positive odd integer, got {kernel_size!r}")
    if activation not in ACTIVATIONS:
        raise InvalidInputError(f"{owner}: activation must be one of {ACTIVATIONS}, got {activation!r}")
    if not (init_scale >= 0 and math.isfinite(init_scale)):
        raise InvalidInputError(f"{owner}: init_scale must be finite and >= 0, got {init_scale}")


def _as_images(net: Any, x: torch.Tensor) -> torch.Tensor:
    """Flattened images (n, C·H·W) → (n, C, H, W), or a DimensionMismatchError naming the expected shape."""
    if x.ndim != 2 or x.shape[1] != net.dim:
        raise DimensionMismatchError(f"{type(net).__name__} expects inputs of shape (n, {net.dim}) (images "
                                     f"{net.image_shape} flattened), got {tuple(x.shape)}")
    return x.reshape(-1, *net.image_shape)


def _register_scalar(module: nn.Module, name: str, learn: bool) -> None:
    """An empty scalar ``module.<name>``: a parameter if ``learn``, else a buffer (saved with the weights either way)."""
    if learn:
        setattr(module, name, nn.Parameter(torch.empty(())))
    else:
        module.register_buffer(name, torch.empty(()))


def _drawer(generator: torch.Generator | None) -> Any:
    """``draw(shape, like, kind)``: normal or uniform noise from ``generator`` (a fresh one seeded with 0 if None,
    so the global RNG is never touched), on ``like``'s dtype and device."""
    if generator is None:
        generator = torch.Generator().manual_seed(0)

    def draw(shape: Sequence[int], like: torch.Tensor, kind: str) -> torch.Tensor:
        fn = torch.randn if kind == "normal" else torch.rand
        return fn(tuple(shape), generator=generator, dtype=like.dtype, device=generator.device).to(like.device)

    return draw


@register_network
class ConvICNN(Potential):
    """Convolutional input-convex network ψ on images flattened to vectors, with pooled input skips (monge's
    "pooled-skips" design, after Korotin et al., ICLR 2021, App. B.3; :class:`W2GNConvICNN` is the paper's own).

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
        shape = _check_image_shape("ConvICNN", image_shape)
        channels = [int(c) for c in channels]
        if not channels or min(channels) <= 0:
            raise InvalidInputError(f"ConvICNN: channels must be a non-empty list of positive integers, got {channels}")
        _check_common("ConvICNN", kernel_size, activation, init_scale)
        if not (quadratic_strength > 0 and math.isfinite(quadratic_strength)):
            raise InvalidInputError(f"ConvICNN: quadratic_strength must be finite and > 0, got {quadratic_strength}")
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
        _register_scalar(self, "log_beta", self.learn_quadratic)
        self.to(dtype=dtype, device=device)
        self.reset_parameters(generator)

    # ------------------------------------------------------------------ set-up
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw the initial weights from ``generator`` (see the class docstring), then convexify."""
        draw = _drawer(generator)
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
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ψ(x) for flattened images ``x`` of shape (n, C·H·W); returns shape (n,)."""
        images = _as_images(self, x)
        pad = self.kernel_size // 2
        z = (F.conv2d(images, self.input_linear, self.input_bias, padding=pad)
             + F.conv2d(images, self.input_quadratic, padding=pad).square())
        for weight, bias, skip in zip(self.hidden_weights, self.hidden_biases, self.skip_weights):
            hidden = F.conv2d(z, weight, bias, stride=2, padding=pad)
            pooled = F.adaptive_avg_pool2d(images, hidden.shape[-2:])
            z = _activation(self.activation, hidden + F.conv2d(pooled, skip, padding=pad))
        value = z.mean(dim=(2, 3)) @ self.output_weight
        return value + x @ self.linear_term + 0.5 * self.beta * x.square().sum(dim=1)


def _downsamplings(height: int, width: int) -> int:
    """Stride-2 convolutions (each maps a side s to ⌈s/2⌉) until the height or the width is at most 4."""
    count = 0
    while height > 4 and width > 4:
        height, width, count = (height + 1) // 2, (width + 1) // 2, count + 1
    return count


@register_network
class W2GNConvICNN(Potential):
    """The convolutional ICNN of Korotin et al. ("Wasserstein-2 Generative Networks", ICLR 2021, App. B.3).

    ψ over images x of shape ``image_shape = (C, H, W)``, flattened to vectors::

        z0 = L(x) + S(x)²                          input block: L, S deep linear conv stacks, square elementwise
        h0 = σ(z0)
        hk = σ(Pk * h_{k-1} + bk)                  k = 1..K: stride-2 convolutions, Pk ≥ 0
        v  = flatten(hK);  vj = σ(Dj v_{j-1} + cj)   dense layers of ``dense_widths``, Dj ≥ 0
        ψ(x) = w · v_J + c + ½(β + γ)‖x‖²          w ≥ 0, β = ``strong_convexity`` (fixed), γ ≥ 0

    L and S are each ``input_depth`` ``kernel_size`` × ``kernel_size`` convolutions of ``width`` channels with
    "same" zero padding and no activation between them (deep linear maps; only L's last convolution has a bias),
    so z0 is convex in x. The convex block — the stride-2 convolutions P_k (with biases) and the dense layers
    D_j, w (with biases) — has the non-negative weights that keep ψ convex; σ is CELU (α = 1, the paper's) or
    softplus, convex and non-decreasing. Only the input block sees x: there are no skip connections from the
    input further on (the paper's convex skip structure). :meth:`convexify` clamps P_k, D_j, w and γ to be
    non-negative and touches nothing else (it is called at construction and by the solvers after each step).
    K, the number of stride-2 convolutions (each halves H and W, rounding up), is by default the number needed
    to bring H or W down to at most 4: five for the paper's 128 × 128 images (ending at 4 × 4), one for 8 × 8.

    Differences from the authors' ``ConvICNN128``: it hard-codes 128 channels, five downsamplings and no
    quadratic term, and applies CELU twice in a row before the first dense layer (this class applies it once);
    the ½(β + γ)‖x‖² term and the initialisation below are monge's.

    **Identity start.** γ (learnable, ≥ 0) starts at ``quadratic_strength`` = 1 and the network starts small
    (``init_scale``), so ∇ψ starts near (1 + β)·x: W2GN needs no identity pre-training (it skips it for custom
    potentials). γ can shrink during training, so the map can contract. With ``quadratic_strength=0`` and
    ``learn_quadratic=False`` the potential is the paper's network plus the fixed (β/2)‖x‖²; ∇ψ then starts far
    from the identity and should be pre-trained to it before W2GN.

    **Explicit gradient.** :meth:`value_and_gradient` computes ψ and ∇ψ with explicit forward operations: the
    forward pass keeps σ'(·) of every layer, and a hand-written backward runs the transposed convolutions
    (``conv_transpose2d``) and the transposed dense layers back to x. It is built from differentiable operations,
    so a loss of ∇ψ trains with a single backward (no double backward). :meth:`autograd_value_and_gradient` is the
    autograd reference. L and S run as one grouped convolution chain of 2·``width`` channels (the first layer
    ungrouped), and their transposes likewise.

    Args:
        image_shape: ``(C, H, W)`` of the images; the potential's dimension is ``dim = C·H·W``.
        width: channels of every convolution (default 128, the paper's; on a CPU pass something smaller).
        input_depth: convolutions in each of L and S (default 4, the paper's).
        dense_widths: widths of the hidden dense layers before the final one to 1 (default ``(128, 64, 32)``,
            the paper's; may be empty).
        downsamplings: K, the number of stride-2 convolutions (default None: derived from ``image_shape`` as
            above; 0 is allowed).
        kernel_size: odd kernel size of every convolution (default 3, the paper's).
        activation: ``"celu"`` (default, the paper's) or ``"softplus"``.
        strong_convexity: β ≥ 0 of the fixed part of the quadratic term (default 1e-4, W2GN's default for
            its dense ICNNs): ψ is β-strongly convex whatever the training does.
        quadratic_strength: initial γ ≥ 0 of the learnable part (default 1.0: the map starts near the identity).
        learn_quadratic: train γ (default True; it is kept ≥ 0 by :meth:`convexify`); otherwise it stays fixed.
        init_scale: scale of the initial weights (default 0.1). The input block's convolutions are drawn from
            N(0, 1/fan_in) (a variance-preserving deep linear map) except the last of L and of S, drawn from
            N(0, init_scale²/fan_in); the convex block's convolutions and hidden dense weights from U(0, 2/fan_in)
            (an averaging path of gain 1); the final weights w from |N(0, init_scale²)|/fan_in; biases start at 0.
        generator: ``torch.Generator`` for the initial weights. Without one a fresh generator seeded with 0 is
            used, so the global RNG is never touched.
        dtype: of the parameters.
        device: of the parameters.
    """

    is_convex = True

    def __init__(
        self,
        image_shape: Sequence[int],
        *,
        width: int = 128,
        input_depth: int = 4,
        dense_widths: Sequence[int] = (128, 64, 32),
        downsamplings: int | None = None,
        kernel_size: int = 3,
        activation: str = "celu",
        strong_convexity: float = 1e-4,
        quadratic_strength: float = 1.0,
        learn_quadratic: bool = True,
        init_scale: float = 0.1,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        owner = "W2GNConvICNN"
        shape = _check_image_shape(owner, image_shape)

        def positive_int(value: Any) -> bool:
            return isinstance(value, int) and not isinstance(value, bool) and value > 0

        for name, value in (("width", width), ("input_depth", input_depth)):
            if not positive_int(value):
                raise InvalidInputError(f"{owner}: {name} must be a positive integer, got {value!r}")
        dense_widths = list(dense_widths) if isinstance(dense_widths, (list, tuple)) else dense_widths
        if not isinstance(dense_widths, list) or not all(positive_int(d) for d in dense_widths):
            raise InvalidInputError(f"{owner}: dense_widths must be a list of positive integers, got {dense_widths!r}")
        if downsamplings is None:
            downsamplings = _downsamplings(shape[1], shape[2])
        elif isinstance(downsamplings, bool) or not isinstance(downsamplings, int) or downsamplings < 0:
            raise InvalidInputError(f"{owner}: downsamplings must be None or an integer >= 0, got {downsamplings!r}")
        _check_common(owner, kernel_size, activation, init_scale)
        for name, value in (("strong_convexity", strong_convexity), ("quadratic_strength", quadratic_strength)):
            if not (value >= 0 and math.isfinite(value)):
                raise InvalidInputError(f"{owner}: {name} must be finite and >= 0, got {value}")
        self.image_shape = shape
        self.dim = shape[0] * shape[1] * shape[2]
        self.width, self.input_depth, self.dense_widths = width, input_depth, dense_widths
        self.downsamplings, self.kernel_size, self.activation = downsamplings, kernel_size, activation
        self.strong_convexity, self.quadratic_strength = float(strong_convexity), float(quadratic_strength)
        self.learn_quadratic, self.init_scale = bool(learn_quadratic), float(init_scale)

        k, height, wide = kernel_size, shape[1], shape[2]
        for _ in range(downsamplings):
            height, wide = (height + 1) // 2, (wide + 1) // 2
        self.flat_features = width * height * wide
        # Parameters are created empty (no random draws) and initialised by reset_parameters(generator).
        # input_weights[i] stacks L's i-th kernel (output channels :width) over S's (width:).
        self.input_weights = nn.ParameterList(
            nn.Parameter(torch.empty(2 * width, shape[0] if i == 0 else width, k, k)) for i in range(input_depth))
        self.input_bias = nn.Parameter(torch.empty(width))
        self.conv_weights = nn.ParameterList(nn.Parameter(torch.empty(width, width, k, k)) for _ in range(downsamplings))
        self.conv_biases = nn.ParameterList(nn.Parameter(torch.empty(width)) for _ in range(downsamplings))
        sizes = [self.flat_features, *dense_widths, 1]
        self.dense_weights = nn.ParameterList(nn.Parameter(torch.empty(o, i)) for i, o in zip(sizes[:-1], sizes[1:]))
        self.dense_biases = nn.ParameterList(nn.Parameter(torch.empty(o)) for o in sizes[1:])
        _register_scalar(self, "quadratic", self.learn_quadratic)
        self.to(dtype=dtype, device=device)
        self.reset_parameters(generator)

    # ------------------------------------------------------------------ set-up
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw the initial weights from ``generator`` (see the class docstring), then convexify."""
        draw = _drawer(generator)
        with torch.no_grad():
            for i, w in enumerate(self.input_weights):
                gain = self.init_scale if i == self.input_depth - 1 else 1.0
                fan_in = w.shape[1] * w.shape[2] * w.shape[3]
                w.copy_(draw(w.shape, w, "normal") * (gain / math.sqrt(fan_in)))
            for w in (*self.conv_weights, *list(self.dense_weights)[:-1]):
                fan_in = w[0].numel()
                w.copy_(draw(w.shape, w, "uniform") * (2.0 / fan_in))
            final = self.dense_weights[-1]
            final.copy_(draw(final.shape, final, "normal").abs() * (self.init_scale / final.shape[1]))
            for b in (self.input_bias, *self.conv_biases, *self.dense_biases):
                b.zero_()
            self.quadratic.fill_(self.quadratic_strength)
        self.convexify()

    def convexify(self) -> None:
        """Clamp the convex block's weights (the stride-2 kernels P_k and the dense weights D_j and w) and γ to be
        non-negative; the input block and all biases are left alone."""
        with torch.no_grad():
            for w in (*self.conv_weights, *self.dense_weights):
                w.clamp_(min=0)
            self.quadratic.clamp_(min=0)

    def config(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "image_shape": list(self.image_shape),
            "width": self.width,
            "input_depth": self.input_depth,
            "dense_widths": list(self.dense_widths),
            "downsamplings": self.downsamplings,
            "kernel_size": self.kernel_size,
            "activation": self.activation,
            "strong_convexity": self.strong_convexity,
            "quadratic_strength": self.quadratic_strength,
            "learn_quadratic": self.learn_quadratic,
            "init_scale": self.init_scale,
        }

    def extra_repr(self) -> str:
        return (f"image_shape={self.image_shape}, width={self.width}, input_depth={self.input_depth}, "
                f"downsamplings={self.downsamplings}, dense_widths={self.dense_widths}, activation={self.activation}, "
                f"beta={float(self.beta.detach()):.4g}")

    @property
    def beta(self) -> torch.Tensor:
        """The current strength β + γ of the ½(β + γ)‖x‖² term."""
        return self.quadratic + self.strong_convexity

    # ------------------------------------------------------------------ evaluation
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ψ(x) for flattened images ``x`` of shape (n, C·H·W); returns shape (n,)."""
        return self._evaluate(x, with_gradient=False)[0]

    def value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ψ(x) (shape (n,)) and ∇ψ(x) (shape (n, C·H·W)) by explicit forward operations (see the class docstring)."""
        return self._evaluate(x, with_gradient=True)  # type: ignore[return-value]

    def _evaluate(self, x: torch.Tensor, *, with_gradient: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        images = _as_images(self, x)
        pad, width = self.kernel_size // 2, self.width
        slopes: list[torch.Tensor] = []

        def act(a: torch.Tensor) -> torch.Tensor:
            if not with_gradient:
                return _activation(self.activation, a)
            out, slope = activation_and_slope(self.activation, a)
            slopes.append(slope)
            return out

        u = images
        for i, w in enumerate(self.input_weights):     # L and S as one chain: groups=2 after the first layer
            u = F.conv2d(u, w, padding=pad, groups=1 if i == 0 else 2)
        squared = u[:, width:]
        h = act(u[:, :width] + self.input_bias[:, None, None] + squared.square())
        sizes = [h.shape[-2:]]
        for w, b in zip(self.conv_weights, self.conv_biases):
            h = act(F.conv2d(h, w, b, stride=2, padding=pad))
            sizes.append(h.shape[-2:])
        v = h.flatten(1)
        *hidden, final = self.dense_weights
        *hidden_biases, final_bias = self.dense_biases
        for w, b in zip(hidden, hidden_biases):
            v = act(F.linear(v, w, b))
        value = F.linear(v, final, final_bias).squeeze(-1) + 0.5 * self.beta * x.square().sum(dim=1)
        if not with_gradient:
            return value, None

        # Backward by hand: g = ∂ψ/∂(the current layer's output), from the last layer to x.
        g = final.expand(x.shape[0], -1)
        for w in reversed(hidden):
            g = (g * slopes.pop()) @ w
        g = g.reshape(h.shape)
        for w, size in zip(reversed(list(self.conv_weights)), reversed(sizes[:-1])):
            a_grad = g * slopes.pop()
            expected = ((a_grad.shape[-2] - 1) * 2 - 2 * pad + self.kernel_size,
                        (a_grad.shape[-1] - 1) * 2 - 2 * pad + self.kernel_size)
            g = F.conv_transpose2d(a_grad, w, stride=2, padding=pad,
                                   output_padding=(size[0] - expected[0], size[1] - expected[1]))
        g = g * slopes.pop()                              # ∂ψ/∂z0, then through L(x) and S(x)² to x
        g = torch.cat([g, 2.0 * squared * g], dim=1)
        for i in range(self.input_depth - 1, -1, -1):
            g = F.conv_transpose2d(g, self.input_weights[i], padding=pad, groups=1 if i == 0 else 2)
        return value, g.reshape(x.shape[0], -1) + self.beta * x
