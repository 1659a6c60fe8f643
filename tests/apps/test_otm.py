"""OTM generation (Rout, Korotin, Burnaev, ICLR 2022): the upsampled-noise embedding, the fitted generator, and
the comparison of generators at one budget."""

from __future__ import annotations

import pytest
import torch

from monge.apps.digits import load_digits
from monge.apps.generator_comparison import (GenerationData, RandomPatchFeatures, compare_generators, generation_data,
                                             photo_patches, score_samples)
from monge.apps.otm import UpsampledNoise, fit_otm
from monge.errors import DimensionMismatchError, InvalidInputError, UnknownNameError
from monge.metrics import frechet_distance


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_upsampled_noise_lives_on_the_noise_dimension_and_is_seeded():
    noise = UpsampledNoise((3, 8, 8), (3, 4, 4))
    assert noise.dim == 192 and noise.latent_dim == 48
    state = torch.random.get_rng_state()
    x = noise.sample(500, gen(0))
    assert torch.equal(torch.random.get_rng_state(), state)            # the global RNG is never touched
    assert x.shape == (500, 192) and torch.equal(x, noise.sample(500, gen(0)))
    # a fixed linear embedding: the samples span exactly 48 dimensions of the 192
    assert int(torch.linalg.matrix_rank(x.double() - x.double().mean(0), rtol=1e-4)) == 48
    # constant noise → a constant image at shift + scale·value (bicubic interpolation keeps constants)
    flat = noise.embed(torch.full((1, 48), 2.0))
    torch.testing.assert_close(flat, torch.full((1, 192), 0.5 + 0.5 * 2.0))
    same = UpsampledNoise((1, 4, 4), (1, 4, 4)).embed(torch.arange(16.0).reshape(1, 16))
    torch.testing.assert_close(same, 0.5 + 0.5 * torch.arange(16.0).reshape(1, 16))   # no upsampling needed


@pytest.mark.parametrize(("kwargs", "error", "text"), [
    (dict(image_shape=(3, 8, 8), noise_shape=(1, 4, 4)), DimensionMismatchError, "channels"),
    (dict(image_shape=(1, 8, 8), noise_shape=(1, 16, 4)), InvalidInputError, "larger"),
    (dict(image_shape=(1, 8), noise_shape=(1, 4, 4)), InvalidInputError, "image_shape"),
    (dict(image_shape=(1, 8, 8), noise_shape=(1, 4, 4), mode="area"), InvalidInputError, "mode"),
    (dict(image_shape=(1, 8, 8), noise_shape=(1, 4, 4), scale=0.0), InvalidInputError, "scale"),
])
def test_upsampled_noise_rejects_bad_shapes(kwargs, error, text):
    with pytest.raises(error, match=text):
        UpsampledNoise(**kwargs)


def test_otm_maps_embedded_noise_onto_the_digits():
    """300 outer steps of OTM with small networks take 4×4 noise upsampled to 8×8 most of the way to the digits:
    the pixel-space Fréchet distance to held-out digits falls from 16.1 (the embedded noise) to under a third of
    that (measured 3.2)."""
    pixels, _ = load_digits()
    train, test = pixels[:1400], pixels[1400:]
    model = fit_otm(train, (1, 8, 8), (1, 4, 4), steps=300, batch_size=128, generator=gen(0),
                    hidden_sizes=[128, 128], inner_steps=5)
    source, generated = model.noise.sample(397, gen(1)), model.sample(397, gen(1))
    before, after = frechet_distance(source, test), frechet_distance(generated, test)
    assert before > 10 and after < before / 3, (before, after)
    with pytest.raises(DimensionMismatchError, match="64 pixels"):
        fit_otm(train[:, :60], (1, 8, 8), (1, 4, 4), steps=1)


def test_photo_patches_are_crops_of_both_photographs():
    from monge.apps.color import sample_images

    x = photo_patches(10, size=16, generator=gen(2))
    assert x.shape == (10, 768) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert torch.equal(x, photo_patches(10, size=16, generator=gen(2)))
    photos = [torch.as_tensor(p).permute(2, 0, 1).float() / 255 for p in sample_images().values()]
    for row, photo in ((x[0], photos[0]), (x[9], photos[1])):     # the first half from one, the rest from the other
        windows = photo.unfold(1, 16, 1).unfold(2, 16, 1)            # (3, H', W', 16, 16)
        found = (windows - row.reshape(3, 1, 1, 16, 16)).abs().amax(dim=(0, 3, 4)).min()
        assert float(found) == 0.0
    with pytest.raises(InvalidInputError, match="larger"):
        photo_patches(2, size=500)


def test_random_patch_features_are_fixed_by_the_generator_and_see_beyond_moments():
    """The same generator gives the same features; and two patch sets with equal pixel means and covariances
    (real patches and a Gaussian fitted to them) differ in the random features far more than two real sets."""
    a, b = RandomPatchFeatures((3, 16, 16), generator=gen(3)), RandomPatchFeatures((3, 16, 16), generator=gen(3))
    x = photo_patches(4000, generator=gen(4))
    assert a(x[:5]).shape == (5, 128) and torch.equal(a(x[:5]), b(x[:5]))
    held_out = photo_patches(4000, generator=gen(5))
    mean, centred = x.double().mean(0), x.double() - x.double().mean(0)
    cov = centred.T @ centred / (x.shape[0] - 1)
    gaussian = torch.distributions.MultivariateNormal(mean, cov + 1e-6 * torch.eye(768, dtype=torch.float64))
    fitted = gaussian.sample((4000,)).float()
    real_gap = frechet_distance(a(x), a(held_out))
    assert frechet_distance(a(fitted), a(held_out)) > 3 * real_gap


def test_compare_generators_scores_every_method_alike():
    """Three generators on a small digit set with a 3-second budget each: one row per source and per generated
    set, all finite; the W2GAN source (a Gaussian fitted to the data) matches the data's pixel moments far
    better than OTM's embedded noise; each method trained for about its budget."""
    pixels, _ = load_digits()
    small = GenerationData("digits", pixels[:600], pixels[600:900], (1, 8, 8), (1, 4, 4), lambda x: x[:, ::2],
                           "every other pixel")
    report = compare_generators(small, seconds=3.0, seed=0, batch_size=64, repeats=2)
    rows = {r["row"]: r for r in report["rows"]}
    assert list(rows) == ["real train data", "otm: source", "otm: generated", "w2gan: source", "w2gan: generated",
                          "latent-w2gn: source", "latent-w2gn: generated"]
    assert all(r[k] == r[k] and r[k] >= 0 for r in rows.values() for k in ("frechet_features", "frechet_pixels",
                                                                           "frechet_features_std", "frechet_pixels_std"))
    assert rows["w2gan: source"]["frechet_pixels"] < 0.1 * rows["otm: source"]["frechet_pixels"]
    assert all(0 < r["train_seconds"] < 20 for name, r in rows.items() if name != "real train data")
    with pytest.raises(UnknownNameError, match="generator"):
        compare_generators(small, ["vae"], seconds=1.0)
    with pytest.raises(UnknownNameError, match="generation data set"):
        generation_data("cifar")
    assert score_samples(small, torch.full((5, 64), float("nan")))["frechet_pixels"] != 0   # NaN, never a score
