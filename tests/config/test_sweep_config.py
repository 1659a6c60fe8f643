"""Sweep configuration files: TOML and YAML parsing, expansion into RunConfigs, located validation errors."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from monge.errors import InvalidInputError, MissingDependencyError, SweepConfigError
from monge.config.run import RunConfig
from monge.config.loader import _yaml_loader, format_key_path, yaml_key_lines
from monge.config.schema import ExecutorSettings
from monge.config.sweep import SweepSpec, load_sweep, parse_sweep

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sweeps"


def write(folder: Path, text: str, name: str = "sweep.toml") -> Path:
    """Write the dedented ``text`` to ``folder/name`` and return the path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_with(path: Path, marker: str) -> int:
    """1-based number of the only line of ``path`` containing ``marker``."""
    hits = [n for n, line in enumerate(path.read_text().splitlines(), 1) if marker in line]
    assert len(hits) == 1, f"marker {marker!r} found on lines {hits}"
    return hits[0]


def load_error(folder: Path, text: str, name: str = "sweep.toml") -> tuple[SweepConfigError, Path]:
    """The SweepConfigError raised by loading ``text`` written to ``folder/name``."""
    path = write(folder, text, name)
    with pytest.raises(SweepConfigError) as info:
        load_sweep(path)
    return info.value, path


def assert_located(error: SweepConfigError, path: Path, key: str, line: int | None, *fragments: str) -> None:
    """The error names ``key`` at ``line`` of ``path`` (in its attributes and its message) and says ``fragments``.

    TOML errors carry no line (tomllib keeps no key positions): only the file and the key path.
    """
    if path.suffix == ".toml":
        line = None
    assert (error.key, error.line) == (key, line), str(error)
    prefix = f"{path}, line {line}, {key}: " if line is not None else f"{path}, {key}: "
    assert str(error).startswith(prefix), str(error)
    for fragment in fragments:
        assert fragment in str(error), str(error)


# ----------------------------------------------------------------------------------- expansion, both formats

RICH_TOML = """
name = "study"
seeds = [3, 1]
pair_root = "../data"
pairs = ["gaussian:2", {spec = "toy:8gaussians", pair_root = "elsewhere"}]

[budget]
steps = 50
batch_size = 32
minutes = 1.5
dtype = "float64"

[evaluation]
every = 10
samples = 128

[checkpoint]
every = 5

[executor]
kind = "ray"
address = "127.0.0.1:6379"
num_cpus = 0.5
num_gpus = 1
retries = 0

[output]
db = "results/sweep.sqlite"
dir = "../out"

[[solvers]]
name = "W2GN"
options = { hidden_sizes = [8, 8] }
grid = { lr = [1e-3, 3e-4], cycle_weight = [1.0, 2.0] }
budget = { steps = 80 }

[[solvers]]
name = "enot"
label = "enot-small"
options = { hidden_sizes = [8, 8] }
"""

RICH_YAML = """
name: study
seeds: [3, 1]
pair_root: ../data
pairs:
  - gaussian:2
  - {spec: "toy:8gaussians", pair_root: elsewhere}
budget: {steps: 50, batch_size: 32, minutes: 1.5, dtype: float64}
evaluation:
  every: 10
  samples: 128
checkpoint: {every: 5}
executor:
  kind: ray
  address: "127.0.0.1:6379"
  num_cpus: 0.5
  num_gpus: 1
  retries: 0
output: {db: results/sweep.sqlite, dir: ../out}
solvers:
  - name: W2GN
    options: {hidden_sizes: [8, 8]}
    grid:
      lr: [1e-3, 3e-4]
      cycle_weight: [1.0, 2.0]
    budget: {steps: 80}
  - name: enot
    label: enot-small
    options:
      hidden_sizes: [8, 8]
"""


