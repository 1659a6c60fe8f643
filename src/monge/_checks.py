"""Input validation shared by every layer (samples, dimensions, devices)."""

from __future__ import annotations

import torch

from monge.errors import DimensionMismatchError, InvalidInputError


def check_samples(x: object, *, name: str = "samples", dim: int | None = None) -> torch.Tensor:
    """Return ``x`` as a 2-D floating tensor after checking it is usable.

    Raises :class:`InvalidInputError` naming ``name`` when ``x`` is not a tensor/array, not 2-D, empty, not
    floating point, or holds NaN/inf; :class:`DimensionMismatchError` when its second axis is not ``dim``.
    """
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except Exception as exc:  # noqa: BLE001 - any conversion failure is a bad input
            raise InvalidInputError(f"{name}: expected a tensor or array, got {type(x).__name__}") from exc
        if x.is_complex():
            raise InvalidInputError(f"{name}: expected real samples, got complex dtype {x.dtype}")
        if not torch.is_floating_point(x):
            x = x.to(torch.get_default_dtype())
    if not torch.is_floating_point(x):
        raise InvalidInputError(f"{name}: expected floating-point samples, got dtype {x.dtype}")
    if x.ndim != 2:
        raise InvalidInputError(f"{name}: expected shape (n, dim), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise InvalidInputError(f"{name}: empty (0 samples)")
    if x.shape[1] == 0:
        raise InvalidInputError(f"{name}: dimension is 0")
    if dim is not None and x.shape[1] != dim:
        raise DimensionMismatchError(f"{name}: expected dimension {dim}, got {x.shape[1]}")
    if x.device.type != "meta" and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).any(dim=1).sum())
        raise InvalidInputError(f"{name}: {bad} of {x.shape[0]} samples contain NaN or inf")
    return x


def check_finite_output(out: torch.Tensor, what: str, hint: str = "") -> torch.Tensor:
    """Return ``out`` if it holds no NaN/inf (or lives on the meta device); else raise
    :class:`~monge.errors.NonFiniteError` naming ``what`` and how many rows are affected, plus ``hint``.

    The policy: monge's maps (results' ``forward``/``inverse``/``potential``/``gradient``) and samplers never
    return non-finite numbers silently — they raise this error, whatever produced them (input far outside the
    data, a diverged network, a distribution whose scale overflows the dtype)."""
    if out.device.type == "meta" or bool(torch.isfinite(out).all()):
        return out
    from monge.errors import NonFiniteError

    rows = out.reshape(out.shape[0], -1) if out.ndim > 1 else out.reshape(-1, 1)
    bad = int((~torch.isfinite(rows)).any(dim=1).sum())
    raise NonFiniteError(f"{what} produced NaN or inf for {bad} of {rows.shape[0]} rows" + (f"; {hint}" if hint else ""))


def check_generator(generator: object, name: str = "generator") -> "torch.Generator | None":
    """Return ``generator`` if it is ``None`` or a :class:`torch.Generator`, else raise
    :class:`InvalidInputError` naming it (an int seed is not accepted: ``torch.Generator().manual_seed(seed)``)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InvalidInputError(f"{name} must be a torch.Generator or None, got {type(generator).__name__} "
                                f"{generator!r:.40}; make one with torch.Generator().manual_seed(seed)")
    return generator


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` if it is a positive int, else raise :class:`InvalidInputError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_parameter(t: torch.Tensor, name: str, *, ndim: int) -> torch.Tensor:
    """Return the distribution parameter ``t`` if it has ``ndim`` axes, is not empty and holds no NaN or inf;
    else raise :class:`InvalidInputError` naming ``name``."""
    if t.ndim != ndim:
        raise InvalidInputError(f"{name}: expected {ndim} dimension(s), got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise InvalidInputError(f"{name}: empty (shape {tuple(t.shape)})")
    if not bool(torch.isfinite(t).all()):
        raise InvalidInputError(f"{name}: contains NaN or inf")
    return t


def check_positive_float(value: object, name: str) -> float:
    """``value`` as a positive finite float, or :class:`InvalidInputError` naming ``name``."""
    import math

    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a positive number, got {value!r}") from None
    if isinstance(value, bool) or not (math.isfinite(number) and number > 0):
        raise InvalidInputError(f"{name} must be a positive finite number, got {value!r}")
    return number
