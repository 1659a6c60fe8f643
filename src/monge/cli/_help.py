"""How the ``monge`` help pages name parameters: metavars (``--steps N``, ``--db PATH``) instead of type tags.

typer (0.29) prints a type tag for every parameter of its rich help pages: ``--steps <int>``, ``--solver
<list[str]>``, positional ``source <str>``, and even ``--no-progress <bool>`` and ``--help <bool>`` for flags that
take no value. The tag comes from :meth:`typer.core.TyperOption.display_type_rich`, which returns the option's
metavar when it has one and ``<type>`` otherwise; the rich options panel prints that column for flags as well (only
the plain, non-rich formatter skips flags), and arguments always get ``<type>``.

:class:`MongeGroup` (the ``cls`` of every :class:`typer.Typer` of the command line) therefore gives each parameter of
its commands, and each lazily created ``--help`` option, a metavar before any help is rendered:

- flags (``--no-progress``, ``--baselines/--no-baselines``, ``--help``): none;
- options with an explicit ``metavar=`` keep it (``--option KEY=VALUE``, ``--pair SPEC``);
- other options by type: ``int`` → ``N``, ``float`` → ``NUMBER``, paths → ``PATH``, choices → ``a|b``, anything
  else (text) → the option's name in capitals (``--device DEVICE``);
- positional arguments are shown by their name in capitals (``SOURCE``, as the commands' docstrings spell them)
  and without a type.

It also folds the hard line breaks of the commands' docstrings (typer keeps them in rich mode), so a command's
summary in ``monge --help`` wraps to the terminal instead of breaking where the source line ended.

This module imports typer only: it is imported by :mod:`monge.cli.main` at start-up.
"""

from __future__ import annotations

import inspect
from typing import Any, get_args

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

_TYPE_METAVARS: dict[Any, str] = {int: "N", float: "NUMBER", bool: "BOOL"}


class NamedArgument(TyperArgument):
    """A positional argument shown by its name (its metavar) alone, without a ``<type>`` tag."""

    def display_type_rich(self, ctx: typer.Context) -> str | None:
        return None


def option_metavar(option: TyperOption) -> str:
    """The metavar shown after ``option`` in help when none was given: empty for flags, else from its type."""
    if option.is_flag or option.count:
        return ""
    descriptor = getattr(option, "type_descriptor", None)
    if descriptor is None:  # typer releases built on click: a click parameter type
        kind = getattr(option.type, "name", "")
        if kind == "choice":
            return "|".join(str(choice) for choice in option.type.choices)
        metavar = {"integer": "N", "float": "NUMBER", "path": "PATH", "boolean": "BOOL"}.get(kind)
    elif descriptor.choices is not None:
        return "|".join(str(getattr(choice, "value", choice)) for choice in descriptor.choices)
    elif descriptor.is_path:
        metavar = "PATH"
    else:
        annotation = descriptor.annotation
        if descriptor.is_list and get_args(annotation):
            annotation = get_args(annotation)[0]
        metavar = _TYPE_METAVARS.get(annotation)
    if metavar:
        return metavar
    long_names = [name for name in option.opts if name.startswith("--")] or option.opts
    return long_names[0].lstrip("-").replace("-", "_").upper()


def name_parameter(param: Any) -> None:
    """Give ``param`` (an option or argument of a typer command) the metavar its help shows; idempotent."""
    if isinstance(param, TyperOption):
        if param.metavar is None:
            param.metavar = option_metavar(param)
    elif isinstance(param, TyperArgument) and not isinstance(param, NamedArgument):
        if param.metavar is None:
            param.metavar = (param.name or "").upper()
        param.__class__ = NamedArgument  # same object and state, only the type column of its help row changes


def fold_help(text: str | None) -> str | None:
    """``text`` with the single line breaks inside each paragraph folded into spaces (paragraphs stay apart);
    text using click's ``\\b`` (keep lines) or ``\\f`` (cut here) markers is returned unchanged."""
    if not text or "\b" in text or "\f" in text:
        return text
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in inspect.cleandoc(text).split("\n\n"))


class MongeGroup(TyperGroup):
    """A typer group whose help pages show metavars instead of type tags (see the module docstring).

    The commands' own parameters get their metavars when the group is built; a command's ``--help`` option,
    which click creates on first use, gets it when the group looks the command up (before its help can run).
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.help = fold_help(self.help)
        for param in self.params:
            name_parameter(param)
        for command in self.commands.values():
            command.help = fold_help(command.help)
            for param in command.params:
                name_parameter(param)

    def get_help_option(self, ctx: typer.Context) -> TyperOption | None:
        option = super().get_help_option(ctx)
        if option is not None:
            name_parameter(option)
        return option

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            option = command.get_help_option(ctx)
            if option is not None:
                name_parameter(option)
        return command
