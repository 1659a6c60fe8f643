"""Colour transfer (monge.apps.color, `monge color-transfer`): the map moves the colour statistics to the
reference's, applies exactly to every pixel, writes images/plots, and rejects bad input with clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from monge.apps.color import (ColorTransferSummary, bures_wasserstein, check_image, color_moments, color_transfer,
                              fit_color_map, image_to_colors, load_image, resolve_image, sample_images, save_image,
                              to_uint8, transfer_colors)
from monge.cli.main import main
from monge.errors import InvalidInputError, UnknownNameError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
SMALL = {"hidden_sizes": [32, 32, 16], "pretrain_steps": 100}

# A ground-truth colour pair: the reference is an SPD-affine image of the source colours, so the optimal
# colour map is exactly y = A x + b (the gradient of a convex quadratic).
TRUE_A = np.array([[1.5, 0.3, 0.0], [0.3, 0.6, -0.1], [0.0, -0.1, 1.3]])   # eigenvalues 0.50, 1.31, 1.59
TRUE_B = np.array([-0.3, 0.25, 0.05])


def _source_colors(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cov = np.array([[0.010, 0.004, 0.002], [0.004, 0.008, 0.001], [0.002, 0.001, 0.006]])
    colors = rng.multivariate_normal([0.45, 0.35, 0.3], cov, size=h * w)
    return np.clip(colors, 0.1, 0.8).reshape(h, w, 3)


def _affine_pair(h: int = 30, w: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source uint8, reference uint8 from independent source pixels, the true recolouring of the source)."""
    source = to_uint8(_source_colors(h, w, seed))
    other = _source_colors(h + 5, w - 7, seed + 1)
    reference = to_uint8(np.clip(other @ TRUE_A.T + TRUE_B, 0, 1))
    truth = np.clip(source.astype(np.float64) / 255 @ TRUE_A.T + TRUE_B, 0, 1)
    return source, reference, truth


@pytest.fixture(scope="module")
def affine_fit():
    source, reference, truth = _affine_pair()
    g = torch.Generator().manual_seed(0)
    result = fit_color_map(source, reference, steps=1000, batch_size=128, generator=g, **SMALL)
    return source, reference, truth, result


def test_affine_pair_recovers_the_true_colour_map(affine_fit):
    source, reference, truth, result = affine_fit
    mapped = transfer_colors(source, result)
    assert mapped.shape == source.shape and mapped.dtype == np.uint8
    error = np.abs(mapped.astype(np.float64) / 255 - truth)
    before = np.abs(source.astype(np.float64) / 255 - truth)
    # identity is off by ~0.1 per channel on average; the fitted map by < 0.02 (2 % of the colour range)
    assert before.mean() > 0.08
    assert error.mean() < 0.02, error.mean()
    m_map, c_map = color_moments(mapped)
    m_ref, c_ref = color_moments(reference)
    m_src, c_src = color_moments(source)
    assert np.linalg.norm(m_map - m_ref) < 0.02 < 0.1 < np.linalg.norm(m_src - m_ref)
    assert np.linalg.norm(c_map - c_ref) < 0.3 * np.linalg.norm(c_src - c_ref)
    print(f"affine pair: mean abs error {before.mean():.4f} -> {error.mean():.4f}, mean gap "
          f"{np.linalg.norm(m_src - m_ref):.4f} -> {np.linalg.norm(m_map - m_ref):.4f}, cov gap "
          f"{np.linalg.norm(c_src - c_ref):.5f} -> {np.linalg.norm(c_map - c_ref):.5f}")


def test_transfer_is_exact_per_pixel_and_floats_work(affine_fit):
    source, _, _, result = affine_fit
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    image[:5] = image[5]                                         # repeated colours
    fast = transfer_colors(image, result, batch_size=64)
    direct = result.forward(image_to_colors(image)).clamp(0, 1).numpy().reshape(image.shape)
    assert np.abs(fast.astype(np.int16) - to_uint8(direct).astype(np.int16)).max() <= 1
    floats = transfer_colors(image.astype(np.float32) / 255, result)
    assert np.abs(floats.astype(np.int16) - fast.astype(np.int16)).max() <= 1
    assert fast.min() >= 0 and fast.max() <= 255


def test_sample_photographs_downscaled_moments_move_to_reference():
    images = sample_images()
    assert set(images) >= {"china", "flower"} and images["china"].shape == (427, 640, 3)
    small = {k: np.asarray(Image.fromarray(v).resize((64, 43), Image.BILINEAR)) for k, v in images.items()}
    g = torch.Generator().manual_seed(0)
    result = fit_color_map(small["china"], small["flower"], steps=400, batch_size=512, generator=g, **SMALL)
    mapped = transfer_colors(small["china"], result)
    m_src, c_src = color_moments(small["china"])
    m_map, c_map = color_moments(mapped)
    m_ref, c_ref = color_moments(small["flower"])
    before = bures_wasserstein(m_src, c_src, m_ref, c_ref)
    after = bures_wasserstein(m_map, c_map, m_ref, c_ref)
    print(f"china -> flower (64x43): Bures-W2 {before:.4f} -> {after:.4f}, mean gap "
          f"{np.linalg.norm(m_src - m_ref):.4f} -> {np.linalg.norm(m_map - m_ref):.4f}")
    assert before > 0.5
    assert after < 0.25 * before, (before, after)
    assert np.linalg.norm(m_map - m_ref) < 0.06


