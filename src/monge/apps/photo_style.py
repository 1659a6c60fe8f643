"""Photo style transfer: a ConvICNN/W2GN map between the patch distributions of two photographs.

The method of "Wasserstein-2 Generative Networks" (A. Korotin, V. Egiazarian, A. Asadulaev, A. Safin,
E. Burnaev; ICLR 2021), §5.3 and App. B.3, at the scale of one pair of photographs on a CPU: every
``size`` × ``size`` patch (all channels) of a photograph is a point of R^(C·size²); W2GN fits two convolutional
ICNN potentials between the source photograph's patches and the target photograph's
(:func:`fit_photo_style`, through :func:`monge.apps.image2image.fit_image_map`), and :func:`stylize` applies
the forward map ∇ψθ to a whole image: it cuts the image into a regular grid of overlapping patches
(:func:`extract_patches`), maps every patch, and puts the image back together by a weighted average of the
overlaps (:func:`reassemble_patches`; the default Hann-like window gives each patch's border little weight,
so no seams show).

Pixels stay in [0, 1] and are not standardised: the W2 map is the optimal one for the squared distance between
patches as they are, the ConvICNN starts near the identity map on that scale, and the outputs are clipped to
[0, 1]. :func:`fit_linear_patch_map` is the linear baseline (the Bures map between the Gaussian fits of the two
patch distributions), applied the same way; :func:`patch_style_distances` measures how far an image's patch and
colour statistics are from a reference's, and :func:`photo_style_transfer` runs the whole comparison
(``monge image-map SOURCE.png TARGET.png OUT_DIR`` and ``monge image-map --demo-photos OUT_DIR``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from monge._checks import check_positive_int
from monge.errors import DimensionMismatchError, InvalidInputError

DEFAULT_PATCH_SIZE = 16
"""Side of the square patches the map acts on (3·16² = 768 dimensions for RGB)."""

DEFAULT_N_PATCHES = 20000
"""Random patches drawn from each photograph for training (W2GN draws its minibatches from these)."""

WINDOWS = ("hann", "box")
"""Weights of a patch's pixels in :func:`reassemble_patches`: ``"hann"`` (sin²(π(i + ½)/size) along each axis,
positive everywhere, small at the border) or ``"box"`` (all ones: a plain average of the overlaps)."""

DEMO_PHOTOS = ("sklearn:china", "sklearn:flower")
"""The demo's source and target: scikit-learn's two sample photographs (nothing is downloaded)."""


# ---------------------------------------------------------------------------------------------- checks
def check_photo(image: Any, name: str = "image") -> torch.Tensor:
    """Return ``image`` as a floating ``(C, H, W)`` tensor; raise :class:`InvalidInputError` naming ``name`` for
    another number of dimensions, an empty image, NaN/inf, or (floating input) values outside [0, 1]. uint8 input
    is scaled by 1/255."""
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image))
    if not isinstance(image, torch.Tensor):
        raise InvalidInputError(f"{name}: expected a (C, H, W) tensor, got {type(image).__name__}")
    if image.ndim != 3 or min(image.shape) == 0:
        raise InvalidInputError(f"{name}: expected one non-empty image of shape (C, H, W), got shape "
                                f"{tuple(image.shape)}")
    if image.dtype == torch.uint8:
        return image.to(torch.float32) / 255.0
    if not image.is_floating_point():
        raise InvalidInputError(f"{name}: expected uint8 or floating pixels, got dtype {image.dtype}")
    if not bool(torch.isfinite(image).all()):
        raise InvalidInputError(f"{name} contains NaN or infinite values")
    low, high = float(image.min()), float(image.max())
    if low < 0.0 or high > 1.0:
        raise InvalidInputError(f"{name}: pixels must lie in [0, 1], got values in [{low:g}, {high:g}]")
    return image


def _check_patch_size(size: Any, height: int, width: int, name: str = "image") -> int:
    check_positive_int(size, "patch size")
    if size > min(height, width):
        raise InvalidInputError(f"patch size {size} is larger than the {name} ({height}×{width})")
    return size


def _check_window(window: str) -> str:
    if window not in WINDOWS:
        raise InvalidInputError(f"window must be one of {WINDOWS}, got {window!r}")
    return window


# ---------------------------------------------------------------------------------------------- patches
def _crop(image: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor, size: int) -> torch.Tensor:
    """The ``size`` × ``size`` windows of ``image`` (C, H, W) at the corners (tops, lefts): (m, C, size, size)."""
    offsets = torch.arange(size)
    rows = (tops[:, None] + offsets)[:, :, None]
    cols = (lefts[:, None] + offsets)[:, None, :]
    return image[:, rows, cols].permute(1, 0, 2, 3)


def random_patches(image: Any, n: int, *, size: int = DEFAULT_PATCH_SIZE,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` random ``size`` × ``size`` patches (all channels) of one image ``(C, H, W)``: ``(n, C, size, size)``.

    Corners are drawn uniformly with replacement (the rows first, then the columns) from ``generator``; the
    global RNG is never used when a generator is given. The image's dtype is kept.
    """
    from monge.samplers import ImagePatches

    image = check_photo(image)
    check_positive_int(n, "n")
    _, height, width = image.shape
    _check_patch_size(size, height, width)
    sampler = ImagePatches(image, size)
    return sampler.sample(n, generator).reshape(n, *sampler.image_shape)


