"""What a lab relies on when the provider runs distributed: checked on the deployment after the scenario.

Runs on Celery workers, a PostgreSQL metadata DB and S3 between tasks (see ``conftest.py`` and
``scenario.py``). Assertions read server-side state: Airflow's REST API, the sandbox's objects and
request log, the S3 bucket; never an operator's own log or a timing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest
from deployment import UI_URL, WORKERS, Deployment
from scenario import INTAKE, PANEL, SIGNOUT, TRIO, Scenario

pytestmark = pytest.mark.timeout(1500)

E2E = tuple[Deployment, Scenario]


def outcome(record: dict[str, Any], dag_id: str, index: int = 0) -> dict[str, Any]:
    return record["outcomes"][record["runs"][dag_id][index]]


def ran(o: dict[str, Any]) -> list[dict[str, Any]]:
    """The tasks of a run that ran (an intake run with nothing new skips its empty mapped groups)."""
    return [t for t in o["tasks"] if t["state"] != "skipped"]


def test_every_run_succeeds(record: dict[str, Any]) -> None:
    runs = {run_id: o for run_id, o in record["outcomes"].items()}
    intake = len(record["runs"][INTAKE])  # two, or three if the scenario crossed the top of an hour
    assert sorted(o["dag_id"] for o in runs.values()) == sorted([PANEL, TRIO, SIGNOUT] + [INTAKE] * intake)
    assert intake >= 2
    failed = {run_id: o["state"] for run_id, o in runs.items() if o["state"] != "success"}
    assert not failed, failed
    for run_id, o in runs.items():
        # Only a mapped group over nothing (no new sample, no new case) may be skipped, as one placeholder.
        skipped = [t for t in o["tasks"] if t["state"] == "skipped"]
        assert all(t["map_index"] == -1 and t["task_id"].split(".")[0] in ("sample", "case") for t in skipped)
        bad = [(t["task_id"], t["map_index"], t["state"]) for t in ran(o) if t["state"] != "success"]
        assert not bad, (run_id, bad)
    # ... each at its first try (a deferral is no new try), but for the upload killed on purpose.
    retried = [
        (o["dag_id"], t["task_id"], t["map_index"], t["try_number"])
        for o in runs.values()
        for t in ran(o)
        if t["try_number"] != 1
    ]
    assert retried == [(PANEL, "upload_genome", -1, 2)]
    # The first intake run is the scheduler's own (scheduled); the next was triggered through the API.
    intake_types = [outcome(record, INTAKE, i)["run_type"] for i in range(intake)]
    assert intake_types[0] == "scheduled" and "manual" in intake_types[1:]


def test_tasks_ran_on_both_workers(record: dict[str, Any]) -> None:
    trio_uploads = {
        t["map_index"]: t["worker"]
        for t in outcome(record, TRIO)["tasks"]
        if t["task_id"] == "upload_genomes"
    }
    assert sorted(trio_uploads) == [0, 1, 2]
    assert set(trio_uploads.values()) == set(WORKERS), trio_uploads
    everywhere = Counter(t["worker"] for o in record["outcomes"].values() for t in ran(o))
    assert set(everywhere) == set(WORKERS), everywhere


def test_a_killed_upload_is_retried_and_leaves_one_genome(e2e: E2E, record: dict[str, Any]) -> None:
    deploy, scenario = e2e
    kill = record["kill"]
    assert kill["pids_killed"] >= 3  # the worker, its pool process, the task's supervisor and process
    tries = scenario.tries(PANEL, kill["run_id"], "upload_genome")
    first, last = tries[0], tries[-1]
    assert (first["try_number"], first["hostname"], first["state"]) == (
        kill["try_number"],
        kill["worker"],
        "failed",
    )
    assert last["state"] == "success" and last["try_number"] > first["try_number"]
    record["kill"]["retried_on"] = last["hostname"]
    genomes = [g for g in scenario.sandbox.state()["genomes"] if g["external_id"] == "LAB-SAMPLE-0001"]
    assert len(genomes) == 1, genomes
    # The killed try's request reached the sandbox and ended without a genome (its client had gone);
    # every upload of the scenario got its answer: panel 2 tries, trio 3, intake 4 + 4, sign-out 1.
    assert kill["held_requests_released"] == 1 and kill["genomes_after_the_killed_try"] == 0
    assert record["uploads_answered"] == 2 + 3 + 8 + 1


def test_one_genome_per_sample_and_one_report_per_accession(e2e: E2E) -> None:
    state = e2e[1].sandbox.state()
    samples = Counter((g["project_id"], g["external_id"]) for g in state["genomes"])
    assert len(samples) == 1 + 3 + 8 + 1  # panel, trio, two intake runs of four, the sign-out genome
    assert all(count == 1 for count in samples.values()), samples
    accessions = Counter(r["accession_id"] for r in state["reports"])
    assert len(accessions) == 1 + 1 + 4 + 12, accessions
    assert all(count == 1 for count in accessions.values()), accessions


def test_intake_runs_take_in_each_sample_once(e2e: E2E, record: dict[str, Any]) -> None:
    """The first run takes in run-0001; a later run takes in run-0002 once it lands; no sample twice."""
    deploy, _ = e2e
    summaries = [_xcom(deploy, INTAKE, run_id, "summary") for run_id in record["runs"][INTAKE]]
    taken: list[str] = []
    for summary in summaries:
        assert set(summary["samples"]["skipped"]) == set(taken)  # whatever an earlier run took in
        taken += summary["samples"]["processed"]
    first = summaries[0]["samples"]["processed"]
    assert {key.split(":")[0] for key in first} == {"run-0001"} and len(first) == 4
    assert sorted(taken) == sorted(set(taken)) and len(taken) == 8  # run-0002's four, once
    assert sum(len(summary["cases"]["processed"]) for summary in summaries) == 4


def test_every_export_is_complete_and_equal_to_a_fresh_fetch(e2e: E2E) -> None:
    from airflow_provider_fabric.hooks.fabric import FabricHook

    deploy, scenario = e2e
    hook = FabricHook()
    reports = {r["id"]: r for r in scenario.sandbox.state()["reports"]}
    by_accession = {r["accession_id"]: r["id"] for r in reports.values()}
    keys = _keys(scenario.s3, "lab-fabric-exports")
    checked = Counter()
    for key in keys:
        folder, name = key.rsplit("/", 1)
        found = re.search(r"report-(\d+)$", folder)
        report_id = int(found.group(1)) if found else by_accession[folder.rsplit("/", 1)[-1]]
        stored = scenario.s3.get_object(Bucket="lab-fabric-exports", Key=key)["Body"].read()
        if name in ("variants.vcf", "variants.csv"):
            with hook.get_variants(report_id, format=name.rsplit(".", 1)[1].upper()) as answer:
                assert stored == answer.content, key
        elif name == "report.json":
            assert json.loads(stored) == hook.get_json(f"/reports/{report_id}", {"extended": True}), key
        elif name == "report.pdf" or (
            name == "report-preview.pdf" and reports[report_id]["status"] != "APPROVED"
        ):
            with hook.get_report_pdf(report_id, preview=name == "report-preview.pdf") as answer:
                assert stored == answer.content, key
        else:  # the panel's preview: Fabric serves no preview once a report is approved
            assert (
                name == "report-preview.pdf"
                and stored.startswith(b"%PDF-")
                and stored.rstrip().endswith(b"%%EOF")
            )
        checked[name] += 1
    # panel 5 files, trio 3, intake 3 per case for 4 cases, sign-out 1 PDF per report
    assert checked == {
        "variants.vcf": 6,
        "variants.csv": 2,
        "report-preview.pdf": 6,
        "report.json": 5,
        "report.pdf": 13,
    }


def test_no_temporary_object_is_left_in_any_bucket(e2e: E2E) -> None:
    s3 = e2e[1].s3
    hidden = [
        key
        for bucket in ("lab-sequencing", "lab-lims", "lab-fabric-exports")
        for key in _keys(s3, bucket)
        if any(part.startswith(".") for part in key.split("/"))
    ]
    assert hidden == []


def test_sensors_survive_a_triggerer_restart_without_bursts(e2e: E2E, record: dict[str, Any]) -> None:
    _, scenario = e2e
    restart = record["triggerer"]
    reports = restart["reports"]
    waiting = restart["deferred_while_stopped"]
    assert waiting["wait_for_signout"] == len(reports) >= 10 and waiting["sample.wait_for_annotation"] == 4
    assert restart["health_while_stopped"] == "unhealthy" and restart["new_pid"] != restart["old_pid"]
    signout = outcome(record, SIGNOUT)
    sensors = [t for t in signout["tasks"] if t["task_id"] == "wait_for_signout"]
    assert len(sensors) == len(reports) and all(t["state"] == "success" for t in sensors)
    gets = scenario.report_gets(reports)
    # Nobody looked at a report while the triggerer was down: the sensors held no worker slot.
    assert [
        t for times in gets.values() for t in times if restart["stopped_at"] < t < restart["restarted_at"]
    ] == []
    # No burst: each trigger looks at its report at most once per interval. The sensor's own look and
    # the trigger's first look (half to one interval later, on each start) are the closest pair.
    floor = restart["poke_interval"] / 2
    gaps = {rid: min(b - a for a, b in zip(times, times[1:], strict=False)) for rid, times in gets.items()}
    assert all(len(times) >= 3 for times in gets.values()), gets
    assert all(gap >= floor for gap in gaps.values()), gaps
    record["triggerer"]["smallest_gap_s"] = round(min(gaps.values()), 3)


def test_links_point_at_fabric_and_no_task_has_an_empty_one(e2e: E2E, record: dict[str, Any]) -> None:
    deploy, scenario = e2e
    state = scenario.sandbox.state()
    empty, shown = [], Counter()
    for run_id, o in record["outcomes"].items():
        for t in ran(o):  # a task that never ran has no link yet (Airflow shows null for it)
            params = {"map_index": t["map_index"]}
            links = deploy.api(
                "GET",
                f"/dags/{o['dag_id']}/dagRuns/{run_id}/taskInstances/{t['task_id']}/links",
                params=params,
            )
            for name, url in links["extra_links"].items():
                if not url:
                    empty.append((o["dag_id"], t["task_id"], t["map_index"], name))
                else:
                    assert re.fullmatch(rf"{UI_URL}/(genomes|reports)/\d+", url), url
                    shown[name] += 1
    assert empty == []
    assert shown["Fabric report"] > 0 and shown["Fabric genome"] > 0
    trio = record["runs"][TRIO][0]
    links = deploy.api("GET", f"/dags/{TRIO}/dagRuns/{trio}/taskInstances/wait_for_annotation/links")
    assert links["extra_links"] == {}  # several genomes: no single-genome link, so no heading either
    panel = record["runs"][PANEL][0]
    report = [r for r in state["reports"] if r["accession_id"] == "ACC-0001"][0]
    links = deploy.api("GET", f"/dags/{PANEL}/dagRuns/{panel}/taskInstances/wait_for_review/links")
    assert links["extra_links"] == {"Fabric report": f"{UI_URL}/reports/{report['id']}"}


def test_no_component_or_task_logged_a_missing_xcom(e2e: E2E) -> None:
    """Every process's log and every task's log (the workers write them under AIRFLOW_HOME/logs)."""
    deploy, _ = e2e
    logs = [*deploy.logs.glob("*.log"), *(deploy.run_dir / "airflow-home" / "logs").rglob("*.log*")]
    assert len(logs) > 100
    found = [
        f"{path.name}: {line[:300]}"
        for path in logs
        for line in path.read_text(errors="replace").splitlines()
        if "XCom not found" in line
    ]
    assert found == []


def _xcom(deploy: Deployment, dag_id: str, run_id: str, task_id: str) -> Any:
    entry = deploy.api(
        "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    )
    value = entry["value"]
    return json.loads(value) if isinstance(value, str) else value


def _keys(s3: Any, bucket: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return sorted(keys)
