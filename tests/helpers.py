"""Helpers shared by test modules (importable thanks to ``pythonpath = [\"tests\"]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path under ``../shared/data``; skips the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared benchmark data not found at {path} (it sits beside the repository checkout)")
    return path


def jensen_gaps(net: Any, n: int = 256, seed: int = 1) -> torch.Tensor:
    """(1−t)ψ(a) + tψ(b) − ψ((1−t)a + tb) along random float64 segments of ``net.dim`` (≥ 0 for a convex ψ)."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, net.dim, generator=g, dtype=torch.float64) * 2
    b = torch.randn(n, net.dim, generator=g, dtype=torch.float64) * 2
    t = torch.rand(n, generator=g, dtype=torch.float64)
    with torch.no_grad():
        return (1 - t) * net(a) + t * net(b) - net((1 - t)[:, None] * a + t[:, None] * b)
