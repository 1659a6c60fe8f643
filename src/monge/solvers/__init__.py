"""Solvers (W2 and, later, W1) behind one registry: ``get_solver("w2gn", **options)``."""

from monge.solvers.base import (SOLVERS, Callback, Progress, W2Result, W2Solver, available_solvers, get_solver,
                                register_solver)
from monge.solvers.w2.w2gn import W2GN

__all__ = ["SOLVERS", "Callback", "Progress", "W2Result", "W2Solver", "available_solvers", "get_solver",
           "register_solver", "W2GN"]
