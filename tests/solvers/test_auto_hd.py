"""``auto`` in high dimension, within a time budget, on a benchmark pair built with the published recipe."""

from __future__ import annotations

import math

import pytest
import torch

import monge
from monge.metrics import baseline_metrics, evaluate
from monge.run.build_pairs import build_mixture_pair


@pytest.mark.slow
def test_auto_at_d64_within_a_small_budget(tmp_path):
    """D = 64 Mix3toMix10 pair (a short W2GN construction, so the test stays small), auto with 1200 steps (about a
    minute on one thread): no TrainingDiverged, and the map must be finite and cut the identity map's error by more
    than 2×. A step budget, not a time budget, so that a busy CI machine trains the same map: with ``time_budget=60``
    a run on a loaded machine (fewer steps, eager since budgets under 300 s no longer compile) once ended at
    2911 % (identity 115 %), the D = 64 oscillation of docs/hd-accuracy.md."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        folder = build_mixture_pair(64, tmp_path, seed=5, steps=100, batch_size=512)
        pair = monge.make_pair("w2b-mix:64", root=folder)
        result = monge.fit(pair.source, pair.target, steps=1200, generator=torch.Generator().manual_seed(0))
    finally:
        torch.set_num_threads(threads)
    baselines = baseline_metrics(pair, n=4096, generator=torch.Generator().manual_seed(1), n_discrete=None)
    metrics = evaluate(result, pair, n=4096, generator=torch.Generator().manual_seed(1))
    # The divergence guard may step in (lr 1e-3 blows up now and then at D = 64; CI saw one recovery at step 639):
    # what counts is that the map that comes back is sound. Measured: 43 % after 1200 steps (identity 115 %). The short W2GN construction leaves this pair almost linear (Bures baseline
    # 0.02 %), which auto does not reach in a minute: see docs/hd-accuracy.md.
    assert math.isfinite(metrics["l2_uvp_fwd"])
    assert metrics["l2_uvp_fwd"] < 0.5 * baselines["identity"]["l2_uvp_fwd"], (metrics, result.history.get(
        "divergence_recoveries"))
