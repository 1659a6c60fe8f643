"""Sweep configuration files for ``monge sweep FILE``: TOML or YAML, parsed and validated into run configs.

:func:`load_sweep` reads a ``.toml`` file (standard-library :mod:`tomllib`) or a ``.yaml``/``.yml`` file
(PyYAML, imported only then; :class:`~monge.errors.MissingDependencyError` if it is missing) and returns a
:class:`SweepSpec`: the expanded :class:`~monge.run.runner.RunConfig` of every run, the executor settings,
the checkpoint interval and the output paths. :func:`parse_sweep` does the same for an already parsed dict.
Every problem raises :class:`~monge.errors.SweepConfigError`, whose message names the file, the line and the
dotted key path (list indices count from 0)::

    sweep.toml, line 12, solvers[1].options.lr: W2GN: lr must be a finite number > 0, got -1

File schema (TOML; a YAML file has the same structure, every key optional unless marked *required*)::

    name = "w2-small"                  # sweep name; default: the file's stem
    seeds = [0, 1]                     # seeds of every (solver, pair); default [0]; integers >= 0, no repeats
    pairs = ["gaussian:2", "toy:swiss_roll"]   # *required*, non-empty: pair specs (see `monge pairs list`);
                                       # an entry may also be a table {spec = "...", pair_root = "..."}
    pair_root = "../shared/data/w2bench"       # default folder of published pair files (w2b-mix, w1b-funnel)
    device = "cpu"                     # device of every run: cpu (default), cuda, cuda:N, mps or auto (CUDA if
                                       # the worker has it); resolved where the run trains

    [budget]                           # defaults of every run
    steps = 2000                       # integer > 0 (default 1000; without steps, minutes alone plan them)
    batch_size = 256                   # integer > 0 (default 256)
    minutes = 10                       # number > 0: training budget per run; the solver plans its steps and
                                       # schedule to end inside it, steps (if given) cap them (default: none)
    dtype = "float32"                  # "float32" (default) or "float64"

    [evaluation]
    every = 500                        # integer > 0: steps between evaluations (default: about 5 per run)
    samples = 4096                     # integer > 0: samples per evaluation (default 4096)

    [checkpoint]
    every = 200                        # integer > 0: steps between checkpoints (default 100)

    [executor]
    kind = "local"                     # "local" (default) or "ray"
    workers = 2                        # integer > 0: local worker processes (default: the number of CPUs)
    retries = 2                        # integer >= 0: attempts after a crashed run (default 2)
    threads_per_run = 1                # integer > 0: torch threads in each run (default 1)
    address = "auto"                   # ray only: "auto", "HOST:PORT" or "ray://HOST:PORT" (default: none)
    num_cpus = 1                       # ray only: number > 0, CPUs reserved per run (default 1)
    num_gpus = 0                       # ray only: number >= 0, GPUs reserved per run (default 0)

    [output]
    db = "sweep.sqlite"                # results database (default: none, the CLI decides)
    dir = "sweep-out"                  # checkpoints and saved results (default: none, the CLI decides)

    [[solvers]]                        # *required*, at least one
    name = "w2gn"                      # *required*: a registered solver (`monge solvers`)
    label = "w2gn-fast"                # name stored and shown; default: the solver name
    options = { lr = 1e-3 }            # solver constructor options (default: the solver's defaults)
    grid = { lr = [1e-3, 3e-4] }       # one run per combination (cartesian product, keys in file order)
    budget = { steps = 4000 }          # overrides of [budget] keys for this solver only

Rules:

- ``solvers`` entries may also be plain strings: ``solvers = ["w2gn", "enot"]``.
- With a ``grid``, each combination's values are added to ``options`` (overriding a key set in both) and the label
  becomes ``LABEL[key=value,...]`` (``w2gn[lr=0.001]``), LABEL being ``label`` or the solver name.
- Runs are expanded in the order solvers (file order) × grid combinations × pairs × seeds.
- Relative paths (``pair_root``, ``output.db``, ``output.dir``) are relative to the file's folder (to the
  current folder for :func:`parse_sweep` without ``file``); ``~`` is expanded; the results are absolute.
- The ray-only executor keys (``address``, ``num_cpus``, ``num_gpus``) are accepted with ``kind = "local"``
  and ignored there, so one file can switch executors by changing ``kind``.
- YAML floats: ``1e-3`` is read as a number (plain PyYAML reads it as a string); duplicate YAML keys are errors.

Validation, before anything runs: unknown keys (with close matches suggested), wrong types, non-positive
budgets, empty ``solvers``/``pairs``/``seeds``, repeated seeds or pairs, two solver entries (or grid
values) giving the same label (they would make identical runs), unknown solver names (near names
suggested), options a solver rejects (each expanded option set is passed to
:func:`~monge.solvers.get_solver`), unknown pair specs or missing published pair files (each distinct
(spec, pair_root) is built once with :func:`~monge.pairs.make_pair`, seed 0), a solver whose cost (W2/W1)
differs from a pair's (:func:`~monge.run.runner.check_costs_match`), and finally
:meth:`RunConfig.validate` on every run.

Line numbers: for YAML they come from PyYAML's composed node tree; for TOML (:mod:`tomllib` keeps no
positions) from a scan of the text that follows table headers, ``[[solvers]]`` occurrences, ``key =``
lines, multi-line arrays and inline tables. A key that is not written in the file (a missing required key,
a default label) gets the line of its nearest written parent; when the scan cannot be trusted the line is
``None``.
"""

