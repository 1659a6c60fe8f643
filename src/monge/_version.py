"""The installed monge's version, from the package metadata (``importlib.metadata``), so that no layer imports
the top-level package for it; ``"0+unknown"`` when monge runs from a source tree that is not installed. Also the
versions stored with every run (:func:`environment_versions`)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("monge")
except PackageNotFoundError:  # pragma: no cover - a bare source checkout
    __version__ = "0+unknown"


def environment_versions(device: object = "cpu") -> dict[str, str]:
    """Versions stored with every run: monge, torch, numpy, python, platform and the ``device`` used."""
    import platform
    import sys

    import numpy
    import torch

    return {"monge": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": sys.version.split()[0], "platform": platform.platform(), "device": str(device)}
