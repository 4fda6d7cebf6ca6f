"""The genome annotation and clinical report sensors, poke mode and deferrable mode."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSkipException,
    PokeReturnValue,
    TaskDeferred,
)
from tisupport import RecordingTI

from airflow_provider_fabric.exceptions import (
    FabricAuthError,
    FabricInputError,
    FabricStatusError,
    FabricTimeoutError,
)
from airflow_provider_fabric.links import GENOME_URL_KEY, REPORT_URL_KEY, FabricGenomeLink, FabricReportLink
from airflow_provider_fabric.sensors.fabric import (
    FabricClinicalReportStatusSensor,
    FabricGenomeAnnotationSensor,
    genome_id_list,
)
from airflow_provider_fabric.triggers.fabric import (
    FabricClinicalReportStatusTrigger,
    FabricGenomeAnnotationTrigger,
)

BASE = "https://fabric.test"
SENTINEL = "PHI-SENTINEL-Doe-Jane"


def context(ti: RecordingTI | None = None) -> dict[str, Any]:
    return {"ti": ti or RecordingTI()}


def genome(gid: int, status: str, description: str | None = None) -> dict[str, Any]:
    return {"id": gid, "genome_label": SENTINEL, "status": status, "status_description": description}


def answers(*bodies: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"json": body, "status_code": 200} for body in bodies]


# --------------------------------------------------------------------- genome IDs


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (12, [12]),
        ("12", [12]),
        (" 12 ", [12]),
        ("12,13", [12, 13]),
        ("[12, 13]", [12, 13]),
        ("(12, 13)", [12, 13]),
        (["12", 13, 12], [12, 13]),
        ([[1, 2], [3]], [1, 2, 3]),
        ([{"genome_id": 4, "genome_label": SENTINEL}, {"id": 5}], [4, 5]),
        ((i for i in (7, 8)), [7, 8]),
    ],
)
def test_genome_ids_in_every_form(given, expected):
    assert genome_id_list(given) == expected


@pytest.mark.parametrize(
    "bad", [None, "", [], "12a", [True], SENTINEL, "[1, oops", [{"genome_label": "x"}], 1.5]
)
def test_bad_genome_ids_are_refused_without_repeating_them(bad):
    with pytest.raises(FabricInputError) as info:
        genome_id_list(bad)
    assert SENTINEL not in str(info.value) and "oops" not in str(info.value)


# --------------------------------------------------------------------- poke mode


def test_poke_waits_for_every_genome_and_returns_their_ids(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/genomes/1", answers(genome(1, "ANNOTATING"), genome(1, "ANNOTATED")))
    requests_mock.get(f"{BASE}/genomes/2", answers(genome(2, "ANNOTATED")))
    sensor = FabricGenomeAnnotationSensor(
        task_id="wait", genome_ids=[1, 2], deferrable=False, poke_interval=0
    )
    assert sensor.execute(context()) == [1, 2]
    assert requests_mock.call_count == 4
    assert all("X-fg-safe-params" not in r.headers and r.query == "" for r in requests_mock.request_history)


def test_poke_returns_a_poke_return_value(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/reports/5", json={"id": 5, "status": "APPROVED"})
    sensor = FabricClinicalReportStatusSensor(task_id="wait", report_id="5", target_statuses=["APPROVED"])
    sensor._prepare(context())
    value = sensor.poke(context())
    assert isinstance(value, PokeReturnValue) and value.is_done and value.xcom_value == "APPROVED"


def test_poke_fails_at_once_with_the_genome_and_reason(fabric_conn, requests_mock, caplog):
    requests_mock.get(f"{BASE}/genomes/1", json=genome(1, "ANNOTATING"))
    requests_mock.get(f"{BASE}/genomes/2", json=genome(2, "FAILED", "Truncated gzip stream"))
    sensor = FabricGenomeAnnotationSensor(task_id="wait", genome_ids="1,2", deferrable=False, poke_interval=0)
    with pytest.raises(FabricStatusError) as info:
        sensor.execute(context())
    assert str(info.value) == "Annotation failed for genome 2 (FAILED): Truncated gzip stream"
    assert isinstance(info.value, AirflowFailException)  # no Airflow retry: a failed annotation stays failed
    assert SENTINEL not in caplog.text


def test_report_sensor_returns_final_status_and_pushes_url_before_waiting(fabric_conn, requests_mock):
    requests_mock.get(
        f"{BASE}/reports/5",
        answers({"id": 5, "status": "PROCESSING"}, {"id": 5, "status": "READY TO REVIEW"}),
    )
    ti = RecordingTI()
    sensor = FabricClinicalReportStatusSensor(task_id="wait", report_id=5, deferrable=False, poke_interval=0)
    assert sensor.execute(context(ti)) == "READY TO REVIEW"
    assert ti.pushed == {REPORT_URL_KEY: "https://ui.fabric.test/reports/5"}


def test_poke_mode_times_out_with_a_clear_typed_error(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/reports/5", json={"id": 5, "status": "WAITING"})
    sensor = FabricClinicalReportStatusSensor(task_id="wait", report_id=5, deferrable=False, timeout=0)
    with pytest.raises(FabricTimeoutError, match="Timed out waiting for clinical report 5.*WAITING"):
        sensor.execute(context())
    soft = FabricClinicalReportStatusSensor(
        task_id="soft", report_id=5, deferrable=False, timeout=0, soft_fail=True
    )
    with pytest.raises(AirflowSkipException) as skipped:
        soft.execute(context())
    # Airflow words the skip itself; the reason travels as the cause.
    assert isinstance(skipped.value.__cause__, FabricTimeoutError)
    assert "Timed out waiting for clinical report 5" in str(skipped.value.__cause__)


def test_poke_mode_honours_execution_timeout_as_the_deadline(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/reports/5", json={"id": 5, "status": "WAITING"})
    sensor = FabricClinicalReportStatusSensor(
        task_id="wait", report_id=5, deferrable=False, execution_timeout=timedelta(minutes=5)
    )
    started_long_ago = RecordingTI(start_date=datetime.now(UTC) - timedelta(minutes=6))
    with pytest.raises(FabricTimeoutError):
        sensor.execute(context(started_long_ago))


def test_transient_server_errors_do_not_fail_a_poke(fabric_conn, requests_mock, caplog):
    requests_mock.get(
        f"{BASE}/reports/5", [{"status_code": 503}] * 6 + answers({"status": "READY TO REVIEW"})
    )
    sensor = FabricClinicalReportStatusSensor(task_id="wait", report_id=5, deferrable=False, poke_interval=0)
    assert sensor.execute(context()) == "READY TO REVIEW"
    assert requests_mock.call_count == 7


def test_auth_errors_fail_a_poke_at_once(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/reports/5", status_code=401)
    sensor = FabricClinicalReportStatusSensor(task_id="wait", report_id=5, deferrable=False, poke_interval=0)
    with pytest.raises(FabricAuthError):
        sensor.execute(context())
    assert requests_mock.call_count == 1


# --------------------------------------------------------------------- deferrable mode


def test_defers_with_the_right_trigger_after_one_poke(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/genomes/3", json=genome(3, "ANNOTATING"))
    requests_mock.get(f"{BASE}/genomes/4", json=genome(4, "PARSING"))
    sensor = FabricGenomeAnnotationSensor(
        task_id="wait",
        genome_ids=["3", 4],
        fabric_conn_id="fabric_genomics_default",
        deferrable=True,
        poke_interval=30,
        exponential_backoff=True,
        max_wait=600,
        timeout=3600,
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context())
    deferred = info.value
    assert deferred.method_name == "execute_complete"
    assert isinstance(deferred.trigger, FabricGenomeAnnotationTrigger)
    classpath, kwargs = deferred.trigger.serialize()
    assert classpath == "airflow_provider_fabric.triggers.fabric.FabricGenomeAnnotationTrigger"
    deadline = kwargs.pop("deadline")
    assert kwargs == {
        "genome_ids": [3, 4],
        "success_statuses": ["ANNOTATED"],
        "failure_statuses": ["FAILED"],
        "fabric_conn_id": "fabric_genomics_default",
        "poke_interval": 30.0,
        "exponential_backoff": True,
        "max_poke_interval": 600.0,
    }
    assert before + 3600 <= deadline <= time.time() + 3600
    assert "s3cr3t" not in repr(deferred.trigger.serialize())
    assert requests_mock.call_count == 2  # one look before deferring


def test_deadline_is_the_sooner_of_timeout_and_execution_timeout(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/reports/5", json={"id": 5, "status": "WAITING"})
    sensor = FabricClinicalReportStatusSensor(
        task_id="wait",
        report_id=5,
        target_statuses=["APPROVED"],
        deferrable=True,
        timeout=7 * 24 * 3600,
        execution_timeout=timedelta(hours=2),
    )
    ti = RecordingTI(start_date=datetime.now(UTC) - timedelta(minutes=30))
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context(ti))
    trigger = info.value.trigger
    assert isinstance(trigger, FabricClinicalReportStatusTrigger)
    assert trigger.report_id == 5 and trigger.target_statuses == ["APPROVED"]
    assert trigger.deadline == pytest.approx(ti.start_date.timestamp() + 7200, abs=1)
    assert ti.pushed == {REPORT_URL_KEY: "https://ui.fabric.test/reports/5"}
    assert info.value.timeout is not None and info.value.timeout > timedelta(minutes=90)


def test_no_deferral_when_already_done(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/genomes/3", json=genome(3, "ANNOTATED"))
    ti = RecordingTI()
    sensor = FabricGenomeAnnotationSensor(task_id="wait", genome_ids=3, deferrable=True)
    assert sensor.execute(context(ti)) == [3]
    assert ti.pushed == {GENOME_URL_KEY: "https://ui.fabric.test/genomes/3"}


def test_failure_before_deferring_raises_at_once(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/reports/5", json={"id": 5, "status": "FAILED"})
    sensor = FabricClinicalReportStatusSensor(task_id="wait", report_id=5, deferrable=True)
    with pytest.raises(FabricStatusError, match="Clinical report 5 ended in status FAILED"):
        sensor.execute(context())


def test_deferrable_default_comes_from_airflow_config(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert FabricClinicalReportStatusSensor(task_id="a", report_id=1).deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert FabricClinicalReportStatusSensor(task_id="b", report_id=1).deferrable is False


@pytest.mark.parametrize(
    ("event", "error", "match"),
    [
        (
            {"status": "failure", "message": "Annotation failed for genome 2 (FAILED): x"},
            FabricStatusError,
            "genome 2",
        ),
        ({"status": "timeout", "message": "Timed out waiting for genome 2"}, FabricTimeoutError, "Timed out"),
        (
            {"status": "error", "message": "bad key", "error_type": "FabricAuthError", "http_status": 401},
            FabricAuthError,
            "bad key",
        ),
    ],
)
def test_execute_complete_turns_events_into_typed_errors(event, error, match):
    sensor = FabricGenomeAnnotationSensor(task_id="wait", genome_ids=2)
    with pytest.raises(error, match=match):
        sensor.execute_complete(context(), event)


def test_execute_complete_returns_the_result():
    genomes = FabricGenomeAnnotationSensor(task_id="g", genome_ids=[1, 2])
    event = {"status": "success", "message": "ok", "genome_ids": [1, 2], "statuses": {}, "failed": []}
    assert genomes.execute_complete(context(), event) == [1, 2]
    report = FabricClinicalReportStatusSensor(task_id="r", report_id=5)
    event = {"status": "success", "message": "ok", "report_id": 5, "report_status": "APPROVED"}
    assert report.execute_complete(context(), event) == "APPROVED"


# --------------------------------------------------------------------- both modes agree


SCENARIOS = [
    {"1": "ANNOTATED", "2": "ANNOTATED"},
    {"1": "ANNOTATED", "2": "FAILED"},
    {"1": "ANNOTATING", "2": "FAILED"},
    {"1": "SOMETHING_NEW", "2": "ANNOTATED"},
    {"1": "UPLOADED", "2": "PARSING"},
]


@pytest.mark.parametrize("statuses", SCENARIOS)
def test_poke_and_trigger_reach_the_same_answer(fabric_conn, requests_mock, statuses):
    bodies = {int(g): genome(int(g), s, f"reason {g}") for g, s in statuses.items()}
    for gid, body in bodies.items():
        requests_mock.get(f"{BASE}/genomes/{gid}", json=body)

    sensor = FabricGenomeAnnotationSensor(task_id="wait", genome_ids=[1, 2])
    sensor._prepare(context())
    try:
        poked: Any = sensor.poke(context())
        poke_answer: Any = ("done", poked.xcom_value) if poked else ("waiting", None)
    except FabricStatusError as err:
        poke_answer = ("failed", str(err))

    from airflow_provider_fabric.hooks.fabric_async import FabricAsyncHook

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=bodies[int(request.url.path.rsplit("/", 1)[1])])

    trigger = FabricGenomeAnnotationTrigger(genome_ids=[1, 2], poke_interval=0, deadline=time.time() - 1)
    trigger._make_hook = lambda: FabricAsyncHook(transport=httpx.MockTransport(handler))

    async def first_event():
        return await anext(trigger.run())

    event = asyncio.run(first_event()).payload
    if event["status"] == "success":
        trigger_answer: Any = ("done", sensor.execute_complete(context(), event))
    elif event["status"] == "timeout":  # a deadline already past: what a waiting look ends in
        trigger_answer = ("waiting", None)
    else:
        with pytest.raises(FabricStatusError) as info:
            sensor.execute_complete(context(), event)
        trigger_answer = ("failed", str(info.value))
    assert poke_answer == trigger_answer


# --------------------------------------------------------------------- links and imports


def test_links():
    assert [
        type(x) for x in FabricClinicalReportStatusSensor(task_id="r", report_id=1).operator_extra_links
    ] == [FabricReportLink]
    single = FabricGenomeAnnotationSensor(task_id="g", genome_ids=1)
    assert [type(x) for x in single.operator_extra_links] == [FabricGenomeLink]
    several = FabricGenomeAnnotationSensor(task_id="m", genome_ids=[1, 2])
    assert list(several.operator_extra_links) == []
    assert FabricGenomeAnnotationSensor.template_fields == ("genome_ids",)
    assert FabricClinicalReportStatusSensor.template_fields == ("report_id",)


def test_sensors_fed_by_mapped_uploads_have_no_genome_link():
    """The trio's case: ``genome_ids=upload_genomes.output`` resolves to a list, so no single-genome link."""
    import pendulum
    from airflow.sdk import DAG, task, task_group

    from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator

    with DAG("links", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
        uploads = FabricUploadGenomeOperator.partial(task_id="uploads", project_id=1).expand_kwargs(
            [{"vcf_path": "a.vcf", "genome_label": "A", "genome_sex": "male"}]
        )
        from_mapped = FabricGenomeAnnotationSensor(task_id="from_mapped", genome_ids=uploads.output)

        @task
        def one_id() -> int:
            return 1

        from_task = FabricGenomeAnnotationSensor(task_id="from_task", genome_ids=one_id())

        @task_group(group_id="sample")
        def sample(n: int) -> None:
            upload = FabricUploadGenomeOperator(
                task_id="upload", project_id=1, vcf_path=f"{n}.vcf", genome_label="A", genome_sex="male"
            )
            FabricGenomeAnnotationSensor(task_id="same_group", genome_ids=upload.output)

        sample.expand(n=[1, 2])
        in_group = next(t for t in uploads.dag.tasks if t.task_id == "sample.upload")
        from_group = FabricGenomeAnnotationSensor(task_id="from_group", genome_ids=in_group.output)
        same_group = next(t for t in uploads.dag.tasks if t.task_id == "sample.same_group")

    assert list(from_mapped.operator_extra_links) == []
    assert list(from_group.operator_extra_links) == []  # every sample's genome, outside their group
    assert [type(x) for x in from_task.operator_extra_links] == [FabricGenomeLink]
    assert [type(x) for x in same_group.operator_extra_links] == [FabricGenomeLink]  # this sample's one


def test_mapped_upload_results_are_read_in_one_slice():
    """Airflow's lazy sequence of mapped results reads one item past its end when iterated (and logs
    an "XCom not found" error for it): the sensor reads it as one slice instead."""
    from collections.abc import Sequence

    class LazyResults(Sequence):
        def __init__(self, items: list[int]) -> None:
            self.items = items

        def __len__(self) -> int:
            return len(self.items)

        def __getitem__(self, key: Any) -> Any:
            if isinstance(key, slice):
                return self.items[key]
            raise AssertionError("read item by item")

        def __iter__(self) -> Any:
            raise AssertionError("iterated")

    assert genome_id_list(LazyResults([4, 5, 4])) == [4, 5]


def test_links_of_a_running_task_never_look_up_a_missing_xcom(fabric_conn, requests_mock, monkeypatch):
    """Airflow 3 resolves links in the task's own process as it ends: what the task pushed, else
    an empty link; never a lookup of an XCom that is not there (Airflow logs those as errors)."""
    import airflow_provider_fabric.links as links

    def no_lookup(**kwargs: Any) -> None:
        raise AssertionError(f"looked up {kwargs}")

    monkeypatch.setattr(links.XCom, "get_value", no_lookup)
    requests_mock.get(f"{BASE}/genomes/1", json=genome(1, "ANNOTATED"))
    requests_mock.get(f"{BASE}/genomes/2", json=genome(2, "ANNOTATED"))
    several = FabricGenomeAnnotationSensor(task_id="g", genome_ids="{{ params.ids }}", deferrable=True)
    links.start_link_urls(several)  # as rendering its templates does, in the task's process
    several.genome_ids = "[1, 2]"  # as rendered: several genomes, no single one to open
    ti = RecordingTI()
    several.execute(context(ti))
    assert ti.pushed == {} and FabricGenomeLink().get_link(several, ti_key=None) == ""
    failing = FabricClinicalReportStatusSensor(task_id="r", report_id="not an id")
    links.start_link_urls(failing)
    with pytest.raises(FabricInputError):
        failing.execute(context())
    assert FabricReportLink().get_link(failing, ti_key=None) == ""


def test_a_resumed_sensor_keeps_its_link(fabric_conn, monkeypatch):
    """After a deferral the sensor runs again in a new process: its link still opens its object,
    also when the wait failed (that is when a reviewer most needs it)."""
    import airflow_provider_fabric.links as links

    report = FabricClinicalReportStatusSensor(task_id="r", report_id=5)
    links.start_link_urls(report)  # the resumed process renders its templates again
    with pytest.raises(FabricStatusError):
        report.execute_complete(context(), {"status": "failure", "message": "FAILED", "report_id": 5})
    assert FabricReportLink().get_link(report, ti_key=None) == "https://ui.fabric.test/reports/5"
    genome_sensor = FabricGenomeAnnotationSensor(task_id="g", genome_ids=7)
    links.start_link_urls(genome_sensor)
    event = {"status": "success", "message": "ok", "genome_ids": [7], "statuses": {}, "failed": []}
    assert genome_sensor.execute_complete(context(), event) == [7]
    assert FabricGenomeLink().get_link(genome_sensor, ti_key=None) == "https://ui.fabric.test/genomes/7"


def test_several_genomes_push_no_single_genome_url(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/genomes/1", json=genome(1, "ANNOTATED"))
    requests_mock.get(f"{BASE}/genomes/2", json=genome(2, "ANNOTATED"))
    ti = RecordingTI()
    FabricGenomeAnnotationSensor(task_id="g", genome_ids=[1, 2], deferrable=True).execute(context(ti))
    assert ti.pushed == {}


def test_sensor_module_is_cheap_to_import():
    import subprocess

    code = (
        "import sys, airflow_provider_fabric.sensors.fabric\n"
        "heavy = ('requests', 'airflow_provider_fabric.hooks.fabric',"
        " 'airflow_provider_fabric.hooks.fabric_async', 'airflow_provider_fabric.sandbox')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
