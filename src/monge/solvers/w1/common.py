"""Pieces the W1 solvers share: the default critic, batch drawing and the gradient penalties."""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from monge.nets.mlp import MLPPotential
from monge.samplers import Sampler
from monge.solvers.common import adam, descend, draw, mean_of_last, seeded
from monge.solvers.loop import train_loop
from monge.solvers.w1.base import W1Result


BENCHMARK_NOTEBOOK = ("Korotin, Kolesov, Burnaev, NeurIPS 2022, notebooks/test_nd.ipynb of "
                      "github.com/justkolesov/Wasserstein1Benchmark")
"""Where the W1 solvers' defaults come from (its ``COMMON`` cell: batch 1024, lr 2e-4, critic widths
``[D, max(2D, 128), max(2D, 128), 1]``; and one cell of settings per method)."""

BENCHMARK_LR = 2e-4
"""The benchmark notebook's learning rate for every W1 solver (Adam; the notebook sets no betas, so PyTorch's
defaults (0.9, 0.999) apply)."""


def default_hidden_sizes(dim: int) -> list[int]:
    """The W1 benchmark's critic (and mover) widths: two hidden layers of max(2·dim, 128)
    (``HIDDEN_DIMS`` of :data:`BENCHMARK_NOTEBOOK`)."""
    return [max(128, 2 * int(dim))] * 2


def mlp_critic(dim: int, hidden_sizes: Sequence[int] | None, *, activation: str, dtype: torch.dtype,
               device: torch.device | str, generator: torch.Generator | None) -> MLPPotential:
    """An unconstrained MLP critic f: R^dim → R, initialised from ``generator`` (see :func:`seeded`)."""
    sizes = list(hidden_sizes) if hidden_sizes is not None else default_hidden_sizes(dim)
    return seeded(lambda: MLPPotential(dim, sizes, activation=activation, dtype=dtype, device=device),
                  generator)  # type: ignore[return-value]


def prepare_mlp_critic(solver: Any, source: Any, target: Any, steps: int, batch_size: int,
                       generator: torch.Generator | None) -> tuple[Sampler, Sampler, MLPPotential]:
    """Validate a fit's data (:func:`~monge.solvers.common.prepare_data`) and build the solver's seeded MLP
    critic from its ``hidden_sizes`` and ``activation``, in the data's dtype and device."""
    from monge.solvers.common import prepare_data

    source, target = prepare_data(source, target, steps, batch_size, generator)
    critic = mlp_critic(source.dim, solver.hidden_sizes, activation=solver.activation, dtype=source.dtype,
                        device=source.device, generator=generator)
    return source, target, critic


def interpolates(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """t·y + (1 − t)·x with t ~ U[0, 1] per pair (drawn from ``generator``): WGAN-GP's penalty points."""
    t = torch.rand(x.shape[0], 1, generator=generator, dtype=x.dtype,
                   device=generator.device if generator is not None else x.device).to(x.device)
    return (t * y + (1 - t) * x).detach()


def ascent_step(opt: torch.optim.Optimizer, objective: torch.Tensor, **logs: Any) -> dict[str, float]:
    """One optimiser step that maximises ``objective`` (minimises −objective); returns the step's logs:
    ``"loss"`` (−objective, before the update) and ``logs`` as floats (``w1=`` the batch's dual value...)."""
    loss = -objective
    descend(opt, loss)
    return {"loss": loss.item(), **{key: float(value) for key, value in logs.items()}}


def batch_dual(critic: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The W1 dual on a batch: E f(y) − E f(x) (x ~ P, y ~ Q)."""
    return critic(y).mean() - critic(x).mean()


def gradient_norms(critic: nn.Module, points: torch.Tensor) -> torch.Tensor:
    """‖∇f(z)‖ at each point, differentiable with respect to the critic's parameters (double backward)."""
    z = points.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(z).sum(), z, create_graph=True)
    return grad.norm(dim=1)


def gradient_penalty(critic: nn.Module, points: torch.Tensor, *, one_sided: bool) -> torch.Tensor:
    """E(‖∇f‖ − 1)² (two-sided, WGAN-GP) or E max(0, ‖∇f‖ − 1)² (one-sided, WGAN-LP) at ``points``."""
    excess = gradient_norms(critic, points) - 1.0
    return (excess.clamp_min(0.0) if one_sided else excess).square().mean()


def run_w1_training(*, name: str, steps: int, critic: nn.Module, extra_params: Sequence[torch.Tensor] = (),
                    step: Callable[[int], dict[str, float]], settings: dict[str, Any],
                    callback: Any, started: float | None = None, mover: nn.Module | None = None,
                    gradient_from: str = "critic", w1_key: str = "w1",
                    state: Mapping[str, Any] | None = None,
                    generator: torch.Generator | None = None, data: Sequence[Any] | None = None) -> W1Result:
    """Run the shared training loop (divergence restore, callback, history) and build the :class:`W1Result`.

    ``step(i)`` returns the step's logs; ``logs[w1_key]`` (the dual objective on the step's batches) is
    averaged over the last 50 steps as the result's ``w1_estimate``. ``state`` names the fit's other stateful
    parts (optimisers, extra networks; the critic and mover are added as ``"critic"`` and ``"mover"``) and
    ``generator`` is the fit's generator: a checkpoint holds them all, so a resumed fit continues bit-exactly
    (see :func:`~monge.solvers.loop.train_loop`). ``data`` = (source, target) samplers give the divergence guard
    the data scale.
    """
    history: dict[str, list[float]] = {}
    started = time.perf_counter() if started is None else started
    params = [*critic.parameters(), *(mover.parameters() if mover is not None else ()), *extra_params]

    def make_result(steps_done: int) -> W1Result:
        return W1Result(solver=name, critic=critic, w1_estimate=mean_of_last(history.get(w1_key, [])),
                        history=history, settings=dict(settings), steps=steps_done, mover=mover,
                        gradient_from=gradient_from)

    return train_loop(name=name, steps=steps, params=params, step=step, make_result=make_result,  # type: ignore[arg-type]
                      history=history, callback=callback, started=started, generator=generator, data=data,
                      state={"critic": critic, "mover": mover, **(state or {})})


def fit_adam_critic(solver: Any, source: Any, target: Any, *, steps: int, batch_size: int,
                    generator: torch.Generator | None, callback: Any,
                    ascent: Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, float]]]
                    ) -> W1Result:
    """The fit of a W1 solver that trains only its MLP critic (:func:`prepare_mlp_critic`) by Adam with the
    solver's ``lr`` and ``betas``: each step draws x ~ P, y ~ Q, and ``ascent(critic, x, y)`` returns the
    objective to maximise and the step's other logs (``w1``, the dual value, among them); see
    :func:`ascent_step` and :func:`run_w1_training`."""
    started = time.perf_counter()
    source, target, critic = prepare_mlp_critic(solver, source, target, steps, batch_size, generator)
    opt = adam(list(critic.parameters()), lr=solver.lr, betas=solver.betas)

    def step(i: int) -> dict[str, float]:
        objective, logs = ascent(critic, *draw(source, target, batch_size, generator))
        return ascent_step(opt, objective, **logs)

    return run_w1_training(name=solver.name, steps=steps, critic=critic, step=step, settings=solver.settings(),
                           callback=callback, started=started, generator=generator, data=(source, target),
                           state={"optimizer": opt})