def test_color_transfer_end_to_end_writes_files(tmp_path):
    source, reference, _ = _affine_pair(seed=5)
    Image.fromarray(source).save(tmp_path / "src.png")
    Image.fromarray(reference).save(tmp_path / "ref.jpg", quality=98)
    summary = color_transfer(tmp_path / "src.png", tmp_path / "ref.jpg", tmp_path / "out" / "res.png", steps=200,
                             batch_size=256, seed=1, palette_path=tmp_path / "pal.png", progress=False,
                             n_discrete=300, **SMALL)
    assert isinstance(summary, ColorTransferSummary)
    out = load_image(tmp_path / "out" / "res.png")
    assert out.shape == source.shape
    assert (tmp_path / "pal.png").read_bytes()[:8] == PNG_MAGIC
    assert (summary.width, summary.height, summary.steps) == (40, 30, 200)
    assert summary.bures_after < 0.5 * summary.bures_before
    assert summary.discrete_w2_after < summary.discrete_w2_before
    m_out, _ = color_moments(out)
    assert np.allclose(summary.mapped_mean, m_out)
    assert json.loads(json.dumps(summary.as_dict()))["solver"] == "w2gn"
    assert "Bures-W2" in summary.line()


def test_load_and_save_images(tmp_path):
    grey = np.arange(12 * 7, dtype=np.uint8).reshape(7, 12)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    loaded = load_image(tmp_path / "grey.png")
    assert loaded.shape == (7, 12, 3) and loaded.dtype == np.uint8
    assert np.array_equal(loaded[..., 0], grey) and np.array_equal(loaded[..., 2], grey)
    rgba = np.zeros((5, 6, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 100
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    assert load_image(tmp_path / "alpha.png").shape == (5, 6, 3)
    image = np.random.default_rng(0).integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    save_image(tmp_path / "a" / "x.png", image)
    save_image(tmp_path / "x.jpg", image.astype(np.float64) / 255)
    assert (tmp_path / "a" / "x.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "x.jpg").read_bytes()[:3] == JPEG_MAGIC
    assert np.array_equal(load_image(tmp_path / "a" / "x.png"), image)
    assert load_image(tmp_path / "x.jpg").shape == (9, 11, 3)


def test_bad_inputs(tmp_path):
    with pytest.raises(InvalidInputError, match="nope.png"):
        load_image(tmp_path / "nope.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InvalidInputError, match="text.png.*not a readable image"):
        load_image(tmp_path / "text.png")
    good = np.zeros((4, 5, 3), dtype=np.uint8)
    with pytest.raises(InvalidInputError, match="cannot save image.*extension"):
        save_image(tmp_path / "x.unknownext", good)
    with pytest.raises(InvalidInputError, match=r"shape \(H, W, 3\)"):
        check_image(np.zeros((4, 5)))
    with pytest.raises(InvalidInputError, match=r"shape \(H, W, 3\)"):
        save_image(tmp_path / "y.png", np.zeros((4, 5, 4), dtype=np.uint8))
    nan = np.full((4, 5, 3), 0.5)
    nan[1, 2, 0] = np.nan
    with pytest.raises(InvalidInputError, match="1 pixels contain NaN"):
        fit_color_map(nan, good, steps=5)
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        check_image(np.full((2, 2, 3), 3.0))
    with pytest.raises(InvalidInputError, match="dtype"):
        check_image(np.zeros((2, 2, 3), dtype=np.int64))
    with pytest.raises(InvalidInputError, match="sklearn:china"):
        resolve_image("sklearn:moon")
    with pytest.raises(UnknownNameError, match="no-such-solver"):
        fit_color_map(good, good, solver="no-such-solver", steps=5)
    with pytest.raises(InvalidInputError, match="W1 critic"):
        fit_color_map(good, good, solver="wgan-lp", steps=5)
    with pytest.raises(InvalidInputError, match="steps"):
        fit_color_map(good, good, steps=0)


def test_cli_end_to_end(tmp_path, capsys):
    source, reference, _ = _affine_pair(seed=7)
    Image.fromarray(source).save(tmp_path / "s.png")
    Image.fromarray(reference).save(tmp_path / "r.png")
    code = main(["color-transfer", str(tmp_path / "s.png"), str(tmp_path / "r.png"), str(tmp_path / "o.jpg"),
                 "--steps", "60", "--batch-size", "128", "--seed", "2", "--threads", "1", "--no-progress",
                 "--palette", str(tmp_path / "p.png"), "--comparison", str(tmp_path / "c.png"),
                 "--json", str(tmp_path / "s.json"), "-o", "hidden_sizes=[16,16,8]", "-o", "pretrain_steps=30"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "o.jpg (40x30): w2gn, 60 steps" in out and "Bures-W2" in out
    assert load_image(tmp_path / "o.jpg").shape == source.shape
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG_MAGIC
    numbers = json.loads((tmp_path / "s.json").read_text())
    assert numbers["steps"] == 60 and len(numbers["mapped_cov"]) == 3


def test_cli_sample_images_and_errors(tmp_path, capsys):
    code = main(["color-transfer", "sklearn:china", "sklearn:flower", str(tmp_path / "cf.png"), "--steps", "20",
                 "--batch-size", "128", "--no-progress", "-o", "hidden_sizes=[16,16,8]", "-o", "pretrain_steps=20"])
    assert code == 0, capsys.readouterr()
    assert load_image(tmp_path / "cf.png").shape == (427, 640, 3)
    capsys.readouterr()
    code = main(["color-transfer", str(tmp_path / "missing.png"), "sklearn:flower", str(tmp_path / "x.png"),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: image file not found") and "missing.png" in err
    code = main(["color-transfer", "sklearn:china", "sklearn:flower", str(tmp_path / "x.png"), "--solver", "nope",
                 "--no-progress"])
    assert code == 1 and "unknown solver 'nope'" in capsys.readouterr().err
    code = main(["color-transfer", "sklearn:china", "sklearn:flower", str(tmp_path / "x.png"), "--steps", "0"])
    assert code == 1 and "--steps" in capsys.readouterr().err
