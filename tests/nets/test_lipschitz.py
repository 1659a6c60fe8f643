"""GroupSort and LipschitzMLP: sorting, Lipschitz bounds, persistence, dtypes and config errors."""

from __future__ import annotations

import json

import pytest
import torch

from monge.errors import DimensionMismatchError, InvalidInputError
from monge.nets import NETWORKS, GroupSort, LipschitzMLP, build_network


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def naive_group_sort(x: torch.Tensor, group_size: int) -> torch.Tensor:
    out = x.clone()
    for row in range(x.shape[0]):
        for start in range(0, x.shape[1], group_size):
            out[row, start:start + group_size] = torch.tensor(sorted(x[row, start:start + group_size].tolist()),
                                                              dtype=x.dtype)
    return out


def rebuild(net: LipschitzMLP) -> LipschitzMLP:
    """The save/load path of the results: JSON config → build_network → load_state_dict."""
    copy = build_network(json.loads(json.dumps(net.config())))
    copy.load_state_dict(net.state_dict())
    return copy


# ---------------------------------------------------------------------------------------- GroupSort
@pytest.mark.parametrize("group_size", [2, 3, 6])
def test_group_sort_matches_a_naive_sort(group_size):
    x = torch.randn(5, 12, generator=gen(1), dtype=torch.float64)
    out = GroupSort(group_size)(x)
    assert torch.equal(out, naive_group_sort(x, group_size))
    assert torch.equal(out.sort(dim=1).values, x.sort(dim=1).values)      # a permutation of each row


def test_maxmin_is_min_then_max_of_each_pair_and_works_on_extra_leading_dims():
    x = torch.tensor([[3.0, -1.0, 0.5, 2.0]])
    assert torch.equal(GroupSort(2)(x), torch.tensor([[-1.0, 3.0, 0.5, 2.0]]))
    batch = torch.randn(2, 3, 4, generator=gen(2))
    assert torch.equal(GroupSort(2)(batch).reshape(6, 4), GroupSort(2)(batch.reshape(6, 4)))


def test_group_sort_gradient_is_a_permutation():
    x = torch.randn(4, 6, generator=gen(3), dtype=torch.float64, requires_grad=True)
    weights = torch.randn(4, 6, generator=gen(4), dtype=torch.float64)
    (grad,) = torch.autograd.grad((GroupSort(3)(x) * weights).sum(), x)
    # within each group the gradient is a permutation of the output weights
    assert torch.equal(grad.reshape(4, 2, 3).sort(-1).values, weights.reshape(4, 2, 3).sort(-1).values)


def test_group_sort_errors():
    with pytest.raises(InvalidInputError, match="not divisible by group_size 4"):
        GroupSort(4)(torch.randn(3, 6))
    for bad in (1, 0, 2.0, True, "2"):
        with pytest.raises(InvalidInputError, match="group_size"):
            GroupSort(bad)


# ---------------------------------------------------------------------------------------- LipschitzMLP
def make(constraint: str, activation: str = "groupsort", *, dtype=torch.float64, seed: int = 0,
         hidden=(16, 16, 8)) -> LipschitzMLP:
    return LipschitzMLP(4, list(hidden), constraint=constraint, activation=activation, generator=gen(seed),
                        dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("constraint", ["orthogonal", "spectral", "none"])
def test_shapes_dtypes_and_registration(constraint, dtype):
    net = make(constraint, dtype=dtype)
    x = torch.randn(7, 4, generator=gen(1), dtype=dtype)
    value, grad = net.value_and_gradient(x)
    assert net(x).shape == (7,) and value.shape == (7,) and grad.shape == (7, 4)
    assert value.dtype == grad.dtype == dtype and all(p.dtype == dtype for p in net.parameters())
    assert all(b.dtype == dtype for b in net.buffers())
    assert NETWORKS["LipschitzMLP"] is LipschitzMLP and not net.is_convex
    with pytest.raises(DimensionMismatchError):
        net(torch.randn(3, 5, dtype=dtype))


def test_orthogonal_weights_are_semi_orthogonal():
    net = make("orthogonal", hidden=(16, 16, 2))          # tall, square, wide and 1×2 weights
    for weight in net.effective_weights():
        small = min(weight.shape)
        gram = weight @ weight.mT if weight.shape[0] == small else weight.mT @ weight
        assert torch.allclose(gram, torch.eye(small, dtype=weight.dtype), atol=1e-10)


@pytest.mark.parametrize("activation", ["groupsort", "relu", "tanh"])
def test_orthogonal_networks_are_1_lipschitz(activation):
    net = make("orthogonal", activation, dtype=torch.float32)
    assert net.lipschitz_bound() <= 1 + 1e-5
    x = 3 * torch.randn(2000, 4, generator=gen(5))
    assert net.gradient(x).norm(dim=1).max() <= 1 + 1e-4


def test_groupsort_with_orthogonal_non_widening_layers_preserves_the_gradient_norm():
    net = LipschitzMLP(8, [8, 8, 4], generator=gen(0), dtype=torch.float64)
    norms = net.gradient(torch.randn(500, 8, generator=gen(6), dtype=torch.float64)).norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-10)