@pytest.mark.parametrize("name, text", [("sweep.toml", RICH_TOML), ("sweep.yaml", RICH_YAML), ("sweep.yml", RICH_YAML)])
def test_both_formats_expand_to_the_same_runs(tmp_path: Path, name: str, text: str) -> None:
    spec = load_sweep(write(tmp_path / "sub", text, name))
    folder = tmp_path / "sub"
    assert isinstance(spec, SweepSpec) and spec.name == "study" and spec.file == folder / name
    assert spec.executor == ExecutorSettings(kind="ray", workers=None, retries=0, threads_per_run=1,
                                             address="127.0.0.1:6379", num_cpus=0.5, num_gpus=1.0)
    assert spec.checkpoint_every == 5
    assert spec.db == folder / "results" / "sweep.sqlite" and spec.out_dir == tmp_path / "out"
    assert spec.raw["budget"]["minutes"] == 1.5 and spec.raw["solvers"][1]["label"] == "enot-small"

    w2gn_labels = ["w2gn[lr=0.001,cycle_weight=1.0]", "w2gn[lr=0.001,cycle_weight=2.0]",
                   "w2gn[lr=0.0003,cycle_weight=1.0]", "w2gn[lr=0.0003,cycle_weight=2.0]"]
    expected_order = [(label, pair, seed) for label in w2gn_labels + ["enot-small"]
                      for pair in ("gaussian:2", "toy:8gaussians") for seed in (3, 1)]
    assert [(r.label, r.pair, r.seed) for r in spec.runs] == expected_order
    assert all(isinstance(r, RunConfig) for r in spec.runs)

    first = spec.runs[0]
    assert first.solver == "w2gn"
    assert dict(first.solver_options) == {"hidden_sizes": [8, 8], "lr": 1e-3, "cycle_weight": 1.0}
    assert dict(spec.runs[8].solver_options) == {"hidden_sizes": [8, 8], "lr": 3e-4, "cycle_weight": 1.0}
    assert (first.steps, first.batch_size, first.time_budget_s, first.dtype) == (80, 32, 90.0, "float64")
    assert (first.eval_every, first.eval_samples) == (10, 128)
    enot = spec.runs[-1]
    assert (enot.solver, enot.steps, enot.label, dict(enot.solver_options)) == (
        "enot", 50, "enot-small", {"hidden_sizes": [8, 8]})
    # pair_root: the top-level default for plain entries, the entry's own for tables; both relative to the file
    assert first.pair_root == str(tmp_path / "data")
    assert spec.runs[2].pair == "toy:8gaussians" and spec.runs[2].pair_root == str(folder / "elsewhere")
    # runs do not share option dicts with each other or with the raw file
    spec.runs[0].solver_options["lr"] = 5.0
    assert spec.runs[1].solver_options["lr"] == 1e-3 and spec.raw["solvers"][0]["options"] == {"hidden_sizes": [8, 8]}


def test_toml_and_yaml_give_equal_specs(tmp_path: Path) -> None:
    from_toml = load_sweep(write(tmp_path, RICH_TOML, "a.toml"))
    from_yaml = load_sweep(write(tmp_path, RICH_YAML, "a.yaml"))
    assert from_toml.runs == from_yaml.runs and from_toml.executor == from_yaml.executor
    assert from_toml.raw == from_yaml.raw


def test_defaults_and_plain_solver_names(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, 'pairs = ["gaussian:2"]\nsolvers = ["w2gn", "enot"]\n', "my-sweep.toml"))
    assert spec.name == "my-sweep" and spec.checkpoint_every == 100 and spec.db is None and spec.out_dir is None
    assert spec.executor == ExecutorSettings() and spec.executor.retries == 2 and spec.executor.workers is None
    assert [(r.solver, r.label, r.seed) for r in spec.runs] == [("w2gn", "w2gn", 0), ("enot", "enot", 0)]
    defaults = RunConfig(solver="w2gn", pair="gaussian:2")
    run = spec.runs[0]
    assert (run.steps, run.batch_size, run.eval_every, run.eval_samples, run.time_budget_s, run.dtype, run.pair_root) \
        == (defaults.steps, defaults.batch_size, None, defaults.eval_samples, None, "float32", None)


def test_grid_with_explicit_label_and_ray_keys_ignored_with_local(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, """
        pairs = ["gaussian:2"]
        [executor]
        kind = "local"
        workers = 3
        address = "auto"
        num_gpus = 2
        [[solvers]]
        name = "enot"
        label = "e"
        grid = { hidden_sizes = [[8], [16, 16]], bidirectional = [true] }
        """))
    assert [r.label for r in spec.runs] == ["e[hidden_sizes=[8],bidirectional=true]",
                                            "e[hidden_sizes=[16,16],bidirectional=true]"]
    assert spec.executor.kind == "local" and spec.executor.workers == 3 and spec.executor.num_gpus == 2.0


