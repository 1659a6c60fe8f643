"""make_pair / available_pairs / register_pair_family and ToyPair."""

from __future__ import annotations

import pytest
import torch

from monge.errors import InvalidInputError, UnknownNameError
from monge.pairs import GaussianPair, SamplePair, ToyPair, available_pairs, make_pair, register_pair_family
from monge.pairs import registry
from monge.samplers import TOY_PAIRS

TOY_NAMES = ("8gaussians", "49gaussians", "100gaussians", "swiss_roll", "4gaussians", "checkerboard", "2spirals")


def test_gaussian_spec():
    pair = make_pair("gaussian:16", seed=3)
    assert isinstance(pair, GaussianPair) and pair.dim == 16 and pair.seed == 3 and pair.name == "gaussian:16"
    assert torch.equal(pair.forward_matrix, GaussianPair(16, 3).forward_matrix)
    assert pair.dtype == torch.float32
    assert make_pair(" Gaussian:2 ", dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("name", TOY_NAMES)
def test_toy_specs(name):
    pair = make_pair(f"toy:{name}")
    assert isinstance(pair, ToyPair) and isinstance(pair, SamplePair)
    assert pair.name == f"toy:{name}" and pair.dim == 2 and pair.has_ground_truth is False
    g = torch.Generator().manual_seed(0)
    assert pair.source.sample(7, g).shape == (7, 2) and pair.target.sample(7, g).shape == (7, 2)


def test_available_pairs():
    avail = available_pairs()
    assert "gaussian:<dim>" in avail
    assert set(TOY_NAMES) <= set(TOY_PAIRS)
    for name in TOY_PAIRS:
        assert f"toy:{name}" in avail


@pytest.mark.parametrize(
    "spec,match",
    [
        ("gaussian:abc", r"dimension must be a positive integer, got 'abc'"),
        ("gaussian:0", r"dimension must be a positive integer, got 0"),
        ("gaussian:-3", r"dimension must be a positive integer, got -3"),
        ("gaussian:", r"missing argument after 'gaussian:' \(expected 'gaussian:<dim>'\)"),
        ("gaussian", r"missing argument"),
        ("toy:", r"expected 'toy:<name>'"),
    ],
)
def test_invalid_specs(spec, match):
    with pytest.raises(InvalidInputError, match=match):
        make_pair(spec)


@pytest.mark.parametrize("spec", ["nope:3", "toy:nope", "", "mix3tomix10:8"])
def test_unknown_specs(spec):
    with pytest.raises(UnknownNameError, match=r"unknown pair .*available: .*gaussian:<dim>.*toy:swiss_roll") as info:
        make_pair(spec)
    assert info.value.kind == "pair" and info.value.name == spec


def test_non_string_spec():
    with pytest.raises(InvalidInputError, match="must be a string"):
        make_pair(16)  # type: ignore[arg-type]


def test_toy_pair_unknown_name():
    with pytest.raises(UnknownNameError, match="unknown toy pair 'moons'"):
        ToyPair("moons")


def test_register_pair_family(monkeypatch):
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))
    calls = []

    def factory(arg, *, seed, dtype, device, root=None):
        calls.append((arg, seed, dtype, device))
        return GaussianPair(registry.parse_dim("mix3tomix10", arg), seed, dtype=dtype, device=device)

    register_pair_family("mix3tomix10", factory)
    pair = make_pair("mix3tomix10:4", seed=2, dtype=torch.float64)
    assert pair.dim == 4 and calls == [("4", 2, torch.float64, "cpu")]
    assert "mix3tomix10:<dim>" in available_pairs()
    with pytest.raises(InvalidInputError, match="already registered"):
        register_pair_family("mix3tomix10", factory)
    register_pair_family("mix3tomix10", factory, replace=True)
    register_pair_family("fixed", factory, choices=["2", "8"], placeholder="dim")
    assert {"fixed:2", "fixed:8"} <= set(available_pairs())
    assert make_pair("fixed:8").dim == 8
    with pytest.raises(UnknownNameError, match="unknown pair 'fixed:3'"):
        make_pair("fixed:3")
    with pytest.raises(InvalidInputError, match="without ':'"):
        register_pair_family("a:b", factory)
    with pytest.raises(InvalidInputError, match="dimension must be a positive integer"):
        make_pair("mix3tomix10:x")


def test_families_that_load_files_require_root_and_receive_it(tmp_path):
    from monge.errors import InvalidInputError
    from monge.pairs import describe_pair_families
    from monge.pairs.registry import _FAMILIES

    seen = {}

    def factory(arg, *, seed, dtype, device, root=None):
        seen["root"] = root
        return make_pair("gaussian:2")

    register_pair_family("filebased", factory, needs_root=True, description="test family")
    try:
        with pytest.raises(InvalidInputError, match="pass root= \\(CLI: --pair-root PATH\\)"):
            make_pair("filebased:2")
        make_pair("filebased:2", root=str(tmp_path))
        assert seen["root"] == tmp_path
        listing = {row["prefix"]: row for row in describe_pair_families()}
        assert listing["filebased"]["needs_root"] and listing["filebased"]["description"] == "test family"
        assert "ICLR 2021" in listing["gaussian"]["description"]
    finally:
        _FAMILIES.pop("filebased")


def test_family_versions_are_registered_listed_and_validated():
    from monge.pairs import describe_pair_families, pair_version
    from monge.pairs.registry import _FAMILIES

    def factory(arg, *, seed, dtype, device, root=None):
        return make_pair("toy:swiss_roll")

    register_pair_family("versioned", factory, version=3, description="test family")
    try:
        assert pair_version("versioned:x") == 3 and pair_version("VERSIONED:y") == 3
        listing = {row["prefix"]: row for row in describe_pair_families()}
        assert listing["versioned"]["version"] == 3 and listing["gaussian"]["version"] == GaussianPair.version == 3
        assert listing["toy"]["version"] == 1
    finally:
        _FAMILIES.pop("versioned")
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(InvalidInputError, match="version must be a positive integer"):
            register_pair_family("badversion", factory, version=bad)
    assert "badversion" not in _FAMILIES
    with pytest.raises(InvalidInputError, match="pair spec must be a string"):
        pair_version(3)