@pytest.mark.parametrize("activation", ["groupsort", "relu"])
def test_spectral_networks_are_1_lipschitz_after_enough_power_iterations(activation):
    # σ̂ = uᵀWv ≤ σ, so W/σ̂ has norm ≥ 1 until the power method converges: the bound is approximate. For
    # these small Gaussian-initialised layers 200 iterations bring every ‖W/σ̂‖ to 1 within 1e-4.
    net = make("spectral", activation, dtype=torch.float32)
    net.update_spectral_norms(200)
    net.eval()
    norms = [float(torch.linalg.matrix_norm(w.double(), ord=2)) for w in net.effective_weights()]
    assert max(norms) <= 1 + 1e-4 and min(norms) >= 1 - 1e-4          # each layer normalised to 1
    assert net.lipschitz_bound() <= 1 + 1e-4
    x = 3 * torch.randn(2000, 4, generator=gen(5))
    assert net.gradient(x).norm(dim=1).max() <= 1 + 1e-4


def test_unconstrained_network_is_not_bounded():
    net = make("none", "relu")
    with torch.no_grad():
        for layer in net.linear_layers():
            layer.weight.mul_(10)
    assert net.lipschitz_bound() > 10


def test_spectral_training_mode_runs_power_iterations_and_eval_mode_does_not():
    net = make("spectral", dtype=torch.float32)
    x = torch.randn(5, 4, generator=gen(1))
    u = net.net[0].parametrizations.weight[0]._u.clone()
    net.eval()
    first = net(x)
    assert torch.equal(net(x), first) and torch.equal(net.net[0].parametrizations.weight[0]._u, u)
    net.train()
    net(x)
    assert not torch.equal(net.net[0].parametrizations.weight[0]._u, u)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("constraint,activation", [("orthogonal", "groupsort"), ("spectral", "relu"),
                                                   ("spectral", "groupsort"), ("none", "relu")])
def test_save_load_round_trip_gives_identical_outputs(constraint, activation, training):
    net = make(constraint, activation, dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(3):                                   # move away from the initialisation
        loss = net(torch.randn(32, 4, generator=gen(9))).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.train(training)
    x = torch.randn(50, 4, generator=gen(2))
    copy = rebuild(net)
    assert copy.training == training and copy.config() == net.config()
    assert list(copy.state_dict()) == list(net.state_dict())
    assert torch.equal(copy(x), net(x))                  # in training mode both take the same power step
    assert torch.equal(copy.gradient(x), net.gradient(x))
    if constraint == "spectral":
        assert {k for k in net.state_dict() if k.endswith(("_u", "_v"))}


def test_seeded_initialisation_is_reproducible_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    for constraint in ("orthogonal", "spectral", "none"):
        a, b = make(constraint, seed=3), make(constraint, seed=3)
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
        c = make(constraint, seed=4)
        assert not torch.equal(a(torch.ones(1, 4, dtype=torch.float64)), c(torch.ones(1, 4, dtype=torch.float64)))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_update_spectral_norms_recovers_from_non_finite_vectors():
    net = make("spectral", "relu")
    net.net[0].parametrizations.weight[0]._u.fill_(float("nan"))
    net.update_spectral_norms(100)
    net.eval()
    assert torch.isfinite(net(torch.randn(3, 4, dtype=torch.float64))).all()
    assert net.lipschitz_bound() <= 1 + 1e-4
    make("orthogonal").update_spectral_norms()            # no-op for the other constraints


def test_deepcopy_works():
    import copy

    net = make("orthogonal")
    x = torch.randn(4, 4, dtype=torch.float64)
    assert torch.equal(copy.deepcopy(net)(x), net(x))


@pytest.mark.parametrize("kwargs,match", [
    ({"constraint": "lipschitz"}, "constraint"),
    ({"activation": "silu"}, "activation"),
    ({"group_size": 1}, "group_size"),
    ({"group_size": 3}, "divisible by group_size 3"),
    ({"n_power_iterations": 0}, "n_power_iterations"),
    ({"hidden_sizes": [16, 0]}, "hidden_sizes"),
    ({"hidden_sizes": [16, 2.5]}, "hidden_sizes"),
    ({"hidden_sizes": 16}, "hidden_sizes"),
    ({"dim": 0}, "dim"),
    ({"training": "yes"}, "training"),
])
def test_bad_config_raises_invalid_input(kwargs, match):
    options = {"dim": 4, "hidden_sizes": [16, 8], **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        LipschitzMLP(options.pop("dim"), options.pop("hidden_sizes"), **options)


def test_group_size_needs_divisibility_only_with_groupsort_and_empty_hidden_sizes_is_affine():
    LipschitzMLP(4, [15], activation="relu", group_size=4)
    net = LipschitzMLP(4, [], constraint="orthogonal", generator=gen(0), dtype=torch.float64)
    grad = net.gradient(torch.randn(5, 4, dtype=torch.float64))
    assert torch.allclose(grad.norm(dim=1), torch.ones(5, dtype=torch.float64))
