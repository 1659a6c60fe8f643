"""Exceptions raised by monge.

Every error a user can trigger with bad input derives from :class:`MongeError`, so the CLI can print one
line and exit non-zero without a traceback. Input errors also derive from :class:`ValueError`.
"""

from __future__ import annotations

from typing import Any


class MongeError(Exception):
    """Base class of every error monge raises on purpose."""


class InvalidInputError(MongeError, ValueError):
    """Samples or arguments that cannot be used (NaN/inf, empty, wrong shape, mismatched devices...)."""


class DimensionMismatchError(InvalidInputError):
    """Two things that must share a dimension do not (sampler vs network, source vs target...)."""


class UnknownNameError(MongeError, ValueError):
    """A solver, pair, preset or network name that is not registered."""

    def __init__(self, kind: str, name: str, available: list[str] | tuple[str, ...]):
        self.kind, self.name, self.available = kind, name, sorted(available)
        super().__init__(f"unknown {kind} {name!r}; available: {', '.join(self.available)}")


class CheckpointError(MongeError):
    """A saved result or checkpoint that is missing, corrupt, or does not match what loads it."""


class StoreError(MongeError):
    """The results database cannot be opened, written or read."""


class TrainingDiverged(MongeError):
    """Training produced a non-finite loss.

    Attributes:
        step: the (0-based) step whose loss was not finite.
        result: the solver's result holding the last parameters whose loss was finite
            (the networks are restored to that state before raising), or ``None`` when the very first
            step diverged.
    """

    def __init__(self, step: int, message: str, result: Any = None):
        self.step = step
        self.result = result
        super().__init__(f"training diverged at step {step}: {message}")


class MissingDependencyError(MongeError, ImportError):
    """An optional dependency (an extra such as ``monge[apps]``) is not installed."""

    def __init__(self, module: str, extra: str, purpose: str):
        self.module, self.extra = module, extra
        super().__init__(f"{purpose} needs the optional package {module!r}, which is not installed; "
                         f"install it with: pip install 'monge[{extra}]'")
