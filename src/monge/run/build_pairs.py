"""Build new W2 benchmark pairs with the recipe of the published ones, using monge's own W2GN.

Korotin et al., "Do Neural Optimal Transport Solvers Work? A Continuous Wasserstein-2 Benchmark"
(NeurIPS 2021), §4: train two W2GN maps from an input Gaussian mixture P to two random Gaussian mixtures;
the benchmark's potential is the standardised sum ψ* = s·(ψ1 + ψ2 − ⟨m, ·⟩), whose gradient is then an
exactly known OT map from P to Q = ∇ψ*♯P. The two trained potentials are saved in the published layout
(``{folder}/{D}_v1.pt``, ``{D}_v2.pt``) with a ``{D}.json`` of the construction settings and seeds, so
:class:`monge.pairs.Mix3toMix10Pair` loads them like the published files and the same seed rebuilds
the same pair (bit for bit on CPU).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from monge._checks import check_positive_int
from monge.errors import InvalidInputError
from monge.pairs.w2bench import MIX_STD, STRONG_CONVEXITY, mixture_parameters
from monge.samplers import GaussianMixture
from monge.solvers import W2GN

CONSTRUCTION_FORMAT = 1


def target_mixture(dim: int, n_components: int, seed: int, version: int, std: float = MIX_STD
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Centres (k, D) and matrices (k, D, D) of random target mixture ``version`` (1 or 2).

    Drawn from a private ``np.random.RandomState([seed, version])``: centres standard normal, matrices
    standard normal with unit-norm rows, both scaled (as the input mixture) to total variance D.
    """
    rs = np.random.RandomState([seed, version])
    centers = rs.randn(n_components, dim)
    centers -= centers.mean(axis=0)
    maps = rs.randn(n_components, dim, dim)
    maps /= np.linalg.norm(maps, axis=2, keepdims=True)
    factor = math.sqrt(float((centers**2).sum(axis=1).mean()) + dim * std**2) / math.sqrt(dim)
    return centers / factor, maps / factor


def _mixture(centers: np.ndarray, maps: np.ndarray, std: float) -> GaussianMixture:
    covs = std**2 * np.einsum("kij,klj->kil", maps, maps)
    return GaussianMixture(torch.from_numpy(centers), torch.from_numpy(covs), dtype=torch.float32)


