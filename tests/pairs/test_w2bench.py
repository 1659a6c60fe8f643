"""The published Mix3toMix10 W2 benchmark pairs against the reference vectors of the original code."""

from __future__ import annotations

import math
import pickle
import shutil

import numpy as np
import pytest
import torch
from helpers import shared_data

from monge.errors import CheckpointError, InvalidInputError
from monge.metrics.w2 import l2_uvp
from monge.pairs import Mix3toMix10Pair, make_pair
from monge.pairs.w2bench import mixture_parameters

DIMS = (2, 8, 32)
# Published linear-baseline forward L2-UVP (%), reproduced by the original code on 4096 fresh samples.
PUBLISHED_LINEAR_UVP = {2: 14.04, 8: 26.89, 32: 54.72}


@pytest.fixture(scope="module")
def root():
    return shared_data("w2bench")


@pytest.fixture(scope="module")
def reference(root):
    return {d: dict(np.load(root / "reference" / f"{d}.npz")) for d in DIMS}


@pytest.fixture(scope="module")
def ref_pairs(root, reference):
    """Pairs built with the published constants (shift = −m, scale = s of the original code)."""
    return {d: Mix3toMix10Pair(d, root, shift=reference[d]["potential_shift"], scale=reference[d]["potential_scale"])
            for d in DIMS}


@pytest.fixture(scope="module")
def est_pairs(root):
    """Pairs with monge's own Monte-Carlo estimates of the constants (2^14 samples, seed 0)."""
    return {d: Mix3toMix10Pair(d, root) for d in DIMS}


def _per_point_rel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.double(), b.double()
    return (a - b).norm(dim=1) / b.norm(dim=1)


@pytest.mark.parametrize("dim", DIMS)
def test_mixture_parameters_match_reference(dim, reference):
    np_state = np.random.get_state()[1].copy()
    torch_state = torch.get_rng_state().clone()
    centers, maps = mixture_parameters(dim)
    assert np.abs(centers - reference[dim]["mix_centers"]).max() < 1e-6
    assert np.abs(maps - reference[dim]["mix_maps"]).max() < 1e-6
    # the analytic input covariance (component covariance 0.16·A_k A_kᵀ: samples c_k + 0.4·A_k z)
    pair_cov = np.cov(reference[dim]["X"].astype(np.float64), rowvar=False)
    assert np.abs(pair_cov - reference[dim]["input_cov_analytic"]).max() < 0.15
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_global_rngs_untouched(root):
    np_state = np.random.get_state()[1].copy()
    torch_state = torch.get_rng_state().clone()
    pair = Mix3toMix10Pair(2, root, estimate_samples=256)
    pair.true_forward(torch.zeros(3, 2))
    pair.baseline("linear")
    assert math.isfinite(pair.true_cost)
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)


@pytest.mark.parametrize("dim", DIMS)
def test_source_moments_exact(dim, ref_pairs, reference):
    pair = ref_pairs[dim]
    ms, cs, _, _ = pair._moments()
    assert np.abs(cs - reference[dim]["input_cov_analytic"]).max() < 1e-6
    assert np.abs(ms).max() < 1e-12
    assert pair.source_variance == pytest.approx(dim, rel=1e-9)


@pytest.mark.parametrize("dim", DIMS)
def test_true_map_with_reference_constants(dim, ref_pairs, reference):
    x, y = torch.from_numpy(reference[dim]["X"]), torch.from_numpy(reference[dim]["Y"])
    rel = _per_point_rel(ref_pairs[dim].true_forward(x), y)
    assert float(rel.max()) < 1e-3  # measured: ~1e-6 (float32 round-off)
    rel64 = _per_point_rel(ref_pairs[dim].true_forward(x.double()), y)
    assert float(rel64.max()) < 1e-3


@pytest.mark.parametrize("dim", DIMS)
def test_estimated_constants_within_monte_carlo_error(dim, est_pairs, reference):
    pair = est_pairs[dim]
    se_shift, se_scale = pair.estimate_stderr["shift"], pair.estimate_stderr["scale"]
    ref_shift = torch.from_numpy(reference[dim]["potential_shift"]).double()
    ref_scale = float(reference[dim]["potential_scale"])
    # Both ours and the published values are 2^14-sample estimates with (about) the same standard error,
    # so their difference has standard error √2·se. Bounds: 4.5 for the max over D coordinates, 4 for s.
    z_shift = ((pair.shift - ref_shift).abs() / (math.sqrt(2) * se_shift)).max()
    z_scale = abs(pair.scale - ref_scale) / (math.sqrt(2) * se_scale)
    assert float(z_shift) < 4.5
    assert z_scale < 4.0

    # Map error implied by the constants: Y' − Y = (s'/s − 1)·Y + s'·(shift' − shift) for every point,
    # so the RMS relative error is at most |Δs|/s + s'·‖Δshift‖/rms‖Y‖. With |Δs| ≤ 4·√2·se_s and
    # ‖Δshift‖ ≤ 4·√2·‖se_shift‖ (4 standard errors of the difference) this gives the tolerance below.
    x, y = torch.from_numpy(reference[dim]["X"]).double(), torch.from_numpy(reference[dim]["Y"]).double()
    mapped = pair.true_forward(x)
    rms_y = float(y.square().sum(dim=1).mean().sqrt())
    tol = 4 * math.sqrt(2) * (se_scale / ref_scale + pair.scale * float(se_shift.norm()) / rms_y)
    rms_rel = float((mapped - y).square().sum(dim=1).mean().sqrt()) / rms_y
    assert rms_rel < tol, (rms_rel, tol)
    # per point (reported; measured max ≈ 0.06–0.07, points near T(x) = 0 have the largest ratio)
    print(f"D={dim}: estimated constants: per-point relative error max {float(_per_point_rel(mapped, y).max()):.3g}, "
          f"RMS {rms_rel:.3g} (tolerance {tol:.3g})")


