"""`monge pairs build`: new benchmark pairs with the published recipe, loadable and reproducible."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from monge.cli.main import app
from monge.errors import CheckpointError, InvalidInputError
from monge.pairs import Mix3toMix10Pair, make_pair
from monge.pairs.w2bench import mixture_parameters
from monge.run.build_pairs import build_mixture_pair

TINY = dict(steps=40, batch_size=128)


def _weights(folder, dim):
    return [torch.load(folder / f"{dim}_v{v}.pt", weights_only=True) for v in (1, 2)]


def test_build_is_reproducible_from_its_seed_and_loads_with_the_same_class(tmp_path):
    a = build_mixture_pair(3, tmp_path / "a", seed=4, **TINY)
    b = build_mixture_pair(3, tmp_path / "b", seed=4, **TINY)
    c = build_mixture_pair(3, tmp_path / "c", seed=5, **TINY)
    assert a.name == "Mix3toMix10" and sorted(p.name for p in a.iterdir()) == ["3.json", "3_v1.pt", "3_v2.pt"]
    for wa, wb, wc in zip(_weights(a, 3), _weights(b, 3), _weights(c, 3)):
        assert wa.keys() == wb.keys()
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
        assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    construction = json.loads((a / "3.json").read_text())
    assert construction == json.loads((b / "3.json").read_text())
    assert construction["seed"] == 4 and construction["n_input"] == 3 and construction["n_output"] == 10

    pair = Mix3toMix10Pair(3, a)
    assert pair.construction["seed"] == 4 and pair.name == "Mix3toMix10:3"
    # the input mixture is the seeded construction, standardised to total variance D
    centers, _ = mixture_parameters(3, 3, 4)
    np.testing.assert_allclose(pair.centers.numpy(), centers)
    assert pair.source_variance == pytest.approx(3.0, rel=1e-9)
    # the loader's standardisation: the target has average per-coordinate variance ≈ 1
    y = pair.target.sample(20000, torch.Generator().manual_seed(0)).double()
    assert y.var(0).mean().item() == pytest.approx(1.0, abs=0.05)
    x = pair.source.sample(256, torch.Generator().manual_seed(1))
    torch.testing.assert_close(pair.true_inverse(pair.true_forward(x)), x, rtol=0, atol=1e-3)
    # and through the registry
    assert make_pair("w2b-mix:3", root=a).dim == 3


def test_other_component_counts_and_bad_input(tmp_path):
    folder = build_mixture_pair(2, tmp_path, n_input=4, n_output=6, seed=0, **TINY)
    assert folder.name == "Mix4toMix6"
    assert Mix3toMix10Pair(2, folder).centers.shape == (4, 2)
    with pytest.raises(InvalidInputError, match="dim must be a positive integer"):
        build_mixture_pair(0, tmp_path)
    (folder / "2.json").write_text("{broken")
    with pytest.raises(CheckpointError, match="2.json: corrupt JSON"):
        Mix3toMix10Pair(2, folder)


def test_cli_pairs_build(tmp_path):
    result = CliRunner().invoke(app, ["pairs", "build", "--dim", "2", "--out", str(tmp_path), "--steps", "20",
                                      "--batch-size", "64", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "Mix3toMix10" / "2_v1.pt").is_file() and "--pair-root" in result.output
    bad = CliRunner().invoke(app, ["pairs", "build", "--dim", "-1", "--out", str(tmp_path)])
    assert bad.exit_code == 1


def test_cli_pairs_build_image(tmp_path):
    pytest.importorskip("sklearn")
    result = CliRunner().invoke(app, ["pairs", "build", "--image", "digits", "--out", str(tmp_path), "--steps", "10",
                                      "--batch-size", "8", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "W2Img-digits" / "late_v2.pt").is_file() and "w2img:digits:late" in result.output
    assert json.loads((tmp_path / "W2Img-digits" / "construction.json").read_text())["steps"] == 10
    for args in (["--out", str(tmp_path)], ["--dim", "2", "--image", "digits", "--out", str(tmp_path)]):
        bad = CliRunner().invoke(app, ["pairs", "build", *args])
        assert bad.exit_code == 1 and "exactly one of --dim" in bad.output
    bad = CliRunner().invoke(app, ["pairs", "build", "--image", "faces", "--out", str(tmp_path)])
    assert bad.exit_code == 1 and "faces" in bad.output
