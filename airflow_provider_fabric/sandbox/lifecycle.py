"""Time in the sandbox: PST timestamps and statuses computed lazily, by seconds or by looks.

Nothing advances in the background. By default statuses follow the wall
clock (plus any offset set through ``POST /_sandbox/clock``). A genome stores
when it was uploaded and when its annotation ends (upload time +
``--annotation-seconds``); its status is read off the clock at each request:

* first 10% of the span ``UPLOADED``, then ``PARSING`` until 30%, then
  ``ANNOTATING``; at the end ``ANNOTATED``, or ``FAILED`` when the VCF's
  ``##source`` line holds the failure marker (:data:`FAIL_ANNOTATION_MARKER`).

A report is ``WAITING`` until every genome it names (proband and each family
member) exists and is annotated, then ``PROCESSING`` for ``--report-seconds``,
then ``READY TO REVIEW``. A failed or deleted genome makes it ``FAILED`` with a
reason. An explicit status update (``APPROVED``...) overrides the computed one.

With ``--looks N`` time is counted in *looks* instead of seconds, so that tests
do not depend on the machine's speed: every answer to a GET that returns an
object (get one, or a list holding it) is one look at it, and a look at a
report is also a look at each of its genomes. A genome is ``ANNOTATED`` (or
``FAILED``) from its Nth look on, passing through the same statuses on the
way; a report is ``READY TO REVIEW`` from the Nth look at which all its
genomes were annotated. With ``N = 2`` a sensor's first look always finds the
object still running and its second look always finds it done, whatever the
machine is doing. See :mod:`.looks`.
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
    #: Statuses advance per look instead of per second when > 0 (see the module docstring).
    looks: int = 0
    #: Seconds added to the wall clock (``POST /_sandbox/clock``): time moves on without waiting.
    offset: float = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def stamp(self, epoch: float | None) -> str | None:
        """A naive ISO-8601 timestamp in the server's zone, as the real API writes them."""
        if epoch is None:
            return None
        local = datetime.fromtimestamp(epoch, ZoneInfo(self.timezone))
        return local.replace(tzinfo=None).isoformat(timespec="seconds")


def genome_status(genome: dict[str, Any], clock: Clock, now: float) -> tuple[str, str | None]:
    """``(status, status_description)`` of a genome at ``now`` (or after its looks, in look mode)."""
    start, end = genome["created_at"], genome["annotated_at"]
    if clock.looks:
        start, end, now = 0, clock.looks, genome["looks"]
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
        status, _ = genome_status(genome, clock, now)
        if status == "FAILED":
            return "FAILED", f"Genome {genome_id} failed annotation"
        if status != "ANNOTATED":
            waiting = True
        ready_at = max(ready_at, genome["annotated_at"])
    if waiting:
        return "WAITING", "Waiting for genome annotation"
    if clock.looks:
        return ("PROCESSING", None) if report["looks"] < clock.looks else ("READY TO REVIEW", None)
    if now < ready_at + clock.report_seconds:
        return "PROCESSING", None
    return "READY TO REVIEW", None
