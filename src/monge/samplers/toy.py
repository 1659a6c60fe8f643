"""Toy 2-D source/target pairs from the neural optimal transport literature.

Two families, selected by name with :func:`toy_pair` (names in :data:`TOY_PAIRS`):

* W2GN pairs — Korotin, Egiazarian, Asadulaev, Safin, Burnaev, "Wasserstein-2 Generative Networks", ICLR 2021
  (toy experiments; reference code github.com/iamalexkorotin/Wasserstein2GenerativeNetworks,
  ``src/distributions.py`` and ``notebooks/W2GN_toy_experiments.ipynb``). The source is the 2-D standard
  normal; the target is a mixture of Gaussians or a swiss roll, *standardised* to zero mean and identity
  covariance as in the reference notebook (which whitens the target with ``cov^{-1/2}``). Here the
  standardisation uses the exact moments instead of a 100k-sample estimate.

  - ``"8gaussians"``: 8 equal-weight Gaussians, centres on a circle of radius 12 at angles ``k pi/4``, std 1,
    then standardised (divided by ``sqrt(12^2/2 + 1) = sqrt(73)``: radius ~1.40, std ~0.117).
  - ``"49gaussians"`` / ``"100gaussians"``: 7x7 / 10x10 grids of equal-weight Gaussians, spacing 9, std 1,
    centred at 0, then standardised (grid spacing ~0.50 / ~0.35).
  - ``"swiss_roll"``: ``(t cos t, t sin t) + 0.8 N(0, I)`` with ``t ~ U[1.5 pi, 4.5 pi]`` (the ``x, z``
    coordinates of scikit-learn's ``make_swiss_roll(noise=0.8)``), then standardised.

* W2GAN pairs — Leygonie, She, Almahairi, Rajeswar, Courville, "Adversarial computation of optimal transport
  maps", 2019 (2-D experiments; reference code github.com/jshe/wasserstein-2, ``exp_2d/data_loader.py``).
  Both source and target are defined there and reproduced here with the same constants. (In the reference
  ``exp_2d/main.py``, ``r_loader, z_loader = get_loader(config)`` and the map is learnt from ``z`` to ``r``:
  the *second* generator returned by ``get_loader`` is the source, the first the target.)

  - ``"4gaussians"`` ("four-to-four"): source = 4 equal-weight Gaussians with std 0.1 centred at
    ``(+-sqrt 2, +-sqrt 2)`` (radius 2); target = the same with centres at ``(+-1/sqrt 2, +-1/sqrt 2)``
    (radius 1).
  - ``"checkerboard"``: source = uniform on the 4 squares of side 0.5 centred at ``(0, +-a)`` and ``(+-a, 0)``;
    target = uniform on the 5 complementary squares of the 3x3 board, centred at ``(+-a, +-a)`` and ``(0, 0)``,
    with ``a = 1.5/sqrt 2 ~ 1.06`` (equal weight per square).
  - ``"2spirals"`` ("swissroll" in the reference code): source = ``0.15 theta (-cos theta, sin theta) + u``,
    target = ``0.15 theta (cos theta, -sin theta) + u`` (the source spiral rotated by 180 degrees), with
    ``theta = sqrt(U) * 570 degrees`` (plus a 0.001 degree offset) and ``u ~ U[0, 0.1)^2`` — the reference code's
    noise, which is not centred.

  The reference code draws mixture components in fixed round-robin proportions per batch; here components
  are drawn i.i.d. (same distribution).

Constructing a pair draws nothing; all randomness comes from the ``generator`` given to ``sample``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from monge.errors import InvalidInputError, UnknownNameError
from monge.samplers.base import Sampler
from monge.samplers.gaussian import GaussianMixture, StandardNormal, _resolve_device, _resolve_dtype, _rng_device

TOY_PAIRS: tuple[str, ...] = (
    "8gaussians",
    "49gaussians",
    "100gaussians",
    "swiss_roll",
    "4gaussians",
    "checkerboard",
    "2spirals",
)
"""Names accepted by :func:`toy_pair`: the W2GN pairs first, then the W2GAN pairs."""


# ---------------------------------------------------------------------------------------------------------
# W2GN targets (Korotin et al., ICLR 2021).
# ---------------------------------------------------------------------------------------------------------


def _isotropic_mixture(centres: torch.Tensor, std: float, spread: float, standardize: bool, dtype: torch.dtype,
                       device: Any) -> GaussianMixture:
    """Equal-weight Gaussians with isotropic ``std`` at ``centres``, whose per-coordinate variance is ``spread``;
    with ``standardize`` everything is divided by the mixture's standard deviation ``sqrt(spread + std^2)``."""
    scale = math.sqrt(spread + std**2) if standardize else 1.0
    return GaussianMixture(centres / scale, std=std / scale, dtype=dtype, device=device)


