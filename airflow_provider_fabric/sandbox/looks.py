"""Looks: in look mode (``--looks N``), an answer that returns an object moves its status on.

Only GET answers count, and only for the objects they return (a list filtered
down to one report looks at that report alone). A look at a report is first a
look at each of its genomes; it then counts towards the report's processing if
all of them are annotated. The admin endpoints under ``/_sandbox`` never look.
Without look mode these functions do nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .common import Context
from .lifecycle import report_genome_ids, report_status


def look_at_genomes(c: Context, rows: Iterable[dict[str, Any]]) -> None:
    """One look at each genome row: counted in the store and in the row itself."""
    if not c.clock.looks:
        return
    for row in rows:
        c.store.execute("UPDATE genomes SET looks = looks + 1 WHERE id = ?", (row["id"],))
        row["looks"] += 1


def look_at_reports(c: Context, rows: Iterable[dict[str, Any]], genomes: dict[int, dict[str, Any]]) -> None:
    """One look at each report row (and so at its genomes), counted in the store and in the rows.

    :param genomes: the workspace's genome rows by ID, as the report views use them (updated here).
    """
    if not c.clock.looks:
        return
    for row in rows:
        look_at_genomes(c, [genomes[gid] for gid in report_genome_ids(row) if gid in genomes])
        status, _ = report_status(row, genomes, c.clock, c.clock.now())
        if status in ("PROCESSING", "READY TO REVIEW") and not row["status_override"]:
            c.store.execute("UPDATE reports SET looks = looks + 1 WHERE id = ?", (row["id"],))
            row["looks"] += 1
