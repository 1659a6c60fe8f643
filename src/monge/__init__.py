"""monge: neural optimal transport in PyTorch, measured against ground truth.

>>> import torch, monge
>>> pair = monge.GaussianPair(2, seed=1)
>>> g = torch.Generator().manual_seed(0)
>>> result = monge.fit(pair.source, pair.target, steps=20, batch_size=64, generator=g)   # solver="auto"
>>> result.settings["chosen_solver"], result.forward(pair.source.sample(5, g)).shape
('enot', torch.Size([5, 2]))
>>> w2gn = monge.fit(pair.source, pair.target, solver="w2gn", steps=20, batch_size=64, generator=g,
...                  hidden_sizes=[16, 16, 8], pretrain_steps=50)

The public names are imported on first use (PEP 562), so ``import monge`` and the command line start
without loading PyTorch; ``dir(monge)`` lists exactly the public API (:data:`__all__`).
"""

from __future__ import annotations

import importlib as _importlib

from monge._version import __version__

_PUBLIC: dict[str, str] = {
    # fitting
    "fit": "monge.api", "fit_critic": "monge.api", "OTMap": "monge.estimator",
    # errors
    **{name: "monge.errors" for name in ("MongeError", "InvalidInputError", "DimensionMismatchError",
                                         "UnknownNameError", "CheckpointError", "StoreError", "TrainingDiverged",
                                         "NoInverseError", "NonFiniteError")},
    # building blocks
    **{name: "monge.nets" for name in ("DenseICNN", "MLPPotential", "ResidualMap")},
    **{name: "monge.samplers" for name in ("StandardNormal", "Gaussian", "GaussianMixture", "Empirical",
                                           "PushForward")},
    **{name: "monge.solvers" for name in ("W2GN", "W2Result", "W1Result", "get_solver", "available_solvers")},
    **{name: "monge.pairs" for name in ("SamplePair", "BenchmarkPair", "W1BenchmarkPair", "GaussianPair",
                                        "FunnelPair", "ToyPair", "make_pair", "available_pairs")},
    **{name: "monge.metrics" for name in ("evaluate", "l2_uvp", "discrete_w2", "discrete_w1")},
}

__all__ = ["__version__", *_PUBLIC]


_SUBPACKAGES = frozenset({"samplers", "nets", "conjugate", "solvers", "pairs", "metrics", "plot", "config", "results",
                          "report", "run", "apps", "cli", "api", "estimator", "errors"})


def __getattr__(name: str) -> object:
    module = _PUBLIC.get(name)
    if module is None:
        if name in _SUBPACKAGES:                        # monge.solvers.W2GN works after a bare ``import monge``
            return _importlib.import_module(f"monge.{name}")
        raise AttributeError(f"module 'monge' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
