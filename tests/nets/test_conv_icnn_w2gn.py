"""W2GNConvICNN (the ConvICNN of W2GN, App. B.3) beside ConvICNN (pooled skips): explicit gradient = autograd,
parameter gradients of a loss of ∇ψ, convexity (Jensen gap, Hessian), convexify, bad input, persistence, a W2GN fit."""

from __future__ import annotations

import pytest
import torch
from torch.func import hessian

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.nets import ConvICNN, W2GNConvICNN, build_network
from monge.solvers.base import W2Result
from monge.solvers.w2.w2gn import W2GN

from helpers import jensen_gaps


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_w2gn(shape=(1, 8, 8), *, seed=0, init_scale=3.0, quadratic=0.0, **kwargs) -> W2GNConvICNN:
    # A large init scale and no quadratic term: the network is far from affine, so the checks have teeth.
    kwargs.setdefault("width", 4)
    kwargs.setdefault("dense_widths", (8, 6, 4))
    return W2GNConvICNN(shape, init_scale=init_scale, quadratic_strength=quadratic, strong_convexity=0.0,
                        generator=gen(seed), dtype=torch.float64, **kwargs)


def make_pooled(shape=(1, 8, 8), *, seed=0, **kwargs) -> ConvICNN:
    return ConvICNN(shape, (4, 6, 6), init_scale=3.0, quadratic_strength=1e-3, generator=gen(seed),
                    dtype=torch.float64, **kwargs)


DESIGNS = {"w2gn": make_w2gn, "pooled-skips": make_pooled}

# Paper-style shapes: derived downsampling (8 → 4), odd and non-square sides (stride-2 transposes need an
# output padding), no downsampling at all, no hidden dense layer, one input convolution, softplus.
W2GN_VARIANTS = {
    "1x8x8": dict(shape=(1, 8, 8)),
    "3x9x7, 2 downsamplings": dict(shape=(3, 9, 7), downsamplings=2),
    "2x4x4, no dense": dict(shape=(2, 4, 4), dense_widths=()),
    "1x5x6, depth 1, softplus": dict(shape=(1, 5, 6), downsamplings=2, input_depth=1, activation="softplus"),
    "2x6x6, kernel 5, quadratic": dict(shape=(2, 6, 6), kernel_size=5, downsamplings=1, quadratic=0.5),
}


