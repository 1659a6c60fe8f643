"""Latent-space generative mapping: an autoencoder's latent codes as the target of a W2 map from N(0, I).

Reproduces the latent-space experiment of Korotin, Egiazarian, Asadulaev, Safin & Burnaev, "Wasserstein-2
Generative Networks" (ICLR 2021), §5.2 and App. C.5, on scikit-learn's 8×8 digits instead of CelebA:

1. train a small fully connected autoencoder (64 pixels → ``latent_dim`` → 64, sigmoid output);
2. fit a W2 map ∇ψ from N(0, I_d) to the distribution of the (standardised) latent codes of the training digits;
3. generate by decoding mapped noise, decoder(∇ψ(ε)), and score with the Fréchet distance (the FID formula,
   :func:`monge.metrics.frechet_distance`) in the feature space of a classifier trained in the run, against
   held-out real digits. The rows compare decoded data (reconstructions, the ceiling of any latent model),
   decoded raw noise decoder(ε), decoded samples of a Gaussian fitted to the latents (a strong, cheap
   baseline), and decoded mapped noise;
4. App. C.5: W2GN also learns the inverse potential ψ̄ (∇ψ̄ ≈ (∇ψ)⁻¹), so the latent model has a density by the
   change of variables, p(z) = N(∇ψ̄(z); 0, I)·det ∇²ψ̄(z) (:func:`latent_log_density`). It scores held-out
   latent codes (a likelihood, which a decoded-noise GAN does not have) and flags codes far from the data.

Randomness comes only from the ``torch.Generator`` passed in (or one seeded from ``seed``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from monge._checks import check_positive_int, check_samples
from monge.apps.digits import load_digits, plot_digit_panels, split_indices, train_classifier
from monge.apps.progress import training_progress
from monge.errors import DimensionMismatchError, InvalidInputError
from monge.metrics.frechet import frechet_distance, gaussian_moments
from monge.nets.base import Potential
from monge.samplers import Gaussian, StandardNormal
from monge.solvers.base import W2Result
from monge.solvers.common import seeded

PAPER = ("A. Korotin, V. Egiazarian, A. Asadulaev, A. Safin, E. Burnaev. Wasserstein-2 Generative Networks. "
         "ICLR 2021 (§5.2, App. C.5)")

ROWS = ("real (train digits)", "decoded data", "decoded raw noise", "decoded Gaussian fit", "decoded mapped noise")
"""Row names of :attr:`LatentExperiment.frechet`, in table order. The first is a reference: real training
digits against the held-out digits (the floor a perfect generator would reach with this many samples)."""


# ---------------------------------------------------------------------------------------------------------
# Autoencoder.
# ---------------------------------------------------------------------------------------------------------


class DigitAutoencoder(nn.Module):
    """A fully connected autoencoder: ``encode`` 64 → hidden → ``latent_dim``, ``decode`` back with a sigmoid.

    Args:
        dim: input dimension (64 pixels for the digits).
        latent_dim: dimension of the latent code.
        hidden_sizes: encoder widths (the decoder mirrors them); default ``(128, 64)``.
    """

    def __init__(self, dim: int = 64, latent_dim: int = 8, hidden_sizes: Sequence[int] = (128, 64)):
        super().__init__()
        hidden_sizes = [int(h) for h in hidden_sizes]
        if int(dim) <= 0 or int(latent_dim) <= 0 or not hidden_sizes or min(hidden_sizes) <= 0:
            raise InvalidInputError(f"bad autoencoder shape: dim={dim}, latent_dim={latent_dim}, "
                                    f"hidden_sizes={hidden_sizes}")
        self.dim, self.latent_dim = int(dim), int(latent_dim)
        widths = [self.dim, *hidden_sizes]
        enc: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            enc += [nn.Linear(a, b), nn.ELU()]
        self.encoder = nn.Sequential(*enc, nn.Linear(widths[-1], self.latent_dim))
        back = widths[::-1]
        dec: list[nn.Module] = [nn.Linear(self.latent_dim, back[0]), nn.ELU()]
        for a, b in zip(back[:-2], back[1:-1]):
            dec += [nn.Linear(a, b), nn.ELU()]
        self.decoder = nn.Sequential(*dec, nn.Linear(back[-2], back[-1]), nn.Sigmoid())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes ``(n, latent_dim)`` of pixels ``(n, dim)``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixels in (0, 1), shape ``(n, dim)``, of latent codes ``(n, latent_dim)``."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``decode(encode(x))``."""
        return self.decode(self.encode(x))


