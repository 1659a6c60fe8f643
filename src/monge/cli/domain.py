"""``monge domain-adapt``: unsupervised domain adaptation with an OT map, scored by 1-NN accuracy.

Protocol of Korotin et al., "Wasserstein-2 Generative Networks", ICLR 2021, App. C.7, and Leygonie et al.,
"Adversarial computation of optimal transport maps", 2019, §6.2 (see :mod:`monge.apps.domain`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from monge.cli.main import _console, _handle_errors, app, parse_option, set_threads
from monge.errors import InvalidInputError


def _write_json(path: Path, payload: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
        tmp.replace(path)
    except OSError as exc:
        raise InvalidInputError(f"cannot write {path}: {exc.strerror or exc}") from exc


@app.command("domain-adapt")
@_handle_errors
def domain_adapt(
    style: str = typer.Option("thick", "--style", help="Target style of the digit domains: thick (grey dilation "
                              "2×2) or blur (Gaussian blur σ=0.8, contrast ×1.8). Ignored with user arrays."),
    features: str = typer.Option("both", "--features", help="Feature space: pixels (raw rows), classifier "
                                 "(penultimate layer of an MLP trained on the source labels) or both."),
    solver: str = typer.Option("w2gn", "--solver", help="OT solver for the map (`monge solvers` lists them)."),
    steps: int = typer.Option(1000, "--steps", help="Training steps of the map."),
    batch_size: int = typer.Option(256, "--batch-size", help="Batch size of the map's training."),
    seed: int = typer.Option(0, "--seed", help="Fixes the split, the classifier and the map's randomness."),
    split: float = typer.Option(0.5, "--split", metavar="FRACTION", help="Share of the 1797 digits that form the "
                                "target domain (the rest are the source; the two never share an image)."),
    pca_dim: Optional[int] = typer.Option(None, "--pca-dim", help="Keep this many principal components of the "
                                          "features (pooled, unlabelled SVD); default: all."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", metavar="KEY=VALUE",
                                               help="Solver option KEY=VALUE (repeatable; VALUE parsed as JSON), "
                                                    "e.g. -o hidden_sizes='[64,64,32]'."),
    source_x: Optional[Path] = typer.Option(None, "--source-x", help="User source features (.npy, shape (n, d))."),
    source_y: Optional[Path] = typer.Option(None, "--source-y", help="User source labels (.npy, shape (n,))."),
    target_x: Optional[Path] = typer.Option(None, "--target-x", help="User target features (.npy, shape (m, d))."),
    target_y: Optional[Path] = typer.Option(None, "--target-y", help="User target labels (.npy, shape (m,)); "
                                            "used only to fit the scoring 1-NN."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also score the linear (Bures) map."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the table and settings as JSON here."),
    figure: Optional[Path] = typer.Option(None, "--figure", help="Write a PNG (digit samples, 2-D PCA scatter, "
                                          "accuracy bars) here."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads (1 is often fastest)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Do not show progress bars."),
) -> None:
    """Map source-domain features onto the target domain with an OT map; print 1-NN accuracy before / after."""
    from rich.table import Table

    from monge.apps.domain import domain_adaptation_experiment, load_domain_arrays, plot_domain_adaptation

    set_threads(threads)
    options = dict(parse_option(o) for o in option or [])
    user_files = {"--source-x": source_x, "--source-y": source_y, "--target-x": target_x, "--target-y": target_y}
    given = [flag for flag, value in user_files.items() if value is not None]
    domains = None
    if given:
        missing = [flag for flag, value in user_files.items() if value is None]
        if missing:
            raise InvalidInputError(f"user arrays need all four files; missing {', '.join(missing)}")
        domains = load_domain_arrays(source_x, source_y, target_x, target_y)
    table = domain_adaptation_experiment(style=style, features=features, solver=solver, steps=steps,
                                         batch_size=batch_size, seed=seed, split=split, pca_dim=pca_dim,
                                         baseline=baseline, domains=domains, progress=not no_progress, **options)
    title = (f"domain adaptation: {table.domains.style} — 1-NN fit on target, accuracy on source "
             f"({solver}, {steps} steps, seed {seed})")
    view = Table(title=title)
    for column in ("features", "dim", "source / target", "before", "linear (Bures)", f"after ({solver})",
                   "fit s"):
        view.add_column(column, justify="left" if column == "features" else "right")
    for row in table.rows:
        view.add_row(row["features"], str(row["dim"]), f"{row['n_source']} / {row['n_target']}",
                     f"{row['before']:.3f}", "—" if row["linear"] is None else f"{row['linear']:.3f}",
                     f"{row['after']:.3f}", f"{row['fit_seconds']:.1f}")
    _console().print(view)
    err = _console(stderr=True)
    if out is not None:
        _write_json(out, table.as_dict())
        err.print(f"results written to {out}", markup=False, highlight=False)
    if figure is not None:
        plot_domain_adaptation(table, figure)
        err.print(f"figure written to {figure}", markup=False, highlight=False)