# ---------------------------------------------------------------------------------------------- explicit gradient
@pytest.mark.parametrize("variant", W2GN_VARIANTS)
def test_explicit_gradient_equals_autograd(variant):
    options = dict(W2GN_VARIANTS[variant])
    net = make_w2gn(options.pop("shape"), **options)
    x = torch.randn(16, net.dim, generator=gen(1), dtype=torch.float64)
    value, grad = net.value_and_gradient(x)
    ref_value, ref_grad = net.autograd_value_and_gradient(x)
    assert grad.abs().max() > 0.1                          # not a comparison of near-zero vectors
    torch.testing.assert_close(value, ref_value, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(net.gradient(x), grad, rtol=0, atol=0)


def test_pooled_skips_gradient_is_autograds():
    """Today's design has no explicit formula: value_and_gradient is the autograd reference itself."""
    net = make_pooled()
    x = torch.randn(8, net.dim, generator=gen(1), dtype=torch.float64)
    for got, ref in zip(net.value_and_gradient(x), net.autograd_value_and_gradient(x)):
        torch.testing.assert_close(got, ref, rtol=0, atol=0)


@pytest.mark.parametrize("variant", ["1x8x8", "3x9x7, 2 downsamplings", "2x6x6, kernel 5, quadratic"])
def test_explicit_gradient_trains_like_double_backward(variant):
    """Parameter gradients of a loss of ψ and ∇ψ: one backward through the explicit formula equals autograd's
    double backward, for every parameter (the learnable γ included)."""
    options = dict(W2GN_VARIANTS[variant])
    options.setdefault("quadratic", 0.5)
    net = make_w2gn(options.pop("shape"), **options)
    x = torch.randn(8, net.dim, generator=gen(4), dtype=torch.float64)
    target = torch.randn(8, net.dim, generator=gen(5), dtype=torch.float64)

    def param_grads(fn):
        net.zero_grad()
        value, grad = fn(x)
        ((grad - target).square().sum() + value.sum()).backward()
        return {name: p.grad.clone() for name, p in net.named_parameters()}

    explicit, reference = param_grads(net.value_and_gradient), param_grads(net.autograd_value_and_gradient)
    assert "quadratic" in explicit and all(g.abs().sum() > 0 for g in explicit.values())
    for name in reference:
        torch.testing.assert_close(explicit[name], reference[name], rtol=1e-9, atol=1e-9, msg=name)


def test_w2gn_trains_alike_with_either_gradient_setting():
    """W2GN's losses with the explicit gradient and with autograd's double backward agree (float64)."""
    data = torch.rand(64, 2, 6, 6, generator=gen(12), dtype=torch.float64).reshape(64, -1)
    losses = []
    for explicit in (True, False):
        nets = [W2GNConvICNN((2, 6, 6), width=3, dense_widths=(6,), generator=gen(13), dtype=torch.float64)
                for _ in range(2)]
        solver = W2GN(forward_potential=nets[0], inverse_potential=nets[1], explicit_gradient=explicit, lr=1e-2)
        losses.append(solver.fit(data, data.flip(1), steps=4, batch_size=16, generator=gen(14)).history["loss"])
        assert all(float(w.detach().min()) >= 0 for w in nets[0].dense_weights)   # convexified after steps
    assert losses[0][0] != losses[0][-1]
    torch.testing.assert_close(torch.tensor(losses[0]), torch.tensor(losses[1]), rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------------------------- convexity
@pytest.mark.parametrize("design", DESIGNS)
def test_jensen_gap_is_nonnegative(design):
    net = DESIGNS[design]()
    gaps = jensen_gaps(net)
    assert gaps.abs().max() > 1e-2                          # far from affine
    assert gaps.min() >= -1e-10


def test_w2gn_jensen_gap_fails_without_convexify():
    net = make_w2gn(seed=2)
    scale = jensen_gaps(net).abs().max()
    with torch.no_grad():                                   # negative convex-block weights: not convex
        for w in (*net.conv_weights, *net.dense_weights):
            w.neg_()
    assert jensen_gaps(net).min() < -1e-3 * scale


@pytest.mark.parametrize("design", DESIGNS)
def test_hessian_is_psd_on_a_tiny_input(design):
    net = DESIGNS[design]((1, 4, 4), seed=3)
    x = torch.randn(16, generator=gen(3), dtype=torch.float64)
    h = hessian(lambda v: net(v.unsqueeze(0))[0])(x)
    assert h.shape == (16, 16)
    torch.testing.assert_close(h, h.T)
    # the Jacobian of the explicit gradient is the same matrix (the explicit path is differentiable in x)
    jac = torch.autograd.functional.jacobian(lambda v: net.value_and_gradient(v.unsqueeze(0))[1][0], x)
    torch.testing.assert_close(jac, h, rtol=1e-10, atol=1e-10)
    eig = torch.linalg.eigvalsh(h - float(net.beta.detach()) * torch.eye(16, dtype=torch.float64))
    assert eig.min() >= -1e-9 * eig.abs().max() and eig.max() > 1e-3


def test_convexify_clamps_exactly_the_convex_block():
    net = make_w2gn((2, 9, 9), quadratic=0.5)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen(6), dtype=p.dtype))
        net.quadratic.fill_(-0.25)
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    net.convexify()
    clamped = {f"conv_weights.{i}" for i in range(len(net.conv_weights))}
    clamped |= {f"dense_weights.{i}" for i in range(len(net.dense_weights))} | {"quadratic"}
    assert net.downsamplings == 2 and len(clamped) == 7
    for name, p in net.named_parameters():
        if name in clamped:
            torch.testing.assert_close(p, before[name].clamp(min=0), rtol=0, atol=0)
            assert float(before[name].min()) < 0
        else:                                               # input block and all biases untouched
            torch.testing.assert_close(p, before[name], rtol=0, atol=0, msg=name)
    gaps = jensen_gaps(net, seed=7)
    assert gaps.min() >= -1e-10 * gaps.abs().max()


