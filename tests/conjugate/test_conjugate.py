"""Convex conjugates: exact answers on quadratics, inverse of ICNN gradients, per-row independence."""

from __future__ import annotations

import math

import pytest
import torch

from monge.conjugate import AdamConjugate, ConjugateResult, ConjugateSolver, LBFGSConjugate, conjugate
from monge.errors import DimensionMismatchError, InvalidInputError
from monge.nets import DenseICNN
from monge.nets.base import Potential

F64, F32 = torch.float64, torch.float32


def spd(d: int, cond: float, dtype=F64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random SPD matrix with eigenvalues log-spaced in [1, cond] and a random vector b."""
    g = torch.Generator().manual_seed(seed + d)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))
    eig = torch.logspace(0, math.log10(cond), d, dtype=F64)
    a = q @ torch.diag(eig) @ q.T
    return (0.5 * (a + a.T)).to(dtype), torch.randn(d, generator=g, dtype=F64).to(dtype)


def quadratic(a: torch.Tensor, b: torch.Tensor):
    """ψ(x) = ½ xᵀAx + bᵀx as a callable returning (value, gradient)."""
    return lambda x: (0.5 * ((x @ a) * x).sum(1) + x @ b, x @ a + b)


def icnn(dim=8, sc=0.1, dtype=F64, hidden=(32, 32, 16), init_std=0.2, seed=0) -> DenseICNN:
    return DenseICNN(dim, list(hidden), strong_convexity=sc, init_std=init_std,
                     generator=torch.Generator().manual_seed(seed), dtype=dtype)


def randn(*shape, dtype=F64, seed=1):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ------------------------------------------------------------------------------------------ exactness
@pytest.mark.parametrize("d", [2, 10, 50])
@pytest.mark.parametrize("dtype, tol, atol", [(F64, 1e-9, 1e-6), (F32, 1e-5, 1e-4)])
def test_lbfgs_is_exact_on_ill_conditioned_quadratics(d, dtype, tol, atol):
    a, b = spd(d, 100.0, dtype)
    y = randn(64, d, dtype=dtype)
    res = conjugate(quadratic(a, b), y, solver=LBFGSConjugate(tol=tol, max_iter=400))
    true = torch.linalg.solve(a.double(), (y.double() - b.double()).T).T
    true_value = 0.5 * ((y.double() - b.double()) * true).sum(1)
    assert isinstance(res, ConjugateResult)
    assert res.argmax.dtype == dtype and res.value.dtype == dtype and res.argmax.shape == (64, d)
    assert bool(res.converged.all()) and float(res.residual.max()) <= tol
    assert float((res.argmax.double() - true).abs().max()) < atol
    assert float(((res.value.double() - true_value).abs() / (1 + true_value.abs())).max()) < atol
    assert 1 <= res.iterations <= 400


def test_adam_is_close_on_a_well_conditioned_quadratic():
    a, b = spd(10, 3.0)
    y = randn(64, 10)
    res = conjugate(quadratic(a, b), y, solver=AdamConjugate(lr=1e-2, max_iter=2000, tol=1e-4))
    true = torch.linalg.solve(a, (y - b).T).T
    assert bool(res.converged.all()) and res.iterations < 2000
    # residual ≤ 1e-4 and λ_min(A) = 1, so the argmax is within 1e-4; we assert the looser 1e-3.
    assert float((res.argmax - true).abs().max()) < 1e-3
    assert float((res.value - 0.5 * ((y - b) * true).sum(1)).abs().max()) < 1e-3


def test_lbfgs_beats_adam_by_far_in_iterations():
    a, b = spd(10, 3.0)
    y = randn(32, 10)
    lbfgs = conjugate(quadratic(a, b), y, solver=LBFGSConjugate(tol=1e-4))
    adam = conjugate(quadratic(a, b), y, solver=AdamConjugate(tol=1e-4))
    assert lbfgs.iterations * 10 < adam.iterations


# ------------------------------------------------------------------------------------------ ICNN inverse
@pytest.mark.parametrize("dtype, sc, tol, x_atol", [(F64, 0.1, 1e-8, 1e-6), (F32, 1e-2, 1e-5, 5e-3)])
def test_inverts_the_gradient_of_a_dense_icnn(dtype, sc, tol, x_atol):
    net = icnn(sc=sc, dtype=dtype)
    x = randn(256, 8, dtype=dtype)
    with torch.no_grad():
        y = net.gradient(x)
    res = conjugate(net, y, solver=LBFGSConjugate(tol=tol))
    with torch.no_grad():
        value, grad = net.value_and_gradient(res.argmax)
    assert bool(res.converged.all())
    assert float((grad - y).norm(dim=1).max()) <= 1e-4
    assert float((res.argmax - x).abs().max()) < x_atol
    # ψ̄(y) = ⟨x, y⟩ − ψ(x) at the true preimage x
    with torch.no_grad():
        expected = (x * y).sum(1) - net(x)
    assert float((res.value - expected).abs().max()) < (1e-8 if dtype == F64 else 1e-3)
    assert res.iterations < 100
    assert not res.argmax.requires_grad and not res.value.requires_grad
    assert all(p.grad is None for p in net.parameters())


def test_autograd_potentials_and_plain_callables_keep_no_graph():
    net = icnn()
    x = randn(32, 8)
    with torch.no_grad():
        y = net.gradient(x)

    class AutogradOnly(Potential):  # value_and_gradient falls back on the autograd oracle
        dim = 8

        def __init__(self):
            super().__init__()
            self.inner = net

        def forward(self, z):
            return self.inner(z)

    def raw(z):  # a callable that needs grad mode itself
        z = z.requires_grad_(True)
        v = net(z)
        (g,) = torch.autograd.grad(v.sum(), z)
        return v, g

    class RawAutograd(AutogradOnly):  # overrides value_and_gradient with autograd, no grad mode of its own
        def value_and_gradient(self, z):
            return raw(z)

    for potential in (AutogradOnly(), RawAutograd(), raw, net.autograd_value_and_gradient):
        res = conjugate(potential, y, solver=LBFGSConjugate(tol=1e-8))
        assert bool(res.converged.all()) and float((res.argmax - x).abs().max()) < 1e-6
        assert res.argmax.grad_fn is None and res.value.grad_fn is None and res.residual.grad_fn is None
    assert all(p.grad is None for p in net.parameters())


# ------------------------------------------------------------------------------------------ bookkeeping
def test_warm_start_at_the_solution_converges_at_once():
    net = icnn()
    x = randn(64, 8)
    with torch.no_grad():
        y = net.gradient(x)
    solver = LBFGSConjugate(tol=1e-6)
    cold = conjugate(net, y, solver=solver)
    assert cold.iterations > 3
    warm = conjugate(net, y, x0=cold.argmax, solver=solver)
    assert warm.iterations <= 2 and bool(warm.converged.all())
    near = conjugate(net, y, x0=x + 1e-7 * randn(64, 8, seed=5), solver=solver)
    assert near.iterations <= 2 and bool(near.converged.all())
    assert torch.allclose(warm.argmax, x, atol=1e-5)


def test_residual_value_and_converged_are_consistent():
    net = icnn()
    y = 2.0 * randn(100, 8, seed=3)
    solver = LBFGSConjugate(tol=1e-6, max_iter=9)  # stopped early: some rows are not converged yet
    res = conjugate(net, y, solver=solver)
    assert res.iterations == 9
    with torch.no_grad():
        value, grad = net.value_and_gradient(res.argmax)
    torch.testing.assert_close(res.residual, (grad - y).norm(dim=1))
    torch.testing.assert_close(res.value, (res.argmax * y).sum(1) - value)
    assert torch.equal(res.converged, res.residual <= solver.tol)
    assert 0 < int(res.converged.sum()) < 100
    assert res.converged.dtype == torch.bool and res.residual.shape == (100,)


def test_rows_are_solved_independently():
    net = icnn()
    x = randn(6, 8)
    with torch.no_grad():
        y = net.gradient(x)
    # easy rows start next to their solution, hard rows far from it
    x0 = torch.cat([x[:3] + 1e-6, 5.0 * randn(3, 8, seed=9)])
    solver = LBFGSConjugate(tol=1e-9)
    batch = conjugate(net, y, x0=x0, solver=solver)
    alone = [conjugate(net, y[i:i + 1], x0=x0[i:i + 1], solver=solver) for i in range(6)]
    for i, single in enumerate(alone):
        torch.testing.assert_close(batch.argmax[i], single.argmax[0], rtol=0, atol=1e-9)
        torch.testing.assert_close(batch.value[i], single.value[0], rtol=0, atol=1e-9)
    iters = [r.iterations for r in alone]
    assert batch.iterations == max(iters) and max(iters[:3]) < min(iters[3:])
    # chunks give the same answers
    chunked = conjugate(net, y, x0=x0, solver=solver, batch_size=4)
    torch.testing.assert_close(chunked.argmax, batch.argmax, rtol=0, atol=1e-9)
    assert chunked.iterations == batch.iterations


def test_unbounded_problem_stops_at_max_iter_unconverged():
    c = torch.tensor([1.0, -1.0], dtype=F64)
    linear = lambda x: (x @ c, c.expand_as(x))  # ψ linear: ⟨x, y⟩ − ψ(x) unbounded when y ≠ c
    res = conjugate(linear, torch.zeros(3, 2, dtype=F64), solver=LBFGSConjugate(max_iter=7, max_step=1.0))
    assert res.iterations == 7 and not bool(res.converged.any())
    assert float(res.argmax.norm(dim=1).max()) <= 7.0 + 1e-9  # max_step caps each step's length


def test_global_rng_untouched_and_float32_preserved():
    net = icnn(dtype=F32, sc=1e-2)
    y = randn(16, 8, dtype=F32)
    state = torch.get_rng_state()
    for solver in (LBFGSConjugate(), AdamConjugate(max_iter=50)):
        res = conjugate(net, y, solver=solver)
        assert res.argmax.dtype == F32 and res.residual.dtype == F32
    assert torch.equal(state, torch.get_rng_state())


# ------------------------------------------------------------------------------------------ errors
def test_bad_inputs_are_named():
    net = icnn()
    y = randn(4, 8)
    with pytest.raises(InvalidInputError, match="y"):
        conjugate(net, torch.full((4, 8), float("nan"), dtype=F64))
    with pytest.raises(InvalidInputError, match="y"):
        conjugate(net, torch.zeros(8, dtype=F64))
    with pytest.raises(DimensionMismatchError, match="y"):
        conjugate(net, randn(4, 3))
    with pytest.raises(InvalidInputError, match="x0"):
        conjugate(net, y, x0=randn(5, 8))
    with pytest.raises(InvalidInputError, match="x0"):
        conjugate(net, y, x0=torch.full((4, 8), float("inf"), dtype=F64))
    with pytest.raises(InvalidInputError, match="batch_size"):
        conjugate(net, y, batch_size=0)
    with pytest.raises(InvalidInputError, match="solver"):
        conjugate(net, y, solver="lbfgs")
    with pytest.raises(InvalidInputError, match="potential"):
        conjugate(42, y)
    with pytest.raises(InvalidInputError, match="potential"):
        conjugate(lambda x: (x.sum(), x), y)  # value of the wrong shape


@pytest.mark.parametrize("make, name", [
    (lambda: LBFGSConjugate(tol=0), "tol"),
    (lambda: LBFGSConjugate(tol=float("nan")), "tol"),
    (lambda: LBFGSConjugate(max_iter=0), "max_iter"),
    (lambda: LBFGSConjugate(max_iter=2.5), "max_iter"),
    (lambda: LBFGSConjugate(history_size=0), "history_size"),
    (lambda: LBFGSConjugate(max_step=-1.0), "max_step"),
    (lambda: AdamConjugate(lr=0), "lr"),
    (lambda: AdamConjugate(max_iter=-3), "max_iter"),
    (lambda: AdamConjugate(tol=-1e-4), "tol"),
])
def test_bad_solver_parameters(make, name):
    with pytest.raises(InvalidInputError, match=name):
        make()


def test_solver_is_a_pluggable_abc():
    class Identity(ConjugateSolver):
        tol = 1.0

        def solve(self, potential, y, x0=None):
            z = torch.zeros(y.shape[0], dtype=y.dtype)
            return ConjugateResult(y, z, 0, z, z == 0)

    res = conjugate(icnn(), randn(5, 8), solver=Identity(), batch_size=2)
    assert res.argmax.shape == (5, 8) and res.iterations == 0
    with pytest.raises(TypeError):
        ConjugateSolver()
