"""Solvers (W2 and, later, W1) behind one registry: ``get_solver("w2gn", **options)``."""

from __future__ import annotations

from os import PathLike

from monge.errors import CheckpointError
from monge.solvers.base import (SOLVERS, Callback, Progress, W2Result, W2Solver, available_solvers, get_solver,
                                read_result_meta, register_solver)
from monge.solvers.w2.w2gn import W2GN

__all__ = ["SOLVERS", "Callback", "Progress", "W2Result", "W2Solver", "available_solvers", "get_solver",
           "register_solver", "W2GN"]
from monge.solvers.w2.amortized import AmortizedConjugate  # noqa: E402
__all__ += ["AmortizedConjugate"]
from monge.solvers.w2.w2gan import W2GAN, WGANGPMap, WGANLPMap  # noqa: E402
__all__ += ["W2GAN", "WGANGPMap", "WGANLPMap"]
from monge.solvers.w2.lsot import LSOT  # noqa: E402

__all__ += ["LSOT"]
from monge.solvers.w2.taghvaei_jalali import TaghvaeiJalali  # noqa: E402
from monge.solvers.w2.makkuva import Makkuva  # noqa: E402
from monge.solvers.w2.maximin import ReversedMaximin  # noqa: E402

__all__ += ["TaghvaeiJalali", "Makkuva", "ReversedMaximin"]
from monge.solvers.w2.minibatch import MinibatchConjugate, WGANQC  # noqa: E402

__all__ += ["MinibatchConjugate", "WGANQC"]
from monge.solvers.w2.enot import ENOT  # noqa: E402

__all__ += ["ENOT"]
from monge.solvers.auto import Auto, AutoChoice, choose_solver  # noqa: E402

__all__ += ["Auto", "AutoChoice", "choose_solver"]
from monge.solvers.w1 import W1Result, W1Solver  # noqa: E402  (registers the W1 solvers)

__all__ += ["W1Result", "W1Solver"]


def load_result(path: str | PathLike[str]) -> W2Result | W1Result:
    """Load a result folder written by ``W2Result.save`` or ``W1Result.save``, whichever ``result.json``'s ``kind``
    names; raises :class:`~monge.errors.CheckpointError` naming the file when it cannot."""
    meta_path, meta = read_result_meta(path)
    kind = meta.get("kind") if isinstance(meta, dict) else None
    if kind == "W1Result":
        return W1Result.load(path)
    if kind == "W2Result":
        return W2Result.load(path)
    raise CheckpointError(f"{meta_path}: unknown result kind {kind!r} (expected W2Result or W1Result)")


__all__ += ["load_result"]
