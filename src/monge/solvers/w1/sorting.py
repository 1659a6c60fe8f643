"""Sorting out Lipschitz: a W1 critic that is 1-Lipschitz by construction with GroupSort and orthogonal weights.

Anil, Lucas, Grosse, "Sorting out Lipschitz function approximation", ICML 2019 — a GroupSort (MaxMin for
group size 2) network whose weights are orthonormal is 1-Lipschitz and gradient-norm preserving, and such
networks are universal approximators of 1-Lipschitz functions (ReLU networks with norm-constrained weights
are not). The paper orthonormalises with Björck's iteration; here every weight is kept (semi-)orthogonal by
``torch.nn.utils.parametrizations.orthogonal``, the same constraint set. One step: draw x ~ P, y ~ Q
(``batch_size`` each) and take an Adam step on −(E f(y) − E f(x)); no penalty. Defaults are the W1
benchmark's (Korotin, Kolesov, Burnaev, NeurIPS 2022, ``notebooks/test_nd.ipynb``: ``NUM_UNITS = 1``, i.e. one
group spanning each layer, FullSort; its common Adam lr 2e-4 with PyTorch's default betas; 15 000 steps in the
``w1-hd`` preset). ``group_size=2`` gives MaxMin, the paper's other variant. The critic is a :class:`~monge.nets.LipschitzMLP` (``constraint="orthogonal"``,
``activation="groupsort"``), widths :func:`~monge.solvers.w1.common.default_hidden_sizes`.
"""

from __future__ import annotations

from typing import Any, Sequence

from monge.solvers.base import register_solver
from monge.solvers.common import check_betas, check_hidden_sizes, check_int, check_number
from monge.solvers.w1.spectral import LipschitzCriticSolver


@register_solver("sort-out")
class SortOut(LipschitzCriticSolver):
    """GroupSort critic with orthogonal weights (Anil, Lucas, Grosse, ICML 2019), 1-Lipschitz by construction.

    Args:
        hidden_sizes: critic widths, each divisible by ``group_size`` (``None``: two layers of
            max(128, 2·dim)).
        group_size: GroupSort group size (``None``: the layer width, FullSort, the benchmark's; 2 is MaxMin).
            ``None`` needs equal hidden widths.
        lr: Adam learning rate (2e-4).
        betas: Adam betas ((0.9, 0.999)).
    """

    paper = "Anil, Lucas, Grosse, 'Sorting out Lipschitz function approximation', ICML 2019"
    smoke_options = {"hidden_sizes": [32, 32], "lr": 1e-3}
    constraint = "orthogonal"
    activation = "groupsort"

    def __init__(self, *, hidden_sizes: Sequence[int] | None = None, group_size: int | None = None, lr: float = 2e-4,
                 betas: tuple[float, float] = (0.9, 0.999)):
        who = self.name
        self.hidden_sizes = check_hidden_sizes(who, hidden_sizes)
        self.group_size = None if group_size is None else check_int(who, "group_size", group_size, minimum=2)
        if self.hidden_sizes is not None:
            self._check_widths(self.hidden_sizes)
        self.lr = check_number(who, "lr", lr, positive=True)
        self.betas = check_betas(who, betas)

    def settings(self) -> dict[str, Any]:
        return {"hidden_sizes": self.hidden_sizes, "group_size": self.group_size, "lr": self.lr,
                "betas": list(self.betas)}