def _axis_positions(length: int, size: int, stride: int) -> torch.Tensor:
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:                 # the last patch is flush with the edge: every pixel is covered
        starts.append(length - size)
    return torch.tensor(starts)


def patch_grid(height: int, width: int, *, size: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-left corners ``(tops, lefts)`` (each ``(m,)``, row-major) of the regular grid of ``size`` × ``size``
    patches every ``stride`` pixels that covers an ``height`` × ``width`` image; the last row and column of
    patches are moved flush with the image's edges, so every pixel is in at least one patch."""
    check_positive_int(height, "height")
    check_positive_int(width, "width")
    check_positive_int(stride, "stride")
    _check_patch_size(size, height, width)
    rows, cols = _axis_positions(height, size, stride), _axis_positions(width, size, stride)
    return rows.repeat_interleave(cols.numel()), cols.repeat(rows.numel())


def extract_patches(image: Any, *, size: int = DEFAULT_PATCH_SIZE, stride: int | None = None) -> torch.Tensor:
    """The patches of :func:`patch_grid` of one image ``(C, H, W)``: ``(m, C, size, size)``, row-major.
    ``stride`` defaults to ``size // 4`` (at least 1)."""
    image = check_photo(image)
    stride = default_stride(size) if stride is None else stride
    tops, lefts = patch_grid(image.shape[1], image.shape[2], size=size, stride=stride)
    return _crop(image, tops, lefts, size)


def default_stride(patch_size: int) -> int:
    """The default stride of the patch grid: a quarter of the patch size, at least 1 (each interior pixel is then
    covered by 16 patches)."""
    return max(check_positive_int(patch_size, "patch size") // 4, 1)


def patch_window(size: int, window: str = "hann", *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The ``(size, size)`` weights of a patch's pixels in :func:`reassemble_patches` (:data:`WINDOWS`); every
    weight is positive, so every covered pixel gets a defined average."""
    check_positive_int(size, "patch size")
    if _check_window(window) == "box":
        return torch.ones(size, size, dtype=dtype)
    taper = torch.sin(math.pi * (torch.arange(size, dtype=dtype) + 0.5) / size).square()
    return taper[:, None] * taper[None, :]


def reassemble_patches(patches: Any, image_size: tuple[int, int], *, stride: int, window: str = "hann",
                       chunk: int = 4096) -> torch.Tensor:
    """Put an image ``(C, H, W)`` back together from the patches of :func:`extract_patches` (same ``stride``,
    ``image_size = (H, W)``): each pixel is the average of the patch pixels that cover it, weighted by
    :func:`patch_window`. Sums are accumulated in float64 over ``chunk`` patches at a time and the result has the
    patches' dtype, so the unmapped patches of a float32 image give the image back exactly (float64 ones to
    rounding, about 1e-16).

    Raises :class:`InvalidInputError` for patches that are not ``(m, C, s, s)`` finite floats and
    :class:`DimensionMismatchError` when ``m`` is not the grid's patch count.
    """
    patches = torch.as_tensor(patches)
    if patches.ndim != 4 or patches.shape[2] != patches.shape[3] or min(patches.shape) == 0:
        raise InvalidInputError(f"patches must be a non-empty (m, C, size, size) tensor, got shape "
                                f"{tuple(patches.shape)}")
    if not patches.is_floating_point() or not bool(torch.isfinite(patches).all()):
        raise InvalidInputError("patches must be finite floating-point values")
    if not isinstance(image_size, (tuple, list)) or len(image_size) != 2:
        raise InvalidInputError(f"image_size must be (H, W), got {image_size!r}")
    check_positive_int(chunk, "chunk")
    height, width = int(image_size[0]), int(image_size[1])
    m, channels, size, _ = patches.shape
    tops, lefts = patch_grid(height, width, size=size, stride=stride)
    if tops.numel() != m:
        raise DimensionMismatchError(f"a {height}×{width} image with patch size {size} and stride {stride} has "
                                     f"{tops.numel()} patches, got {m}")
    weights = patch_window(size, window)
    total = torch.zeros(channels, height * width, dtype=torch.float64)
    mass = torch.zeros(height * width, dtype=torch.float64)
    offsets = torch.arange(size)
    for start in range(0, m, chunk):
        stop = min(start + chunk, m)
        rows = tops[start:stop, None] + offsets
        cols = lefts[start:stop, None] + offsets
        index = (rows[:, :, None] * width + cols[:, None, :]).reshape(-1)
        block = patches[start:stop].detach().to("cpu", torch.float64) * weights
        total.index_add_(1, index, block.permute(1, 0, 2, 3).reshape(channels, -1))
        mass.index_add_(0, index, weights.expand(stop - start, size, size).reshape(-1))
    return (total / mass).reshape(channels, height, width).to(patches.dtype)


# ---------------------------------------------------------------------------------------------- maps
def fit_photo_style(source_image: Any, target_image: Any, *, patch_size: int = DEFAULT_PATCH_SIZE,
                    n_patches: int = DEFAULT_N_PATCHES, steps: int = 2000, batch_size: int = 64,
                    generator: torch.Generator | None = None, progress: bool = False,
                    callback: Callable[[Any], Any] | None = None, design: str = "pooled-skips",
                    **options: Any) -> Any:
    """Fit the W2 map between the patch distributions of two photographs (W2GN, two ConvICNN potentials).

    Args:
        source_image, target_image: ``(C, H, W)`` tensors (uint8, or floats in [0, 1]) with the same number of
            channels; their sizes may differ.
        patch_size: side of the square patches (default 16); at most the smaller image side.
        n_patches: random patches drawn from each image with ``generator`` (default 20000); W2GN's minibatches
            are drawn from them.
        steps, batch_size, progress, callback, design, options: as :func:`monge.apps.image2image.fit_image_map`
            (network options such as ``channels``, W2GN options such as ``lr``).
        generator: seeds the patches, the networks' initial weights and the minibatches.

    Returns the :class:`~monge.solvers.base.W2Result` of :func:`~monge.apps.image2image.fit_image_map`: its
    potentials act on flattened ``(C, patch_size, patch_size)`` patches; :func:`stylize` applies it to images.
    """
    from monge.apps.image2image import fit_image_map

    source = check_photo(source_image, "source_image")
    target = check_photo(target_image, "target_image").to(source.dtype)
    if source.shape[0] != target.shape[0]:
        raise DimensionMismatchError(f"source_image has {source.shape[0]} channels but target_image "
                                     f"{target.shape[0]}")
    _check_patch_size(patch_size, *source.shape[1:], name="source_image")
    _check_patch_size(patch_size, *target.shape[1:], name="target_image")
    source_patches = random_patches(source, n_patches, size=patch_size, generator=generator)
    target_patches = random_patches(target, n_patches, size=patch_size, generator=generator)
    return fit_image_map(source_patches, target_patches, steps=steps, batch_size=batch_size, generator=generator,
                         progress=progress, callback=callback, design=design, **options)


@dataclass(frozen=True)
class LinearPatchMap:
    """The linear (Bures) baseline: x ↦ A x + b on flattened patches of shape ``patch_shape`` = (C, s, s), the OT
    map between the Gaussians with the moments of the two patch distributions (:func:`fit_linear_patch_map`)."""

    matrix: torch.Tensor
    shift: torch.Tensor
    patch_shape: tuple[int, int, int]

    def __call__(self, patches: torch.Tensor) -> torch.Tensor:
        flat = patches.reshape(patches.shape[0], -1).to(self.matrix.dtype)
        return (flat @ self.matrix.T + self.shift).reshape(patches.shape).to(patches.dtype)


def fit_linear_patch_map(source_image: Any, target_image: Any, *, patch_size: int = DEFAULT_PATCH_SIZE,
                         n_patches: int = DEFAULT_N_PATCHES,
                         generator: torch.Generator | None = None) -> LinearPatchMap:
    """The Bures map between the Gaussian fits of the two images' patch distributions (``n_patches`` random
    patches of each, drawn as :func:`fit_photo_style` draws them), as a :class:`LinearPatchMap`."""
    from monge._bures import sample_bures_map

    source = check_photo(source_image, "source_image")
    target = check_photo(target_image, "target_image")
    if source.shape[0] != target.shape[0]:
        raise DimensionMismatchError(f"source_image has {source.shape[0]} channels but target_image "
                                     f"{target.shape[0]}")
    x = random_patches(source, n_patches, size=patch_size, generator=generator)
    y = random_patches(target, n_patches, size=patch_size, generator=generator)
    matrix, shift = sample_bures_map(x.reshape(n_patches, -1), y.reshape(n_patches, -1))
    return LinearPatchMap(torch.from_numpy(matrix), torch.from_numpy(shift), tuple(x.shape[1:]))


def _patch_shape(style_map: Any) -> tuple[int, ...]:
    if isinstance(style_map, LinearPatchMap):
        return style_map.patch_shape
    shape = getattr(getattr(style_map, "forward_potential", None), "image_shape", None)
    if shape is None:
        raise InvalidInputError("style_map must be a W2Result from fit_photo_style (ConvICNN potentials) or a "
                                f"LinearPatchMap, got {type(style_map).__name__}")
    return tuple(shape)


def stylize(style_map: Any, image: Any, *, stride: int | None = None, batch_size: int = 256,
            window: str = "hann") -> torch.Tensor:
    """Map a whole image ``(C, H, W)`` through overlapping patches: every patch of the grid (:func:`extract_patches`,
    the map's patch size, ``stride`` defaulting to a quarter of it) is mapped by ``style_map`` — a ``W2Result`` of
    :func:`fit_photo_style` (∇ψθ, ``batch_size`` patches at a time) or a :class:`LinearPatchMap` — clipped to
    [0, 1], and the image is put back together by :func:`reassemble_patches` with ``window``.

    The image may be larger or smaller than the photographs the map was fitted on, but needs the map's number of
    channels and at least its patch size (:class:`DimensionMismatchError` / :class:`InvalidInputError`).
    """
    from monge.apps.image2image import map_images

    channels, size, _ = _patch_shape(style_map)
    image = check_photo(image)
    if image.shape[0] != channels:
        raise DimensionMismatchError(f"the map was fitted on {channels}-channel patches, got a "
                                     f"{image.shape[0]}-channel image")
    _check_window(window)
    check_positive_int(batch_size, "batch_size")
    stride = default_stride(size) if stride is None else stride
    patches = extract_patches(image, size=size, stride=stride)
    if isinstance(style_map, LinearPatchMap):
        mapped = torch.cat([style_map(chunk) for chunk in patches.split(batch_size)]).clamp(0.0, 1.0)
    else:
        mapped = map_images(style_map, patches.contiguous(), batch_size=batch_size).detach()
    return reassemble_patches(mapped.to(image.dtype), tuple(image.shape[1:]), stride=stride, window=window)


# ---------------------------------------------------------------------------------------------- statistics
def patch_style_distances(image: Any, reference: Any, *, patch_size: int = DEFAULT_PATCH_SIZE,
                          n_patches: int = 4000, n_discrete: int = 1000, seed: int = 0) -> dict[str, float]:
    """How far the style of ``image`` is from that of ``reference`` (both ``(C, H, W)`` in [0, 1]):

    - ``patch_frechet``: the Fréchet distance (W2² of the Gaussian fits: means and covariances) between
      ``n_patches`` random ``patch_size`` patches of each image;
    - ``patch_mean_error``: the RMS difference of the two mean patches;
    - ``patch_w2``: the exact W2 (POT) between ``n_discrete`` of those patches of each (0 skips it: NaN);
    - ``color_bures`` and ``color_mean_error``: the Bures–Wasserstein distance and the distance between the mean
      colours of all pixels (3 channels only; NaN otherwise).

    The patches of ``image`` and of ``reference`` come from two generators seeded from ``seed``, so
    ``patch_style_distances(x, x)`` measures the sampling noise (the floor), not 0.
    """
    from monge.apps.color import bures_wasserstein, color_moments
    from monge.metrics import discrete_w2, frechet_distance

    image, reference = check_photo(image, "image"), check_photo(reference, "reference")
    if image.shape[0] != reference.shape[0]:
        raise DimensionMismatchError(f"image has {image.shape[0]} channels but reference {reference.shape[0]}")
    check_positive_int(n_patches, "n_patches")
    if n_patches < 2:
        raise InvalidInputError(f"n_patches must be at least 2, got {n_patches}")
    if isinstance(n_discrete, bool) or not isinstance(n_discrete, int) or n_discrete < 0:
        raise InvalidInputError(f"n_discrete must be a non-negative integer, got {n_discrete!r}")
    x = random_patches(image, n_patches, size=patch_size, generator=torch.Generator().manual_seed(2 * seed + 1))
    y = random_patches(reference, n_patches, size=patch_size, generator=torch.Generator().manual_seed(2 * seed + 2))
    x, y = x.reshape(n_patches, -1).double(), y.reshape(n_patches, -1).double()
    out = {"patch_frechet": frechet_distance(x, y),
           "patch_mean_error": float((x.mean(0) - y.mean(0)).square().mean().sqrt()),
           "patch_w2": discrete_w2(x[:n_discrete], y[:n_discrete]) if n_discrete else float("nan")}
    if image.shape[0] == 3:
        as_hwc = lambda t: t.detach().permute(1, 2, 0).to(torch.float64).numpy()  # noqa: E731
        mean, cov = color_moments(as_hwc(image))
        ref_mean, ref_cov = color_moments(as_hwc(reference))
        out["color_bures"] = bures_wasserstein(mean, cov, ref_mean, ref_cov)
        out["color_mean_error"] = float(np.linalg.norm(mean - ref_mean))
    else:
        out["color_bures"] = out["color_mean_error"] = float("nan")
    return out


# ---------------------------------------------------------------------------------------------- end to end
def load_photo(spec: Any, *, scale: float = 1.0, name: str = "image") -> torch.Tensor:
    """A photograph as a float32 ``(C, H, W)`` tensor in [0, 1]. ``spec`` is an image file or ``sklearn:china`` /
    ``sklearn:flower`` (read as RGB), an ``(H, W, 3)`` NumPy array (as :func:`monge.apps.color.check_image`), or a
    ``(C, H, W)`` tensor (as :func:`check_photo`). ``scale`` in (0, 1] shrinks it (each side rounded, at least
    1 pixel): bilinear with Pillow for files and arrays, antialiased bilinear interpolation for tensors."""
    from PIL import Image

    from monge.apps.color import resolve_image, to_uint8

    if not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and math.isfinite(scale)
            and 0 < scale <= 1):
        raise InvalidInputError(f"scale must be in (0, 1], got {scale!r}")
    if isinstance(spec, torch.Tensor):
        image = check_photo(spec, name).to(torch.float32)
        if scale == 1:
            return image
        size = [max(1, round(s * scale)) for s in image.shape[1:]]
        resized = torch.nn.functional.interpolate(image[None], size=size, mode="bilinear", antialias=True)
        return resized[0].clamp(0.0, 1.0)
    array = to_uint8(resolve_image(spec, name))
    if scale != 1:
        height, width = (max(1, round(s * scale)) for s in array.shape[:2])
        array = np.array(Image.fromarray(array).resize((width, height), Image.Resampling.BILINEAR))
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).to(torch.float32) / 255.0


@dataclass
class PhotoStyleRun:
    """What :func:`photo_style_transfer` made: the images ``(3, H, W)`` in [0, 1] (``source``, ``target``,
    ``stylized`` by the ConvICNN map, ``linear`` by the Bures baseline or None, ``colors`` by monge's colour
    transfer or None), the fitted ``result`` (a ``W2Result``) and the ``summary`` numbers (JSON-ready)."""

    source: torch.Tensor
    target: torch.Tensor
    stylized: torch.Tensor
    result: Any
    summary: dict[str, Any]
    linear: torch.Tensor | None = None
    colors: torch.Tensor | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, dict[str, float]]]:
        """``(label, distances to the target)`` for every image, in the order of the summary's table."""
        return [(label, self.summary["distances"][key]) for key, label in ROW_LABELS if key in
                self.summary["distances"]]


ROW_LABELS = (("source", "source (identity map)"), ("stylized", "ConvICNN patch map (W2GN)"),
              ("linear", "linear patch map (Bures)"), ("colors", "colour transfer (W2GN on pixels)"),
              ("target", "target (sampling floor)"))
"""Rows of the summary table: the key in ``summary["distances"]`` and its label."""


def photo_style_transfer(source: Any = DEMO_PHOTOS[0], target: Any = DEMO_PHOTOS[1], *, scale: float = 1.0,
                         patch_size: int = DEFAULT_PATCH_SIZE, stride: int | None = None,
                         n_patches: int = DEFAULT_N_PATCHES, steps: int = 2000, batch_size: int = 64,
                         seed: int = 0, window: str = "hann", baseline: bool = True, color_steps: int = 0,
                         eval_patches: int = 4000, eval_discrete: int = 1000, design: str = "pooled-skips",
                         progress: bool = False, **options: Any) -> PhotoStyleRun:
    """Stylize ``source`` as ``target`` and measure it: load both (:func:`load_photo`, ``scale``), fit the patch
    map (:func:`fit_photo_style`), :func:`stylize` the source; with ``baseline`` also the linear (Bures) patch map
    applied the same way, and with ``color_steps`` > 0 monge's colour transfer (W2GN between the pixel colours,
    :func:`monge.apps.color.fit_color_map`, that many steps) for comparison. Every image is scored against the
    target with :func:`patch_style_distances` (``eval_patches`` random patches per image, ``eval_discrete`` of them
    for the exact W2; the target against itself gives the sampling floor).
    ``seed`` seeds one generator for the patches, the weights and the minibatches."""
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(color_steps, bool) or not isinstance(color_steps, int) or color_steps < 0:
        raise InvalidInputError(f"color_steps must be a non-negative integer, got {color_steps!r}")
    _check_window(window)
    source_image = load_photo(source, scale=scale, name="source")
    target_image = load_photo(target, scale=scale, name="target")
    stride = default_stride(patch_size) if stride is None else stride
    generator = torch.Generator().manual_seed(seed)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    result = fit_photo_style(source_image, target_image, patch_size=patch_size, n_patches=n_patches, steps=steps,
                             batch_size=batch_size, generator=generator, progress=progress, design=design, **options)
    timings["train_s"] = time.perf_counter() - started
    started = time.perf_counter()
    stylized = stylize(result, source_image, stride=stride, window=window)
    timings["stylize_s"] = time.perf_counter() - started
    images = {"source": source_image, "stylized": stylized}
    linear = colors = None
    if baseline:
        started = time.perf_counter()
        linear_map = fit_linear_patch_map(source_image, target_image, patch_size=patch_size, n_patches=n_patches,
                                          generator=torch.Generator().manual_seed(seed))
        linear = images["linear"] = stylize(linear_map, source_image, stride=stride, window=window)
        timings["linear_s"] = time.perf_counter() - started
    if color_steps:
        from monge.apps.color import fit_color_map, to_uint8, transfer_colors

        started = time.perf_counter()
        as_uint8 = lambda t: to_uint8(t.permute(1, 2, 0).to(torch.float64).numpy())  # noqa: E731
        color_map = fit_color_map(as_uint8(source_image), as_uint8(target_image), steps=color_steps,
                                  generator=torch.Generator().manual_seed(seed), progress=progress)
        recoloured = transfer_colors(as_uint8(source_image), color_map)
        colors = images["colors"] = torch.from_numpy(recoloured).permute(2, 0, 1).to(torch.float32) / 255.0
        timings["colors_s"] = time.perf_counter() - started
    images["target"] = target_image
    distances = {key: patch_style_distances(img, target_image, patch_size=patch_size, n_patches=eval_patches,
                                            n_discrete=eval_discrete, seed=seed) for key, img in images.items()}
    summary = {
        "source": str(source), "target": str(target), "scale": scale, "source_shape": list(source_image.shape),
        "target_shape": list(target_image.shape), "patch_size": patch_size, "stride": stride,
        "n_patches": n_patches, "steps": steps, "batch_size": batch_size, "seed": seed, "window": window,
        "design": design, "options": {k: v for k, v in options.items() if isinstance(v, (int, float, str, bool))},
        "color_steps": color_steps, "eval_patches": eval_patches, "eval_discrete": eval_discrete,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "beta_forward": float(result.forward_potential.beta.detach()), "w2_dual_estimate": result.cost_estimate,
        "distances": distances,
    }
    return PhotoStyleRun(source_image, target_image, stylized, result, summary, linear, colors, timings)


def _json_ready(value: Any) -> Any:
    """``value`` with every NaN float (a number that was not computed) replaced by None, so the JSON is strict."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def save_photo_style(run: PhotoStyleRun, out_dir: str | Path, *, figure_width: float = 10.0) -> dict[str, Path]:
    """Write a :class:`PhotoStyleRun` into ``out_dir``: ``stylized.png`` (and ``linear.png`` / ``colors.png`` when
    made), ``comparison.png`` (source | stylized | linear | colours | target, side by side), ``result/`` (the
    ``W2Result``) and ``summary.json`` (numbers not computed are ``null``). Returns the written paths by name."""
    from monge.apps.color import plot_images_row, save_image

    out = Path(out_dir)
    as_hwc = lambda t: t.detach().clamp(0, 1).permute(1, 2, 0).to(torch.float64).numpy()  # noqa: E731
    written = {"stylized": save_image(out / "stylized.png", as_hwc(run.stylized))}
    panels = [("source", run.source), ("ConvICNN patch map", run.stylized)]
    for name, image, title in (("linear", run.linear, "linear (Bures) patch map"),
                               ("colors", run.colors, "colour transfer")):
        if image is not None:
            written[name] = save_image(out / f"{name}.png", as_hwc(image))
            panels.append((title, image))
    panels.append(("target", run.target))
    written["comparison"] = plot_images_row(out / "comparison.png", [(t, as_hwc(i)) for t, i in panels],
                                            width=figure_width)
    run.result.save(out / "result")
    written["result"] = out / "result"
    written["summary"] = out / "summary.json"
    written["summary"].write_text(json.dumps(_json_ready(run.summary), indent=2, allow_nan=False) + "\n")
    return written


__all__ = ["DEFAULT_N_PATCHES", "DEFAULT_PATCH_SIZE", "DEMO_PHOTOS", "LinearPatchMap", "PhotoStyleRun",
           "ROW_LABELS", "WINDOWS", "check_photo", "default_stride", "extract_patches", "fit_linear_patch_map",
           "fit_photo_style", "load_photo", "patch_grid", "patch_style_distances", "patch_window",
           "photo_style_transfer", "random_patches", "reassemble_patches", "save_photo_style", "stylize"]
