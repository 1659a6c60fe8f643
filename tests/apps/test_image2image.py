"""Image-to-image maps: image folders, the digits style demo, a seeded ConvICNN/W2GN fit, the CLI."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from monge.apps.image2image import (digit_styles, fit_image_map, load_image_folder, load_torchvision_dataset,
                                    map_images, save_image_grid, save_images, style_statistics,
                                    write_digit_style_folders)
from monge.cli.main import app
from monge.errors import DimensionMismatchError, InvalidInputError, MissingDependencyError
from monge.nets import ConvICNN
from monge.solvers.base import W2Result

runner = CliRunner()


@pytest.fixture(scope="module")
def styles():
    """8×8 digits: 200 thin-stroke sources, 200 *other* digits with thick strokes, and the thick version of
    the sources (the ground-truth restyling, never shown to the solver)."""
    thin, thick, _ = digit_styles(size=8, dilation=2)
    return thin[:200], thick[200:400], thick[:200]


def write_pngs(folder, images, suffix=".png", start=0):
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images, start=start):
        array = (image[0] * 255).round().to(torch.uint8).numpy()
        Image.fromarray(array, mode="L").save(folder / f"img{i:03d}{suffix}")


# ---------------------------------------------------------------------------------------------- loading
def test_load_image_folder_sizes_modes_and_order(tmp_path, styles):
    thin = styles[0][:6]
    write_pngs(tmp_path / "a", thin[:3])
    write_pngs(tmp_path / "a", thin[3:5], suffix=".BMP", start=3)
    Image.fromarray((thin[5, 0] * 255).round().to(torch.uint8).numpy(), mode="L").save(tmp_path / "a" / "z.jpg",
                                                                                     quality=100)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    grey, files = load_image_folder(tmp_path / "a", size=(8, 8), grayscale=True, return_paths=True)
    assert grey.shape == (6, 1, 8, 8) and grey.dtype == torch.float32
    assert [f.name for f in files] == ["img000.png", "img001.png", "img002.png", "img003.BMP", "img004.BMP", "z.jpg"]
    assert float((grey[:5] - thin[:5]).abs().max()) <= 0.5 / 255 + 1e-6    # lossless formats round-trip
    assert float((grey[5] - thin[5]).abs().mean()) < 0.03                  # JPEG is close
    rgb = load_image_folder(tmp_path / "a", size=(8, 8))
    assert rgb.shape == (6, 3, 8, 8) and torch.equal(rgb[:, 0], rgb[:, 2])
    resized = load_image_folder(tmp_path / "a", size=(12, 10), grayscale=True)
    assert resized.shape == (6, 1, 12, 10) and 0.0 <= float(resized.min()) and float(resized.max()) <= 1.0


def test_load_image_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="holds no image"):
        load_image_folder(tmp_path / "empty")
    write_pngs(tmp_path / "bad", torch.zeros(2, 1, 4, 4))
    (tmp_path / "bad" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InvalidInputError, match="broken.png"):
        load_image_folder(tmp_path / "bad")
    with pytest.raises(InvalidInputError, match="size"):
        load_image_folder(tmp_path / "bad", size=(0, 8))


def test_torchvision_loader_reports_the_missing_dependency(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)     # absent here; forced absent if ever installed
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    with pytest.raises(MissingDependencyError, match="torchvision"):
        load_torchvision_dataset("MNIST", tmp_path)


def test_digit_style_folders_are_disjoint_and_thicker(tmp_path):
    thin_dir, thick_dir = write_digit_style_folders(tmp_path, n=30, size=16)
    thin, thin_files = load_image_folder(thin_dir, size=(16, 16), grayscale=True, return_paths=True)
    thick, thick_files = load_image_folder(thick_dir, size=(16, 16), grayscale=True, return_paths=True)
    assert thin.shape == thick.shape == (30, 1, 16, 16)
    ids = lambda files: {f.name.split("_")[0] for f in files}  # noqa: E731
    assert not ids(thin_files) & ids(thick_files)             # unpaired: different digits
    assert float(thick.mean()) > 1.2 * float(thin.mean())      # dilation adds ink
    with pytest.raises(InvalidInputError, match="n must be"):
        write_digit_style_folders(tmp_path, n=899)


# ---------------------------------------------------------------------------------------------- fit and map
def test_seeded_fit_moves_images_to_the_target_style(styles):
    """60 W2GN steps (lr 1e-2, channels (4, 8)) on 8×8 digits: the distance between the mean mapped image and
    the mean target image at least halves, the ink mass closes half its gap, and each mapped digit moves
    towards the thick version of the *same* digit (which the solver never saw) by ≥ 25 %."""
    source, target, truth = styles
    result = fit_image_map(source, target, steps=60, batch_size=32, generator=torch.Generator().manual_seed(0),
                           channels=(4, 8), lr=1e-2)
    assert isinstance(result, W2Result) and isinstance(result.forward_potential, ConvICNN)
    assert result.settings["explicit_gradient"] is False and len(result.history["loss"]) == 60
    mapped = map_images(result, source)
    assert mapped.shape == source.shape
    before, after = style_statistics(source, target), style_statistics(mapped, target)
    ink_target = style_statistics(target, target)["ink"]
    assert after["mean_image_distance"] <= 0.5 * before["mean_image_distance"]
    assert abs(after["ink"] - ink_target) <= 0.5 * abs(before["ink"] - ink_target)
    rms = lambda a, b: float((a - b).square().mean().sqrt())  # noqa: E731
    assert rms(mapped, truth) <= 0.75 * rms(source, truth)
    back = map_images(result, mapped, inverse=True)
    assert rms(back, source) < rms(mapped, source)            # the inverse map heads back to the thin style


def test_fit_and_map_reject_bad_inputs(styles):
    source, target, _ = styles
    with pytest.raises(DimensionMismatchError, match="same size"):
        fit_image_map(source, target[:, :, :4], steps=1)
    with pytest.raises(InvalidInputError, match="forward_potential"):
        fit_image_map(source, target, steps=1, forward_potential=None)
    with pytest.raises(InvalidInputError, match="NaN"):
        fit_image_map(source * float("nan"), target, steps=1)
    net = ConvICNN((1, 8, 8), (2,))
    result = W2Result(solver="w2gn", forward_potential=net, inverse_potential=net, cost_estimate=0.0)
    with pytest.raises(DimensionMismatchError, match=r"\(1, 8, 8\)"):
        map_images(result, torch.zeros(3, 1, 6, 6))


def test_image_writers(tmp_path, styles):
    source = styles[0][:5]
    files = save_images(source, tmp_path / "out", ["a.jpg", "b", "c.png", "d", "e"])
    assert [f.name for f in files] == ["a.png", "b.png", "c.png", "d.png", "e.png"]
    grid = save_image_grid([source, source[:3]], tmp_path / "grid.png", scale=3, padding=1)
    with Image.open(grid) as image:
        assert image.size == (5 * 25 + 1, 2 * 25 + 1)
        assert image.getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(DimensionMismatchError):
        save_image_grid([source, torch.zeros(2, 1, 4, 4)], tmp_path / "bad.png")
    with pytest.raises(InvalidInputError, match="names"):
        save_images(source, tmp_path / "out", ["only-one"])


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_end_to_end(tmp_path):
    demo = tmp_path / "demo"
    made = runner.invoke(app, ["image-map", "--demo-digits", str(demo), "--demo-count", "40"])
    assert made.exit_code == 0, made.output
    out = tmp_path / "out"
    ran = runner.invoke(app, ["image-map", str(demo / "thin"), str(demo / "thick"), str(out), "--size", "8",
                              "--steps", "15", "--batch-size", "16", "--grayscale", "--threads", "1",
                              "--no-progress"])
    assert ran.exit_code == 0, ran.output
    assert len(list((out / "mapped").glob("*.png"))) == 40
    with Image.open(out / "grid.png") as grid:
        assert grid.size == (12 * (8 * 4 + 2) + 2, 3 * (8 * 4 + 2) + 2)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_source"] == 40 and summary["image_shape"] == [1, 8, 8] and summary["steps"] == 15
    assert summary["mapped"]["mean_image_distance"] < summary["source"]["mean_image_distance"]
    loaded = W2Result.load(out / "result")
    assert loaded.forward_potential.image_shape == (1, 8, 8)


def test_cli_paper_design(tmp_path):
    """``--design w2gn --width W`` fits the paper's W2GNConvICNN (explicit gradient); ``--width`` needs it."""
    demo = tmp_path / "demo"
    assert runner.invoke(app, ["image-map", "--demo-digits", str(demo), "--demo-count", "20"]).exit_code == 0
    args = ["image-map", str(demo / "thin"), str(demo / "thick"), str(tmp_path / "out"), "--size", "8", "--steps",
            "3", "--batch-size", "8", "--grayscale", "--threads", "1", "--no-progress", "--width", "2"]
    ran = runner.invoke(app, [*args, "--design", "w2gn"])
    assert ran.exit_code == 0, ran.output
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["design"] == "w2gn"
    loaded = W2Result.load(tmp_path / "out" / "result")
    assert type(loaded.forward_potential).__name__ == "W2GNConvICNN" and loaded.settings["explicit_gradient"] is True
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1 and "takes no width" in refused.output


def test_cli_errors_are_one_line(tmp_path):
    missing = runner.invoke(app, ["image-map", str(tmp_path / "nope"), str(tmp_path), str(tmp_path / "o"),
                                  "--no-progress"])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    no_args = runner.invoke(app, ["image-map"])
    assert no_args.exit_code == 1 and "SOURCE_DIR" in no_args.output
    bad = runner.invoke(app, ["image-map", str(tmp_path), str(tmp_path), str(tmp_path), "--steps", "0"])
    assert bad.exit_code == 1 and "--steps" in bad.output
