"""Image-to-image style maps: the gradient of a convolutional ICNN maps images of one style to another.

Reproduces, at a small scale that runs on a CPU, the unpaired image-to-image experiment of "Wasserstein-2
Generative Networks" (A. Korotin, V. Egiazarian, A. Asadulaev, A. Safin, E. Burnaev; ICLR 2021), §5.3 and
App. B.3: W2GN trains two convolutional ICNN potentials on flattened images, the forward map ∇ψθ takes
source-style images to the target style and ∇ψ̄ω maps back. Two designs (:mod:`monge.nets.conv_icnn`):
``"pooled-skips"`` (:class:`~monge.nets.ConvICNN`, monge's small design, the default) and ``"w2gn"``
(:class:`~monge.nets.W2GNConvICNN`, the paper's architecture, with an explicit input gradient).

Data: any two folders of images (:func:`load_image_folder`, Pillow), a torchvision data set already on disk
(:func:`load_torchvision_dataset`, optional), or the demo styles that ship with scikit-learn's digits
(:func:`write_digit_style_folders`: original strokes vs strokes thickened by a grey dilation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from monge.apps._deps import require
from monge.errors import DimensionMismatchError, InvalidInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

#: Keyword options of :func:`fit_image_map` that build the potentials, by ``design``: ``"pooled-skips"`` builds
#: :class:`~monge.nets.ConvICNN`, ``"w2gn"`` builds :class:`~monge.nets.W2GNConvICNN`; every other option goes to
#: :class:`~monge.solvers.w2.w2gn.W2GN`.
NETWORK_OPTIONS: dict[str, tuple[str, ...]] = {
    "pooled-skips": ("channels", "kernel_size", "activation", "quadratic_strength", "learn_quadratic", "init_scale"),
    "w2gn": ("width", "input_depth", "dense_widths", "downsamplings", "kernel_size", "activation", "strong_convexity",
             "quadratic_strength", "learn_quadratic", "init_scale"),
}

#: W2GN settings of :func:`fit_image_map` unless overridden (chosen on the digits demo, see docs/apps);
#: ``explicit_gradient`` is True instead with ``design="w2gn"``, whose potentials have an explicit gradient.
DEFAULT_W2GN_OPTIONS: dict[str, Any] = {"lr": 1e-3, "cycle_weight": 2.0, "explicit_gradient": False}


# ---------------------------------------------------------------------------------------------- loading
def _check_size(size: Sequence[int]) -> tuple[int, int]:
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)):
        raise InvalidInputError(f"size must be two positive integers (H, W), got {size!r}")
    return int(size[0]), int(size[1])


def _pil_to_tensor(image: Any, size: tuple[int, int], grayscale: bool) -> torch.Tensor:
    """A Pillow image → float tensor (C, H, W) in [0, 1], resized to ``size`` = (H, W)."""
    from PIL import Image

    image = image.convert("L" if grayscale else "RGB")
    if image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    channels = 1 if grayscale else 3
    return data.reshape(size[0], size[1], channels).permute(2, 0, 1).to(torch.float32) / 255.0


def list_image_files(path: str | Path) -> list[Path]:
    """The image files (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``, any case) directly in folder ``path``, sorted
    by name. Raises :class:`InvalidInputError` if the folder does not exist or holds no image."""
    folder = Path(path)
    if not folder.is_dir():
        raise InvalidInputError(f"image folder {str(folder)!r} does not exist or is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidInputError(f"image folder {str(folder)!r} holds no image ({', '.join(IMAGE_SUFFIXES)} files)")
    return files


def load_image_folder(path: str | Path, *, size: Sequence[int] = (16, 16), grayscale: bool = False,
                      return_paths: bool = False) -> Any:
    """Load every image of a folder with Pillow as a float tensor ``(n, C, H, W)`` in [0, 1].

    Args:
        path: the folder; its ``.png``/``.jpg``/``.jpeg``/``.bmp`` files are read in sorted order.
        size: ``(H, W)`` every image is resized to (bilinear) (default (16, 16)).
        grayscale: convert to one channel (C = 1); otherwise RGB (C = 3).
        return_paths: also return the list of files read, in the same order.

    Raises :class:`InvalidInputError` for a missing or empty folder, a bad ``size``, or a file Pillow cannot
    read (the message names the file).
    """
    from PIL import Image, UnidentifiedImageError

    size = _check_size(size)
    files = list_image_files(path)
    images = []
    for file in files:
        try:
            with Image.open(file) as image:
                images.append(_pil_to_tensor(image, size, grayscale))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise InvalidInputError(f"cannot read image file {str(file)!r}: {exc}") from None
    stacked = torch.stack(images)
    return (stacked, files) if return_paths else stacked


def load_torchvision_dataset(name: str, root: str | Path, *, size: Sequence[int] = (16, 16),
                             grayscale: bool = False, limit: int | None = None, **kwargs: Any) -> torch.Tensor:
    """Images of a torchvision data set that is already on disk, as ``(n, C, H, W)`` in [0, 1].

    ``name`` is a class of ``torchvision.datasets`` (e.g. ``"MNIST"``, ``"SVHN"``); ``kwargs`` go to its
    constructor (e.g. ``train=True`` or ``split="train"``). Nothing is downloaded (``download=False``): a data
    set that is not under ``root`` is an :class:`InvalidInputError`. ``limit`` keeps the first ``limit`` images.
    Needs the optional ``torchvision`` package (:class:`~monge.errors.MissingDependencyError` otherwise).
    """
    datasets = require("torchvision.datasets", purpose="loading torchvision data sets for image-to-image maps",
                       package="torchvision")
    size = _check_size(size)
    cls = getattr(datasets, str(name), None)
    if not isinstance(cls, type):
        raise InvalidInputError(f"unknown torchvision data set {name!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise InvalidInputError(f"limit must be a positive integer, got {limit!r}")
    kwargs["download"] = False
    try:
        dataset = cls(str(root), **kwargs)
    except (RuntimeError, OSError) as exc:
        raise InvalidInputError(f"torchvision data set {name!r} is not available under {str(root)!r} "
                                f"(nothing is downloaded): {exc}") from None
    count = len(dataset) if limit is None else min(limit, len(dataset))
    if count == 0:
        raise InvalidInputError(f"torchvision data set {name!r} under {str(root)!r} is empty")
    return torch.stack([_pil_to_tensor(dataset[i][0], size, grayscale) for i in range(count)])


# ---------------------------------------------------------------------------------------------- demo data
def digit_styles(*, size: int = 16, dilation: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's 1797 digits in two styles: ``(thin, thick, labels)``, images ``(1797, 1, size, size)``.

    ``thin`` is the original 8×8 digit upsampled to ``size`` × ``size`` (bilinear, scipy.ndimage.zoom);
    ``thick`` is the same image after a grey dilation (``scipy.ndimage.grey_dilation`` with a
    ``dilation`` × ``dilation`` window), which thickens every stroke. (The same images as the ``digits`` image
    benchmark pairs, :func:`monge.pairs.images.digit_styles`.)
    """
    from monge.pairs.images import digit_styles as styles

    return styles(size=size, dilation=dilation)


