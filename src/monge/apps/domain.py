"""Unsupervised domain adaptation with an OT map: map source-domain features onto the target domain.

The protocol of Korotin, Egiazarian, Asadulaev, Safin, Burnaev, "Wasserstein-2 Generative Networks", ICLR 2021
(arXiv:1909.13082), App. C.7, and of Leygonie, She, Almahairi, Rajeswar, Courville, "Adversarial computation of
optimal transport maps", arXiv:1906.09691, 2019, §6.2: a 1-nearest-neighbour classifier is fit on the TARGET
domain's features with the target labels, then applied to the source domain's features, once as they are and
once after an OT map fitted between the two unlabelled feature clouds has moved them onto the target domain.
The gain in accuracy measures how well the map carries each class onto the same class of the other domain
(the map never sees a label).

The domains here are real data: scikit-learn's handwritten digits (:func:`monge.apps.digits.load_digits`).
The 1797 images are split at random into two disjoint halves; the source domain is one half as it is, the
target domain is the other half after a deterministic style change (:data:`STYLES`):

- ``"thick"``: stroke thickening, a grey dilation with a 2×2 structuring element
  (``scipy.ndimage.grey_dilation(image, size=(2, 2))``): every pixel takes the maximum of itself and its
  right, lower and lower-right neighbours, so strokes grow by one pixel towards the lower right.
- ``"blur"``: a Gaussian blur of σ = 0.8 pixel (``scipy.ndimage.gaussian_filter``) with the contrast raised
  ×1.8 and clipped to [0, 1]: softer, wider strokes.

Feature spaces (:data:`FEATURE_SPACES`): ``"pixels"`` (the raw 64 grey levels, or the user's arrays as given)
and ``"classifier"``: the 64 penultimate-layer activations of a small MLP (:class:`monge.apps.digits.DigitClassifier`)
trained in the run on the SOURCE domain's images and labels only (in unsupervised domain adaptation only the
source is labelled; the target labels serve only to fit the scoring 1-NN). Either space can be reduced to its
first ``pca_dim`` principal components, computed by an exact SVD of the pooled, unlabelled source and target
features (no labels, no randomness).

The linear baseline is the Bures map: the OT map between the Gaussians with the two domains' means and
covariances (:func:`monge.pairs.base.bures_map`; a ridge of 1e-6 × mean variance keeps constant pixels from
making a covariance singular).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from monge._checks import check_samples
from monge.apps.digits import IMAGE_SHAPE, load_digits, train_classifier
from monge.apps.progress import training_progress
from monge.errors import DimensionMismatchError, InvalidInputError
from monge.solvers.base import W2Result

FEATURE_SPACES = ("pixels", "classifier")
DEFAULT_STEPS = 1000
DEFAULT_BATCH_SIZE = 256


def _thicken(image: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return ndimage.grey_dilation(image, size=(2, 2))


def _blur(image: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return np.clip(ndimage.gaussian_filter(image, sigma=0.8) * 1.8, 0.0, 1.0)


STYLES: dict[str, Callable[[np.ndarray], np.ndarray]] = {"thick": _thicken, "blur": _blur}
"""The target domains' style changes: name → function of one 8×8 image in [0, 1] (deterministic)."""


def style_images(pixels: torch.Tensor, style: str) -> torch.Tensor:
    """Apply the style ``style`` (a key of :data:`STYLES`) to digit rows ``(n, 64)`` in [0, 1]; same dtype/device."""
    if style not in STYLES:
        raise InvalidInputError(f"unknown style {style!r}; available: {', '.join(STYLES)}")
    pixels = check_samples(pixels, name="pixels", dim=IMAGE_SHAPE[0] * IMAGE_SHAPE[1])
    images = pixels.detach().to("cpu", torch.float64).reshape(-1, *IMAGE_SHAPE).numpy()
    styled = np.stack([STYLES[style](image) for image in images]).reshape(len(images), -1)
    return torch.as_tensor(styled, dtype=pixels.dtype, device=pixels.device)


@dataclass(frozen=True)
class DomainData:
    """Two labelled domains: ``source_x (n, d)``, ``source_y (n,)``, ``target_x (m, d)``, ``target_y (m,)``.

    ``source_index`` / ``target_index`` are the digits' row numbers in :func:`load_digits` (None for user
    arrays); ``style`` names the target's style change (``"user"`` for user arrays). ``images`` is True when
    the rows are 8×8 digit images (the classifier and the figure then apply).
    """

    source_x: torch.Tensor
    source_y: torch.Tensor
    target_x: torch.Tensor
    target_y: torch.Tensor
    style: str = "user"
    source_index: torch.Tensor | None = None
    target_index: torch.Tensor | None = None
    images: bool = False

    def __repr__(self) -> str:
        return (f"DomainData(style={self.style!r}, source={tuple(self.source_x.shape)}, "
                f"target={tuple(self.target_x.shape)})")


