"""Saved results and checkpoints are integrity-checked: corruption is a CheckpointError naming the file, never a
silently different map; folders of the earlier format load with a warning."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from monge.errors import CheckpointError, InvalidInputError
from monge.pairs import GaussianPair
from monge.run.checkpoint import Checkpoint, ResumableCallback
from monge.solvers import W1Result, W2Result, get_solver


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    pair = GaussianPair(3, seed=0)
    result = get_solver("w2gn", hidden_sizes=[8, 8], pretrain_steps=10).fit(
        pair.source, pair.target, steps=5, batch_size=32, generator=gen(0))
    return result, result.save(tmp_path_factory.mktemp("saved") / "w2gn")


@pytest.fixture
def folder(saved, tmp_path):
    return shutil.copytree(saved[1], tmp_path / "copy")


def flip_bit(path, position: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * position)] ^= 0x01
    path.write_bytes(bytes(data))


def edit_json(folder, change) -> None:
    meta = json.loads((folder / "result.json").read_text())
    change(meta)
    (folder / "result.json").write_text(json.dumps(meta, indent=2))


def test_manifest_records_every_tensor_file(folder):
    meta = json.loads((folder / "result.json").read_text())
    assert meta["format"] == 2
    files = meta["manifest"]["files"]
    assert set(files) == {"forward.pt", "inverse.pt"}
    assert files["forward.pt"]["network"] == "forward" and len(files["forward.pt"]["sha256"]) == 64
    assert all(spec["dtype"] == "float32" for spec in files["forward.pt"]["tensors"].values())
    x = torch.randn(4, 3, generator=gen(1))
    assert torch.equal(W2Result.load(folder).forward(x), W2Result.load(folder).forward(x))


@pytest.mark.parametrize("name", ["forward.pt", "inverse.pt"])
@pytest.mark.parametrize("position", [0.05, 0.5, 0.999])
def test_a_flipped_bit_in_a_tensor_file_is_named(folder, name, position):
    flip_bit(folder / name, position)
    with pytest.raises(CheckpointError, match=rf"{name}: SHA-256 .* does not match the manifest"):
        W2Result.load(folder)


def test_swapped_tensor_files_are_caught(folder):
    forward, inverse = (folder / "forward.pt").read_bytes(), (folder / "inverse.pt").read_bytes()
    (folder / "forward.pt").write_bytes(inverse)
    (folder / "inverse.pt").write_bytes(forward)
    with pytest.raises(CheckpointError, match="forward.pt: SHA-256"):
        W2Result.load(folder)


@pytest.mark.parametrize("change", [
    lambda m: m["networks"]["forward"].__setitem__("dim", 5),
    lambda m: m.__setitem__("cost_estimate", "abc"),
    lambda m: m.pop("solver"),
    lambda m: m["settings"].__setitem__("lr", 1.0),
    lambda m: m["manifest"]["files"].pop("inverse.pt"),
])
def test_an_edited_result_json_is_caught(folder, change):
    edit_json(folder, change)
    with pytest.raises(CheckpointError, match="result.json: (edited after saving|the manifest records no file)"):
        W2Result.load(folder)


def legacy(folder) -> None:
    """Turn a folder into what monge wrote before manifests (format 1)."""
    edit_json(folder, lambda m: (m.pop("manifest"), m.__setitem__("format", 1)))


def test_folders_of_the_earlier_format_load_with_a_warning(folder, saved):
    legacy(folder)
    with pytest.warns(UserWarning, match="without an integrity manifest; loaded unverified"):
        loaded = W2Result.load(folder)
    x = torch.randn(4, 3, generator=gen(1))
    assert torch.equal(loaded.forward(x), saved[0].forward(x))


@pytest.mark.parametrize("change, field", [
    (lambda m: m.__setitem__("cost_estimate", "abc"), "field 'cost_estimate' must be a number"),
    (lambda m: m.pop("solver"), "missing field 'solver'"),
    (lambda m: m.__setitem__("steps", -3), "field 'steps' must be an integer >= 0"),
    (lambda m: m.__setitem__("history", {"loss": "x"}), "field 'history' must be an object"),
    (lambda m: m.__setitem__("networks", []), "field 'networks' must be an object"),
])
def test_earlier_format_fields_are_validated_one_by_one(folder, change, field):
    legacy(folder)
    edit_json(folder, change)
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match=field):
        W2Result.load(folder)


def test_w1_results_carry_a_manifest_too(tmp_path):
    pair = GaussianPair(2, seed=0)
    result = get_solver("wgan-lp", hidden_sizes=[8, 8]).fit(pair.source, pair.target, steps=3, batch_size=16,
                                                             generator=gen(0))
    folder = result.save(tmp_path / "critic")
    assert W1Result.load(folder).w1_estimate == result.w1_estimate
    flip_bit(folder / "critic.pt")
    with pytest.raises(CheckpointError, match="critic.pt: SHA-256"):
        W1Result.load(folder)


def test_save_and_load_paths_are_checked(saved, tmp_path):
    result, _ = saved
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    with pytest.raises(CheckpointError, match="a-file: is a file, not a result folder"):
        result.save(a_file)
    assert a_file.read_text() == "keep me"
    for bad in (None, 3, ""):
        with pytest.raises(InvalidInputError, match="path must be a folder path"):
            W2Result.load(bad)


def test_a_corrupted_checkpoint_is_named_and_never_resumed(tmp_path):
    pair = GaussianPair(2, seed=0)
    path = tmp_path / "fit.ckpt"

    def fit(callback):
        return get_solver("enot", hidden_sizes=[8]).fit(pair.source, pair.target, steps=6, batch_size=16,
                                                        generator=gen(0), callback=callback)

    fit(ResumableCallback(path, every=3))
    assert path.read_bytes().startswith(b"monge-sealed-v1 sha256=")
    Checkpoint(path).load()
    for position in (0.3, 0.9):
        good = path.read_bytes()
        flip_bit(path, position)
        with pytest.raises(CheckpointError, match="fit.ckpt: SHA-256 .* does not match the recorded"):
            fit(ResumableCallback(path, every=3))
        path.write_bytes(good)
    raw = path.read_bytes()
    path.write_bytes(raw[raw.index(b"\n") + 1:])                    # a checkpoint from before sealing
    with pytest.warns(UserWarning, match="resumed unverified"):
        train, _ = Checkpoint(path).load()
    assert train
