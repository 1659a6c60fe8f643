"""Every registered solver (W2 and W1) resumes bit-exactly from a checkpoint: a fit killed after a
checkpoint and run again with the same seed ends with the same parameters and history as one that ran
through. This checks that each solver hands the training loop all its state (networks, optimisers,
schedules, generator)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from monge.pairs import GaussianPair
from monge.run.checkpoint import Checkpoint, ResumableCallback
from monge.solvers import SOLVERS, available_solvers, get_solver
from monge.errors import CheckpointError

ALL_SOLVERS = available_solvers()
STEPS, EVERY, KILL_AT = 9, 4, 6


class Killed(Exception):
    """Stands in for the process dying after step ``KILL_AT`` (its last checkpoint is at step 4)."""


def _kill_at(step: int):
    def callback(progress):
        if progress.step == step:
            raise Killed
    return callback


def _fit(name: str, callback=None, **options):
    pair = GaussianPair(3, seed=0)
    solver = get_solver(name, **{**SOLVERS[name].smoke_options, **options})
    return solver.fit(pair.source, pair.target, steps=STEPS, batch_size=32, generator=torch.Generator().manual_seed(5),
                      callback=callback)


def _networks(result) -> dict[str, torch.Tensor]:
    tensors = {}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if isinstance(value, torch.nn.Module):
            tensors.update({f"{f.name}.{k}": v for k, v in value.state_dict().items()})
    return tensors


# Options that switch on state or code paths the smoke options leave off (schedules, other optimisers,
# other networks, one-directional training).
OPTION_VARIANTS = [
    ("w2gn", {"lr_decay": True, "potential": "mlp"}),
    ("enot", {"lr_decay": True, "bidirectional": False}),
    ("amortized", {"potential": "icnn", "amortization": "cycle", "lr_decay": False}),
    ("mm-1", {"conjugate_solver": "adam", "direction": "reverse"}),
    ("mm-2", {"convexity": "penalty"}),
    ("mm-r", {"potential": "icnn", "map": "icnn-gradient"}),
    ("lsot", {"fit_inverse": False, "offset_init": False}),
    ("w2gan", {"map": "discriminator"}),
    ("w2gan", {"equality_weight": 10.0, "potential_form": "neg_plus_eps", "generator_form": "mlp",
               "generator_pretrain_steps": 5}),
    ("w2gan", {"generator_form": "bounded", "map": "discriminator"}),
    ("wgan", {"optimizer": "adam"}),
    ("sort-out", {"group_size": 2}),
]


@pytest.mark.parametrize("name", ALL_SOLVERS)
def test_killed_and_resumed_fit_equals_uninterrupted_fit(name, tmp_path):
    _check_resume_is_exact(name, tmp_path)


@pytest.mark.parametrize("name, options", OPTION_VARIANTS, ids=[name for name, _ in OPTION_VARIANTS])
def test_resume_is_exact_with_other_options(name, options, tmp_path):
    _check_resume_is_exact(name, tmp_path, **options)


def _check_resume_is_exact(name, tmp_path, **options):
    reference = _fit(name, **options)
    path = tmp_path / "fit.ckpt"
    with pytest.raises(Killed):
        _fit(name, ResumableCallback(path, every=EVERY, callback=_kill_at(KILL_AT)), **options)
    resumed_callback = ResumableCallback(path, every=EVERY)
    resumed = _fit(name, resumed_callback, **options)
    assert resumed_callback.resumed_from == EVERY
    ref_nets, new_nets = _networks(reference), _networks(resumed)
    assert ref_nets and ref_nets.keys() == new_nets.keys()
    for key, value in ref_nets.items():
        assert torch.equal(value, new_nets[key]), f"{name}: {key} differs after resuming"
    for key, values in reference.history.items():
        if key != "train_time_s":
            assert resumed.history[key] == values, f"{name}: history {key!r} differs after resuming"


def test_corrupt_checkpoint_is_named_and_the_file_kept(tmp_path):
    path = tmp_path / "fit.ckpt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="fit.ckpt"):
        _fit("w2gn", ResumableCallback(path, every=EVERY))
    assert path.read_bytes() == b"not a checkpoint"


def test_checkpoint_of_another_fit_is_refused(tmp_path):
    path = tmp_path / "fit.ckpt"
    with pytest.raises(Killed):
        _fit("w2gn", ResumableCallback(path, every=EVERY, callback=_kill_at(KILL_AT)))
    with pytest.raises(CheckpointError, match="missing parts|does not fit"):
        _fit("enot", ResumableCallback(path, every=EVERY))


def test_checkpoint_save_is_atomic(tmp_path, monkeypatch):
    checkpoint = Checkpoint(tmp_path / "c.ckpt")
    checkpoint.save({"a": torch.ones(2)}, {"note": "first"})

    def broken_save(obj, f, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        checkpoint.save({"a": torch.zeros(2)}, {"note": "second"})
    train, extra = checkpoint.load()
    assert torch.equal(train["a"], torch.ones(2)) and extra == {"note": "first"}
    assert [p.name for p in tmp_path.iterdir()] == ["c.ckpt"]
