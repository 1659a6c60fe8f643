"""Image-space benchmark pairs, built with the published recipes on images that ship with scikit-learn.

The published image pairs use CelebA 64×64 faces drawn by a trained generator, which cannot be downloaded here.
monge builds the same constructions on two image measures P that ship with scikit-learn (optional extra
``monge[sklearn]``), each with a *reference* measure R that plays the part of the published pairs' second image
distribution:

- ``"digits"``: scikit-learn's 1797 digits upsampled to 1×16×16 (D = 256); R: the same digits with strokes
  thickened by a 3×3 grey dilation.
- ``"patches"``: uniformly placed 3×16×16 colour patches of the photograph ``china.jpg`` (D = 768); R: patches
  of ``flower.jpg``.

Pixels are scaled to [−1, 1] (the range of the published generators' images) and, as in the published pairs,
N(0, 0.01²) noise is added so that P has a density.

Two families:

- ``"w2img:<data>:<level>"`` — W2 pairs (Korotin et al., "Do Neural Optimal Transport Solvers Work? A Continuous
  Wasserstein-2 Benchmark", NeurIPS 2021, §4.2): Q = ∇ψ*♯P with ψ* = ½(ψ1 + ψ2), ψ1 and ψ2 two ConvICNN
  potentials trained by W2GN from P toward R (two seeds; for the digits, two disjoint halves of R), and
  ``level`` in ``early``, ``mid``, ``late``: checkpoints of those trainings at 10 %, 33 % and 100 % of the steps.
  The published pairs take their three levels from three checkpoints of the *generator* that draws the second
  distribution; monge, with no generator, takes them from the potential's training. Built by
  ``monge pairs build --image <data>`` (:func:`monge.run.build_pairs.build_image_pair`); pass the output folder
  as ``root`` (``--pair-root``).
- ``"w1img:<data>:<width>[:<degree>]"`` — W1 MinFunnel pairs in image space (Korotin, Kolesov, Burnaev,
  "Kantorovich Strikes Back! Wasserstein GANs are not Optimal Transport?", NeurIPS 2022, §4.2, the CelebA
  pairs): P as above kept inside the cube [−1.2, 1.2]^D, ``width`` funnel centres uniform in [−1, 1]^D, biases
  0.1·N(0, 1), drawn from the pair seed; degree 10 for one funnel and 100 otherwise, as published (1 funnel of
  degree 10, 16 funnels of degree 100). Nothing to build.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monge._checks import check_samples
from monge._integrity import load_finite_state, read_settings, read_tensor_state
from monge.errors import CheckpointError, InvalidInputError, UnknownNameError
from monge.pairs.funnel import FunnelPair, _check_degree
from monge.pairs.potential import PotentialPair
from monge.pairs.registry import register_pair_family

IMAGE_DATA: tuple[str, ...] = ("digits", "patches")
"""The image measures P (see the module doc)."""
W2IMG_LEVELS: tuple[str, ...] = ("early", "mid", "late")
"""Checkpoints of the potentials' training that give the three W2 image pairs of each data set."""
LEVEL_FRACTIONS: dict[str, float] = {"early": 0.1, "mid": 1 / 3, "late": 1.0}
"""Fraction of the W2GN steps at which each level's potentials are saved."""
NOISE_STD = 0.01
"""Standard deviation of the noise added to every image (published: 0.01)."""
IMAGE_SIZE = 16
"""Side of the digits (upsampled from 8) and of the photo patches."""
W1IMG_HALF_SIDE = 1.2
"""Half side of the cube the W1 image pairs live in (published ``semi_length_square`` for CelebA)."""
W1IMG_DEGREES = {1: 10.0}
"""Published degree by number of funnels (1 → 10); 100 for any other width."""
FOLDER_PREFIX = "W2Img-"
CONSTRUCTION_FILE = "construction.json"


