"""Three ways to generate data with OT maps, trained for the same CPU time and scored alike.

- ``"otm"``: noise embedded into data space by upsampling, mapped onto the data by the reversed maximin
  (Rout, Korotin, Burnaev, ICLR 2022; :mod:`monge.apps.otm`);
- ``"w2gan"``: a Gaussian fitted to the data, mapped onto the data by W2GAN's generator (Leygonie et al., 2019;
  :mod:`monge.apps.generate`, its digit settings);
- ``"latent-w2gn"``: an autoencoder, and a W2GN map from N(0, I) onto its latent codes, decoded (Korotin et al.,
  ICLR 2021, §5.2; :mod:`monge.apps.latent`). The autoencoder's training counts in the budget.

Data that ships with scikit-learn (:func:`generation_data`):

- ``"digits"``: the 8×8 digits (64 pixels), 80 % train / 20 % held out; features of a classifier trained in
  the run (as :func:`monge.apps.generate.generate_digits`);
- ``"patches"``: 16×16 colour patches (768 pixels) of the two photographs (china, flower); training and held-out
  patches are independent random crops; features of a fixed random convolutional network
  (:class:`RandomPatchFeatures`: no labels exist for patches, and nothing can be downloaded).

Scores, each against the held-out data: the Fréchet distance (FID formula) of the features, and the Fréchet
distance in raw pixel coordinates (first and second moments only). The "real train" row is the floor a perfect
generator reaches with this many samples. Python: :func:`compare_generators`; command line: ``python
benchmarks/generator_comparison.py``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import nn

from monge._checks import check_positive_int
from monge.errors import InvalidInputError, UnknownNameError

DATASETS = ("digits", "patches")
"""Data sets of :func:`generation_data`."""

METHODS = ("otm", "w2gan", "latent-w2gn")
"""Generators of :func:`train_generator`."""

LATENT_SETTINGS: dict[str, dict[str, Any]] = {
    "digits": {"latent_dim": 8, "hidden_sizes": (128, 64), "ae_share": 0.3},
    "patches": {"latent_dim": 32, "hidden_sizes": (512, 128), "ae_share": 0.3},
}
"""Autoencoder of the ``latent-w2gn`` generator per data set; ``ae_share`` is the part of the budget its training
gets (the W2GN latent map gets the rest)."""


@dataclass
class GenerationData:
    """A data set for generation: ``train`` / ``test`` pixels ``(n, C·H·W)`` in [0, 1], their ``image_shape``,
    the ``noise_shape`` OTM upsamples, and ``features`` (pixels → the feature space of the Fréchet distance,
    described by ``feature_name``)."""

    name: str
    train: torch.Tensor
    test: torch.Tensor
    image_shape: tuple[int, int, int]
    noise_shape: tuple[int, int, int]
    features: Callable[[torch.Tensor], torch.Tensor]
    feature_name: str


class RandomPatchFeatures(nn.Module):
    """A fixed, randomly initialised convolutional feature map for colour patches: two 3×3 convolutions with
    ReLU (the second with stride 2), then the mean and the maximum of every channel over the image (2·``width``
    features). He-normal weights drawn from ``generator``. Random features see more than the pixels' first two
    moments (a ReLU network's feature moments depend on the whole pixel distribution), which a Fréchet distance
    in pixel space cannot."""

    def __init__(self, image_shape: Sequence[int], width: int = 64, *, generator: torch.Generator | None = None):
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        channels = self.image_shape[0]
        self.conv1 = nn.Conv2d(channels, width // 2, 3, padding=1)
        self.conv2 = nn.Conv2d(width // 2, width, 3, stride=2, padding=1)
        with torch.no_grad():
            for conv in (self.conv1, self.conv2):
                fan_in = conv.weight[0].numel()
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * math.sqrt(2.0 / fan_in))
                conv.bias.zero_()
        self.requires_grad_(False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        images = pixels.reshape(-1, *self.image_shape).to(self.conv1.weight.dtype)
        h = torch.relu(self.conv2(torch.relu(self.conv1(images))))
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)


def photo_patches(n: int, *, size: int = 16, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` random ``size``×``size`` colour patches of scikit-learn's two photographs (half from each), as
    ``(n, 3·size²)`` pixels in [0, 1] (channel-first, like :func:`torch.flatten` of (3, size, size) images)."""
    from monge.apps.color import sample_images
    from monge.apps.photo_style import random_patches

    check_positive_int(n, "n")
    check_positive_int(size, "size")
    photos = [torch.tensor(img).permute(2, 0, 1).to(torch.float32) / 255.0 for img in sample_images().values()]
    out = []
    for i, photo in enumerate(photos):
        m = n // len(photos) + (1 if i < n % len(photos) else 0)
        if m:
            out.append(random_patches(photo, m, size=size, generator=generator).reshape(m, -1))
    return torch.cat(out)


def _seeded(seed: int, offset: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) * 7919 + offset)


