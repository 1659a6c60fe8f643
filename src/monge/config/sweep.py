"""Sweep files for ``monge sweep FILE`` (TOML or YAML, docs/sweeps.md), expanded into run configs.

:func:`load_sweep` reads a file with :mod:`monge.config` and returns a :class:`SweepSpec`; :func:`parse_sweep`
does the same for a parsed dict. Problems raise :class:`~monge.errors.SweepConfigError` naming the file, the
key path (list indices count from 0) and the value, and for YAML the line::

    sweep.yaml, line 12, solvers[1].options.lr: ENOT: lr must be a finite number > 0, got -1
"""

from __future__ import annotations

import copy
import difflib
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from monge.config.loader import KeyPath, config_error, format_key_path, line_of, read_config, read_yaml, validate
from monge.config.schema import ExecutorSettings, SweepFile, is_int
from monge.errors import InvalidInputError, MongeError, SweepConfigError, UnknownNameError
from monge.config.run import RunConfig, check_costs_match


@dataclass(frozen=True)
class SweepSpec:
    """A parsed and validated sweep: its ``name`` (default: the file's stem), the ``file`` it came from, its
    ``runs`` in expansion order, the ``executor`` settings, ``checkpoint_every`` (steps), the results ``db`` and
    ``out_dir`` (absolute, or ``None``: the caller chooses), and the ``raw`` dict, stored with the results."""

    name: str
    file: Path | None
    runs: tuple[RunConfig, ...]
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    checkpoint_every: int = 100
    db: Path | None = None
    out_dir: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not is_int(self.checkpoint_every):
            raise InvalidInputError(f"checkpoint_every must be a positive integer, got {self.checkpoint_every!r}")


def load_sweep(path: str | os.PathLike[str], *, pair_root: str | os.PathLike[str] | None = None) -> SweepSpec:
    """Read and validate the sweep file ``path`` (``.toml``, ``.yaml`` or ``.yml``) into a :class:`SweepSpec`.

    ``pair_root`` (``monge sweep --pair-root``) replaces the file's top-level ``pair_root`` (a ``pairs`` entry
    with its own keeps it); a relative path is taken from the current folder. A YAML file without PyYAML
    raises :class:`~monge.errors.MissingDependencyError`.
    """
    file = Path(path)
    data, lines = read_config(file)
    if pair_root is not None and isinstance(data, dict):
        data = {**data, "pair_root": str(Path(pair_root).expanduser().resolve())}
    return _spec(data, file, lines)


def parse_sweep(data: Mapping[str, Any], *, file: str | os.PathLike[str] | None = None,
                text: str | None = None) -> SweepSpec:
    """Validate a parsed sweep config ``data`` into a :class:`SweepSpec`; ``file`` names it in errors, gives the
    default name and anchors relative paths (default: the current folder); ``text``, a YAML file's contents,
    gives errors their lines."""
    path = None if file is None else Path(file)
    yaml = text is not None and path is not None and path.suffix.lower() in (".yaml", ".yml")
    return _spec(data, path, read_yaml(text, path)[1] if yaml else {})


def _spec(data: Any, file: Path | None, lines: Mapping[KeyPath, int]) -> SweepSpec:
    model = validate(SweepFile, data, file=file, lines=lines)
    base = (file.parent if file is not None else Path(".")).absolute()
    runs = expand_runs(model, data, file=file, lines=lines, base=base)
    out = {key: None if value is None else _resolve(base, value) for key, value in model.output}
    return SweepSpec(name=model.name or (file.stem if file is not None else "sweep"), file=file, runs=tuple(runs),
                     executor=ExecutorSettings(**model.executor.model_dump()), checkpoint_every=model.checkpoint.every,
                     db=out["db"], out_dir=out["dir"], raw=dict(data))


def _resolve(base: Path | None, text: str) -> Any:
    return text if base is None else Path(os.path.abspath(base / Path(text).expanduser()))


def _show(value: Any) -> str:
    """A value as written in a label: strings bare, numbers and lists as compact JSON."""
    try:
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(value)


