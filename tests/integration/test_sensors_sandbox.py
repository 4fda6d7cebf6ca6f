"""The sensors end to end with ``dag.test()`` against the real sandbox, in poke and deferrable mode.

``dag.test()`` in Airflow 3.3 first syncs the DAG bundles to the metadata DB, so
the DAGs must live in a configured bundle: the ``sensor_dags`` fixture writes
them to a temporary folder and points a bundle of its own at it (through
``[dag_processor] dag_bundle_config_list``, which is read afresh on every
``dag.test()``). Deferred tasks run their trigger in-process, inline.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SENTINEL = "PHI-SENTINEL-Doe-Jane"
MODES = ("poke", "deferrable")
UI_URL = "https://enterprise.fabric.test"

DAG_SOURCE = """
from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_fabric.sensors.fabric import (
    FabricClinicalReportStatusSensor,
    FabricGenomeAnnotationSensor,
)

FAST = {"poke_interval": 0.2, "timeout": 60, "retries": 0}

for mode in ("poke", "deferrable"):
    deferrable = mode == "deferrable"
    with DAG(f"fabric_sensors_{mode}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        genome = FabricGenomeAnnotationSensor(
            task_id="wait_genome",
            genome_ids="{{ dag_run.conf['genome_ids'] }}",
            deferrable=deferrable,
            **FAST,
        )
        ready = FabricClinicalReportStatusSensor(
            task_id="wait_ready", report_id="{{ dag_run.conf['report_id'] }}", deferrable=deferrable, **FAST
        )
        approved = FabricClinicalReportStatusSensor(
            task_id="wait_approved",
            report_id="{{ dag_run.conf['report_id'] }}",
            target_statuses=["APPROVED"],
            deferrable=deferrable,
            **FAST,
        )
        genome >> ready >> approved
    globals()[dag.dag_id] = dag

    with DAG(
        f"fabric_sensor_timeout_{mode}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
    ) as dag:
        FabricClinicalReportStatusSensor(
            task_id="wait_approved",
            report_id="{{ dag_run.conf['report_id'] }}",
            target_statuses=["APPROVED"],
            deferrable=deferrable,
            poke_interval=0.2,
            timeout=1.5,
            retries=0,
        )
    globals()[dag.dag_id] = dag
"""


@pytest.fixture(scope="session")
def sensor_dags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DAG folder holding the sensor DAGs (both modes, and a timeout DAG)."""
    folder = tmp_path_factory.mktemp("sensor-dags")
    (folder / "fabric_sensor_dags.py").write_text(DAG_SOURCE)
    return folder


@pytest.fixture
def run_dag(
    airflow_db: str, sensor_dags: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """``run_dag(dag_id, conf)``: parse the sensor DAGs and run one with ``dag.test()``."""
    bundle = {
        "name": "fabric-sensor-tests",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(sensor_dags), "refresh_interval": 0},
    }
    # Beside the default bundle (the example DAGs), not instead of it: replacing it would
    # deactivate the examples' bundle in the metadata DB for the tests that run after these.
    default = {"name": "dags-folder", "classpath": bundle["classpath"], "kwargs": {}}
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([default, bundle]))
    conn = json.loads(sandbox.conn_json())
    conn["extra"]["ui_url"] = UI_URL
    monkeypatch.setenv("AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT", json.dumps(conn))

    def run(dag_id: str, conf: dict[str, Any]) -> Any:
        from airflow_provider_fabric.testing.dagbag import dag_bag

        bag = dag_bag(sensor_dags)
        assert not bag.import_errors, bag.import_errors
        dag = bag.get_dag(dag_id)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Starlette.*", category=UserWarning)
            return dag.test(run_conf=conf)

    yield run


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def xcom(run: Any, task_id: str, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key=key)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


def upload(api: Any, project: dict[str, Any], make_vcf: Any, name: str, **vcf: Any) -> int:
    answer = api.upload(project["id"], make_vcf(name, 40, **vcf), genome_label=SENTINEL, external_id=SENTINEL)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["genome_id"])


def panel_report(api: Any, genome_id: int) -> int:
    body = {"report_type": "panel", "proband_genome_id": genome_id, "panel_id": 101, "accession_id": SENTINEL}
    return int(api.ok("POST", "/reports/", data=json.dumps(body))["clinical_report"]["id"])


