"""The public API of ``import monge``: ``dir(monge)`` is exactly :data:`monge.__all__`, and every name in it loads."""

from __future__ import annotations

import monge


def test_dir_is_the_public_api():
    names = dir(monge)
    assert names == sorted(monge.__all__)
    assert len(set(monge.__all__)) == len(monge.__all__)
    for leaked in ("torch", "Any", "annotations", "importlib", "_importlib", "_PUBLIC"):
        assert leaked not in names


def test_every_public_name_resolves():
    missing = [name for name in monge.__all__ if getattr(monge, name, None) is None]
    assert not missing
    assert dir(monge) == sorted(monge.__all__)  # loading the names (and their submodules) adds nothing to dir()