def test_parse_sweep_dict_paths_relative_to_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = parse_sweep({"pairs": ["gaussian:2"], "solvers": ["w2gn"], "output": {"db": "r.sqlite"},
                        "budget": {"minutes": 2}})
    assert spec.name == "sweep" and spec.file is None and spec.db == tmp_path / "r.sqlite"
    assert spec.runs[0].time_budget_s == 120.0
    with pytest.raises(SweepConfigError) as info:
        parse_sweep({"pairs": ["gaussian:2"], "solvers": ["w2gn"], "budget": {"steps": 0}})
    assert str(info.value) == "budget.steps: must be a positive integer, got 0" and info.value.line is None


def test_parse_sweep_with_text_gives_lines(tmp_path: Path) -> None:
    text = 'pairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n[budget]\nsteps = -4\n'
    with pytest.raises(SweepConfigError) as info:
        parse_sweep({"pairs": ["gaussian:2"], "solvers": ["w2gn"], "budget": {"steps": -4}}, file="x.toml", text=text)
    assert (info.value.key, info.value.line, info.value.file) == ("budget.steps", None, Path("x.toml"))
    assert str(info.value) == "x.toml, budget.steps: must be a positive integer, got -4"
    yaml_text = "pairs: [gaussian:2]\nsolvers:\n  - w2gn\nbudget:\n  steps: -4\n"
    with pytest.raises(SweepConfigError) as info:
        parse_sweep({"pairs": ["gaussian:2"], "solvers": ["w2gn"], "budget": {"steps": -4}}, file="x.yaml",
                    text=yaml_text)
    assert (info.value.key, info.value.line) == ("budget.steps", 5)


def test_yaml_exponent_floats_are_numbers(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, """
        pairs: [gaussian:2]
        solvers:
          - {name: enot, options: {lr: 1e-3, expectile_weight: 2E+0}}
        """, "s.yaml"))
    assert spec.runs[0].solver_options == {"lr": 0.001, "expectile_weight": 2.0}


@pytest.mark.parametrize("name", ["quick.toml", "quick.yaml"])
def test_examples_load_and_expand_to_eight_runs(name: str) -> None:
    spec = load_sweep(EXAMPLES / name)
    assert len(spec.runs) == 8 and spec.checkpoint_every == 100
    assert spec.executor.kind == "local" and spec.executor.workers == 2
    assert [r.solver for r in spec.runs] == ["w2gn"] * 4 + ["enot"] * 4
    assert {r.pair for r in spec.runs} == {"gaussian:2", "toy:8gaussians"} and {r.seed for r in spec.runs} == {0, 1}
    assert all(r.steps <= 500 for r in spec.runs)


def test_examples_are_the_same_sweep() -> None:
    assert load_sweep(EXAMPLES / "quick.toml").runs == load_sweep(EXAMPLES / "quick.yaml").runs


