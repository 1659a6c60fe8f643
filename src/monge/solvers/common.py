"""Small pieces every solver needs: option checks, data preparation, optimisers, seeded initialisation."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from monge._checks import check_generator, check_positive_int
from monge._compile import compiled_or_eager
from monge.errors import DimensionMismatchError, InvalidInputError
from monge.samplers import Sampler, as_sampler


def check_nonnegative(solver: str, **values: Any) -> None:
    """Raise :class:`InvalidInputError` naming the first option that is not a finite number ≥ 0."""
    for name, value in values.items():
        check_number(solver, name, value)


def check_positive(solver: str, **values: Any) -> None:
    """Raise :class:`InvalidInputError` naming the first option that is not a finite number > 0."""
    for name, value in values.items():
        check_number(solver, name, value, positive=True)


def check_number(solver: str, name: str, value: Any, *, positive: bool = False) -> float:
    """A finite real ``value`` ≥ 0 (> 0 if ``positive``) as a float, else :class:`InvalidInputError` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
            or (positive and value == 0):
        raise InvalidInputError(f"{solver}: {name} must be a finite number {'>' if positive else '>='} 0, "
                                f"got {value!r}")
    return float(value)


def check_int(solver: str, name: str, value: Any, *, minimum: int = 0) -> int:
    """An integer ≥ ``minimum``, else :class:`InvalidInputError` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{solver}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_betas(solver: str, betas: Any) -> tuple[float, float]:
    """Two Adam betas in [0, 1) as a tuple of floats, else :class:`InvalidInputError` naming them."""
    values = tuple(betas) if isinstance(betas, (tuple, list)) else ()
    if len(values) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1
                                   for b in values):
        raise InvalidInputError(f"{solver}: betas must be two numbers in [0, 1), got {betas!r}")
    return float(values[0]), float(values[1])


def check_choice(solver: str, name: str, value: Any, choices: Sequence[str]) -> Any:
    """``value`` if it is one of ``choices``, else :class:`InvalidInputError` naming it."""
    if value not in choices:
        raise InvalidInputError(f"{solver}: {name} must be one of {list(choices)}, got {value!r}")
    return value


def check_hidden_sizes(solver: str, hidden_sizes: Any, *, name: str = "hidden_sizes") -> list[int] | None:
    """``None`` or a non-empty list (or tuple) of positive integer layer widths, as a list; anything else,
    including a string such as ``"64"`` (never read as ``[6, 4]``) or a width such as ``64.5`` or ``True``,
    raises :class:`InvalidInputError` naming the option and the expected form. Every solver's width options
    go through here (and so do the command line's ``-o name=value``, parsed as JSON)."""
    if hidden_sizes is None:
        return None
    import numbers

    def width(h: Any) -> bool:
        return isinstance(h, numbers.Integral) and not isinstance(h, bool) and h > 0

    if not isinstance(hidden_sizes, (list, tuple)) or not hidden_sizes or not all(map(width, hidden_sizes)):
        raise InvalidInputError(f"{solver}: {name} must be a non-empty list of positive integers such as [64, 64], "
                                f"got {hidden_sizes!r}")
    return [int(h) for h in hidden_sizes]


def prepare_data(source: Any, target: Any, steps: int, batch_size: int,
                 generator: torch.Generator | None = None) -> tuple[Sampler, Sampler]:
    """Validate a fit's arguments and return (source, target) as samplers on one device, with one dimension
    and one training dtype (float32 or float64)."""
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    check_generator(generator)
    source, target = as_sampler(source, name="source"), as_sampler(target, name="target")
    if source.dim != target.dim:
        raise DimensionMismatchError(f"source has dimension {source.dim} but target has {target.dim}")
    if source.device != target.device:
        raise InvalidInputError(f"source is on {source.device} but target is on {target.device}")
    if source.dtype != target.dtype:
        raise InvalidInputError(f"source samples are {source.dtype} but target samples are {target.dtype}: convert "
                                f"one of them, or pass dtype= to monge.fit / monge.fit_critic, which converts both")
    if source.dtype not in TRAINING_DTYPES:
        raise InvalidInputError(f"samples are {source.dtype}, but training needs float32 or float64 (networks take "
                                f"the data's dtype); convert the data, or pass dtype=torch.float32 to monge.fit. "
                                f"Half precision is available inside a step as ENOT's mixed_precision option")
    return source, target


TRAINING_DTYPES = (torch.float32, torch.float64)
"""The dtypes solvers train in: the networks take the data's dtype, and half precision is not stable enough for
the whole of training (ENOT's ``mixed_precision`` runs the networks' products in bfloat16 inside float32)."""


def adam(params: list[nn.Parameter], **kwargs: Any) -> torch.optim.Adam:
    """Adam with the fused kernel where the device supports it (fewer kernel launches per step)."""
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, **kwargs)


