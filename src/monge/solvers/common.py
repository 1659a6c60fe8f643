"""Small pieces every solver needs: option checks, data preparation, optimisers, seeded initialisation."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from monge._checks import check_positive_int
from monge.errors import DimensionMismatchError, InvalidInputError
from monge.samplers import Sampler, as_sampler


def check_nonnegative(solver: str, **values: Any) -> None:
    """Raise :class:`InvalidInputError` naming the first option that is not a finite number ≥ 0."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"{solver}: {name} must be a finite number >= 0, got {value!r}")


def check_positive(solver: str, **values: Any) -> None:
    """Raise :class:`InvalidInputError` naming the first option that is not a finite number > 0."""
    check_nonnegative(solver, **values)
    for name, value in values.items():
        if value == 0:
            raise InvalidInputError(f"{solver}: {name} must be > 0, got {value!r}")


def check_choice(solver: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise :class:`InvalidInputError` when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise InvalidInputError(f"{solver}: {name} must be one of {list(choices)}, got {value!r}")


def prepare_data(source: Any, target: Any, steps: int, batch_size: int) -> tuple[Sampler, Sampler]:
    """Validate a fit's arguments and return (source, target) as samplers on one device with one dimension."""
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    source, target = as_sampler(source, name="source"), as_sampler(target, name="target")
    if source.dim != target.dim:
        raise DimensionMismatchError(f"source has dimension {source.dim} but target has {target.dim}")
    if source.device != target.device:
        raise InvalidInputError(f"source is on {source.device} but target is on {target.device}")
    return source, target


def adam(params: list[nn.Parameter], **kwargs: Any) -> torch.optim.Adam:
    """Adam with the fused kernel where the device supports it (fewer kernel launches per step)."""
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, **kwargs)


def seeded_init_(module: nn.Module, generator: torch.Generator | None) -> nn.Module:
    """Redraw every ``nn.Linear`` of ``module`` like PyTorch's default (uniform ±1/√fan_in) from ``generator``,
    so a solver's networks are reproducible from its generator without touching the global RNG.
    Zero-initialised layers (a :class:`~monge.nets.ResidualMap`'s last layer) stay zero. No-op for ``None``."""
    if generator is None:
        return module
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                for p in (layer.weight, layer.bias):
                    if p is None or not bool(p.any()):
                        continue
                    draw = torch.rand(p.shape, generator=generator, dtype=p.dtype,
                                      device=generator.device).to(p.device)
                    p.copy_((2 * draw - 1) * bound)
    return module


def mean_of_last(values: list[float], n: int = 50) -> float:
    """Mean of the last ``n`` values (NaN when empty): a smoothed estimate from a training history."""
    recent = values[-n:]
    return sum(recent) / len(recent) if recent else float("nan")
