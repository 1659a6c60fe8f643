"""Distance-cost (W1) solvers: WGAN critics and their relatives, one result type (:class:`W1Result`).

All are registered with the W2 solvers (``monge.solvers.get_solver("wgan-gp")``) and listed by
``available_solvers(cost="w1")``.
"""

from monge.solvers.w1.base import GRADIENT_SOURCES, W1Result, W1Solver
from monge.solvers.w1.penalty import WGANGP, WGANLP

__all__ = ["GRADIENT_SOURCES", "W1Result", "W1Solver", "WGANGP", "WGANLP"]
from monge.solvers.w1.regularized import EntropicLSOTW1, LSOTW1  # noqa: E402
from monge.solvers.w1.ctransform import CoWGAN, WGANQP  # noqa: E402
from monge.solvers.w1.three_player import ReversedThreePlayerWGAN, ThreePlayerWGAN  # noqa: E402

__all__ += ["EntropicLSOTW1", "LSOTW1", "WGANQP", "CoWGAN", "ThreePlayerWGAN", "ReversedThreePlayerWGAN"]
from monge.solvers.w1.clipping import WGANClip  # noqa: E402
from monge.solvers.w1.spectral import SNGAN  # noqa: E402
from monge.solvers.w1.sorting import SortOut  # noqa: E402

__all__ += ["WGANClip", "SNGAN", "SortOut"]
from monge.solvers.w1.cconcave import CConcaveCritic  # noqa: E402

__all__ += ["CConcaveCritic"]
