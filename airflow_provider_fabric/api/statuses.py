"""Status vocabularies of genomes and clinical reports, and how to judge them.

One evaluation function serves poke-mode sensors and triggers alike, so both
modes always reach the same verdict on the same answer.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass

GENOME_STATUSES = ("UPLOADED", "PARSING", "ANNOTATING", "ANNOTATED", "FAILED")
GENOME_SUCCESS_STATUSES = ("ANNOTATED",)
GENOME_FAILURE_STATUSES = ("FAILED",)

REPORT_STATUSES = (
    "WAITING",
    "SUBMITTED",
    "PROCESSING",
    "RUNNING",
    "READY TO REVIEW",
    "COMPLETE",
    "APPROVED",
    "FAILED",
)
REPORT_READY_STATUSES = ("READY TO REVIEW",)
REPORT_FAILURE_STATUSES = ("FAILED",)


class Verdict(enum.Enum):
    """What a sensor should do after looking at one or more statuses."""

    SUCCESS = "success"
    FAILURE = "failure"
    WAITING = "waiting"


@dataclass(frozen=True)
class Evaluation:
    """The verdict for a set of objects, with what led to it.

    :param verdict: succeed, fail, or keep waiting.
    :param failed: IDs of objects in a failure status.
    :param pending: IDs still waiting.
    :param unknown: ``(id, status)`` pairs whose status is not in the known vocabulary.
    """

    verdict: Verdict
    failed: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    unknown: tuple[tuple[str, str], ...] = ()


def normalize_status(status: str | None) -> str:
    """Compare statuses case-insensitively and with ``_`` or spaces alike.

    :param status: a status as the server or a user wrote it.
    """
    return (status or "").strip().upper().replace("_", " ")


def evaluate_statuses(
    statuses: Iterable[tuple[str, str | None]],
    success: Collection[str],
    failure: Collection[str],
    known: Collection[str],
) -> Evaluation:
    """Decide whether every object succeeded, any failed, or the wait goes on.

    A failure anywhere fails at once, even while others are still running, so
    the DAG learns about a failed annotation without waiting for the rest. A
    status outside ``known``, ``success`` and ``failure`` counts as still running.

    :param statuses: ``(object_id, status)`` pairs as the server reported them.
    :param success: statuses that mean done.
    :param failure: statuses that mean failed.
    :param known: every status the API is known to use.
    """
    ok = {normalize_status(s) for s in success}
    bad = {normalize_status(s) for s in failure}
    vocabulary = {normalize_status(s) for s in known} | ok | bad
    failed: list[str] = []
    pending: list[str] = []
    unknown: list[tuple[str, str]] = []
    for object_id, raw in statuses:
        status = normalize_status(raw)
        if status in bad:
            failed.append(object_id)
        elif status not in ok:
            pending.append(object_id)
            if status not in vocabulary:
                unknown.append((object_id, raw or ""))
    if failed:
        verdict = Verdict.FAILURE
    elif pending:
        verdict = Verdict.WAITING
    else:
        verdict = Verdict.SUCCESS
    return Evaluation(verdict, tuple(failed), tuple(pending), tuple(unknown))
