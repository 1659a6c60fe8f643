"""Networks: input-convex potentials, unconstrained potentials and maps."""

from monge.nets.base import NETWORKS, Potential, RescaledPotential, build_network, register_network
from monge.nets.icnn import ConvexQuadratic, DenseICNN
from monge.nets.mlp import MLPMap, MLPPotential, ResidualMap

__all__ = ["NETWORKS", "Potential", "RescaledPotential", "build_network", "register_network", "ConvexQuadratic", "DenseICNN",
           "MLPMap", "MLPPotential", "ResidualMap"]
from monge.nets.lipschitz import GroupSort, LipschitzMLP  # noqa: E402

__all__ += ["GroupSort", "LipschitzMLP"]
from monge.nets.cones import ConeCritic  # noqa: E402

__all__ += ["ConeCritic"]
from monge.nets.conv_icnn import ConvICNN, W2GNConvICNN  # noqa: E402

__all__ += ["ConvICNN", "W2GNConvICNN"]
