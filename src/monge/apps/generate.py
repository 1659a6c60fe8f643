"""W2GAN generation on the digits: map a Gaussian fitted to the data onto the data itself.

Reproduces the data-generation experiment (§6.2) of Leygonie, She, Almahairi, Rajeswar, Courville,
"Adversarial computation of optimal transport maps", 2019 (arXiv:1906.09691), on scikit-learn's 8×8 digits
instead of MNIST:

1. split the 1797 digits into train / held-out; fit a Gaussian N(m, S) to the training pixels (64-d);
2. train W2GAN (:class:`monge.solvers.w2.w2gan.W2GAN`, generator map G = id + MLP) from N(m, S) to the
   training digits; generate G(z), z ~ N(m, S);
3. score against the held-out digits: the Fréchet distance (FID formula, :func:`monge.metrics.frechet_distance`)
   in the feature space of a classifier trained in the run (:mod:`monge.apps.digits`), the exact discrete W2
   in pixel space (:func:`monge.metrics.discrete_w2`), and the classifier's mean confidence (max softmax
   probability), for the source Gaussian samples, the generated samples and the real training digits (the
   floor a perfect generator reaches with this many samples);
4. draw a grid of source samples z, the generated G(z) for the same z, and real held-out digits.

The Gaussian already has the data's mean and covariance, so it is a strong baseline in pixel-space moments:
what the generator must add is the non-Gaussian structure (strokes), which the classifier features see.

Python: :func:`generate_digits`; command line: ``monge generate-digits``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from monge._checks import check_positive_int
from monge.apps.digits import load_digits, plot_digit_panels, split_indices, train_classifier
from monge.apps.progress import training_progress
from monge.errors import InvalidInputError

PAPER = ("J. Leygonie, J. She, A. Almahairi, S. Rajeswar, A. Courville. Adversarial computation of optimal "
         "transport maps. arXiv:1906.09691, 2019 (§6.2)")

W2GAN_DIGITS_OPTIONS: dict[str, Any] = {"generator_sizes": [256, 256, 256], "critic_sizes": [256, 256],
                                        "n_critic": 5}
"""W2GAN options of :func:`generate_digits` (the solver's defaults otherwise: Adam lr 1e-4 / 5e-4, betas
(0.5, 0.9), λ = 200 with the interpolation penalty); 5 critic steps per generator step instead of 20 for CPU."""

ROWS = ("real train digits", "source Gaussian", "W2GAN generated")
"""Rows of the scores, in table order; the first is the reference floor."""


def _seeded(seed: int, offset: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) * 7919 + offset)


def _confidence(classifier: Any, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.softmax(classifier(x), dim=1).max(dim=1).values.mean())


def generate_digits(
    out_dir: str | Path,
    *,
    steps: int = 1000,
    seed: int = 0,
    progress: bool = True,
    batch_size: int = 256,
    test_fraction: float = 0.2,
    classifier_steps: int = 300,
    n_show: int = 48,
    **options: Any,
) -> dict[str, Any]:
    """Train W2GAN from a Gaussian fitted to the training digits onto the digits, write
    ``out_dir/w2gan_digits.png`` (source samples z, generated G(z) for the same z, real held-out digits) and
    ``out_dir/w2gan_digits.json``, and return the numbers.

    Args:
        out_dir: output folder (created).
        steps: W2GAN generator steps (each after ``n_critic`` critic steps).
        seed: seeds the split, the classifier, the solver and every sample (explicit generators).
        progress: show a progress bar (stderr).
        batch_size: minibatch per side.
        test_fraction: share of the digits held out for scoring.
        classifier_steps: full-batch Adam steps of the feature classifier.
        n_show: digits per panel of the figure.
        **options: W2GAN options overriding :data:`W2GAN_DIGITS_OPTIONS` (``map="generator"`` is fixed).

    Returns a dict with ``frechet`` (row → Fréchet distance in classifier features to the held-out digits;
    rows :data:`ROWS`), ``pixel_w2`` (row → exact discrete W2 in pixel space to the held-out digits, on
    as many samples as held-out digits), ``confidence`` (row → mean max softmax probability),
    ``classifier_accuracy`` (held out), ``transport_cost`` (½·mean‖G(z) − z‖²), ``settings``, ``times`` and
    ``figure`` / ``json`` paths.

    Raises:
        InvalidInputError: non-positive ``steps`` / ``batch_size`` / ``classifier_steps`` / ``n_show``, a bad
            ``test_fraction`` or option, or a file that cannot be written.
    """
    import monge
    from monge.metrics import discrete_w2, frechet_distance

    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    check_positive_int(classifier_steps, "classifier_steps")
    check_positive_int(n_show, "n_show")
    if "map" in options and options["map"] != "generator":
        raise InvalidInputError(f"generate_digits uses W2GAN's generator map; got map={options['map']!r}")
    options = {**W2GAN_DIGITS_OPTIONS, **options, "map": "generator"}
    out = Path(out_dir)
    started = time.perf_counter()

    pixels, labels = load_digits()
    train, test = split_indices(pixels.shape[0], test_fraction, generator=_seeded(seed, 1))
    x_train, x_test = pixels[train], pixels[test]
    n_test = x_test.shape[0]

    t0 = time.perf_counter()
    classifier = train_classifier(x_train, labels[train], steps=classifier_steps, generator=_seeded(seed, 2))
    accuracy = classifier.accuracy(x_test, labels[test])
    classifier_s = time.perf_counter() - t0

    mean = x_train.double().mean(0)
    centred = x_train.double() - mean
    cov = centred.T @ centred / (x_train.shape[0] - 1)
    source = monge.Gaussian(mean, cov, dtype=x_train.dtype)

    t0 = time.perf_counter()
    with training_progress(steps, "w2gan on digits", enabled=progress) as bar:
        result = monge.fit(source, x_train, solver="w2gan", steps=steps, batch_size=batch_size,
                           generator=_seeded(seed, 3), callback=bar, **options)
    fit_s = time.perf_counter() - t0

    draw = _seeded(seed, 4)
    z = source.sample(n_test, draw)
    generated = result.forward(z)
    if not bool(torch.isfinite(generated).all()):
        raise InvalidInputError("W2GAN produced non-finite samples; lower the learning rates or the steps")
    real = x_train[torch.randperm(x_train.shape[0], generator=draw)[:n_test]]
    sets = dict(zip(ROWS, (real, z, generated)))
    with torch.no_grad():
        test_features = classifier.features(x_test)
        frechet = {name: frechet_distance(classifier.features(v), test_features) for name, v in sets.items()}
    pixel_w2 = {name: discrete_w2(v, x_test) for name, v in sets.items()}
    confidence = {name: _confidence(classifier, v) for name, v in [*sets.items(), ("held-out digits", x_test)]}
    transport_cost = float(0.5 * (generated.double() - z.double()).square().sum(1).mean())

    shown = min(n_show, n_test)
    figure = plot_digit_panels(
        {"source z ~ N(m, S) (Gaussian fit)": z[:shown], "W2GAN G(z), same z": generated[:shown],
         "real held-out digits": x_test[:shown]},
        out / "w2gan_digits.png",
        title=(f"W2GAN on 8×8 digits, {steps} steps: Fréchet (classifier features) source "
               f"{frechet['source Gaussian']:.2f} → generated {frechet['W2GAN generated']:.2f} "
               f"(real floor {frechet['real train digits']:.2f})"))
    report: dict[str, Any] = {
        "paper": PAPER,
        "frechet": frechet,
        "pixel_w2": pixel_w2,
        "confidence": confidence,
        "classifier_accuracy": accuracy,
        "transport_cost": transport_cost,
        "settings": {"steps": steps, "seed": seed, "batch_size": batch_size, "test_fraction": test_fraction,
                     "classifier_steps": classifier_steps, "n_train": int(x_train.shape[0]), "n_test": int(n_test),
                     "w2gan": result.settings},
        "times": {"classifier_s": classifier_s, "fit_s": fit_s, "total_s": time.perf_counter() - started},
        "figure": str(figure),
    }
    json_path = out / "w2gan_digits.json"
    try:
        json_path.write_text(json.dumps(report, indent=2))
    except OSError as exc:
        raise InvalidInputError(f"cannot write {json_path}: {exc.strerror or exc}") from exc
    report["json"] = str(json_path)
    return report
