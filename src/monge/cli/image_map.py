"""``monge image-map``: fit a ConvICNN/W2GN map between two image folders and write the mapped images, or between
the patch distributions of two photographs and write the stylized photograph (photo style transfer).

Korotin, Egiazarian, Asadulaev, Safin, Burnaev, "Wasserstein-2 Generative Networks", ICLR 2021, §5.3, App. B.3.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Optional

import typer

from monge.cli.main import _console, _handle_errors, app, set_threads
from monge.errors import InvalidInputError


@app.command("image-map")
@_handle_errors
def image_map(
    source_dir: Optional[Path] = typer.Argument(None, help="Folder of source-style images (.png/.jpg/.jpeg/.bmp), or "
                                                           "one source photograph (a file or sklearn:NAME)."),
    target_dir: Optional[Path] = typer.Argument(None, help="Folder of target-style images, or one target photograph."),
    out_dir: Optional[Path] = typer.Argument(None, help="Output folder: mapped/ images or stylized.png, the "
                                                        "figure, result/, summary.json."),
    size: Optional[int] = typer.Option(None, "--size", metavar="SIZE",
                                       help="Folders: images are resized to SIZE × SIZE pixels (default 16)."),
    steps: int = typer.Option(2000, "--steps", help="W2GN training steps."),
    batch_size: int = typer.Option(64, "--batch-size", help="Images (photographs: patches) per side and step."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial weights and the minibatches (and the patches)."),
    grayscale: bool = typer.Option(False, "--grayscale",
                                   help="Folders: load images as one grey channel (default RGB)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads (default: torch's choice)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Do not show a progress bar."),
    grid_columns: Optional[int] = typer.Option(None, "--grid-columns", metavar="N",
                                               help="Folders: images per row of the before/after grid (default 12)."),
    design: str = typer.Option("pooled-skips", "--design",
                               help="Potential design: pooled-skips (monge's ConvICNN) or w2gn (the paper's "
                                    "W2GNConvICNN, explicit input gradient)."),
    width: Optional[int] = typer.Option(None, "--width",
                                        help="Channels of every convolution with --design w2gn (default 128)."),
    demo_digits: Optional[Path] = typer.Option(None, "--demo-digits", metavar="DIR",
                                               help="Instead of fitting: write the digits demo folders DIR/thin and "
                                                    "DIR/thick (scikit-learn digits, original vs thickened strokes, "
                                                    "16×16) and exit."),
    demo_count: int = typer.Option(400, "--demo-count", help="Images per demo folder (with --demo-digits)."),
    demo_photos: Optional[Path] = typer.Option(None, "--demo-photos", metavar="OUT_DIR",
                                               help="Photo style transfer between scikit-learn's two photographs "
                                                    "(sklearn:china → sklearn:flower), written to OUT_DIR; the same "
                                                    "as SOURCE_DIR=sklearn:china TARGET_DIR=sklearn:flower."),
    patch_size: Optional[int] = typer.Option(None, "--patch-size", metavar="P",
                                             help="Photographs: side of the patches the map acts on (default 16)."),
    stride: Optional[int] = typer.Option(None, "--stride", metavar="S",
                                         help="Photographs: step of the overlapping patch grid (default P // 4)."),
    scale: Optional[float] = typer.Option(None, "--scale", metavar="F",
                                          help="Photographs: shrink both by this factor in (0, 1] first (default 1)."),
    n_patches: Optional[int] = typer.Option(None, "--n-patches", metavar="N",
                                            help="Photographs: random training patches per photograph "
                                                 "(default 20000)."),
    window: Optional[str] = typer.Option(None, "--window", metavar="NAME",
                                         help="Photographs: weights of the overlap average, hann (default) or box."),
    baseline: Optional[bool] = typer.Option(None, "--baseline/--no-baseline",
                                            help="Photographs: also apply the linear (Bures) patch map (default on)."),
    color_steps: Optional[int] = typer.Option(None, "--color-steps", metavar="N",
                                              help="Photographs: also run monge's colour transfer (W2GN on the "
                                                   "pixels) for N steps, for comparison (default 0: skip)."),
    eval_discrete: Optional[int] = typer.Option(None, "--eval-discrete", metavar="N",
                                                help="Photographs: patches per image for the exact (POT) patch W2 "
                                                     "in summary.json (default 1000; 0: skip)."),
) -> None:
    """Map the images of SOURCE_DIR to the style of TARGET_DIR (W2GN with two convolutional ICNN potentials).

    Writes OUT_DIR/mapped/ (each source image mapped, same file names as .png), OUT_DIR/grid.png (rows:
    source images, their mapped versions, target images), OUT_DIR/result/ (the fitted W2Result) and
    OUT_DIR/summary.json (style statistics and timing).

    When SOURCE_DIR and TARGET_DIR are two photographs (image files, or sklearn:china / sklearn:flower) the map
    acts on their patches (photo style transfer): it writes OUT_DIR/stylized.png (the source mapped through
    overlapping patches), OUT_DIR/comparison.png (source | stylized | baselines | target), OUT_DIR/result/ and
    OUT_DIR/summary.json (patch and colour statistics before and after, timing).
    """
    import torch

    from monge.apps.image2image import (fit_image_map, load_image_folder, map_images, save_image_grid, save_images,
                                        style_statistics, write_digit_style_folders)

    set_threads(threads)
    if demo_digits is not None:
        if source_dir is not None or demo_photos is not None:
            raise InvalidInputError("--demo-digits writes the demo folders and takes no SOURCE_DIR/TARGET_DIR/OUT_DIR")
        thin, thick = write_digit_style_folders(demo_digits, n=demo_count, seed=seed)
        typer.echo(f"wrote {demo_count} images each to {thin} (source style) and {thick} (target style)")
        return
    photo_options = {"--patch-size": patch_size, "--stride": stride, "--scale": scale, "--n-patches": n_patches,
                     "--window": window, "--baseline/--no-baseline": baseline, "--color-steps": color_steps,
                     "--eval-discrete": eval_discrete}
    if demo_photos is not None:
        if source_dir is not None:
            raise InvalidInputError("--demo-photos OUT_DIR takes no SOURCE_DIR/TARGET_DIR/OUT_DIR arguments")
        source_dir, target_dir, out_dir = Path("sklearn:china"), Path("sklearn:flower"), demo_photos
    if source_dir is None or target_dir is None or out_dir is None:
        raise InvalidInputError("give SOURCE_DIR TARGET_DIR OUT_DIR (or --demo-digits DIR to write demo folders, "
                                "or --demo-photos OUT_DIR)")
    photos = [_is_photo(source_dir), _is_photo(target_dir)]
    if photos[0] != photos[1]:
        raise InvalidInputError("SOURCE_DIR and TARGET_DIR must both be folders of images or both be photographs "
                                f"(image files or sklearn:NAME); got {source_dir} and {target_dir}")
    if photos[0]:
        folder_only = [name for name, value in (("--size", size), ("--grid-columns", grid_columns))
                       if value is not None]
        folder_only += ["--grayscale"] if grayscale else []
        if folder_only:
            raise InvalidInputError(f"{', '.join(folder_only)} applies to folders of images, not to photographs")
        _photo_style(str(source_dir), str(target_dir), out_dir, options=photo_options, width=width, steps=steps,
                     batch_size=batch_size, seed=seed, design=design, progress=not no_progress)
        return
    given = [name for name, value in photo_options.items() if value is not None]
    if given:
        raise InvalidInputError(f"{', '.join(given)} applies to photographs (image files), not to folders of images")
    size = 16 if size is None else size
    grid_columns = 12 if grid_columns is None else grid_columns
    for name, value in (("--size", size), ("--steps", steps), ("--batch-size", batch_size),
                        ("--grid-columns", grid_columns)):
        if value <= 0:
            raise InvalidInputError(f"{name} must be a positive integer, got {value}")

    source, files = load_image_folder(source_dir, size=(size, size), grayscale=grayscale, return_paths=True)
    target = load_image_folder(target_dir, size=(size, size), grayscale=grayscale)
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    network = {} if width is None else {"width": width}
    result = fit_image_map(source, target, steps=steps, batch_size=batch_size, generator=generator,
                           progress=not no_progress, design=design, **network)
    elapsed = time.perf_counter() - started
    mapped = map_images(result, source)

    out_dir.mkdir(parents=True, exist_ok=True)
    save_images(mapped, out_dir / "mapped", [f.name for f in files])
    save_image_grid([source[:grid_columns], mapped[:grid_columns], target[:grid_columns]], out_dir / "grid.png")
    result.save(out_dir / "result")
    summary = {
        "source_dir": str(source_dir), "target_dir": str(target_dir), "n_source": int(source.shape[0]),
        "n_target": int(target.shape[0]), "image_shape": list(source.shape[1:]), "steps": steps,
        "batch_size": batch_size, "seed": seed, "design": design, "train_time_s": round(elapsed, 2),
        "source": style_statistics(source, target), "mapped": style_statistics(mapped, target),
        "target": style_statistics(target, target),
        "beta_forward": float(result.forward_potential.beta.detach()), "w2_dual_estimate": result.cost_estimate,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    from rich.table import Table

    table = Table(title=f"image map: {source.shape[0]} source → {target.shape[0]} target images, {elapsed:.1f} s")
    table.add_column("images")
    table.add_column("ink (mean intensity)", justify="right")
    table.add_column("RMS distance of mean image to target's", justify="right")
    for name in ("source", "mapped", "target"):
        table.add_row(name, f"{summary[name]['ink']:.4f}", f"{summary[name]['mean_image_distance']:.4f}")
    _console().print(table)
    typer.echo(f"wrote {len(files)} mapped images to {out_dir / 'mapped'}, the grid to {out_dir / 'grid.png'}")


def _is_photo(path: Path) -> bool:
    """A photograph (an image file, or ``sklearn:NAME``) rather than a folder of images."""
    from monge.apps.image2image import IMAGE_SUFFIXES

    if str(path).startswith("sklearn:"):
        return True
    return not path.is_dir() and path.suffix.lower() in IMAGE_SUFFIXES


def _photo_style(source: str, target: str, out_dir: Path, *, options: dict[str, object], width: Optional[int],
                 **fit: object) -> None:
    """Photo style transfer (``monge.apps.photo_style``): fit, stylize, compare, write, print the table. ``options``
    are the photo flags as given (None = not given); ``fit`` holds steps, batch_size, seed, design, progress."""
    from monge.apps.photo_style import DEFAULT_N_PATCHES, DEFAULT_PATCH_SIZE, photo_style_transfer, save_photo_style

    defaults = {"--patch-size": DEFAULT_PATCH_SIZE, "--scale": 1.0, "--n-patches": DEFAULT_N_PATCHES,
                "--window": "hann", "--baseline/--no-baseline": True, "--color-steps": 0, "--eval-discrete": 1000}
    given = {name: defaults.get(name) if value is None else value for name, value in options.items()}
    for name in ("--patch-size", "--stride", "--n-patches"):
        if given[name] is not None and given[name] <= 0:
            raise InvalidInputError(f"{name} must be a positive integer, got {given[name]}")
    for name in ("--color-steps", "--eval-discrete"):
        if given[name] < 0:
            raise InvalidInputError(f"{name} must be a non-negative integer, got {given[name]}")
    network = {} if width is None else {"width": width}
    run = photo_style_transfer(source, target, patch_size=given["--patch-size"], stride=given["--stride"],
                               scale=given["--scale"], n_patches=given["--n-patches"], window=given["--window"],
                               baseline=given["--baseline/--no-baseline"], color_steps=given["--color-steps"],
                               eval_discrete=given["--eval-discrete"], **fit, **network)
    written = save_photo_style(run, out_dir)

    from rich.table import Table

    summary = run.summary
    table = Table(title=f"photo style: {source} → {target}, {summary['steps']} steps in "
                        f"{summary['timings_s']['train_s']:.1f} s; distances to the target")
    for column in ("image", "patch Fréchet", "patch W2", "colour Bures-W2"):
        table.add_column(column, justify="left" if column == "image" else "right")
    shown = lambda value, digits: "–" if math.isnan(value) else f"{value:.{digits}f}"  # noqa: E731
    for label, numbers in run.rows():
        table.add_row(label, shown(numbers["patch_frechet"], 3), shown(numbers["patch_w2"], 3),
                      shown(numbers["color_bures"], 4))
    _console().print(table)
    typer.echo(f"wrote {written['stylized']}, {written['comparison']}, {written['result']} and {written['summary']}")
