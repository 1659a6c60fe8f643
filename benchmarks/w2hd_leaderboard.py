"""The W2 leaderboard table of docs/benchmarks.md from a ``monge sweep examples/sweeps/w2-hd.toml`` database.

One row per solver, one column per dimension: our forward L2-UVP (inverse in brackets, when the solver has an
inverse map) after the sweep's budget, with the steps done when a run stopped on the 20-minute cap, and the
published forward L2-UVP of the corresponding method (Korotin et al., NeurIPS 2021) beside it. Optionally
writes the convergence plot of every dimension (forward L2-UVP against training time).

    python benchmarks/w2hd_leaderboard.py --db w2-hd.sqlite [--sweep w2-hd] [--plots docs/img]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from monge.pairs.w2bench import published_l2_uvp
from monge.results import ResultStore, run_records


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def leaderboard_markdown(records: list[dict], dims: list[int]) -> str:
    solvers = list(dict.fromkeys(r["label"] for r in records))
    by_cell = {(r["label"], r["dim"]): r for r in records}
    header = "| solver | " + " | ".join(f"D = {d}: ours | published" for d in dims) + " |"
    lines = [header, "|---|" + "---:|---:|" * len(dims)]
    for solver in solvers:
        cells = []
        for d in dims:
            r = by_cell.get((solver, d))
            if r is None:
                cells += ["not run", "—"]
                continue
            text = _fmt(r["final_l2_uvp_fwd"])
            if r.get("final_l2_uvp_inv") is not None:
                text += f" ({_fmt(r['final_l2_uvp_inv'])})"
            if r["status"] != "finished":
                text += f", {r['status']} at {r['steps_done']} steps"
            cells += [text, _fmt(published_l2_uvp(r["solver"], r["pair"]))]
        lines.append(f"| `{solver}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--sweep", default="w2-hd")
    parser.add_argument("--plots", type=Path, default=None, help="write w2hd_convergence_<D>.png here")
    args = parser.parse_args()
    with ResultStore(args.db, create=False) as store:
        run_ids = [c["run_id"] for c in store.cells(args.sweep) if c["run_id"] is not None]
        rows = store.leaderboard(run_ids)
        records = run_records(rows)
        dims = sorted({r["dim"] for r in records})
        print(leaderboard_markdown(records, dims))
        print()
        for r in records:
            print(f"{r['label']:>10} D={r['dim']:<3} {r['status']:<9} {r['steps_done']:>6}/{r['steps_requested']} steps "
                  f"train {r['train_time_s'] or 0:7.1f} s  wall {r['wall_time_s'] or 0:7.1f} s  "
                  f"{r['steps_per_s'] or 0:6.1f} steps/s")
        if args.plots is not None:
            from monge.plot import plot_convergence

            for d in dims:
                ids = [r["run_id"] for r in records if r["dim"] == d]
                path = plot_convergence(store, ids, args.plots / f"w2hd_convergence_{d}.png", metrics=["l2_uvp_fwd"])
                print(f"wrote {path}")


if __name__ == "__main__":
    main()
