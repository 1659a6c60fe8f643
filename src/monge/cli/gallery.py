"""``monge gallery`` (the 2-D figures of the W2GN and W2GAN papers) and ``monge generate-digits`` (W2GAN
generation on the digits, Leygonie et al. 2019, §6.2)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, List, Optional

import typer

from monge.cli.main import _console, _handle_errors, app, set_threads
from monge.errors import InvalidInputError


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    return value


@app.command("gallery")
@_handle_errors
def gallery(
    out: Path = typer.Option(Path("monge-gallery"), "--out", help="Folder for the PNGs and gallery_scores.json."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Training steps of every fit (default per solver: "
                                        "w2gn 6000, adversarial solvers 1000; 20 with --quick)."),
    solver: Optional[List[str]] = typer.Option(None, "--solver", "-s", help="Panel of w2gan_pairs.png (repeatable): a "
                                               "W2 solver name or discrete-ot. Default: w2gan, wgan-gp-map, "
                                               "wgan-lp-map, w2gn, discrete-ot."),
    only: Optional[List[str]] = typer.Option(None, "--only", help="Draw only these figures (repeatable): w2gn, "
                                             "w2gan, evolution or torn."),
    seed: int = typer.Option(0, "--seed", help="Seeds every fit and every sample set."),
    quick: bool = typer.Option(False, "--quick", help="Tiny networks, 20 steps, 200 samples: a smoke run."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads (1 is fastest for these "
                                          "small networks on a busy machine)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Do not show progress bars."),
) -> None:
    """Draw the 2-D gallery: W2GN forward/inverse maps on its four toy pairs, the W2GAN paper's pairs with
    displacement arrows per solver, the W2GAN generator along training, and W2GN's torn map (ReLU against CELU
    ICNNs); print the measured scores."""
    from monge.apps.gallery import DEFAULT_SOLVERS, make_gallery, score_lines

    set_threads(threads)
    report = make_gallery(out, steps=steps, solvers=solver or DEFAULT_SOLVERS, seed=seed, progress=not no_progress,
                          figures=only or None, quick=quick)
    scores_path = out / "gallery_scores.json"
    try:
        scores_path.write_text(json.dumps(_jsonable({"scores": report["scores"], "seconds": report["seconds"],
                                                     "figures": report["figures"]}), indent=2))
    except OSError as exc:
        raise InvalidInputError(f"cannot write {scores_path}: {exc.strerror or exc}") from exc
    console = _console()
    for line in score_lines(report):
        console.print(line, markup=False, highlight=False)
    for path in report["figures"].values():
        console.print(f"figure: {path}", markup=False, highlight=False)
    console.print(f"scores: {scores_path}; total {report['seconds']:.1f} s", markup=False, highlight=False)


@app.command("generate-digits")
@_handle_errors
def generate_digits_command(
    out: Path = typer.Option(Path("monge-generate"), "--out", help="Folder for w2gan_digits.png and .json."),
    steps: int = typer.Option(1000, "--steps", help="W2GAN generator steps (5 critic steps each)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the split, the classifier, W2GAN and every sample."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Do not show progress bars."),
) -> None:
    """Fit W2GAN from a Gaussian fitted to the 8×8 digits onto the digits (Leygonie et al. 2019, §6.2) and
    compare Fréchet distances (classifier features), pixel W2 and classifier confidence to held-out digits."""
    from rich.table import Table

    from monge.apps.generate import generate_digits

    set_threads(threads)
    report = generate_digits(out, steps=steps, seed=seed, progress=not no_progress)
    n_test = report["settings"]["n_test"]
    table = Table(title=f"scores against {n_test} held-out digits (lower is better, except confidence)")
    for column in ("samples", "Fréchet (features)", "pixel W2", "classifier confidence"):
        table.add_column(column, justify="left" if column == "samples" else "right")
    for name in report["frechet"]:
        table.add_row(name, f"{report['frechet'][name]:.3f}", f"{report['pixel_w2'][name]:.3f}",
                      f"{report['confidence'][name]:.3f}")
    console = _console()
    console.print(table)
    console.print(f"held-out digits: classifier accuracy {report['classifier_accuracy']:.3f}, confidence "
                  f"{report['confidence']['held-out digits']:.3f}; transport cost ½E‖G(z) − z‖² "
                  f"{report['transport_cost']:.3f}; total {report['times']['total_s']:.1f} s",
                  markup=False, highlight=False)
    console.print(f"figure: {report['figure']}\nnumbers: {report['json']}", markup=False, highlight=False)
