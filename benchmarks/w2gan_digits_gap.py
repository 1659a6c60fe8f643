"""Why W2GAN's digit generator does not beat the Gaussian it starts from: how accurate a map must be.

    python benchmarks/w2gan_digits_gap.py --seeds 0 1 2 --out benchmarks/results/w2gan_digits_gap.jsonl
    python benchmarks/w2gan_digits_gap.py --seeds 0 --long-minutes 20 --out ...   # + a 20-minute W2GAN run

The set-up is ``monge generate-digits``' (split, feature classifier and Gaussian source N(m, S) of the training
digits, all seeded by the seed). Three measurements, scored with the classifier-feature Fréchet distance (FD) to
the held-out digits on 359 samples, like the generator:

1. ``interpolation``: the exact discrete OT assignment T from n Gaussian samples z to the n training digits (POT's
   emd, squared Euclidean cost) and McCann's interpolation (1 − t)·z + t·T(z): the FD along the OT geodesic.
2. ``noisy map``: T(z) + ε·ξ (ξ ~ N(0, I)) for several ε, with its L2-UVP against T (100·E‖G − T‖²/Var(Q)):
   how large a map error is before the FD is worse than the source's.
3. ``long`` (with --long-minutes): W2GAN with the paper's image settings (tied potentials ψ = −φ + ε, c-equality
   penalty λ_eq = λ = 10, a bounded generator z + tanh(·)) for that many minutes on one thread, scored every
   ``--every`` minutes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import monge
from monge.apps.digits import load_digits, split_indices, train_classifier
from monge.apps.generate import W2GAN_DIGITS_OPTIONS
from monge.metrics import frechet_distance


def _seeded(seed: int, offset: int) -> torch.Generator:          # generate_digits' seeding
    return torch.Generator().manual_seed(int(seed) * 7919 + offset)


def setting(seed: int):
    pixels, labels = load_digits()
    train, test = split_indices(pixels.shape[0], 0.2, generator=_seeded(seed, 1))
    x_train, x_test = pixels[train], pixels[test]
    classifier = train_classifier(x_train, labels[train], steps=300, generator=_seeded(seed, 2))
    mean = x_train.double().mean(0)
    centred = x_train.double() - mean
    source = monge.Gaussian(mean, centred.T @ centred / (x_train.shape[0] - 1), dtype=x_train.dtype)
    with torch.no_grad():
        reference = classifier.features(x_test)

    def fd(samples: torch.Tensor) -> float:
        with torch.no_grad():
            return frechet_distance(classifier.features(samples[: x_test.shape[0]]), reference)

    return x_train, x_test, source, fd


def gap(seed: int) -> list[dict]:
    import ot

    x_train, x_test, source, fd = setting(seed)
    n = x_train.shape[0]
    z = source.sample(n, _seeded(seed, 4))
    cost = torch.cdist(z.double(), x_train.double()).square().numpy()
    plan = ot.emd(np.full(n, 1 / n), np.full(n, 1 / n), cost, numItermax=10_000_000)
    target = x_train[torch.as_tensor(plan.argmax(axis=1))]                 # a permutation: the OT assignment
    var_q = float(x_train.double().var(0).sum())
    order = torch.randperm(n, generator=_seeded(seed, 5))                  # score on a random 359 of the n
    z, target = z[order], target[order]
    rows = [{"seed": seed, "part": "reference", "what": "real train digits", "fd": fd(x_train[order])},
            {"seed": seed, "part": "reference", "what": "source Gaussian", "fd": fd(z)}]
    for t in (0.0, 0.25, 0.5, 0.75, 0.9, 1.0):
        rows.append({"seed": seed, "part": "interpolation", "t": t, "fd": fd((1 - t) * z + t * target)})
    noise = torch.randn(target.shape, generator=_seeded(seed, 6))
    for eps in (0.0, 0.02, 0.05, 0.1, 0.2, 0.3):
        mapped = target + eps * noise
        l2 = 100 * float((mapped - target).double().square().sum(1).mean()) / var_q
        rows.append({"seed": seed, "part": "noisy map", "eps": eps, "l2_uvp_vs_T": l2, "fd": fd(mapped)})
    return rows


def long_run(seed: int, minutes: float, every: float) -> list[dict]:
    x_train, _, source, fd = setting(seed)
    options = {**W2GAN_DIGITS_OPTIONS, "map": "generator", "potential_form": "neg_plus_eps", "equality_weight": 10.0,
               "reg_weight": 10.0, "generator_form": "bounded", "generator_scale": 1.0}
    probe = source.sample(359, _seeded(seed, 7))
    rows = [{"seed": seed, "part": "long", "minutes": 0.0, "step": 0, "fd": fd(probe), "options": options}]
    started = time.perf_counter()

    class Score:
        next_at = every * 60

        def __call__(self, progress):
            elapsed = time.perf_counter() - started
            if elapsed >= self.next_at:
                self.next_at += every * 60
                with torch.no_grad():
                    pushed = progress.result().forward(probe)
                value = fd(pushed) if bool(torch.isfinite(pushed).all()) else float("nan")
                rows.append({"seed": seed, "part": "long", "minutes": round(elapsed / 60, 2), "step": progress.step,
                             "fd": value})
                print(rows[-1], flush=True)

    result = monge.fit(source, x_train, solver="w2gan", steps=1_000_000, time_budget=minutes * 60, batch_size=256,
                       generator=_seeded(seed, 3), callback=Score(), **options)
    with torch.no_grad():
        pushed = result.forward(probe)
    rows.append({"seed": seed, "part": "long", "minutes": round((time.perf_counter() - started) / 60, 2),
                 "step": result.steps, "fd": fd(pushed) if bool(torch.isfinite(pushed).all()) else float("nan")})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--long-minutes", type=float, default=0.0)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads: {torch.get_num_threads()}")
    rows = []
    for seed in args.seeds:
        rows += gap(seed)
        if args.long_minutes > 0:
            rows += long_run(seed, args.long_minutes, args.every)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    for row in rows:
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items() if k != "options"})


if __name__ == "__main__":
    main()