def expand_runs(model: SweepFile, raw: Mapping[str, Any], *, file: Path | None = None,
                lines: Mapping[KeyPath, int] | None = None, base: Path | None = None, check: bool = True,
                default_label: bool = True) -> list[RunConfig]:
    """The runs of a validated sweep or preset ``model`` (``raw``: the dict it was validated from).

    Runs go solvers × grid combinations (cartesian, keys in file order; their values override ``options`` and
    make the label ``LABEL[key=value,...]``) × pairs × seeds. ``base`` anchors relative paths (``None``: kept as
    written). With ``check`` (sweep files) repeated seeds, pairs, grid values and labels, unknown solvers or
    options (:func:`~monge.solvers.get_solver`), unknown or unloadable pairs (:func:`~monge.pairs.make_pair`),
    mismatched costs and runs :meth:`RunConfig.validate` rejects raise located errors; without it (presets
    from the CLI) the caller validates the runs. ``default_label``: an entry without label or grid is labelled
    with its solver name (else ``None``).
    """
    lines = lines or {}

    def error(path: KeyPath, problem: str) -> SweepConfigError:
        return config_error(file, lines, path, problem)

    def where(path: KeyPath) -> str:
        line = line_of(lines, path)
        return format_key_path(path) + ("" if line is None else f" (line {line})")

    def repeated(values: list[Any], path: KeyPath, what: str) -> None:
        for later, value in enumerate(values):
            if value in values[:later]:
                raise error(path + (later,), what.format(value, values.index(value)) + "; it would run the same "
                                                                                       "runs twice")

    name_paths = [("solvers", i) if isinstance(item, str) else ("solvers", i, "name")
                  for i, item in enumerate(raw["solvers"])]
    root = None if model.pair_root is None else _resolve(base, model.pair_root)
    pairs = []  # (spec, pair_root, path of the spec)
    for i, entry in enumerate(model.pairs):
        own = root if entry.pair_root is None else _resolve(base, entry.pair_root)
        pairs.append((entry.spec, None if own is None else str(own),
                      ("pairs", i) if isinstance(raw["pairs"][i], str) else ("pairs", i, "spec")))
    if check:
        repeated(list(model.seeds), ("seeds",), "seed {0} is repeated (also seeds[{1}])")
        repeated([p[:2] for p in pairs], ("pairs",), "pair {0[0]!r} is repeated (also pairs[{1}])")
        for i, entry in enumerate(model.solvers):
            for key, values in entry.grid.items():
                repeated(values, ("solvers", i, "grid", key), "value {0!r} is repeated (also at index {1})")
    settings = {f"eval_{k}": v for k, v in model.evaluation.model_dump(exclude_none=True).items()}
    if model.device is not None:
        try:
            RunConfig(solver="-", pair="-", device=model.device).validate()
        except InvalidInputError as exc:
            raise error(("device",), str(exc)) from None
        settings["device"] = model.device
    variants, owners = [], {}
    for i, entry in enumerate(model.solvers):
        for values in itertools.product(*entry.grid.values()):
            combo = dict(zip(entry.grid, values))
            options = {**entry.options, **combo}
            solver = _build_solver(entry, options, name_paths[i], error) if check else None
            label = (entry.label or entry.name) + (f"[{','.join(f'{k}={_show(v)}' for k, v in combo.items())}]"
                                                   if combo else "")
            owner = owners.setdefault(label, i)
            if check and owner != i:
                raise error(("solvers", i, "label") if entry.label else name_paths[i],
                            f"label {label!r} is also used by {where(('solvers', owner))}: both would make the "
                            f"same runs; give one a distinct label")
            variants.append((i, entry, label if default_label or entry.label or combo else None, options, solver))
    if check:
        built: dict[tuple, Any] = {}
        for spec, pair_root, path in pairs:
            if (spec, pair_root) not in built:
                built[spec, pair_root] = _build_pair(spec, pair_root, path, error)
        for i, entry, _, _, solver in variants:
            for spec, pair_root, path in pairs:
                try:
                    check_costs_match(entry.name, solver, spec, built[spec, pair_root])
                except InvalidInputError as exc:
                    raise error(name_paths[i], f"{exc} (the pair is {where(path)})") from None
    runs = []
    for i, entry, label, options, _ in variants:
        budget = {**model.budget.run_fields(), **entry.budget.run_fields(), **settings}
        if "time_budget_s" in budget and "steps" not in budget:
            budget["steps"] = None           # minutes alone: the solver plans its steps
        for spec, pair_root, _ in pairs:
            for seed in model.seeds:
                run = RunConfig(solver=entry.name, pair=spec, solver_options=copy.deepcopy(options), seed=seed,
                                pair_root=pair_root, label=label, **budget)
                try:
                    runs.append(run.validate() if check else run)
                except InvalidInputError as exc:
                    raise error(("solvers", i), str(exc)) from None
    return runs


def _build_solver(entry: Any, options: Mapping[str, Any], name_path: KeyPath, error: Any) -> Any:
    """``get_solver(entry.name, **options)``, its errors located at the option they name (else at the name)."""
    from monge.solvers import get_solver

    try:
        return get_solver(entry.name, **options)
    except UnknownNameError as exc:
        raise error(name_path, str(exc)) from None
    except (MongeError, TypeError, ValueError) as exc:
        message, base = str(exc), name_path[:2]
        named = [(m.start(), base + (section, key)) for section in ("grid", "options") for key in getattr(entry, section)
                 if (m := re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", message))]
        raise error(min(named)[1] if named else next((base + (s,) for s in ("options", "grid") if getattr(entry, s)),
                                                     base), message) from None


def _build_pair(spec: str, root: str | None, path: KeyPath, error: Any) -> Any:
    """``make_pair(spec, seed=0, root=root)``, its errors located at the pair."""
    from monge.pairs import available_pairs, describe_pair_families, make_pair

    try:
        return make_pair(spec, seed=0, root=root)
    except UnknownNameError as exc:
        prefix, _, arg = spec.partition(":")
        families = [family["prefix"] for family in describe_pair_families()]
        if prefix.strip().lower() in families:  # a known family with an unknown member (toy:...)
            close = difflib.get_close_matches(spec, [n for n in available_pairs() if "<" not in n], n=3, cutoff=0.6)
        else:
            close = [f"{name}:{arg}" for name in difflib.get_close_matches(prefix.strip().lower(), families, n=2)]
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise error(path, f"unknown pair {spec!r}{hint}; available: {', '.join(exc.available)}") from None
    except (MongeError, OSError, ValueError) as exc:
        hint = " (in a sweep file: set pair_root, at the top or in this pairs entry)"
        raise error(path, str(exc) + (hint if root is None and "root" in str(exc) else "")) from None