def make_digit_domains(style: str = "thick", *, split: float = 0.5, generator: torch.Generator | None = None,
                       dtype: torch.dtype = torch.float32, device: Any = "cpu") -> DomainData:
    """Source = original digits, target = ``style``-changed digits, on DISJOINT random subsets of the 1797 digits.

    A random permutation drawn from ``generator`` puts ``round(1797 · split)`` digits in the target domain and
    the rest in the source domain, so no digit image appears in both. Same generator seed → same domains.
    """
    if style not in STYLES:
        raise InvalidInputError(f"unknown style {style!r}; available: {', '.join(STYLES)}")
    if not 0.0 < float(split) < 1.0:
        raise InvalidInputError(f"split (the target domain's share of the digits) must be in (0, 1), got {split}")
    pixels, labels = load_digits(dtype=dtype, device=device)
    n = pixels.shape[0]
    n_target = int(round(n * float(split)))
    if n_target < 10 or n - n_target < 10:
        raise InvalidInputError(f"split={split} leaves fewer than 10 digits in one domain")
    order = torch.randperm(n, generator=generator).to(pixels.device)
    target_index, source_index = order[:n_target], order[n_target:]
    return DomainData(source_x=pixels[source_index], source_y=labels[source_index],
                      target_x=style_images(pixels[target_index], style), target_y=labels[target_index],
                      style=style, source_index=source_index, target_index=target_index, images=True)