def save_images(images: torch.Tensor, out: str | Path, names: Sequence[str] | None = None) -> list[Path]:
    """Write images ``(n, C, H, W)`` in [0, 1] (values are clipped) as PNG files into folder ``out``.

    ``names`` are file names (their suffix is replaced by ``.png``); default ``00000.png``, ``00001.png``….
    Returns the written paths.
    """
    from PIL import Image

    images = _check_images(images, "images")
    if names is not None and len(names) != images.shape[0]:
        raise InvalidInputError(f"got {len(names)} names for {images.shape[0]} images")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    data = (images.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    written = []
    for i, array in enumerate(data):
        name = Path(names[i]).stem if names is not None else f"{i:05d}"
        image = Image.fromarray(array[:, :, 0], mode="L") if array.shape[2] == 1 else Image.fromarray(array, mode="RGB")
        target = folder / f"{name}.png"
        image.save(target)
        written.append(target)
    return written


def write_digit_style_folders(out: str | Path, *, n: int = 400, size: int = 16, dilation: int = 3,
                              seed: int = 0) -> tuple[Path, Path]:
    """Write the digits demo as two image folders ``out/thin`` and ``out/thick``; returns their paths.

    The two folders hold *different* digits (an unpaired problem, as in the paper): a seeded permutation of
    the 1797 digits gives ``n`` indices to ``thin`` (original strokes) and the next ``n`` to ``thick``
    (strokes thickened, see :func:`digit_styles`). ``n`` must be at most 898. File names carry the label,
    e.g. ``00012_digit3.png``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= 898:
        raise InvalidInputError(f"n must be an integer in [1, 898] (two disjoint halves of 1797 digits), got {n!r}")
    thin, thick, labels = digit_styles(size=size, dilation=dilation)
    order = torch.randperm(thin.shape[0], generator=torch.Generator().manual_seed(seed))
    out = Path(out)
    folders = (out / "thin", out / "thick")
    for folder, images, indices in ((folders[0], thin, order[:n]), (folders[1], thick, order[n:2 * n])):
        names = [f"{int(i):05d}_digit{int(labels[i])}.png" for i in indices]
        save_images(images[indices], folder, names)
    return folders


# ---------------------------------------------------------------------------------------------- fit and map
def _check_images(images: Any, name: str) -> torch.Tensor:
    images = torch.as_tensor(images)
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.ndim != 4 or images.shape[0] == 0 or min(images.shape) == 0:
        raise InvalidInputError(f"{name} must be a non-empty tensor of images (n, C, H, W) or (n, H, W), "
                                f"got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        images = images.to(torch.float32)
    if not bool(torch.isfinite(images).all()):
        raise InvalidInputError(f"{name} contains NaN or infinite values")
    return images


def fit_image_map(source_images: Any, target_images: Any, *, steps: int = 2000, batch_size: int = 64,
                  generator: torch.Generator | None = None, progress: bool = False,
                  callback: Callable[[Any], Any] | None = None, design: str = "pooled-skips", **options: Any) -> Any:
    """Fit an OT map from ``source_images`` to ``target_images`` with W2GN and two convolutional ICNN potentials.

    Args:
        source_images, target_images: ``(n, C, H, W)`` (or ``(n, H, W)``) image tensors in [0, 1] of the same
            image shape; the two sets need not be paired or of the same size (minibatches are resampled).
        steps: W2GN steps (default 2000).
        batch_size: images per side and step (default 64).
        generator: seeds the networks' initial weights and the minibatches.
        progress: draw a progress bar on stderr.
        callback: a solver callback (``Progress`` → optional True to stop), called besides the bar.
        design: ``"pooled-skips"`` (default: :class:`~monge.nets.ConvICNN`) or ``"w2gn"`` (the paper's
            architecture, :class:`~monge.nets.W2GNConvICNN`; pass a ``width`` well below its default 128 on a CPU).
        options: the design's :data:`NETWORK_OPTIONS` build both potentials (``channels``, ``kernel_size``,
            ``activation``, ``quadratic_strength``, ``learn_quadratic``, ``init_scale`` for ``"pooled-skips"``;
            ``width``, ``input_depth``, ``dense_widths``, ``downsamplings``, ``kernel_size``, ``activation``,
            ``strong_convexity``, ``quadratic_strength``, ``learn_quadratic``, ``init_scale`` for ``"w2gn"``); every
            other option goes to :class:`~monge.solvers.w2.w2gn.W2GN` (defaults :data:`DEFAULT_W2GN_OPTIONS`).

    The potentials start near ½‖x‖², so ∇ψ starts near the identity and W2GN's identity pre-training (which it
    skips for custom potentials) is not needed. With ``"pooled-skips"`` W2GN runs with ``explicit_gradient=False``:
    ConvICNN's input gradient is autograd's (its ``value_and_gradient`` is the Potential default), so both settings
    compute the same thing and the flag only states it. With ``"w2gn"`` it runs with ``explicit_gradient=True``
    (W2GNConvICNN's hand-written backward; ``False`` trains the same network through autograd's double backward).

    Returns a :class:`~monge.solvers.base.W2Result`; its ``forward``/``inverse`` act on flattened images (use
    :func:`map_images`).
    """
    from monge.apps.progress import training_progress
    from monge.nets.conv_icnn import ConvICNN, W2GNConvICNN
    from monge.solvers.w2.w2gn import W2GN

    if design not in NETWORK_OPTIONS:
        raise InvalidInputError(f"fit_image_map: design must be one of {tuple(NETWORK_OPTIONS)}, got {design!r}")

    source = _check_images(source_images, "source_images")
    target = _check_images(target_images, "target_images").to(dtype=source.dtype, device=source.device)
    if source.shape[1:] != target.shape[1:]:
        raise DimensionMismatchError(f"source images have shape {tuple(source.shape[1:])} but target images "
                                     f"{tuple(target.shape[1:])}; load both with the same size and grayscale setting")
    for key in ("forward_potential", "inverse_potential"):
        if key in options:
            raise InvalidInputError(f"fit_image_map builds the ConvICNN potentials itself; do not pass {key}")
    other_designs = {k for d, keys in NETWORK_OPTIONS.items() if d != design for k in keys}
    foreign = sorted((other_designs - set(NETWORK_OPTIONS[design])) & set(options))
    if foreign:
        raise InvalidInputError(f"fit_image_map: design={design!r} takes no {', '.join(foreign)} (its network "
                                f"options: {', '.join(NETWORK_OPTIONS[design])})")
    net_options = {k: options.pop(k) for k in NETWORK_OPTIONS[design] if k in options}
    solver_options = {**DEFAULT_W2GN_OPTIONS, "explicit_gradient": design == "w2gn", **options}
    shape = tuple(int(s) for s in source.shape[1:])
    network = ConvICNN if design == "pooled-skips" else W2GNConvICNN

    def build() -> Any:
        return network(shape, generator=generator, dtype=source.dtype, device=source.device, **net_options)

    solver = W2GN(forward_potential=build(), inverse_potential=build(), **solver_options)
    x, y = source.reshape(source.shape[0], -1), target.reshape(target.shape[0], -1)
    with training_progress(steps, f"image map (W2GN, {network.__name__})", enabled=progress) as bar:
        def both(p: Any) -> Any:
            bar(p)
            return callback(p) if callback is not None else None

        return solver.fit(x, y, steps=steps, batch_size=batch_size, generator=generator, callback=both)


def _image_shape(result: Any, which: str) -> tuple[int, ...]:
    net = result.forward_potential if which == "forward" else result.inverse_potential
    shape = getattr(net, "image_shape", None)
    if shape is None:
        raise InvalidInputError(f"the result's {which} potential is not a ConvICNN; it has no image shape")
    return tuple(shape)


def map_images(result: Any, images: Any, *, inverse: bool = False, batch_size: int = 256,
               clamp: bool = True) -> torch.Tensor:
    """Apply a fitted image map to ``images`` ``(n, C, H, W)``: ∇ψθ (or ∇ψ̄ω with ``inverse=True``).

    Returns images of the same shape, clipped to [0, 1] unless ``clamp=False``.
    """
    which = "inverse" if inverse else "forward"
    shape = _image_shape(result, which)
    images = _check_images(images, "images")
    if tuple(images.shape[1:]) != shape:
        raise DimensionMismatchError(f"the map was fitted on images of shape {shape}, got {tuple(images.shape[1:])}")
    flat = images.reshape(images.shape[0], -1)
    mapped = (result.inverse(flat, batch_size=batch_size) if inverse
              else result.forward(flat, batch_size=batch_size)).reshape(images.shape)
    return mapped.clamp(0.0, 1.0) if clamp else mapped


def save_image_grid(rows: Sequence[torch.Tensor], path: str | Path, *, scale: int = 4, padding: int = 2,
                    max_columns: int | None = None) -> Path:
    """Write a PNG grid: one row per tensor of images ``(n, C, H, W)`` in [0, 1], upscaled ``scale`` times.

    Rows may differ in length (the grid is as wide as the longest, or ``max_columns``); all images must share
    one shape. Gaps of ``padding`` pixels are white. Returns the path.
    """
    from PIL import Image

    if not rows:
        raise InvalidInputError("save_image_grid needs at least one row of images")
    if scale < 1 or padding < 0:
        raise InvalidInputError(f"scale must be >= 1 and padding >= 0, got scale={scale}, padding={padding}")
    rows = [_check_images(r, f"rows[{i}]") for i, r in enumerate(rows)]
    shape = tuple(rows[0].shape[1:])
    if any(tuple(r.shape[1:]) != shape for r in rows):
        raise DimensionMismatchError(f"all grid rows must hold images of one shape, got "
                                     f"{[tuple(r.shape[1:]) for r in rows]}")
    columns = max(r.shape[0] for r in rows) if max_columns is None else int(max_columns)
    c, h, w = shape
    cell_h, cell_w = h * scale + padding, w * scale + padding
    canvas = torch.ones(3, len(rows) * cell_h + padding, columns * cell_w + padding)
    for i, row in enumerate(rows):
        row = row[:columns].detach().cpu().to(torch.float32).clamp(0, 1)
        row = row.expand(-1, 3, -1, -1) if c == 1 else row[:, :3]
        big = row.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
        for j, image in enumerate(big):
            top, left = padding + i * cell_h, padding + j * cell_w
            canvas[:, top:top + h * scale, left:left + w * scale] = image
    array = (canvas * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode="RGB").save(path)
    return path


def style_statistics(images: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """Two style statistics of ``images`` against ``reference`` images (both ``(n, C, H, W)``):

    ``ink`` — the mean pixel intensity (ink mass per pixel) of ``images``; ``mean_image_distance`` — the
    RMS per-pixel distance between the mean image of ``images`` and that of ``reference``.
    """
    images, reference = _check_images(images, "images"), _check_images(reference, "reference")
    gap = images.mean(0) - reference.to(images.dtype).mean(0)
    return {"ink": float(images.mean()), "mean_image_distance": float(gap.square().mean().sqrt())}


__all__ = ["IMAGE_SUFFIXES", "NETWORK_OPTIONS", "DEFAULT_W2GN_OPTIONS", "list_image_files", "load_image_folder",
           "load_torchvision_dataset", "digit_styles", "save_images", "write_digit_style_folders", "fit_image_map",
           "map_images", "save_image_grid", "style_statistics"]
