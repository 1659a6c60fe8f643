"""Convolutional ICNNs under W2GN: training speed of the two designs and their accuracy at equal wall time.

Speed (steps/s of ``W2GN.fit`` with two custom potentials on flattened images, batch 64 by default; random images,
the content does not matter for speed), for each image shape and width:

- ``pooled autograd``: today's :class:`~monge.nets.ConvICNN` ("pooled-skips", ``channels=(w/2, w, w)``: the default
  (16, 32, 32) at w = 32), whose input gradient is autograd's, so training does a double backward;
- ``w2gn autograd``: :class:`~monge.nets.W2GNConvICNN` (W2GN App. B.3, width w, dense 128/64/32) with
  ``explicit_gradient=False`` (autograd's double backward);
- ``w2gn explicit``: the same network with its hand-written input gradient (``explicit_gradient=True``, one
  backward);
- ``w2gn compile``: the explicit path with ``W2GN(compile=True)`` (compilation time excluded and printed; "failed"
  if torch.compile fell back to eager).

Ratios are against ``pooled autograd`` and (``expl/auto``) explicit against autograd on the same network.

Accuracy (``--accuracy``): the digits style-transfer demo of :mod:`monge.apps.image2image` (16×16 thin → thick
strokes, 400 unpaired images per side), each design trained by ``fit_image_map`` for the same wall time
(``--budget`` seconds); it prints the steps done, the style statistics of the mapped images, the RMS to the thick
version of the same digits (the ground truth the solver never sees) and the RMS of the inverse map's round trip.

    python benchmarks/conv_icnn_speed.py                          # speed table
    python benchmarks/conv_icnn_speed.py --accuracy --budget 300  # plus the equal-time accuracy comparison
    python benchmarks/conv_icnn_speed.py --smoke                  # a few-second check that the script runs

Run it on a quiet machine: the numbers are wall-clock.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from typing import Any, Callable

import torch

from monge.nets import ConvICNN, W2GNConvICNN
from monge.solvers import W2GN


def networks(design: str, shape: tuple[int, int, int], width: int, generator: torch.Generator) -> tuple[Any, Any]:
    """The forward and inverse potentials of one design at one width."""
    if design == "pooled":
        build: Callable[[], Any] = lambda: ConvICNN(shape, (max(width // 2, 1), width, width),  # noqa: E731
                                                     generator=generator)
    else:
        build = lambda: W2GNConvICNN(shape, width=width, generator=generator)  # noqa: E731
    return build(), build()


class WallClockStop:
    """A solver callback that stops training ``seconds`` after it is made; ``steps`` counts the steps done."""

    def __init__(self, seconds: float):
        self.seconds, self.start, self.steps = seconds, time.perf_counter(), 0

    def __call__(self, progress: Any) -> bool:
        self.steps = progress.step
        return self.elapsed() > self.seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def steps_per_second(design: str, shape: tuple[int, int, int], width: int, *, explicit: bool, compile: bool,
                     batch_size: int, seconds: float, warmup: int = 3) -> tuple[float, float, bool]:
    """(steps/s, seconds of the warm-up run, which includes any compilation, whether torch.compile fell back)."""
    gen = torch.Generator().manual_seed(0)
    n, dim = 4 * batch_size, shape[0] * shape[1] * shape[2]
    source = torch.rand(n, dim, generator=gen)
    target = torch.rand(n, dim, generator=gen).sqrt()            # another image distribution: more ink
    forward, inverse = networks(design, shape, width, gen)
    solver = W2GN(forward_potential=forward, inverse_potential=inverse, explicit_gradient=explicit, compile=compile)
    # The same solver (and networks) twice: the warm-up run pays first-call costs and the compilation, which
    # torch caches per function; then a run limited by wall clock is timed.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        solver.fit(source, target, steps=warmup, batch_size=batch_size, generator=gen)
        warm = time.perf_counter() - t0
    fell_back = any("torch.compile failed" in str(w.message) for w in caught)
    stop = WallClockStop(seconds)
    solver.fit(source, target, steps=10**9, batch_size=batch_size, generator=gen, callback=stop)
    return stop.steps / stop.elapsed(), warm, fell_back


def speed_table(shapes: list[tuple[int, int, int]], widths: list[int], *, batch_size: int, seconds: float,
                compile: bool) -> None:
    print(f"\nW2GN steps/s, batch {batch_size}, {seconds:g} s timed per cell")
    print(f"{'image':>9} {'width':>5} {'pooled autograd':>16} {'w2gn autograd':>14} {'ratio':>6} "
          f"{'w2gn explicit':>14} {'ratio':>6} {'expl/auto':>9} {'w2gn compile':>13} {'ratio':>6} {'compile s':>10}")
    for shape in shapes:
        for width in widths:
            run = lambda design, explicit, comp=False: steps_per_second(  # noqa: E731
                design, shape, width, explicit=explicit, compile=comp, batch_size=batch_size, seconds=seconds)
            pooled = run("pooled", False)[0]
            auto = run("w2gn", False)[0]
            explicit = run("w2gn", True)[0]
            if compile:
                comp, comp_s, failed = run("w2gn", True, True)
            else:
                comp, comp_s, failed = float("nan"), float("nan"), False
            comp_text = "failed" if failed else f"{comp:.2f}"
            print(f"{'x'.join(map(str, shape)):>9} {width:>5} {pooled:>16.2f} {auto:>14.2f} {auto / pooled:>5.2f}x "
                  f"{explicit:>14.2f} {explicit / pooled:>5.2f}x {explicit / auto:>8.2f}x {comp_text:>13} "
                  f"{comp / pooled:>5.2f}x {comp_s:>10.1f}", flush=True)


def accuracy_at_equal_time(budget: float, *, w2gn_width: int, n: int = 400, size: int = 16) -> None:
    from monge.apps.image2image import digit_styles, fit_image_map, map_images, style_statistics

    thin, thick, _ = digit_styles(size=size)
    source, target, truth = thin[:n], thick[n:2 * n], thick[:n]
    rms = lambda a, b: float((a - b).square().mean().sqrt())  # noqa: E731
    print(f"\ndigits demo ({size}×{size}, {n} unpaired images per side), {budget:g} s of training per design "
          f"(fit_image_map defaults: lr 1e-3, cycle weight 2, batch 64)")
    print(f"{'design':>30} {'steps':>6} {'ink':>7} {'mean-image dist':>16} {'RMS to truth':>13} {'round trip':>11}")
    stats = style_statistics(source, target)
    print(f"{'identity (source)':>30} {0:>6} {stats['ink']:>7.4f} {stats['mean_image_distance']:>16.4f} "
          f"{rms(source, truth):>13.4f} {0.0:>11.4f}")
    for label, options in (("pooled-skips (16, 32, 32)", {}),
                           (f"w2gn width {w2gn_width}", {"design": "w2gn", "width": w2gn_width})):
        stop = WallClockStop(budget)
        result = fit_image_map(source, target, steps=10**9, batch_size=64, generator=torch.Generator().manual_seed(0),
                               callback=stop, **options)
        mapped = map_images(result, source)
        stats = style_statistics(mapped, target)
        back = map_images(result, mapped, inverse=True)
        print(f"{label:>30} {stop.steps:>6} {stats['ink']:>7.4f} {stats['mean_image_distance']:>16.4f} "
              f"{rms(mapped, truth):>13.4f} {rms(back, source):>11.4f}", flush=True)
    stats = style_statistics(target, target)
    print(f"{'target (thick)':>30} {'':>6} {stats['ink']:>7.4f} {0.0:>16.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32], help="image sides (3×S×S images)")
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per cell")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    parser.add_argument("--accuracy", action="store_true", help="also compare the designs on the digits demo")
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds per design for --accuracy")
    parser.add_argument("--accuracy-width", type=int, default=32, help="W2GNConvICNN width for --accuracy")
    parser.add_argument("--smoke", action="store_true", help="tiny settings: check that the script runs")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    if args.smoke:
        speed_table([(3, 8, 8)], [4], batch_size=8, seconds=0.2, compile=False)
        accuracy_at_equal_time(1.0, w2gn_width=4, n=40, size=8)
        return
    speed_table([(3, s, s) for s in args.sizes], args.widths, batch_size=args.batch_size, seconds=args.seconds,
                compile=not args.no_compile)
    if args.accuracy:
        accuracy_at_equal_time(args.budget, w2gn_width=args.accuracy_width)


if __name__ == "__main__":
    main()
