"""Photo style transfer (monge.apps.photo_style, `monge image-map` on two photographs): patches in and out of an
image exactly, a seeded patch map that moves the patch and colour statistics to the target's, the command, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from monge.apps.photo_style import (extract_patches, fit_linear_patch_map, fit_photo_style, load_photo, patch_grid,
                                    patch_style_distances, patch_window, random_patches, reassemble_patches, stylize)
from monge.cli.main import app
from monge.errors import DimensionMismatchError, InvalidInputError
from monge.solvers.base import W2Result

runner = CliRunner()


def synthetic(kind: str, seed: int, size: int = 32) -> torch.Tensor:
    """A small 3×size×size test image. ``"warm"``: a smooth red-orange gradient with faint noise; ``"cool"``:
    blue-green vertical stripes (period size/8) with stronger noise — other colours, contrast and texture."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    if kind == "warm":
        base = torch.stack([0.55 + 0.3 * xx, 0.35 + 0.2 * yy, 0.2 + 0.05 * xx])
        return (base + 0.03 * torch.randn(3, size, size, generator=g)).clamp(0, 1)
    stripes = 0.5 + 0.25 * torch.sin(2 * math.pi * xx * 8)
    base = torch.stack([0.15 + 0.1 * stripes, 0.3 + 0.3 * stripes, 0.45 + 0.4 * stripes])
    return (base + 0.06 * torch.randn(3, size, size, generator=g)).clamp(0, 1)


