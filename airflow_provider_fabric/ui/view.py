"""The cases page's rows: Airflow's cases joined with Fabric's statuses, then filtered and sorted.

Pure functions over :mod:`~airflow_provider_fabric.ui.cases` and
:mod:`~airflow_provider_fabric.ui.statuses`, shared by the HTML page and the
JSON endpoint. A row holds IDs, statuses, times and links, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from airflow_provider_fabric.ui.cases import GENOME, REPORT, AirflowCase
from airflow_provider_fabric.ui.statuses import Seen, Snapshot

FAILED = "FAILED"
REVIEW = "READY TO REVIEW"
UNKNOWN = "UNKNOWN"
#: Statuses where nobody has anything left to do.
DONE = {GENOME: frozenset({"ANNOTATED"}), REPORT: frozenset({"APPROVED"})}


@dataclass(frozen=True)
class Filters:
    """What the user narrowed the page to.

    :param status: only cases in this status.
    :param dag_id: only cases of this DAG.
    :param stuck_hours: only unfinished cases that have been in their status at least this long.
    """

    status: str | None = None
    dag_id: str | None = None
    stuck_hours: float | None = None


@dataclass(frozen=True)
class Row:
    """One genome or report on the page."""

    kind: str
    object: str
    fabric_id: int
    status: str
    status_source: str
    status_as_of: datetime | None
    since: datetime | None
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    task_state: str | None
    fabric_url: str | None

    @property
    def done(self) -> bool:
        return self.status in DONE[self.object]

    def age(self, now: datetime) -> timedelta | None:
        """How long it has been in its status (``None`` when not known)."""
        return now - self.since if self.since is not None else None

    def links(self) -> dict[str, str | None]:
        """Airflow UI paths relative to the UI's root (it may sit under a proxy path), and the Fabric URL."""
        dag = f"dags/{_seg(self.dag_id)}"
        run = f"{dag}/runs/{_seg(self.run_id)}"
        task = f"{run}/tasks/{_seg(self.task_id)}"
        if self.map_index >= 0:
            task += f"/mapped/{self.map_index}"
        return {"dag": dag, "run": run, "task": task, "fabric": self.fabric_url}

    def as_json(self, now: datetime) -> dict[str, Any]:
        age = self.age(now)
        return {
            "kind": self.kind,
            "object": self.object,
            "fabric_id": self.fabric_id,
            "status": self.status,
            "status_source": self.status_source,
            "status_as_of": _iso(self.status_as_of),
            "in_status_since": _iso(self.since),
            "hours_in_status": round(age.total_seconds() / 3600, 2) if age is not None else None,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "map_index": self.map_index,
            "task_state": self.task_state,
            "links": self.links(),
        }


def kind_label(case: AirflowCase, seen: Seen | None) -> str:
    """``genome``, ``panel report``, ``family report (Trio)``, or ``report`` when Fabric never said."""
    if case.kind == GENOME:
        return "genome"
    report_type = seen.report_type if seen else None
    if not report_type:
        return "report"
    return "panel report" if report_type.lower() == "panel" else f"family report ({report_type})"


def in_status_since(case: AirflowCase, seen: Seen | None) -> datetime | None:
    """When the object reached its current status, as closely as can be known.

    Fabric does not publish when a status changed. In order of preference: the
    refresh that saw the status change; the approval time of an approved report;
    else the later of the object's creation and the end of the last task that
    touched it (that task saw, or set, the status then).
    """
    if seen is None:
        return None
    if seen.changed_at is not None:
        return seen.changed_at
    if seen.status == "APPROVED" and seen.approved_on is not None:
        return seen.approved_on
    known = [when for when in (seen.created_on, case.last_finished) if when is not None]
    return max(known) if known else None


def build_rows(
    cases: Iterable[AirflowCase], snapshot: Snapshot, fabric_url: Callable[[str, int], str | None]
) -> list[Row]:
    """One row per case, with its status from ``snapshot`` (``UNKNOWN`` when Fabric never answered).

    :param cases: what Airflow knows (already limited to the DAGs the user may read).
    :param snapshot: what Fabric said.
    :param fabric_url: the Fabric Enterprise URL of ``(kind, ID)``, or ``None``.
    """
    rows = []
    for case in cases:
        seen = snapshot.seen.get(case.key)
        latest = case.latest
        source = "unknown" if seen is None else "last known" if snapshot.error else "live"
        rows.append(
            Row(
                kind=kind_label(case, seen),
                object=case.kind,
                fabric_id=case.fabric_id,
                status=seen.status if seen else UNKNOWN,
                status_source=source,
                status_as_of=seen.seen_at if seen else None,
                since=in_status_since(case, seen),
                dag_id=latest.dag_id,
                run_id=latest.run_id,
                task_id=latest.task_id,
                map_index=latest.map_index,
                task_state=latest.state,
                fabric_url=fabric_url(case.kind, case.fabric_id),
            )
        )
    return rows


def select(rows: Iterable[Row], filters: Filters, now: datetime) -> list[Row]:
    """The rows matching every filter, what needs a person first.

    Failed first, then those waiting for review (longest waiting first), then
    those still in progress (oldest first), then the finished ones (newest first).
    """

    def keep(row: Row) -> bool:
        if filters.status and row.status != filters.status:
            return False
        if filters.dag_id and row.dag_id != filters.dag_id:
            return False
        if filters.stuck_hours is not None:
            age = row.age(now)
            return not row.done and age is not None and age >= timedelta(hours=filters.stuck_hours)
        return True

    def order(row: Row) -> tuple[int, float, str, int]:
        rank = 0 if row.status == FAILED else 1 if row.status == REVIEW else 3 if row.done else 2
        when = row.since.timestamp() if row.since is not None else float("inf")
        return rank, -when if row.done else when, row.object, row.fabric_id

    return sorted((row for row in rows if keep(row)), key=order)


def duration_text(age: timedelta | None) -> str:
    """``3 d 4 h``, ``5 h 07 min``, ``12 min``; ``-`` when unknown."""
    if age is None:
        return "-"
    minutes = max(int(age.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def _seg(value: str) -> str:
    return quote(value, safe="")


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None
