"""Triggers and the shared status judgement, driven through httpx's own MockTransport."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_fabric.api.statuses import GENOME_STATUSES, REPORT_STATUSES, Verdict
from airflow_provider_fabric.exceptions import (
    FabricAuthError,
    FabricError,
    FabricNotFoundError,
    FabricStatusError,
    FabricTimeoutError,
)
from airflow_provider_fabric.triggers.fabric import (
    FabricClinicalReportStatusTrigger,
    FabricGenomeAnnotationTrigger,
    check_genomes,
    check_report,
    first_look_delay,
    next_poke_interval,
    raise_for_event,
)

SENTINEL = "PHI-SENTINEL-Doe-Jane"


def genome(gid: int, status: str, description: str | None = None) -> dict[str, Any]:
    return {
        "id": gid,
        "genome_label": SENTINEL,
        "external_id": SENTINEL + "-ext",
        "status": status,
        "status_description": description,
        "created_on": "2024-01-02T03:04:05",
    }


def run_trigger(trigger, handler: Callable[[httpx.Request], httpx.Response]) -> list[dict[str, Any]]:
    """Run a trigger to its end against ``handler`` and return every event payload."""
    from airflow_provider_fabric.hooks.fabric_async import FabricAsyncHook

    transport = httpx.MockTransport(handler)
    trigger._make_hook = lambda: FabricAsyncHook(trigger.fabric_conn_id, transport=transport)

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


@pytest.fixture
def logs(caplog, capsys) -> Callable[[], str]:
    """Everything logged so far: stdlib records and the triggers' structlog output."""
    caplog.set_level(logging.DEBUG)

    def text() -> str:
        captured = capsys.readouterr()
        return caplog.text + captured.out + captured.err

    return text


class Script:
    """Answers each path from a list of responses in turn (the last one repeats)."""

    def __init__(self, answers: dict[str, list[httpx.Response | dict]]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.answers[request.url.path]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)


# --------------------------------------------------------------------- status judgement


@pytest.mark.parametrize("status", GENOME_STATUSES)
def test_every_genome_status_has_the_documented_verdict(status):
    check = check_genomes({1: genome(1, status)})
    expected = {"ANNOTATED": Verdict.SUCCESS, "FAILED": Verdict.FAILURE}.get(status, Verdict.WAITING)
    assert check.verdict is expected
    assert check.unknown == ()


@pytest.mark.parametrize("status", REPORT_STATUSES)
def test_every_report_status_has_the_documented_verdict(status):
    check = check_report(5, {"id": 5, "status": status})
    expected = {"READY TO REVIEW": Verdict.SUCCESS, "FAILED": Verdict.FAILURE}.get(status, Verdict.WAITING)
    assert check.verdict is expected
    assert check.unknown == ()


def test_first_looks_of_many_triggers_spread_over_the_second_half_of_the_interval():
    delays = [first_look_delay(30, f"report {n}") for n in range(1000)]
    assert all(15 <= d < 30 for d in delays)  # the sensor just looked: nothing to learn sooner
    buckets = [sum(15 + k * 1.5 <= d < 15 + (k + 1) * 1.5 for d in delays) for k in range(10)]
    assert min(buckets) > 50  # spread evenly, not all at once
    assert first_look_delay(30, "report 7") == first_look_delay(30, "report 7")  # same wait, same point


def test_a_trigger_waits_before_its_first_look(fabric_conn, monkeypatch):
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    trigger = FabricClinicalReportStatusTrigger(report_id=5, poke_interval=40)
    (event,) = run_trigger(
        trigger, lambda request: httpx.Response(200, json={"id": 5, "status": "READY TO REVIEW"})
    )
    assert event["status"] == "success"
    assert slept and 20 <= slept[0] < 40


def test_approved_as_target_and_status_spelling_variants():
    assert check_report(5, {"status": "approved"}, ["APPROVED"]).verdict is Verdict.SUCCESS
    assert check_report(5, {"status": "READY_TO_REVIEW"}).verdict is Verdict.SUCCESS
    assert check_report(5, {"status": "READY TO REVIEW"}, ["APPROVED"]).verdict is Verdict.WAITING


def test_unknown_status_is_waited_on_and_reported():
    check = check_genomes({1: genome(1, "QUEUED_FOR_REANNOTATION"), 2: genome(2, "ANNOTATED")})
    assert check.verdict is Verdict.WAITING
    assert check.unknown == (("1", "QUEUED_FOR_REANNOTATION"),)
    assert check.pending == ("1",)
    missing = check_report(5, {"id": 5})
    assert missing.verdict is Verdict.WAITING


def test_many_genomes_all_must_finish_and_any_failure_fails_at_once():
    many = {gid: genome(gid, "ANNOTATED") for gid in range(1, 201)}
    assert check_genomes(many).verdict is Verdict.SUCCESS
    many[150] = genome(150, "ANNOTATING")
    waiting = check_genomes(many)
    assert waiting.verdict is Verdict.WAITING and waiting.pending == ("150",)
    many[7] = genome(7, "FAILED", "VCF has no variant records")
    failed = check_genomes(many)
    assert failed.verdict is Verdict.FAILURE
    assert failed.failed == ("7",)
    assert failed.message == "Annotation failed for genome 7 (FAILED): VCF has no variant records"
    assert SENTINEL not in failed.message


