"""Running benchmarks: run configs, the runner, presets and the SQLite results store."""

from monge.run.presets import PRESETS, Preset, get_preset
from monge.run.runner import RunConfig, RunSummary, leaderboard_table, run_bench, summaries_from_store
from monge.run.store import SCHEMA_VERSION, ResultStore

__all__ = ["PRESETS", "Preset", "get_preset", "RunConfig", "RunSummary", "leaderboard_table", "run_bench",
           "summaries_from_store", "SCHEMA_VERSION", "ResultStore"]
