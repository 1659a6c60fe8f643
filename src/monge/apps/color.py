"""Colour transfer between photographs with a W2 transport map between their colour distributions.

Reproduces the colour-transfer application of A. Korotin, V. Egiazarian, A. Asadulaev, A. Safin,
E. Burnaev, "Wasserstein-2 Generative Networks", ICLR 2021 (arXiv:1909.13082), Sec. 5.3 and App. C: the
pixels of each image are points of the RGB cube [0, 1]³, a solver fits the optimal (quadratic-cost) map
from the source image's colour distribution to the reference image's, and the map recolours every pixel
of the source. As in the paper the networks see all pixels (mini-batches drawn from the full pixel set,
no palette reduction) and the result is shown as palettes of random pixels before and after.

Applying the map is exact and fast on large images: the map is a function of the colour alone, so
:func:`transfer_colors` evaluates it once per *distinct* colour of the image (a photograph of 10
megapixels has far fewer distinct 8-bit colours than pixels) and scatters the results back to the pixels.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from monge.apps._deps import sklearn_datasets
from monge.errors import InvalidInputError

SAMPLE_PREFIX = "sklearn:"
"""Prefix of image specs naming one of scikit-learn's sample photographs (``sklearn:china``, ``sklearn:flower``)."""

COLOR_W2GN_DEFAULTS: dict[str, Any] = {
    "hidden_sizes": [64, 64, 32],
    "init_std": 0.1,
    "cycle_weight_x": 2.0,
    "lr": 3e-3,
    "lr_decay": True,
    "pretrain_steps": 300,
}
"""W2GN settings used by :func:`fit_color_map` for 3-D colour data unless overridden: DenseICNN [64, 64, 32]
(the W2 benchmark's width for D = 3), the W2 benchmark's initial scale 0.1 and both cycle terms, Adam 3e-3
annealed to 1 % (cosine), 300 identity pre-training steps at most. On china → flower these took the mean
colour error from 0.10 (the plain W2GN defaults) to 0.006 at 2000 steps; ``docs/apps/color_transfer.md`` has
the measurements. Everything else keeps the W2GN defaults (cycle weight 2, CELU, rank 1)."""

DEFAULT_STEPS = 2000
DEFAULT_BATCH_SIZE = 1024
DEFAULT_TRANSFER_BATCH = 4096


