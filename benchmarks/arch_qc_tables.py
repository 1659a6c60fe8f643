"""The architecture-study and [QC] tables from a results database of `monge bench --preset arch-study` runs.

    monge bench --preset arch-study --pair-root PATH --db arch.sqlite
    monge bench --preset arch-study --pair-root PATH --db arch.sqlite --pair w2b-mix:8 --pair w2b-mix:32 \
        --solver mm-1 --solver mm-2 --solver lsot --solver enot --solver amortized --solver mm-b --solver wgan-qc \
        --solver w2gan
    python benchmarks/arch_qc_tables.py --db arch.sqlite --pair-root PATH

Prints markdown tables: (1) the architecture study, forward L2-UVP (%) as mean ± std over seeds per pair;
(2) the [QC] table, every solver's map accuracy (forward L2-UVP) beside the generative quality of its pushed-forward
samples (fd_fwd, the Fréchet distance of T♯P to Q on 4096 samples), with the identity, linear (Bures) and
discrete-OT baselines; (3) per pair, Spearman's rank correlation between the two columns over solvers. Runs whose
status is not finished/stopped are listed apart and never averaged.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
from collections import defaultdict

import torch

from monge import make_pair
from monge.metrics import baseline_metrics

ARCH = ["w2gn[icnn]", "w2gn[modified-icnn]", "w2gn[mlp]", "mm-r[icnn-gradient]", "mm-r[modified-icnn-gradient]",
        "mm-r[resnet]", "mm-r[mlp]"]
QC_NAMES = {"w2gn[modified-icnn]": "w2gn", "mm-r[resnet]": "mm-r"}


def final_metrics(db: str) -> dict[tuple[str, str], dict[int, dict]]:
    con = sqlite3.connect(db)
    out: dict[tuple[str, str], dict[int, dict]] = defaultdict(dict)
    for run_id, solver, pair, seed, status, steps in con.execute(
            "select id, solver, pair, seed, status, steps_done from runs order by id"):
        last = con.execute("select max(step) from evals where run_id = ?", (run_id,)).fetchone()[0]
        metrics = dict(con.execute("select metric, value from evals where run_id = ? and step = ?", (run_id, last)))
        out[(solver, pair)][seed] = {"status": status, "steps": steps, **metrics}   # the latest run of a cell wins
    return out


def cell(values: list[float], fmt: str = ".3g") -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.fmean(values), fmt)} ± {format(statistics.pstdev(values), '.2g')}"


def good(runs: dict[int, dict], key: str) -> tuple[list[float], list[str]]:
    values, notes = [], []
    for seed, r in sorted(runs.items()):
        if r["status"] in ("finished", "stopped") and r.get(key) is not None:
            values.append(float(r[key]))
        else:
            notes.append(f"seed {seed} {r['status']}")
    return values, notes


def spearman(a: list[float], b: list[float]) -> float:
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        for rank, i in enumerate(order):
            r[i] = float(rank)
        return r
    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    return cov / (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--pair-root")
    parser.add_argument("--json")
    args = parser.parse_args()
    data = final_metrics(args.db)
    pairs = list(dict.fromkeys(p for _, p in data))
    print("### Architecture study: forward L2-UVP (%), mean ± std over seeds 0 and 1 (FD(T♯P, Q) in brackets)\n")
    print("| variant | " + " | ".join(pairs) + " |")
    print("|---|" + "---:|" * len(pairs))
    for label in ARCH:
        cells = []
        for pair in pairs:
            values, notes = good(data.get((label, pair), {}), "l2_uvp_fwd")
            fd, _ = good(data.get((label, pair), {}), "fd_fwd")
            cells.append(cell(values) + (f" [{cell(fd)}]" if fd else "") + (f" ({', '.join(notes)})" if notes else ""))
        print(f"| {label} | " + " | ".join(cells) + " |")

    baselines = {}
    for pair in pairs:
        base = baseline_metrics(make_pair(pair, seed=0, root=args.pair_root), n=4096,
                                generator=torch.Generator().manual_seed(0))
        baselines[pair] = base
    qc_pairs = [p for p in pairs if any((s, p) in data for s in ("mm-1", "w2gan"))]
    solvers = [s for s, _ in data if (s not in ARCH or s in QC_NAMES) and not s.startswith("baseline:")]
    solvers = list(dict.fromkeys(solvers))
    print("\n### [QC]: map accuracy beside generative quality (forward L2-UVP % | FD(T♯P, Q))\n")
    print("| solver | " + " | ".join(f"{p} L2-UVP | {p} FD" for p in qc_pairs) + " |")
    print("|---|" + "---:|---:|" * len(qc_pairs))
    columns = {p: ([], []) for p in qc_pairs}
    records = []
    for solver in solvers:
        cells = []
        for pair in qc_pairs:
            runs = data.get((solver, pair), {})
            l2, notes = good(runs, "l2_uvp_fwd")
            fd, _ = good(runs, "fd_fwd")
            cells += [cell(l2) + (f" ({', '.join(notes)})" if notes else ""), cell(fd)]
            if l2 and fd:
                columns[pair][0].append(statistics.fmean(l2))
                columns[pair][1].append(statistics.fmean(fd))
            records.append({"solver": QC_NAMES.get(solver, solver), "pair": pair, "l2_uvp_fwd": l2, "fd_fwd": fd,
                            "not_scored": notes})
        print(f"| {QC_NAMES.get(solver, solver)} | " + " | ".join(cells) + " |")
    for name in ("identity", "linear", "discrete_ot"):
        cells = []
        for pair in qc_pairs:
            b = baselines[pair][name]
            cells += [format(b["l2_uvp_fwd"], ".3g"), format(b.get("fd_fwd", float("nan")), ".3g")]
        print(f"| baseline:{name} | " + " | ".join(cells) + " |")
    print()
    for pair in qc_pairs:
        l2, fd = columns[pair]
        print(f"{pair}: Spearman rank correlation of L2-UVP and FD over {len(l2)} solvers = {spearman(l2, fd):.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"runs": {f"{s}|{p}": v for (s, p), v in data.items()}, "qc": records,
                       "baselines": baselines}, fh, indent=1)


if __name__ == "__main__":
    main()
