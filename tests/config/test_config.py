"""monge.config: the bundled presets are sweep files, the TOML loader falls back to tomli, errors are located."""

from __future__ import annotations

import builtins
import sys
import types
from pathlib import Path

import pytest

from monge.config import PresetFile, SweepFile, load_preset, preset_names, validate
from monge.config.loader import read_config, toml_module
from monge.errors import SweepConfigError
from monge.config.preset import PRESETS, get_preset
from monge.config.sweep import load_sweep


def test_every_preset_name_is_a_bundled_file():
    assert preset_names()[:6] == ["quick", "w2-hd", "w1-hd", "arch-study", "standard", "gaussians-hd"]
    assert list(PRESETS) == preset_names()
    for name in preset_names():
        model, raw = load_preset(name)
        assert isinstance(model, PresetFile) and model.name == name and model.description


def test_a_preset_and_the_equivalent_sweep_file_give_the_same_runs(tmp_path: Path):
    """The quick preset, written as a sweep file (no preset-only keys), expands to the preset's runs."""
    sweep = tmp_path / "quick.toml"
    sweep.write_text("""
name = "quick"
seeds = [1]
pairs = ["gaussian:2", "gaussian:8", "gaussian:16", "toy:4gaussians"]
budget = { steps = 2000, batch_size = 512 }
evaluation = { every = 250 }
[[solvers]]
name = "w2gn"
options = { lr_decay = true }
""")
    from_file = load_sweep(sweep).runs
    from_preset = get_preset("quick").configs()
    assert [r.label for r in from_file] == ["w2gn"] * 4 and all(r.label is None for r in from_preset)
    from dataclasses import replace
    assert [replace(r, label=None) for r in from_file] == from_preset
    # arch-study's labelled variants: labels included
    arch = tmp_path / "arch.toml"
    text = (Path(__file__).resolve().parents[2] / "src/monge/config/presets/arch-study.toml").read_text()
    # (its published pairs need --pair-root; the variants are what is compared, on a pair that needs nothing)
    arch.write_text("\n".join('pairs = ["gaussian:2"]' if line.startswith("pairs") else line for line in text.splitlines()
                              if not line.startswith(("description", "threads", "order"))))
    assert list(load_sweep(arch).runs) == get_preset("arch-study").configs(pairs=["gaussian:2"])


def test_preset_files_reject_sweep_typos_like_sweep_files():
    with pytest.raises(SweepConfigError) as info:
        validate(SweepFile, {"pairs": ["gaussian:2"], "solvers": ["w2gn"], "threads": 1})
    assert info.value.key == "threads" and "unknown key 'threads'" in str(info.value)


def test_cli_flags_are_overrides_validated_by_the_same_schema():
    with pytest.raises(Exception, match="steps must be a positive integer, got 0"):
        get_preset("quick").configs(steps=0)
    with pytest.raises(Exception, match="batch_size must be a positive integer, got -2"):
        get_preset("quick").configs(batch_size=-2)
    with pytest.raises(Exception, match="eval_every must be a positive integer, got 0"):
        get_preset("quick").configs(eval_every=0)
    with pytest.raises(Exception, match="seed must be an integer >= 0, got -1"):
        get_preset("quick").configs(seeds=[-1])
    with pytest.raises(Exception, match="time budget must be a positive number of seconds, got -5"):
        get_preset("quick").configs(time_budget_s=-5.0)


def test_toml_falls_back_to_tomli_on_python_3_10(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Without tomllib (Python 3.10) the loader uses tomli; syntax errors keep their line."""
    fake_tomli = types.ModuleType("tomli")
    import tomllib as real

    calls = []
    fake_tomli.loads = lambda text: calls.append(text) or real.loads(text)
    fake_tomli.TOMLDecodeError = real.TOMLDecodeError
    monkeypatch.setitem(sys.modules, "tomli", fake_tomli)
    monkeypatch.delitem(sys.modules, "tomllib", raising=False)
    original_import = builtins.__import__

    def no_tomllib(name, *args, **kwargs):
        if name == "tomllib":
            raise ImportError("No module named 'tomllib'")
        return original_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tomllib)
    assert toml_module() is fake_tomli
    good = tmp_path / "s.toml"
    good.write_text('pairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n')
    assert read_config(good)[0] == {"pairs": ["gaussian:2"], "solvers": ["w2gn"]} and calls
    bad = tmp_path / "bad.toml"
    bad.write_text('pairs = ["gaussian:2"]\n\nsolvers = = 1\n')
    with pytest.raises(SweepConfigError, match="TOML syntax error") as info:
        read_config(bad)
    assert info.value.file == bad and info.value.line == 3


def test_gaussians_hd_is_w2gn_table_one():
    """LSOT, MM-1, MM-2 and W2GN on gaussian:2 … gaussian:4096 (the paper's twelve dimensions), 30-minute cap."""
    preset = get_preset("gaussians-hd")
    assert preset.solvers == ("lsot", "mm-1", "mm-2", "w2gn")
    assert preset.pairs == tuple(f"gaussian:{2 ** k}" for k in range(1, 13))
    configs = preset.configs()
    assert len(configs) == 48 and {c.time_budget_s for c in configs} == {1800.0}
    w2gn = preset.configs(solvers=["w2gn"], pairs=["gaussian:1024"])
    assert [c.solver_options["init"] for c in w2gn] == ["gaussian"]