def eight_gaussians(*, radius: float = 12.0, std: float = 1.0, standardize: bool = True,
                    dtype: torch.dtype = torch.float32, device: Any = "cpu") -> GaussianMixture:
    """Mixture of 8 equal-weight Gaussians with centres on a circle (W2GN toy target; Korotin et al., ICLR 2021).

    Centres ``radius * (cos(k pi/4), sin(k pi/4))``, isotropic ``std``. With ``standardize`` everything is divided
    by ``sqrt(radius^2/2 + std^2)`` so the mixture has zero mean and identity covariance, as in W2GN.
    """
    angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
    centres = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return _isotropic_mixture(centres, std, radius**2 / 2, standardize, dtype, device)


def grid_gaussians(side: int, *, step: float = 9.0, std: float = 1.0, standardize: bool = True,
                   dtype: torch.dtype = torch.float32, device: Any = "cpu") -> GaussianMixture:
    """Mixture of ``side x side`` equal-weight Gaussians on a centred square grid (W2GN toy targets, Korotin et al.).

    Grid spacing ``step``, isotropic ``std``. With ``standardize`` everything is divided by the exact standard
    deviation of one coordinate, ``sqrt(step^2 * mean(g^2) + std^2)`` over the 1-D grid ``g``, giving zero mean and
    identity covariance (W2GN standardises its 49- and 100-Gaussian targets the same way).
    """
    if isinstance(side, bool) or not isinstance(side, int) or side <= 0:
        raise InvalidInputError(f"side must be a positive integer, got {side!r}")
    grid = torch.linspace(-(side - 1) / 2, (side - 1) / 2, side, dtype=torch.float64)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    centres = step * torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    return _isotropic_mixture(centres, std, step**2 * float((grid**2).mean()), standardize, dtype, device)


