"""Speed of applying a colour-transfer map to a 10-megapixel image on CPU (monge.apps.color.transfer_colors).

The map is a W2GN colour map (DenseICNN [64, 64, 32], the colour defaults) fitted briefly china → flower; its
evaluation cost does not depend on how well it is trained. Two synthetic 3872 × 2592 (10.04 MP) images:

- ``photo``: scikit-learn's china.jpg upscaled bicubically to 10 MP (a photograph's colour statistics: few
  distinct colours per pixel);
- ``noise``: uniformly random 8-bit colours (the worst case: about 7.5 million distinct colours).

Paths compared (wall-clock, one process, ``--threads`` torch threads):

- ``transfer_colors``: the library path (distinct colours evaluated once, explicit gradient, chunks of 4096);
- ``per-pixel forward``: ``result.forward`` on every pixel with its default chunk of 65 536 (what one writes
  without the library function);
- ``per-pixel, chunk 4096``: the same in chunks of 4096 (isolates what skipping repeated colours buys);
- ``per-pixel autograd``: ∇ψ by ``torch.autograd.grad`` on every pixel in chunks of 65 536.

Chunks of 65 536 colours need ~85 MB temporaries per layer block; their speed depends on whether the allocator
hands back fresh pages (page faults) or reuses heap memory, so that baseline varies between runs.

The per-pixel baselines are timed on the first ``--baseline-megapixels`` of the image and extrapolated
linearly (their cost is exactly linear in the number of pixels).

    python benchmarks/color_transfer_speed.py --threads 1

Run it on a quiet machine: the main numbers are wall-clock; the CPU time of the process is printed beside them
(on a shared machine it is the fairer basis of the ratios).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from monge.apps.color import fit_color_map, image_to_colors, sample_images, transfer_colors

WIDTH, HEIGHT = 3872, 2592


def photo_like(rng: np.random.Generator) -> np.ndarray:
    """china.jpg upscaled bicubically to WIDTH × HEIGHT."""
    from PIL import Image

    china = sample_images()["china"]
    return np.asarray(Image.fromarray(china).resize((WIDTH, HEIGHT), Image.BICUBIC), dtype=np.uint8)


def noise(rng: np.random.Generator) -> np.ndarray:
    """Uniformly random 8-bit colours."""
    return rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)


def timed(fn) -> tuple[float, float, object]:
    """(wall-clock seconds, CPU seconds of this process, fn())."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - start, time.process_time() - cpu, out


def per_pixel_forward(result, colors: torch.Tensor) -> torch.Tensor:
    return result.forward(colors).clamp(0, 1)


def per_pixel_small_chunks(result, colors: torch.Tensor) -> torch.Tensor:
    return result.forward(colors, batch_size=4096).clamp(0, 1)


def per_pixel_autograd(result, colors: torch.Tensor) -> torch.Tensor:
    net = result.forward_potential
    return torch.cat([net.autograd_value_and_gradient(chunk)[1].detach() for chunk in colors.split(65536)]).clamp(0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline-megapixels", type=float, default=1.0)
    parser.add_argument("--images", nargs="+", default=["photo", "noise"], choices=["photo", "noise"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, threads {args.threads}")

    images = sample_images()
    g = torch.Generator().manual_seed(0)
    result = fit_color_map(images["china"], images["flower"], steps=100, batch_size=512, generator=g,
                           pretrain_steps=50)
    rng = np.random.default_rng(0)
    for name in args.images:
        image = {"photo": photo_like, "noise": noise}[name](rng)
        megapixels = image.shape[0] * image.shape[1] / 1e6
        distinct = len(np.unique((image[..., 0].astype(np.int32) << 16) | (image[..., 1].astype(np.int32) << 8)
                                 | image[..., 2]))
        seconds, cpu, out = timed(lambda: transfer_colors(image, result))
        assert out.shape == image.shape and out.dtype == np.uint8
        print(f"\n{name}: {image.shape[1]}x{image.shape[0]} = {megapixels:.2f} MP, {distinct:,} distinct colours")
        print(f"  transfer_colors        {seconds:7.2f} s  {megapixels / seconds:7.2f} MP/s   (CPU {cpu:.2f} s)")
        n_base = min(int(args.baseline_megapixels * 1e6), image.shape[0] * image.shape[1])
        colors = image_to_colors(image)[:n_base]
        check = torch.from_numpy(out.reshape(-1, 3)[:n_base].astype(np.float32) / 255)
        for label, fn in (("per-pixel forward", per_pixel_forward), ("per-pixel, chunk 4096", per_pixel_small_chunks),
                          ("per-pixel autograd", per_pixel_autograd)):
            with torch.no_grad() if fn is not per_pixel_autograd else torch.enable_grad():
                base_seconds, base_cpu, mapped = timed(lambda: fn(result, colors))
            full, full_cpu = (t * megapixels * 1e6 / n_base for t in (base_seconds, base_cpu))
            gap = float((mapped - check).abs().max()) * 255
            print(f"  {label:22s} {full:7.2f} s  {megapixels / full:7.2f} MP/s   (CPU {full_cpu:.2f} s; timed on "
                  f"{n_base / 1e6:.2f} MP; transfer_colors is {full / seconds:5.1f}x faster in wall-clock, "
                  f"{full_cpu / cpu:5.1f}x in CPU time; max difference {gap:.2f}/255)")


if __name__ == "__main__":
    main()