def test_custom_success_and_failure_sets():
    check = check_genomes({1: genome(1, "PARSING")}, ["PARSING"], ["ANNOTATING"])
    assert check.verdict is Verdict.SUCCESS
    check = check_genomes({1: genome(1, "ANNOTATING")}, ["ANNOTATED"], ["ANNOTATING"])
    assert check.verdict is Verdict.FAILURE


def test_backoff_grows_like_airflow_and_is_capped():
    assert [next_poke_interval(30, n) for n in (1, 2, 10)] == [30.0, 30.0, 30.0]
    grown = [next_poke_interval(30, n, exponential_backoff=True, max_poke_interval=600) for n in range(1, 12)]
    assert grown[0] < grown[3] < grown[5]
    assert max(grown) == 600.0 and grown[-1] == 600.0
    # Airflow's base for the n-th poke is poke_interval * 2 ** (n - 2), plus jitter below the base.
    assert 30 <= next_poke_interval(30, 2, exponential_backoff=True) < 60
    # A ten-hour wait costs tens of requests, not the 1200 of a fixed 30 s interval.
    waited, looks = 0.0, 0
    while waited < 10 * 3600:
        looks += 1
        waited += next_poke_interval(30, looks, exponential_backoff=True, max_poke_interval=600)
    assert looks < 100


# --------------------------------------------------------------------- serialize


