"""Benchmark pairs: a source and a target sampler, with or without a ground-truth transport map.

:class:`SamplePair` is any pair of distributions (toy sets, data); :class:`BenchmarkPair` adds the true
quadratic-cost (W2) optimal map, its inverse, the true cost ½·W2² and the baseline maps (identity,
constant, linear/Bures) that metrics and leaderboards compare solvers against.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import numpy as np
import torch

from monge._bures import bures_map, psd_sqrt  # noqa: F401  (re-exported: pairs and metrics use them)
from monge._checks import check_samples
from monge.errors import DimensionMismatchError, UnknownNameError
from monge.samplers.base import Sampler

BASELINES: tuple[str, ...] = ("identity", "constant", "linear")
"""Names accepted by :meth:`BenchmarkPair.baseline` and :meth:`BenchmarkPair.baseline_inverse`."""

Moments = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class SamplePair:
    """Two distributions on R^dim, without a known transport map.

    Attributes:
        name: registry spec of the pair (for example ``"toy:swiss_roll"``).
        dim: dimension of both measures.
        source: sampler of the input measure P.
        target: sampler of the output measure Q.
        dtype, device: those of the samplers (the source's).
        has_ground_truth: ``False`` here; ``True`` for :class:`BenchmarkPair`.
    """

    has_ground_truth: bool = False
    cost: str | None = None
    """The cost whose ground truth the pair carries: ``"w2"`` (:class:`BenchmarkPair`), ``"w1"``
    (:class:`W1BenchmarkPair`) or ``None`` (no ground truth)."""
    version: int = 1
    """Version of the pair's construction. A pair class whose measures change for the same spec and seed bumps
    it (and its family's ``version`` in :func:`~monge.pairs.register_pair_family`); runs record it, so stored
    runs of an older construction are never reused or mixed with new ones."""

    def __init__(self, name: str, source: Sampler, target: Sampler):
        if int(source.dim) != int(target.dim):
            raise DimensionMismatchError(
                f"pair {name!r}: source has dimension {source.dim} but target has {target.dim}"
            )
        self.name = name
        self.dim = int(source.dim)
        self.source = source
        self.target = target

    @property
    def dtype(self) -> torch.dtype:
        return self.source.dtype

    @property
    def device(self) -> torch.device:
        return torch.device(self.source.device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


def _affine(a: np.ndarray, b: np.ndarray) -> Callable[[torch.Tensor], torch.Tensor]:
    a64 = torch.as_tensor(a, dtype=torch.float64)
    b64 = torch.as_tensor(np.reshape(b, -1), dtype=torch.float64)

    def apply(x: torch.Tensor) -> torch.Tensor:
        x = check_samples(x, name="x", dim=a64.shape[0])
        return x @ a64.T.to(x.device, x.dtype) + b64.to(x.device, x.dtype)

    return apply


def _constant(value: np.ndarray) -> Callable[[torch.Tensor], torch.Tensor]:
    v64 = torch.as_tensor(np.reshape(value, -1), dtype=torch.float64)

    def apply(x: torch.Tensor) -> torch.Tensor:
        x = check_samples(x, name="x", dim=v64.shape[0])
        return v64.to(x.device, x.dtype).expand(x.shape[0], -1).clone()

    return apply


def _identity(dim: int) -> Callable[[torch.Tensor], torch.Tensor]:
    def apply(x: torch.Tensor) -> torch.Tensor:
        return check_samples(x, name="x", dim=dim).clone()

    return apply


class BenchmarkPair(SamplePair, ABC):
    """A pair whose quadratic-cost optimal transport map is known (the benchmark of Korotin et al.,
    "Do Neural Optimal Transport Solvers Work? A Continuous Wasserstein-2 Benchmark", NeurIPS 2021).

    Subclasses implement :meth:`true_forward`, :meth:`true_inverse` and :attr:`true_cost`. Moments used by
    the baselines and the variances used by L2-UVP default to estimates from ``moment_samples`` samples
    drawn with a private generator seeded with ``moment_seed`` (never the global RNG); pairs with a
    closed form override :meth:`_moments` with exact values.
    """

    has_ground_truth: bool = True
    cost: str | None = "w2"
    moment_samples: int = 65536
    moment_seed: int = 0

    @abstractmethod
    def true_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The optimal map T(x) = ∇ψ*(x) from source to target, for ``x`` of shape ``(n, dim)``."""

    @abstractmethod
    def true_inverse(self, y: torch.Tensor) -> torch.Tensor:
        """The optimal map T⁻¹(y) = ∇ψ̄*(y) from target back to source."""

    @property
    @abstractmethod
    def true_cost(self) -> float:
        """½·W2²(P, Q) = ½·E‖x − T(x)‖²."""

    # ------------------------------------------------------------------ moments
    def _moments(self) -> Moments:
        """(source mean, source cov, target mean, target cov) in float64; estimated from samples by default."""
        cached = getattr(self, "_moments_cache", None)
        if cached is not None:
            return cached
        gen = torch.Generator(device=self.device).manual_seed(self.moment_seed)
        out = []
        for sampler in (self.source, self.target):
            s = sampler.sample(self.moment_samples, generator=gen).detach().to("cpu", torch.float64).numpy()
            out += [s.mean(axis=0), np.atleast_2d(np.cov(s, rowvar=False))]
        self._moments_cache: Moments = tuple(out)  # type: ignore[assignment]
        return self._moments_cache

    @property
    def source_variance(self) -> float:
        """Var(P): sum of the per-coordinate variances of the source (denominator of inverse L2-UVP)."""
        return float(np.trace(self._moments()[1]))

    @property
    def target_variance(self) -> float:
        """Var(Q): sum of the per-coordinate variances of the target (denominator of forward L2-UVP)."""
        return float(np.trace(self._moments()[3]))

    # ------------------------------------------------------------------ baselines
    def baseline(self, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """A baseline map from source to target.

        ``"identity"``: x ↦ x; ``"constant"``: every point to the target mean; ``"linear"``: the Bures
        (optimal affine) map between Gaussian approximations N(m_P, Σ_P) → N(m_Q, Σ_Q). The returned
        callable computes in the input's dtype and device. Unknown names raise :class:`UnknownNameError`.
        """
        return self._baseline(name, backward=False)

    def baseline_inverse(self, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """The same baselines from target back to source (constant → source mean; linear → Bures Q → P)."""
        return self._baseline(name, backward=True)

    def _baseline(self, name: str, *, backward: bool) -> Callable[[torch.Tensor], torch.Tensor]:
        key = name.strip().lower() if isinstance(name, str) else name
        if key not in BASELINES:
            raise UnknownNameError("baseline", str(name), BASELINES)
        if key == "identity":
            return _identity(self.dim)
        ms, cs, mt, ct = self._moments()
        if backward:
            ms, cs, mt, ct = mt, ct, ms, cs
        if key == "constant":
            return _constant(mt)
        return _affine(*bures_map(ms, cs, mt, ct))


class W1BenchmarkPair(SamplePair, ABC):
    """A pair whose distance-cost (W1) optimal plan, W1 and optimal critic are known (the benchmark of Korotin,
    Kolesov, Burnaev, "Kantorovich Strikes Back! Wasserstein GANs are not Optimal Transport?", NeurIPS 2022).

    Convention (the one every W1 solver in monge uses): the critic f maximises E_Q f − E_P f over 1-Lipschitz
    functions, with P = ``source`` and Q = ``target``; its maximum is W1(P, Q). Subclasses implement
    :meth:`plan` (paired samples (x, T(x)) of an optimal plan), :meth:`true_critic` (an optimal f*),
    :meth:`true_gradient` (∇f*, the quantity the published cosine and L2 metrics compare with) and
    :attr:`true_w1`.
    """

    has_ground_truth: bool = True
    cost: str | None = "w1"

    @abstractmethod
    def plan(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` paired samples (x, y) of an optimal plan: x ~ P and y = T(x) ~ Q."""

    @abstractmethod
    def true_critic(self, x: torch.Tensor) -> torch.Tensor:
        """An optimal critic f*(x), shape (n,): E_Q f* − E_P f* = W1(P, Q)."""

    @abstractmethod
    def true_gradient(self, y: torch.Tensor) -> torch.Tensor:
        """∇f*(y), shape (n, dim): the direction the optimal plan moves mass arriving at y (unit norm)."""

    @property
    @abstractmethod
    def true_w1(self) -> float:
        """W1(P, Q) = E‖x − T(x)‖ (estimated with many samples when there is no closed form)."""


def published_per_dim(table: dict, family: str, solver: str, pair: str):
    """The entry of a published per-dimension table (``dims``, ``methods``, ``monge_solvers``) for monge's ``solver``
    on pair spec ``<family>:<D>``; ``None`` for another family, an unmapped solver or an unlisted dimension."""
    prefix, _, arg = str(pair).strip().lower().partition(":")
    if prefix != family or not arg.isdigit():
        return None
    method = table["monge_solvers"].get(str(solver).strip().lower())
    if method is None or int(arg) not in table["dims"]:
        return None
    return table["methods"][method][table["dims"].index(int(arg))]