def _all_paths(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _all_paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _all_paths(item, path + (index,))
    return out


@pytest.mark.parametrize("name", ["quick.yaml"])
def test_every_entry_of_the_examples_has_its_line(name: str) -> None:
    spec = load_sweep(EXAMPLES / name)
    text = (EXAMPLES / name).read_text()
    lines = yaml_key_lines(text)
    source = text.splitlines()
    for path in _all_paths(spec.raw):
        assert path in lines, path
        written = source[lines[path] - 1]
        last_key = [p for p in path if isinstance(p, str)][-1]
        assert last_key in written or isinstance(path[-1], int), (path, written)


# ------------------------------------------------------------------------------------------ TOML key paths


def test_toml_key_paths_are_not_fooled_by_strings_comments_and_multiline_values(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, '''
        # [[solvers]]  a comment that looks like a header
        pairs = [
          "gaussian:2",   # [[solvers]]
          # name = "x"
          "toy:8gaussians",
          {spec = "gaussian:2", pair_root = "a ] } [[solvers]] # dir"},
        ]
        name = """
        [[solvers]]
        steps = 3
        """
        "budget".'steps' = 10

        [[solvers]]
        name = "w2gn"
        options = {hidden_sizes = [8, 8], activation = 'celu'}

        [[solvers]]   # second one
        name = "enot"
        options.hidden_sizes = [
          8,
        ]
        options.lr = -1   # HERE
        ''')
    assert_located(error, path, "solvers[1].options.lr", None, "lr must be a finite number > 0", "got -1")


def test_toml_nested_tables_of_solvers(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, """
        pairs = ["gaussian:2"]
        [[solvers]]
        name = "w2gn"
        [solvers.budget]
        steps = 5
        [[solvers]]
        name = "enot"
        [solvers.budget]
        steps = 0   # HERE
        """)
    assert_located(error, path, "solvers[1].budget.steps", line_with(path, "# HERE"), "positive integer, got 0")


def test_key_path_format() -> None:
    assert format_key_path(("solvers", 1, "options", "lr")) == "solvers[1].options.lr"
    assert format_key_path(("pairs", 0)) == "pairs[0]" and format_key_path(()) == ""


# ------------------------------------------------------------------------------------------ validation errors

GOOD_SOLVERS_TOML = """
[[solvers]]
name = "w2gn"
[[solvers]]
name = "enot"
"""


def test_error_message_format_and_class(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, """
        pairs = ["gaussian:2"]
        [[solvers]]
        name = "w2gn"
        [[solvers]]
        name = "enot"
        options = { lr = -1 }   # HERE
        """)
    assert isinstance(error, InvalidInputError) and isinstance(error, ValueError)
    assert str(error) == f"{path}, solvers[1].options.lr: ENOT: lr must be a finite number > 0, got -1"
    assert (error.file, error.key, error.line) == (path, "solvers[1].options.lr", None)
    assert error.problem == "ENOT: lr must be a finite number > 0, got -1"


@pytest.mark.parametrize("text, key, fragments", [
    ('seed = [0]  # HERE\npairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n', "seed", ["unknown key 'seed'", "'seeds'"]),
    ('pairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n[budget]\nstep = 10  # HERE\n', "budget.step",
     ["unknown key 'step'", "did you mean 'steps'", "allowed keys: steps, batch_size, minutes, dtype"]),
    ('pairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n[budget]\ntime_budget_s = 10  # HERE\n', "budget.time_budget_s",
     ["use budget.minutes"]),
    ('pairs = ["gaussian:2"]\n[[solvers]]\nname = "w2gn"\noptons = {lr = 1}  # HERE\n', "solvers[0].optons",
     ["did you mean 'options'"]),
    ('pairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n[executor]\nworker = 2  # HERE\n', "executor.worker",
     ["did you mean 'workers'"]),
    ('pairs = [{spec = "gaussian:2", root = "x"}]  # HERE\nsolvers = ["w2gn"]\n', "pairs[0].root",
     ["did you mean 'pair_root'"]),
])
def test_unknown_keys(tmp_path: Path, text: str, key: str, fragments: list[str]) -> None:
    error, path = load_error(tmp_path, text)
    assert_located(error, path, key, line_with(path, "# HERE"), *fragments)


@pytest.mark.parametrize("text, key, fragments", [
    ('pairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n[budget]\nsteps = "100"  # HERE\n', "budget.steps",
     ["must be a positive integer, got '100'"]),
    ('pairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n[budget]\nbatch_size = 2.0  # HERE\n', "budget.batch_size",
     ["must be a positive integer, got 2.0"]),
    ('seeds = 0  # HERE\npairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n', "seeds", ["must be a list, got integer"]),
    ('seeds = [0, -1]  # HERE\npairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n', "seeds[1]", ["integer >= 0, got -1"]),
    ('seeds = [0, true]  # HERE\npairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n', "seeds[1]", ["got True"]),
    ('pairs = "gaussian:2"  # HERE\nsolvers = ["w2gn"]\n', "pairs", ["must be a list, got string"]),
    ('pairs = [2]  # HERE\nsolvers = ["w2gn"]\n', "pairs[0]", ["pair spec string"]),
    ('pairs = ["gaussian:2"]\nsolvers = [3]  # HERE\n', "solvers[0]", ["solver name or a table"]),
    ('budget = 5  # HERE\npairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n', "budget", ["must be a table"]),
    ('name = 7  # HERE\npairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n', "name", ["non-empty string, got 7"]),
    ('pairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n[budget]\ndtype = "float16"  # HERE\n', "budget.dtype",
     ["'float32', 'float64', got 'float16'"]),
    ('pairs = ["gaussian:2"]\n[[solvers]]\nname = "w2gn"\noptions = [1]  # HERE\n', "solvers[0].options",
     ["must be a table"]),
    ('pairs = ["gaussian:2"]\n[[solvers]]\nname = "w2gn"\ngrid = {lr = 0.1}  # HERE\n', "solvers[0].grid.lr",
     ["must be a list"]),
    ('pairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n[output]\ndb = 3  # HERE\n', "output.db", ["non-empty string"]),
])
def test_wrong_types(tmp_path: Path, text: str, key: str, fragments: list[str]) -> None:
    error, path = load_error(tmp_path, text)
    assert_located(error, path, key, line_with(path, "# HERE"), *fragments)


@pytest.mark.parametrize("section, value, key, fragment", [
    ("[budget]\nsteps = 0", None, "budget.steps", "positive integer, got 0"),
    ("[budget]\nbatch_size = -8", None, "budget.batch_size", "positive integer, got -8"),
    ("[budget]\nminutes = 0", None, "budget.minutes", "positive number, got 0"),
    ("[budget]\nminutes = nan", None, "budget.minutes", "positive number, got nan"),
    ("[evaluation]\nevery = 0", None, "evaluation.every", "positive integer"),
    ("[evaluation]\nsamples = -1", None, "evaluation.samples", "positive integer"),
    ("[checkpoint]\nevery = 0", None, "checkpoint.every", "positive integer"),
    ("[executor]\nkind = \"slurm\"", None, "executor.kind", "'local', 'ray', got 'slurm'"),
    ("[executor]\nworkers = 0", None, "executor.workers", "positive integer"),
    ("[executor]\nretries = -1", None, "executor.retries", "integer >= 0"),
    ("[executor]\nthreads_per_run = 0", None, "executor.threads_per_run", "positive integer"),
    ("[executor]\nkind = \"ray\"\naddress = \"localhost\"", None, "executor.address", "HOST:PORT"),
    ("[executor]\naddress = \"host:99999\"", None, "executor.address", "HOST:PORT"),
    ("[executor]\nnum_cpus = 0", None, "executor.num_cpus", "positive number"),
    ("[executor]\nnum_gpus = -1", None, "executor.num_gpus", "number >= 0"),
])
def test_non_positive_budgets_and_bad_executor(tmp_path: Path, section: str, value: Any, key: str,
                                               fragment: str) -> None:
    error, path = load_error(tmp_path, 'pairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n' + section + "  # HERE\n")
    assert_located(error, path, key, line_with(path, "# HERE"), fragment)


def test_per_solver_budget_override_is_checked(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, """
        pairs = ["gaussian:2"]
        [[solvers]]
        name = "w2gn"
        budget = { steps = -5 }   # HERE
        """)
    assert_located(error, path, "solvers[0].budget.steps", line_with(path, "# HERE"), "got -5")


@pytest.mark.parametrize("text, key, fragment", [
    ('seeds = []  # HERE\npairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n', "seeds", "must not be empty"),
    ('pairs = []  # HERE\nsolvers = ["w2gn"]\n', "pairs", "must not be empty"),
    ('pairs = ["gaussian:2"]\nsolvers = []  # HERE\n', "solvers", "must not be empty"),
    ('pairs = ["gaussian:2"]\n[[solvers]]\nname = "w2gn"\ngrid = { lr = [] }  # HERE\n', "solvers[0].grid.lr",
     "must not be empty"),
])
def test_empty_lists(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    error, path = load_error(tmp_path, text)
    assert_located(error, path, key, line_with(path, "# HERE"), fragment)


def test_missing_required_keys(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, 'solvers = ["w2gn"]\n')
    assert (error.key, error.line) == ("pairs", None) and "missing" in str(error)
    error, path = load_error(tmp_path, 'pairs = ["gaussian:2"]\n')
    assert (error.key, error.line) == ("solvers", None) and "missing" in str(error)
    error, path = load_error(tmp_path, 'pairs = ["gaussian:2"]\n[[solvers]]\n name = "w2gn"\n[[solvers]]  # HERE\n'
                                       'label = "x"\n')
    assert_located(error, path, "solvers[1].name", line_with(path, "# HERE"), "missing")
    error, path = load_error(tmp_path, 'pairs = [{pair_root = "x"}]  # HERE\nsolvers = ["w2gn"]\n')
    assert_located(error, path, "pairs[0].spec", line_with(path, "# HERE"), "missing")


@pytest.mark.parametrize("text, key, fragment", [
    ('pairs = ["gaussian:2"]\n[[solvers]]\nname = "w2gn"\n[[solvers]]\nname = "w2gn"  # HERE\n', "solvers[1].name",
     "label 'w2gn' is also used by solvers[0]"),
    ('pairs = ["gaussian:2"]\n[[solvers]]\nname = "w2gn"\nlabel = "a"\n[[solvers]]\nname = "enot"\n'
     'label = "a"  # HERE\n', "solvers[1].label", "label 'a' is also used by solvers[0]"),
    ('pairs = ["gaussian:2"]\nsolvers = ["enot", "enot"]  # HERE\n', "solvers[1]", "label 'enot'"),
    ('pairs = ["gaussian:2"]\n[[solvers]]\nname = "w2gn"\ngrid = { lr = [1e-3, 0.001] }  # HERE\n',
     "solvers[0].grid.lr[1]", "value 0.001 is repeated"),
    ('seeds = [1, 2, 1]  # HERE\npairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n', "seeds[2]", "seed 1 is repeated"),
    ('pairs = ["gaussian:2", "toy:8gaussians",\n  "gaussian:2"]  # HERE\nsolvers = ["w2gn"]\n', "pairs[2]",
     "pair 'gaussian:2' is repeated"),
])
def test_duplicates_that_would_repeat_runs(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    error, path = load_error(tmp_path, text)
    assert_located(error, path, key, line_with(path, "# HERE"), fragment)


def test_same_solver_twice_with_distinct_labels_is_fine(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, """
        pairs = ["gaussian:2", {spec = "gaussian:2", pair_root = "other"}]
        [[solvers]]
        name = "w2gn"
        [[solvers]]
        name = "w2gn"
        label = "w2gn-decay"
        options = { lr_decay = true }
        """))
    assert [r.label for r in spec.runs] == ["w2gn", "w2gn", "w2gn-decay", "w2gn-decay"]


def test_unknown_solver_suggests_near_names(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, 'pairs = ["gaussian:2"]\n[[solvers]]\nname = "w2gm"  # HERE\n')
    assert_located(error, path, "solvers[0].name", line_with(path, "# HERE"), "unknown solver 'w2gm'",
                   "did you mean 'w2gn'", "available: ")
    error, path = load_error(tmp_path, 'pairs = ["gaussian:2"]\nsolvers = ["w2gn", "enott"]  # HERE\n')
    assert_located(error, path, "solvers[1]", line_with(path, "# HERE"), "did you mean 'enot'")


def test_bad_solver_options(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, """
        pairs = ["gaussian:2"]
        [[solvers]]
        name = "w2gn"
        options = { hidden_sizes = [8], lrr = 0.1 }   # HERE
        """)
    assert_located(error, path, "solvers[0].options.lrr", line_with(path, "# HERE"),
                   "solver 'w2gn' has no option 'lrr'; did you mean 'lr'")
    error, path = load_error(tmp_path, """
        pairs = ["gaussian:2"]
        [[solvers]]
        name = "w2gn"
        grid = { potential = ["icnn", "convex"] }   # HERE
        """)
    assert_located(error, path, "solvers[0].grid.potential", line_with(path, "# HERE"), "'convex'")
    error, path = load_error(tmp_path, """
        pairs = ["gaussian:2"]
        [[solvers]]
        name = "enot"
        options = { lr = 1e-3, expectile = 0.9 }
        grid = { expectile = [0.9, 0.2] }   # HERE
        """)
    assert_located(error, path, "solvers[0].grid.expectile", line_with(path, "# HERE"), "expectile must be in")


def test_grid_values_override_options(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, """
        pairs = ["gaussian:2"]
        [[solvers]]
        name = "enot"
        options = { lr = 1e-3, lr_decay = true }
        grid = { lr = [1e-2, 1e-4] }
        """))
    assert [dict(r.solver_options) for r in spec.runs] == [{"lr": 1e-2, "lr_decay": True},
                                                          {"lr": 1e-4, "lr_decay": True}]
    assert [r.label for r in spec.runs] == ["enot[lr=0.01]", "enot[lr=0.0001]"]


def test_unknown_pair_specs(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, 'pairs = ["toy:8gaussians", "gausian:2"]  # HERE\nsolvers = ["w2gn"]\n')
    assert_located(error, path, "pairs[1]", line_with(path, "# HERE"), "unknown pair 'gausian:2'",
                   "did you mean 'gaussian:2'")
    error, path = load_error(tmp_path, 'pairs = ["toy:8gausians"]  # HERE\nsolvers = ["w2gn"]\n')
    assert_located(error, path, "pairs[0]", line_with(path, "# HERE"), "did you mean 'toy:8gaussians'")
    error, path = load_error(tmp_path, 'pairs = [\n  "gaussian:0",  # HERE\n]\nsolvers = ["w2gn"]\n')
    assert_located(error, path, "pairs[0]", line_with(path, "# HERE"), "dimension must be a positive integer")


def test_published_pairs_without_root_or_with_missing_files(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, 'pairs = ["w2b-mix:2"]  # HERE\nsolvers = ["w2gn"]\n')
    assert_located(error, path, "pairs[0]", line_with(path, "# HERE"), "set pair_root")
    (tmp_path / "empty").mkdir()
    error, path = load_error(tmp_path, """
        pair_root = "empty"
        pairs = [
          "gaussian:2",
          { spec = "w2b-mix:2" },   # HERE
        ]
        solvers = ["w2gn"]
        """)
    assert_located(error, path, "pairs[1].spec", line_with(path, "# HERE"),
                   str(tmp_path / "empty" / "Mix3toMix10" / "2_v1.pt"), "missing")


def test_cost_mismatch(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, """
        pairs = ["funnel:2:4"]
        [[solvers]]
        name = "w2gn"   # HERE
        """)
    assert_located(error, path, "solvers[0].name", line_with(path, "# HERE"), "W2 solver", "W1 ground truth")


def test_file_level_errors(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "x = 1\n", "sweep.json")
    assert error.key is None and error.line is None and "unknown sweep file extension '.json'" in str(error)
    with pytest.raises(SweepConfigError, match="cannot read the file"):
        load_sweep(tmp_path / "absent.toml")
    (tmp_path / "bytes.toml").write_bytes(b"name = \"\xff\"\n")
    with pytest.raises(SweepConfigError, match="not UTF-8"):
        load_sweep(tmp_path / "bytes.toml")
    error, path = load_error(tmp_path, 'pairs = ["gaussian:2"]\n\nsolvers = ["w2gn",\n[budget\n')
    assert error.line == 4 and "TOML syntax error" in str(error) and str(error).startswith(f"{path}, line 4: ")
    error, path = load_error(tmp_path, "pairs: [gaussian:2]\nsolvers:\n  - w2gn\n bad: [\n", "s.yaml")
    assert error.line == 4 and "YAML syntax error" in str(error)
    error, path = load_error(tmp_path, "# nothing\n", "empty.yaml")
    assert "it is empty" in str(error)
    error, path = load_error(tmp_path, "- 1\n- 2\n", "list.yaml")
    assert "it is a list" in str(error)


def test_missing_pyyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "pairs: [gaussian:2]\nsolvers: [w2gn]\n", "s.yaml")
    monkeypatch.setitem(sys.modules, "yaml", None)  # makes `import yaml` fail
    _yaml_loader.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match="pip install pyyaml"):
            load_sweep(path)
        assert len(load_sweep(write(tmp_path, 'pairs = ["gaussian:2"]\nsolvers = ["w2gn"]\n')).runs) == 1
    finally:
        _yaml_loader.cache_clear()


