"""Gaussian (Bures) optimal transport in float64: the affine OT map between two Gaussians, and the same
from the moments of two sample clouds. Shared by the pairs (ground truth, linear baseline), the solvers (the
Gaussian warm start) and the applications, so it sits below every layer."""

from __future__ import annotations

import numpy as np
import torch


def bures_map(ms: np.ndarray, cs: np.ndarray, mt: np.ndarray, ct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal affine map x ↦ A x + b between N(ms, cs) and N(mt, ct), in float64.

    A = cs^{-1/2} (cs^{1/2} ct cs^{1/2})^{1/2} cs^{-1/2}, b = mt − A ms (Knott & Smith 1984; Peyré & Cuturi,
    *Computational Optimal Transport*, remark 2.29). Square roots come from symmetric eigendecompositions,
    which is the exact (and numerically better-behaved) form of ``scipy.linalg.sqrtm`` on SPD matrices.
    """
    cs_half, cs_inv_half = psd_sqrt(cs, inverse=True)
    mid = psd_sqrt(cs_half @ ct @ cs_half)
    a = cs_inv_half @ mid @ cs_inv_half
    a = 0.5 * (a + a.T)
    return a, np.asarray(mt, dtype=np.float64) - a @ np.asarray(ms, dtype=np.float64)


def psd_sqrt(mat: np.ndarray, *, inverse: bool = False):
    """Symmetric square root of a symmetric positive (semi-)definite matrix in float64.

    With ``inverse=True`` returns ``(mat^{1/2}, mat^{-1/2})``; eigenvalues below ``d · eps · λ_max`` count as 0 (and the
    inverse at the smallest positive eigenvalue scale) to absorb rounding.
    """
    mat = np.asarray(mat, dtype=np.float64)
    mat = 0.5 * (mat + mat.T)
    w, v = np.linalg.eigh(mat)
    zero = mat.shape[0] * np.finfo(np.float64).eps * float(np.abs(w).max(initial=0.0))
    w = np.where(w > zero, w, 0.0)                    # rounding noise counts as zero, whatever its sign
    root = (v * np.sqrt(w)) @ v.T
    root = 0.5 * (root + root.T)
    if not inverse:
        return root
    floor = max(float(w.max(initial=0.0)) * 1e-15, 1e-300)
    inv = (v / np.sqrt(np.maximum(w, floor))) @ v.T
    return root, 0.5 * (inv + inv.T)


def moments(x: torch.Tensor, *, ridge: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of samples ``x`` (n, D), plus ``ridge`` × the mean variance on the diagonal,
    so that constant features or fewer samples than dimensions do not make the covariance singular."""
    data = x.detach().to("cpu", torch.float64).numpy()
    cov = np.atleast_2d(np.cov(data, rowvar=False)) if len(data) > 1 else np.zeros((data.shape[1], data.shape[1]))
    return data.mean(axis=0), _with_ridge(0.5 * (cov + cov.T), ridge)


def _with_ridge(cov: np.ndarray, ridge: float) -> np.ndarray:
    """``cov`` plus ``ridge`` × its mean variance (at least 1e-12) on the diagonal."""
    return cov + ridge * max(float(np.trace(cov)) / cov.shape[0], 1e-12) * np.eye(cov.shape[0])


def sample_bures_map(x: torch.Tensor, y: torch.Tensor, *, ridge: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """The Bures map (A, b) from the Gaussian with the moments of ``x`` to the one with the moments of ``y``."""
    return bures_map(*moments(x, ridge=ridge), *moments(y, ridge=ridge))


def streamed_moments(sampler, n: int, generator: torch.Generator | None, *, chunk: int = 8192,
                     ridge: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64, with :func:`moments`' ridge) of ``n`` samples drawn from ``sampler`` in
    chunks of ``chunk``: memory O(chunk·D + D²) whatever ``n`` (128·D samples of D = 4096 would take 17 GB at
    once). Each chunk's Gram matrix is formed in the sampler's dtype around a first-chunk centre (so float32 loses
    nothing to cancellation) and accumulated in float64."""
    total = None
    centre = None
    count = 0
    while count < n:
        x = sampler.sample(min(chunk, n - count), generator)
        if centre is None:
            centre = x.mean(0)
        xc = x - centre
        part = (xc.sum(0).to(torch.float64), (xc.T @ xc).to(torch.float64))
        total = part if total is None else (total[0] + part[0], total[1] + part[1])
        count += x.shape[0]
    mean_c = total[0] / count
    cov = (total[1] - count * torch.outer(mean_c, mean_c)) / max(count - 1, 1)
    cov = 0.5 * (cov + cov.T)
    mean = (mean_c + centre.to(torch.float64)).cpu().numpy()
    return mean, _with_ridge(cov.cpu().numpy(), ridge)
