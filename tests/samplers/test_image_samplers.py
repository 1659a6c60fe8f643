"""Image samplers: random patches of a picture and Gaussian noise on another sampler."""

from __future__ import annotations

import pytest
import torch

from monge.errors import InvalidInputError
from monge.samplers import Empirical, ImagePatches, WithNoise


def _picture():
    return torch.arange(3 * 10 * 12, dtype=torch.float32).reshape(3, 10, 12)


def test_patches_are_windows_of_the_image_flattened_channel_first():
    picture = _picture()
    sampler = ImagePatches(picture, 4)
    assert sampler.dim == 48 and sampler.image_shape == (3, 4, 4)
    patches = sampler.sample(200, torch.Generator().manual_seed(0)).reshape(200, 3, 4, 4)
    for patch in patches[:20]:
        # the top-left value of channel 0 locates the window; every pixel must then match the picture
        top, left = divmod(int(patch[0, 0, 0]), 12)
        assert torch.equal(patch, picture[:, top:top + 4, left:left + 4])
    corners = {divmod(int(p[0, 0, 0]), 12) for p in patches}
    assert len(corners) > 40                                             # placements vary
    assert all(0 <= t <= 6 and 0 <= l <= 8 for t, l in corners)          # and stay inside the picture


def test_patches_are_reproducible_from_the_generator():
    sampler = ImagePatches(_picture(), 5)
    a = sampler.sample(16, torch.Generator().manual_seed(3))
    b = sampler.sample(16, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_a_grey_picture_gives_one_channel():
    sampler = ImagePatches(torch.rand(9, 9, generator=torch.Generator().manual_seed(0)), 3)
    assert sampler.image_shape == (1, 3, 3) and sampler.sample(4).shape == (4, 9)


@pytest.mark.parametrize("image, size, match", [
    (torch.zeros(3, 8, 8), 9, "larger than the image"),
    (torch.zeros(3, 8, 8), 0, "size"),
    (torch.zeros(2, 3, 8, 8), 2, "shape"),
    (torch.full((3, 8, 8), float("nan")), 2, "NaN"),
])
def test_bad_patch_samplers_are_named(image, size, match):
    with pytest.raises(InvalidInputError, match=match):
        ImagePatches(image, size)


def test_noise_has_the_requested_spread_and_clip_bounds_it():
    base = Empirical(torch.zeros(5, 200))
    noisy = WithNoise(base, 0.5)
    x = noisy.sample(400, torch.Generator().manual_seed(0))
    assert abs(float(x.std()) - 0.5) < 0.01
    clipped = WithNoise(base, 0.5, clip=0.3).sample(400, torch.Generator().manual_seed(0))
    assert float(clipped.abs().max()) <= 0.3 + 1e-7
    assert torch.equal(clipped, x.clamp(-0.3, 0.3))


@pytest.mark.parametrize("kwargs, match", [
    (dict(std=0.0), "std"), (dict(std=float("inf")), "std"), (dict(std=0.1, clip=-1.0), "clip"),
])
def test_bad_noise_is_named(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        WithNoise(Empirical(torch.zeros(3, 2)), **kwargs)
    with pytest.raises(InvalidInputError, match="Sampler"):
        WithNoise(torch.zeros(3, 2), 0.1)  # type: ignore[arg-type]