# ------------------------------------------------------------------------------------------ YAML line numbers


def test_yaml_errors_carry_lines(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, """
        pairs: [gaussian:2]
        solvers:
          - w2gn
          - name: enot
            options:
              hidden_sizes: [8]
              lr: -1         # HERE
        """, "s.yaml")
    assert_located(error, path, "solvers[1].options.lr", line_with(path, "# HERE"), "lr must be a finite number")
    error, path = load_error(tmp_path, """
        pairs:
          - gaussian:2
          - {spec: gausian:3}   # HERE
        solvers: [w2gn]
        """, "s.yaml")
    assert_located(error, path, "pairs[1].spec", line_with(path, "# HERE"), "did you mean 'gaussian:3'")
    error, path = load_error(tmp_path, """
        pairs: [gaussian:2]
        solvers: [w2gn]
        executor:
          kind: ray
          kind: local   # HERE
        """, "s.yaml")
    assert_located(error, path, "executor.kind", line_with(path, "# HERE"), "duplicate key 'kind'",
                   "first set on line 4")
    error, path = load_error(tmp_path, """
        pairs: [gaussian:2]
        solvers:
          - name: w2gn
          - label: nameless   # HERE
        """, "s.yaml")
    assert_located(error, path, "solvers[1].name", line_with(path, "# HERE"), "missing")


