"""W2GN: Wasserstein-2 Generative Networks.

Korotin, Egiazarian, Asadulaev, Safin, Burnaev. "Wasserstein-2 Generative Networks", ICLR 2021
(arXiv:1909.13082). Algorithm 1 and App. C.1; defaults from the authors' W2 benchmark notebooks
("Do Neural Optimal Transport Solvers Work?", NeurIPS 2021, ``W2_test_hd_benchmark``).

Two input-convex potentials: ψθ (forward map ∇ψθ: P → Q) and ψ̄ω (inverse map ∇ψ̄ω: Q → P). With
ỹ = ∇ψ̄ω(y) the loss is::

    E_P ψθ(x) + E_Q[⟨ỹ, y⟩ − ψθ(ỹ)] + (λ/2)·E_Q‖∇ψθ(ỹ) − y‖²  [+ (λ_X/2)·E_P‖∇ψ̄ω(∇ψθ(x)) − x‖²]

No minimax. The stop-gradient heuristic of the paper: ỹ is treated as a constant in the correlation
term (its ω-gradient vanishes at the optimum by the envelope theorem), so ψ̄ω is trained by the cycle
regulariser alone; ψθ by both terms. After each Adam step the potentials are convexified (their
non-negative weights clamped). Before training, ψθ is pre-trained to the identity map (mean squared
error on N(m, (3σ)²) noise matched to the data) and copied into ψ̄ω.

The input gradient ∇ψ is computed by the networks' explicit formula (one backward pass per step, see
:class:`monge.nets.DenseICNN`); ``explicit_gradient=False`` uses autograd's double backward instead.
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import numpy as np
import torch

from monge._bures import bures_map, streamed_moments
from monge.errors import DimensionMismatchError, InvalidInputError
from monge.nets.base import Potential
from monge.nets.conv_icnn import ConvICNN
from monge.nets.icnn import DenseICNN
from monge.nets.mlp import MLPPotential
from monge.solvers.base import Callback, W2Result, W2Solver, register_solver
from monge.solvers.common import (adam, check_choice, check_hidden_sizes, check_nonnegative, check_positive, compiled_or_eager,
                                  draw, prepare_data, pretrain_as_configured, seeded, update_if_finite)
from monge.solvers.loop import run_w2_training


def gaussian_init_samples(dim: int) -> int:
    """Samples per side whose moments give ``init="gaussian"``: 128 per dimension, at least 4096."""
    return max(4096, 128 * dim)


def default_hidden_sizes(dim: int) -> list[int]:
    """The W2 benchmark's DenseICNN widths: ``[max(2D, 64), max(2D, 64), max(D, 32)]``."""
    return [max(2 * dim, 64), max(2 * dim, 64), max(dim, 32)]


