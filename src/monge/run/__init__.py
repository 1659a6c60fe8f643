"""Running benchmarks: ``monge bench`` (:mod:`monge.run.runner`), one run's training and tracking
(:mod:`monge.run.tracker`), sweeps (driver, workers, executors, checkpoints) and pair building. Configurations come
from :mod:`monge.config`, results go to :mod:`monge.results`; both are re-exported here for convenience."""

from monge.config.preset import PRESETS, Preset, custom_preset, get_preset
from monge.config.run import RunConfig
from monge.results import SCHEMA_VERSION, ResultStore, RunSummary, summaries_from_store
from monge.run.runner import run_bench

__all__ = ["PRESETS", "Preset", "custom_preset", "get_preset", "RunConfig", "RunSummary", "run_bench", "summaries_from_store",
           "SCHEMA_VERSION", "ResultStore"]
