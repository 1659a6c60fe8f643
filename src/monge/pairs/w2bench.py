"""The published high-dimensional W2 benchmark pairs "Mix3toMix10" (Korotin, Li, Genevay, Solomon, Filippov,
Burnaev, "Do Neural Optimal Transport Solvers Work? A Continuous Wasserstein-2 Benchmark", NeurIPS 2021).

The input P is a standardised mixture of 3 Gaussians; the output is Q = ∇ψ*♯P where ψ* is built from two
published DenseICNN potentials ψ1, ψ2 (files ``Mix3toMix10/{D}_v1.pt`` and ``{D}_v2.pt`` of the authors'
repository https://github.com/iamalexkorotin/Wasserstein2Benchmark, folder ``benchmarks/Mix3toMix10/``,
MIT licence). monge downloads nothing: pass ``root=`` pointing at a local copy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monge._checks import check_samples
from monge._integrity import load_finite_state, read_settings, read_tensor_state
from monge.errors import CheckpointError, InvalidInputError
from monge.nets.icnn import DenseICNN
from monge.pairs.base import Moments, published_per_dim
from monge.pairs.potential import CHUNK as _CHUNK, PotentialPair
from monge.pairs.registry import parse_dim, register_pair_family

W2BENCH_DIMS: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128, 256)
"""Dimensions published for the Mix3toMix10 pairs."""

FOLDER = "Mix3toMix10"
MIX_STD = 0.4
STRONG_CONVEXITY = 1e-2
COST_SAMPLES = 2**16
"""Samples (from a private generator seeded with ``moment_seed``) behind :attr:`Mix3toMix10Pair.true_cost`
and the target moments; the reference ``cost_2p16`` of the original code used the same number."""


def mixture_parameters(dim: int, n_components: int = 3, seed: int = 0,
                       std: float = MIX_STD) -> tuple[np.ndarray, np.ndarray]:
    """Centres c (k, D) and matrices A (k, D, D) of a benchmark input mixture, built as the original code
    builds its 3-component one, from a private ``np.random.RandomState(seed)`` (the global NumPy generator
    is untouched). With the defaults (k = 3, seed 0) this is exactly the published Mix3toMix10 input.

    For each coordinate d a permutation of {0, …, k−1} gives the k centres' d-th coordinates (minus
    (k−1)/2); A is standard normal with each row of each A_k normalised to unit length; c and A are then
    divided by sqrt(mean_k ‖c_k‖² + D·std²)/sqrt(D) so that the mixture has total variance D. A sample is
    c_k + std·A_k z (k uniform, z ~ N(0, I)), i.e. component covariance std²·A_k A_kᵀ.
    """
    rs = np.random.RandomState(seed)
    centers = np.zeros((n_components, dim))
    for d in range(dim):
        centers[:, d] = rs.choice(n_components, n_components, replace=False)
    centers -= (n_components - 1) / 2
    maps = rs.randn(n_components, dim, dim)
    maps /= np.linalg.norm(maps, axis=2, keepdims=True)
    factor = math.sqrt(float((centers**2).sum(axis=1).mean()) + dim * std**2) / math.sqrt(dim)
    return centers / factor, maps / factor


def read_construction(folder: Path, dim: int) -> dict[str, Any] | None:
    """The ``{dim}.json`` written by ``monge pairs build`` beside a built pair's weights, or ``None`` for
    the published files (which have none). :class:`CheckpointError` names a corrupt or mismatched file."""
    file = Path(folder) / f"{dim}.json"
    if not file.is_file():
        return None
    settings = read_settings(file, {"dim", "n_input", "seed", "input_std"}, "a pair construction file")
    if int(settings["dim"]) != dim:
        raise CheckpointError(f"{file}: describes dimension {settings['dim']}, not {dim}")
    return settings


def _hidden_sizes(dim: int) -> list[int]:
    return [max(2 * dim, 64), max(2 * dim, 64), max(dim, 32)]


def _load_potential(file: Path, dim: int) -> DenseICNN:
    """A float64 CPU DenseICNN holding the state dict in ``file`` (loaded with ``weights_only=True``);
    :class:`CheckpointError` names the file when it is missing, corrupt or does not fit the architecture."""
    net = DenseICNN(dim, _hidden_sizes(dim), rank=1, strong_convexity=STRONG_CONVEXITY, init_std=0.0,
                    dtype=torch.float64, generator=torch.Generator())  # private: global RNG untouched
    load_finite_state(net, read_tensor_state(file), file, f"DenseICNN(dim={dim})")
    net.requires_grad_(False)
    return net


def _resolve_folder(root: Any, dim: int) -> Path:
    """The folder holding ``{dim}_v1.pt``: ``root/Mix3toMix10`` or ``root`` itself."""
    if root is None or not isinstance(root, (str, Path)):
        raise InvalidInputError(f"root must be a path to the folder containing {FOLDER}/, got {root!r}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InvalidInputError(f"root {root}: not a directory (expected the folder containing {FOLDER}/ "
                                f"or {FOLDER}/ itself)")
    sub = root / FOLDER
    if sub.is_dir():
        return sub
    if root.name.lower() == FOLDER.lower() or (root / f"{dim}_v1.pt").exists():
        return root
    return sub  # missing folder: the loader reports the missing file under the expected path


class Mix3toMix10Pair(PotentialPair):
    """The published "Mix3toMix10" W2 benchmark pair in dimension ``dim`` (Korotin et al., NeurIPS 2021).

    Input P: mixture of 3 Gaussians (see :func:`mixture_parameters`). True map ∇ψ* with
    ψ* = s·(ψ1 + ψ2 − ⟨m, ·⟩), m = E_P ∇(ψ1+ψ2), s making the average per-coordinate variance of Q equal to 1;
    Q = ∇ψ*♯P. ∇ψ* is computed with DenseICNN's explicit gradients (no autograd), in chunks.

    The same class loads pairs built by ``monge pairs build`` (:func:`monge.run.build_pairs.build_mixture_pair`):
    their folder holds the same two weight files plus ``{dim}.json`` with the input mixture's construction
    (component count, seed, std), exposed as ``construction`` (``None`` for the published files).

    Args:
        dim: one of :data:`W2BENCH_DIMS` for the published files; any D ≥ 1 for a built pair.
        root: folder that contains ``Mix3toMix10/`` (or that folder itself, or a built pair's folder).
        dtype: of the samplers and of the networks used by :meth:`true_forward`.
        device: of the samplers and of the networks used by :meth:`true_forward`.
        shift: the vector −m (``potential_shift`` of the original code); estimated when ``None``.
        scale: s (``potential_scale`` of the original code); estimated when ``None``.
        estimate_samples: input samples behind the estimates of m and s (the original code used 2^14).
        estimate_seed: seeds the private ``torch.Generator`` that draws them.

    Attributes: ``shift`` (float64 (D,) tensor, −m), ``scale`` (float), ``centers`` / ``maps`` (float64
    tensors c, A), ``potentials`` (ψ1, ψ2 as float64 DenseICNNs), ``folder``; when either constant is
    estimated also ``estimated_shift``, ``estimated_scale`` and ``estimate_stderr`` (Monte-Carlo standard
    errors, keys ``"shift"`` (D,) and ``"scale"``; otherwise ``None`` / ``{}``).
    ``true_cost`` and the target moments come from :data:`COST_SAMPLES` = 2^16 samples drawn with a private
    generator seeded with ``moment_seed`` (computed once, lazily). The source moments are exact.
    """

    def __init__(self, dim: int, root: str | Path, *, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu", shift: Any = None, scale: float | None = None,
                 estimate_samples: int = 2**14, estimate_seed: int = 0):
        from monge.samplers import GaussianMixture, PushForward

        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or int(dim) <= 0:
            raise InvalidInputError(f"Mix3toMix10: dim must be one of {list(W2BENCH_DIMS)}, got {dim!r}")
        dim = int(dim)
        if isinstance(estimate_samples, bool) or not isinstance(estimate_samples, int) or estimate_samples < 2:
            raise InvalidInputError(f"estimate_samples must be an integer >= 2, got {estimate_samples!r}")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise InvalidInputError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
        self.folder = _resolve_folder(root, dim)
        self.construction = read_construction(self.folder, dim)  # None: the published pair
        if self.construction is None and dim not in W2BENCH_DIMS:
            raise InvalidInputError(f"Mix3toMix10: dim must be one of {list(W2BENCH_DIMS)}, got {dim!r}")
        n_input, mix_seed, mix_std = ((3, 0, MIX_STD) if self.construction is None else
                                      (int(self.construction["n_input"]), int(self.construction["seed"]),
                                       float(self.construction["input_std"])))
        self.potentials = tuple(_load_potential(self.folder / f"{dim}_v{v}.pt", dim) for v in (1, 2))
        self._dtype, self._device = dtype, torch.device(device)
        self._nets: dict[tuple[torch.dtype, torch.device], tuple[DenseICNN, DenseICNN]] = {}

        centers, maps = mixture_parameters(dim, n_input, mix_seed, mix_std)
        self.centers = torch.from_numpy(centers)
        self.maps = torch.from_numpy(maps)
        covs = mix_std**2 * np.einsum("kij,klj->kil", maps, maps)
        mean = centers.mean(axis=0)
        cov = (np.einsum("ki,kj->ij", centers, centers) + covs.sum(axis=0)) / n_input - np.outer(mean, mean)
        self._source_moments = (mean, 0.5 * (cov + cov.T))
        source = GaussianMixture(self.centers, torch.from_numpy(covs), dtype=dtype, device=self._device)

        self.estimate_samples, self.estimate_seed = int(estimate_samples), int(estimate_seed)
        self._set_constants(shift, scale, source)
        target = PushForward(source, self.pushing())
        name = f"w2b-mix:{dim}" if self.construction is None else f"{self.folder.name}:{dim}"
        super().__init__(name, source, target)

    # ------------------------------------------------------------------ construction helpers
    def _set_constants(self, shift: Any, scale: Any, source) -> None:
        dim = int(self.centers.shape[1])
        if shift is not None:
            shift_t = torch.as_tensor(np.asarray(shift, dtype=np.float64)).reshape(-1)
            if shift_t.shape[0] != dim or not bool(torch.isfinite(shift_t).all()):
                raise InvalidInputError(f"shift must be a finite vector of length {dim}, got shape "
                                        f"{tuple(np.shape(shift))}")
        if scale is not None:
            try:
                scale = float(scale)
            except (TypeError, ValueError):
                raise InvalidInputError(f"scale must be a positive number, got {scale!r}") from None
            if not (math.isfinite(scale) and scale > 0):
                raise InvalidInputError(f"scale must be a positive number, got {scale!r}")
        self.estimated_shift: torch.Tensor | None = None
        self.estimated_scale: float | None = None
        self.estimate_stderr: dict[str, Any] = {}
        if shift is None or scale is None:
            gen = torch.Generator().manual_seed(self.estimate_seed)
            x = source.sample(self.estimate_samples, generator=gen).to("cpu", torch.float64)
            g = self._raw_gradient(x, *self.potentials)          # ∇(ψ1+ψ2), float64
            n = g.shape[0]
            m = g.mean(dim=0)
            var = g.var(dim=0)                                    # per-coordinate, unbiased
            total = float(var.sum())
            sq = (g - m).square().sum(dim=1)
            self.estimated_shift = -m
            self.estimated_scale = math.sqrt(dim / total)
            # Monte-Carlo standard errors (delta method for s = sqrt(D / V)): se(V) = sd(‖g − m‖²)/√n.
            self.estimate_stderr = {
                "shift": (var / n).sqrt(),
                "scale": 0.5 * self.estimated_scale * float(sq.std()) / math.sqrt(n) / total,
            }
        self.shift = shift_t if shift is not None else self.estimated_shift
        self.scale = float(scale) if scale is not None else float(self.estimated_scale)
        self._shift_cache: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}

    @staticmethod
    def _raw_gradient(x: torch.Tensor, net1: DenseICNN, net2: DenseICNN) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([net1.value_and_gradient(c)[1] + net2.value_and_gradient(c)[1]
                              for c in x.split(_CHUNK)])

    def _nets_for(self, x: torch.Tensor) -> tuple[DenseICNN, DenseICNN]:
        key = (x.dtype, x.device)
        nets = self._nets.get(key)
        if nets is None:
            import copy

            nets = tuple(copy.deepcopy(p).to(dtype=x.dtype, device=x.device) for p in self.potentials)
            self._nets[key] = nets  # type: ignore[assignment]
            self._shift_cache[key] = self.shift.to(dtype=x.dtype, device=x.device)
        return nets  # type: ignore[return-value]

    # ------------------------------------------------------------------ ground truth
    def potential_value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ψ*(x) (shape (n,)) and ∇ψ*(x) (shape (n, D)), in ``x``'s dtype and device, without autograd."""
        x = check_samples(x, name="x", dim=self.dim)
        net1, net2 = self._nets_for(x)
        shift = self._shift_cache[(x.dtype, x.device)]
        values, grads = [], []
        with torch.no_grad():
            for c in x.split(_CHUNK):
                v1, g1 = net1.value_and_gradient(c)
                v2, g2 = net2.value_and_gradient(c)
                values.append(self.scale * (v1 + v2 + c @ shift))
                grads.append(self.scale * (g1 + g2 + shift))
        return torch.cat(values), torch.cat(grads)

    def true_forward(self, x: torch.Tensor) -> torch.Tensor:
        """T(x) = ∇ψ*(x) = s·(∇ψ1(x) + ∇ψ2(x) + shift), computed in ``x``'s dtype and device."""
        x = check_samples(x, name="x", dim=self.dim)
        net1, net2 = self._nets_for(x)
        shift = self._shift_cache[(x.dtype, x.device)]
        with torch.no_grad():
            return torch.cat([self.scale * (net1.value_and_gradient(c)[1] + net2.value_and_gradient(c)[1] + shift)
                              for c in x.split(_CHUNK)])

    def compile_sampling(self) -> "Mix3toMix10Pair":
        """Draw target samples through a ``torch.compile``'d ∇ψ* from now on; returns the pair.

        On CPU a batch of 1024 at D = 32 then takes about 0.95 ms instead of 2.2 ms (the two ICNN
        gradients fused by inductor), which matters when sampling is a large part of a training step. The
        samples equal :meth:`true_forward`'s up to float rounding (within 1e-6 here), so they are not
        bit-identical to the uncompiled sampler's: use it for speed runs, not to reproduce stored runs.
        :meth:`true_forward` itself (the reference map for the metrics) stays uncompiled. If compilation
        fails, sampling continues uncompiled with a ``RuntimeWarning``.
        """
        from monge.samplers import PushForward
        from monge._compile import compiled_or_eager

        def push(x: torch.Tensor, net1: DenseICNN, net2: DenseICNN, shift: torch.Tensor) -> torch.Tensor:
            return self.scale * (net1.value_and_gradient(x)[1] + net2.value_and_gradient(x)[1] + shift)

        compiled = compiled_or_eager(push, f"{self.name} sampling")

        def forward(x: torch.Tensor) -> torch.Tensor:
            net1, net2 = self._nets_for(x)
            shift = self._shift_cache[(x.dtype, x.device)]
            with torch.no_grad():
                return torch.cat([compiled(c, net1, net2, shift) for c in x.split(_CHUNK)])

        self.target = PushForward(self.source, self.pushing(forward))
        return self

    def _moments(self) -> Moments:
        """Exact source moments (from c, A); target moments estimated from 2^16 mapped samples."""
        _, _, mt, ct, _ = self._reference_statistics()
        return (self._source_moments[0], self._source_moments[1], mt, ct)

    @property
    def source_variance(self) -> float:
        """Var(P), exact: tr(Σ_k w_k (c_k c_kᵀ + 0.16 A_k A_kᵀ) − μμᵀ) (= D by construction)."""
        return float(np.trace(self._source_moments[1]))

    def __repr__(self) -> str:
        return f"Mix3toMix10Pair(dim={self.dim}, folder={str(self.folder)!r})"


def published_w2bench_table() -> dict[str, Any]:
    """The published forward L2-UVP (%) of every method on the Mix3toMix10 pairs, with its source
    (package data ``pairs/data/w2bench_published.json``): keys ``source``, ``dims``, ``methods``
    (name → list over dims, ``None`` where not reported) and ``monge_solvers`` (monge name → method)."""
    from importlib.resources import files

    return json.loads(files("monge.pairs").joinpath("data/w2bench_published.json").read_text())


def published_l2_uvp(solver: str, pair: str) -> float | None:
    """Published forward L2-UVP of the method monge's ``solver`` corresponds to, on pair spec
    ``w2b-mix:<D>``; ``None`` when there is no published number for that solver, pair or dimension."""
    return published_per_dim(published_w2bench_table(), "w2b-mix", solver, pair)


def _w2bench_factory(arg: str, *, seed: int, dtype: torch.dtype, device: str | torch.device,
                     root: Path | None = None) -> Mix3toMix10Pair:
    # ``seed`` is ignored: the pair is fixed by the published files and the original construction.
    return Mix3toMix10Pair(parse_dim("w2b-mix", arg), root, dtype=dtype, device=device)


register_pair_family(
    "w2b-mix", _w2bench_factory, needs_root=True,
    description=("Published Mix3toMix10 W2 benchmark pairs, D in 2..256 (powers of 2): mixture of 3 Gaussians "
                 "pushed by the gradient of two published ICNN potentials (Korotin et al., 'Do Neural Optimal "
                 "Transport Solvers Work? A Continuous Wasserstein-2 Benchmark', NeurIPS 2021). Files from "
                 "github.com/iamalexkorotin/Wasserstein2Benchmark, benchmarks/Mix3toMix10/ (MIT licence); "
                 "monge downloads nothing: pass root= the folder containing Mix3toMix10/."))