def seeded(build: Any, generator: torch.Generator | None) -> nn.Module:
    """``build()`` a network whose ``nn.Linear`` layers use PyTorch's default init drawn from ``generator``.

    Construction runs inside ``torch.random.fork_rng`` (the global RNG is left as it was); every Linear
    weight and bias is then redrawn from U(−1/√fan_in, 1/√fan_in) with ``generator``. Layers that start
    at zero (a :class:`~monge.nets.ResidualMap`'s last layer, so the map starts at the identity) stay
    zero. Without a generator the network is built normally from the global RNG.
    """
    check_generator(generator)
    if generator is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        net = build()
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                for p in (layer.weight, layer.bias):
                    if p is None or not bool(p.any()):
                        continue
                    draw = torch.rand(p.shape, generator=generator, dtype=p.dtype,
                                      device=generator.device).to(p.device)
                    p.copy_((2 * draw - 1) * bound)
    return net


def draw(source: Sampler, target: Sampler, batch_size: int,
         generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One independent batch from each distribution: x ~ P, then y ~ Q (in that order from ``generator``)."""
    return source.sample(batch_size, generator), target.sample(batch_size, generator)


def descend(opt: torch.optim.Optimizer, loss: torch.Tensor, schedule: Any = None) -> None:
    """One optimiser step on ``loss``: clear the gradients, back-propagate, step (then ``schedule``, if any)."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if schedule is not None:
        schedule.step()


def update_if_finite(opt: torch.optim.Optimizer, loss: torch.Tensor, logs: dict[str, float], *, schedule: Any = None,
                     convexify: Sequence[nn.Module] = ()) -> dict[str, float]:
    """Return a training step's ``logs`` after one :func:`descend` on ``loss`` followed by ``convexify()`` of
    each network in ``convexify``; when ``logs["loss"]`` is not finite nothing is updated (the training loop
    then restores the last good parameters)."""
    if math.isfinite(logs["loss"]):
        descend(opt, loss, schedule)
        for net in convexify:
            net.convexify()
    return logs


def mean_of_last(values: list[float], n: int = 50) -> float:
    """Mean of the last ``n`` values (NaN when empty): a smoothed estimate from a training history."""
    recent = values[-n:]
    return sum(recent) / len(recent) if recent else float("nan")


def pretrain_identity(net: nn.Module, source: Sampler, target: Sampler, *, steps: int, tol: float, blow: float,
                      batch_size: int, generator: torch.Generator | None, name: str,
                      gradient: Any = None) -> float:
    """Fit ∇ψ ≈ identity on noise covering both data sets (the W2GN / W2 benchmark initialisation).

    Noise is N(m, (blow·σ)²) with m, σ the mean and RMS spread of one source+target batch (the benchmark
    pre-trains on 3·N(0, I) for standardised data). A network with ``shrink_to_identity_scale`` (DenseICNN) first
    has a too-large initial gradient scaled down on that batch (monge's addition; it changes nothing up to
    D ≈ 128 with W2GN's default widths). Then Adam (lr 1e-3) on E‖∇ψ(x) − x‖² for at most ``steps``
    steps, stopping below ``tol``; ``net.convexify()`` after each step when the network has it.
    ``gradient(x)`` overrides ``net.gradient``. Returns the last mean squared error (NaN if ``steps`` is 0);
    raises :class:`~monge.errors.TrainingDiverged` on a non-finite loss.
    """
    from monge.errors import TrainingDiverged

    if steps == 0:
        return float("nan")
    grad_fn = gradient or net.gradient
    with torch.no_grad():
        ref = torch.cat([source.sample(batch_size, generator), target.sample(batch_size, generator)])
        centre = ref.mean(0)
        spread = ref.sub(centre).square().sum(1).mean().div(ref.shape[1]).sqrt()
    shrink = getattr(net, "shrink_to_identity_scale", None)
    if shrink is not None and gradient is None:   # a too-large start (wide DenseICNNs) is scaled down first
        shrink(ref)
    opt = adam(list(net.parameters()), lr=1e-3)
    convexify = getattr(net, "convexify", None)
    mse = float("inf")
    for _ in range(steps):
        noise = torch.randn(batch_size, ref.shape[1], generator=generator, dtype=ref.dtype,
                            device=generator.device if generator is not None else ref.device).to(ref.device)
        x = centre + blow * spread * noise
        loss = (grad_fn(x) - x).square().sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if convexify is not None:
            convexify()
        mse = loss.item()
        if not math.isfinite(mse):
            raise TrainingDiverged(0, f"{name}: identity pre-training produced a non-finite loss")
        if mse < tol:
            break
    return mse


def pretrain_as_configured(solver: Any, net: nn.Module, source: Sampler, target: Sampler, batch_size: int,
                           generator: torch.Generator | None, *, name: str | None = None, gradient: Any = None) -> float:
    """:func:`pretrain_identity` with ``solver``'s ``pretrain_steps``, ``pretrain_tol`` and ``pretrain_blow``
    options; a non-finite loss is reported under ``name`` (default: the solver's class name)."""
    return pretrain_identity(net, source, target, steps=solver.pretrain_steps, tol=solver.pretrain_tol,
                             blow=solver.pretrain_blow, batch_size=batch_size, generator=generator,
                             name=name or type(solver).__name__, gradient=gradient)


__all__ = ["adam", "check_betas", "check_choice", "check_hidden_sizes", "check_int", "check_nonnegative",
           "check_number", "check_positive", "compiled_or_eager", "descend", "draw", "mean_of_last", "prepare_data",
           "pretrain_as_configured", "pretrain_identity", "seeded", "update_if_finite"]
