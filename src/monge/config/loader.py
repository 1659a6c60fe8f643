"""Reading config files (TOML with :mod:`tomllib`, or ``tomli`` on Python 3.10; YAML with PyYAML) and bundled
presets into the schema, with :class:`~monge.errors.SweepConfigError` naming the file, key path and value.

Line numbers come only from a library that gives them: PyYAML's node marks (every key of a YAML file) and
the TOML parser's syntax errors. :mod:`tomllib` keeps no key positions, so other TOML errors have no line.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from monge.config.schema import SECTIONS, PresetFile, problem_text, type_name
from monge.errors import MissingDependencyError, SweepConfigError, UnknownNameError

KeyPath = tuple[str | int, ...]
"""A location in a parsed file: mapping keys and list indices, e.g. ``("solvers", 1, "options", "lr")``."""
M = TypeVar("M", bound=BaseModel)
_RENAMED_KEYS = {  # RunConfig / CLI names a user may try, and where they go in a sweep file
    "time_budget_s": "budget.minutes", "time_budget": "budget.minutes", "seconds": "budget.minutes",
    "eval_every": "evaluation.every", "eval_samples": "evaluation.samples", "seed": "seeds", "pair": "pairs",
    "solver": "solvers", "solver_options": "solvers[...].options", "checkpoint_every": "checkpoint.every",
    "out_dir": "output.dir", "out": "output.dir", "preset": None}
_MISSING = {"pairs": 'list the pair specs to run, e.g. pairs = ["gaussian:2"]', "spec": 'the pair spec, e.g. spec = '
            '"w2b-mix:8"', "solvers": 'add solvers = ["w2gn"] or a [[solvers]] table',
            "name": 'the registered solver name, e.g. name = "w2gn"'}


def format_key_path(path: KeyPath) -> str:
    """``("solvers", 1, "options", "lr")`` → ``"solvers[1].options.lr"``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f"{'.' if i else ''}{p}" for i, p in enumerate(path))


def line_of(lines: Mapping[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, or of its nearest parent written in the file; ``None`` if unknown."""
    return next((lines[path[:d]] for d in range(len(path), 0, -1) if path[:d] in lines), None)


def config_error(file: Path | None, lines: Mapping[KeyPath, int], path: KeyPath, problem: str) -> SweepConfigError:
    return SweepConfigError(problem, file=file, key=format_key_path(path) or None, line=line_of(lines, path))


def suggest(word: Any, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def validate(model: type[M], data: Any, *, file: Path | None = None,
             lines: Mapping[KeyPath, int] | None = None) -> M:
    """``model.model_validate(data)``, its first problem raised as a located :class:`SweepConfigError`."""
    lines = lines or {}
    if not isinstance(data, Mapping):
        what = "empty" if data is None else f"a {type_name(data)}"
        raise config_error(file, lines, (), f"a sweep file must hold a table of settings, but it is {what}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
    path: KeyPath = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        key, parent = path[-1], [p for p in path[:-1] if isinstance(p, str)]
        allowed = list((SECTIONS[parent[-1]] if parent else model).model_fields)
        hint = suggest(key, allowed)
        if not hint and key in _RENAMED_KEYS:
            hint = f"; use {_RENAMED_KEYS[key]}" if _RENAMED_KEYS[key] else "; sweep files do not take it"
        problem = f"unknown key {key!r}{hint}; allowed keys: {', '.join(allowed)}"
    elif error["type"] == "missing":
        problem = f"missing: {_MISSING.get(str(path[-1]), 'required')}"
    else:
        problem = problem_text(error)
    raise config_error(file, lines, path, problem) from None


def read_config(path: str | os.PathLike[str]) -> tuple[Any, dict[KeyPath, int]]:
    """The parsed contents of a ``.toml``, ``.yaml`` or ``.yml`` file and its key lines (YAML only)."""
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
    return (read_toml(text, file), {}) if suffix == ".toml" else read_yaml(text, file)


def toml_module() -> Any:
    """:mod:`tomllib` (Python >= 3.11), else ``tomli``, the backport it came from."""
    try:
        import tomllib
    except ImportError:
        import tomli as tomllib
    return tomllib


def read_toml(text: str, file: Path | None) -> Any:
    toml = toml_module()
    try:
        return toml.loads(text)
    except toml.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        problem = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        raise SweepConfigError(f"TOML syntax error: {problem}", file=file,
                               line=int(found.group(1)) if found else None) from None


def _preset_file(name: str) -> Any:
    return resources.files("monge.config") / "presets" / f"{name}.toml"


@functools.lru_cache(maxsize=None)
def load_preset(name: str) -> tuple[PresetFile, dict[str, Any]]:
    """The bundled preset ``name`` (``monge/config/presets/NAME.toml``), validated, and its raw dict."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in preset_names():
        raise UnknownNameError("preset", str(name), preset_names())
    data = read_toml(_preset_file(key).read_text(encoding="utf-8"), Path(f"presets/{key}.toml"))
    return validate(PresetFile, data, file=Path(f"presets/{key}.toml")), data


@functools.lru_cache(maxsize=1)
def preset_names() -> list[str]:
    """The bundled presets, in their files' ``order``."""
    found = []
    for item in (resources.files("monge.config") / "presets").iterdir():
        if item.name.endswith(".toml"):
            found.append((read_toml(item.read_text(encoding="utf-8"), None).get("order", 99), item.name[:-5]))
    return [name for _, name in sorted(found)]


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
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    SweepYamlLoader.add_implicit_resolver(float_tag, _YAML_FLOAT, list("-+0123456789."))
    return SweepYamlLoader


def read_yaml(text: str, file: Path | None) -> tuple[Any, dict[KeyPath, int]]:
    """The YAML ``text`` parsed, and the line of every mapping key and list item (duplicate keys are errors)."""
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

    if node is not None:
        walk(node, (), frozenset())
    return data, lines


def yaml_key_lines(text: str, *, file: str | os.PathLike[str] | None = None) -> dict[KeyPath, int]:
    """The 1-based line of every mapping key and list item of the YAML ``text``, by key path."""
    return read_yaml(text, None if file is None else Path(file))[1]
