"""Steps/s of ``auto``'s ENOT step against a plain PyTorch implementation of the same networks and loss.

Both train the same two MLP potentials (ELU, widths from ``auto``, ½‖x‖² added) with the same ENOT losses and
fused Adam on the same in-memory batches, in one process, alternately timed (``--repeats`` rounds of
``--steps`` steps each, median kept), so the ratio is robust to the machine's noise. The plain loop is the
textbook implementation: autograd for the map ∇ψ (``create_graph=True``) and one backward per step, no guard,
no callback, no checkpointable state. monge's step goes through ``ENOT.fit`` and the shared training loop
(divergence guard, history), eager and compiled. A ratio of 1.0 means monge costs nothing over the plain loop.

    python benchmarks/enot_step_speed.py --dims 64 128 256 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from monge.solvers.auto import choose_solver
from monge.solvers.w2.enot import ENOT, expectile_loss


def plain_mlp(dim: int, widths: list[int]) -> nn.Sequential:
    sizes = [dim, *widths, 1]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


def plain_steps_per_s(x: torch.Tensor, y: torch.Tensor, widths: list[int], steps: int, batch: int) -> float:
    dim = x.shape[1]
    f, g = plain_mlp(dim, widths), plain_mlp(dim, widths)
    opt_f = torch.optim.Adam(f.parameters(), lr=1e-3, betas=(0.9, 0.9), fused=True)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.9, 0.9), fused=True)
    gen = torch.Generator().manual_seed(0)

    def potential(net: nn.Module, z: torch.Tensor) -> torch.Tensor:
        return net(z).squeeze(-1) + 0.5 * z.square().sum(1)

    def one_step(i: int) -> None:
        mover, dual = (f, g) if i % 2 == 0 else (g, f)
        xs = x[torch.randint(len(x), (batch,), generator=gen)]
        ys = y[torch.randint(len(y), (batch,), generator=gen)]
        if i % 2:
            xs, ys = ys, xs
        xs.requires_grad_(True)
        (t,) = torch.autograd.grad(potential(mover, xs).sum(), xs, create_graph=True)
        t_const = t.detach()
        kant = lambda z: z.square().sum(1) - 2.0 * potential(dual, z)  # noqa: E731
        g_y = kant(ys)
        g_conj = (xs.detach() - t_const).square().sum(1) - kant(t_const)
        cost = (xs.detach() - ys).square().sum(1)
        reg = (expectile_loss((g_conj - cost).detach() + g_y, 0.99).mean()
               + expectile_loss((g_y - cost).detach() + g_conj, 0.99).mean())
        dual_loss = reg - (g_y + g_conj).mean()
        for p in dual.parameters():
            p.requires_grad_(False)
        map_loss = ((xs.detach() - t).square().sum(1) - kant(t)).mean()
        for p in dual.parameters():
            p.requires_grad_(True)
        opt_f.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)
        (dual_loss + map_loss).backward()
        opt_f.step()
        opt_g.step()
        _ = dual_loss.item()

    for i in range(5):
        one_step(i)
    t0 = time.perf_counter()
    for i in range(steps):
        one_step(i)
    return steps / (time.perf_counter() - t0)


def monge_steps_per_s(x: torch.Tensor, y: torch.Tensor, options: dict, steps: int, batch: int) -> float:
    marks = {}

    def timer(progress) -> None:
        if progress.step == 5:
            marks["start"] = time.perf_counter()

    ENOT(**options).fit(x, y, steps=steps + 5, batch_size=batch, generator=torch.Generator().manual_seed(0),
                        callback=timer)
    return steps / (time.perf_counter() - marks["start"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dims", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=1024)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {args.batch_size}")
    for dim in args.dims:
        choice = choose_solver(dim, steps=10_000)
        widths = choice.options["hidden_sizes"]
        gen = torch.Generator().manual_seed(dim)
        x = torch.randn(20_000, dim, generator=gen)
        y = 0.5 * torch.randn(20_000, dim, generator=gen) + 1.0
        eager = {**choice.options, "compile": False}
        compiled = {**choice.options, "compile": True}
        monge_steps_per_s(x, y, compiled, 20, args.batch_size)            # warm the compilation cache
        rows: dict[str, list[float]] = {"plain": [], "monge eager": [], "monge compiled": []}
        for _ in range(args.repeats):
            rows["plain"].append(plain_steps_per_s(x, y, widths, args.steps, args.batch_size))
            rows["monge eager"].append(monge_steps_per_s(x, y, eager, args.steps, args.batch_size))
            rows["monge compiled"].append(monge_steps_per_s(x, y, compiled, args.steps, args.batch_size))
        plain = statistics.median(rows["plain"])
        for name, values in rows.items():
            rate = statistics.median(values)
            print(f"D={dim:4d} widths {widths}: {name:15s} {rate:6.1f} steps/s  ratio to plain {rate / plain:.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
