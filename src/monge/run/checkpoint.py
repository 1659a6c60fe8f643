"""Atomic training checkpoints: resume an interrupted fit exactly where it stopped.

A checkpoint file holds the fit's :class:`~monge.solvers.loop.TrainState` (networks, optimisers, schedules,
generator state, history, step count) and an ``extra`` dict for the caller (the runner keeps its evaluations
and sampled losses there). It is sealed with the SHA-256 of its content (:mod:`monge._integrity`): a changed or
corrupted byte is a :class:`~monge.errors.CheckpointError` naming the file, never a silently different resume
(files written before sealing load with a warning that they are unverified). It is written to a temporary file, flushed and renamed over the previous one, so
a process killed at any moment leaves either the previous checkpoint or the new one, never half a file.

Example::

    callback = ResumableCallback("run.ckpt", every=100)
    result = monge.fit(source, target, solver="w2gn", steps=1000, generator=g, callback=callback)
    # killed half-way? Run the same line again (same seed): it continues from the last checkpoint and ends
    # with the same parameters as an uninterrupted fit (bit-exact on CPU).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Mapping

import torch

from monge._checks import check_positive_int
from monge._integrity import seal, unseal
from monge.errors import CheckpointError
from monge.solvers.base import Callback, atomic_write

CHECKPOINT_FORMAT = 1


class Checkpoint:
    """One checkpoint file: :meth:`save` writes it atomically, :meth:`load` reads it back.

    Args:
        path: the checkpoint file (its folder is created on first save).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def exists(self) -> bool:
        """Whether a checkpoint has been written."""
        return self.path.is_file()

    def save(self, train_state: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> None:
        """Write ``train_state`` (a ``TrainState.state_dict()``) and ``extra`` (plain data) atomically."""
        payload = {"format": CHECKPOINT_FORMAT, "train": dict(train_state), "extra": dict(extra or {})}
        buffer = io.BytesIO()
        torch.save(payload, buffer)  # serialise first: a failure here leaves the previous file untouched
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, lambda f: f.write(seal(buffer.getvalue())))

    def load(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(train_state, extra)`` from the file; :class:`CheckpointError` names the file when it is missing,
        truncated, corrupt or of another format."""
        if not self.path.is_file():
            raise CheckpointError(f"checkpoint {self.path}: missing")
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise CheckpointError(f"checkpoint {self.path}: unreadable ({exc.strerror or exc})") from exc
        data, verified = unseal(raw, f"checkpoint {self.path}")
        if not verified:
            import warnings

            warnings.warn(f"checkpoint {self.path}: written by an earlier monge without a digest; resumed unverified",
                          UserWarning, stacklevel=2)
        try:
            payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
            raise CheckpointError(f"checkpoint {self.path}: unreadable or corrupt ({type(exc).__name__}: {exc})") from exc
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"checkpoint {self.path}: not a monge checkpoint of format {CHECKPOINT_FORMAT}")
        return dict(payload.get("train") or {}), dict(payload.get("extra") or {})

    def remove(self) -> None:
        """Delete the file if present."""
        self.path.unlink(missing_ok=True)


class ResumableCallback:
    """A training callback that checkpoints every ``every`` steps and resumes from the checkpoint.

    Pass it as ``callback=`` to any solver's ``fit`` (with an explicit ``generator``). On the first step it
    restores ``path`` when the file exists; then it saves every ``every`` steps and at the last step.
    ``callback`` (optional) is called after it on every step; its return value stops training as usual.

    Attributes:
        resumed_from: the step the fit continued from (0 when it started afresh).
    """

    def __init__(self, path: str | Path, *, every: int = 100, callback: Callback | None = None):
        self.checkpoint = Checkpoint(path)
        self.every = check_positive_int(every, "every")
        self.callback = callback
        self.resumed_from = 0

    def restore(self, state: Any) -> int:
        """Load the checkpoint into ``state`` (a :class:`~monge.solvers.loop.TrainState`) if it exists."""
        if not self.checkpoint.exists():
            return 0
        train, _ = self.checkpoint.load()
        state.load_state_dict(train)
        self.resumed_from = state.step
        return state.step

    def __call__(self, progress: Any) -> bool | None:
        if progress.state is not None and (progress.step % self.every == 0 or progress.step == progress.steps):
            self.checkpoint.save(progress.state.state_dict())
        return self.callback(progress) if self.callback is not None else None


__all__ = ["CHECKPOINT_FORMAT", "Checkpoint", "ResumableCallback"]