from __future__ import annotations

import bisect
import copy
import difflib
import functools
import inspect
import itertools
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from monge.errors import InvalidInputError, MissingDependencyError, MongeError, SweepConfigError, UnknownNameError
from monge.run.runner import RunConfig, check_costs_match

KeyPath = tuple[str | int, ...]
"""A location in the parsed file: mapping keys and list indices, e.g. ``("solvers", 1, "options", "lr")``."""

EXECUTOR_KINDS: tuple[str, ...] = ("local", "ray")

_TOP_KEYS = ("name", "seeds", "pairs", "pair_root", "device", "budget", "evaluation", "checkpoint", "executor", "output",
             "solvers")
_BUDGET_KEYS = ("steps", "batch_size", "minutes", "dtype")
_EVALUATION_KEYS = ("every", "samples")
_CHECKPOINT_KEYS = ("every",)
_EXECUTOR_KEYS = ("kind", "workers", "retries", "threads_per_run", "address", "num_cpus", "num_gpus")
_OUTPUT_KEYS = ("db", "dir")
_SOLVER_KEYS = ("name", "label", "options", "grid", "budget")
_PAIR_KEYS = ("spec", "pair_root")
_DTYPES = ("float32", "float64")
_RENAMED_KEYS = {  # RunConfig / CLI names a user may try, and where they go in a sweep file
    "time_budget_s": "budget.minutes", "time_budget": "budget.minutes", "seconds": "budget.minutes",
    "eval_every": "evaluation.every", "eval_samples": "evaluation.samples", "seed": "seeds", "pair": "pairs",
    "solver": "solvers", "solver_options": "solvers[...].options", "checkpoint_every": "checkpoint.every",
    "out_dir": "output.dir", "out": "output.dir", "preset": None,
}
_ADDRESS = re.compile(r"^(?:ray://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d{1,5})$")


# --------------------------------------------------------------------------------------------------- results


