"""Exceptions raised by monge.

Every error a user can trigger with bad input derives from :class:`MongeError`, so the CLI can print one
line and exit non-zero without a traceback. Input errors also derive from :class:`ValueError`.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable


def did_you_mean(word: object, choices: Iterable[object]) -> str:
    """``"; did you mean 'x' or 'y'?"`` for the registered names closest to ``word`` (``""`` when none is close)."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class MongeError(Exception):
    """Base class of every error monge raises on purpose."""


class InvalidInputError(MongeError, ValueError):
    """Samples or arguments that cannot be used (NaN/inf, empty, wrong shape, mismatched devices...)."""


class DimensionMismatchError(InvalidInputError):
    """Two things that must share a dimension do not (sampler vs network, source vs target...)."""


class NonFiniteError(MongeError, FloatingPointError):
    """A map or sampler produced NaN or inf from finite input (monge never returns such numbers silently)."""


class NoInverseError(MongeError, NotImplementedError):
    """The fitted result has no inverse map (its solver learns only the forward map)."""


class UnknownNameError(MongeError, ValueError):
    """A solver, pair, preset or network name that is not registered; the message suggests the closest names."""

    def __init__(self, kind: str, name: str, available: list[str] | tuple[str, ...]):
        self.kind, self.name, self.available = kind, name, sorted(available)
        super().__init__(f"unknown {kind} {name!r}{did_you_mean(name, self.available)}; "
                         f"available: {', '.join(self.available)}")


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


class SweepConfigError(InvalidInputError):
    """A sweep configuration file (``monge sweep FILE``) that cannot be read or does not validate.

    Attributes:
        file: the file (a path as given), or ``None`` for a config passed as a dict.
        key: dotted path of the offending entry, e.g. ``"solvers[1].options.lr"`` (list indices count from
            0), or ``None`` when the problem is the whole file.
        line: 1-based line of that entry in the file, or ``None`` when it is not known.
        problem: the message without the location prefix.

    The message reads ``sweep.toml, line 12, solvers[1].options.lr: must be a positive number, got -1``.
    """

    def __init__(self, problem: str, *, file: Any = None, key: str | None = None, line: int | None = None):
        self.file, self.key, self.line, self.problem = file, key, line, problem
        where = [str(file) if file is not None else None, f"line {line}" if line is not None else None, key]
        prefix = ", ".join(part for part in where if part)
        super().__init__(f"{prefix}: {problem}" if prefix else problem)
