"""The published results of the W1 benchmark (Korotin, Kolesov, Burnaev, "Kantorovich Strikes Back! Wasserstein
GANs are not Optimal Transport?", NeurIPS 2022), shipped as package data ``pairs/data/w1bench_published.json``
with their source, for leaderboards that show them beside monge's own runs."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def published_w1bench_table() -> dict[str, Any]:
    """The published per-pair table: keys ``source``, ``columns``, ``pairs`` (``"D:N"`` → method → ``{cos, l2,
    cost}``, with a ``true`` row holding the 4096-sample W1) and ``monge_solvers`` (monge name → method key)."""
    from importlib.resources import files

    return json.loads(files("monge.pairs").joinpath("data/w1bench_published.json").read_text())


@lru_cache(maxsize=1)
def published_w1img_table() -> dict[str, Any]:
    """The authors' CelebA 64×64 image-pair numbers (``pairs/data/w1img_published.json``): keys ``source``,
    ``columns``, ``pairs`` (number of funnels ``"1"`` / ``"16"`` → method → ``{cos, l2, cost}``). For orientation
    beside monge's image pairs ``w1img:<data>:1`` and ``w1img:<data>:16`` only: the data differ."""
    from importlib.resources import files

    return json.loads(files("monge.pairs").joinpath("data/w1img_published.json").read_text())


def _image_pair_key(pair: str) -> str | None:
    """``"1"`` / ``"16"`` for ``w1img:<data>:1`` / ``w1img:<data>:16`` at the published degree, else ``None``."""
    family, _, arg = str(pair).strip().lower().partition(":")
    parts = arg.split(":")
    if family != "w1img" or len(parts) != 2 or parts[1].strip() not in ("1", "16"):
        return None
    return parts[1].strip()


def _pair_key(pair: str) -> str | None:
    family, _, arg = str(pair).strip().lower().partition(":")
    if family != "w1b-funnel":
        return None
    dim, _, width = arg.partition(":")
    return f"{dim.strip()}:{width.strip()}" if dim.strip().isdigit() and width.strip().isdigit() else None


def published_w1(solver: str, pair: str) -> dict[str, float] | None:
    """The published ``cos``, ``l2``, ``cost`` (Ŵ1) and ``w1_dev`` (%, against the published 4096-sample W1)
    of monge solver ``solver`` (or ``"baseline:dot"``) on the published pair ``pair`` (``"w1b-funnel:8:64"``);
    ``None`` when the paper has no such number (other pair families, solvers it did not run, variants).

    On the image pairs ``w1img:<data>:1`` and ``w1img:<data>:16`` the numbers are the authors' CelebA ones
    (:func:`published_w1img_table`), for orientation only."""
    table = published_w1bench_table()
    key = _pair_key(pair)
    image_key = _image_pair_key(pair)
    if image_key is not None:
        table, key = {**published_w1img_table(), "monge_solvers": table["monge_solvers"]}, image_key
    method = table["monge_solvers"].get(str(solver).strip().lower())
    if key is None or method is None or key not in table["pairs"]:
        return None
    rows = table["pairs"][key]
    if method not in rows:
        return None
    row = dict(rows[method])
    true = rows["true"]["cost"]
    row["w1_dev"] = 100.0 * abs(row["cost"] - true) / true
    return row
