"""Every output of a :class:`~monge.results.table.Table`: a rich table for the terminal, HTML (a Jinja2 template
with autoescaping), GitHub Markdown, CSV and JSON. Display outputs show each cell's text; CSV and JSON write its
raw value (non-finite numbers as empty cells / ``null``)."""

from __future__ import annotations

import csv
import io
import json
import math
from functools import lru_cache
from typing import Any

from monge.errors import UnknownNameError
from monge.results.table import Table

FORMATS = ("table", "markdown", "csv", "json")
"""Output formats of ``monge results --format``."""

STATUS_STYLES = {"finished": "green", "done": "green", "diverged": "red", "failed": "red", "stopped": "yellow",
                 "interrupted": "yellow", "running": "yellow", "pending": "yellow"}
"""The rich style of each run status (a garbage map is red whatever its status)."""


def to_rich(table: Table) -> Any:
    """A :class:`rich.table.Table`: statuses coloured, baseline rows dimmed, caption and sources below."""
    from rich.table import Table as RichTable
    from rich.text import Text

    caption = "\n".join(part for part in (table.caption, *table.sources) if part) or None
    out = RichTable(title=table.title, caption=caption)
    for column in table.columns:
        out.add_column(column.header, justify="right" if column.numeric else "left")
    for row, baseline in zip(table.rows, table.baselines):
        cells = []
        for cell in row:
            style = None
            if cell.status is not None:
                style = "red" if "garbage" in cell.text else STATUS_STYLES.get(cell.status)
            cells.append(Text(cell.text, style=style or ""))
        out.add_row(*cells, style="dim" if baseline else None)
    return out


def _markdown_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(table: Table) -> str:
    """A GitHub Markdown table: the title as a bold line, numeric columns right-aligned, caption and sources
    below, ``|`` escaped."""
    lines = [f"**{_markdown_cell(table.title)}**", ""] if table.title else []
    lines.append("| " + " | ".join(_markdown_cell(c.header) for c in table.columns) + " |")
    lines.append("|" + "|".join("---:" if c.numeric else "---" for c in table.columns) + "|")
    lines += ["| " + " | ".join(_markdown_cell(cell.text) for cell in row) + " |" for row in table.rows]
    notes = [part for part in (table.caption, *table.sources) if part]
    if notes:
        lines += ["", *(_markdown_cell(n) for n in notes)]
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=None)
def html_environment() -> Any:
    """The Jinja2 environment of the results' HTML (``monge/results/templates``, autoescaped)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("monge.results", "templates"), autoescape=True, undefined=StrictUndefined)


def to_html(table: Table, *, css_class: str = "") -> str:
    """An HTML table (with the title as ``<h4>``, caption and sources as paragraphs); all text escaped."""
    return html_environment().get_template("table.html.j2").render(table=table, css_class=css_class)


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def to_csv(table: Table) -> str:
    """CSV text: a header row of column keys, then each row's raw values (empty for missing or non-finite)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in table.columns])
    writer.writerows(["" if _clean(cell.value) is None else cell.value for cell in row] for row in table.rows)
    return out.getvalue()


def to_json(table: Table) -> str:
    """A JSON array of one object per row, column key → raw value (non-finite numbers as ``null``)."""
    return json.dumps([{k: _clean(v) for k, v in record.items()} for record in table.records()], indent=2, default=str)


RENDERERS = {"table": to_rich, "markdown": to_markdown, "csv": to_csv, "json": to_json, "html": to_html}


def render(table: Table, output_format: str) -> Any:
    """``table`` in ``output_format`` (``"table"``: a rich table; ``"markdown"``, ``"csv"``, ``"json"``, ``"html"``:
    text)."""
    if output_format not in RENDERERS:
        raise UnknownNameError("output format", str(output_format), sorted(RENDERERS))
    return RENDERERS[output_format](table)


__all__ = ["FORMATS", "RENDERERS", "STATUS_STYLES", "html_environment", "render", "to_csv", "to_html", "to_json",
           "to_markdown", "to_rich"]