def generation_data(name: str, *, seed: int = 0, n_train: int = 20000, n_test: int = 4096) -> GenerationData:
    """Load data set ``name`` (:data:`DATASETS`). For ``"patches"``, ``n_train`` and ``n_test`` random patches are
    drawn (the digits have a fixed 80/20 split). Every draw comes from generators seeded by ``seed``."""
    from monge.apps.digits import load_digits, split_indices, train_classifier

    if name == "digits":
        pixels, labels = load_digits()
        train, test = split_indices(pixels.shape[0], 0.2, generator=_seeded(seed, 1))
        classifier = train_classifier(pixels[train], labels[train], steps=300, generator=_seeded(seed, 2))
        return GenerationData(name, pixels[train], pixels[test], (1, 8, 8), (1, 4, 4), classifier.features,
                              "features of a digit classifier trained in the run")
    if name == "patches":
        train = photo_patches(n_train, generator=_seeded(seed, 1))
        test = photo_patches(n_test, generator=_seeded(seed, 2))
        features = RandomPatchFeatures((3, 16, 16), generator=_seeded(seed, 3))
        return GenerationData(name, train, test, (3, 16, 16), (3, 8, 8), features,
                              "a fixed random convolutional network (RandomPatchFeatures)")
    raise UnknownNameError("generation data set", str(name), list(DATASETS))


@dataclass
class TrainedGenerator:
    """A trained generator: ``sample(n, generator)`` draws generated pixels, ``source(n, generator)`` the
    points it starts from (in pixel space: embedded noise, Gaussian-fit samples, or decoded raw noise);
    ``seconds`` of training; ``settings``."""

    method: str
    sample: Callable[[int, torch.Generator], torch.Tensor]
    source: Callable[[int, torch.Generator], torch.Tensor]
    seconds: float
    settings: dict[str, Any]


