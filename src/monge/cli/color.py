"""``monge color-transfer``: recolour a photograph with the W2 map between its colours and a reference's
(Korotin et al., "Wasserstein-2 Generative Networks", ICLR 2021, §5.3 and App. C)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from monge.cli.main import _console, _handle_errors, app, parse_option, set_threads
from monge.errors import InvalidInputError


@app.command("color-transfer")
@_handle_errors
def color_transfer_command(
    source: str = typer.Argument(..., help="Image to recolour: a file, or sklearn:china / sklearn:flower."),
    reference: str = typer.Argument(..., help="Image whose colours to take: a file, or sklearn:china / sklearn:flower."),
    out: Path = typer.Argument(..., help="Output image; the format follows the extension (.png, .jpg, ...)."),
    solver: str = typer.Option("w2gn", "--solver", help="W2 solver (`monge solvers` lists them)."),
    steps: int = typer.Option(2000, "--steps", help="Training steps of the colour map."),
    batch_size: int = typer.Option(1024, "--batch-size", help="Pixels drawn from each image per step."),
    seed: int = typer.Option(0, "--seed", help="Seeds the networks, the mini-batches and the plotted pixels."),
    palette: Optional[Path] = typer.Option(None, "--palette", help="Also write the palette plot (PNG) here."),
    comparison: Optional[Path] = typer.Option(None, "--comparison",
                                              help="Also write source | result | reference side by side (PNG) here."),
    summary_json: Optional[Path] = typer.Option(None, "--json", help="Also write the summary numbers (JSON) here."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", metavar="KEY=VALUE",
                                               help="Solver option KEY=VALUE (JSON values), e.g. -o lr=1e-3."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Do not show the progress bar."),
) -> None:
    """Transfer the colours of REFERENCE onto SOURCE with a W2 map between their pixel colours; write OUT."""
    from monge.apps.color import color_transfer

    set_threads(threads)
    if steps <= 0:
        raise InvalidInputError(f"--steps must be a positive integer, got {steps}")
    if batch_size <= 0:
        raise InvalidInputError(f"--batch-size must be a positive integer, got {batch_size}")
    options = dict(parse_option(text) for text in option or [])
    summary = color_transfer(source, reference, out, solver=solver, steps=steps, batch_size=batch_size, seed=seed,
                             palette_path=palette, comparison_path=comparison, progress=not no_progress, **options)
    if summary_json is not None:
        try:
            summary_json.parent.mkdir(parents=True, exist_ok=True)
            summary_json.write_text(json.dumps(summary.as_dict(), indent=2))
        except OSError as exc:
            raise InvalidInputError(f"cannot write {summary_json}: {exc.strerror or exc}") from exc
    _console().print(summary.line(), soft_wrap=True, highlight=False)
