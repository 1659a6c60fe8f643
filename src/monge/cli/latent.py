"""``monge latent-map``: latent-space generation on the digits with a W2 map from N(0, I) (Korotin et al.,
"Wasserstein-2 Generative Networks", ICLR 2021, §5.2), scored with the Fréchet distance."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from monge.cli.main import _console, _handle_errors, app, parse_option, set_threads

_SAMPLED = ("decoded raw noise", "decoded Gaussian fit", "decoded mapped noise")


@app.command("latent-map")
@_handle_errors
def latent_map(
    latent_dim: int = typer.Option(8, "--latent-dim", help="Dimension of the autoencoder's latent code."),
    ae_steps: int = typer.Option(3000, "--ae-steps", help="Adam steps of the autoencoder (batch 128)."),
    steps: int = typer.Option(2000, "--steps", help="Training steps of the latent map."),
    batch_size: int = typer.Option(256, "--batch-size", help="Batch size of the latent map."),
    solver: str = typer.Option("w2gn", "--solver", help="W2 solver of the latent map (w2gn gives the density)."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", metavar="KEY=VALUE",
                                               help="Solver option KEY=VALUE (JSON values), e.g. -o lr_decay=true."),
    repeats: int = typer.Option(3, "--repeats", help="Fresh sample draws scored per generated row (mean ± std)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the split, every network and every sample."),
    out: Path = typer.Option(Path("monge-latent"), "--out", help="Folder for latent_space.png and latent_space.json."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Do not show progress bars."),
) -> None:
    """Train a digits autoencoder, map N(0, I) to its latent codes with a W2 map, and compare Fréchet
    distances of decoded data, raw noise, a Gaussian fit and mapped noise to held-out digits."""
    from monge.apps.latent import latent_generation_experiment

    set_threads(threads)
    options = dict(parse_option(text) for text in option or [])
    experiment = latent_generation_experiment(latent_dim=latent_dim, ae_steps=ae_steps, steps=steps,
                                              batch_size=batch_size, solver=solver, seed=seed, repeats=repeats,
                                              figure_path=out / "latent_space.png", progress=not no_progress,
                                              **options)
    json_path = experiment.save_json(out / "latent_space.json")

    from rich.table import Table

    table = Table(title=f"Fréchet distance to {experiment.settings['n_test']} held-out digits "
                        f"(classifier features; lower is better)")
    table.add_column("samples")
    table.add_column("Fréchet", justify="right")
    table.add_column(f"std over {repeats} draws", justify="right")
    for name, value in experiment.frechet.items():
        std = experiment.frechet_std[name]
        table.add_row(name, f"{value:.2f}", f"{std:.2f}" if name in _SAMPLED else "fixed set")
    console = _console()
    console.print(table)
    if experiment.log_likelihood:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in experiment.log_likelihood.items())
        console.print(f"held-out latent log-likelihood (nats per code): {parts}")
    console.print(f"classifier accuracy {experiment.classifier_accuracy:.3f}, reconstruction MSE "
                  f"{experiment.reconstruction_mse:.4f}, total {experiment.times['total_s']:.1f} s")
    console.print(f"figure: {experiment.figure}\nnumbers: {json_path}")
