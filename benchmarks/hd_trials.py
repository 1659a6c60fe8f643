"""Accuracy trials for ``auto`` in high dimension: one solver setting per trial, fixed steps or a time budget.

Each trial trains on a W2 benchmark pair with fresh samples and scores the forward map at checkpoints on
4096 fresh source samples against the pair's true map (forward L2-UVP, %). The checkpoint scoring is
excluded from the training clock. Results go to a JSON-lines file, one line per trial, and trials already
in the file are skipped, so the script resumes where it stopped::

    python benchmarks/hd_trials.py --trials trials.json --out results.jsonl
    python benchmarks/hd_trials.py --trials benchmarks/results/hd_trials_2026-12-03.jsonl \
        --only L-d32p-lr3e-3-bf16 --out again.jsonl           # re-run a recorded trial (roots as recorded)

``trials.json`` is a list of objects: ``{"name": ..., "pair": "w2b-mix:64", "root": FOLDER, "seed": 0,
"solver": "enot", "options": {...}, "steps": 6000 | null, "budget_s": null | 900, "batch_size": 1024,
"checkpoints": [1000, 2000, ...] (steps) or "checkpoint_s": [60, 120, ...], "threads": 1,
"compile_sampling": true}``. The printed thread count and steps/s are measured in the trial's process.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

import monge
from monge.metrics import evaluate


TRIAL_KEYS = ("name", "pair", "root", "pair_seed", "seed", "solver", "options", "steps", "budget_s", "batch_size",
              "checkpoints", "checkpoint_s", "threads", "compile_sampling")


def run_trial(trial: dict) -> dict:
    torch.set_num_threads(int(trial.get("threads", 1)))
    pair = monge.make_pair(trial["pair"], seed=int(trial.get("pair_seed", 0)), root=trial.get("root"))
    if trial.get("compile_sampling") and hasattr(pair, "compile_sampling"):
        pair.compile_sampling()
    eval_gen_seed = 12345
    checkpoints = sorted(trial.get("checkpoints") or [])
    checkpoint_s = sorted(trial.get("checkpoint_s") or [])
    scores: list[dict] = []
    clock = {"start": time.perf_counter(), "paused": 0.0}

    def elapsed() -> float:
        return time.perf_counter() - clock["start"] - clock["paused"]

    def score(progress) -> None:
        t0 = time.perf_counter()
        result = progress.result()
        m = evaluate(result, pair, n=4096, generator=torch.Generator().manual_seed(eval_gen_seed))
        scores.append({"step": progress.step, "seconds": round(elapsed(), 2), "l2_uvp_fwd": m["l2_uvp_fwd"],
                       "cos_fwd": m.get("cos_fwd"), "l2_uvp_inv": m.get("l2_uvp_inv")})
        print(f"  {trial['name']}: step {progress.step} {elapsed():.0f}s L2-UVP {m['l2_uvp_fwd']:.3f}", flush=True)
        clock["paused"] += time.perf_counter() - t0

    class Callback:
        time_budget_s = trial.get("budget_s")

        def __call__(self, progress):
            if progress.step in checkpoints or (checkpoint_s and elapsed() >= checkpoint_s[0]):
                while checkpoint_s and elapsed() >= checkpoint_s[0]:
                    checkpoint_s.pop(0)
                score(progress)
            return False

    steps = trial.get("steps") or 10**7
    result = monge.fit(pair.source, pair.target, solver=trial.get("solver", "enot"), steps=steps,
                       batch_size=int(trial.get("batch_size", 1024)),
                       generator=torch.Generator().manual_seed(int(trial.get("seed", 0))),
                       callback=Callback(), **trial.get("options", {}))
    train_s = elapsed()
    final = evaluate(result, pair, n=4096, generator=torch.Generator().manual_seed(eval_gen_seed))
    return {**trial, "threads_used": torch.get_num_threads(), "steps_done": result.steps,
            "train_s": round(train_s, 1), "steps_per_s": round(result.steps / max(train_s, 1e-9), 2),
            "final": final, "scores": scores, "recoveries": result.history.get("divergence_recoveries", []),
            "settings": result.settings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--only", nargs="*", help="run only these trial names")
    args = ap.parse_args()
    text = args.trials.read_text()
    if args.trials.suffix == ".jsonl":                # a results file: every record holds its trial's fields
        trials = [{k: v for k, v in json.loads(line).items() if k in TRIAL_KEYS} for line in text.splitlines() if line]
    else:
        trials = json.loads(text)
    done = set()
    if args.out.exists():
        done = {json.loads(line)["name"] for line in args.out.read_text().splitlines() if line.strip()}
    for trial in trials:
        if trial["name"] in done or (args.only and trial["name"] not in args.only):
            continue
        print(f"trial {trial['name']} (threads {trial.get('threads', 1)})", flush=True)
        try:
            record = run_trial(trial)
        except monge.TrainingDiverged as exc:
            record = {**trial, "error": str(exc)}
        with args.out.open("a") as f:
            f.write(json.dumps(record, default=lambda o: None if isinstance(o, float) and not math.isfinite(o) else str(o)) + "\n")
        fin = record.get("final", {}).get("l2_uvp_fwd")
        print(f"trial {trial['name']}: final L2-UVP {fin} steps {record.get('steps_done')} "
              f"({record.get('steps_per_s')} steps/s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
