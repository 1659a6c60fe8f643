"""Presets with labelled variants: one solver, several option sets, told apart in the store."""

from __future__ import annotations

from monge.config.preset import get_preset
from monge.config.run import RunConfig
from monge.run.runner import run_bench
from monge.results import ResultStore


def test_arch_study_preset_expands_labelled_variants():
    configs = get_preset("arch-study").configs(pairs=["gaussian:2"], steps=5)
    assert len(configs) == 7 * 2 and sorted({c.seed for c in configs}) == [0, 1]     # 7 variants, 2 seeds
    variants = {c.display_name: c for c in configs if c.seed == 0}
    assert list(variants)[:3] == ["w2gn[icnn]", "w2gn[modified-icnn]", "w2gn[mlp]"]
    assert variants["w2gn[icnn]"].solver_options["rank"] == 0 and "rank" not in variants["w2gn[modified-icnn]"].solver_options
    assert variants["w2gn[mlp]"].solver == "w2gn" and variants["w2gn[mlp]"].solver_options["potential"] == "mlp"
    assert [c.solver_options.get("map") for c in list(variants.values())[3:]] == ["icnn-gradient", "icnn-gradient", None, "mlp"]
    # an explicit --solver overrides the variants
    assert {c.display_name for c in get_preset("arch-study").configs(solvers=["w2gn"], pairs=["gaussian:2"])} == {"w2gn"}


def test_labels_are_what_the_store_records(tmp_path):
    configs = [RunConfig("w2gn", "gaussian:2", seed=1, steps=3, batch_size=16, label=label,
                         solver_options={"hidden_sizes": [8, 8], "pretrain_steps": 0, **extra})
               for label, extra in (("w2gn[icnn]", {}), ("w2gn[mlp]", {"potential": "mlp"}))]
    with ResultStore(tmp_path / "r.sqlite") as store:
        summaries = run_bench(configs, store, progress=False)
        stored = sorted((r["solver"], r["config"]["solver_options"].get("potential")) for r in store.runs())
    assert [s.solver for s in summaries] == ["w2gn[icnn]", "w2gn[mlp]"]
    assert stored == [("w2gn[icnn]", None), ("w2gn[mlp]", "mlp")]


def test_w2_hd_preset_covers_every_w2_ot_solver():
    """The leaderboard preset runs every registered W2 OT solver (the WGAN map learners are W2GAN's baselines,
    not OT solvers; ``auto`` picks one of the others) on D = 2, 8, 32, and every per-solver option set builds
    a valid solver."""
    from monge.solvers import available_solvers, get_solver

    preset = get_preset("w2-hd")
    expected = set(available_solvers(cost="w2")) - {"wgan-gp-map", "wgan-lp-map", "auto"}
    assert set(preset.solvers) == expected
    assert preset.pairs == ("w2b-mix:2", "w2b-mix:8", "w2b-mix:32")
    for solver, options in preset.solver_options.items():
        assert get_solver(solver, **options).settings()
