"""MkDocs hook for the API reference: docstrings use Sphinx roles (``:class:`~monge.X```), which Markdown
renders as the role's name followed by code. Drop the role and, for ``~``-prefixed targets, keep the last
component only, as Sphinx would (``:class:`~monge.errors.TrainingDiverged``` → ``TrainingDiverged``)."""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):<code>(~?)([^<]*)</code>")


def _replace(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"


def on_page_content(html: str, **kwargs: object) -> str:
    return _ROLE.sub(_replace, html)
