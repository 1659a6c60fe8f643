"""Named benchmark presets (``monge bench --preset quick``): the bundled TOML files of ``monge/config/presets/``,
read by :mod:`monge.config` like sweep files. A :class:`Preset` is the file's dict and its validated model;
:meth:`Preset.configs` applies the CLI flags as overrides on that dict and expands it like a sweep file."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Mapping, Sequence

from monge.config.loader import load_preset, preset_names, validate
from monge.config.run import RunConfig
from monge.config.schema import PresetFile, SweepFile
from monge.config.sweep import expand_runs
from monge.errors import InvalidInputError, SweepConfigError

_FLAG_NAMES = {"every": "eval_every", "samples": "eval_samples", "seeds": "seed", "pairs": "pair"}


@dataclass(frozen=True)
class Preset:
    """A set of runs in the sweep schema, plus a ``description`` and the CLI's torch ``threads``.

    ``raw`` is the file's dict (``{"name": ..., "solvers": [...], "pairs": [...], "budget": {...}}``). Labelled
    solver entries are variants of one solver; a solver entry's ``budget.steps`` is that solver's step count.
    """

    raw: Mapping[str, Any]

    @cached_property
    def model(self) -> PresetFile:
        return validate(PresetFile, self.raw)

    name = property(lambda self: self.model.name or "custom")
    description = property(lambda self: self.model.description)
    threads = property(lambda self: self.model.threads)
    pairs = property(lambda self: tuple(p.spec for p in self.model.pairs))
    solvers = property(lambda self: tuple(dict.fromkeys(e.name for e in self.model.solvers)))
    steps = property(lambda self: self.model.budget.steps)
    batch_size = property(lambda self: self.model.budget.batch_size)
    solver_options = property(lambda self: {e.name: dict(e.options) for e in self.model.solvers if not e.label})

    def configs(self, *, solvers: Sequence[str] | None = None, pairs: Sequence[str] | None = None,
                seeds: Sequence[int] | None = None, steps: int | None = None, batch_size: int | None = None,
                eval_every: int | None = None, eval_samples: int | None = None, time_budget_s: float | None = None,
                options: Mapping[str, Any] | None = None, pair_root: str | None = None) -> list[RunConfig]:
        """The preset's run configs, any non-``None`` argument overriding the preset's value (``solvers`` replaces
        the entries, keeping a named solver's own options and budget; ``options`` are added to every solver's
        options; ``pair_root`` is the folder of published pair files)."""
        raw = copy.deepcopy(dict(self.raw))
        entries = [e if isinstance(e, dict) else {"name": e} for e in raw["solvers"]]
        if solvers:
            own = {e["name"].strip().lower(): e for e in entries if not e.get("label")}
            entries = [{k: v for k, v in own.get(s.strip().lower(), {"name": s}).items() if k != "label"}
                       for s in solvers]
        for entry in entries:
            entry["options"] = {**entry.get("options", {}), **(options or {})}
            if steps is not None:
                entry.get("budget", {}).pop("steps", None)
        budget = {**raw.get("budget", {}), **({} if steps is None else {"steps": steps}),
                  **({} if batch_size is None else {"batch_size": batch_size}),
                  **({} if time_budget_s is None else {"minutes": time_budget_s / 60.0})}
        evaluation = {**raw.get("evaluation", {}), **({} if eval_every is None else {"every": eval_every}),
                      **({} if eval_samples is None else {"samples": eval_samples})}
        raw.update(solvers=entries, budget=budget, evaluation=evaluation, pairs=list(pairs or raw["pairs"]),
                   seeds=list(seeds or raw.get("seeds", [0])))
        for key in ("description", "threads", "order"):
            raw.pop(key, None)
        if pair_root is not None:
            raw["pair_root"] = str(pair_root)
        try:
            model = validate(SweepFile, raw)
        except SweepConfigError as exc:  # name the field as the CLI flag does, the value as the caller gave it
            leaf = str(exc.key).rpartition(".")[2].partition("[")[0]
            if leaf == "minutes":
                raise InvalidInputError(f"time budget must be a positive number of seconds, got {time_budget_s!r}"
                                        ) from None
            raise InvalidInputError(f"{_FLAG_NAMES.get(leaf, leaf)} {exc.problem}") from None
        runs = expand_runs(model, raw, check=False, default_label=False)
        seconds = time_budget_s if time_budget_s is not None else model.budget.minutes and model.budget.minutes * 60.0
        return runs if seconds is None else [replace(r, time_budget_s=seconds) for r in runs]  # exact seconds


def custom_preset(solvers: Sequence[str], pairs: Sequence[str]) -> Preset:
    """The runs of ``monge bench --solver ... --pair ...`` without a preset: 1000 steps of batch 256, seed 0."""
    return Preset({"name": "custom", "solvers": list(solvers), "pairs": list(pairs),
                   "budget": {"steps": 1000, "batch_size": 256}})


PRESETS: dict[str, Preset] = {name: Preset(load_preset(name)[1]) for name in preset_names()}
"""Registered presets by name (the bundled files, in their ``order``)."""


def get_preset(name: str) -> Preset:
    """The preset called ``name``; :class:`~monge.errors.UnknownNameError` listing the available ones otherwise."""
    load_preset(name)  # UnknownNameError for an unknown name
    return PRESETS[name.strip().lower()]


__all__ = ["PRESETS", "Preset", "custom_preset", "get_preset"]