def _executor_problem(name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid executor setting ``name`` (``None`` when it is)."""
    if name == "kind":
        if value not in EXECUTOR_KINDS:
            return f"must be one of {', '.join(repr(k) for k in EXECUTOR_KINDS)}, got {value!r}"
    elif name == "workers":
        if value is not None and not _is_int(value, minimum=1):
            return f"must be a positive integer, got {value!r}"
    elif name == "retries":
        if not _is_int(value, minimum=0):
            return f"must be an integer >= 0, got {value!r}"
    elif name == "threads_per_run":
        if not _is_int(value, minimum=1):
            return f"must be a positive integer, got {value!r}"
    elif name == "address":
        if value is not None and not (isinstance(value, str) and (value == "auto" or _valid_address(value))):
            return f"must be \"auto\" or \"HOST:PORT\" (optionally \"ray://HOST:PORT\"), got {value!r}"
    elif name == "num_cpus":
        if not _is_number(value) or value <= 0:
            return f"must be a positive number, got {value!r}"
    elif name == "num_gpus":
        if not _is_number(value) or value < 0:
            return f"must be a number >= 0, got {value!r}"
    return None


def _valid_address(value: str) -> bool:
    match = _ADDRESS.match(value)
    return match is not None and 1 <= int(match.group(1)) <= 65535


@dataclass(frozen=True)
class ExecutorSettings:
    """Where and how the runs of a sweep execute.

    Attributes:
        kind: ``"local"`` (worker processes on this machine) or ``"ray"`` (tasks on a Ray cluster).
        workers: local worker processes; ``None`` means the number of CPUs.
        retries: how many more times a run whose worker crashed is attempted (>= 0).
        threads_per_run: torch CPU threads each run uses (>= 1).
        address: Ray only: ``"auto"`` (join the running cluster), ``"HOST:PORT"``, or ``None`` (start a local
            Ray instance).
        num_cpus: Ray only: CPUs reserved per run (> 0).
        num_gpus: Ray only: GPUs reserved per run (>= 0).

    The Ray-only fields are kept but ignored when ``kind == "local"``.
    """

    kind: str = "local"
    workers: int | None = None
    retries: int = 2
    threads_per_run: int = 1
    address: str | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0

    def __post_init__(self) -> None:
        for name in _EXECUTOR_KEYS:
            problem = _executor_problem(name, getattr(self, name))
            if problem is not None:
                raise InvalidInputError(f"executor {name} {problem}")


@dataclass(frozen=True)
class SweepSpec:
    """A parsed and validated sweep.

    Attributes:
        name: the sweep's name (the file's stem unless the file sets ``name``).
        file: the file it was read from (``None`` for :func:`parse_sweep` without ``file``).
        runs: every run, in expansion order (solvers × grid combinations × pairs × seeds).
        executor: how to execute the runs.
        checkpoint_every: training steps between checkpoints (>= 1).
        db: the results database (absolute), or ``None`` to let the caller choose.
        out_dir: folder for checkpoints and saved results (absolute), or ``None`` to let the caller choose.
        raw: the parsed file as a dict, for storing with the results.
    """

    name: str
    file: Path | None
    runs: tuple[RunConfig, ...]
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    checkpoint_every: int = 100
    db: Path | None = None
    out_dir: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _is_int(self.checkpoint_every, minimum=1):
            raise InvalidInputError(f"checkpoint_every must be a positive integer, got {self.checkpoint_every!r}")


# --------------------------------------------------------------------------------------------------- loading


def load_sweep(path: str | os.PathLike[str], *, pair_root: str | os.PathLike[str] | None = None) -> SweepSpec:
    """Read, parse and validate the sweep file ``path`` (``.toml``, ``.yaml`` or ``.yml``).

    ``pair_root`` (``monge sweep --pair-root``) replaces the file's top-level ``pair_root`` before validation
    (a ``pairs`` entry with its own ``pair_root`` keeps it); a relative path is taken from the current folder.

    Raises :class:`~monge.errors.SweepConfigError` for an unknown extension, an unreadable file, a syntax
    error (with its line) or any invalid entry (see the module docstring), and
    :class:`~monge.errors.MissingDependencyError` for a YAML file when PyYAML is not installed.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise SweepConfigError(f"unknown sweep file extension {file.suffix!r}; use .toml, .yaml or .yml", file=file)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SweepConfigError(f"cannot read the file: not UTF-8 text ({exc.reason})", file=file) from None
    except OSError as exc:
        raise SweepConfigError(f"cannot read the file: {exc.strerror or exc}", file=file) from None
    if suffix == ".toml":
        data, lines = _read_toml(text, file)
    else:
        data, lines = _read_yaml(text, file)
    if pair_root is not None and isinstance(data, dict):
        data = {**data, "pair_root": str(Path(pair_root).expanduser().resolve())}
    return _parse(data, file=file, lines=lines)


def parse_sweep(data: Mapping[str, Any], *, file: str | os.PathLike[str] | None = None,
                text: str | None = None) -> SweepSpec:
    """Validate an already parsed sweep config ``data`` (the structure of a sweep file) into a :class:`SweepSpec`.

    ``file`` names the source in error messages, gives the default name and anchors relative paths (the
    current folder without it). ``text``, the file's contents, gives error messages their line numbers (read
    as YAML when ``file`` ends in ``.yaml``/``.yml``, as TOML otherwise). Raises
    :class:`~monge.errors.SweepConfigError` naming the key path of any problem.
    """
    path = None if file is None else Path(file)
    lines: dict[KeyPath, int] = {}
    if text is not None:
        if path is not None and path.suffix.lower() in (".yaml", ".yml"):
            lines = yaml_key_lines(text, file=path)
        else:
            lines = toml_key_lines(text)
    return _parse(data, file=path, lines=lines)


def _read_toml(text: str, file: Path) -> tuple[Any, dict[KeyPath, int]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        problem = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
        raise SweepConfigError(f"TOML syntax error: {problem}", file=file,
                               line=int(found.group(1)) if found else None) from None
    return data, toml_key_lines(text)


def _yaml_module() -> Any:
    try:
        import yaml
    except ImportError:
        error = MissingDependencyError("pyyaml", "yaml", "reading YAML sweep files")
        # There is no monge extra for PyYAML: name the pip package itself (ImportError prints ``msg``).
        error.msg = ("reading YAML sweep files needs the optional package 'pyyaml', which is not installed; "
                     "install it with: pip install pyyaml (or use a .toml sweep file)")
        error.args = (error.msg,)
        raise error from None
    return yaml


_YAML_FLOAT = re.compile(r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                             |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
                             |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                             |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
                             |[-+]?\.(?:inf|Inf|INF)
                             |\.(?:nan|NaN|NAN))$""", re.X)


@functools.lru_cache(maxsize=1)
def _yaml_loader() -> type:
    """PyYAML's safe loader, except that ``1e-3`` (no decimal point) is a float, as in YAML 1.2."""
    yaml = _yaml_module()
    float_tag = "tag:yaml.org,2002:float"

    class SweepYamlLoader(yaml.SafeLoader):
        """Safe loader reading exponent floats without a decimal point as numbers."""

    SweepYamlLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != float_tag]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    SweepYamlLoader.add_implicit_resolver(float_tag, _YAML_FLOAT, list("-+0123456789."))
    return SweepYamlLoader


