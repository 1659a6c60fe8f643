"""Optional dependencies, imported on demand with a clear message when missing (any layer may use them)."""

from __future__ import annotations

import importlib
from types import ModuleType

from monge.errors import MissingDependencyError


def require(module: str, *, purpose: str, package: str | None = None, extra: str = "apps") -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip ``package`` and the extra.

    >>> require("math", purpose="a doctest").sqrt(4.0)
    2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(package or module.split(".")[0], extra, purpose) from None


def sklearn_datasets(purpose: str) -> ModuleType:
    """``sklearn.datasets`` (the scikit-learn extra), for the data that ships inside scikit-learn."""
    return require("sklearn.datasets", purpose=purpose, package="scikit-learn")
