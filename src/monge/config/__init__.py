"""Configuration: one pydantic schema for sweep files, bundled presets and per-run settings.

:mod:`monge.config.schema` holds the models, :mod:`monge.config.loader` reads TOML/YAML files and bundled
presets (``presets/*.toml``) into them, with :class:`~monge.errors.SweepConfigError` naming the file, the
key path and the value of any problem. This layer imports no execution code (run, cli, apps, plot);
:mod:`monge.config.sweep` and :mod:`monge.config.preset` expand the models into run configs
(:class:`~monge.config.run.RunConfig`).
"""

from monge.config.loader import format_key_path, load_preset, preset_names, read_config, validate, yaml_key_lines
from monge.config.schema import Budget, ExecutorSettings, PairEntry, PresetFile, SolverEntry, SweepFile

__all__ = ["Budget", "ExecutorSettings", "PairEntry", "PresetFile", "SolverEntry", "SweepFile", "format_key_path",
           "load_preset", "preset_names", "read_config", "validate", "yaml_key_lines"]