def _read_yaml(text: str, file: Path | None) -> tuple[Any, dict[KeyPath, int]]:
    yaml = _yaml_module()
    loader = _yaml_loader()(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        problem = ", ".join(str(p) for p in parts if p) or str(exc)
        raise SweepConfigError(f"YAML syntax error: {problem}", file=file,
                               line=None if mark is None else mark.line + 1) from None
    finally:
        loader.dispose()
    return data, _yaml_key_lines(node, file)


def yaml_key_lines(text: str, *, file: str | os.PathLike[str] | None = None) -> dict[KeyPath, int]:
    """The 1-based line of every mapping key and list item of the YAML ``text``, by key path.

    Raises :class:`~monge.errors.SweepConfigError` (naming ``file``) for a syntax error or a duplicate key.
    """
    return _read_yaml(text, None if file is None else Path(file))[1]


def _yaml_key_lines(root: Any, file: Path | None) -> dict[KeyPath, int]:
    """Line of every mapping key and list item of a composed YAML tree; raises on duplicate keys."""
    import yaml

    lines: dict[KeyPath, int] = {}

    def walk(node: Any, path: KeyPath, active: frozenset[int]) -> None:
        if id(node) in active:  # a recursive alias
            return
        active = active | {id(node)}
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key, line = key_node.value, key_node.start_mark.line + 1
                if key in first_line:
                    raise SweepConfigError(f"duplicate key {key!r} (first set on line {first_line[key]})",
                                           file=file, key=format_key_path(path + (key,)), line=line)
                first_line[key] = line
                lines.setdefault(path + (key,), line)
                walk(value_node, path + (key,), active)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault(path + (index,), item.start_mark.line + 1)
                walk(item, path + (index,), active)

    if root is not None:
        walk(root, (), frozenset())
    return lines


# ------------------------------------------------------------------------------------------ TOML line scan


class _ScanError(Exception):
    """The TOML scan met something it does not understand; its line numbers are not trusted."""


class _TomlLineScanner:
    """Walks valid TOML text (already accepted by :mod:`tomllib`) recording the line of every key and item."""

    def __init__(self, text: str):
        self.text = text.replace("\r\n", "\n")
        self.pos = 0
        self.newlines = [i for i, char in enumerate(self.text) if char == "\n"]
        self.lines: dict[KeyPath, int] = {}
        self.array_tables: dict[KeyPath, int] = {}

    @property
    def line(self) -> int:
        return bisect.bisect_left(self.newlines, self.pos) + 1

    def peek(self, width: int = 1) -> str:
        return self.text[self.pos:self.pos + width]

    def expect(self, token: str) -> None:
        if not self.text.startswith(token, self.pos):
            raise _ScanError(f"expected {token!r} at offset {self.pos}")
        self.pos += len(token)

    def skip(self, *, newlines: bool = False) -> None:
        """Skip spaces and a comment (and newlines, when asked)."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t\r" or (newlines and char == "\n"):
                self.pos += 1
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                break

    def record(self, path: KeyPath, line: int) -> None:
        for depth in range(1, len(path) + 1):
            self.lines.setdefault(path[:depth], line)

    def resolve(self, parts: Sequence[str]) -> KeyPath:
        """A header's dotted key with the current index of each array of tables it passes through."""
        path: KeyPath = ()
        for part in parts:
            path = path + (part,)
            if path in self.array_tables:
                path = path + (self.array_tables[path],)
        return path

    def scan(self) -> dict[KeyPath, int]:
        table: KeyPath = ()
        while True:
            self.skip(newlines=True)
            if self.pos >= len(self.text):
                return self.lines
            line = self.line
            if self.peek(2) == "[[":
                self.pos += 2
                parts = self.key()
                self.skip()
                self.expect("]]")
                array = self.resolve(parts[:-1]) + (parts[-1],)
                self.array_tables[array] = self.array_tables.get(array, -1) + 1
                table = array + (self.array_tables[array],)
                self.record(table, line)
            elif self.peek() == "[":
                self.pos += 1
                parts = self.key()
                self.skip()
                self.expect("]")
                table = self.resolve(parts)
                self.record(table, line)
            else:
                self.key_value(table)
            self.skip()
            if self.pos < len(self.text) and self.peek() != "\n":
                raise _ScanError(f"unexpected text at offset {self.pos}")

    def key(self) -> list[str]:
        parts = []
        while True:
            self.skip()
            char = self.peek()
            if char in ("\"", "'"):
                start = self.pos
                self.string()
                parts.append(tomllib.loads("k = " + self.text[start:self.pos])["k"])
            else:
                match = re.compile(r"[A-Za-z0-9_-]+").match(self.text, self.pos)
                if match is None:
                    raise _ScanError(f"expected a key at offset {self.pos}")
                parts.append(match.group())
                self.pos = match.end()
            self.skip()
            if self.peek() != ".":
                return parts
            self.pos += 1

    def key_value(self, table: KeyPath) -> None:
        line = self.line
        path = table + tuple(self.key())
        self.expect("=")
        self.skip()
        self.record(path, line)
        self.value(path)

    def value(self, path: KeyPath) -> None:
        char = self.peek()
        if char in ("\"", "'"):
            self.string()
        elif char == "[":
            self.pos += 1
            index = 0
            while True:
                self.skip(newlines=True)
                if self.peek() == "]":
                    self.pos += 1
                    return
                self.record(path + (index,), self.line)
                self.value(path + (index,))
                self.skip(newlines=True)
                if self.peek() == ",":
                    self.pos += 1
                    index += 1
                elif self.peek() != "]":
                    raise _ScanError(f"expected ',' or ']' at offset {self.pos}")
        elif char == "{":
            self.pos += 1
            while True:
                self.skip(newlines=True)
                if self.peek() == "}":
                    self.pos += 1
                    return
                self.key_value(path)
                self.skip(newlines=True)
                if self.peek() == ",":
                    self.pos += 1
                elif self.peek() != "}":
                    raise _ScanError(f"expected ',' or '}}' at offset {self.pos}")
        else:
            match = re.compile(r"[^,\]}#\n]+").match(self.text, self.pos)
            if match is None:
                raise _ScanError(f"expected a value at offset {self.pos}")
            self.pos = match.end()

    def string(self) -> None:
        """Move past the string starting here (basic, literal, or their multi-line forms)."""
        text = self.text
        for quote in ('"""', "'''"):
            if text.startswith(quote, self.pos):
                index = self.pos + 3
                while True:
                    if quote == '"""' and text[index] == "\\":
                        index += 2
                    elif text.startswith(quote, index):
                        index += 3
                        while index < len(text) and text[index] == quote[0]:
                            index += 1  # up to two quotes may end the content: """a"""" is 'a"'
                        self.pos = index
                        return
                    else:
                        index += 1
        quote = text[self.pos]
        index = self.pos + 1
        while text[index] != quote:
            if text[index] == "\n":
                raise _ScanError("unterminated string")
            index += 2 if quote == '"' and text[index] == "\\" else 1
        self.pos = index + 1


def toml_key_lines(text: str) -> dict[KeyPath, int]:
    """The 1-based line of every key, table and array item of the TOML ``text``, by key path.

    ``[[solvers]]`` tables get their index (``("solvers", 1, "options", "lr")``). Returns an empty dict when
    the text cannot be scanned with confidence (the caller then reports no line rather than a wrong one).
    """
    try:
        return _TomlLineScanner(text).scan()
    except (_ScanError, IndexError, tomllib.TOMLDecodeError):
        return {}


# --------------------------------------------------------------------------------------------------- parsing


def format_key_path(path: KeyPath) -> str:
    """``("solvers", 1, "options", "lr")`` → ``"solvers[1].options.lr"``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _is_int(value: Any, *, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _suggest(word: Any, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _show(value: Any) -> str:
    """A value as written in a label: strings bare, numbers and lists as compact JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(value)


@dataclass
class _SolverEntry:
    """One parsed ``solvers`` entry."""

    index: int
    name: str
    name_path: KeyPath
    label: str | None
    options: dict[str, Any]
    grid: dict[str, list[Any]]
    budget: dict[str, Any]


@dataclass
class _PairEntry:
    """One parsed ``pairs`` entry."""

    index: int
    spec: str
    root: str | None
    path: KeyPath


class _Parser:
    """Turns a parsed sweep dict into a :class:`SweepSpec`, raising located :class:`SweepConfigError`."""

    def __init__(self, file: Path | None, lines: Mapping[KeyPath, int]):
        self.file, self.lines = file, lines
        self.base = (file.parent if file is not None else Path(".")).absolute()

    # ------------------------------------------------------------------ locating errors

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest parent written in the file; ``None`` if unknown."""
        for depth in range(len(path), 0, -1):
            if path[:depth] in self.lines:
                return self.lines[path[:depth]]
        return None

    def error(self, path: KeyPath, problem: str) -> SweepConfigError:
        return SweepConfigError(problem, file=self.file, key=format_key_path(path) or None, line=self.line_of(path))

    def where(self, path: KeyPath) -> str:
        line = self.line_of(path)
        return format_key_path(path) + ("" if line is None else f" (line {line})")

    # ------------------------------------------------------------------ typed values

    def table(self, value: Any, path: KeyPath, allowed: Sequence[str]) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(path, f"must be a table (mapping), got {_type_name(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.error(path, f"keys must be strings, got {key!r}")
            if allowed and key not in allowed:
                hint = _suggest(key, allowed)
                if not hint and key in _RENAMED_KEYS:
                    target = _RENAMED_KEYS[key]
                    hint = f"; use {target}" if target else "; sweep files do not take it"
                raise self.error(path + (key,), f"unknown key {key!r}{hint}; allowed keys: {', '.join(allowed)}")
        return dict(value)

    def integer(self, value: Any, path: KeyPath, *, minimum: int = 1) -> int:
        if not _is_int(value, minimum=minimum):
            wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise self.error(path, f"must be {wanted}, got {value!r}")
        return value

    def positive_number(self, value: Any, path: KeyPath) -> float:
        if not _is_number(value) or value <= 0:
            raise self.error(path, f"must be a positive number, got {value!r}")
        return float(value)

    def string(self, value: Any, path: KeyPath) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(path, f"must be a non-empty string, got {value!r}")
        return value.strip()

    def path(self, value: Any, path: KeyPath) -> Path:
        text = self.string(value, path)
        return Path(os.path.abspath(self.base / Path(text).expanduser()))

    def nonempty_list(self, value: Any, path: KeyPath) -> list[Any]:
        if not isinstance(value, list):
            raise self.error(path, f"must be a list, got {_type_name(value)}")
        if not value:
            raise self.error(path, "must not be empty")
        return value

    # ------------------------------------------------------------------ sections

    def budget(self, value: Any, path: KeyPath) -> dict[str, Any]:
        """``[budget]`` keys as RunConfig fields."""
        table = self.table(value, path, _BUDGET_KEYS)
        out: dict[str, Any] = {}
        if "steps" in table:
            out["steps"] = self.integer(table["steps"], path + ("steps",))
        if "batch_size" in table:
            out["batch_size"] = self.integer(table["batch_size"], path + ("batch_size",))
        if "minutes" in table:
            out["time_budget_s"] = 60.0 * self.positive_number(table["minutes"], path + ("minutes",))
        if "dtype" in table:
            if table["dtype"] not in _DTYPES:
                raise self.error(path + ("dtype",), f"must be one of {', '.join(repr(d) for d in _DTYPES)}, "
                                                    f"got {table['dtype']!r}")
            out["dtype"] = table["dtype"]
        return out

    def executor(self, value: Any) -> ExecutorSettings:
        path: KeyPath = ("executor",)
        table = self.table(value, path, _EXECUTOR_KEYS)
        settings: dict[str, Any] = {}
        for name in _EXECUTOR_KEYS:
            if name not in table:
                continue
            setting = table[name]
            if name == "kind" and isinstance(setting, str):
                setting = setting.strip().lower()
            problem = _executor_problem(name, setting)
            if problem is not None:
                raise self.error(path + (name,), problem)
            settings[name] = float(setting) if name in ("num_cpus", "num_gpus") else setting
        return ExecutorSettings(**settings)

    def seeds(self, data: Mapping[str, Any]) -> list[int]:
        if "seeds" not in data:
            return [0]
        seeds = self.nonempty_list(data["seeds"], ("seeds",))
        first: dict[int, int] = {}
        for index, seed in enumerate(seeds):
            self.integer(seed, ("seeds", index), minimum=0)
            if seed in first:
                raise self.error(("seeds", index), f"seed {seed} is repeated (also seeds[{first[seed]}]); "
                                                   f"it would run the same runs twice")
            first[seed] = index
        return seeds

    def pairs(self, data: Mapping[str, Any], default_root: str | None) -> list[_PairEntry]:
        if "pairs" not in data:
            raise self.error(("pairs",), "missing: list the pair specs to run, e.g. pairs = [\"gaussian:2\"]")
        entries = []
        first: dict[tuple[str, str | None], int] = {}
        for index, item in enumerate(self.nonempty_list(data["pairs"], ("pairs",))):
            path: KeyPath = ("pairs", index)
            root = default_root
            if isinstance(item, Mapping):
                table = self.table(item, path, _PAIR_KEYS)
                if "spec" not in table:
                    raise self.error(path + ("spec",), "missing: the pair spec, e.g. spec = \"w2b-mix:8\"")
                spec_path = path + ("spec",)
                spec = self.string(table["spec"], spec_path)
                if "pair_root" in table:
                    root = str(self.path(table["pair_root"], path + ("pair_root",)))
            elif isinstance(item, str):
                spec_path, spec = path, self.string(item, path)
            else:
                raise self.error(path, f"must be a pair spec string like \"gaussian:16\" or a table "
                                       f"{{spec = ..., pair_root = ...}}, got {_type_name(item)}")
            if (spec, root) in first:
                raise self.error(path, f"pair {spec!r} is repeated (also pairs[{first[spec, root]}]); "
                                       f"it would run the same runs twice")
            first[spec, root] = index
            entries.append(_PairEntry(index, spec, root, spec_path))
        return entries

    def solvers(self, data: Mapping[str, Any]) -> list[_SolverEntry]:
        if "solvers" not in data:
            raise self.error(("solvers",), "missing: add solvers = [\"w2gn\"] or a [[solvers]] table")
        entries = []
        for index, item in enumerate(self.nonempty_list(data["solvers"], ("solvers",))):
            path: KeyPath = ("solvers", index)
            if isinstance(item, str):
                entries.append(_SolverEntry(index, self.string(item, path).lower(), path, None, {}, {}, {}))
                continue
            if not isinstance(item, Mapping):
                raise self.error(path, f"must be a solver name or a table with name = ..., got {_type_name(item)}")
            table = self.table(item, path, _SOLVER_KEYS)
            if "name" not in table:
                raise self.error(path + ("name",), "missing: the registered solver name, e.g. name = \"w2gn\"")
            name = self.string(table["name"], path + ("name",)).lower()
            label = self.string(table["label"], path + ("label",)) if "label" in table else None
            options = self.table(table.get("options", {}), path + ("options",), ())
            grid = self.table(table.get("grid", {}), path + ("grid",), ())
            for key, values in grid.items():
                values = self.nonempty_list(values, path + ("grid", key))
                for later in range(len(values)):
                    for earlier in range(later):
                        if values[earlier] == values[later]:
                            raise self.error(path + ("grid", key, later),
                                             f"value {values[later]!r} is repeated (also at index {earlier}); "
                                             f"it would run the same runs twice")
            budget = self.budget(table["budget"], path + ("budget",)) if "budget" in table else {}
            entries.append(_SolverEntry(index, name, path + ("name",), label, options, grid, budget))
        return entries

    # ------------------------------------------------------------------ semantic checks

    def build_solver(self, entry: _SolverEntry, options: Mapping[str, Any]) -> Any:
        """``get_solver(entry.name, **options)``, with its errors located in the file."""
        from monge.solvers import SOLVERS, available_solvers, get_solver

        if entry.name not in SOLVERS:
            names = available_solvers()
            raise self.error(entry.name_path, f"unknown solver {entry.name!r}{_suggest(entry.name, names)}; "
                                              f"available: {', '.join(names)}")
        try:
            return get_solver(entry.name, **options)
        except (MongeError, TypeError, ValueError) as exc:
            message = str(exc)
            path = self.option_path(entry, message)
            unexpected = re.search(r"unexpected keyword argument '([^']+)'", message)
            if unexpected:
                accepted = [p for p in inspect.signature(SOLVERS[entry.name]).parameters if p != "self"]
                message = (f"solver {entry.name!r} has no option {unexpected.group(1)!r}"
                           f"{_suggest(unexpected.group(1), accepted)}; its options: {', '.join(accepted)}")
            raise self.error(path, message) from None

    def option_path(self, entry: _SolverEntry, message: str) -> KeyPath:
        """Where the option a solver's error message names is set (grid, options, or the entry itself)."""
        for section, keys in (("grid", entry.grid), ("options", entry.options)):
            for key in keys:
                if re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", message):
                    return entry.name_path[:-1] + (section, key)
        base = entry.name_path[:-1] if entry.name_path[-1] == "name" else entry.name_path
        for section, keys in (("options", entry.options), ("grid", entry.grid)):
            if keys:
                return base + (section,)
        return base

    def build_pair(self, pair: _PairEntry) -> Any:
        """``make_pair(spec, seed=0, root=...)``, with its errors located in the file."""
        from monge.pairs import available_pairs, describe_pair_families, make_pair

        try:
            return make_pair(pair.spec, seed=0, root=pair.root)
        except UnknownNameError as exc:
            concrete = [name for name in available_pairs() if "<" not in name]
            prefix, _, arg = pair.spec.partition(":")
            families = [family["prefix"] for family in describe_pair_families()]
            if prefix.strip().lower() in families:  # a known family with an unknown member (toy:...)
                close = difflib.get_close_matches(pair.spec, concrete, n=3, cutoff=0.6)
            else:
                close = [f"{name}:{arg}" for name in difflib.get_close_matches(prefix.strip().lower(), families, n=2)]
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise self.error(pair.path, f"unknown pair {pair.spec!r}{hint}; available: {', '.join(exc.available)}") \
                from None
        except (MongeError, OSError, ValueError) as exc:
            message = str(exc)
            if pair.root is None and "root" in message:
                message += " (in a sweep file: set pair_root, at the top or in this pairs entry)"
            raise self.error(pair.path, message) from None

    # ------------------------------------------------------------------ the whole file

    def parse(self, data: Any) -> SweepSpec:
        if not isinstance(data, Mapping):
            what = "empty" if data is None else f"a {_type_name(data)}"
            raise self.error((), f"a sweep file must hold a table of settings, but it is {what}")
        data = self.table(data, (), _TOP_KEYS)
        stem = self.file.stem if self.file is not None else "sweep"
        name = self.string(data["name"], ("name",)) if "name" in data else stem
        seeds = self.seeds(data)
        default_root = str(self.path(data["pair_root"], ("pair_root",))) if "pair_root" in data else None
        pairs = self.pairs(data, default_root)
        budget = self.budget(data["budget"], ("budget",)) if "budget" in data else {}
        evaluation: dict[str, Any] = {}
        if "evaluation" in data:
            table = self.table(data["evaluation"], ("evaluation",), _EVALUATION_KEYS)
            if "every" in table:
                evaluation["eval_every"] = self.integer(table["every"], ("evaluation", "every"))
            if "samples" in table:
                evaluation["eval_samples"] = self.integer(table["samples"], ("evaluation", "samples"))
        checkpoint_every = 100
        if "checkpoint" in data:
            table = self.table(data["checkpoint"], ("checkpoint",), _CHECKPOINT_KEYS)
            if "every" in table:
                checkpoint_every = self.integer(table["every"], ("checkpoint", "every"))
        executor = self.executor(data["executor"]) if "executor" in data else ExecutorSettings()
        db = out_dir = None
        if "output" in data:
            table = self.table(data["output"], ("output",), _OUTPUT_KEYS)
            db = self.path(table["db"], ("output", "db")) if "db" in table else None
            out_dir = self.path(table["dir"], ("output", "dir")) if "dir" in table else None
        solvers = self.solvers(data)
        if "device" in data:
            device = self.string(data["device"], ("device",))
            probe = RunConfig(solver="-", pair="-", device=device)
            try:
                probe.validate()
            except InvalidInputError as exc:
                raise self.error(("device",), str(exc)) from None
            evaluation = {**evaluation, "device": device}
        runs = self.expand(solvers, pairs, seeds, budget, evaluation)
        return SweepSpec(name=name, file=self.file, runs=tuple(runs), executor=executor,
                         checkpoint_every=checkpoint_every, db=db, out_dir=out_dir, raw=dict(data))

    def expand(self, solvers: list[_SolverEntry], pairs: list[_PairEntry], seeds: list[int],
               budget: Mapping[str, Any], evaluation: Mapping[str, Any]) -> list[RunConfig]:
        """Check solvers, options, labels, pairs and costs, then build the runs in expansion order."""
        variants: list[tuple[_SolverEntry, str, dict[str, Any], Any]] = []
        label_owner: dict[str, _SolverEntry] = {}
        for entry in solvers:
            combos = [dict(zip(entry.grid, values)) for values in itertools.product(*entry.grid.values())]
            base_label = entry.label or entry.name
            for combo in combos:
                options = {**entry.options, **combo}
                solver = self.build_solver(entry, options)
                label = base_label + (f"[{','.join(f'{k}={_show(v)}' for k, v in combo.items())}]" if combo else "")
                owner = label_owner.setdefault(label, entry)
                if owner is not entry:
                    path = entry.name_path[:-1] + ("label",) if entry.label else entry.name_path
                    raise self.error(path, f"label {label!r} is also used by {self.where(('solvers', owner.index))}: "
                                           f"both would make the same runs; give one a distinct label")
                variants.append((entry, label, options, solver))
        built = {}
        for pair in pairs:
            if (pair.spec, pair.root) not in built:
                built[pair.spec, pair.root] = self.build_pair(pair)
        for entry, _, _, solver in variants:
            for pair in pairs:
                try:
                    check_costs_match(entry.name, solver, pair.spec, built[pair.spec, pair.root])
                except InvalidInputError as exc:
                    raise self.error(entry.name_path, f"{exc} (the pair is {self.where(pair.path)})") from None
        runs = []
        for entry, label, options, _ in variants:
            settings = {**budget, **entry.budget, **evaluation}
            if "time_budget_s" in settings and "steps" not in settings:
                settings["steps"] = None           # minutes alone: the solver plans its steps
            for pair in pairs:
                for seed in seeds:
                    run = RunConfig(solver=entry.name, pair=pair.spec, solver_options=copy.deepcopy(options),
                                    seed=seed, pair_root=pair.root, label=label, **settings)
                    try:
                        runs.append(run.validate())
                    except InvalidInputError as exc:
                        raise self.error(entry.name_path[:2], str(exc)) from None
        return runs


def _type_name(value: Any) -> str:
    names = {dict: "table", list: "list", str: "string", bool: "boolean", int: "integer", float: "number"}
    return names.get(type(value), type(value).__name__)


def _parse(data: Any, *, file: Path | None, lines: Mapping[KeyPath, int]) -> SweepSpec:
    return _Parser(file, lines).parse(data)