# ---------------------------------------------------------------------------------------------- architecture and init
def test_paper_architecture_and_parameter_count():
    """At the paper's settings (3×128×128, width 128) the layers are those of the authors' ConvICNN128: 4+4 input
    convolutions, 5 stride-2 convolutions down to 4×4, dense 2048 → 128 → 64 → 32 → 1; the learnable γ is the one
    extra parameter."""
    net = W2GNConvICNN((3, 128, 128), learn_quadratic=True)
    assert net.downsamplings == 5 and net.flat_features == 128 * 4 * 4
    conv = lambda c_in, bias: c_in * 128 * 9 + (128 if bias else 0)  # noqa: E731
    paper = (conv(3, False) + 2 * conv(128, False) + conv(128, True)            # L: bias on the last only
             + conv(3, False) + 3 * conv(128, False)                            # S: no bias
             + 5 * conv(128, True)                                              # convex convolutions
             + (2048 * 128 + 128) + (128 * 64 + 64) + (64 * 32 + 32) + (32 + 1))  # dense layers
    assert sum(p.numel() for p in net.parameters()) == paper + 1


@pytest.mark.parametrize("shape, downsamplings", [((1, 8, 8), 1), ((1, 4, 4), 0), ((1, 9, 7), 1), ((3, 16, 16), 2),
                                                  ((1, 3, 64), 0), ((1, 33, 33), 4)])
def test_downsamplings_stop_when_a_side_is_at_most_four(shape, downsamplings):
    net = W2GNConvICNN(shape, width=2, dense_widths=())
    assert net.downsamplings == downsamplings


