"""Pairs whose true map is the gradient of a known strongly convex potential: Q = ∇ψ*♯P.

The construction of the W2 benchmark (Korotin et al., "Do Neural Optimal Transport Solvers Work? A Continuous
Wasserstein-2 Benchmark", NeurIPS 2021): by Brenier's theorem ∇ψ* is the optimal map from P to ∇ψ*♯P for any
convex ψ*. :class:`PotentialPair` holds what such pairs share — the inverse map by convex conjugation, the true
cost and the target moments from one fixed sample — for the published mixtures (:mod:`monge.pairs.w2bench`) and
the image pairs (:mod:`monge.pairs.images`).
"""

from __future__ import annotations

import hashlib
import warnings
from abc import abstractmethod
from typing import Any

import numpy as np
import torch

from monge._checks import check_samples
from monge.pairs.base import BenchmarkPair, Moments

CHUNK = 8192
"""Rows per batch when a pair pushes many points through its potential."""


class PotentialPair(BenchmarkPair):
    """A :class:`BenchmarkPair` with T = ∇ψ* for a strongly convex ψ* (subclasses give ψ* and ∇ψ*).

    ``true_cost``, the target moments (and, unless a subclass knows them exactly, the source moments) come from
    :attr:`cost_samples` source samples drawn once with a private generator seeded with ``moment_seed``.
    :meth:`true_inverse` solves the conjugate problem; its answers for the last few inputs are cached (keyed by
    the inputs' bytes), so repeated evaluations on the same target sample solve it once. Target samples drawn
    through :meth:`pushing` (the subclasses' target samplers) need no solve at all: y = ∇ψ*(x) was made from a
    source sample x, which is its exact inverse, and the pair remembers the last few (x, y) it drew.
    """

    cost_samples: int = 2**16
    chunk: int = CHUNK
    inverse_cache_size: int = 2
    remembered_draws: int = 2

    def pushing(self, forward: Any = None) -> "RememberingForward":
        """``forward`` (default :meth:`true_forward`) wrapped to remember each batch it maps, for the target
        sampler ``PushForward(source, pair.pushing())``: :meth:`true_inverse` of a drawn batch is then the
        source batch it came from. Keeps references to the last :attr:`remembered_draws` batches (a copy of y,
        so that changing the returned samples in place cannot change the answer)."""
        return RememberingForward(self, self.true_forward if forward is None else forward)

    def _remember(self, x: torch.Tensor, y: torch.Tensor) -> None:
        draws: list[tuple[torch.Tensor, torch.Tensor]] = self.__dict__.setdefault("_draws", [])
        draws.append((x, y.detach().clone()))
        del draws[:-self.remembered_draws]

    def _drawn_preimage(self, y: torch.Tensor) -> torch.Tensor | None:
        for x, drawn in reversed(self.__dict__.get("_draws", [])):
            same_kind = drawn.shape == y.shape and drawn.dtype == y.dtype and drawn.device == y.device
            if same_kind and torch.equal(drawn, y):
                return x.to(device=y.device, dtype=y.dtype).clone()
        return None

    @abstractmethod
    def potential_value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ψ*(x) (shape (n,)) and ∇ψ*(x) (shape (n, D)), in ``x``'s dtype and device, without a graph."""

    def true_forward(self, x: torch.Tensor) -> torch.Tensor:
        """T(x) = ∇ψ*(x), in ``x``'s dtype and device."""
        x = check_samples(x, name="x", dim=self.dim)
        return torch.cat([self.potential_value_and_gradient(c)[1] for c in x.split(self.chunk)])

    def true_inverse(self, y: torch.Tensor, *, x0: torch.Tensor | None = None, solver: Any = None,
                     batch_size: int | None = None) -> torch.Tensor:
        """T⁻¹(y) = argmax_x ⟨x, y⟩ − ψ*(x) (unique: ψ* is strongly convex).

        When ``y`` is a batch this pair's target sampler drew (see :meth:`pushing`), the answer is the source
        batch it was made from, with no solve. Otherwise it is solved in float64 (result in ``y``'s dtype:
        float32 cannot reach the default residual 1e-6 in high D) with :func:`monge.conjugate.conjugate`
        (default :class:`LBFGSConjugate`), warm-started from the linear (Bures) inverse baseline unless ``x0``
        is given. Warns (``RuntimeWarning``) when some points did not converge. Passing ``x0``, ``solver`` or
        ``batch_size`` always solves."""
        from monge.conjugate import conjugate

        y_in = check_samples(y, name="y", dim=self.dim)
        default = x0 is None and solver is None and batch_size is None
        key = _digest(y_in) if default else None
        cache: dict[str, torch.Tensor] = self.__dict__.setdefault("_inverse_cache", {})
        if key is not None and key in cache:
            return cache[key].to(device=y_in.device, dtype=y_in.dtype).clone()
        known = self._drawn_preimage(y_in) if default else None
        if known is not None:
            out = known       # cached below too: later evaluations redraw the same y after training batches
        else:
            y64 = y_in.to(torch.float64)
            x0 = self.baseline_inverse("linear")(y64) if x0 is None else check_samples(x0, name="x0", dim=self.dim)
            res = conjugate(self.potential_value_and_gradient, y64, x0=x0.to(torch.float64), solver=solver,
                            batch_size=batch_size)
            converged = torch.as_tensor(res.converged)
            if not bool(converged.all()):
                bad = int((~converged).sum())
                warnings.warn(f"{self.name}: true_inverse did not converge for {bad} of {y_in.shape[0]} points "
                              f"(max residual {float(torch.as_tensor(res.residual).max()):.3g})", RuntimeWarning,
                              stacklevel=2)
            out = res.argmax.to(y_in.dtype)
        if key is not None:
            while len(cache) >= self.inverse_cache_size:
                cache.pop(next(iter(cache)))
            cache[key] = out.detach().clone()
        return out

    def _reference_statistics(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """(source mean, source cov, target mean, target cov, ½E‖x − T(x)‖²) from :attr:`cost_samples`
        samples, float64 accumulation (computed once)."""
        cached = getattr(self, "_ref_stats", None)
        if cached is not None:
            return cached
        gen = torch.Generator(device=self.device).manual_seed(self.moment_seed)
        x = self.source.sample(self.cost_samples, generator=gen)
        d = self.dim
        sums = {side: (torch.zeros(d, dtype=torch.float64), torch.zeros(d, d, dtype=torch.float64))
                for side in ("x", "y")}
        cost = 0.0
        for c in x.split(self.chunk):
            c64, y64 = c.to("cpu", torch.float64), self.true_forward(c).to("cpu", torch.float64)
            for side, v in (("x", c64), ("y", y64)):
                sums[side][0].add_(v.sum(dim=0))
                sums[side][1].add_(v.T @ v)
            cost += float((c64 - y64).square().sum())
        n = x.shape[0]
        stats = []
        for side in ("x", "y"):
            mean = sums[side][0] / n
            cov = (sums[side][1] - n * torch.outer(mean, mean)) / (n - 1)
            stats += [mean.numpy(), (0.5 * (cov + cov.T)).numpy()]
        self._ref_stats = (*stats, 0.5 * cost / n)
        return self._ref_stats

    def _moments(self) -> Moments:
        """Source and target moments from the :attr:`cost_samples` reference sample."""
        ms, cs, mt, ct, _ = self._reference_statistics()
        return (ms, cs, mt, ct)

    @property
    def true_cost(self) -> float:
        """½·W2²(P, Q) = ½E‖x − T(x)‖², estimated once from :attr:`cost_samples` samples (private seed)."""
        return self._reference_statistics()[4]


class RememberingForward:
    """A pair's forward map that tells the pair each (x, T(x)) batch it maps (see :meth:`PotentialPair.pushing`);
    a class rather than a closure so that pairs stay picklable."""

    def __init__(self, pair: PotentialPair, forward: Any):
        self.pair, self.forward = pair, forward

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.forward(x)
        self.pair._remember(x, y)
        return y


def _digest(t: torch.Tensor) -> str:
    """A key for a tensor's exact contents (shape, dtype and bytes)."""
    data = t.detach().to("cpu").contiguous()
    h = hashlib.sha1(f"{tuple(data.shape)}{data.dtype}".encode())
    h.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return h.hexdigest()


__all__ = ["CHUNK", "PotentialPair"]