@pytest.mark.parametrize("dim", DIMS)
def test_linear_baseline_l2_uvp(dim, ref_pairs, reference):
    pair = ref_pairs[dim]
    x, y = torch.from_numpy(reference[dim]["X"]), torch.from_numpy(reference[dim]["Y"])
    err = (pair.baseline("linear")(x).double() - y.double()).square().sum(dim=1)
    uvp = l2_uvp(pair.baseline("linear")(x), y, pair.target_variance)
    # 1) Against the original code's own Bures map (npz linear_fwd_W/b) on the same X, Y and Var(Q):
    #    only the moment estimates differ (ours: exact source moments, 2^16 target samples).
    w, b = (torch.from_numpy(reference[dim][k]).double() for k in ("linear_fwd_W", "linear_fwd_b"))
    ref_uvp = l2_uvp(x.double() @ w.T + b, y, pair.target_variance)
    assert abs(uvp - ref_uvp) < 0.3, (uvp, ref_uvp)
    # 2) Against the published number, measured on 4096 *other* samples: the difference of two
    #    independent 4096-sample estimates has standard error √2·sd(err)/√4096 (scaled to %); allow
    #    max(0.3, 4 such standard errors). At D = 32 it is ≈0.46 %, and even the original code's map on
    #    these X, Y gives 56.1 % vs the published 54.72 %, so the 0.3 bound cannot hold there.
    se = 100 * math.sqrt(2) * float(err.std()) / math.sqrt(err.numel()) / pair.target_variance
    assert abs(uvp - PUBLISHED_LINEAR_UVP[dim]) < max(0.3, 4 * se), (uvp, se)


@pytest.mark.parametrize("dim", DIMS)
def test_target_statistics(dim, ref_pairs, reference):
    pair = ref_pairs[dim]
    # 2^16-sample estimates vs the original code's cost_2p16 and output variance (2^16 vs its own sample).
    assert pair.true_cost == pytest.approx(float(reference[dim]["cost_2p16"]), rel=0.02)
    assert pair.target_variance == pytest.approx(float(reference[dim]["output_var"]), rel=0.03)
    assert pair.target.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, dim)


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("dtype", (torch.float32, torch.float64))
def test_true_inverse_round_trip(dim, dtype, ref_pairs):
    pytest.importorskip("monge.conjugate")
    import warnings

    pair = ref_pairs[dim]
    x = pair.source.sample(128, generator=torch.Generator().manual_seed(3)).to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every point must converge
        back = pair.true_inverse(pair.true_forward(x))
    assert back.dtype == dtype
    # ψ* is μ-strongly convex with μ ≥ 2·s·1e-2 ≥ 0.01 (two ICNNs with strong convexity 1e-2, scale
    # s ≥ 0.5), so ‖x̂ − x‖ ≤ ‖∇ψ*(x̂) − y‖/μ ≤ 1e-6/0.01 = 1e-4 at the solver's residual tolerance, plus
    # float32 rounding of y (~1e-7·‖y‖/μ ≲ 1e-4). Measured: ≤ 1e-5.
    assert float((back.double() - x.double()).norm(dim=1).max()) < 1e-3


def test_the_inverse_of_drawn_target_samples_is_their_source_draw(ref_pairs):
    pair = ref_pairs[DIMS[-1]]
    y = pair.target.sample(64, generator=torch.Generator().manual_seed(4))
    x = pair.source.sample(64, generator=torch.Generator().manual_seed(4))
    assert torch.equal(pair.true_inverse(y), x)
    solved = pair.true_inverse(y, batch_size=64)                           # the conjugate solve agrees
    assert float((solved.double() - x.double()).norm(dim=1).max()) < 1e-3
    copy = pickle.loads(pickle.dumps(pair))                                # the remembering sampler pickles
    assert torch.equal(copy.true_inverse(y), x)