def train_autoencoder(x: torch.Tensor, *, latent_dim: int = 8, hidden_sizes: Sequence[int] = (128, 64),
                      steps: int = 3000, batch_size: int = 128, lr: float = 2e-3,
                      generator: torch.Generator | None = None, progress: bool = False) -> DigitAutoencoder:
    """Train a :class:`DigitAutoencoder` on pixels ``x`` in [0, 1] with Adam and binary cross-entropy.

    Initial weights and minibatches are drawn from ``generator`` (the global RNG is left alone when one is
    given). The learning rate follows a cosine schedule down to 1 % of ``lr``. Returns the model in eval
    mode on ``x``'s device and dtype.
    """
    x = check_samples(x, name="x")
    if bool((x < 0).any()) or bool((x > 1).any()):
        raise InvalidInputError("x: autoencoder inputs must be pixels in [0, 1]")
    check_positive_int(latent_dim, "latent_dim")
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    model = seeded(lambda: DigitAutoencoder(x.shape[1], latent_dim, hidden_sizes), generator)
    model = model.to(device=x.device, dtype=x.dtype).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps, eta_min=0.01 * lr)
    loss_fn = nn.BCELoss()
    draw_device = generator.device if generator is not None else x.device
    with training_progress(steps, "autoencoder", enabled=progress) as callback:
        for step in range(1, steps + 1):
            rows = torch.randint(0, x.shape[0], (batch_size,), generator=generator, device=draw_device)
            batch = x[rows.to(x.device)]
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(model(batch), batch)
            loss.backward()
            optimiser.step()
            schedule.step()
            callback(_Step(step))
    if not torch.isfinite(loss):
        raise InvalidInputError("autoencoder training produced a non-finite loss; check the inputs' scale")
    return model.eval()


@dataclass(frozen=True)
class _Step:
    step: int