def test_genome_trigger_serializes_to_plain_json_exactly():
    trigger = FabricGenomeAnnotationTrigger(
        genome_ids=[3, 4],
        fabric_conn_id="lab_fabric",
        poke_interval=30,
        deadline=1700000000.5,
        exponential_backoff=True,
        max_poke_interval=600,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_fabric.triggers.fabric.FabricGenomeAnnotationTrigger"
    assert kwargs == {
        "genome_ids": [3, 4],
        "success_statuses": ["ANNOTATED"],
        "failure_statuses": ["FAILED"],
        "fabric_conn_id": "lab_fabric",
        "poke_interval": 30.0,
        "deadline": 1700000000.5,
        "exponential_backoff": True,
        "max_poke_interval": 600.0,
    }
    rebuilt = FabricGenomeAnnotationTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_report_trigger_serializes_to_plain_json_exactly():
    trigger = FabricClinicalReportStatusTrigger(report_id=9, target_statuses=["APPROVED"])
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_fabric.triggers.fabric.FabricClinicalReportStatusTrigger"
    assert kwargs == {
        "report_id": 9,
        "target_statuses": ["APPROVED"],
        "failure_statuses": ["FAILED"],
        "fabric_conn_id": "fabric_genomics_default",
        "poke_interval": 60.0,
        "deadline": None,
        "exponential_backoff": False,
        "max_poke_interval": None,
    }
    assert FabricClinicalReportStatusTrigger(**kwargs).serialize() == (classpath, kwargs)


# --------------------------------------------------------------------- runs


def test_genomes_success_after_transitions(fabric_conn, logs):
    script = Script(
        {
            "/genomes/1": [genome(1, "PARSING"), genome(1, "ANNOTATING"), genome(1, "ANNOTATED")],
            "/genomes/2": [genome(2, "ANNOTATED")],
        }
    )
    trigger = FabricGenomeAnnotationTrigger(genome_ids=[1, 2], poke_interval=0)
    events = run_trigger(trigger, script)
    assert events == [
        {
            "status": "success",
            "message": "All 2 genome(s) annotated: 1 (ANNOTATED), 2 (ANNOTATED)",
            "genome_ids": [1, 2],
            "statuses": {"1": "ANNOTATED", "2": "ANNOTATED"},
            "failed": [],
        }
    ]
    assert len([r for r in script.requests if r.url.path == "/genomes/1"]) == 3
    assert all(r.url.query == b"" and r.url.scheme == "https" for r in script.requests)
    assert all(r.headers["Authorization"].startswith("Basic ") for r in script.requests)
    output = logs()
    assert "Genome 1: status PARSING -> ANNOTATING" in output
    assert "Genome 1: status ANNOTATING -> ANNOTATED" in output
    assert SENTINEL not in output


def test_genome_failure_event_names_genome_and_reason(fabric_conn, logs):
    script = Script(
        {
            "/genomes/1": [genome(1, "ANNOTATING")],
            "/genomes/2": [genome(2, "FAILED", "Unsupported reference: GRCh38 contigs")],
        }
    )
    events = run_trigger(FabricGenomeAnnotationTrigger(genome_ids=[1, 2], poke_interval=0), script)
    assert events == [
        {
            "status": "failure",
            "message": "Annotation failed for genome 2 (FAILED): Unsupported reference: GRCh38 contigs",
            "genome_ids": [1, 2],
            "statuses": {"1": "ANNOTATING", "2": "FAILED"},
            "failed": [2],
        }
    ]
    with pytest.raises(FabricStatusError, match="genome 2 .*GRCh38"):
        raise_for_event(events[0])
    output = logs()
    assert SENTINEL not in output


def test_timeout_event_at_the_deadline(fabric_conn):
    script = Script({"/reports/5": [{"id": 5, "status": "PROCESSING"}]})
    trigger = FabricClinicalReportStatusTrigger(report_id=5, poke_interval=0.05, deadline=time.time() + 0.3)
    events = run_trigger(trigger, script)
    assert len(events) == 1
    event = events[0]
    assert event["status"] == "timeout"
    assert event["report_id"] == 5 and event["report_status"] == "PROCESSING"
    assert event["message"].startswith("Timed out waiting for clinical report 5")
    assert "PROCESSING" in event["message"]
    with pytest.raises(FabricTimeoutError, match="Timed out waiting for clinical report 5"):
        raise_for_event(event)


def test_deadline_already_passed_still_looks_once(fabric_conn):
    script = Script({"/reports/5": [{"id": 5, "status": "APPROVED"}]})
    trigger = FabricClinicalReportStatusTrigger(
        report_id=5, target_statuses=["APPROVED"], deadline=time.time() - 10
    )
    events = run_trigger(trigger, script)
    assert events[0]["status"] == "success" and events[0]["report_status"] == "APPROVED"


def test_transient_503_is_retried_then_waited_through(fabric_conn, logs):
    busy = httpx.Response(503, json={"description": "maintenance"})
    # The connection allows 6 tries per look: 7 failures exhaust one look, the next look succeeds.
    script = Script({"/reports/5": [busy] * 7 + [{"id": 5, "status": "READY TO REVIEW"}]})
    events = run_trigger(FabricClinicalReportStatusTrigger(report_id=5, poke_interval=0), script)
    assert events == [
        {
            "status": "success",
            "message": "Clinical report 5 reached status READY TO REVIEW",
            "report_id": 5,
            "report_status": "READY TO REVIEW",
        }
    ]
    assert len(script.requests) == 8
    output = logs()
    assert "Could not read the status" in output
    assert "HTTP 503" in output


def test_401_is_fatal_at_once(fabric_conn):
    script = Script({"/genomes/1": [httpx.Response(401, json={"description": "bad key"})]})
    events = run_trigger(FabricGenomeAnnotationTrigger(genome_ids=[1], poke_interval=0), script)
    assert len(script.requests) == 1
    (event,) = events
    assert event["status"] == "error"
    assert event["error_type"] == "FabricAuthError"
    assert event["http_status"] == 401
    assert event["genome_ids"] == [1]
    assert "fabric_genomics_default" in event["message"]
    assert fabric_conn["password"] not in event["message"]
    with pytest.raises(FabricAuthError) as info:
        raise_for_event(event)
    assert info.value.http_status == 401


def test_deleted_report_ends_the_wait_with_not_found(fabric_conn):
    script = Script({"/reports/5": [httpx.Response(404, json={"description": "no such report"})]})
    (event,) = run_trigger(FabricClinicalReportStatusTrigger(report_id=5, poke_interval=0), script)
    assert event["status"] == "error" and event["error_type"] == "FabricNotFoundError"
    with pytest.raises(FabricNotFoundError, match="no such report"):
        raise_for_event(event)


def test_report_reaches_approved_through_the_lifecycle(fabric_conn, logs):
    script = Script(
        {
            "/reports/5": [
                {"id": 5, "status": "WAITING"},
                {"id": 5, "status": "PROCESSING"},
                {"id": 5, "status": "READY TO REVIEW"},
                {"id": 5, "status": "APPROVED"},
            ]
        }
    )
    trigger = FabricClinicalReportStatusTrigger(report_id=5, target_statuses=["APPROVED"], poke_interval=0)
    (event,) = run_trigger(trigger, script)
    assert event["status"] == "success" and event["report_status"] == "APPROVED"
    output = logs()
    assert "Clinical report 5: status READY TO REVIEW -> APPROVED" in output


def test_unknown_status_is_logged_once_and_waited_on(fabric_conn, logs):
    script = Script({"/reports/5": [{"status": "ARCHIVING"}] * 3 + [{"status": "FAILED"}]})
    (event,) = run_trigger(FabricClinicalReportStatusTrigger(report_id=5, poke_interval=0), script)
    assert event["status"] == "failure"
    assert event["message"] == "Clinical report 5 ended in status FAILED"
    output = logs()
    assert output.count("'ARCHIVING', which is not a known Fabric status") == 1


def test_raise_for_event_needs_an_event():
    with pytest.raises(FabricError, match="without an event"):
        raise_for_event(None)
    success = {"status": "success", "message": "ok"}
    assert raise_for_event(success) is success
