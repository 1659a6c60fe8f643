"""Stored runs as rows: the :class:`RunSummary` of one run, and what a row says about itself (its pair's label and
construction version, W1 or W2, baseline or trained, a garbage map, the papers' number beside it).

Rows are :meth:`~monge.results.store.ResultStore.leaderboard` dicts or :class:`RunSummary` objects; every reader
(tables, exports, the report, the bench) uses these functions rather than its own rules.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

from monge.pairs import current_pair_version

GARBAGE_FACTOR = 100.0
"""A W2 map whose forward L2-UVP is more than this many times the identity map's (and more than
:data:`GARBAGE_FLOOR`) is garbage, not a result."""
GARBAGE_FLOOR = 1000.0
"""Forward L2-UVP (%) below which no map is called garbage: 10× the constant map's 100 %, so a pair whose
identity map is already nearly exact does not flag merely poor maps."""
GARBAGE_L2_UVP = 1e4
"""Forward L2-UVP (%) above which a stored map is flagged when its run did not record the identity's (older
runs): about 100× the identity map's on monge's standardised benchmark pairs."""

W1_METRICS = frozenset({"cos_grad", "w1_estimate", "w1_dev"})
"""A row with any of these metrics is a W1 (critic) run."""


@dataclass(frozen=True)
class RunSummary:
    """The outcome of one run (also what :meth:`ResultStore.leaderboard` rows hold).

    Attributes:
        run_id, solver, pair, dim, seed, status, error: as stored (``solver``: the run's label, e.g.
            ``"w2gn[mlp]"`` for a variant, else the solver name).
        steps_requested, steps_done: budget and steps actually trained.
        wall_time_s: whole run including evaluations (a resumed run: summed over its attempts, each up to
            its last checkpoint); train_time_s: time inside ``fit`` minus evaluations (includes a solver's
            set-up such as pre-training); steps_per_s: speed of the training loop (between the first and the
            last step of the last attempt, evaluations excluded).
        final: metrics at the last evaluation; best: best value of each metric over the run (by the metric's
            declared direction, :mod:`monge.metrics.registry`).
        plots: PNG files written for this run (2-D map plots).
        result_dir: the folder holding the run's saved result (``monge bench --keep-results``), or ``None``.
        reused: the run was already stored with the same configuration and was not trained again
            (``run_bench(..., reuse=True)``, the CLI's default).
    """

    run_id: int
    solver: str
    pair: str
    dim: int
    seed: int
    status: str
    steps_requested: int
    steps_done: int
    wall_time_s: float | None
    train_time_s: float | None
    steps_per_s: float | None
    final: dict[str, float | None]
    best: dict[str, float]
    error: str | None = None
    plots: tuple[str, ...] = ()
    result_dir: str | None = None
    reused: bool = False

    def metric(self, name: str, which: str = "final") -> float | None:
        """``final`` (default) or ``best`` value of metric ``name``, ``None`` if it was not evaluated."""
        return (self.final if which == "final" else self.best).get(name)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "RunSummary":
        """The summary of a :meth:`ResultStore.leaderboard` row."""
        return cls(run_id=int(row["id"]), solver=row["solver"], pair=row["pair"], dim=int(row["dim"]),
                   seed=int(row["seed"]), status=row["status"], steps_requested=int(row["steps_requested"]),
                   steps_done=int(row["steps_done"]), wall_time_s=row["wall_time_s"], train_time_s=row["train_time_s"],
                   steps_per_s=row["steps_per_s"], final=dict(row["final"]), best=dict(row["best"]), error=row["error"],
                   result_dir=(row.get("config") or {}).get("result_dir"))


def summaries_from_store(store: Any, run_ids: Iterable[int] | None = None, **filters: Any) -> list[RunSummary]:
    """:class:`RunSummary` objects for stored runs (``run_ids`` or :meth:`ResultStore.runs` filters)."""
    return [RunSummary.from_row(row) for row in store.leaderboard(run_ids, **filters)]


def stored_pair_version(row: Mapping[str, Any]) -> int | None:
    """The pair-family version a stored run was made with: its config's ``pair_version``; 1 for a run whose config
    names its pair spec but no version (stored before monge recorded versions, when every family was at version
    1); ``None`` when the config does not say (a row written by hand, without a run config)."""
    config = row.get("config") or {}
    value = config.get("pair_version")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return 1 if "pair" in config else None


def pair_label(row: Mapping[str, Any]) -> str:
    """The pair name a stored run is shown and grouped under: its ``pair``, followed by `` (v<N>)`` when it was
    made with an older version N of the pair family than this monge builds (e.g. ``gaussian:2 (v1)``, the centred
    Gaussian pairs), so that old and new runs are never averaged or plotted as one pair. Rows whose config does
    not tell (:func:`stored_pair_version` is ``None``: a :class:`RunSummary` of this session, a row written by
    hand) and rows already labelled are returned as they are."""
    pair = str(row.get("pair", ""))
    stored = stored_pair_version(row)
    if stored is None:
        return pair
    current = current_pair_version(pair)
    if current is None or stored == current or pair.endswith(f" (v{stored})"):
        return pair
    return f"{pair} (v{stored})"


def row_dict(item: RunSummary | Mapping[str, Any]) -> dict[str, Any]:
    """A row as a plain dict with ``run_id``, ``final`` and ``best``, its pair labelled by :func:`pair_label`."""
    if isinstance(item, RunSummary):
        return asdict(item)
    row = dict(item)
    row.setdefault("run_id", row.get("id"))
    row["final"] = dict(row.get("final") or {})
    row["best"] = dict(row.get("best") or {})
    row["pair"] = pair_label(row)
    return row


def is_w1_row(row: Mapping[str, Any]) -> bool:
    """Whether a row is a W1 (critic) run: it holds W1 metrics, or (nothing evaluated yet) its config says
    ``cost = "w1"``."""
    metrics = {**dict(row.get("final") or {}), **dict(row.get("best") or {})}
    if metrics:
        return any(k in metrics for k in W1_METRICS)
    return (row.get("config") or {}).get("cost") == "w1"


def is_baseline(row: Mapping[str, Any]) -> bool:
    """Whether a stored run is a baseline row (solver ``baseline:*``) rather than a trained solver."""
    return str(row.get("solver", "")).startswith("baseline:")


def pair_family(pair: str) -> str:
    """The family of a pair name: the part before the first ``:`` (``"w2b-mix:16"`` → ``"w2b-mix"``)."""
    return str(pair).split(":", 1)[0].strip() or str(pair)


def garbage_flag(final: Mapping[str, Any]) -> str | None:
    """Why a W2 run's final metrics are garbage (forward L2-UVP orders of magnitude worse than the identity map's,
    or not finite), or ``None``. Runs that recorded the identity's L2-UVP (``l2_uvp_fwd_identity``) are measured
    against :data:`GARBAGE_FACTOR` × it (at least :data:`GARBAGE_FLOOR`), older ones against
    :data:`GARBAGE_L2_UVP`."""
    value = final.get("l2_uvp_fwd")
    if value is None:
        return None
    identity = final.get("l2_uvp_fwd_identity")
    if identity is not None and math.isfinite(identity):
        limit = max(GARBAGE_FACTOR * identity, GARBAGE_FLOOR)
    else:
        identity, limit = None, GARBAGE_L2_UVP
    if math.isfinite(value) and value <= limit:
        return None
    against = (f"{limit:.3g} % ({GARBAGE_FACTOR:g}× the identity map's {identity:.3g} %, at least "
               f"{GARBAGE_FLOOR:g} %)" if identity is not None else f"{GARBAGE_L2_UVP:g} %")
    return f"garbage map: forward L2-UVP {value:.3g} %, more than {against}"


def status_of(row: Mapping[str, Any]) -> str:
    """The status shown for a row: its stored status, with ``, garbage map`` when a finished or stopped run's map
    is garbage (:func:`garbage_flag`)."""
    status = str(row.get("status", ""))
    if status in ("finished", "stopped") and garbage_flag(row.get("final") or {}):
        status = f"{status}, garbage map"
    return status


def published_value(column: str, solver: str, pair: str) -> float | str | None:
    """The papers' number in published column ``column`` (a metric's ``published`` in the catalogue,
    :mod:`monge.metrics.registry`) for monge's ``solver`` on ``pair``; ``None`` where they have none.

    ``published_l2_uvp_fwd``: the W2 benchmark's forward L2-UVP on ``w2b-mix:<D>``
    (:func:`monge.pairs.w2bench.published_l2_uvp`) and W2GN's Table 1 on ``gaussian:<D>``
    (:func:`monge.pairs.gaussian.published_gaussian_l2_uvp`, which also gives the paper's bounds ``"<1"``,
    ``">50"`` as text); ``published_cos_grad`` and ``published_w1_dev``: the W1 benchmark's gradient cosine and
    W1 deviation on ``w1b-funnel:<D>:<N>`` (:func:`monge.pairs.w1published.published_w1`), and the authors' CelebA
    numbers on ``w1img:<data>:1`` and ``:16``, for orientation only.
    """
    if column == "published_l2_uvp_fwd":
        if _family(pair) == "gaussian":
            from monge.pairs.gaussian import published_gaussian_l2_uvp

            return published_gaussian_l2_uvp(solver, pair)
        from monge.pairs.w2bench import published_l2_uvp

        return published_l2_uvp(solver, pair)
    from monge.pairs.w1published import published_w1

    row = published_w1(solver, pair)
    key = {"published_cos_grad": "cos", "published_w1_dev": "w1_dev"}.get(column)
    return None if row is None or key is None else row.get(key)


def _family(pair: str) -> str:
    return str(pair).strip().lower().partition(":")[0]


def published_source(column: str, pair: str | None = None) -> str:
    """The citation of published column ``column``'s numbers (on ``pair``'s family, when given)."""
    if column == "published_l2_uvp_fwd":
        if pair is not None and _family(pair) == "gaussian":
            from monge.pairs.gaussian import published_w2gn_gaussians_table

            return str(published_w2gn_gaussians_table()["source"])
        from monge.pairs.w2bench import published_w2bench_table

        return str(published_w2bench_table()["source"])
    from monge.pairs.w1published import published_w1bench_table, published_w1img_table

    if pair is not None and _family(pair) == "w1img":
        return str(published_w1img_table()["source"])
    return str(published_w1bench_table()["source"])


__all__ = ["GARBAGE_FACTOR", "GARBAGE_FLOOR", "GARBAGE_L2_UVP", "RunSummary", "garbage_flag",
           "is_baseline", "is_w1_row", "pair_family", "pair_label", "published_source", "published_value", "row_dict",
           "status_of", "stored_pair_version", "summaries_from_store"]
