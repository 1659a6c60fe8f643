"""OTM, W2GAN and latent-space W2GN generation at one CPU budget, scored with Fréchet distances.

    python benchmarks/generator_comparison.py --data digits patches --seconds 180 --seeds 0 1 \
        --out benchmarks/results/generator_comparison.jsonl --figure-dir docs/img

Each (data set, seed) trains every generator for ``--seconds`` of training on one thread and appends one JSON
line per row (real train data, each method's source and generated samples) to ``--out``; rows already there
(same data, seed, seconds and method) are skipped, so an interrupted run resumes. The table printed at the end
is mean ± std over seeds. With ``--figure-dir`` the first seed's samples are drawn to
``generation_<data>.png``. See monge.apps.generator_comparison.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from monge.apps.generator_comparison import DATASETS, METHODS, compare_generators, generation_data


def _done(path: Path) -> set[tuple[str, int, float, str]]:
    if not path.exists():
        return set()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["data"], r["seed"], r["seconds"], r["method"]) for r in rows if r["method"]}


def _figure(data: str, samples: dict[str, torch.Tensor], path: Path, image_shape: tuple[int, ...]) -> None:
    shown = {row: v[:24] for row, v in samples.items() if row == "real train data" or row.endswith("generated")}
    if data == "digits":
        from monge.apps.digits import plot_digit_panels

        plot_digit_panels({k.replace(": generated", ""): v.clamp(0, 1) for k, v in shown.items()}, path,
                          columns=6, title="real training digits, then the samples of each generator")
    else:
        from monge.apps.image2image import save_image_grid

        save_image_grid([v.reshape(-1, *image_shape).clamp(0, 1) for v in shown.values()], path, scale=3)
    print("figure:", path, "rows:", list(shown))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits"], choices=DATASETS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--figure-dir", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads: {torch.get_num_threads()}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for data_name in args.data:
        for seed in args.seeds:
            done = _done(args.out)
            todo = [m for m in args.methods if (data_name, seed, args.seconds, m) not in done]
            if not todo:
                continue
            data = generation_data(data_name, seed=seed)
            report = compare_generators(data, todo, seconds=args.seconds, seed=seed)
            with args.out.open("a") as fh:
                for row in report["rows"]:
                    settings = report["settings"].get(row["method"], {})
                    fh.write(json.dumps({"data": data_name, "seed": seed, "seconds": args.seconds,
                                         "feature_space": report["feature_space"], "n_eval": report["n_eval"],
                                         **row, "settings": {k: v if isinstance(v, (int, float, str, bool, list))
                                                             else str(v) for k, v in settings.items()}}) + "\n")
            if args.figure_dir is not None and seed == args.seeds[0]:
                _figure(data_name, report["samples"], args.figure_dir / f"generation_{data_name}.png", data.image_shape)
    rows = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()]
    print(f"\n{'data':8} {'row':24} {'FD features':>18} {'FD pixels':>18} {'seeds':>5}")
    for data_name in args.data:
        names = list(dict.fromkeys(r["row"] for r in rows if r["data"] == data_name and r["seconds"] == args.seconds))
        for name in names:
            picked = [r for r in rows if r["data"] == data_name and r["row"] == name and r["seconds"] == args.seconds]
            cells = []
            for key in ("frechet_features", "frechet_pixels"):
                values = [r[key] for r in picked]
                spread = statistics.pstdev(values) if len(values) > 1 else 0.0
                cells.append(f"{statistics.fmean(values):9.3f} ± {spread:6.3f}")
            print(f"{data_name:8} {name:24} {cells[0]:>18} {cells[1]:>18} {len(picked):5d}")


if __name__ == "__main__":
    main()