# ---------------------------------------------------------------------------------------------------------
# The latent map and its density.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatentMap:
    """A W2 map from N(0, I_d) to a latent distribution, in standardised coordinates.

    Latent codes z are standardised per coordinate, u = (z − ``mean``) / ``scale``; ``result`` maps
    ε ~ N(0, I) to u (forward) and, for solvers with an inverse, u back to ε. Without standardisation
    ``mean`` is 0 and ``scale`` is 1.

    Attributes:
        result: the fitted :class:`~monge.solvers.base.W2Result` (noise → standardised latents).
        mean, scale: ``(d,)`` standardisation of the latent codes.
    """

    result: W2Result
    mean: torch.Tensor
    scale: torch.Tensor

    @property
    def dim(self) -> int:
        """Latent dimension d."""
        return self.result.dim

    def map_noise(self, noise: torch.Tensor) -> torch.Tensor:
        """Latent codes ``mean + scale·∇ψ(noise)`` of noise ``(n, d)``."""
        noise = check_samples(noise, name="noise", dim=self.dim)
        return self.mean + self.scale * self.result.forward(noise)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latent codes of the model: mapped draws of N(0, I) from ``generator``."""
        check_positive_int(n, "n")
        noise = StandardNormal(self.dim, dtype=self.mean.dtype, device=self.mean.device).sample(n, generator)
        return self.map_noise(noise.to(self.mean.device))  # a CPU generator draws on the CPU


def fit_latent_map(latents: torch.Tensor, *, solver: str = "w2gn", steps: int = 2000, batch_size: int = 256,
                   generator: torch.Generator | None = None, progress: bool = False, standardize: bool = True,
                   **options: Any) -> LatentMap:
    """Fit a W2 map from N(0, I_d) to the empirical distribution of ``latents`` ``(n, d)``.

    With ``standardize=True`` (default) every latent coordinate is first shifted and scaled to mean 0 and
    variance 1 (an autoencoder's codes have arbitrary scales; the ICNNs and W2GN's identity pre-training are
    tuned for data of unit scale); the map is fitted in those coordinates and :class:`LatentMap` undoes the
    scaling. ``solver`` is any W2 solver name (``monge.available_solvers()``); ``options`` go to its
    constructor. For W2GN, monge's defaults are used except ``pretrain_steps`` (200 here unless given).
    ``progress`` draws a progress bar on stderr.
    """
    from monge import fit

    latents = check_samples(latents, name="latents")
    if latents.shape[0] < 2:
        raise InvalidInputError(f"latents: need at least 2 codes, got {latents.shape[0]}")
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    latents = latents.detach()
    if standardize:
        mean = latents.mean(dim=0)
        scale = latents.std(dim=0)
        if bool((scale <= 1e-12 * max(float(scale.max()), 1e-300)).any()) or not bool(torch.isfinite(scale).all()):
            raise InvalidInputError("latents: a coordinate is constant, so it cannot be standardised "
                                    "(pass standardize=False or use a smaller latent_dim)")
    else:
        mean, scale = torch.zeros_like(latents[0]), torch.ones_like(latents[0])
    if solver == "w2gn":
        options.setdefault("pretrain_steps", 200)
    noise = StandardNormal(latents.shape[1], dtype=latents.dtype, device=latents.device)
    with training_progress(steps, f"latent map ({solver})", enabled=progress) as callback:
        result = fit(noise, (latents - mean) / scale, solver=solver, steps=steps, batch_size=batch_size,
                     generator=generator, callback=callback, **options)
    return LatentMap(result=result, mean=mean, scale=scale)


def latent_log_density(model: LatentMap | W2Result, z: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
    """Log-density ``(n,)`` of the latent model at codes ``z`` ``(n, d)``, by the change of variables.

    The model is z = ∇ψ(ε), ε ~ N(0, I). With the inverse potential ψ̄ (∇ψ̄ = (∇ψ)⁻¹, learned by W2GN),

        log p(z) = log N(∇ψ̄(u); 0, I) + log det ∇²ψ̄(u) − Σ log scale,   u = (z − mean) / scale

    (Korotin et al., ICLR 2021, App. C.5; the last term is the standardisation's Jacobian, absent for a bare
    :class:`W2Result`). The Hessian ∇²ψ̄ is computed per point with ``torch.func.jacrev`` of the gradient
    (``torch.func.hessian`` of the value for potentials without an explicit gradient), batched with
    ``torch.func.vmap``, and its log-determinant with ``torch.linalg.slogdet``. ψ̄ is convex, so
    the Hessian is positive semi-definite; a point where it is singular gets −inf.

    The value is exact for the model defined by ψ̄; it is the density of the forward model ∇ψ only as far as
    ∇ψ̄ inverts ∇ψ (W2GN's cycle term drives this).

    Raises:
        InvalidInputError: the result has no inverse potential, or ``z`` is not a finite 2-D tensor.
        DimensionMismatchError: ``z`` has the wrong dimension.
    """
    if isinstance(model, LatentMap):
        result, mean, scale = model.result, model.mean, model.scale
    elif isinstance(model, W2Result):
        result, mean, scale = model, None, None
    else:
        raise InvalidInputError(f"model: expected a LatentMap or W2Result, got {type(model).__name__}")
    potential = result.inverse_potential
    if potential is None:
        raise InvalidInputError(f"solver {result.solver!r} learned no inverse potential, so the latent model has "
                                "no density by the change of variables; use solver='w2gn'")
    check_positive_int(batch_size, "batch_size")
    z = check_samples(z, name="z")
    if z.shape[1] != result.dim:
        raise DimensionMismatchError(f"z: expected dimension {result.dim}, got {z.shape[1]}")
    param = next(potential.parameters(), None)
    if param is not None:
        if z.device != param.device:
            raise InvalidInputError(f"z is on {z.device} but the map's parameters are on {param.device}")
        z = z.to(param.dtype)
    u, log_jacobian = z, 0.0
    if mean is not None:
        u = (z - mean.to(z.dtype)) / scale.to(z.dtype)
        log_jacobian = float(torch.log(scale.to(torch.float64)).sum())

    hessian = torch.func.vmap(_hessian_of(potential))
    dim = u.shape[1]
    pieces = []
    with torch.no_grad():
        for chunk in u.split(batch_size):
            eps = potential.gradient(chunk)
            sign, logdet = torch.linalg.slogdet(hessian(chunk))
            logdet = torch.where(sign > 0, logdet, torch.full_like(logdet, -math.inf))
            log_normal = -0.5 * eps.square().sum(1) - 0.5 * dim * math.log(2 * math.pi)
            pieces.append(log_normal + logdet)
    return torch.cat(pieces) - log_jacobian


def _hessian_of(potential: nn.Module) -> Any:
    """A function of one point ``(d,)`` returning ∇²ψ ``(d, d)``, composable with ``torch.func.vmap``.

    Potentials with an explicit gradient formula (DenseICNN) give ``jacrev`` of that gradient (one reverse
    pass per coordinate, about 4× faster than ``torch.func.hessian`` on CPU); others fall back to
    ``torch.func.hessian`` of the value (forward-over-reverse), since their autograd gradient does not compose
    with function transforms.
    """
    explicit = type(potential).value_and_gradient is not Potential.value_and_gradient
    if explicit:
        return torch.func.jacrev(lambda point: potential.gradient(point.unsqueeze(0)).squeeze(0))
    return torch.func.hessian(lambda point: potential(point.unsqueeze(0)).squeeze(0))


# ---------------------------------------------------------------------------------------------------------
# The experiment.
# ---------------------------------------------------------------------------------------------------------


@dataclass
class LatentExperiment:
    """Numbers of :func:`latent_generation_experiment`.

    Attributes:
        frechet: row name (see :data:`ROWS`) → Fréchet distance to the held-out digits in classifier features;
            for the sampled rows (raw noise, Gaussian fit, mapped noise) the mean over ``repeats`` draws.
        frechet_std: the standard deviation of those draws (0 for the two fixed sets: real and decoded data).
        log_likelihood: mean log-density of held-out latent codes under the W2 latent model and under the
            Gaussian fitted to the training codes (nats per code; only when the solver has an inverse).
        classifier_accuracy: held-out accuracy of the feature classifier.
        reconstruction_mse: mean squared pixel error of the autoencoder on the held-out digits.
        times: seconds spent training the autoencoder, the classifier and the map, and in total.
        settings: the arguments of the run.
        figure: path of the figure, if one was written.
    """

    frechet: dict[str, float]
    frechet_std: dict[str, float]
    log_likelihood: dict[str, float]
    classifier_accuracy: float
    reconstruction_mse: float
    times: dict[str, float]
    settings: dict[str, Any]
    figure: str | None = None
    samples: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable numbers (without the samples)."""
        return {"paper": PAPER, "frechet": self.frechet, "frechet_std": self.frechet_std, "log_likelihood": self.log_likelihood,
                "classifier_accuracy": self.classifier_accuracy, "reconstruction_mse": self.reconstruction_mse,
                "times": self.times, "settings": self.settings, "figure": self.figure}

    def save_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path`` (folders are created)."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.to_dict(), indent=2))
        except OSError as exc:
            raise InvalidInputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return path


def latent_generation_experiment(*, latent_dim: int = 8, ae_steps: int = 3000, steps: int = 2000,
                                 batch_size: int = 256, solver: str = "w2gn", seed: int = 0,
                                 test_fraction: float = 0.3, classifier_steps: int = 300, repeats: int = 3,
                                 figure_path: str | Path | None = None, progress: bool = False,
                                 device: Any = "cpu", **options: Any) -> LatentExperiment:
    """Run the latent-space generation experiment on the digits and score it with the Fréchet distance.

    Splits the 1797 digits into train / held-out (``test_fraction``), trains the autoencoder
    (``ae_steps``) and the feature classifier (``classifier_steps``) on the training digits, fits the latent
    map (``solver``, ``steps``, ``batch_size``, ``options``; :func:`fit_latent_map`) and scores every row of
    :data:`ROWS` with as many samples as there are training digits against the held-out digits; the sampled
    rows are scored ``repeats`` times with fresh draws (the Fréchet estimate from ~1300 samples of 64 features
    varies by about ±1 between draws, as much as the gaps between good generators). With
    ``figure_path`` a PNG grid of decoded samples (real / reconstructions / raw noise / Gaussian fit / mapped
    noise) is written. Every random draw comes from one generator seeded with ``seed``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    check_positive_int(latent_dim, "latent_dim")
    check_positive_int(ae_steps, "ae_steps")
    check_positive_int(steps, "steps")
    check_positive_int(classifier_steps, "classifier_steps")
    check_positive_int(repeats, "repeats")
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    pixels, labels = load_digits(device=device)
    train, test = split_indices(pixels.shape[0], test_fraction, generator=generator, device=pixels.device)
    x_train, x_test = pixels[train], pixels[test]
    n = x_train.shape[0]

    t0 = time.perf_counter()
    autoencoder = train_autoencoder(x_train, latent_dim=latent_dim, steps=ae_steps, generator=generator,
                                    progress=progress)
    t_ae = time.perf_counter() - t0
    t0 = time.perf_counter()
    classifier = train_classifier(x_train, labels[train], steps=classifier_steps, generator=generator)
    t_clf = time.perf_counter() - t0

    with torch.no_grad():
        latents_train = autoencoder.encode(x_train)
        latents_test = autoencoder.encode(x_test)
        reconstruction_mse = float((autoencoder.decode(latents_test) - x_test).square().mean())

    t0 = time.perf_counter()
    latent_map = fit_latent_map(latents_train, solver=solver, steps=steps, batch_size=batch_size,
                                generator=generator, progress=progress, **options)
    t_map = time.perf_counter() - t0

    mean64, cov64 = gaussian_moments(latents_train, name="latents")
    gaussian_fit = Gaussian(torch.as_tensor(mean64), torch.as_tensor(cov64), dtype=pixels.dtype, device=pixels.device)
    noise_sampler = StandardNormal(latent_dim, dtype=pixels.dtype, device=pixels.device)
    draws = {ROWS[2]: lambda: noise_sampler.sample(n, generator).to(pixels.device),
             ROWS[3]: lambda: gaussian_fit.sample(n, generator).to(pixels.device),
             ROWS[4]: lambda: latent_map.sample(n, generator)}
    with torch.no_grad():
        reference = classifier.features(x_test)
        samples = {ROWS[0]: x_train, ROWS[1]: autoencoder.decode(latents_train)}
        scores = {name: [frechet_distance(classifier.features(images), reference)] for name, images in samples.items()}
        for name, draw in draws.items():
            scores[name] = []
            for _ in range(repeats):
                images = autoencoder.decode(draw())
                samples.setdefault(name, images)
                scores[name].append(frechet_distance(classifier.features(images), reference))
    frechet = {name: sum(values) / len(values) for name, values in scores.items()}
    frechet_std = {name: float(torch.tensor(values, dtype=torch.float64).std(correction=0)) for name, values in scores.items()}

    log_likelihood: dict[str, float] = {}
    if latent_map.result.has_inverse:
        log_likelihood["w2 latent model"] = float(latent_log_density(latent_map, latents_test).mean())
        gaussian_density = torch.distributions.MultivariateNormal(torch.as_tensor(mean64),
                                                                  covariance_matrix=torch.as_tensor(cov64))
        log_likelihood["gaussian fit"] = float(gaussian_density.log_prob(latents_test.to(torch.float64)).mean())

    figure = None
    if figure_path is not None:
        figure = str(plot_decoded_samples(samples, figure_path,
                                          title=f"{solver.upper()} latent map, latent dim {latent_dim}"))
    return LatentExperiment(
        frechet=frechet, frechet_std=frechet_std, log_likelihood=log_likelihood,
        classifier_accuracy=classifier.accuracy(x_test, labels[test]), reconstruction_mse=reconstruction_mse,
        times={"autoencoder_s": round(t_ae, 2), "classifier_s": round(t_clf, 2), "map_s": round(t_map, 2),
               "total_s": round(time.perf_counter() - started, 2)},
        settings={"latent_dim": latent_dim, "ae_steps": ae_steps, "steps": steps, "batch_size": batch_size,
                  "solver": solver, "seed": seed, "test_fraction": test_fraction,
                  "classifier_steps": classifier_steps, "repeats": repeats, "n_train": n, "n_test": int(x_test.shape[0]),
                  "options": {k: v for k, v in options.items() if isinstance(v, (int, float, str, bool, list))}},
        figure=figure, samples=samples,
    )


def plot_decoded_samples(panels: dict[str, torch.Tensor], path: str | Path, *, columns: int = 6,
                         title: str | None = None) -> Path:
    """Write a PNG with one panel per entry of ``panels`` (name → pixels ``(n, 64)`` in [0, 1]): each panel a
    mosaic of the first ``columns²`` digits (:func:`monge.apps.digits.plot_digit_panels`)."""
    check_positive_int(columns, "columns")
    return plot_digit_panels(panels, path, columns=columns, max_images=columns * columns, panel_size=(2.3, 2.6),
                             title=title)