def write_png(path, image: torch.Tensor) -> None:
    Image.fromarray((image.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy(), mode="RGB").save(path)


# ---------------------------------------------------------------------------------------------- patches
@pytest.mark.parametrize("size, stride, window", [(8, 3, "hann"), (5, 5, "box"), (1, 1, "hann"), (29, 4, "hann"),
                                                  (16, 4, "box"), (7, 2, "hann")])
def test_extract_then_reassemble_gives_the_image_back_exactly(size, stride, window):
    image = torch.rand(3, 37, 29, generator=torch.Generator().manual_seed(size))
    patches = extract_patches(image, size=size, stride=stride)
    tops, lefts = patch_grid(37, 29, size=size, stride=stride)
    assert patches.shape == (tops.numel(), 3, size, size)
    assert torch.equal(patches[-1], image[:, -size:, -size:])            # the last patch is flush with the corner
    assert torch.equal(reassemble_patches(patches, (37, 29), stride=stride, window=window), image)
    grey = image[:1].double()                       # another channel count; float64 sums round at 1e-16
    back = reassemble_patches(extract_patches(grey, size=size, stride=stride), (37, 29), stride=stride, window=window)
    assert back.dtype == torch.float64 and float((back - grey).abs().max()) < 1e-15


def test_patch_grid_covers_every_pixel_and_ends_flush_with_the_edges():
    tops, lefts = patch_grid(11, 7, size=4, stride=3)
    assert tops.tolist() == [0, 0, 3, 3, 6, 6, 7, 7] and lefts.tolist() == [0, 3] * 4    # 7 = 11 − 4: flush
    count = torch.zeros(11, 7)
    for top, left in zip(tops.tolist(), lefts.tolist()):
        count[top:top + 4, left:left + 4] += 1
    assert float(count.min()) >= 1


def test_reassembly_averages_the_overlaps_with_the_window():
    """Box window: a pixel covered by one patch takes that patch's value, one covered by four takes their mean.
    Hann window: positive, symmetric, largest in the middle, so a patch's centre outweighs its border."""
    patches = torch.zeros(4, 1, 2, 2)                                     # 1×3×3 image, size 2, stride 1: 4 patches
    patches[0] = 1.0
    out = reassemble_patches(patches, (3, 3), stride=1, window="box")[0]
    assert float(out[0, 0]) == 1.0 and float(out[1, 1]) == 0.25 and float(out[2, 2]) == 0.0
    weights = patch_window(6)
    assert float(weights.min()) > 0 and torch.equal(weights, weights.T) and torch.allclose(weights, weights.flip(0))
    assert float(weights[2:4, 2:4].min()) > 5 * float(weights[0, 0])
    hann = reassemble_patches(patches, (3, 3), stride=1)[0]
    assert float(hann[0, 1]) == pytest.approx(0.5) and torch.equal(patch_window(3, "box"), torch.ones(3, 3).double())


def test_random_patches_are_seeded_crops_and_leave_the_global_rng_alone():
    image = torch.rand(3, 20, 30, generator=torch.Generator().manual_seed(0))
    state = torch.get_rng_state()
    a = random_patches(image, 50, size=6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, random_patches(image, 50, size=6, generator=torch.Generator().manual_seed(1)))
    assert a.shape == (50, 3, 6, 6)
    windows = image.unfold(1, 6, 1).unfold(2, 6, 1)                      # (3, 15, 25, 6, 6): every crop
    for patch in a[:5]:
        found = (windows - patch[:, None, None]).abs().amax(dim=(0, 3, 4)).min()
        assert float(found) == 0.0


# ---------------------------------------------------------------------------------------------- maps
@pytest.fixture(scope="module")
def fitted():
    source, target = synthetic("warm", 0), synthetic("cool", 1)
    result = fit_photo_style(source, target, patch_size=8, n_patches=2000, steps=60, batch_size=64,
                             generator=torch.Generator().manual_seed(0), channels=(8, 16), lr=1e-2)
    return source, target, result


def test_fitted_patch_map_moves_the_patch_statistics_to_the_target(fitted):
    """60 W2GN steps on 8×8 patches of two 32×32 images: the stylized image's patch distribution and colours are far
    closer to the target's than the source's are (measured: patch Fréchet 28.8 → 1.03, patch W2 5.39 → 1.21, colour
    Bures-W2 0.660 → 0.077); the target against itself (the sampling floor) is closer still."""
    source, target, result = fitted
    assert isinstance(result, W2Result) and result.forward_potential.image_shape == (3, 8, 8)
    assert len(result.history["loss"]) == 60
    stylized = stylize(result, source, stride=2)
    assert stylized.shape == source.shape and float(stylized.min()) >= 0 and float(stylized.max()) <= 1
    before, after, floor = (patch_style_distances(image, target, patch_size=8, n_patches=500, n_discrete=200)
                            for image in (source, stylized, target))
    assert after["patch_frechet"] <= 0.1 * before["patch_frechet"]
    assert after["patch_w2"] <= 0.5 * before["patch_w2"]
    assert after["color_bures"] <= 0.25 * before["color_bures"]
    assert after["patch_mean_error"] <= 0.1 * before["patch_mean_error"]
    assert floor["patch_frechet"] < after["patch_frechet"] and floor["color_bures"] < 1e-6
    assert torch.equal(stylize(result, source, stride=2), stylized)       # mapping is deterministic
    wider = stylize(result, synthetic("warm", 5, size=24), stride=8, window="box")     # other sizes, strides
    assert wider.shape == (3, 24, 24)


def test_linear_patch_map_is_the_bures_baseline(fitted):
    """The Bures map moves the Gaussian statistics of the patches (measured: Fréchet 28.8 → 0.31); the map of an
    image onto itself (two independent patch samples) is close to the identity."""
    source, target, _ = fitted
    linear = fit_linear_patch_map(source, target, patch_size=8, n_patches=2000,
                                  generator=torch.Generator().manual_seed(0))
    assert linear.matrix.shape == (192, 192) and linear.patch_shape == (3, 8, 8)
    moved = stylize(linear, source, stride=2)
    before = patch_style_distances(source, target, patch_size=8, n_patches=500, n_discrete=0)
    after = patch_style_distances(moved, target, patch_size=8, n_patches=500, n_discrete=0)
    assert after["patch_frechet"] <= 0.05 * before["patch_frechet"] and math.isnan(after["patch_w2"])
    itself = fit_linear_patch_map(source, source, patch_size=8, n_patches=2000,
                                  generator=torch.Generator().manual_seed(1))
    assert float((stylize(itself, source, stride=2) - source).square().mean().sqrt()) < 0.02


def test_load_photo_scales_files_arrays_and_tensors(tmp_path):
    image = synthetic("cool", 2, size=40)
    write_png(tmp_path / "a.png", image)
    loaded = load_photo(tmp_path / "a.png")
    assert loaded.shape == (3, 40, 40) and float((loaded - image).abs().max()) <= 0.5 / 255 + 1e-6
    assert load_photo(str(tmp_path / "a.png"), scale=0.5).shape == (3, 20, 20)
    assert load_photo(image, scale=0.25).shape == (3, 10, 10)
    assert torch.equal(load_photo(image), image)
    array = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert torch.equal(load_photo(array), loaded)


# ---------------------------------------------------------------------------------------------- errors
def test_bad_inputs_raise_clear_errors(fitted):
    source, target, result = fitted
    with pytest.raises(InvalidInputError, match=r"\(C, H, W\)"):
        extract_patches(source[0], size=4)
    with pytest.raises(InvalidInputError, match=r"\(C, H, W\)"):
        fit_photo_style(source[None], target, steps=1)
    with pytest.raises(InvalidInputError, match="larger than the source_image"):
        fit_photo_style(source, target, patch_size=33, steps=1)
    with pytest.raises(InvalidInputError, match="larger"):
        random_patches(source, 3, size=40)
    with pytest.raises(InvalidInputError, match="stride must be a positive integer"):
        extract_patches(source, size=4, stride=0)
    with pytest.raises(InvalidInputError, match="stride must be a positive integer"):
        stylize(result, source, stride=-2)
    nan = source.clone()
    nan[0, 3, 3] = float("nan")
    with pytest.raises(InvalidInputError, match="NaN"):
        fit_photo_style(nan, target, steps=1)
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        stylize(result, source * 2)
    with pytest.raises(DimensionMismatchError, match="channels"):
        fit_photo_style(source, target[:1], steps=1)
    with pytest.raises(DimensionMismatchError, match="3-channel patches"):
        stylize(result, source[:1])
    with pytest.raises(InvalidInputError, match="window"):
        stylize(result, source, window="gauss")
    with pytest.raises(DimensionMismatchError, match="patches"):
        reassemble_patches(extract_patches(source, size=8, stride=4)[1:], (32, 32), stride=4)
    with pytest.raises(InvalidInputError, match="style_map"):
        stylize(lambda x: x, source)
    with pytest.raises(InvalidInputError, match="scale"):
        load_photo(source, scale=1.5)


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_stylizes_two_photographs(tmp_path):
    write_png(tmp_path / "warm.png", synthetic("warm", 0))
    write_png(tmp_path / "cool.jpg", synthetic("cool", 1))
    out = tmp_path / "out"
    ran = runner.invoke(app, ["image-map", str(tmp_path / "warm.png"), str(tmp_path / "cool.jpg"), str(out),
                              "--patch-size", "8", "--stride", "2", "--n-patches", "500", "--steps", "20",
                              "--batch-size", "32", "--threads", "1", "--no-progress", "--color-steps", "20",
                              "--eval-discrete", "100"])
    assert ran.exit_code == 0, ran.output
    assert "ConvICNN patch map" in ran.output and "linear patch map" in ran.output
    with Image.open(out / "stylized.png") as image:
        assert image.size == (32, 32)
    assert (out / "comparison.png").is_file() and (out / "linear.png").is_file() and (out / "colors.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["patch_size"] == 8 and summary["stride"] == 2 and summary["steps"] == 20
    assert set(summary["distances"]) == {"source", "stylized", "linear", "colors", "target"}
    for numbers in summary["distances"].values():
        assert all(math.isfinite(v) for v in numbers.values()), numbers
    assert summary["distances"]["stylized"]["color_bures"] < summary["distances"]["source"]["color_bures"]
    assert all(math.isfinite(v) and v >= 0 for v in summary["timings_s"].values())
    assert W2Result.load(out / "result").forward_potential.image_shape == (3, 8, 8)


def test_cli_photo_demo_uses_the_sklearn_photographs(tmp_path):
    ran = runner.invoke(app, ["image-map", "--demo-photos", str(tmp_path / "demo"), "--scale", "0.1",
                              "--patch-size", "8", "--n-patches", "300", "--steps", "3", "--batch-size", "16",
                              "--threads", "1", "--no-progress", "--no-baseline", "--eval-discrete", "0"])
    assert ran.exit_code == 0, ran.output
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["source"] == "sklearn:china" and summary["target"] == "sklearn:flower"
    assert summary["source_shape"] == [3, 43, 64] and set(summary["distances"]) == {"source", "stylized", "target"}
    assert summary["distances"]["stylized"]["patch_w2"] is None              # not computed: null, not NaN


def test_cli_photo_mode_errors_are_one_line(tmp_path):
    write_png(tmp_path / "a.png", synthetic("warm", 0))
    (tmp_path / "folder").mkdir()
    mixed = runner.invoke(app, ["image-map", str(tmp_path / "a.png"), str(tmp_path / "folder"), str(tmp_path / "o")])
    assert mixed.exit_code == 1 and "both be folders" in mixed.output
    folder_flag = runner.invoke(app, ["image-map", str(tmp_path / "folder"), str(tmp_path / "folder"),
                                      str(tmp_path / "o"), "--patch-size", "8"])
    assert folder_flag.exit_code == 1 and "--patch-size applies to photographs" in folder_flag.output
    photo_flag = runner.invoke(app, ["image-map", str(tmp_path / "a.png"), str(tmp_path / "a.png"),
                                     str(tmp_path / "o"), "--size", "8", "--grayscale"])
    assert photo_flag.exit_code == 1 and "--size, --grayscale applies to folders" in photo_flag.output
    big = runner.invoke(app, ["image-map", str(tmp_path / "a.png"), str(tmp_path / "a.png"), str(tmp_path / "o"),
                              "--patch-size", "64", "--no-progress"])
    assert big.exit_code == 1 and "larger" in big.output
    stride = runner.invoke(app, ["image-map", str(tmp_path / "a.png"), str(tmp_path / "a.png"), str(tmp_path / "o"),
                                 "--stride", "0"])
    assert stride.exit_code == 1 and "--stride must be a positive integer" in stride.output
    missing = runner.invoke(app, ["image-map", str(tmp_path / "nope.png"), str(tmp_path / "a.png"),
                                  str(tmp_path / "o"), "--no-progress"])
    assert missing.exit_code == 1 and "nope.png" in missing.output
    demo = runner.invoke(app, ["image-map", str(tmp_path / "a.png"), "--demo-photos", str(tmp_path / "o")])
    assert demo.exit_code == 1 and "--demo-photos" in demo.output
