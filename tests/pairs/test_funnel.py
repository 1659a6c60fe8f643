"""The W1 MinFunnel benchmark pairs (Korotin, Kolesov, Burnaev, NeurIPS 2022) against the published files."""

from __future__ import annotations

import csv
import math

import numpy as np
import ot
import pytest
import torch
from helpers import shared_data

from monge.errors import CheckpointError, DimensionMismatchError, InvalidInputError
from monge.pairs import (W1BENCH_DIMS, W1BENCH_WIDTHS, FunnelPair, MinFunnel, W1BenchmarkPair, available_pairs,
                         describe_pair_families, make_pair)
from monge.samplers import UniformCube

DIMS = (2, 8, 32)
WIDTHS = (4, 16, 64, 256)
SHARED = [(d, w) for d in DIMS for w in WIDTHS]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def root():
    return shared_data("w1bench")


@pytest.fixture(scope="module")
def pairs(root):
    return {(d, w): FunnelPair.load(root, d, w, dtype=torch.float64) for d, w in SHARED}


@pytest.fixture(scope="module")
def reference(root):
    with open(root / "reference_w1.csv") as f:
        return {(int(r["dim"]), int(r["width"])): (float(r["w1_mean_100k"]), float(r["w1_standard_error"]))
                for r in csv.DictReader(f)}


