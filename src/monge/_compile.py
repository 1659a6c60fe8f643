"""``torch.compile`` with a safe fallback, shared by the solvers and the published pairs' samplers."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import torch


def compiled_or_eager(fn: Callable[..., Any], who: str) -> Callable[..., Any]:
    """``torch.compile(fn)``, falling back to ``fn`` (with a warning naming ``who``) if compilation fails at
    the first call (no C++ compiler, an unsupported backend...)."""
    compiled = torch.compile(fn)
    state = {"fn": compiled}

    def call(*args: Any) -> Any:
        if state["fn"] is compiled:
            try:
                return compiled(*args)
            except Exception as exc:  # noqa: BLE001 - any backend failure: run eagerly instead
                warnings.warn(f"torch.compile failed ({type(exc).__name__}: {exc}); {who} continues uncompiled",
                              RuntimeWarning, stacklevel=3)
                state["fn"] = fn
        return state["fn"](*args)

    return call
