"""Stored results: the SQLite :class:`ResultStore`, stored runs as rows (:mod:`monge.results.rows`), one table
model of them (:mod:`monge.results.table`) and its outputs: rich, HTML, Markdown, CSV and JSON
(:mod:`monge.results.render`). What each metric means (label, unit, direction, format, published column) comes
from the metric catalogue, :mod:`monge.metrics.registry`. Nothing here trains or imports a solver.

Example::

    from monge.results import ResultStore, leaderboard_tables, to_markdown

    with ResultStore("monge-results.sqlite", create=False) as store:
        for table in leaderboard_tables(store.leaderboard()):
            print(to_markdown(table))
"""

from monge.results.render import FORMATS, render, to_csv, to_html, to_json, to_markdown, to_rich
from monge.results.rows import RunSummary, garbage_flag, pair_label, summaries_from_store
from monge.results.store import SCHEMA_VERSION, STATUSES, ResultStore
from monge.results.table import (Cell, Column, Table, group_table, leaderboard_tables, records_table, run_records,
                                 run_table)

__all__ = ["Cell", "Column", "FORMATS", "ResultStore", "RunSummary", "SCHEMA_VERSION", "STATUSES", "Table",
           "garbage_flag", "group_table", "leaderboard_tables", "pair_label", "records_table", "render", "run_records",
           "run_table", "summaries_from_store", "to_csv", "to_html", "to_json", "to_markdown", "to_rich"]