# ----------------------------------------------------------------------------------------------- user arrays
def _load_npy(path: str | Path, name: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{name}: file not found: {path}")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise InvalidInputError(f"{name}: {path} is not a numeric .npy array ({exc})") from exc
    except OSError as exc:
        raise InvalidInputError(f"{name}: cannot read {path} as .npy: {exc}") from exc


def _as_features(array: np.ndarray, name: str) -> torch.Tensor:
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(f"{name}: expected numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise InvalidInputError(f"{name}: expected a 2-D array (n_samples, n_features), got shape {array.shape}")
    return check_samples(torch.as_tensor(array.astype(np.float32)), name=name)


def _as_labels(array: np.ndarray, name: str, n: int, x_name: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(f"{name}: expected integer class labels, got dtype {array.dtype}")
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise InvalidInputError(f"{name}: expected a 1-D array of labels, got shape {array.shape}")
    if array.shape[0] != n:
        raise InvalidInputError(f"{name}: {array.shape[0]} labels for {n} rows of {x_name}")
    if array.dtype.kind == "f" and not (np.isfinite(array).all() and (array == np.round(array)).all()):
        raise InvalidInputError(f"{name}: labels must be whole numbers (class ids)")
    return array.astype(np.int64)


def load_domain_arrays(source_x: str | Path, source_y: str | Path, target_x: str | Path,
                       target_y: str | Path) -> DomainData:
    """Read user domains from four ``.npy`` files: features ``(n, d)`` / ``(m, d)`` and integer labels.

    Labels may be any integers; they are re-indexed to 0…K−1 over both domains together. Raises
    :class:`InvalidInputError` naming the file for a missing file, a non-numeric or pickled array, a wrong
    shape, NaN/inf, or a label count that differs from the feature rows, and :class:`DimensionMismatchError`
    when the two domains' feature dimensions differ.
    """
    xs = _as_features(_load_npy(source_x, "source_x"), f"source_x ({source_x})")
    xt = _as_features(_load_npy(target_x, "target_x"), f"target_x ({target_x})")
    if xs.shape[1] != xt.shape[1]:
        raise DimensionMismatchError(f"source_x ({source_x}) has {xs.shape[1]} features but target_x ({target_x}) "
                                     f"has {xt.shape[1]}")
    ys = _as_labels(_load_npy(source_y, "source_y"), f"source_y ({source_y})", xs.shape[0], "source_x")
    yt = _as_labels(_load_npy(target_y, "target_y"), f"target_y ({target_y})", xt.shape[0], "target_x")
    _, codes = np.unique(np.concatenate([ys, yt]), return_inverse=True)
    codes = torch.as_tensor(codes.reshape(-1), dtype=torch.int64)
    return DomainData(source_x=xs, source_y=codes[:len(ys)], target_x=xt, target_y=codes[len(ys):], style="user")


# ------------------------------------------------------------------------------------------------ features
def pca_project(source: torch.Tensor, target: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Project both domains on the first ``dim`` principal axes of their pooled (unlabelled) features.

    Exact SVD (``torch.linalg.svd``) of the centred pooled rows in float64: deterministic, no labels used.
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= source.shape[1]:
        raise InvalidInputError(f"pca_dim must be an integer in [1, {source.shape[1]}], got {dim!r}")
    pooled = torch.cat([source, target]).to(torch.float64)
    mean = pooled.mean(dim=0)
    _, _, vh = torch.linalg.svd(pooled - mean, full_matrices=False)
    axes = vh[:dim].T

    def project(x: torch.Tensor) -> torch.Tensor:
        return ((x.to(torch.float64) - mean) @ axes).to(x.dtype)

    return project(source), project(target)


def domain_features(domains: DomainData, space: str, *, pca_dim: int | None = None, classifier_steps: int = 300,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Source and target features in the feature space ``space`` (see :data:`FEATURE_SPACES`).

    ``"pixels"``: the rows as they are. ``"classifier"``: penultimate-layer features of a
    :class:`~monge.apps.digits.DigitClassifier` trained for ``classifier_steps`` steps on the SOURCE rows and
    labels only (initial weights from ``generator``). ``pca_dim`` then keeps that many principal components
    (:func:`pca_project`).
    """
    if space == "pixels":
        source, target = domains.source_x, domains.target_x
    elif space == "classifier":
        classifier = train_classifier(domains.source_x, domains.source_y, steps=classifier_steps, generator=generator)
        with torch.no_grad():
            source, target = classifier.features(domains.source_x), classifier.features(domains.target_x)
    else:
        raise InvalidInputError(f"unknown feature space {space!r}; available: {', '.join(FEATURE_SPACES)}")
    if pca_dim is not None:
        source, target = pca_project(source, target, pca_dim)
    return source, target


# ------------------------------------------------------------------------------------------------ mapping
def adapt(source_features: torch.Tensor, target_features: torch.Tensor, *, solver: str = "w2gn",
          steps: int = DEFAULT_STEPS, batch_size: int = DEFAULT_BATCH_SIZE, generator: torch.Generator | None = None,
          progress: bool = False, **options: Any) -> W2Result:
    """Fit an OT map from the source features to the target features (no labels) with ``monge.fit``.

    ``options`` go to the solver's constructor; ``progress=True`` draws a progress bar on stderr. Returns the
    :class:`~monge.solvers.base.W2Result`; ``result.forward(source_features)`` are the adapted features.
    """
    import monge

    source = check_samples(source_features, name="source_features")
    target = check_samples(target_features, name="target_features", dim=source.shape[1])
    with training_progress(steps, f"{solver} map source → target (D={source.shape[1]})", enabled=progress) as callback:
        return monge.fit(source, target, solver=solver, steps=steps, batch_size=batch_size, generator=generator,
                         callback=callback, **options)


def linear_map(source_features: torch.Tensor, target_features: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """The Bures (Gaussian) OT map between the two feature clouds' means and covariances, as a function.

    A ridge of 1e-6 × the mean variance is added to both covariances so that constant features (blank corner
    pixels) do not make them singular.
    """
    from monge._bures import sample_bures_map

    source = check_samples(source_features, name="source_features")
    target = check_samples(target_features, name="target_features", dim=source.shape[1])
    matrix, shift = sample_bures_map(source, target)

    def apply(x: torch.Tensor) -> torch.Tensor:
        a = torch.as_tensor(matrix, dtype=x.dtype, device=x.device)
        b = torch.as_tensor(shift, dtype=x.dtype, device=x.device)
        return x @ a.T + b

    return apply


def one_nn_accuracy(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, *,
                    chunk_size: int = 2048) -> float:
    """Accuracy of the 1-nearest-neighbour (Euclidean) classifier fit on ``(train_x, train_y)`` on ``(test_x, test_y)``.

    Exact distances with ``torch.cdist`` in chunks of ``chunk_size`` test rows; a tie goes to the first
    training row.
    """
    train_x = check_samples(train_x, name="train_x")
    test_x = check_samples(test_x, name="test_x", dim=train_x.shape[1])
    train_y, test_y = torch.as_tensor(train_y), torch.as_tensor(test_y)
    if train_y.shape != (train_x.shape[0],):
        raise InvalidInputError(f"train_y: expected shape ({train_x.shape[0]},), got {tuple(train_y.shape)}")
    if test_y.shape != (test_x.shape[0],):
        raise InvalidInputError(f"test_y: expected shape ({test_x.shape[0]},), got {tuple(test_y.shape)}")
    train_x, test_x = train_x.detach().to(torch.float64), test_x.detach().to(train_x.device, torch.float64)
    train_y, test_y = train_y.to(train_x.device), test_y.to(train_x.device)
    correct = 0
    for start in range(0, test_x.shape[0], chunk_size):
        nearest = torch.cdist(test_x[start:start + chunk_size], train_x).argmin(dim=1)
        correct += int((train_y[nearest] == test_y[start:start + chunk_size]).sum())
    return correct / test_x.shape[0]


# ------------------------------------------------------------------------------------------------ experiment
@dataclass
class DomainAdaptationTable:
    """The experiment's outcome: one row per feature space, plus the settings and the features themselves.

    Each row holds ``features`` (space name), ``dim``, ``n_source``, ``n_target``, ``before`` (1-NN accuracy
    of the target-fitted 1-NN on the raw source features), ``after`` (on the mapped source features),
    ``linear`` (on the Bures-mapped source features, or None), ``fit_seconds`` and ``cost_estimate``.
    ``features[space]`` keeps ``(source, target, mapped)`` tensors for plots (not in :meth:`as_dict`).
    """

    rows: list[dict[str, Any]]
    settings: dict[str, Any]
    domains: DomainData
    features: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"settings": ..., "rows": [...]}``."""
        return {"settings": dict(self.settings), "rows": [dict(row) for row in self.rows]}


def _feature_spaces(features: str | Iterable[str]) -> list[str]:
    names = list(FEATURE_SPACES) if features == "both" else [features] if isinstance(features, str) else list(features)
    if not names:
        raise InvalidInputError("no feature space given")
    for name in names:
        if name not in FEATURE_SPACES:
            raise InvalidInputError(f"unknown feature space {name!r}; available: {', '.join(FEATURE_SPACES)}, both")
    return list(dict.fromkeys(names))


def _seeded(seed: int, stream: int) -> torch.Generator:
    """One independent generator per purpose (split, classifier, map), all fixed by ``seed``."""
    return torch.Generator().manual_seed(int(seed) * 1009 + stream)


def domain_adaptation_experiment(*, style: str = "thick", features: str | Sequence[str] = "both",
                                 solver: str = "w2gn", steps: int = DEFAULT_STEPS,
                                 batch_size: int = DEFAULT_BATCH_SIZE, seed: int = 0, split: float = 0.5,
                                 pca_dim: int | None = None, classifier_steps: int = 300, baseline: bool = True,
                                 domains: DomainData | None = None, progress: bool = False,
                                 **options: Any) -> DomainAdaptationTable:
    """Run the protocol on each feature space: 1-NN fit on the target, scored on source before / after mapping.

    ``domains`` are user domains (:func:`load_domain_arrays`); without them the digit domains of ``style``
    are built (:func:`make_digit_domains`, target share ``split``). ``seed`` fixes the split, the classifier's
    initial weights and the solver's randomness (one generator each). ``options`` go to the solver.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise InvalidInputError(f"steps must be a positive integer, got {steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    spaces = _feature_spaces(features)
    if domains is None:
        domains = make_digit_domains(style, split=split, generator=_seeded(seed, 0))
    rows: list[dict[str, Any]] = []
    kept: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    for space in spaces:
        source, target = domain_features(domains, space, pca_dim=pca_dim, classifier_steps=classifier_steps,
                                         generator=_seeded(seed, 1))
        started = time.perf_counter()
        result = adapt(source, target, solver=solver, steps=steps, batch_size=batch_size,
                       generator=_seeded(seed, 2), progress=progress, **options)
        fit_seconds = time.perf_counter() - started
        with torch.no_grad():
            mapped = result.forward(source)
        row = {
            "features": space, "dim": int(source.shape[1]), "n_source": int(source.shape[0]),
            "n_target": int(target.shape[0]),
            "before": one_nn_accuracy(target, domains.target_y, source, domains.source_y),
            "after": one_nn_accuracy(target, domains.target_y, mapped, domains.source_y),
            "linear": (one_nn_accuracy(target, domains.target_y, linear_map(source, target)(source), domains.source_y)
                       if baseline else None),
            "fit_seconds": round(fit_seconds, 2), "cost_estimate": float(result.cost_estimate),
        }
        rows.append(row)
        kept[space] = (source, target, mapped.detach())
    settings = {"style": domains.style, "solver": solver, "steps": steps, "batch_size": batch_size, "seed": seed,
                "split": split if domains.images else None, "pca_dim": pca_dim, "classifier_steps": classifier_steps,
                "classifier_trained_on": "source images and source labels",
                "options": {key: value if isinstance(value, (bool, int, float, str, list, dict, type(None)))
                            else repr(value) for key, value in options.items()},
                "protocol": "1-NN fit on target features + target labels, applied to source features "
                            "before / after mapping them to the target"}
    return DomainAdaptationTable(rows=rows, settings=settings, domains=domains, features=kept)


# ------------------------------------------------------------------------------------------------ figure
def plot_domain_adaptation(table: DomainAdaptationTable, path: str | Path, *, n_images: int = 12) -> Path:
    """A PNG of the experiment. Top (when the domains are digit images and the table has a ``pixels`` row): digit
    images of the source, of the same digits after the map (pixel space), and of target digits (other images).
    Bottom: a 2-D PCA scatter of target, source and mapped source features (pixel space if present), and the
    1-NN accuracy bars (no map / linear map / solver's map) per feature space."""
    from monge.plot.plots import new_figure, save_figure

    show_images = table.domains.images and "pixels" in table.features
    fig = new_figure(11.0, 8.0 if show_images else 4.4)
    grid = fig.add_gridspec(2 if show_images else 1, 2, height_ratios=[1.0, 1.6] if show_images else None)
    space = "pixels" if "pixels" in table.features else next(iter(table.features))
    source, target, mapped = (t.detach().to("cpu", torch.float64) for t in table.features[space])
    if show_images:
        ax = fig.add_subplot(grid[0, :])
        k = min(n_images, source.shape[0], target.shape[0])
        rows = [source[:k], mapped[:k].clamp(0.0, 1.0), target[:k]]
        montage = np.zeros((3 * 9 - 1, k * 9 - 1))
        for r, images in enumerate(rows):
            for c in range(k):
                montage[r * 9:r * 9 + 8, c * 9:c * 9 + 8] = images[c].reshape(*IMAGE_SHAPE).numpy()
        ax.imshow(montage, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_yticks([3.5, 12.5, 21.5])
        ax.set_yticklabels(["source", f"source mapped\n({table.settings['solver']}, pixels)",
                            f"target ({table.domains.style})\nother digits"])
        ax.set_xticks([])
        ax.set_title("digit images (8×8)", fontsize=10)
    bottom = 1 if show_images else 0
    ax = fig.add_subplot(grid[bottom, 0])
    pooled = torch.cat([source, target])
    mean = pooled.mean(dim=0)
    _, _, vh = torch.linalg.svd(pooled - mean, full_matrices=False)

    def to_2d(x: torch.Tensor) -> np.ndarray:
        return ((x - mean) @ vh[:2].T).numpy()

    for data, label, colour in ((target, "target", "tab:orange"), (source, "source", "tab:blue"),
                                (mapped, "mapped source", "tab:green")):
        xy = to_2d(data)
        ax.scatter(xy[:, 0], xy[:, 1], s=4, alpha=0.45, c=colour, label=label, linewidths=0)
    ax.set_title(f"{space} features on the first 2 principal axes of source + target", fontsize=9)
    ax.legend(loc="best", fontsize=8, markerscale=3)
    ax = fig.add_subplot(grid[bottom, 1])
    names = [row["features"] for row in table.rows]
    bars = [("before", "tab:blue", "no map"), ("linear", "tab:gray", "linear (Bures) map"),
            ("after", "tab:green", f"{table.settings['solver']} map")]
    width = 0.8 / len(bars)
    for i, (key, colour, label) in enumerate(bars):
        values = [row[key] if row[key] is not None else 0.0 for row in table.rows]
        positions = np.arange(len(names)) + (i - 1) * width
        ax.bar(positions, values, width, color=colour, label=label)
        for x, v in zip(positions, values):
            ax.text(x, v + 0.01, f"{v:.3f}", ha="center", fontsize=7)
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("1-NN accuracy on source (1-NN fit on target)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"style {table.domains.style!r}, {table.settings['steps']} steps, seed {table.settings['seed']}",
                 fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