@lru_cache(maxsize=8)
def _swiss_roll_moments(noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and covariance of ``(t cos t, t sin t) + noise N(0, I)``, ``t ~ U[1.5 pi, 4.5 pi]`` (quadrature)."""
    a, b = 1.5 * math.pi, 4.5 * math.pi
    nodes, weights = np.polynomial.legendre.leggauss(200)
    t = (b - a) / 2 * nodes + (a + b) / 2
    w = weights / 2  # density 1/(b-a) times Jacobian (b-a)/2
    pts = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
    mean = w @ pts
    centred = pts - mean
    cov = (centred * w[:, None]).T @ centred + noise**2 * np.eye(2)
    return mean, cov


class _Planar(Sampler):
    """A 2-D toy sampler: sets ``dim``, ``dtype`` and ``device``."""

    def __init__(self, dtype: Any, device: Any):
        self.dim = 2
        self.dtype = _resolve_dtype(dtype)
        self.device = _resolve_device(device)


def _check_non_negative(**values: float) -> None:
    """Raise :class:`InvalidInputError` naming the first value that is not a finite float >= 0."""
    for name, value in values.items():
        if not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"{name} must be a finite non-negative float, got {value!r}")


class SwissRoll(_Planar):
    """2-D swiss roll: ``(t cos t, t sin t) + noise * N(0, I)``, ``t ~ U[1.5 pi, 4.5 pi]``.

    These are the ``x, z`` coordinates of scikit-learn's ``make_swiss_roll``, the W2GN toy target (Korotin et
    al., "Wasserstein-2 Generative Networks", ICLR 2021, with ``noise=0.8``). With ``standardize`` the points are
    mapped by ``x -> cov^{-1/2} (x - mean)`` using the exact mean and covariance (computed by quadrature at
    construction, no sampling), so the distribution has zero mean and identity covariance, as in W2GN.
    """

    def __init__(
        self, *, noise: float = 0.8, standardize: bool = True, dtype: torch.dtype = torch.float32, device: Any = "cpu"
    ):
        _check_non_negative(noise=noise)
        super().__init__(dtype, device)
        self.noise = float(noise)
        self.standardize = bool(standardize)
        if self.standardize:
            mean, cov = _swiss_roll_moments(self.noise)
            lam, vec = np.linalg.eigh(cov)
            whiten = (vec / np.sqrt(lam)) @ vec.T
        else:
            mean, whiten = np.zeros(2), np.eye(2)
        self._shift = torch.as_tensor(mean, dtype=self.dtype, device=self.device)
        self._whiten = torch.as_tensor(whiten, dtype=self.dtype, device=self.device)

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        dev = _rng_device(self, generator)
        u = torch.rand(n, generator=generator, device=dev, dtype=self.dtype)
        eps = torch.randn(n, 2, generator=generator, device=dev, dtype=self.dtype)
        t = 1.5 * math.pi * (1 + 2 * u)
        x = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) + self.noise * eps
        return (x - self._shift.to(dev)) @ self._whiten.to(dev).T


# ---------------------------------------------------------------------------------------------------------
# W2GAN pairs (Leygonie et al., 2019).
# ---------------------------------------------------------------------------------------------------------


def four_gaussians(
    radius: float, *, std: float = 0.1, dtype: torch.dtype = torch.float32, device: Any = "cpu"
) -> GaussianMixture:
    """4 equal-weight Gaussians centred at ``radius * (+-1/sqrt 2, +-1/sqrt 2)`` with isotropic ``std``.

    W2GAN's "four-to-four" 2-D experiment (Leygonie et al., "Adversarial computation of optimal transport maps",
    2019) maps ``radius=2`` to ``radius=1``, both with ``std=0.1``.
    """
    c = radius / math.sqrt(2)
    centres = torch.tensor([[c, c], [c, -c], [-c, c], [-c, -c]], dtype=torch.float64)
    return GaussianMixture(centres, std=std, dtype=dtype, device=device)


class UniformSquares(_Planar):
    """Uniform mixture of axis-aligned squares: picks a centre uniformly, then a uniform point in its square.

    Used for the W2GAN checkerboard (Leygonie et al., "Adversarial computation of optimal transport maps",
    2019): see :func:`checkerboard`.

    Args:
        centres: ``(k, 2)`` square centres.
        side: side length of every square (positive).
    """

    def __init__(self, centres: Any, side: float, *, dtype: torch.dtype = torch.float32, device: Any = "cpu"):
        c = torch.as_tensor(centres, dtype=torch.float64)
        if c.ndim != 2 or c.shape[1] != 2 or c.shape[0] == 0 or not bool(torch.isfinite(c).all()):
            raise InvalidInputError(
                f"centres: expected a finite (k, 2) array with k >= 1, got shape {tuple(c.shape)}"
            )
        if not math.isfinite(side) or side <= 0:
            raise InvalidInputError(f"side must be a finite positive float, got {side!r}")
        super().__init__(dtype, device)
        self.centres = c.to(dtype=self.dtype, device=self.device)
        self.side = float(side)

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        dev = _rng_device(self, generator)
        idx = torch.randint(0, self.centres.shape[0], (n,), generator=generator, device=dev)
        u = torch.rand(n, 2, generator=generator, device=dev, dtype=self.dtype)
        return self.centres.to(dev)[idx] + (u - 0.5) * self.side


def checkerboard(
    *,
    complementary: bool = False,
    scale: float = 1.5,
    side: float = 0.5,
    dtype: torch.dtype = torch.float32,
    device: Any = "cpu",
) -> UniformSquares:
    """W2GAN checkerboard (Leygonie et al., "Adversarial computation of optimal transport maps", 2019).

    A 3x3 board with cell spacing ``a = scale/sqrt 2`` (~1.06) and squares of side ``side``: the default (W2GAN's
    target) fills the 5 cells ``(+-a, +-a), (0, 0)``; ``complementary=True`` (W2GAN's source) fills the other 4
    cells ``(0, +-a), (+-a, 0)``.
    """
    a = scale / math.sqrt(2)
    if complementary:
        centres = [[0.0, a], [0.0, -a], [a, 0.0], [-a, 0.0]]
    else:
        centres = [[a, a], [-a, -a], [a, -a], [-a, a], [0.0, 0.0]]
    return UniformSquares(centres, side, dtype=dtype, device=device)


class Spiral(_Planar):
    """One arm of the W2GAN two-spirals pair (Leygonie et al., "Adversarial computation of optimal transport
    maps", 2019; "swissroll" in their code).

    ``scale * theta * (cos theta, -sin theta) + u`` with ``theta = start + sqrt(U) * max_angle`` (angles in
    degrees here, ``U ~ U[0, 1)``) and noise ``u ~ U[0, noise)^2`` (not centred, as in the reference code). With
    ``flip=True`` the arm is rotated by 180 degrees: ``scale * theta * (-cos theta, sin theta) + u``. A flipped
    and an unflipped spiral driven by the same generator state give points whose sum is ``2u``.
    """

    def __init__(
        self,
        *,
        flip: bool = False,
        max_angle: float = 570.0,
        start: float = 0.001,
        scale: float = 0.15,
        noise: float = 0.1,
        dtype: torch.dtype = torch.float32,
        device: Any = "cpu",
    ):
        _check_non_negative(max_angle=max_angle, start=start, scale=scale, noise=noise)
        super().__init__(dtype, device)
        self.flip = bool(flip)
        self.max_angle = math.radians(max_angle)
        self.start = math.radians(start)
        self.scale = float(scale)
        self.noise = float(noise)

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        dev = _rng_device(self, generator)
        u = torch.rand(n, generator=generator, device=dev, dtype=self.dtype)
        jitter = torch.rand(n, 2, generator=generator, device=dev, dtype=self.dtype) * self.noise
        theta = self.start + u.sqrt() * self.max_angle
        sign = -1.0 if self.flip else 1.0
        arm = sign * self.scale * theta[:, None] * torch.stack([torch.cos(theta), -torch.sin(theta)], dim=1)
        return arm + jitter


# ---------------------------------------------------------------------------------------------------------
# Registry.
# ---------------------------------------------------------------------------------------------------------


def toy_pair(name: str, *, dtype: torch.dtype = torch.float32, device: Any = "cpu") -> tuple[Sampler, Sampler]:
    """Return the ``(source, target)`` samplers of the toy pair ``name`` (one of :data:`TOY_PAIRS`).

    W2GN pairs (Korotin et al., "Wasserstein-2 Generative Networks", ICLR 2021): source N(0, I_2), target
    ``"8gaussians"`` / ``"49gaussians"`` / ``"100gaussians"`` / ``"swiss_roll"``, standardised. W2GAN pairs
    (Leygonie et al., "Adversarial computation of optimal transport maps", 2019): ``"4gaussians"``,
    ``"checkerboard"``, ``"2spirals"``, both sides as in that paper's 2-D experiments. See the module docstring
    for the exact definitions. Cheap: nothing is sampled.

    Raises:
        UnknownNameError: when ``name`` is not in :data:`TOY_PAIRS`.
    """
    kw = dict(dtype=dtype, device=device)
    if name == "8gaussians":
        return StandardNormal(2, **kw), eight_gaussians(**kw)
    if name == "49gaussians":
        return StandardNormal(2, **kw), grid_gaussians(7, **kw)
    if name == "100gaussians":
        return StandardNormal(2, **kw), grid_gaussians(10, **kw)
    if name == "swiss_roll":
        return StandardNormal(2, **kw), SwissRoll(**kw)
    if name == "4gaussians":
        return four_gaussians(2.0, **kw), four_gaussians(1.0, **kw)
    if name == "checkerboard":
        return checkerboard(complementary=True, **kw), checkerboard(**kw)
    if name == "2spirals":
        return Spiral(flip=True, **kw), Spiral(**kw)
    raise UnknownNameError("toy pair", str(name), TOY_PAIRS)