def approve_after_looks(sandbox: Any, report_id: int, looks: int = 3) -> threading.Thread:
    """Approve the report once it is READY TO REVIEW and was then read ``looks`` more times.

    So the APPROVED wait is a real wait: it looked (and, deferred, polled) before approval.
    """
    path = f"/reports/{report_id}"

    def gets() -> int:
        return sum(1 for r in sandbox.requests_seen() if r["method"] == "GET" and r["url"] == path)

    def status() -> str:
        reports = sandbox.state().get("reports", [])
        return next((str(r.get("status")) for r in reports if r.get("id") == report_id), "")

    def work() -> None:
        try:
            approve()
        except Exception as err:  # the test then fails on the sensor's state; say why here
            print(f"approver stopped: {err!r}")

    def approve() -> None:
        give_up = time.monotonic() + 120
        while status() != "READY TO REVIEW" and time.monotonic() < give_up:
            time.sleep(0.1)
        seen = gets()
        while gets() < seen + looks and time.monotonic() < give_up:
            time.sleep(0.1)
        sandbox.admin(
            "PATCH",
            f"/reports/{report_id}/update_status/",
            [{"op": "replace", "path": "/status", "value": "APPROVED"}],
        )

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("mode", MODES)
def test_annotation_then_ready_then_approved(mode, run_dag, sandbox, api, project, make_vcf, capfd):
    genome_id = upload(api, project, make_vcf, f"ok-{mode}.vcf")
    report_id = panel_report(api, genome_id)
    approver = approve_after_looks(sandbox, report_id)
    run = run_dag(f"fabric_sensors_{mode}", {"genome_ids": [genome_id], "report_id": report_id})
    approver.join(5)
    assert states(run) == {"wait_genome": "success", "wait_ready": "success", "wait_approved": "success"}
    assert xcom(run, "wait_genome") == [genome_id]
    assert xcom(run, "wait_ready") == "READY TO REVIEW"
    assert xcom(run, "wait_approved") == "APPROVED"
    # The URLs behind the extra links, pushed before waiting and resolved by Airflow at task end.
    assert xcom(run, "wait_genome", "fabric_genome_url") == f"{UI_URL}/genomes/{genome_id}"
    assert xcom(run, "wait_approved", "fabric_report_url") == f"{UI_URL}/reports/{report_id}"
    output = capfd.readouterr()
    text = output.out + output.err
    assert f"Clinical report {report_id}: status READY TO REVIEW -> APPROVED" in text
    if mode == "deferrable":
        assert "Deferring the wait for clinical report" in text
    assert SENTINEL not in text


@pytest.mark.parametrize("mode", MODES)
def test_annotation_failure_fails_the_task_with_the_reason(
    mode, run_dag, sandbox, api, project, make_vcf, capfd
):
    good = upload(api, project, make_vcf, f"good-{mode}.vcf")
    bad = upload(api, project, make_vcf, f"bad-{mode}.vcf", source="FABRIC_SANDBOX_FAIL_ANNOTATION")
    run = run_dag(f"fabric_sensors_{mode}", {"genome_ids": [good, bad], "report_id": 1})
    assert states(run)["wait_genome"] == "failed"
    assert states(run)["wait_ready"] == "upstream_failed"
    output = capfd.readouterr()
    text = output.out + output.err
    assert f"Annotation failed for genome {bad} (FAILED): Annotation failed" in text
    assert SENTINEL not in text


@pytest.mark.parametrize("mode", MODES)
def test_wait_ends_with_a_timeout(mode, run_dag, sandbox, api, project, make_vcf, wait, capfd):
    genome_id = upload(api, project, make_vcf, f"slow-{mode}.vcf")
    report_id = panel_report(api, genome_id)
    wait(lambda: api.ok("GET", f"/reports/{report_id}")["status"], lambda s: s == "READY TO REVIEW")
    run = run_dag(f"fabric_sensor_timeout_{mode}", {"report_id": report_id})
    assert states(run) == {"wait_approved": "failed"}
    output = capfd.readouterr()
    text = output.out + output.err
    assert f"Timed out waiting for clinical report {report_id}" in text
    assert "READY TO REVIEW" in text