# ---------------------------------------------------------------------------- image input / output
def load_image(path: str | Path) -> np.ndarray:
    """Read an image file with Pillow as an ``(H, W, 3)`` uint8 RGB array.

    Grey, palette, CMYK and RGBA images are converted to RGB (an alpha channel is dropped); the EXIF
    orientation is applied. Raises :class:`InvalidInputError` naming ``path`` when the file is missing or
    is not an image Pillow can read.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"image file not found: {path}")
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            rgb = img.convert("RGB")
            array = np.asarray(rgb, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidInputError(f"{path}: not a readable image ({exc})") from exc
    if array.size == 0:
        raise InvalidInputError(f"{path}: the image is empty")
    return array


def check_image(image: Any, name: str = "image") -> np.ndarray:
    """Return ``image`` as an ``(H, W, 3)`` numpy array, uint8 or floating with values in [0, 1].

    Accepts numpy arrays and torch tensors. Raises :class:`InvalidInputError` naming ``name`` for another
    shape, an empty image, another dtype, NaN/inf, or floats outside [0, 1].
    """
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"{name}: expected an (H, W, 3) array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInputError(f"{name}: expected an RGB image of shape (H, W, 3), got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidInputError(f"{name}: empty image of shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    if not np.issubdtype(image.dtype, np.floating):
        raise InvalidInputError(f"{name}: expected uint8 or floating pixels in [0, 1], got dtype {image.dtype}")
    if not np.isfinite(image).all():
        bad = int((~np.isfinite(image)).any(axis=2).sum())
        raise InvalidInputError(f"{name}: {bad} pixels contain NaN or inf")
    low, high = float(image.min()), float(image.max())
    if low < 0.0 or high > 1.0:
        raise InvalidInputError(f"{name}: floating pixels must lie in [0, 1], got values in [{low:g}, {high:g}]")
    return image


def save_image(path: str | Path, array: Any) -> Path:
    """Write an ``(H, W, 3)`` image (uint8, or floats in [0, 1]) with Pillow; the format follows the
    extension (``.png``, ``.jpg`` at quality 95, ``.webp``, ...). Creates missing parent directories.

    Raises :class:`InvalidInputError` for a bad array, an unknown extension or an unwritable path.
    """
    from PIL import Image

    path = Path(path)
    image = to_uint8(check_image(array, name="array"))
    options = {"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path, **options)
    except ValueError as exc:  # Pillow: unknown extension
        raise InvalidInputError(f"cannot save image {path}: {exc} (use an extension such as .png or .jpg)") from exc
    except OSError as exc:
        raise InvalidInputError(f"cannot write image {path}: {exc.strerror or exc}") from exc
    return path


def to_uint8(image: np.ndarray) -> np.ndarray:
    """An image as uint8: unchanged if it already is, else floats in [0, 1] scaled by 255 and rounded."""
    if image.dtype == np.uint8:
        return image
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def sample_images() -> dict[str, np.ndarray]:
    """scikit-learn's two sample photographs as ``(427, 640, 3)`` uint8 arrays: ``{"china": ..., "flower": ...}``.

    They ship inside scikit-learn (``sklearn.datasets.load_sample_images``), so nothing is downloaded.
    """
    data = sklearn_datasets("the colour-transfer sample photographs").load_sample_images()
    return {Path(name).stem: np.asarray(img, dtype=np.uint8) for name, img in zip(data.filenames, data.images)}


def resolve_image(spec: Any, name: str = "image") -> np.ndarray:
    """An image from a spec: an array/tensor (checked), ``"sklearn:china"`` / ``"sklearn:flower"`` (scikit-learn's
    sample photographs), or a file path (read with :func:`load_image`)."""
    if isinstance(spec, (np.ndarray, torch.Tensor)):
        return check_image(spec, name=name)
    if isinstance(spec, str) and spec.startswith(SAMPLE_PREFIX):
        key = spec[len(SAMPLE_PREFIX):]
        images = sample_images()
        if key not in images:
            raise InvalidInputError(f"{name}: unknown sample image {spec!r}; available: "
                                    + ", ".join(SAMPLE_PREFIX + k for k in sorted(images)))
        return images[key]
    if isinstance(spec, (str, Path)):
        return load_image(spec)
    raise InvalidInputError(f"{name}: expected an image array, a file path or 'sklearn:<name>', got {type(spec).__name__}")


def image_to_colors(image: Any, *, name: str = "image", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """All pixels of an image as an ``(H·W, 3)`` tensor of colours in [0, 1] (float32 by default)."""
    image = check_image(image, name=name)
    pixels = torch.from_numpy(np.require(image.reshape(-1, 3), requirements=["C", "W"]))
    if image.dtype == np.uint8:
        return pixels.to(dtype) / 255.0
    return pixels.to(dtype)


# ---------------------------------------------------------------------------- fitting and applying the map
def fit_color_map(source_image: Any, reference_image: Any, *, solver: str = "w2gn", steps: int = DEFAULT_STEPS,
                  batch_size: int = DEFAULT_BATCH_SIZE, generator: torch.Generator | None = None,
                  progress: bool = False, callback: Callable[[Any], Any] | None = None, device: Any = None,
                  **solver_options: Any) -> Any:
    """Fit the W2 map from the source image's colours to the reference image's colours.

    Every pixel of each image is a sample (``monge.Empirical`` over the full ``(H·W, 3)`` pixel tensor in
    [0, 1], float32); the solver draws mini-batches of ``batch_size`` pixels from each side for ``steps``
    steps. ``solver`` is any registered W2 solver (``monge.available_solvers()``); for ``"w2gn"`` the colour
    defaults :data:`COLOR_W2GN_DEFAULTS` apply unless ``solver_options`` override them, other solvers get
    their own defaults plus ``solver_options``. Images may be arrays, tensors, paths or ``sklearn:<name>``.
    ``progress=True`` draws a progress bar on stderr; ``callback`` receives the solver's ``Progress`` too.
    ``device`` (default CPU) is where the pixels and the networks live; the generator must be on it too.

    Returns the :class:`~monge.solvers.base.W2Result`; ``result.forward(colors)`` maps colours.
    """
    import monge
    from monge.apps.progress import training_progress

    source = monge.Empirical(image_to_colors(resolve_image(source_image, "source_image"), name="source_image"),
                             device=device)
    reference = monge.Empirical(image_to_colors(resolve_image(reference_image, "reference_image"),
                                                name="reference_image"), device=device)
    options = {**COLOR_W2GN_DEFAULTS, **solver_options} if solver == "w2gn" else dict(solver_options)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise InvalidInputError(f"steps must be a positive integer, got {steps!r}")
    with training_progress(steps, f"colour map ({solver})", enabled=progress) as bar:
        def both(state: Any) -> Any:
            bar(state)
            return callback(state) if callback is not None else None

        return monge.fit(source, reference, solver=solver, steps=steps, batch_size=batch_size,
                         generator=generator, callback=both, **options)


def _unique_colors(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct colours of a uint8 image, ``(k, 3)`` uint8, and for every pixel the index of its colour.

    Colours are packed into 24-bit codes and deduplicated with a lookup table over all 2²⁴ codes: linear in
    the number of pixels (no sort), about 80 MB of scratch memory.
    """
    flat = np.ascontiguousarray(image).reshape(-1, 3)
    codes = (flat[:, 0].astype(np.int32) << 16) | (flat[:, 1].astype(np.int32) << 8) | flat[:, 2].astype(np.int32)
    present = np.zeros(1 << 24, dtype=bool)
    present[codes] = True
    unique_codes = np.flatnonzero(present).astype(np.int32)
    lookup = np.empty(1 << 24, dtype=np.int32)
    lookup[unique_codes] = np.arange(unique_codes.size, dtype=np.int32)
    inverse = lookup[codes]
    colors = np.stack([(unique_codes >> 16) & 255, (unique_codes >> 8) & 255, unique_codes & 255], axis=1)
    return colors.astype(np.uint8), inverse


