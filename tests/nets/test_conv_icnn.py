"""ConvICNN: convexity (Jensen gap, Hessian), gradient shape, convexify, seeded init, persistence, bad input."""

from __future__ import annotations

import pytest
import torch

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.nets import ConvICNN, build_network
from monge.solvers.base import W2Result

from helpers import jensen_gaps


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_net(shape=(2, 6, 6), *, seed=0, init_scale=3.0, activation="celu", **kwargs) -> ConvICNN:
    # A large init scale makes the hidden path dominate ½β‖x‖², so the convexity tests are not trivial.
    kwargs.setdefault("channels", (4, 6, 6))
    return ConvICNN(shape, activation=activation, init_scale=init_scale, quadratic_strength=1e-3,
                    generator=gen(seed), dtype=torch.float64, **kwargs)


@pytest.mark.parametrize("activation", ["celu", "softplus"])
def test_jensen_gap_is_nonnegative_and_fails_without_convexify(activation):
    net = make_net(activation=activation)
    gaps = jensen_gaps(net)
    scale = gaps.abs().max()
    assert scale > 1e-2                       # the network is far from affine: the check has teeth
    assert gaps.min() >= -1e-9 * scale
    # The same architecture with negative hidden kernels is not convex: Jensen's inequality breaks.
    with torch.no_grad():
        for w in net.hidden_weights:
            w.neg_()
        net.output_weight.neg_()
    assert jensen_gaps(net).min() < -1e-3 * scale


def test_hessian_is_psd_on_a_tiny_input():
    net = make_net((1, 3, 3), channels=(3, 4), seed=2)
    x = torch.randn(9, generator=gen(3), dtype=torch.float64)
    # The exact Hessian by autograd. torch.func.hessian gives the same matrix, but its first call through
    # conv2d (vmap batching rules) costs ~8 s of one-time set-up on this CPU, against 4 ms here.
    h = torch.autograd.functional.hessian(lambda v: net(v.unsqueeze(0))[0], x)
    assert h.shape == (9, 9)
    torch.testing.assert_close(h, h.T)
    # ∇²ψ − βI is the hidden path's Hessian: PSD, and not zero.
    eig = torch.linalg.eigvalsh(h - float(net.beta.detach()) * torch.eye(9, dtype=torch.float64))
    assert eig.min() >= -1e-9 * eig.abs().max()
    assert eig.max() > 1e-3


def test_gradient_shape_dtype_and_identity_start():
    net = ConvICNN((3, 8, 8), generator=gen(0))          # defaults: β = 1, small weights
    assert net.dim == 192 and net.is_convex
    x = torch.rand(5, 192, generator=gen(1))
    value, grad = net.value_and_gradient(x)
    assert value.shape == (5,) and grad.shape == (5, 192) and grad.dtype == torch.float32
    torch.testing.assert_close(net.gradient(x), grad)
    assert (grad - x).abs().max() < 1e-2                 # ∇ψ starts near the identity map
    with pytest.raises(DimensionMismatchError, match=r"\(n, 192\)"):
        net(torch.zeros(5, 191))


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = ConvICNN((1, 8, 8), generator=gen(7)), ConvICNN((1, 8, 8), generator=gen(7))
    c, default = ConvICNN((1, 8, 8), generator=gen(8)), ConvICNN((1, 8, 8))
    assert torch.equal(torch.random.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert not torch.equal(a.input_linear, c.input_linear)
    torch.testing.assert_close(default.input_linear, ConvICNN((1, 8, 8)).input_linear, rtol=0, atol=0)


def test_convexify_after_an_optimiser_step_restores_convexity():
    net = make_net(seed=4)
    opt = torch.optim.SGD(net.parameters(), lr=10.0)
    x = torch.randn(16, net.dim, generator=gen(5), dtype=torch.float64)
    net(x).sum().backward()                              # descending ψ pushes hidden weights down
    opt.step()
    assert min(float(w.detach().min()) for w in net.hidden_weights) < 0
    net.convexify()
    assert min(float(w.detach().min()) for w in net.hidden_weights) >= 0 and float(net.output_weight.detach().min()) >= 0
    gaps = jensen_gaps(net, seed=6)
    assert gaps.min() >= -1e-9 * gaps.abs().max()


@pytest.mark.parametrize("learn_quadratic", [True, False])
def test_save_load_through_w2result_round_trips(tmp_path, learn_quadratic):
    forward = ConvICNN((1, 6, 6), (4, 4), kernel_size=5, learn_quadratic=learn_quadratic, init_scale=1.0,
                       generator=gen(9))
    inverse = ConvICNN((1, 6, 6), (4, 4), kernel_size=5, learn_quadratic=learn_quadratic, generator=gen(10))
    with torch.no_grad():
        forward.log_beta.fill_(-0.5)                     # a trained β, not the constructor's
        forward.linear_term.add_(0.3)
    result = W2Result(solver="w2gn", forward_potential=forward, inverse_potential=inverse, cost_estimate=1.0)
    loaded = W2Result.load(result.save(tmp_path / "run"))
    assert isinstance(loaded.forward_potential, ConvICNN)
    assert loaded.forward_potential.config() == forward.config()
    x = torch.rand(4, 36, generator=gen(11))
    torch.testing.assert_close(loaded.forward(x), result.forward(x))
    torch.testing.assert_close(loaded.inverse(x), result.inverse(x))
    assert abs(float(loaded.forward_potential.beta.detach()) - 0.6065) < 1e-3
    assert isinstance(build_network(forward.config()), ConvICNN)


@pytest.mark.parametrize("shape", [(8, 8), (1, 0, 8), (1, 8, 8, 1), "1x8x8", (1.0, 8, 8), (True, 8, 8)])
def test_bad_image_shape_is_an_input_error(shape):
    with pytest.raises(InvalidInputError, match="image_shape"):
        ConvICNN(shape)


@pytest.mark.parametrize("kwargs, word", [({"channels": ()}, "channels"), ({"channels": (4, 0)}, "channels"),
                                          ({"kernel_size": 2}, "kernel_size"), ({"activation": "relu"}, "activation"),
                                          ({"quadratic_strength": 0.0}, "quadratic_strength"),
                                          ({"init_scale": float("nan")}, "init_scale")])
def test_bad_options_are_input_errors(kwargs, word):
    with pytest.raises(InvalidInputError, match=word):
        ConvICNN((1, 8, 8), **kwargs)


def test_w2gn_trains_convicnn_with_either_gradient_setting():
    """ConvICNN's value_and_gradient is autograd's, so W2GN's explicit_gradient flag changes nothing."""
    from monge.solvers.w2.w2gn import W2GN

    data = torch.rand(64, 2, 4, 4, generator=gen(12)).reshape(64, -1)
    losses = []
    for explicit in (True, False):
        nets = [ConvICNN((2, 4, 4), (3, 4), generator=gen(13)) for _ in range(2)]
        solver = W2GN(forward_potential=nets[0], inverse_potential=nets[1], explicit_gradient=explicit, lr=1e-2)
        result = solver.fit(data, data.flip(1), steps=3, batch_size=16, generator=gen(14))
        losses.append(result.history["loss"])
        assert all(float(w.detach().min()) >= 0 for w in nets[0].hidden_weights)   # convexified after steps
    assert losses[0] == losses[1] and losses[0][0] != losses[0][-1]
