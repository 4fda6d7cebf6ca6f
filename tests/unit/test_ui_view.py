"""The cases page's rows: what needs a person first, the filters, the links, time in status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow_provider_fabric.ui.cases import GENOME, REPORT, AirflowCase, TaskRef
from airflow_provider_fabric.ui.statuses import Seen, Snapshot
from airflow_provider_fabric.ui.view import Filters, build_rows, duration_text, in_status_since, select

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def hours_ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def task(run: str = "manual__2026-03-01T10:00:00+00:00", task_id: str = "wait", map_index: int = -1, **kw):
    fields = {"state": "success", "start_date": hours_ago(30), "end_date": hours_ago(29), **kw}
    return TaskRef("example_fabric_intake", run, task_id, map_index, **fields)


def seen(status: str, created_hours_ago: float = 48, **kw) -> Seen:
    fields = {"report_type": "panel", "project_id": 7, "approved_on": None, "seen_at": NOW, **kw}
    return Seen(status, created_on=hours_ago(created_hours_ago), **fields)


def rows_for(items: list[tuple[str, int, Seen | None, list[TaskRef]]]):
    cases = [AirflowCase(kind, fabric_id, tasks=tasks) for kind, fabric_id, _, tasks in items]
    snapshot = Snapshot({(kind, i): s for kind, i, s, _ in items if s}, NOW, None, 0)
    return build_rows(cases, snapshot, lambda kind, i: f"https://ui.fabric.test/{kind}s/{i}")


def test_what_needs_a_person_comes_first():
    rows = rows_for(
        [
            (REPORT, 1, seen("APPROVED", 100, approved_on=hours_ago(1)), [task(end_date=hours_ago(1))]),
            (REPORT, 2, seen("READY TO REVIEW"), [task(end_date=hours_ago(5))]),
            (REPORT, 3, seen("READY TO REVIEW"), [task(end_date=hours_ago(20))]),
            (GENOME, 4, seen("ANNOTATING", 2), [task(end_date=None)]),
            (GENOME, 5, seen("FAILED"), [task(end_date=hours_ago(3))]),
            (REPORT, 6, None, [task()]),
            (REPORT, 7, seen("APPROVED", 100, approved_on=hours_ago(50)), [task()]),
        ]
    )
    order = [(row.object, row.fabric_id) for row in select(rows, Filters(), NOW)]
    assert order == [
        (GENOME, 5),  # failed
        (REPORT, 3),  # waiting for review for 20 h
        (REPORT, 2),  # waiting for review for 5 h
        (GENOME, 4),  # in progress
        (REPORT, 6),  # unknown to Fabric: still something to look at
        (REPORT, 1),  # done: newest first
        (REPORT, 7),
    ]


def test_filters_status_dag_and_stuck():
    rows = rows_for(
        [
            (REPORT, 1, seen("READY TO REVIEW"), [task(end_date=hours_ago(30))]),
            (REPORT, 2, seen("READY TO REVIEW"), [task(end_date=hours_ago(2))]),
            (REPORT, 3, seen("APPROVED", approved_on=hours_ago(40)), [task()]),
            (REPORT, 4, None, [task()]),
        ]
    )
    ids = lambda filters: [row.fabric_id for row in select(rows, filters, NOW)]  # noqa: E731
    assert ids(Filters(status="READY TO REVIEW")) == [1, 2]
    assert ids(Filters(dag_id="example_fabric_intake")) == [1, 2, 4, 3]
    assert ids(Filters(dag_id="example_fabric_panel")) == []
    assert ids(Filters(stuck_hours=24)) == [1], "finished and unknown cases are never 'stuck'"
    assert ids(Filters(stuck_hours=1)) == [1, 2]


def test_links_are_relative_to_the_airflow_ui_and_quoted():
    (row,) = rows_for([(REPORT, 9, seen("PROCESSING"), [task(task_id="case.wait_for_review", map_index=2)])])
    assert row.links() == {
        "dag": "dags/example_fabric_intake",
        "run": "dags/example_fabric_intake/runs/manual__2026-03-01T10%3A00%3A00%2B00%3A00",
        "task": "dags/example_fabric_intake/runs/manual__2026-03-01T10%3A00%3A00%2B00%3A00"
        "/tasks/case.wait_for_review/mapped/2",
        "fabric": "https://ui.fabric.test/reports/9",
    }


def test_the_row_points_at_the_latest_task():
    older = task(run="scheduled__1", start_date=hours_ago(50), end_date=hours_ago(49))
    newer = task(run="scheduled__2", task_id="wait_for_review", start_date=hours_ago(3), end_date=None)
    (row,) = rows_for([(REPORT, 1, seen("PROCESSING"), [older, newer])])
    assert (row.run_id, row.task_id) == ("scheduled__2", "wait_for_review")


def test_time_in_status():
    case = AirflowCase(GENOME, 1, tasks=[task(end_date=hours_ago(3))])
    assert in_status_since(case, None) is None
    assert in_status_since(case, seen("ANNOTATED", 10)) == hours_ago(3), "the last task saw it then"
    assert in_status_since(case, seen("ANNOTATING", 1)) == hours_ago(1), "created after the last task"
    assert in_status_since(case, seen("ANNOTATED", changed_at=hours_ago(0.5))) == hours_ago(0.5)
    approved = seen("APPROVED", report_type="panel", approved_on=hours_ago(7))
    assert in_status_since(AirflowCase(REPORT, 2, tasks=[task()]), approved) == hours_ago(7)


def test_kind_labels_and_unknown_rows():
    rows = rows_for(
        [
            (GENOME, 1, seen("ANNOTATED"), [task()]),
            (REPORT, 2, seen("WAITING", report_type="Trio"), [task()]),
            (REPORT, 3, seen("WAITING", report_type="panel"), [task()]),
            (REPORT, 4, None, [task()]),
        ]
    )
    assert [(row.kind, row.status, row.status_source) for row in rows] == [
        ("genome", "ANNOTATED", "live"),
        ("family report (Trio)", "WAITING", "live"),
        ("panel report", "WAITING", "live"),
        ("report", "UNKNOWN", "unknown"),
    ]
    assert rows[3].as_json(NOW)["hours_in_status"] is None


def test_duration_text():
    assert [duration_text(d) for d in (None, timedelta(minutes=12), timedelta(hours=5, minutes=7))] == [
        "-",
        "12 min",
        "5 h 07 min",
    ]
    assert duration_text(timedelta(days=3, hours=4, minutes=59)) == "3 d 4 h"