def test_executor_settings_and_spec_check_their_fields() -> None:
    with pytest.raises(InvalidInputError, match="executor kind"):
        ExecutorSettings(kind="slurm")
    with pytest.raises(InvalidInputError, match="retries"):
        ExecutorSettings(retries=-1)
    assert ExecutorSettings(kind="ray", address="ray://10.0.0.1:10001").address == "ray://10.0.0.1:10001"
    with pytest.raises(InvalidInputError, match="checkpoint_every"):
        SweepSpec(name="x", file=None, runs=(), checkpoint_every=0)


def test_the_documented_examples_load(tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "sweeps.md").read_text()
    section = docs.split("## Config files", 1)[1].split("\n## ", 1)[0]
    specs = []
    for language in ("toml", "yaml"):
        block = section.split(f"```{language}\n", 1)[1].split("```", 1)[0]
        specs.append(load_sweep(write(tmp_path, block, f"doc.{language}")))
    for spec in specs:
        assert [(r.label, r.pair, r.seed, r.steps, r.time_budget_s) for r in spec.runs] == [
            (label, pair, seed, 4000, 600.0) for label in ("w2gn-fast[lr=0.001]", "w2gn-fast[lr=0.0003]")
            for pair in ("gaussian:2", "toy:swiss_roll") for seed in (0, 1)]
        assert spec.db == tmp_path / "sweep.sqlite" and spec.executor.workers == 2