@register_solver("w2gn")
class W2GN(W2Solver):
    """Wasserstein-2 Generative Networks (Korotin et al., ICLR 2021): two ICNNs, correlation loss and
    cycle-consistency regulariser, no minimax.

    Args:
        potential: ``"icnn"`` (DenseICNN, the paper), ``"mlp"`` (a non-convex :class:`~monge.nets.MLPPotential`
            with ½‖x‖² added, gradient by autograd: the architecture study of what convexity buys) or
            ``"conv-icnn"`` (:class:`~monge.nets.ConvICNN` on flattened images of ``image_shape``, the paper's
            image experiments; it starts near the identity map, so there is no identity pre-training).
        hidden_sizes: network widths; default :func:`default_hidden_sizes` (benchmark setting). With
            ``potential="conv-icnn"``: the ConvICNN's channels (default (16, 32, 32)).
        image_shape: ``(C, H, W)`` of the images for ``potential="conv-icnn"``; by default the source sampler's
            ``image_shape`` (the image pairs of :mod:`monge.pairs.images` carry one).
        rank: rank of the convex-quadratic input layers (1, W2GN's "modified ICNN"; 0 = linear input layers,
            the original ICNN of Amos, Xu & Kolter, ICML 2017).
        activation: ``"celu"`` (paper), ``"softplus"`` or ``"relu"`` (with an ICNN, a discontinuous gradient map
            that can tear the support, W2GN App. B.2).
        strong_convexity: β of both potentials (1e-4, benchmark notebooks).
        init_std: std of the initial weights (0.05 = 1/20 as in the W2GN code; the W2 benchmark's DenseICNN
            uses 0.1, which with ``cycle_weight_x=2`` trains far better on its D = 32 pair: see docs/benchmarks.md).
        lr: Adam learning rate for both potentials (1e-3).
        betas: Adam betas (PyTorch default (0.9, 0.999), as in the benchmark notebooks).
        lr_decay: anneal the learning rate to 1 % of ``lr`` over ``steps`` with a cosine schedule (monge's
            addition, off by default as in the paper; it steadies the final map when the budget is fixed).
        cycle_weight: λ of the cycle term (λ/2)·E‖∇ψθ(∇ψ̄ω(y)) − y‖². The default 2.0 equals the
            benchmark notebooks' ``LAMBDA = D`` applied to a per-coordinate mean.
        cycle_weight_x: λ_X of the optional second cycle term R_X on source samples (0 = off, as in the
            paper's Algorithm 1; the W2 benchmark notebooks use both terms, i.e. ``cycle_weight_x=2.0``).
        l1_penalty: weight of an L1 penalty on all parameters (0 = off; the W2GN code uses 1e-10).
        stop_gradient: use the paper's stop-gradient heuristic (True).
        pretrain_steps: maximum identity pre-training steps (0 = none; default 1000).
        pretrain_tol: pre-training stops once the mean squared error E‖∇ψθ(x) − x‖² drops below this.
        pretrain_blow: pre-training noise is N(m, (blow·σ)²) with m, σ the mean and RMS spread of a
            source+target batch (the benchmark pre-trains on 3·N(0, I) for standardised data).
        explicit_gradient: compute ∇ψ with the networks' explicit formula instead of autograd.
        compile: compile the loss (forward and backward) with ``torch.compile`` (opt-in: the first step
            then pays a compilation of 10–20 s on CPU; falls back to eager with a warning if it fails).
        full_quadratic: give both DenseICNNs a learnable full-rank quadratic part ½‖Lx‖² + ⟨c, x⟩ (False; see
            :class:`~monge.nets.DenseICNN`): affine maps, Gaussian OT maps included, become exactly representable.
        init: ``"identity"`` (the paper: pre-train ∇ψθ to the identity, copy it into ψ̄ω) or ``"gaussian"``
            (monge's addition, implies ``full_quadratic``): start ∇ψθ at the Gaussian (Bures) OT map between the
            moments of ``init_samples`` samples of each side and ∇ψ̄ω at its inverse, no pre-training. Counted in
            the training time. In high dimension this is what makes W2GN accurate within CPU minutes on
            Gaussian-like data (docs/benchmarks.md, "W2GN's Table 1").
        init_samples: samples per side for ``init="gaussian"`` (default :func:`gaussian_init_samples`: 128·D, at
            least 4096).
        forward_potential: use this potential instead of building a DenseICNN (any
            :class:`~monge.nets.Potential`; convexify() is called after each step).
        inverse_potential: the same for the inverse potential.
    """

    paper = ("A. Korotin, V. Egiazarian, A. Asadulaev, A. Safin, E. Burnaev. Wasserstein-2 Generative "
             "Networks. ICLR 2021. arXiv:1909.13082")
    smoke_options = {"hidden_sizes": [16, 16, 8], "pretrain_steps": 30}

    def __init__(
        self,
        *,
        potential: str = "icnn",
        hidden_sizes: Sequence[int] | None = None,
        image_shape: Sequence[int] | None = None,
        rank: int = 1,
        activation: str = "celu",
        strong_convexity: float = 1e-4,
        init_std: float = 0.05,
        lr: float = 1e-3,
        betas: Sequence[float] = (0.9, 0.999),
        lr_decay: bool = False,
        cycle_weight: float = 2.0,
        cycle_weight_x: float = 0.0,
        l1_penalty: float = 0.0,
        stop_gradient: bool = True,
        pretrain_steps: int = 1000,
        pretrain_tol: float = 1e-3,
        pretrain_blow: float = 3.0,
        explicit_gradient: bool = True,
        compile: bool = False,
        full_quadratic: bool = False,
        init: str = "identity",
        init_samples: int | None = None,
        forward_potential: Potential | None = None,
        inverse_potential: Potential | None = None,
    ):
        check_nonnegative("W2GN", cycle_weight=cycle_weight, cycle_weight_x=cycle_weight_x, l1_penalty=l1_penalty,
                          pretrain_tol=pretrain_tol, pretrain_blow=pretrain_blow)
        check_positive("W2GN", lr=lr)
        self.potential = check_choice("W2GN", "potential", potential, ("icnn", "mlp", "conv-icnn"))
        if image_shape is not None and (not isinstance(image_shape, (list, tuple)) or len(image_shape) != 3 or not all(
                isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in image_shape)):
            raise InvalidInputError(f"W2GN: image_shape must be three positive integers (C, H, W), got {image_shape!r}")
        self.image_shape = None if image_shape is None else [int(s) for s in image_shape]
        if isinstance(pretrain_steps, bool) or not isinstance(pretrain_steps, int) or pretrain_steps < 0:
            raise InvalidInputError(f"W2GN: pretrain_steps must be an integer >= 0, got {pretrain_steps!r}")
        if (forward_potential is None) != (inverse_potential is None):
            raise InvalidInputError("W2GN: pass both forward_potential and inverse_potential, or neither")
        self.hidden_sizes = check_hidden_sizes("W2GN", hidden_sizes)
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
            raise InvalidInputError(f"W2GN: rank must be an integer >= 0, got {rank!r}")
        self.rank, self.activation, self.strong_convexity, self.init_std = rank, activation, strong_convexity, init_std
        self.lr, self.betas, self.lr_decay = float(lr), tuple(float(b) for b in betas), bool(lr_decay)
        self.cycle_weight, self.cycle_weight_x, self.l1_penalty = float(cycle_weight), float(cycle_weight_x), float(l1_penalty)
        self.stop_gradient, self.explicit_gradient = bool(stop_gradient), bool(explicit_gradient)
        self.compile = bool(compile)
        self.pretrain_steps, self.pretrain_tol, self.pretrain_blow = pretrain_steps, float(pretrain_tol), float(pretrain_blow)
        self.forward_potential, self.inverse_potential = forward_potential, inverse_potential
        self.init = check_choice("W2GN", "init", init, ("identity", "gaussian"))
        if not isinstance(full_quadratic, bool):
            raise InvalidInputError(f"W2GN: full_quadratic must be True or False, got {full_quadratic!r}")
        self.full_quadratic = full_quadratic or self.init == "gaussian"
        if self.full_quadratic and self.potential != "icnn":
            raise InvalidInputError("W2GN: full_quadratic and init='gaussian' need potential='icnn'")
        if self.init == "gaussian" and forward_potential is not None:
            raise InvalidInputError("W2GN: init='gaussian' builds its own DenseICNNs; do not pass forward_potential")
        if init_samples is not None and (isinstance(init_samples, bool) or not isinstance(init_samples, int)
                                         or init_samples < 2):
            raise InvalidInputError(f"W2GN: init_samples must be an integer >= 2, got {init_samples!r}")
        self.init_samples = init_samples

    def settings(self) -> dict[str, Any]:
        return {
            "potential": self.potential, "hidden_sizes": self.hidden_sizes, "image_shape": self.image_shape,
            "rank": self.rank, "activation": self.activation,
            "strong_convexity": self.strong_convexity, "init_std": self.init_std, "lr": self.lr,
            "betas": list(self.betas), "lr_decay": self.lr_decay, "cycle_weight": self.cycle_weight, "cycle_weight_x": self.cycle_weight_x,
            "l1_penalty": self.l1_penalty, "stop_gradient": self.stop_gradient,
            "pretrain_steps": self.pretrain_steps, "pretrain_tol": self.pretrain_tol,
            "pretrain_blow": self.pretrain_blow, "explicit_gradient": self.explicit_gradient,
            "compile": self.compile, "full_quadratic": self.full_quadratic, "init": self.init,
            "init_samples": self.init_samples,
        }

    # ------------------------------------------------------------------ helpers
    def _value_and_gradient(self, net: Potential, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.explicit_gradient:
            return net.value_and_gradient(x)
        return net.autograd_value_and_gradient(x)

    def _build_networks(self, dim: int, dtype: torch.dtype, device: torch.device,
                        generator: torch.Generator | None, image_shape: Any = None) -> tuple[Potential, Potential]:
        if self.forward_potential is not None:
            for key, net in (("forward_potential", self.forward_potential), ("inverse_potential", self.inverse_potential)):
                if int(getattr(net, "dim", -1)) != dim:
                    raise DimensionMismatchError(f"W2GN: {key} has dimension {getattr(net, 'dim', '?')} but the data has {dim}")
            return self.forward_potential, self.inverse_potential
        if self.potential == "conv-icnn":
            shape = self.image_shape or (None if image_shape is None else [int(s) for s in image_shape])
            if shape is None:
                raise InvalidInputError("W2GN: potential='conv-icnn' needs image_shape=(C, H, W) (the source data "
                                        "carries none)")
            if math.prod(shape) != dim:
                raise DimensionMismatchError(f"W2GN: image_shape {tuple(shape)} has {math.prod(shape)} pixels but the "
                                             f"data has dimension {dim}")
            channels = self.hidden_sizes or [16, 32, 32]
            return tuple(ConvICNN(shape, channels, generator=generator, dtype=dtype, device=device)  # type: ignore[return-value]
                         for _ in range(2))
        sizes = self.hidden_sizes or default_hidden_sizes(dim)
        if self.potential == "mlp":
            def build() -> Potential:
                return MLPPotential(dim, sizes, activation=self.activation, quadratic=True)

            forward = seeded(build, generator).to(device=device, dtype=dtype)
            inverse = seeded(build, generator).to(device=device, dtype=dtype)
            return forward, inverse
        kwargs = dict(hidden_sizes=sizes, rank=self.rank, activation=self.activation,
                      strong_convexity=self.strong_convexity, init_std=self.init_std,
                      full_quadratic=self.full_quadratic, dtype=dtype, device=device)
        forward = DenseICNN(dim, generator=generator, **kwargs)
        inverse = DenseICNN(dim, generator=generator, **kwargs)
        return forward, inverse

    # ------------------------------------------------------------------ training
    def fit(self, source: Any, target: Any, *, steps: int, batch_size: int = 1024,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> W2Result:
        """Train ψθ and ψ̄ω for ``steps`` Adam steps on minibatches of ``batch_size`` from each side.

        Raises :class:`~monge.errors.TrainingDiverged` (with ``.result`` holding the last parameters
        whose loss was finite) when a loss is not finite.
        """
        source, target = prepare_data(source, target, steps, batch_size, generator)
        dim, dtype, device = source.dim, source.dtype, source.device

        psi, psi_bar = self._build_networks(dim, dtype, device, generator, getattr(source, "image_shape", None))
        psi.to(device=device, dtype=dtype)
        psi_bar.to(device=device, dtype=dtype)
        history: dict[str, list[float]] = {"loss": [], "cycle": [], "w2_dual": []}
        started = time.perf_counter()
        if self.init == "gaussian":
            # ∇ψ = the Bures map between the data's moments, ∇ψ̄ = its inverse (both exactly representable)
            n = self.init_samples or gaussian_init_samples(dim)
            (ms, cs), (mt, ct) = streamed_moments(source, n, generator), streamed_moments(target, n, generator)
            a, b = bures_map(ms, cs, mt, ct)
            psi.set_affine(a, b)
            a_inv = np.linalg.inv(a)                         # the exact inverse of x ↦ Ax + b
            psi_bar.set_affine(0.5 * (a_inv + a_inv.T), ms - a_inv @ mt)
        elif self.forward_potential is None and self.potential != "conv-icnn":
            # ∇ψ ≈ id on noise covering both data sets, then copied into ψ̄
            history["pretrain_mse"] = [pretrain_as_configured(self, psi, source, target, batch_size, generator,
                                                              gradient=lambda x: self._value_and_gradient(psi, x)[1])]
            psi_bar.load_state_dict(psi.state_dict())
        params = [*psi.parameters(), *psi_bar.parameters()]
        # One Adam over both potentials (Adam is per-parameter, so this equals one optimiser each).
        opt = adam(params, lr=self.lr, betas=self.betas)
        schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.01 * self.lr)
                    if self.lr_decay else None)

        loss_fn = compiled_or_eager(self._loss, "W2GN") if self.compile else self._loss

        def step(i: int) -> dict[str, float]:
            x, y = draw(source, target, batch_size, generator)
            loss, cycle, dual = loss_fn(psi, psi_bar, x, y)
            logs = {"loss": loss.item(), "cycle": cycle.item(), "w2_dual": dual.item()}
            return update_if_finite(opt, loss, logs, schedule=schedule, convexify=(psi, psi_bar))

        return run_w2_training(self, steps=steps, params=params, step=step, history=history, forward=psi,
                               inverse=psi_bar, callback=callback, started=started, generator=generator,
                               data=(source, target),
                               state={"psi": psi, "psi_bar": psi_bar, "optimizer": opt, "schedule": schedule})

    def _loss(self, psi: Potential, psi_bar: Potential, x: torch.Tensor, y: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Total loss, the Y-cycle term, and the dual estimate of ½W2² (the last two detached)."""
        _, y_inv = self._value_and_gradient(psi_bar, y)                   # ỹ = ∇ψ̄ω(y)
        psi_y_inv, grad_y_inv = self._value_and_gradient(psi, y_inv)      # ψθ(ỹ) and ∇ψθ(ỹ), one pass
        if self.cycle_weight_x > 0:
            psi_x, grad_x = self._value_and_gradient(psi, x)
        else:
            psi_x = psi(x)                                                 # only the value is needed at x
        if self.stop_gradient:
            # −ψθ(ỹ) + ⟨ỹ, sg(∇ψθ(ỹ))⟩ has zero ω-gradient and θ-gradient −∇θψθ(ỹ): the correlation term
            # with ỹ held constant, from the single evaluation above.
            correlation = (y_inv * grad_y_inv.detach()).sum(1) - psi_y_inv
        else:
            correlation = (y_inv * y).sum(1) - psi_y_inv
        cycle = (grad_y_inv - y).square().sum(1).mean()
        loss = psi_x.mean() + correlation.mean() + 0.5 * self.cycle_weight * cycle
        if self.cycle_weight_x > 0:
            x_back = self._value_and_gradient(psi_bar, grad_x)[1]
            loss = loss + 0.5 * self.cycle_weight_x * (x_back - x).square().sum(1).mean()
        if self.l1_penalty > 0:
            loss = loss + self.l1_penalty * sum(p.abs().sum() for p in (*psi.parameters(), *psi_bar.parameters()))
        with torch.no_grad():
            dual = (0.5 * x.square().sum(1).mean() + 0.5 * y.square().sum(1).mean()
                    - psi_x.mean() - ((y_inv * y).sum(1) - psi_y_inv).mean())
        return loss, cycle.detach(), dual
