"""``monge image-map``: fit a ConvICNN/W2GN map between two image folders and write the mapped images.

Korotin, Egiazarian, Asadulaev, Safin, Burnaev, "Wasserstein-2 Generative Networks", ICLR 2021, §5.3.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from monge.cli.main import _console, _handle_errors, app, set_threads
from monge.errors import InvalidInputError


@app.command("image-map")
@_handle_errors
def image_map(
    source_dir: Optional[Path] = typer.Argument(None, help="Folder of source-style images (.png/.jpg/.jpeg/.bmp)."),
    target_dir: Optional[Path] = typer.Argument(None, help="Folder of target-style images."),
    out_dir: Optional[Path] = typer.Argument(None, help="Output folder: mapped/ images, grid.png, result/, summary.json."),
    size: int = typer.Option(16, "--size", metavar="SIZE", help="Images are resized to SIZE × SIZE pixels."),
    steps: int = typer.Option(2000, "--steps", help="W2GN training steps."),
    batch_size: int = typer.Option(64, "--batch-size", help="Images per side and step."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial weights and the minibatches."),
    grayscale: bool = typer.Option(False, "--grayscale", help="Load images as one grey channel (default RGB)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads (default: torch's choice)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Do not show a progress bar."),
    grid_columns: int = typer.Option(12, "--grid-columns", help="Images per row of the before/after grid."),
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
) -> None:
    """Map the images of SOURCE_DIR to the style of TARGET_DIR (W2GN with two convolutional ICNN potentials).

    Writes OUT_DIR/mapped/ (each source image mapped, same file names as .png), OUT_DIR/grid.png (rows:
    source images, their mapped versions, target images), OUT_DIR/result/ (the fitted W2Result) and
    OUT_DIR/summary.json (style statistics and timing).
    """
    import torch

    from monge.apps.image2image import (fit_image_map, load_image_folder, map_images, save_image_grid, save_images,
                                        style_statistics, write_digit_style_folders)

    set_threads(threads)
    if demo_digits is not None:
        if source_dir is not None:
            raise InvalidInputError("--demo-digits writes the demo folders and takes no SOURCE_DIR/TARGET_DIR/OUT_DIR")
        thin, thick = write_digit_style_folders(demo_digits, n=demo_count, seed=seed)
        typer.echo(f"wrote {demo_count} images each to {thin} (source style) and {thick} (target style)")
        return
    if source_dir is None or target_dir is None or out_dir is None:
        raise InvalidInputError("give SOURCE_DIR TARGET_DIR OUT_DIR (or --demo-digits DIR to write demo folders)")
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
