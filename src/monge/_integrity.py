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
