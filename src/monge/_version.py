"""The installed monge's version, from the package metadata (``importlib.metadata``), so that no layer imports
the top-level package for it; ``"0+unknown"`` when monge runs from a source tree that is not installed."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("monge")
except PackageNotFoundError:  # pragma: no cover - a bare source checkout
    __version__ = "0+unknown"