def test_root_forms_and_errors(root, tmp_path):
    a = Mix3toMix10Pair(2, root, estimate_samples=128)
    b = Mix3toMix10Pair(2, root / "Mix3toMix10", estimate_samples=128)
    assert a.folder == b.folder
    with pytest.raises(InvalidInputError, match="not a directory"):
        Mix3toMix10Pair(2, tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match=r"Mix3toMix10/2_v1\.pt: missing"):
        Mix3toMix10Pair(2, tmp_path)
    folder = tmp_path / "Mix3toMix10"
    folder.mkdir()
    shutil.copy(root / "Mix3toMix10" / "8_v1.pt", folder / "8_v1.pt")
    with pytest.raises(CheckpointError, match=r"8_v2\.pt: missing"):
        Mix3toMix10Pair(8, tmp_path)
    (folder / "8_v2.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"8_v2\.pt: corrupt"):
        Mix3toMix10Pair(8, tmp_path)
    shutil.copy(root / "Mix3toMix10" / "2_v1.pt", folder / "8_v2.pt")
    with pytest.raises(CheckpointError, match=r"8_v2\.pt: does not match"):
        Mix3toMix10Pair(8, folder)
    for bad in (3, 0, 512, 2.0, True):
        with pytest.raises(InvalidInputError, match="dim must be one of"):
            Mix3toMix10Pair(bad, root)
    with pytest.raises(InvalidInputError, match="scale"):
        Mix3toMix10Pair(2, root, scale=-1.0)
    with pytest.raises(InvalidInputError, match="shift"):
        Mix3toMix10Pair(2, root, shift=[0.0, 0.0, 0.0])


def test_make_pair(root):
    pair = make_pair("w2b-mix:8", root=root)
    assert isinstance(pair, Mix3toMix10Pair) and pair.name == "w2b-mix:8" and pair.dim == 8
    assert pair.has_ground_truth
    with pytest.raises(InvalidInputError, match="root"):
        make_pair("w2b-mix:8")
    with pytest.raises(InvalidInputError):
        make_pair("w2b-mix:x", root=root)
    with pytest.raises(InvalidInputError, match="dim must be one of"):
        make_pair("w2b-mix:6", root=root)


@pytest.mark.parametrize("dim", [2, 8])
def test_true_map_is_the_gradient_of_a_convex_function(dim, ref_pairs):
    """Hessian of ψ* = s·(ψ1 + ψ2) − ⟨m, ·⟩ is PSD at random points, and it is the Jacobian of the true map
    (central differences of true_forward in float64)."""
    from torch.func import hessian

    pair = ref_pairs[dim]
    psi1, psi2 = pair.potentials
    x = pair.source.sample(6, torch.Generator().manual_seed(3)).double()
    eps = 1e-7  # CELU's second derivative jumps at 0: a wider stencil can straddle a kink
    for point in x:
        hess = pair.scale * sum(hessian(lambda z, n=net: n(z.unsqueeze(0)).squeeze(0))(point) for net in (psi1, psi2))
        assert torch.linalg.eigvalsh(0.5 * (hess + hess.T)).min() >= -1e-8
        steps = eps * torch.eye(dim, dtype=torch.float64)
        jac = (pair.true_forward(point + steps) - pair.true_forward(point - steps)).T / (2 * eps)
        torch.testing.assert_close(jac, hess, rtol=1e-5, atol=1e-6)


def test_published_table_is_package_data_with_its_source():
    from monge.pairs.w2bench import published_l2_uvp, published_w2bench_table

    table = published_w2bench_table()
    assert "NeurIPS 2021" in table["source"] and table["dims"] == [2, 4, 8, 16, 32, 64, 128, 256]
    assert all(len(values) == 8 for values in table["methods"].values())
    assert published_l2_uvp("w2gn", "w2b-mix:32") == 6.0
    assert published_l2_uvp("baseline:linear", "w2b-mix:2") == 14.1
    assert published_l2_uvp("mm-r", "w2b-mix:128") is None  # not reported
    assert published_l2_uvp("w2gn", "gaussian:32") is None and published_l2_uvp("nope", "w2b-mix:2") is None


def test_compiled_sampling_draws_the_same_target_up_to_rounding(root):
    pair = Mix3toMix10Pair(8, root)
    plain_target = pair.target
    assert pair.compile_sampling() is pair and pair.target is not plain_target
    for n in (300, 1024):  # two batch sizes: the compiled map must follow the shape
        x = pair.source.sample(n, torch.Generator().manual_seed(n))
        y_compiled = pair.target.sample(n, torch.Generator().manual_seed(n))
        y_plain = plain_target.sample(n, torch.Generator().manual_seed(n))
        assert y_compiled.shape == (n, 8)
        assert torch.allclose(y_compiled, pair.true_forward(x), rtol=1e-5, atol=1e-5)
        assert torch.allclose(y_compiled, y_plain, rtol=1e-5, atol=1e-5)
