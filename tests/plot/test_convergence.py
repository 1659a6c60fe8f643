"""Convergence figures: log y-axis for error metrics, baselines as labelled horizontal lines, non-positive values
handled, and the same figure in ``monge bench --out`` and ``monge report``."""

from __future__ import annotations

import math

import pytest

from monge.plot import convergence_figure, plot_convergence
from monge.run import ResultStore, RunConfig, run_bench
from monge.solvers import SOLVERS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BASELINE_VALUES = {"identity": 20.0, "constant": 100.0, "linear": 0.0, "discrete_ot": 1.7}


def _store_with_runs(store: ResultStore) -> tuple[list[int], dict[str, int]]:
    """Two trained runs on gaussian:2 (one with an L2-UVP of 0 at one step) and four baseline rows."""
    runs = []
    for seed, curve in ((0, [30.0, 3.0, 0.0, 0.5]), (0, [25.0, 2.0, 0.8, 0.4])):
        run = store.start_run(solver="w2gn", pair="gaussian:2", dim=2, seed=seed, steps_requested=40, batch_size=8,
                              eval_every=10)
        for step, value in zip((10, 20, 30, 40), curve):
            store.log_eval(run, step, step / 10, {"l2_uvp_fwd": value, "l2_uvp_inv": 2 * value + 0.1, "cos_fwd": 0.9})
        store.finish_run(run, "finished", steps_done=40)
        runs.append(run)
    baselines = {}
    for name, value in BASELINE_VALUES.items():
        for _ in range(2):  # stored twice (two benches): only the newest row of each is drawn
            run = store.start_run(solver=f"baseline:{name}", pair="gaussian:2", dim=2, seed=0, steps_requested=0,
                                  batch_size=0, eval_every=0)
            store.log_eval(run, 0, 0.0, {"l2_uvp_fwd": value, "l2_uvp_inv": value + 0.5, "cos_fwd": float("nan")})
            store.finish_run(run, "finished", steps_done=0)
            baselines[name] = run
    return runs, baselines


def _horizontal_lines(ax) -> dict[str, object]:
    """Label → Line2D of every horizontal line (constant y, x spanning the axes) drawn on ``ax``."""
    out = {}
    for line in ax.get_lines():
        ys, xs = list(line.get_ydata()), list(line.get_xdata())
        if len(set(ys)) == 1 and xs == [0, 1]:
            out[line.get_label()] = line
    return out


def test_log_axis_and_one_labelled_horizontal_line_per_baseline(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        runs, baselines = _store_with_runs(store)
        all_ids = runs + [baselines[n] - 1 for n in BASELINE_VALUES] + list(baselines.values())
        fig = convergence_figure(store, all_ids)
        path = plot_convergence(store, all_ids, tmp_path / "c.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["forward L2-UVP (%)", "inverse L2-UVP (%)"]
    for ax in axes:
        assert ax.get_yscale() == "log"
        bottom, top = ax.get_ylim()
        assert 0 < bottom < top
        lines = _horizontal_lines(ax)
        assert len(lines) == len(BASELINE_VALUES)  # one per baseline, not one per stored row
        for name in BASELINE_VALUES:
            (label,) = [label for label in lines if label.startswith(f"{name}: ")]
            y = lines[label].get_ydata()[0]
            if name == "linear" and ax.get_ylabel().startswith("forward"):
                # 0 cannot sit on a log axis: drawn on the bottom edge and labelled so
                assert label == "linear: 0 (below the axis)" and y == pytest.approx(bottom)
            else:
                expected = BASELINE_VALUES[name] + (0.5 if ax.get_ylabel().startswith("inverse") else 0.0)
                assert y == pytest.approx(expected) and label == f"{name}: {expected:.3g}"
                assert bottom <= y <= top
        # the baseline names are also written on the lines
        assert {t.get_text() for t in ax.texts} >= set(BASELINE_VALUES)
        # trained runs are curves (not dots at step 0), with every drawn y value positive
        curves = [line for line in ax.get_lines() if line.get_label().startswith("#")]
        assert len(curves) == 2 and all(list(c.get_xdata()) == [10, 20, 30, 40] for c in curves)
        assert all(y > 0 for c in curves for y in c.get_ydata() if not math.isnan(y))
    # the 0 of the first run's forward L2-UVP is left out of the log axis, and the legend says so
    forward = [line for line in axes[0].get_lines() if line.get_label().startswith(f"#{runs[0]} ")][0]
    assert math.isnan(forward.get_ydata()[2]) and "(1 point ≤ 0 not shown)" in forward.get_label()
    assert axes[0].get_legend() is not None


def test_panels_with_no_positive_value_and_cosines_stay_linear(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        run = store.start_run(solver="s", pair="gaussian:2", dim=2, seed=0, steps_requested=2, batch_size=8,
                              eval_every=1)
        for step, value in ((1, 0.0), (2, -1.0)):
            store.log_eval(run, step, 1.0, {"l2_uvp_fwd": value, "cos_fwd": -0.5 + step})
        store.finish_run(run, "finished", steps_done=2)
        fig = convergence_figure(store, [run], metrics=["l2_uvp_fwd", "cos_fwd"])
        plot_convergence(store, [run], tmp_path / "c.png", metrics=["l2_uvp_fwd", "cos_fwd"])
    assert [ax.get_yscale() for ax in fig.axes] == ["linear", "linear"]
    assert list(fig.axes[0].get_lines()[0].get_ydata()) == [0.0, -1.0]


def test_bench_and_report_draw_the_same_figure_with_baselines(tmp_path, monkeypatch):
    """``monge bench --out`` (run_bench) and ``monge report`` both call monge.plot.plot_convergence with the pair's
    trained runs and its baseline rows."""
    import monge.plot
    import monge.run.runner
    from monge.report import write_report

    calls = []
    original = monge.plot.plot_convergence

    def recording(store, run_ids, path, **kwargs):
        calls.append(sorted(run_ids))
        return original(store, run_ids, path, **kwargs)

    monkeypatch.setattr(monge.plot, "plot_convergence", recording)
    monkeypatch.setattr(monge.run.runner, "plot_convergence", recording)
    cfg = RunConfig("w2gn", "gaussian:2", solver_options=dict(SOLVERS["w2gn"].smoke_options), steps=4, batch_size=32,
                    eval_every=2, eval_samples=256)
    with ResultStore(tmp_path / "r.sqlite") as store:
        summaries = run_bench([cfg], store, out_dir=tmp_path / "plots", progress=False, baselines=True)
        write_report(store, tmp_path / "report.html")
    ids = sorted(s.run_id for s in summaries)
    assert len(ids) == 5 and [s.solver for s in summaries][1:] == [
        "baseline:identity", "baseline:constant", "baseline:linear", "baseline:discrete_ot"]
    assert calls == [ids, ids]
    assert (tmp_path / "plots" / "convergence_gaussian_2.png").read_bytes()[:8] == PNG_MAGIC
