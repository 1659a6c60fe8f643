"""Does W2GAN's generator follow the W2 geodesic? Distance of G♯P to McCann's interpolation along training.

Trains W2GAN (its defaults unless --options) on Gaussian pairs and, every --every steps, pushes 4096 fresh source
samples through the generator and scores them with :func:`monge.metrics.geodesic_distance`: the position t of the
closest point of the geodesic from P to Q and the distance to it over W2(P, Q) (0 = on the geodesic). One JSON
line per (pair, seed) with every checkpoint goes to --out; --figure draws distance and position against steps::

    python benchmarks/w2gan_geodesic.py --pairs gaussian:2 gaussian:8 --seeds 0 1 2 --steps 1500 --every 100 \\
        --out benchmarks/results/w2gan_geodesic_2026-12-03.jsonl --figure docs/img/w2gan_geodesic.png

Runs already in --out are skipped, so the script resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import monge
from monge.metrics import evaluate, geodesic_distance


def run(pair_spec: str, seed: int, steps: int, every: int, batch_size: int, options: dict) -> dict:
    pair = monge.make_pair(pair_spec, seed=seed)
    probe = pair.source.sample(4096, torch.Generator().manual_seed(10_000 + seed))
    checkpoints: list[dict] = []

    def score(step: int, result) -> None:
        with torch.no_grad():
            pushed = result.forward(probe)
        checkpoints.append({"step": step, **geodesic_distance(pushed, pair)})

    class Callback:
        def __call__(self, progress):
            if progress.step % every == 0:
                score(progress.step, progress.result())
            return False

    started = time.perf_counter()
    result = monge.fit(pair.source, pair.target, solver="w2gan", steps=steps, batch_size=batch_size,
                       generator=torch.Generator().manual_seed(seed), callback=Callback(), **options)
    score(result.steps, result)
    final = evaluate(result, pair, n=4096, generator=torch.Generator().manual_seed(12345))
    return {"pair": pair_spec, "seed": seed, "steps": steps, "batch_size": batch_size, "options": options,
            "threads": torch.get_num_threads(), "seconds": round(time.perf_counter() - started, 1),
            "l2_uvp_fwd": final["l2_uvp_fwd"], "checkpoints": checkpoints}


def figure(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_d, ax_t) = plt.subplots(1, 2, figsize=(10, 3.6))
    for rec in records:
        steps = [c["step"] for c in rec["checkpoints"]]
        label = f"{rec['pair']} seed {rec['seed']}"
        ax_d.plot(steps, [c["relative"] for c in rec["checkpoints"]], label=label)
        ax_t.plot(steps, [c["t"] for c in rec["checkpoints"]], label=label)
    ax_d.set(xlabel="generator step", ylabel="W2(G♯P, geodesic) / W2(P, Q)", title="distance to the geodesic")
    ax_t.set(xlabel="generator step", ylabel="t of the closest point", title="position along the geodesic",
             ylim=(-0.05, 1.05))
    ax_t.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", nargs="+", default=["gaussian:2"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--options", type=json.loads, default={}, help="W2GAN options as a JSON object")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--figure", type=Path)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    done = [json.loads(line) for line in args.out.read_text().splitlines() if line] if args.out.exists() else []
    for spec in args.pairs:
        for seed in args.seeds:
            if any(r["pair"] == spec and r["seed"] == seed for r in done):
                continue
            record = run(spec, seed, args.steps, args.every, args.batch_size, args.options)
            with args.out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            done.append(record)
            last = record["checkpoints"][-1]
            print(f"{spec} seed {seed}: t {last['t']:.2f}, distance {last['relative']:.3f} of W2(P, Q), "
                  f"L2-UVP {record['l2_uvp_fwd']:.1f} % ({record['seconds']} s)", flush=True)
    if args.figure:
        figure(done, args.figure)


if __name__ == "__main__":
    main()
