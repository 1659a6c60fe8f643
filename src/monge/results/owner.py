"""Which process runs a stored run: owner tokens (``host|pid|start``) and whether their process still lives."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_token() -> str:
    """``host|pid|start``: this process, told apart from a later process that reuses its id (``start`` is the
    boot id and the process's start time in clock ticks since boot, from ``/proc``; empty where unavailable)."""
    return f"{socket.gethostname()}|{os.getpid()}|{_start_mark(os.getpid())}"


def _start_mark(pid: int) -> str:
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
        return f"{boot}/{stat.rsplit(')', 1)[1].split()[19]}"
    except (OSError, IndexError):
        return ""


def owner_alive(token: str | None) -> bool | None:
    """Whether the process of owner ``token`` (:func:`process_token`) still runs; ``None`` when that cannot be
    told from here (another host, no token)."""
    parts = (token or "").split("|")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return None
    pid, mark = int(parts[1]), parts[2]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass                                        # alive, owned by another user
    except OSError:
        return None
    return not mark or _start_mark(pid) in ("", mark)