def train_generator(data: GenerationData, method: str, *, seconds: float, seed: int = 0, batch_size: int = 256,
                    **options: Any) -> TrainedGenerator:
    """Train generator ``method`` (:data:`METHODS`) on ``data.train`` for ``seconds`` of training time (time-budgeted
    solvers; ``latent-w2gn`` splits it between its autoencoder and its map). ``options`` go to the map's solver."""
    import monge
    from monge.apps.generate import W2GAN_DIGITS_OPTIONS
    from monge.apps.latent import fit_latent_map, train_autoencoder
    from monge.apps.otm import OTM_OPTIONS, fit_otm

    if method not in METHODS:
        raise UnknownNameError("generator", str(method), list(METHODS))
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise InvalidInputError(f"seconds must be a positive number, got {seconds!r}")
    gen = _seeded(seed, 3)
    started = time.perf_counter()
    if method == "otm":
        model = fit_otm(data.train, data.image_shape, data.noise_shape, time_budget=seconds, batch_size=batch_size,
                        generator=gen, **options)
        return TrainedGenerator(method, model.sample, model.noise.sample, time.perf_counter() - started,
                                {**OTM_OPTIONS, **options, "noise_shape": list(data.noise_shape)})
    if method == "w2gan":
        from monge.metrics.frechet import gaussian_moments

        mean, cov = gaussian_moments(data.train, name="data")
        source = monge.Gaussian(torch.as_tensor(mean), torch.as_tensor(cov), dtype=data.train.dtype)
        opts = {**W2GAN_DIGITS_OPTIONS, **options, "map": "generator"}
        result = monge.fit(source, data.train, solver="w2gan", time_budget=seconds, batch_size=batch_size,
                           generator=gen, **opts)

        def sample_w2gan(n: int, generator: torch.Generator) -> torch.Tensor:
            with torch.no_grad():
                return result.forward(source.sample(n, generator))

        return TrainedGenerator(method, sample_w2gan, source.sample, time.perf_counter() - started, opts)
    settings = LATENT_SETTINGS[data.name]
    ae_options = dict(latent_dim=settings["latent_dim"], hidden_sizes=settings["hidden_sizes"])
    t0 = time.perf_counter()                  # the autoencoder's step rate, to give it its share of the budget
    train_autoencoder(data.train, steps=50, generator=_seeded(seed, 4), **ae_options)
    ae_steps = max(50, int(settings["ae_share"] * seconds / ((time.perf_counter() - t0) / 50)))
    autoencoder = train_autoencoder(data.train, steps=ae_steps, generator=_seeded(seed, 4), **ae_options)
    with torch.no_grad():
        latents = autoencoder.encode(data.train)
    remaining = max(seconds - (time.perf_counter() - started), 0.1 * seconds)
    latent_map = fit_latent_map(latents, solver="w2gn", steps=100000, batch_size=batch_size, generator=gen,
                                time_budget=remaining, **{"lr_decay": True, **options})

    def sample_latent(n: int, generator: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            return autoencoder.decode(latent_map.sample(n, generator))

    def decoded_noise(n: int, generator: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            return autoencoder.decode(torch.randn(n, settings["latent_dim"], generator=generator))

    return TrainedGenerator(method, sample_latent, decoded_noise, time.perf_counter() - started,
                            {"latent_dim": settings["latent_dim"], "ae_hidden_sizes": list(settings["hidden_sizes"]),
                             "ae_steps": ae_steps, "lr_decay": True, **options})


def score_samples(data: GenerationData, samples: torch.Tensor) -> dict[str, float]:
    """Fréchet distances of ``samples`` to the held-out data: in ``data``'s feature space and in pixel space.
    NaN for non-finite samples (a broken generator is never scored as a number)."""
    from monge.metrics import frechet_distance

    if samples.shape[0] < 2 or not bool(torch.isfinite(samples).all()):
        return {"frechet_features": float("nan"), "frechet_pixels": float("nan")}
    with torch.no_grad():
        return {"frechet_features": frechet_distance(data.features(samples), data.features(data.test)),
                "frechet_pixels": frechet_distance(samples, data.test)}


def compare_generators(data: str | GenerationData = "digits", methods: Sequence[str] = METHODS, *,
                       seconds: float = 180.0, seed: int = 0, batch_size: int = 256, repeats: int = 5) -> dict[str, Any]:
    """Train every generator of ``methods`` for ``seconds`` on ``data`` and score it (see the module docstring).

    Each row is scored on ``repeats`` independent draws of as many samples as held-out points, and the scores are
    averaged (with 359 held-out digits, one draw of a fixed distribution scores anywhere in about ±1 of its mean);
    the real-data row draws each set without replacement from the training data.

    Returns ``{"data", "feature_space", "seed", "seconds", "n_eval", "repeats", "rows": [{"row", "method",
    "frechet_features", "frechet_pixels", "frechet_features_std", "frechet_pixels_std", "train_seconds"}...],
    "settings": {method: ...}, "samples": {row: pixels of the first draw}}``; the rows are the real training data
    (the floor), then for each method its source and its generated samples.
    """
    if isinstance(data, str):
        data = generation_data(data, seed=seed)
    for method in methods:
        if method not in METHODS:
            raise UnknownNameError("generator", str(method), list(METHODS))
    check_positive_int(repeats, "repeats")
    n_eval = int(data.test.shape[0])
    draw = _seeded(seed, 5)

    def scored(row: str, method: str, sets: list[torch.Tensor], seconds_used: float) -> dict[str, Any]:
        scores = [score_samples(data, values) for values in sets]
        out: dict[str, Any] = {"row": row, "method": method}
        for key in ("frechet_features", "frechet_pixels"):
            values = torch.tensor([s[key] for s in scores], dtype=torch.float64)
            out[key] = float(values.mean())
            out[f"{key}_std"] = float(values.std(correction=0))
        out["train_seconds"] = round(seconds_used, 1)
        samples[row] = sets[0]
        return out

    samples: dict[str, torch.Tensor] = {}
    n_train = data.train.shape[0]
    real_sets = [data.train[torch.randperm(n_train, generator=draw)[:n_eval]] for _ in range(repeats)]
    rows = [scored("real train data", "", real_sets, 0.0)]
    settings = {}
    for method in methods:
        trained = train_generator(data, method, seconds=seconds, seed=seed, batch_size=batch_size)
        sources, generated = [], []
        for r in range(repeats):
            sources.append(trained.source(n_eval, _seeded(seed, 6 + 10 * r)))
            generated.append(trained.sample(n_eval, _seeded(seed, 6 + 10 * r)))
        rows.append(scored(f"{method}: source", method, sources, trained.seconds))
        rows.append(scored(f"{method}: generated", method, generated, trained.seconds))
        settings[method] = trained.settings
    return {"data": data.name, "feature_space": data.feature_name, "seed": seed, "seconds": seconds,
            "n_eval": n_eval, "repeats": repeats, "rows": rows, "settings": settings, "samples": samples}


__all__ = ["DATASETS", "GenerationData", "LATENT_SETTINGS", "METHODS", "RandomPatchFeatures", "TrainedGenerator",
           "compare_generators", "generation_data", "photo_patches", "score_samples", "train_generator"]
