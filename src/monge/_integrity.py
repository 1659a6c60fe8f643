"""Integrity checks for the files monge writes: SHA-256 digests, sealed files and a content hash of JSON.

A *sealed* file is ``MAGIC + <sha256 hex of the payload> + "\\n" + payload``: one file (so it is still written
atomically) whose every byte is verified on reading. Result folders instead list their tensor files' digests in
``result.json`` (:func:`monge.solvers.base.save_result`), which also carries :func:`json_digest` of its own
content so that an edited ``result.json`` is caught too.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from monge.errors import CheckpointError

MAGIC = b"monge-sealed-v1 sha256="


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def seal(payload: bytes) -> bytes:
    """``payload`` prefixed with its digest (see the module docstring)."""
    return MAGIC + sha256(payload).encode() + b"\n" + payload


def unseal(raw: bytes, name: str) -> tuple[bytes, bool]:
    """``(payload, True)`` for a sealed file whose digest matches; ``(raw, False)`` for a file written before
    sealing existed (unverified). :class:`CheckpointError` names ``name`` when the digest does not match."""
    if not raw.startswith(MAGIC):
        return raw, False
    header_end = len(MAGIC) + 64
    expected = raw[len(MAGIC):header_end].decode("ascii", errors="replace")
    if raw[header_end:header_end + 1] != b"\n":
        raise CheckpointError(f"{name}: damaged integrity header")
    payload = raw[header_end + 1:]
    found = sha256(payload)
    if found != expected:
        raise CheckpointError(f"{name}: SHA-256 {found[:16]}… does not match the recorded {expected[:16]}…: the file "
                              f"was changed or corrupted after it was written")
    return payload, True


def json_digest(content: Any) -> str:
    """SHA-256 of ``content``'s canonical JSON (sorted keys, no spaces): the same for equal parsed content."""
    return sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode())


def read_tensor_state(file: Any, *, missing_hint: str = "") -> dict[str, Any]:
    """The state dict of tensors saved in ``file`` (read with ``torch.load(..., weights_only=True)`` onto the
    CPU); :class:`CheckpointError` names the file when it is missing (plus ``missing_hint``), corrupt, or not
    a dict of tensors."""
    import torch

    if not file.is_file():
        raise CheckpointError(f"{file}: missing{missing_hint}")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        raise CheckpointError(f"{file}: corrupt or not a state dict ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{file}: expected a state dict of tensors, got {type(state).__name__}")
    return state


def load_finite_state(net: Any, state: dict[str, Any], file: Any, what: str) -> None:
    """``net.load_state_dict(state)``; :class:`CheckpointError` names ``file`` when the state does not match
    the network (described as ``what``) or holds NaN or inf."""
    import torch

    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(f"{file}: does not match {what}: {' '.join(first[:3])}") from exc
    for name, tensor in state.items():
        if torch.is_floating_point(tensor) and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{file}: parameter {name!r} holds NaN or inf")


def read_settings(file: Any, required: set[str], what: str) -> dict[str, Any]:
    """The JSON object in ``file`` (a settings file written beside saved weights); :class:`CheckpointError` names
    the file when it is not valid JSON or is not an object with the keys ``required`` (``what`` describes it)."""
    from pathlib import Path

    file = Path(file)
    try:
        settings = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{file}: corrupt JSON ({exc})") from exc
    if not isinstance(settings, dict) or not required <= set(settings):
        raise CheckpointError(f"{file}: not {what} (needs keys {sorted(required)})")
    return settings