def _map_colors(result: Any, colors: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``result.forward`` on ``colors`` in chunks of ``batch_size`` (no autograd graph), clipped to [0, 1]."""
    param = next(result.forward_potential.parameters())
    colors = colors.to(device=param.device, dtype=param.dtype)
    with torch.no_grad():
        return result.forward(colors, batch_size=batch_size).clamp_(0.0, 1.0)


def transfer_colors(image: Any, result: Any, *, batch_size: int = DEFAULT_TRANSFER_BATCH) -> np.ndarray:
    """Recolour every pixel of ``image`` with the fitted colour map ``result`` (a ``W2Result`` from
    :func:`fit_color_map`), returning an ``(H, W, 3)`` uint8 image.

    For a uint8 image the map is evaluated once per distinct colour (exact: the map depends on the colour
    only), in chunks of ``batch_size`` without gradients, and the outputs, clipped to [0, 1] and rounded to
    8 bits, are scattered back to the pixels. Floating images in [0, 1] are mapped pixel by pixel.
    """
    image = check_image(image)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    if getattr(result, "dim", 3) != 3:
        raise InvalidInputError(f"the colour map must act on 3-D colours, got a map of dimension {result.dim}")
    height, width, _ = image.shape
    if image.dtype == np.uint8:
        colors, inverse = _unique_colors(image)
        mapped = _map_colors(result, torch.from_numpy(colors).to(torch.float32) / 255.0, batch_size)
        mapped8 = to_uint8(mapped.to("cpu", torch.float64).numpy())
        return mapped8[inverse].reshape(height, width, 3)
    mapped = _map_colors(result, image_to_colors(image), batch_size)
    return to_uint8(mapped.to("cpu", torch.float64).numpy()).reshape(height, width, 3)


# ---------------------------------------------------------------------------- statistics and distances
def color_moments(image: Any, *, chunk: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(3,)`` and covariance ``(3, 3)`` (float64, colours in [0, 1]) of all pixels of an image,
    accumulated in chunks of ``chunk`` pixels."""
    image = check_image(image)
    flat = np.ascontiguousarray(image).reshape(-1, 3)
    scale = 255.0 if image.dtype == np.uint8 else 1.0
    n = flat.shape[0]
    total, outer = np.zeros(3), np.zeros((3, 3))
    for start in range(0, n, chunk):
        block = flat[start:start + chunk].astype(np.float64) / scale
        total += block.sum(axis=0)
        outer += block.T @ block
    mean = total / n
    cov = outer / n - np.outer(mean, mean)
    return mean, 0.5 * (cov + cov.T)


def bures_wasserstein(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """W2 between the Gaussians N(mean_a, cov_a) and N(mean_b, cov_b) (the Bures–Wasserstein distance): the square
    root of :func:`monge.metrics.frechet.frechet_distance_gaussians`."""
    from monge.metrics.frechet import frechet_distance_gaussians

    return math.sqrt(frechet_distance_gaussians(mean_b, cov_b, mean_a, cov_a))


def random_pixels(image: Any, n: int, *, generator: torch.Generator | None = None) -> np.ndarray:
    """``n`` pixels drawn uniformly without replacement (all of them if the image has fewer), ``(n, 3)`` float64
    colours in [0, 1]."""
    colors = image_to_colors(image, dtype=torch.float64)
    count = min(int(n), colors.shape[0])
    index = torch.randperm(colors.shape[0], generator=generator)[:count]
    return colors[index].numpy()


@dataclass(frozen=True)
class ColorTransferSummary:
    """What :func:`color_transfer` measured (colours in [0, 1]).

    Attributes:
        source_mean / mapped_mean / reference_mean: mean colour (R, G, B) of all pixels.
        source_cov / mapped_cov / reference_cov: 3×3 colour covariances of all pixels.
        bures_before / bures_after: Bures–Wasserstein distance (W2 of the Gaussian fits) from the source,
            resp. the mapped image, to the reference.
        discrete_w2_before / discrete_w2_after: exact W2 (POT) between ``n_discrete`` random pixels of the
            source, resp. mapped image, and of the reference (NaN when not computed).
        mean_error_before / mean_error_after: ‖mean − reference mean‖.
        cov_error_before / cov_error_after: Frobenius norm of (covariance − reference covariance).
        solver, steps, batch_size, seed: the fit; train_seconds and transfer_seconds: wall-clock times.
        width, height: the output's size; out_path and palette_path / comparison_path: files written.
    """

    solver: str
    steps: int
    batch_size: int
    seed: int | None
    width: int
    height: int
    train_seconds: float
    transfer_seconds: float
    source_mean: list[float]
    mapped_mean: list[float]
    reference_mean: list[float]
    source_cov: list[list[float]]
    mapped_cov: list[list[float]]
    reference_cov: list[list[float]]
    mean_error_before: float
    mean_error_after: float
    cov_error_before: float
    cov_error_after: float
    bures_before: float
    bures_after: float
    discrete_w2_before: float
    discrete_w2_after: float
    out_path: str
    palette_path: str | None = None
    comparison_path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The summary as a JSON-serialisable dict."""
        return asdict(self)

    def line(self) -> str:
        """One line: the output, the fit, and the distances to the reference before → after."""
        text = (f"{self.out_path} ({self.width}x{self.height}): {self.solver}, {self.steps} steps in "
                f"{self.train_seconds:.1f} s, transfer {self.transfer_seconds:.2f} s; to reference: "
                f"Bures-W2 {self.bures_before:.4f} -> {self.bures_after:.4f}, "
                f"mean err {self.mean_error_before:.4f} -> {self.mean_error_after:.4f}, "
                f"cov err {self.cov_error_before:.4f} -> {self.cov_error_after:.4f}")
        if math.isfinite(self.discrete_w2_after):
            text += f", discrete W2 {self.discrete_w2_before:.4f} -> {self.discrete_w2_after:.4f}"
        return text


def compare_colors(source: Any, mapped: Any, reference: Any, *, n_discrete: int = 2000,
                   generator: torch.Generator | None = None) -> dict[str, Any]:
    """Moments of the three images' colours and their distances to the reference (the numbers of
    :class:`ColorTransferSummary`); ``n_discrete`` random pixels per image for the exact discrete W2 (0 = skip)."""
    moments = {key: color_moments(img) for key, img in (("source", source), ("mapped", mapped),
                                                          ("reference", reference))}
    ref_mean, ref_cov = moments["reference"]
    out: dict[str, Any] = {}
    for key, (mean, cov) in moments.items():
        out[f"{key}_mean"] = mean.tolist()
        out[f"{key}_cov"] = cov.tolist()
    for when, key in (("before", "source"), ("after", "mapped")):
        mean, cov = moments[key]
        out[f"mean_error_{when}"] = float(np.linalg.norm(mean - ref_mean))
        out[f"cov_error_{when}"] = float(np.linalg.norm(cov - ref_cov))
        out[f"bures_{when}"] = bures_wasserstein(mean, cov, ref_mean, ref_cov)
    if n_discrete > 0:
        from monge.metrics import discrete_w2

        ref_pixels = torch.from_numpy(random_pixels(reference, n_discrete, generator=generator))
        for when, img in (("before", source), ("after", mapped)):
            pixels = torch.from_numpy(random_pixels(img, n_discrete, generator=generator))
            out[f"discrete_w2_{when}"] = discrete_w2(pixels, ref_pixels)
    else:
        out["discrete_w2_before"] = out["discrete_w2_after"] = float("nan")
    return out


# ---------------------------------------------------------------------------- figures
def plot_palettes(path: str | Path, source: Any, mapped: Any, reference: Any, *, n: int = 2000,
                  generator: torch.Generator | None = None) -> Path:
    """Save the W2GN paper's palette figure: ``n`` random pixels of the source, mapped and reference images
    as points of the RGB cube, each drawn in its own colour (three 3-D scatter panels)."""
    from monge.plot.plots import new_figure, save_figure

    fig = new_figure(13.5, 4.6)
    panels = (("source", source), ("mapped (result)", mapped), ("reference", reference))
    for i, (title, img) in enumerate(panels):
        pixels = random_pixels(img, n, generator=generator)
        ax = fig.add_subplot(1, 3, i + 1, projection="3d")
        ax.scatter(pixels[:, 0], pixels[:, 1], pixels[:, 2], c=pixels, s=3, depthshade=False, linewidths=0)
        ax.set_xlim(0, 1), ax.set_ylim(0, 1), ax.set_zlim(0, 1)
        ax.set_xlabel("R"), ax.set_ylabel("G"), ax.set_zlabel("B")
        ax.view_init(elev=20, azim=-60)
        ax.set_box_aspect(None, zoom=0.88)
        ax.set_title(f"{title}: {len(pixels)} random pixels")
    fig.subplots_adjust(left=0.0, right=0.98, bottom=0.02, top=0.95, wspace=0.08)
    return save_figure(fig, path)


def plot_images_row(path: str | Path, panels: Sequence[tuple[str, Any]], *, width: float = 9.0) -> Path:
    """Save images side by side, each under its title: ``panels`` are ``(title, (H, W, 3) image)`` pairs (uint8, or
    floats in [0, 1]), shown at the figure's resolution (``width`` inches at 100 dpi)."""
    from monge.plot.plots import new_figure, save_figure

    if not panels:
        raise InvalidInputError("plot_images_row needs at least one (title, image) panel")
    images = [to_uint8(check_image(img, name=title)) for title, img in panels]
    aspect = max(img.shape[0] / img.shape[1] for img in images)
    fig = new_figure(width, width / len(images) * aspect + 0.45)
    for i, (img, (title, _)) in enumerate(zip(images, panels)):
        ax = fig.add_subplot(1, len(images), i + 1)
        ax.imshow(img, interpolation="antialiased")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    fig.subplots_adjust(left=0.005, right=0.995, bottom=0.01, top=0.93, wspace=0.02)
    return save_figure(fig, path)


def plot_comparison(path: str | Path, source: Any, mapped: Any, reference: Any, *, width: float = 9.0) -> Path:
    """Save the images side by side: source | result | reference (shown at the figure's resolution)."""
    return plot_images_row(path, [("source", source), ("result (colours transferred)", mapped),
                                  ("reference", reference)], width=width)


# ---------------------------------------------------------------------------- end to end
def color_transfer(source_path: Any, reference_path: Any, out_path: str | Path, *, solver: str = "w2gn",
                   steps: int = DEFAULT_STEPS, batch_size: int = DEFAULT_BATCH_SIZE, seed: int | None = 0,
                   palette_path: str | Path | None = None, comparison_path: str | Path | None = None,
                   progress: bool = True, transfer_batch_size: int = DEFAULT_TRANSFER_BATCH,
                   n_palette: int = 2000, n_discrete: int = 2000, **solver_options: Any) -> ColorTransferSummary:
    """Transfer the colours of the reference image onto the source image and write the result.

    ``source_path`` / ``reference_path`` are file paths, ``sklearn:china`` / ``sklearn:flower``, or arrays.
    Fits the colour map with :func:`fit_color_map` (``solver``, ``steps``, ``batch_size``, ``solver_options``;
    ``seed`` seeds a ``torch.Generator`` for the networks' initialisation and the mini-batches), recolours every
    pixel with :func:`transfer_colors`, writes ``out_path`` (format from its extension), optionally the palette
    plot (:func:`plot_palettes`) and the side-by-side figure (:func:`plot_comparison`), and returns a
    :class:`ColorTransferSummary` of the colour moments and distances before and after.
    """
    source = resolve_image(source_path, "source")
    reference = resolve_image(reference_path, "reference")
    out_path = Path(out_path)
    generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    started = time.perf_counter()
    result = fit_color_map(source, reference, solver=solver, steps=steps, batch_size=batch_size,
                           generator=generator, progress=progress, **solver_options)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    mapped = transfer_colors(source, result, batch_size=transfer_batch_size)
    transfer_seconds = time.perf_counter() - started
    save_image(out_path, mapped)
    stats_generator = torch.Generator().manual_seed(int(seed) if seed is not None else 0)
    numbers = compare_colors(source, mapped, reference, n_discrete=n_discrete, generator=stats_generator)
    if palette_path is not None:
        plot_palettes(palette_path, source, mapped, reference, n=n_palette, generator=stats_generator)
    if comparison_path is not None:
        plot_comparison(comparison_path, source, mapped, reference)
    return ColorTransferSummary(
        solver=solver, steps=int(result.steps), batch_size=int(batch_size), seed=seed,
        width=int(mapped.shape[1]), height=int(mapped.shape[0]), train_seconds=train_seconds,
        transfer_seconds=transfer_seconds, out_path=str(out_path),
        palette_path=None if palette_path is None else str(palette_path),
        comparison_path=None if comparison_path is None else str(comparison_path), **numbers)