@pytest.fixture(autouse=True)
def _one_thread():
    """The funnel computations are many small float64 element-wise kernels: on a busy 2-core machine the
    OpenMP barriers of a second thread cost more than they bring (10x slower measured), so use one."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _second_gap(pair: FunnelPair, x: torch.Tensor) -> torch.Tensor:
    """Gap between the two smallest funnel values at x (0 at a tie)."""
    vals = torch.cdist(x.double(), pair.centers) + pair.biases
    two = vals.topk(2, dim=1, largest=False).values if pair.width > 1 else torch.cat([vals, vals + math.inf], 1)
    return two[:, 1] - two[:, 0]


# ---------------------------------------------------------------------------- published pairs
def test_constants_and_listing(root):
    assert W1BENCH_DIMS == (2, 4, 8, 16, 32, 64, 128) and W1BENCH_WIDTHS == (4, 16, 64, 256)
    assert {"w1b-funnel:<dim:width>", "funnel:<dim:width[:degree]>"} <= set(available_pairs())
    listing = {row["prefix"]: row for row in describe_pair_families()}
    assert listing["w1b-funnel"]["needs_root"] and not listing["funnel"]["needs_root"]
    assert "NeurIPS 2022" in listing["w1b-funnel"]["description"]
    assert "justkolesov/Wasserstein1Benchmark" in listing["w1b-funnel"]["description"]
    pair = make_pair("w1b-funnel:8:64", root=root)
    assert isinstance(pair, FunnelPair) and isinstance(pair, W1BenchmarkPair)
    assert pair.name == "w1b-funnel:8:64" and pair.dim == 8 and pair.width == 64 and pair.degree == 8
    assert pair.has_ground_truth and pair.cost == "w1" and pair.half_side == 2.5
    assert pair.dtype == torch.float32 and pair.source.sample(5, gen(0)).dtype == torch.float32
    assert pair.target.sample(5, gen(0)).shape == (5, 8)
    # root may also be nd/ itself; the published file's values are loaded exactly
    same = make_pair("w1b-funnel:8:64", root=root / "nd", dtype=torch.float64)
    state = torch.load(root / "nd" / "dim_8" / "width_64" / "deg_8_seed_987.pt", weights_only=True)
    assert torch.equal(same.centers, state["net.centers"].double()) and torch.equal(same.biases, state["net.bias"].double())


@pytest.mark.parametrize("dim,width", SHARED)
def test_funnel_identity_on_published_pairs(dim, width, pairs):
    pair = pairs[(dim, width)]
    x, y = pair.plan(3000, gen(dim * 1000 + width))
    assert x.dtype == torch.float64 and y.shape == x.shape
    moved = (x - y).norm(dim=1)
    drop = pair.funnel.value(x) - pair.funnel.value(y)
    assert float((drop - moved).abs().max()) < 1e-5
    assert float(moved.mean()) > 0.1 and float(x.abs().max()) <= 2.5
    # f* = −u gains exactly ‖x − T(x)‖ on every pair of the plan
    gain = pair.true_critic(y) - pair.true_critic(x)
    assert float((gain - moved).abs().max()) < 1e-5


@pytest.mark.parametrize("dim,width", [(2, 4), (2, 256), (8, 16), (32, 64)])
def test_ray_end_is_where_the_cell_or_the_cube_ends(dim, width, pairs):
    pair = pairs[(dim, width)]
    x = pair.source.sample(2000, gen(7))
    low, up = pair.funnel.ray_end(x)
    centre_idx = pair.funnel.index(x)
    assert torch.equal(low, pair.centers[centre_idx])
    assert float(up.abs().max()) <= 2.5 + 1e-9
    # funnel a is still minimal at up, and up is on the cube boundary or on the boundary of a's cell
    u_up = pair.funnel.value(up)
    own = (up - low).norm(dim=1) + pair.biases[centre_idx]
    assert float((u_up - own).abs().max()) < 1e-9
    on_cube = (up.abs().max(dim=1).values - 2.5).abs() < 1e-9
    on_cell = _second_gap(pair, up) < 1e-7
    assert bool((on_cube | on_cell).all())
    # x lies on the segment [a, up]
    t = (x - low).norm(dim=1) / (up - low).norm(dim=1)
    assert float((low + t[:, None] * (up - low) - x).abs().max()) < 1e-9 and bool((t <= 1 + 1e-12).all())


@pytest.mark.parametrize("dim,width", SHARED)
def test_paired_samples_are_an_exact_discrete_optimal_plan(dim, width, pairs):
    x, y = pairs[(dim, width)].plan(300, gen(dim + width))
    cost = torch.cdist(x, y).numpy()
    w = np.full(300, 1.0 / 300)
    plan = ot.emd(w, w, cost, numItermax=1_000_000)
    assert np.array_equal(plan.argmax(axis=1), np.arange(300))
    assert abs(float((plan * cost).sum()) - float(np.diag(cost).mean())) < 1e-10
    # while an independent draw of y is not matched to x by the identity
    y2 = pairs[(dim, width)].target.sample(300, gen(1))
    assert float(torch.cdist(x, y2).diagonal().mean()) > float(np.diag(cost).mean())


def test_true_w1_matches_the_reference_for_every_shared_pair(pairs, reference):
    assert set(reference) == set(SHARED)
    for key in SHARED:
        pair = pairs[key]
        mean, se = reference[key]
        assert pair.true_w1_stderr == pytest.approx(se, rel=0.2), key
        assert abs(pair.true_w1 - mean) <= 3 * math.hypot(pair.true_w1_stderr, se), (key, pair.true_w1, mean)


def test_published_true_row_agrees_with_true_w1(root, pairs):
    for dim, width in SHARED:
        file = root / "metrics_nd" / f"dim_{dim}" / f"width_{width}" / "metrics_deg_8_seed_2.csv"
        with open(file) as f:
            rows = {r[""]: r for r in csv.DictReader(f)}
        assert {"true", "dot", "wgan-gp"} <= set(rows)
        published = float(rows["true"]["cost"])
        pair = pairs[(dim, width)]
        std = pair.true_w1_stderr * math.sqrt(pair.w1_samples)
        # the published value is a 4096-sample estimate
        assert abs(published - pair.true_w1) <= 4 * std / math.sqrt(4096), (dim, width, published, pair.true_w1)
        assert float(rows["true"]["cos"]) == 1.0 and float(rows["true"]["l2"]) == 0.0


def test_true_w1_is_cached_and_leaves_global_rngs_alone():
    np_state = np.random.get_state()[1].copy()
    torch_state = torch.get_rng_state().clone()
    pair = FunnelPair.generate(3, 5, seed=11)
    first = pair.true_w1
    assert pair.true_w1 == first and math.isfinite(pair.true_w1_stderr) and pair.true_w1_stderr > 0
    # a fresh pair with the same construction gives the same number (fixed private seed)
    assert FunnelPair.generate(3, 5, seed=11).true_w1 == first
    pair.plan(10, gen(0))
    pair.target.sample(10, gen(0))
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)


# ---------------------------------------------------------------------------- the critic
@pytest.mark.parametrize("dim,width", [(2, 16), (8, 64), (32, 256)])
def test_true_critic_is_1_lipschitz_and_attains_w1(dim, width, pairs):
    pair = pairs[(dim, width)]
    a = 3.0 * (2 * torch.rand(4000, dim, generator=gen(1), dtype=torch.float64) - 1)
    b = a + torch.randn(4000, dim, generator=gen(2), dtype=torch.float64) * torch.rand(4000, 1, generator=gen(3))
    ratio = (pair.true_critic(a) - pair.true_critic(b)).abs() / (a - b).norm(dim=1)
    assert float(ratio.max()) <= 1 + 1e-12
    # along the gradient the slope is 1 (short steps stay inside one funnel's cell)
    steep = a + 1e-4 * pair.true_gradient(a)
    slope = (pair.true_critic(steep) - pair.true_critic(a)) / 1e-4
    assert float(slope.max()) <= 1 + 1e-9 and float(slope.median()) > 1 - 1e-9
    g = gen(5)
    x, y = pair.source.sample(20000, g), pair.target.sample(20000, g)
    fx, fy = pair.true_critic(x), pair.true_critic(y)
    dual = float(fy.mean() - fx.mean())
    se = math.sqrt(float(fx.var() + fy.var()) / 20000)
    assert abs(dual - pair.true_w1) < 4 * se + 4 * pair.true_w1_stderr


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_true_gradient_is_unit_and_matches_autograd(dtype, pairs):
    pair = FunnelPair(pairs[(8, 16)].centers, pairs[(8, 16)].biases, dtype=dtype)
    y = pair.target.sample(3000, gen(4))
    grad = pair.true_gradient(y)
    assert grad.shape == y.shape and grad.dtype == dtype
    assert float((grad.double().norm(dim=1) - 1).abs().max()) < 1e-5
    yy = y.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(pair.true_critic(yy).sum(), yy)
    away = _second_gap(pair, y) > 1e-6
    assert int(away.sum()) > 2900
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    assert float((auto[away] - grad[away]).abs().max()) < tol
    # ∇f* points from where the mass came from to where it arrived: along T(x) − x
    x, t = pair.plan(500, gen(9))
    direction = (t - x).double()
    direction = direction / direction.norm(dim=1, keepdim=True)
    assert float((pair.true_gradient(t).double() * direction).sum(dim=1).min()) > 1 - 1e-4


def test_centre_points_do_not_produce_nan(pairs):
    pair = pairs[(2, 4)]
    own = pair.funnel.index(pair.centers) == torch.arange(pair.width)
    assert bool(own.any())
    centres = pair.centers[own]
    assert torch.equal(pair.true_map(centres), centres)
    assert torch.equal(pair.true_gradient(centres), torch.zeros_like(centres))
    assert torch.equal(pair.true_critic(centres), -pair.biases[own])
    lows, ups = pair.funnel.ray_end(centres)
    assert torch.equal(lows, centres) and torch.equal(ups, centres)


# ---------------------------------------------------------------------------- generated pairs
def test_generated_pairs_are_seeded():
    a, b = FunnelPair.generate(4, 8, seed=3), FunnelPair.generate(4, 8, seed=3)
    c = FunnelPair.generate(4, 8, seed=4)
    assert torch.equal(a.centers, b.centers) and torch.equal(a.biases, b.biases)
    assert not torch.equal(a.centers, c.centers)
    assert float(a.centers.abs().max()) <= 2.5 and a.centers.shape == (8, 4) and a.biases.shape == (8,)
    spec = make_pair("funnel:4:8", seed=3)
    assert torch.equal(spec.centers, a.centers) and spec.name == "funnel:4:8" and spec.seed == 3
    assert not torch.equal(make_pair("funnel:4:8", seed=5).centers, a.centers)
    # biases are 0.1·N(0, 1): check the scale on a wide pair
    wide = FunnelPair.generate(2, 4000, seed=0)
    assert 0.09 < float(wide.biases.std()) < 0.11 and abs(float(wide.biases.mean())) < 0.01
    assert 2.4 < float(wide.centers.abs().max()) <= 2.5


@pytest.mark.parametrize("dim,width,degree", [(1, 1, 1), (3, 5, 2), (16, 32, 8), (64, 7, 3.5), (5, 300, 8)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_generated_pairs_any_shape(dim, width, degree, dtype):
    spec = f"funnel:{dim}:{width}" + ("" if degree == 8 else f":{degree}")
    pair = make_pair(spec, seed=2, dtype=dtype)
    pair.w1_samples = 20_000  # keep the test fast
    assert pair.name == spec and pair.degree == degree and pair.dim == dim and pair.width == width
    x, y = pair.plan(2000, gen(0))
    assert x.dtype == dtype and y.dtype == dtype and y.shape == (2000, dim)
    x64, y64 = x.double(), y.double()
    moved = (x64 - y64).norm(dim=1)
    drop = pair.funnel.value(x64) - pair.funnel.value(y64)
    assert float((drop - moved).abs().max()) < 1e-5
    assert pair.target.sample(3, gen(0)).dtype == dtype and math.isfinite(pair.true_w1)
    if degree == 1:
        assert float(moved.max()) < 1e-12 and pair.true_w1 < 1e-12  # t^1 = t: T is the identity
    else:
        assert float(moved.mean()) > 0.01 and pair.true_w1 > 0.01


def test_higher_degree_moves_further():
    w1 = [FunnelPair.generate(4, 6, degree=p, seed=1).true_w1 for p in (2, 8)]
    assert w1[0] < w1[1]


def test_uniform_cube_sampler():
    cube = UniformCube(3, 2.5, dtype=torch.float64)
    x = cube.sample(50000, gen(0))
    assert x.shape == (50000, 3) and x.dtype == torch.float64
    assert float(x.abs().max()) <= 2.5 and float(x.abs().max()) > 2.49
    assert float(x.mean(dim=0).abs().max()) < 0.05
    assert float((x.var(dim=0) - 2.5**2 / 3).abs().max()) < 0.05
    assert torch.equal(cube.sample(7, gen(1)), cube.sample(7, gen(1)))
    assert UniformCube(2).sample(4, gen(0)).dtype == torch.float32
    with pytest.raises(InvalidInputError, match="half_side"):
        UniformCube(2, 0.0)
    with pytest.raises(InvalidInputError, match="dim"):
        UniformCube(0)


# ---------------------------------------------------------------------------- bad input
def test_bad_samples_are_named():
    pair = FunnelPair.generate(3, 4, seed=0)
    for method in (pair.true_critic, pair.true_gradient, pair.true_map):
        with pytest.raises(DimensionMismatchError, match="expected dimension 3, got 2"):
            method(torch.zeros(4, 2))
        with pytest.raises(InvalidInputError, match="NaN or inf"):
            method(torch.tensor([[0.0, float("nan"), 0.0]]))
        with pytest.raises(InvalidInputError, match="empty"):
            method(torch.zeros(0, 3))
    with pytest.raises(InvalidInputError, match="centers: contains NaN"):
        MinFunnel(torch.tensor([[float("nan"), 0.0]]), torch.zeros(1))
    with pytest.raises(InvalidInputError, match="biases: expected 2 values"):
        MinFunnel(torch.zeros(2, 3), torch.zeros(3))
    with pytest.raises(InvalidInputError, match="degree must be a number >= 1"):
        FunnelPair(torch.zeros(2, 3), torch.zeros(2), degree=0.5)
    with pytest.raises(InvalidInputError, match="width must be a positive integer"):
        FunnelPair.generate(3, 0)


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def test_bad_files_raise_checkpoint_errors(tmp_path):
    file = tmp_path / "nd" / "dim_3" / "width_2" / "deg_8_seed_987.pt"
    with pytest.raises(CheckpointError, match=r"deg_8_seed_987\.pt: missing"):
        FunnelPair.load(tmp_path, 3, 2)
    with pytest.raises(CheckpointError, match=r"published pairs exist for D in \[2, 4, 8"):
        FunnelPair.load(tmp_path, 3, 2)
    file.parent.mkdir(parents=True)
    file.write_bytes(b"this is not a torch file \x00\x01\x02")
    with pytest.raises(CheckpointError, match=r"deg_8_seed_987\.pt: corrupt"):
        FunnelPair.load(tmp_path, 3, 2)
    _write(file, {"centers": torch.zeros(2, 3), "net.bias": torch.zeros(2)})
    with pytest.raises(CheckpointError, match=r"missing \['net.centers'\], unexpected \['centers'\]"):
        FunnelPair.load(tmp_path, 3, 2)
    _write(file, {"net.centers": torch.zeros(3, 2), "net.bias": torch.zeros(2)})
    with pytest.raises(CheckpointError, match=r"net.centers has shape \(3, 2\), expected \(2, 3\)"):
        FunnelPair.load(tmp_path, 3, 2)
    _write(file, {"net.centers": torch.zeros(2, 3), "net.bias": torch.zeros(3)})
    with pytest.raises(CheckpointError, match=r"net.bias has shape \(3,\), expected \(2,\)"):
        FunnelPair.load(tmp_path, 3, 2)
    _write(file, {"net.centers": torch.tensor([[0.0, float("nan"), 0.0], [1.0, 1.0, 1.0]]), "net.bias": torch.zeros(2)})
    with pytest.raises(CheckpointError, match="net.centers holds NaN or inf"):
        FunnelPair.load(tmp_path, 3, 2)
    _write(file, [1, 2, 3])
    with pytest.raises(CheckpointError, match="expected a state dict"):
        FunnelPair.load(tmp_path, 3, 2)
    good = {"net.centers": torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]), "net.bias": torch.tensor([0.0, 0.1])}
    _write(file, good)
    pair = make_pair("w1b-funnel:3:2", root=tmp_path, dtype=torch.float64)
    assert pair.name == "w1b-funnel:3:2" and torch.equal(pair.centers, good["net.centers"].double())
    with pytest.raises(InvalidInputError, match="not a directory"):
        FunnelPair.load(tmp_path / "nope", 3, 2)


@pytest.mark.parametrize(
    "spec,match",
    [
        ("funnel:abc", r"dim must be a positive integer, got 'abc'"),
        ("funnel:2", r"missing <width> \(expected 'funnel:<dim>:<width>\[:<degree>\]'\)"),
        ("funnel:2:0", r"width must be a positive integer, got '0'"),
        ("funnel:2:4:0.5", r"degree must be a number >= 1, got '0.5'"),
        ("funnel:2:4:x", r"degree must be a number >= 1, got 'x'"),
        ("funnel:2:4:8:1", r"too many fields"),
        ("funnel:", r"missing argument after 'funnel:'"),
        ("w1b-funnel:8:64", r"pass root= \(CLI: --pair-root PATH\)"),
    ],
)
def test_malformed_specs(spec, match):
    with pytest.raises(InvalidInputError, match=match):
        make_pair(spec)


def test_malformed_published_specs(tmp_path):
    with pytest.raises(InvalidInputError, match=r"missing <width> \(expected 'w1b-funnel:<dim>:<width>'\)"):
        make_pair("w1b-funnel:8", root=tmp_path)
    with pytest.raises(InvalidInputError, match=r"too many fields"):
        make_pair("w1b-funnel:8:64:8", root=tmp_path)
    with pytest.raises(CheckpointError, match=r"dim_8.width_64.deg_8_seed_987\.pt: missing"):
        make_pair("w1b-funnel:8:64", root=tmp_path)
