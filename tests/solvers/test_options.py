"""Width options are read strictly by every registered solver: a string is never iterated as a list."""

from __future__ import annotations

import inspect

import pytest

from monge.errors import InvalidInputError
from monge.solvers import SOLVERS, get_solver

WIDTH_OPTIONS = sorted((name, option) for name, cls in SOLVERS.items()
                       for option in inspect.signature(cls.__init__).parameters if option.endswith("sizes"))


def test_the_width_options_are_found():
    solvers = {name for name, _ in WIDTH_OPTIONS}
    assert {"enot", "w2gn", "mm-2", "lsot", "amortized", "wgan-lp", "w2gan"} <= solvers
    assert len(WIDTH_OPTIONS) >= 20


@pytest.mark.parametrize("name, option", WIDTH_OPTIONS)
@pytest.mark.parametrize("bad", ["64", b"64", 64, [6.5, 4], [True, 4], [], [0, 4], [-8], {"a": 1}, [[8]]])
def test_bad_widths_are_named(name, option, bad):
    with pytest.raises(InvalidInputError, match=rf"{option} must be a non-empty list of positive integers "
                                                rf"such as \[64, 64\], got"):
        get_solver(name, **{option: bad})


@pytest.mark.parametrize("name, option", WIDTH_OPTIONS)
def test_good_widths_are_kept_as_lists(name, option):
    solver = get_solver(name, **{option: (8, 8)})
    assert getattr(solver, option) == [8, 8]