def test_minutes_without_steps_plan_the_runs_by_time(tmp_path: Path) -> None:
    """A budget of minutes alone gives runs without steps (each plans its own); a solver's own steps cap it."""
    spec = load_sweep(write(tmp_path, """
        name = "by-time"
        pairs = ["gaussian:2"]
        [budget]
        minutes = 5
        [[solvers]]
        name = "auto"
        [[solvers]]
        name = "enot"
        budget = { steps = 300 }
        """, "s.toml"))
    assert [(r.solver, r.steps, r.time_budget_s) for r in spec.runs] == [("auto", None, 300.0), ("enot", 300, 300.0)]


def test_the_high_dimensional_example_expands_to_budget_only_runs(tmp_path: Path) -> None:
    text = (EXAMPLES / "hd-auto.toml").read_text()
    pairs = text[text.index("pairs = ["):text.index("]\n", text.index("pairs = [")) + 2]
    spec = load_sweep(write(tmp_path, text.replace(pairs, 'pairs = ["gaussian:128", "gaussian:256"]\n'), "hd.toml"))
    assert len(spec.runs) == 2 * (1 + 6)
    assert all(r.steps is None and r.time_budget_s == 300.0 for r in spec.runs)
    assert {r.solver_options.get("lr") for r in spec.runs if r.solver == "enot"} == {3e-4, 1e-3, 3e-3}
