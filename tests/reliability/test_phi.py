"""PHI never leaks: sentinels in every PHI input, every example DAG run, every place PHI must not reach.

Sentinels go into genome labels, external IDs, accession IDs, patient fields and VCF sample
names. After the panel, trio and confirmation example DAGs have run end to end against the
sandbox, none may appear in a GET URL the server saw, in a task log or the run's output, in an
XCom other than the trio DAG's ``read_manifest`` (documented to hold the manifest rows), or in
the message of a typed error raised on bad input.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from relsupport import failed_tasks, load_example, log_text, one, run_dag

PREFIX = "PHISENTINEL"
# XComs documented to hold PHI: the trio DAG's manifest rows feed the mapped uploads (labels, external IDs).
PHI_XCOMS = {("example_fabric_trio", "read_manifest")}


def s(what: str) -> str:
    return f"{PREFIX}{what}"


def leaked(text: str) -> list[str]:
    """Every distinct sentinel found in ``text``."""
    import re

    return sorted(set(re.findall(PREFIX + r"[A-Z]+", text)))


def xcoms(dag_id: str) -> list[dict[str, Any]]:
    """Every XCom row of the DAG's runs, straight from the metadata DB."""
    from airflow import settings
    from airflow.models.xcom import XComModel

    with settings.Session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id).all()
        return [{"task_id": row.task_id, "key": row.key, "value": json.dumps(row.value)} for row in rows]


