"""Time in the sandbox: PST timestamps and statuses computed lazily from them.

Nothing advances in the background. A genome stores when it was uploaded and
when its annotation ends (upload time + ``--annotation-seconds``); its status
is read off the clock at each request:

* first 10% of the span ``UPLOADED``, then ``PARSING`` until 30%, then
  ``ANNOTATING``; at the end ``ANNOTATED``, or ``FAILED`` when the VCF's
  ``##source`` line holds the failure marker (:data:`FAIL_ANNOTATION_MARKER`).

A report is ``WAITING`` until every genome it names (proband and each family
member) exists and is annotated, then ``PROCESSING`` for ``--report-seconds``,
then ``READY TO REVIEW``. A failed or deleted genome makes it ``FAILED`` with a
reason. An explicit status update (``APPROVED``...) overrides the computed one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

#: Put this text in a VCF's ``##source`` header line to make its annotation fail.
FAIL_ANNOTATION_MARKER = "FABRIC_SANDBOX_FAIL_ANNOTATION"

#: Statuses a client may set with ``PATCH /reports/{id}/update_status/``.
SETTABLE_REPORT_STATUSES = ("READY TO REVIEW", "APPROVED", "COMPLETE")


@dataclass
class Clock:
    """The sandbox's notion of time and its processing durations."""

    annotation_seconds: float = 2.0
    report_seconds: float = 2.0
    timezone: str = "America/Los_Angeles"

    def now(self) -> float:
        return time.time()

    def stamp(self, epoch: float | None) -> str | None:
        """A naive ISO-8601 timestamp in the server's zone, as the real API writes them."""
        if epoch is None:
            return None
        local = datetime.fromtimestamp(epoch, ZoneInfo(self.timezone))
        return local.replace(tzinfo=None).isoformat(timespec="seconds")


def genome_status(genome: dict[str, Any], now: float) -> tuple[str, str | None]:
    """``(status, status_description)`` of a genome at ``now``."""
    start, end = genome["created_at"], genome["annotated_at"]
    if now >= end:
        if genome["fail_annotation"]:
            return "FAILED", (
                f"Annotation failed: the VCF's ##source line carries {FAIL_ANNOTATION_MARKER} "
                "(sandbox failure marker)"
            )
        return "ANNOTATED", None
    fraction = (now - start) / max(end - start, 1e-9)
    if fraction < 0.1:
        return "UPLOADED", None
    if fraction < 0.3:
        return "PARSING", None
    return "ANNOTATING", None


def report_genome_ids(report: dict[str, Any]) -> list[int | None]:
    """Genome IDs a report needs: proband first, then each family member (``None`` = not attached)."""
    members = json.loads(report["members"])
    ids: list[int | None] = [report["proband_genome_id"]]
    for position in range(1, 5):
        member = members.get(f"family_{position}")
        if member is not None:
            ids.append(member.get("genome_id"))
    return ids


def report_status(
    report: dict[str, Any], genomes: dict[int, dict[str, Any]], clock: Clock, now: float
) -> tuple[str, str | None]:
    """``(status, status_description)`` of a report at ``now``.

    :param genomes: the workspace's genomes by ID (those the report names are looked up here).
    """
    if report["status_override"]:
        return report["status_override"], None
    ids = report_genome_ids(report)
    if any(genome_id is None for genome_id in ids):
        return "WAITING", "Waiting for genomes to be attached"
    ready_at = report["attached_at"] or report["created_at"]
    waiting = False
    for genome_id in ids:
        genome = genomes.get(int(genome_id or 0))
        if genome is None:
            return "FAILED", f"Genome {genome_id} was deleted"
        status, _ = genome_status(genome, now)
        if status == "FAILED":
            return "FAILED", f"Genome {genome_id} failed annotation"
        if status != "ANNOTATED":
            waiting = True
        ready_at = max(ready_at, genome["annotated_at"])
    if waiting:
        return "WAITING", "Waiting for genome annotation"
    if now < ready_at + clock.report_seconds:
        return "PROCESSING", None
    return "READY TO REVIEW", None