def test_identity_start_dtype_and_shapes():
    net = W2GNConvICNN((3, 8, 8), width=8, generator=gen(0))        # defaults: γ = 1, β = 1e-4, small weights
    assert net.dim == 192 and net.is_convex and abs(float(net.beta.detach()) - 1.0001) < 1e-6
    x = torch.rand(5, 192, generator=gen(1))
    value, grad = net.value_and_gradient(x)
    assert value.shape == (5,) and grad.shape == (5, 192) and grad.dtype == torch.float32
    assert (grad - x).abs().max() < 1e-2                             # ∇ψ starts near the identity map


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = W2GNConvICNN((1, 8, 8), width=4, generator=gen(7)), W2GNConvICNN((1, 8, 8), width=4, generator=gen(7))
    c, default = W2GNConvICNN((1, 8, 8), width=4, generator=gen(8)), W2GNConvICNN((1, 8, 8), width=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert not torch.equal(a.input_weights[0], c.input_weights[0])
    torch.testing.assert_close(default.input_weights[0], W2GNConvICNN((1, 8, 8), width=4).input_weights[0],
                               rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("shape", [(8, 8), (1, 0, 8), "1x8x8", (True, 8, 8)])
def test_bad_image_shape_is_an_input_error(shape):
    with pytest.raises(InvalidInputError, match="W2GNConvICNN: image_shape"):
        W2GNConvICNN(shape)


@pytest.mark.parametrize("kwargs, word", [
    ({"width": 0}, "width"), ({"width": 2.5}, "width"), ({"input_depth": 0}, "input_depth"),
    ({"dense_widths": (8, 0)}, "dense_widths"), ({"dense_widths": 8}, "dense_widths"),
    ({"downsamplings": -1}, "downsamplings"), ({"downsamplings": True}, "downsamplings"),
    ({"kernel_size": 4}, "kernel_size"), ({"activation": "relu"}, "activation"),
    ({"strong_convexity": -1.0}, "strong_convexity"), ({"quadratic_strength": float("inf")}, "quadratic_strength"),
    ({"init_scale": float("nan")}, "init_scale")])
def test_bad_options_are_input_errors(kwargs, word):
    with pytest.raises(InvalidInputError, match=word):
        W2GNConvICNN((1, 8, 8), **kwargs)


def test_wrong_input_shape_is_a_dimension_error():
    net = W2GNConvICNN((1, 8, 8), width=2)
    for bad in (torch.zeros(5, 63), torch.zeros(64), torch.zeros(2, 1, 8, 8)):
        with pytest.raises(DimensionMismatchError, match=r"W2GNConvICNN expects inputs of shape \(n, 64\)"):
            net.value_and_gradient(bad)


# ---------------------------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("learn_quadratic", [True, False])
def test_config_and_save_load_round_trip(tmp_path, learn_quadratic):
    options = dict(width=3, dense_widths=(5, 4), kernel_size=5, learn_quadratic=learn_quadratic, init_scale=1.0)
    forward = W2GNConvICNN((2, 6, 6), generator=gen(9), **options)
    inverse = W2GNConvICNN((2, 6, 6), generator=gen(10), **options)
    with torch.no_grad():
        forward.quadratic.fill_(0.6)                        # a trained γ, not the constructor's
        forward.dense_biases[0].add_(0.3)
    config = forward.config()
    assert config["downsamplings"] == 1 and build_network(config).config() == config
    result = W2Result(solver="w2gn", forward_potential=forward, inverse_potential=inverse, cost_estimate=1.0)
    loaded = W2Result.load(result.save(tmp_path / "run"))
    assert isinstance(loaded.forward_potential, W2GNConvICNN) and loaded.forward_potential.config() == config
    x = torch.rand(4, 72, generator=gen(11))
    torch.testing.assert_close(loaded.forward(x), result.forward(x))
    torch.testing.assert_close(loaded.inverse(x), result.inverse(x))
    assert abs(float(loaded.forward_potential.beta.detach()) - 0.6001) < 1e-6


# ---------------------------------------------------------------------------------------------- a W2GN fit
@pytest.fixture(scope="module")
def styles():
    """8×8 digits: thin-stroke sources, thick-stroke *other* digits, and the thick version of the sources."""
    from monge.apps.image2image import digit_styles

    thin, thick, _ = digit_styles(size=8, dilation=2)
    return thin[:200], thick[200:400], thick[:200]


@pytest.mark.parametrize("design, network, steps, lr", [
    ("w2gn", lambda: W2GNConvICNN((1, 8, 8), width=4, dense_widths=(16, 8), generator=gen(0)), 120, 1e-3),
    ("pooled-skips", lambda: ConvICNN((1, 8, 8), (4, 8), generator=gen(0)), 60, 1e-2)])
def test_w2gn_fit_improves_on_the_identity_map(styles, design, network, steps, lr):
    """A short W2GN fit (default lr 1e-3 for the paper's deeper design) beats the identity map: the mean mapped
    image halves its distance to the mean target image, and each mapped digit moves ≥ 25 % closer to the thick
    version of the same digit (never shown to the solver)."""
    from monge.apps.image2image import style_statistics

    source, target, truth = styles
    solver = W2GN(forward_potential=network(), inverse_potential=network(), lr=lr, cycle_weight=2.0,
                  explicit_gradient=design == "w2gn")
    result = solver.fit(source.flatten(1), target.flatten(1), steps=steps, batch_size=32, generator=gen(0))
    mapped = result.forward(source.flatten(1)).reshape(source.shape).clamp(0, 1)
    before, after = style_statistics(source, target), style_statistics(mapped, target)
    assert after["mean_image_distance"] <= 0.5 * before["mean_image_distance"]
    rms = lambda a, b: float((a - b).square().mean().sqrt())  # noqa: E731
    assert rms(mapped, truth) <= 0.75 * rms(source, truth)


def test_fit_image_map_builds_the_paper_design(styles):
    from monge.apps.image2image import fit_image_map

    source, target, _ = styles
    result = fit_image_map(source[:40], target[:40], steps=2, batch_size=8, generator=gen(0), design="w2gn",
                           width=2, dense_widths=(4,))
    assert isinstance(result.forward_potential, W2GNConvICNN) and result.settings["explicit_gradient"] is True
    assert result.forward_potential.width == 2
    with pytest.raises(InvalidInputError, match="design='pooled-skips' takes no width"):
        fit_image_map(source, target, steps=1, width=4)
    with pytest.raises(InvalidInputError, match="takes no channels"):
        fit_image_map(source, target, steps=1, design="w2gn", channels=(4,))
    with pytest.raises(InvalidInputError, match="design must be one of"):
        fit_image_map(source, target, steps=1, design="conv128")