@pytest.fixture(scope="module")
def runs(airflow_db, rel_sandbox, tmp_path_factory, request) -> dict[str, Any]:
    """Run the three example DAGs once with sentinel PHI; keep the runs, requests seen and output."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    capture.read_global_capture()  # start from an empty buffer
    out = _run_examples(rel_sandbox, tmp_path_factory.mktemp("phi"))
    printed, errors = capture.read_global_capture()
    out["output"] = printed + errors
    sys.stdout.write(out["output"][-2000:])  # still shown on failure
    return out


def _run_examples(rel_sandbox: Any, tmp: Path) -> dict[str, Any]:
    """Run the three example DAGs once with sentinel PHI; collect their output."""
    from airflow_provider_fabric.testing.vcfgen import write_family, write_vcf

    rel_sandbox.clear_faults()
    rel_sandbox.requests_seen(clear=True)
    out: dict[str, Any] = {"runs": {}}

    # Panel: label, external ID, accession, patient fields (a file), sample name.
    vcf = write_vcf(tmp / "proband.vcf.gz", 40, sample=s("SAMPLE"), compression="gz")
    fields = {"First Name": s("FIRSTNAME"), "Last Name": s("LASTNAME"), "Patient DOB": s("DOB")}
    (tmp / "fields.json").write_text(json.dumps(fields))
    (tmp / "qc.json").write_text(json.dumps({"Total Reads": 1000, "Mean Coverage": 250.5}))
    panel_conf = {
        "project_name": "PHI proofs: panels",
        "vcf_path": str(vcf),
        "genome_label": s("LABEL"),
        "genome_sex": "female",
        "external_id": s("EXTID"),
        "accession_id": s("ACCESSION"),
        "panel_test_code": "HC-101",
        "patient_fields_path": str(tmp / "fields.json"),
        "qc_data_path": str(tmp / "qc.json"),
        "output_base": str(tmp / "exports"),
    }
    out["runs"]["example_fabric_panel"] = run_dag(load_example("example_fabric_panel"), panel_conf)

    # Trio (sensors deferred, so trigger logs are searched too): labels and external IDs in the
    # manifest, the family name in the sample names.
    family = tmp / "family"
    proband, mother, father = write_family(family, s("FAMILY"), n_records=40, compression="gz", seed=3)
    with (family / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["role", "vcf_path", "genome_label", "genome_sex", "external_id", "affected"])
        for role, path, sex, affected in [
            ("proband", proband, "male", "true"),
            ("mother", mother, "female", "false"),
            ("father", father, "male", "false"),
        ]:
            writer.writerow(
                [role, path.name, s("LABEL") + role.upper(), sex, s("EXTID") + role.upper(), affected]
            )
    trio_conf = {
        "project_name": "PHI proofs: families",
        "manifest_path": str(family / "manifest.csv"),
        "accession_id": s("ACCESSIONFAM"),
        "output_base": str(tmp / "exports"),
    }
    out["runs"]["example_fabric_trio"] = run_dag(
        load_example("example_fabric_trio", deferrable=True), trio_conf
    )

    report = one(rel_sandbox.state()["reports"], accession_id=s("ACCESSIONFAM"))
    confirmation_conf = {"report_id": report["id"], "output_base": str(tmp / "exports")}
    out["runs"]["example_fabric_confirmation"] = run_dag(
        load_example("example_fabric_confirmation"), confirmation_conf
    )
    out["requests"] = rel_sandbox.requests_seen()
    out["exports"] = tmp / "exports"
    return out


def test_every_example_dag_ran_with_the_sentinels(runs, rel_sandbox):
    for dag_id, run in runs["runs"].items():
        assert str(run.state) == "success" and failed_tasks(run) == {}, (dag_id, failed_tasks(run))
    state = rel_sandbox.state()
    # The sentinels really reached the server (so their absence elsewhere means something).
    assert one(state["genomes"], external_id=s("EXTID"))["genome_label"] == s("LABEL")
    one(state["reports"], accession_id=s("ACCESSION"))
    report_json = next(Path(runs["exports"], "panel").rglob("report.json"))
    assert json.loads(report_json.read_text())["patient_fields"]["Last Name"] == s("LASTNAME")


def test_no_sentinel_in_any_get_url(runs):
    gets = [r["url"] for r in runs["requests"] if r["method"] == "GET"]
    assert len(gets) > 20, "the runs' GET requests were recorded"
    assert any(url.startswith("/reports/") for url in gets)
    assert leaked("\n".join(gets)) == []
    # Queries only ever travel in X-fg-safe-params: GET URLs carry no query string at all.
    assert [url for url in gets if "?" in url] == []


def test_no_sentinel_or_secret_in_task_logs_or_output(runs, airflow_db, rel_sandbox):
    text = runs["output"] + log_text(airflow_db)
    assert "upload_genome" in text and "create_panel_report" in text, "the tasks' output was captured"
    assert "running trigger in line" in text, "the trio's sensors deferred: trigger output is included"
    assert leaked(text) == []
    assert rel_sandbox.secret not in text, "the API secret never reaches a log"


def test_no_sentinel_in_xcoms_except_the_documented_ones(runs):
    found = {}
    for dag_id in runs["runs"]:
        rows = xcoms(dag_id)
        assert rows, f"{dag_id} pushed XComs"
        for row in rows:
            if (dag_id, row["task_id"]) not in PHI_XCOMS and leaked(row["value"]):
                found[(dag_id, row["task_id"], row["key"])] = leaked(row["value"])
    assert found == {}
    # The documented exception really is where the PHI went (the list is not stale).
    manifest = [r for r in xcoms("example_fabric_trio") if r["task_id"] == "read_manifest"]
    assert any(leaked(r["value"]) for r in manifest)


def test_no_sentinel_in_typed_error_messages(rel_sandbox, tmp_path):
    """Bad input and server refusals that involve PHI values are explained without repeating them."""
    from airflow_provider_fabric.exceptions import FabricError
    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    rel_sandbox.clear_faults()
    hook = FabricHook()
    project = hook.create_project("PHI proofs: errors")["id"]
    multi = write_vcf(tmp_path / "two.vcf", 5, samples=[s("SAMPLEA"), s("SAMPLEB")])
    not_vcf = tmp_path / "notes.vcf"
    not_vcf.write_text(f"{s('FIRSTNAME')} {s('LASTNAME')}\n")
    attempts = [
        lambda: hook.upload_genome(
            project, not_vcf, genome_label=s("LABEL"), genome_sex="x", external_id=s("E")
        ),
        lambda: hook.upload_genome(
            999999, multi, genome_label=s("LABEL"), genome_sex="male", external_id=s("E")
        ),
        lambda: hook.create_panel_report(
            proband_genome_id=999999, panel_id=101, accession_id=s("ACCESSION"), project_id=project
        ),
        lambda: hook.create_family_report(
            report_type="Trio", proband_genome_id=999999, proband_sex="male", accession_id=s("ACCESSION")
        ),
        lambda: hook.post_patient_fields(999999, {"First Name": s("FIRSTNAME")}),
    ]
    messages = []
    for attempt in attempts:
        with pytest.raises(FabricError) as raised:
            attempt()
        messages.append(f"{type(raised.value).__name__}: {raised.value}")
    assert all(message.split(": ", 1)[1].strip() for message in messages), messages
    assert leaked("\n".join(messages)) == [], messages
