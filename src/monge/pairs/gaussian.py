"""High-dimensional Gaussian pair with a closed-form optimal map (W2GN, Korotin et al., ICLR 2021)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import ortho_group

from monge._checks import check_positive_int, check_samples
from monge.errors import InvalidInputError
from monge.pairs.base import BenchmarkPair, Moments, psd_sqrt


def _random_gaussian_factor(dim: int, rs: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """(R, s) with R Haar-random orthogonal and s = exp(linspace(log 0.5, log 2, dim)); W = R·diag(s)."""
    if dim == 1:
        rot = np.array([[1.0 if rs.rand() < 0.5 else -1.0]])
    else:
        rot = ortho_group.rvs(dim, random_state=rs)
    scales = np.exp(np.linspace(np.log(0.5), np.log(2.0), dim))
    return np.asarray(rot, dtype=np.float64), scales


class GaussianPair(BenchmarkPair):
    """Two zero-mean Gaussians in R^dim with random rotations and spread spectra, and their exact W2 map.

    The construction of the Gaussian experiment of Korotin, Egiazarian, Asadulaev, Safin & Burnaev,
    "Wasserstein-2 Generative Networks" (ICLR 2021, §5.1): for each measure W = R·diag(exp(linspace(log ½,
    log 2, D))) with R a Haar-random rotation, Σ = W Wᵀ (so Σ has eigenvalues exp(linspace(log ¼, log 4,
    D))), zero mean. Rotations come from ``scipy.stats.ortho_group`` driven by a private
    ``np.random.RandomState(seed)``, source first then target (for D = 1, R = [[±1]], so source and target
    coincide and the true cost is 0).

    The optimal map is linear, x ↦ A x with A = Σs^{-1/2}(Σs^{1/2} Σt Σs^{1/2})^{1/2} Σs^{-1/2} (symmetric
    positive definite), the inverse is A⁻¹ = Σs^{1/2}(Σs^{1/2} Σt Σs^{1/2})^{-1/2} Σs^{1/2}, and
    ½·W2² = ½ (tr Σs + tr Σt − 2 tr (Σs^{1/2} Σt Σs^{1/2})^{1/2}). Everything is computed in float64.

    Attributes (float64 CPU tensors, exact): ``source_cov``, ``target_cov``, ``forward_matrix`` (A),
    ``inverse_matrix`` (A⁻¹). The samplers are :class:`monge.samplers.Gaussian` in ``dtype`` on ``device``.
    """

    def __init__(self, dim: int, seed: int = 0, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        from monge.samplers import Gaussian

        check_positive_int(dim, "dim")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**32:
            raise InvalidInputError(f"seed must be an integer in [0, 2**32), got {seed!r}")
        self.seed = int(seed)
        rs = np.random.RandomState(self.seed)
        rot_s, sc_s = _random_gaussian_factor(dim, rs)
        rot_t, sc_t = _random_gaussian_factor(dim, rs)
        cov_s = (rot_s * sc_s**2) @ rot_s.T
        cov_t = (rot_t * sc_t**2) @ rot_t.T
        cov_s, cov_t = 0.5 * (cov_s + cov_s.T), 0.5 * (cov_t + cov_t.T)
        # Exact square roots of Σs from its factorisation: Σs^{±1/2} = R diag(s^{±1}) Rᵀ.
        cs_half = (rot_s * sc_s) @ rot_s.T
        cs_inv_half = (rot_s / sc_s) @ rot_s.T
        mid = cs_half @ cov_t @ cs_half
        mid_half, mid_inv_half = psd_sqrt(mid, inverse=True)
        a = cs_inv_half @ mid_half @ cs_inv_half
        a_inv = cs_half @ mid_inv_half @ cs_half
        a, a_inv = 0.5 * (a + a.T), 0.5 * (a_inv + a_inv.T)
        cost = 0.5 * (np.trace(cov_s) + np.trace(cov_t) - 2.0 * np.trace(mid_half))

        self._true_cost = float(max(cost, 0.0))
        self.source_cov = torch.from_numpy(cov_s)
        self.target_cov = torch.from_numpy(cov_t)
        self.forward_matrix = torch.from_numpy(a)
        self.inverse_matrix = torch.from_numpy(a_inv)
        zeros = np.zeros(dim)
        self._moments_cache: Moments = (zeros, cov_s, zeros.copy(), cov_t)

        device = torch.device(device)
        source = Gaussian(torch.zeros(dim, dtype=torch.float64), self.source_cov, dtype=dtype, device=device)
        target = Gaussian(torch.zeros(dim, dtype=torch.float64), self.target_cov, dtype=dtype, device=device)
        super().__init__(f"gaussian:{dim}", source, target)
        self._dtype, self._device = dtype, device
        self._a = self.forward_matrix.to(device=device, dtype=dtype)
        self._a_inv = self.inverse_matrix.to(device=device, dtype=dtype)

    def _moments(self) -> Moments:
        return self._moments_cache

    def _apply(self, mat: torch.Tensor, exact: torch.Tensor, x: torch.Tensor, name: str) -> torch.Tensor:
        x = check_samples(x, name=name, dim=self.dim)
        if x.dtype != mat.dtype or x.device != mat.device:
            mat = exact.to(device=x.device, dtype=x.dtype)
        return x @ mat.T

    def true_forward(self, x: torch.Tensor) -> torch.Tensor:
        """x ↦ A x (computed with the matrix stored in the pair's dtype; other input dtypes use the exact one)."""
        return self._apply(self._a, self.forward_matrix, x, "x")

    def true_inverse(self, y: torch.Tensor) -> torch.Tensor:
        """y ↦ A⁻¹ y."""
        return self._apply(self._a_inv, self.inverse_matrix, y, "y")

    @property
    def true_cost(self) -> float:
        """½·W2² between the two Gaussians (closed form, float64)."""
        return self._true_cost

    def __repr__(self) -> str:
        return f"GaussianPair(dim={self.dim}, seed={self.seed})"