def build_mixture_pair(
    dim: int,
    out_root: str | Path,
    *,
    n_input: int = 3,
    n_output: int = 10,
    seed: int = 0,
    steps: int = 5000,
    batch_size: int = 1024,
    lr_decay: bool = True,
    callback: Callable[[int, Any], Any] | None = None,
) -> Path:
    """Train and save a new benchmark pair; returns the folder ``out_root/Mix{n_input}toMix{n_output}``.

    Args:
        dim: dimension D.
        out_root: where the pair folder is created (existing weights for this D are overwritten).
        n_input: Gaussian components of the input mixture.
        n_output: Gaussian components of each random target mixture.
        seed: seeds the input mixture, both target mixtures and both W2GN trainings.
        steps: W2GN steps for each potential (DenseICNN widths [max(2D,64), max(2D,64), max(D,32)], rank 1,
            strong convexity 1e-2 as in the published files).
        batch_size: W2GN batch size.
        lr_decay: W2GN's cosine learning-rate decay.
        callback: ``callback(version, progress)`` after every step of either training.
    """
    for name, value in (("dim", dim), ("n_input", n_input), ("n_output", n_output), ("steps", steps),
                        ("batch_size", batch_size)):
        check_positive_int(value, name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    folder = Path(out_root).expanduser() / f"Mix{n_input}toMix{n_output}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"cannot create {folder}: {exc.strerror or exc}") from exc

    source = _mixture(*mixture_parameters(dim, n_input, seed), MIX_STD)
    settings: dict[str, Any] = {}
    for version in (1, 2):
        target = _mixture(*target_mixture(dim, n_output, seed, version), MIX_STD)
        solver = W2GN(strong_convexity=STRONG_CONVEXITY, lr_decay=lr_decay)
        step_callback = None if callback is None else (lambda progress, v=version: callback(v, progress))
        result = solver.fit(source, target, steps=steps, batch_size=batch_size,
                            generator=torch.Generator().manual_seed(2 * seed + version), callback=step_callback)
        _atomic_save(result.forward_potential.state_dict(), folder / f"{dim}_v{version}.pt")
        settings = result.settings
    from monge._version import __version__

    construction = {
        "format": CONSTRUCTION_FORMAT, "family": folder.name, "dim": dim, "n_input": n_input,
        "n_output": n_output, "seed": seed, "input_std": MIX_STD, "steps": steps, "batch_size": batch_size,
        "solver": "w2gn", "solver_settings": settings, "monge_version": __version__,
        "recipe": "Korotin et al., NeurIPS 2021, §4: two W2GN potentials P → random mixtures, summed and "
                  "standardised by the loader",
    }
    tmp = folder / f".{dim}.json.tmp"
    tmp.write_text(json.dumps(construction, indent=2))
    os.replace(tmp, folder / f"{dim}.json")
    return folder


def _atomic_save(state: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({k: v.detach().cpu() for k, v in state.items()}, tmp)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------- image pairs
IMAGE_W2GN_OPTIONS: dict[str, Any] = {"lr": 1e-2, "cycle_weight": 2.0}
"""W2GN settings of the image-pair potentials: those of ``monge image-map`` but lr 1e-2, which trains maps further
from linear (digits, 3000 steps: the linear baseline scores 7.1 % forward L2-UVP on the late pair, against about
1 % at lr 1e-3 after 600 steps; photo patches at lr 1e-3 and 3000 steps: 0.0008 %, a linear map)."""
IMAGE_CHANNELS: tuple[int, ...] = (16, 32, 32)
"""Channels of the pairs' ConvICNN potentials (monge's pooled-skips design, its default widths)."""


def build_image_pair(
    data: str,
    out_root: str | Path,
    *,
    seed: int = 0,
    steps: int = 3000,
    batch_size: int = 64,
    channels: tuple[int, ...] = IMAGE_CHANNELS,
    lr: float = IMAGE_W2GN_OPTIONS["lr"],
    init_scale: float = 0.1,
    callback: Callable[[int, Any], Any] | None = None,
) -> Path:
    """Train and save the W2 image pairs ``w2img:<data>:early|mid|late``; returns ``out_root/W2Img-<data>``.

    The recipe of the published CelebA pairs (Korotin et al., NeurIPS 2021, §4.2) on monge's image measures
    (:mod:`monge.pairs.images`): two W2GN fits, each with two ConvICNN potentials (``channels``), from P toward
    the reference measures R1 and R2 (seeds ``2·seed + 1`` and ``2·seed + 2``); the forward potentials ψ1, ψ2 are
    saved at 10 %, 33 % and 100 % of ``steps`` as ``{level}_v1.pt`` / ``{level}_v2.pt``, beside
    ``construction.json`` (data, image shape, network config, steps per level, seeds, solver settings). The pair's
    potential is ½(ψ1 + ψ2). Same seed, same files (on CPU). Existing files of this data set are overwritten.
    ``lr`` is W2GN's learning rate (default 1e-2, see :data:`IMAGE_W2GN_OPTIONS`: smaller values give maps
    closer to linear).
    """
    from monge.nets import ConvICNN
    from monge.pairs.images import FOLDER_PREFIX, LEVEL_FRACTIONS, image_measures, image_shape

    for name, value in (("steps", steps), ("batch_size", batch_size)):
        check_positive_int(value, name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    shape = image_shape(data)                       # validates the data name
    key = data.strip().lower()
    levels = {level: max(1, round(fraction * steps)) for level, fraction in LEVEL_FRACTIONS.items()}
    folder = Path(out_root).expanduser() / f"{FOLDER_PREFIX}{key}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    source, references = image_measures(key)
    # A rebuild first removes the construction file, which is written last: a build that fails half-way never
    # leaves new weights loadable under an old construction.
    (folder / "construction.json").unlink(missing_ok=True)
    settings: dict[str, Any] = {}
    network: dict[str, Any] = {}
    for version, reference in zip((1, 2), references):
        generator = torch.Generator().manual_seed(2 * seed + version)
        psi, psi_bar = (ConvICNN(shape, channels, init_scale=init_scale, generator=generator) for _ in range(2))
        network = psi.config()
        saves = {step: level for level, step in levels.items()}

        def save_checkpoints(progress: Any, v: int = version) -> Any:
            level = saves.get(progress.step)
            if level is not None:
                state = progress.result().forward_potential.state_dict()
                _atomic_save(state, folder / f"{level}_v{v}.pt")
            return None if callback is None else callback(v, progress)

        solver = W2GN(forward_potential=psi, inverse_potential=psi_bar, **{**IMAGE_W2GN_OPTIONS, "lr": lr})
        result = solver.fit(source, reference, steps=steps, batch_size=batch_size, generator=generator,
                            callback=save_checkpoints)
        if result.steps < steps:
            raise InvalidInputError(f"building {folder}: potential {version} stopped at step {result.steps} of "
                                    f"{steps}, before its last checkpoint; nothing was saved as a pair")
        settings = result.settings
    from monge._version import __version__

    construction = {
        "format": CONSTRUCTION_FORMAT, "family": "w2img", "data": key, "image_shape": list(shape),
        "network": network, "levels": levels, "seed": seed, "steps": steps, "batch_size": batch_size,
        "solver": "w2gn", "solver_settings": settings, "monge_version": __version__,
        "recipe": "Korotin et al., NeurIPS 2021, §4.2: two W2GN ConvICNN potentials P → R1, R2; the pair's "
                  "potential is their mean; levels are checkpoints of those trainings",
    }
    tmp = folder / ".construction.json.tmp"
    tmp.write_text(json.dumps(construction, indent=2, default=str))
    os.replace(tmp, folder / "construction.json")
    return folder
