"""Named benchmark presets (``monge bench --preset quick``): the bundled TOML files of ``monge/config/presets/``,
read by :mod:`monge.config` like sweep files. :meth:`Preset.configs` applies the CLI flags as overrides on the
same sweep model and expands it like a sweep file."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from monge.config.loader import load_preset, preset_names, validate
from monge.config.schema import SweepFile
from monge.errors import InvalidInputError, SweepConfigError
from monge.config.run import RunConfig
from monge.config.sweep import expand_runs


@dataclass(frozen=True)
class Preset:
    """A set of runs: every solver × pair × seed with one budget (``threads``: torch threads for the CLI).

    ``solver_options`` and ``solver_steps`` are per solver name (an explicit ``steps`` overrides the latter);
    ``variants`` are ``(label, solver, options)`` triples run instead of ``solvers`` unless solvers are given.
    """

    name: str
    description: str
    solvers: tuple[str, ...]
    pairs: tuple[str, ...]
    steps: int
    batch_size: int
    eval_every: int | None = None
    seeds: tuple[int, ...] = (0,)
    eval_samples: int = 4096
    time_budget_s: float | None = None
    threads: int | None = None
    solver_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    variants: tuple[tuple[str, str, Mapping[str, Any]], ...] = ()
    solver_steps: Mapping[str, int] = field(default_factory=dict)

    def configs(self, *, solvers: Sequence[str] | None = None, pairs: Sequence[str] | None = None,
                seeds: Sequence[int] | None = None, steps: int | None = None, batch_size: int | None = None,
                eval_every: int | None = None, eval_samples: int | None = None, time_budget_s: float | None = None,
                options: Mapping[str, Any] | None = None, pair_root: str | None = None) -> list[RunConfig]:
        """The preset's run configs, any non-``None`` argument overriding the preset's value (``options`` are
        added to every solver's options; ``pair_root`` is the folder of published pair files)."""
        if solvers or not self.variants:
            entries = [{"name": s, "options": dict(self.solver_options.get(s.strip().lower(), {}))}
                       for s in solvers or self.solvers]
        else:
            entries = [{"label": label, "name": s, "options": dict(opts)} for label, s, opts in self.variants]
        for entry in entries:
            entry["options"].update(options or {})
            if steps is None and entry["name"].strip().lower() in self.solver_steps:
                entry["budget"] = {"steps": self.solver_steps[entry["name"].strip().lower()]}
        seconds = self.time_budget_s if time_budget_s is None else time_budget_s
        budget = {"steps": self.steps if steps is None else steps,
                  "batch_size": self.batch_size if batch_size is None else batch_size,
                  **({} if seconds is None else {"minutes": seconds / 60.0})}
        evaluation = {"every": self.eval_every if eval_every is None else eval_every,
                      "samples": self.eval_samples if eval_samples is None else eval_samples}
        raw = {"name": self.name, "solvers": entries, "pairs": list(pairs or self.pairs),
               "seeds": list(seeds or self.seeds), "budget": budget,
               "evaluation": {k: v for k, v in evaluation.items() if v is not None},
               **({} if pair_root is None else {"pair_root": str(pair_root)})}
        try:
            model = validate(SweepFile, raw)
        except SweepConfigError as exc:  # name the field as RunConfig does, the value as the caller gave it
            leaf = str(exc.key).rpartition(".")[2].partition("[")[0]
            if leaf == "minutes":
                raise InvalidInputError(f"time budget must be a positive number of seconds, got {seconds!r}") from None
            name = {"every": "eval_every", "samples": "eval_samples", "seeds": "seed", "pairs": "pair"}.get(leaf, leaf)
            raise InvalidInputError(f"{name} {exc.problem}") from None
        runs = expand_runs(model, raw, check=False, default_label=False)
        return runs if seconds is None else [replace(r, time_budget_s=seconds) for r in runs]  # exact seconds

    @classmethod
    def from_model(cls, model: Any) -> Preset:
        """The preset of a validated :class:`~monge.config.schema.PresetFile`."""
        minutes = model.budget.minutes
        return cls(name=model.name, description=model.description, pairs=tuple(p.spec for p in model.pairs),
                   solvers=tuple(dict.fromkeys(e.name for e in model.solvers)), steps=model.budget.steps,
                   batch_size=model.budget.batch_size, eval_every=model.evaluation.every, seeds=tuple(model.seeds),
                   eval_samples=model.evaluation.samples or 4096, threads=model.threads,
                   time_budget_s=None if minutes is None else minutes * 60.0,
                   solver_options={e.name: dict(e.options) for e in model.solvers if not e.label and e.options},
                   variants=tuple((e.label, e.name, dict(e.options)) for e in model.solvers if e.label),
                   solver_steps={e.name: e.budget.steps for e in model.solvers if e.budget.steps is not None})


PRESETS: dict[str, Preset] = {name: Preset.from_model(load_preset(name)[0]) for name in preset_names()}
"""Registered presets by name (the bundled files, in their ``order``)."""


def get_preset(name: str) -> Preset:
    """The preset called ``name``; :class:`~monge.errors.UnknownNameError` listing the available ones otherwise."""
    load_preset(name)  # UnknownNameError for an unknown name
    return PRESETS[name.strip().lower()]