# ---------------------------------------------------------------------------------------------- image data
def digit_styles(*, size: int = IMAGE_SIZE, dilation: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's 1797 digits in two styles: ``(thin, thick, labels)``, images ``(1797, 1, size, size)`` in
    [0, 1], float32. ``thin`` is the 8×8 digit upsampled (bilinear, ``scipy.ndimage.zoom``); ``thick`` the same
    after a ``dilation`` × ``dilation`` grey dilation (``scipy.ndimage.grey_dilation``), which thickens strokes."""
    from scipy import ndimage

    from monge._deps import sklearn_datasets

    if isinstance(size, bool) or not isinstance(size, int) or size < 8 or isinstance(dilation, bool) \
            or not isinstance(dilation, int) or dilation < 1:
        raise InvalidInputError(f"digit_styles needs size >= 8 and dilation >= 1, got size={size}, dilation={dilation}")
    data = sklearn_datasets("the digit images").load_digits()
    images = np.asarray(data.images, dtype=np.float64) / 16.0
    thin = ndimage.zoom(images, (1, size / 8, size / 8), order=1).clip(0.0, 1.0)
    thick = ndimage.grey_dilation(thin, size=(1, dilation, dilation))
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32).unsqueeze(1)  # noqa: E731
    return as_tensor(thin), as_tensor(thick), torch.as_tensor(data.target, dtype=torch.int64)


@lru_cache(maxsize=1)
def _photographs() -> dict[str, torch.Tensor]:
    from monge._deps import sklearn_datasets

    data = sklearn_datasets("the photograph patches").load_sample_images()
    return {Path(name).stem: torch.as_tensor(np.array(img)).permute(2, 0, 1).contiguous()
            for name, img in zip(data.filenames, data.images)}


def photograph(name: str) -> torch.Tensor:
    """scikit-learn's photograph ``"china"`` or ``"flower"`` as a ``(3, 427, 640)`` float32 tensor in [0, 1]."""
    photos = _photographs()
    if name not in photos:
        raise UnknownNameError("photograph", str(name), sorted(photos))
    return photos[name].to(torch.float32) / 255.0


def _check_data(data: Any) -> str:
    key = data.strip().lower() if isinstance(data, str) else data
    if key not in IMAGE_DATA:
        raise UnknownNameError("image data", str(data), IMAGE_DATA)
    return key


def image_shape(data: str) -> tuple[int, int, int]:
    """``(C, H, W)`` of the images of ``data``: (1, 16, 16) for the digits, (3, 16, 16) for the patches."""
    return (1, IMAGE_SIZE, IMAGE_SIZE) if _check_data(data) == "digits" else (3, IMAGE_SIZE, IMAGE_SIZE)


def image_measures(data: str, *, dtype: torch.dtype = torch.float32, device: Any = "cpu",
                   clip: float | None = None) -> tuple[Any, tuple[Any, Any]]:
    """The input measure P of ``data`` and its two reference measures (R1, R2), as samplers of flattened images
    in [−1, 1] plus N(0, 0.01²) noise (clamped to [−clip, clip] when ``clip`` is given); each has an
    ``image_shape`` attribute (:func:`image_shape`).

    For the digits R1 and R2 are the thickened digits of two disjoint halves (a fixed seeded split); for the
    patches both are patches of ``flower.jpg``.
    """
    from monge.samplers import Empirical, ImagePatches, WithNoise

    key = _check_data(data)

    def noisy(base: Any) -> Any:
        return WithNoise(base, NOISE_STD, clip=clip)

    if key == "digits":
        thin, thick, _ = digit_styles()
        rows = lambda t: (2.0 * t - 1.0).reshape(t.shape[0], -1)  # noqa: E731
        order = torch.randperm(thick.shape[0], generator=torch.Generator().manual_seed(0))
        halves = order[: len(order) // 2], order[len(order) // 2:]
        source = noisy(Empirical(rows(thin), dtype=dtype, device=device))
        references = tuple(noisy(Empirical(rows(thick[h]), dtype=dtype, device=device)) for h in halves)
    else:
        patches = {name: ImagePatches(2.0 * photograph(name) - 1.0, IMAGE_SIZE, dtype=dtype, device=device)
                   for name in ("china", "flower")}
        source = noisy(patches["china"])
        references = (noisy(patches["flower"]), noisy(patches["flower"]))
    for sampler in (source, *references):
        sampler.image_shape = image_shape(key)  # solvers with convolutional networks read it
    return source, references  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------- W2 pairs
def w2img_folder(root: Any, data: str) -> Path:
    """The folder of a built W2 image pair: ``root/W2Img-<data>``, or ``root`` itself when it holds the
    construction file."""
    if root is None or not isinstance(root, (str, Path)):
        raise InvalidInputError(f"root must be the folder that holds {FOLDER_PREFIX}{data}/ (written by "
                                f"`monge pairs build --image {data}`), got {root!r}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InvalidInputError(f"root {root}: not a directory (expected the --out folder of `monge pairs build "
                                f"--image {data}`)")
    sub = root / f"{FOLDER_PREFIX}{data}"
    return root if not sub.is_dir() and (root / CONSTRUCTION_FILE).is_file() else sub


def read_image_construction(folder: Path, data: str) -> dict[str, Any]:
    """The construction file of a built W2 image pair; :class:`CheckpointError` names a missing, corrupt or
    mismatched file."""
    file = Path(folder) / CONSTRUCTION_FILE
    if not file.is_file():
        raise CheckpointError(f"{file}: missing; build the pair first with `monge pairs build --image {data} "
                              f"--out {Path(folder).parent}`")
    settings = read_settings(file, {"data", "image_shape", "network", "levels"}, "an image pair construction file")
    if settings["data"] != data:
        raise CheckpointError(f"{file}: describes image data {settings['data']!r}, not {data!r}")
    return settings


class ImagePotentialPair(PotentialPair):
    """A W2 image benchmark pair ``w2img:<data>:<level>`` (see the module doc): P = noisy images of ``data``,
    T = ∇ψ* with ψ* = ½(ψ1 + ψ2) two ConvICNN potentials saved by ``monge pairs build --image``.

    ∇ψ* is computed by autograd in the input's dtype and device (a copy of the potentials per dtype/device), in
    chunks. ``true_cost``, the moments of P and Q (for the linear baseline and L2-UVP) come from
    :attr:`cost_samples` = 2^14 samples (private generator); :meth:`true_inverse` solves the conjugate problem
    (strongly convex: each ConvICNN carries (β/2)‖x‖², β > 0).

    Attributes: ``data``, ``level``, ``folder``, ``construction`` (the build settings), ``image_shape``,
    ``potentials`` (ψ1, ψ2, float64 CPU, frozen).
    """

    cost_samples = 2**14
    chunk = 1024
    version = 1

    def __init__(self, data: str, level: str, root: Any, *, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu"):
        from monge.nets import build_network
        from monge.samplers import PushForward

        self.data = _check_data(data)
        key = level.strip().lower() if isinstance(level, str) else level
        if key not in W2IMG_LEVELS:
            raise UnknownNameError("level", str(level), W2IMG_LEVELS)
        self.level = key
        self.folder = w2img_folder(root, self.data)
        self.construction = read_image_construction(self.folder, self.data)
        self.image_shape = tuple(int(s) for s in self.construction["image_shape"])
        if self.image_shape != image_shape(self.data):
            raise CheckpointError(f"{self.folder / CONSTRUCTION_FILE}: image shape {self.image_shape} is not "
                                  f"{image_shape(self.data)}")
        nets = []
        for v in (1, 2):
            file = self.folder / f"{self.level}_v{v}.pt"
            try:
                net = build_network(self.construction["network"])
            except (TypeError, ValueError, InvalidInputError, UnknownNameError) as exc:
                raise CheckpointError(f"{self.folder / CONSTRUCTION_FILE}: cannot rebuild the network ({exc})") from exc
            net = net.to(torch.float64)
            load_finite_state(net, read_tensor_state(file), file, f"{type(net).__name__}{self.image_shape}")
            nets.append(net.requires_grad_(False).eval())
        self.potentials = tuple(nets)
        self._copies: dict[tuple[torch.dtype, torch.device], tuple[Any, Any]] = {}
        source, _ = image_measures(self.data, dtype=dtype, device=device)
        super().__init__(f"w2img:{self.data}:{self.level}", source, PushForward(source, self.pushing()))

    def _nets_for(self, x: torch.Tensor) -> tuple[Any, Any]:
        key = (x.dtype, x.device)
        if key not in self._copies:
            import copy

            self._copies[key] = tuple(copy.deepcopy(p).to(dtype=x.dtype, device=x.device)  # type: ignore[assignment]
                                      for p in self.potentials)
        return self._copies[key]

    def potential_value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ψ*(x) = ½(ψ1(x) + ψ2(x)) (shape (n,)) and its gradient (shape (n, D)), without a graph."""
        x = check_samples(x, name="x", dim=self.dim)
        values, grads = [], []
        with torch.no_grad():
            for c in x.split(self.chunk):
                (v1, g1), (v2, g2) = (net.autograd_value_and_gradient(c) for net in self._nets_for(c))
                values.append(0.5 * (v1 + v2))
                grads.append(0.5 * (g1 + g2))
        return torch.cat(values), torch.cat(grads)

    def __repr__(self) -> str:
        return f"ImagePotentialPair(data={self.data!r}, level={self.level!r}, folder={str(self.folder)!r})"


# ---------------------------------------------------------------------------------------------- W1 pairs
def w1img_degree(width: int) -> float:
    """The published degree for ``width`` funnels: 10 for one funnel, 100 otherwise."""
    return W1IMG_DEGREES.get(int(width), 100.0)


def image_funnel_pair(data: str, width: int, *, degree: float | None = None, seed: int = 0,
                      dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> FunnelPair:
    """The W1 image pair ``w1img:<data>:<width>[:<degree>]`` (see the module doc): the funnel map of ``width``
    centres uniform in [−1, 1]^D and biases 0.1·N(0, 1), drawn in float64 from a private
    ``torch.Generator().manual_seed(seed)``, applied to the noisy images of ``data`` inside [−1.2, 1.2]^D."""
    key = _check_data(data)
    if isinstance(width, bool) or not isinstance(width, int) or width <= 0:
        raise InvalidInputError(f"width must be a positive integer, got {width!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidInputError(f"seed must be an integer, got {seed!r}")
    degree = w1img_degree(width) if degree is None else _check_degree(degree)
    dim = math.prod(image_shape(key))
    gen = torch.Generator().manual_seed(seed)
    centers = 2.0 * torch.rand(width, dim, generator=gen, dtype=torch.float64) - 1.0
    biases = 0.1 * torch.randn(width, generator=gen, dtype=torch.float64)
    source, _ = image_measures(key, dtype=dtype, device=device, clip=W1IMG_HALF_SIDE)
    name = f"w1img:{key}:{width}" + ("" if degree == w1img_degree(width) else f":{degree:g}")
    pair = FunnelPair(centers, biases, degree=degree, half_side=W1IMG_HALF_SIDE, name=name, dtype=dtype,
                      device=device, source=source)
    pair.seed = seed
    pair.image_shape = image_shape(key)  # type: ignore[attr-defined]
    return pair


# ---------------------------------------------------------------------------------------------- registry
def _w2img_factory(arg: str, *, seed: int, dtype: torch.dtype, device: str | torch.device,
                   root: Path | None = None) -> ImagePotentialPair:
    # ``seed`` is ignored: the built potentials fix the pair (the build's own seed is in its construction file).
    data, _, level = arg.partition(":")
    return ImagePotentialPair(data, level, root, dtype=dtype, device=device)


def _w1img_factory(arg: str, *, seed: int, dtype: torch.dtype, device: str | torch.device,
                   root: Path | None = None) -> FunnelPair:
    parts = [p.strip() for p in arg.split(":")]
    pattern = "w1img:<data>:<width>[:<degree>]"
    if len(parts) not in (2, 3):
        raise InvalidInputError(f"pair spec 'w1img:{arg}': expected '{pattern}'")
    if not parts[1].isdigit() or int(parts[1]) <= 0:
        raise InvalidInputError(f"pair spec 'w1img:{arg}': width must be a positive integer, got {parts[1]!r}")
    degree = None
    if len(parts) == 3:
        try:
            degree = float(parts[2])
        except ValueError:
            raise InvalidInputError(f"pair spec 'w1img:{arg}': degree must be a number >= 1, got {parts[2]!r}") from None
    return image_funnel_pair(parts[0], int(parts[1]), degree=degree, seed=int(seed), dtype=dtype, device=device)


register_pair_family(
    "w2img", _w2img_factory, needs_root=True, placeholder="data:level",
    choices=[f"{d}:{lv}" for d in IMAGE_DATA for lv in W2IMG_LEVELS],
    description=("W2 image pairs built with the published recipe (Korotin et al., NeurIPS 2021, §4.2) on "
                 "scikit-learn's digits (1×16×16) or photo patches (3×16×16): Q = ∇ψ*♯P, ψ* the mean of two "
                 "ConvICNN potentials trained by W2GN toward thickened digits / flower patches, early/mid/late "
                 "checkpoints. Build with `monge pairs build --image <data> --out DIR`, then pass root=DIR."))
register_pair_family(
    "w1img", _w1img_factory, placeholder="data:width[:degree]",
    description=("W1 MinFunnel pairs in image space (Korotin, Kolesov, Burnaev, NeurIPS 2022, §4.2): noisy "
                 "digits (1×16×16) or photo patches (3×16×16) in [-1.2, 1.2]^D moved down a min of <width> "
                 "funnels centred uniformly in [-1, 1]^D (degree 10 for one funnel, 100 otherwise, as published)."))


__all__ = ["IMAGE_DATA", "W2IMG_LEVELS", "LEVEL_FRACTIONS", "NOISE_STD", "digit_styles", "photograph",
           "image_shape", "image_measures", "ImagePotentialPair", "image_funnel_pair", "w2img_folder",
           "read_image_construction"]
