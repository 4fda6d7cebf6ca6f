"""Project, upload and clinical-report operators against a real fabric-sandbox over HTTPS."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tisupport import RecordingTI

from airflow_provider_fabric.exceptions import FabricServerError
from airflow_provider_fabric.hooks.fabric import FabricHook
from airflow_provider_fabric.links import REPORT_URL_KEY
from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator
from airflow_provider_fabric.operators.projects import FabricCreateProjectOperator
from airflow_provider_fabric.operators.reports import (
    FabricCreateClinicalReportOperator,
    FabricPostPatientFieldsOperator,
    FabricPostQcDataOperator,
    FabricUpdateClinicalReportOperator,
)
from airflow_provider_fabric.testing.vcfgen import write_family, write_vcf

PANEL_ID = 101  # a catalogue panel of the sandbox (assay type 1: Total Reads, Mean Coverage, ...)
_serial = itertools.count(1)


@pytest.fixture
def hook(sandbox: Any) -> FabricHook:
    return FabricHook()


@pytest.fixture
def project_id(sandbox: Any) -> int:
    op = FabricCreateProjectOperator(task_id="project", project_name=f"ops-it-{next(_serial)}")
    return op.execute({"ti": RecordingTI()})


def upload(
    task_id: str, project: int, path: Any, external_id: str | None, **kwargs: Any
) -> FabricUploadGenomeOperator:
    return FabricUploadGenomeOperator(
        task_id=task_id,
        project_id=project,
        vcf_path=path,
        genome_label=f"label-{task_id}",
        genome_sex=kwargs.pop("genome_sex", "female"),
        external_id=external_id,
        **kwargs,
    )


def test_create_project_twice_gives_one_project(sandbox: Any):
    name = f"ops-it-reuse-{next(_serial)}"
    first = FabricCreateProjectOperator(task_id="p", project_name=name).execute({"ti": RecordingTI()})
    second = FabricCreateProjectOperator(task_id="p", project_name=name).execute({"ti": RecordingTI()})
    assert first == second
    assert [p["id"] for p in sandbox.state()["projects"] if p["name"] == name] == [first]


def test_upload_then_panel_report_patient_fields_and_qc(
    sandbox: Any, hook: FabricHook, project_id: int, tmp_path: Path, wait: Callable[..., Any]
):
    vcf = write_vcf(tmp_path / "proband.vcf.gz", 200, compression="gz", sample="IT_PROBAND")
    ti = RecordingTI()
    genome_id = upload("upload", project_id, str(vcf), "ext-panel-1").execute({"ti": ti})
    genome = hook.get_genome(genome_id)
    assert genome["project_id"] == project_id
    assert genome["checksum"] == hashlib.md5(vcf.read_bytes()).hexdigest()
    assert genome["format"] == "vcf.gz"
    assert ti.pushed == {}  # the sandbox connection has no ui_url: no link, nothing pushed

    returns = {"upload": genome_id}
    report_op = FabricCreateClinicalReportOperator(
        task_id="report",
        proband_genome_id="{{ ti.xcom_pull('upload') }}",
        panel_id=PANEL_ID,
        accession_id="ACC-IT-panel-1",
    )
    context = {"ti": RecordingTI(returns)}
    report_op.render_template_fields(context)
    report_id = report_op.execute(context)
    report = hook.get_report(report_id)
    assert report["proband_genome_id"] == genome_id and report["panel_id"] == PANEL_ID

    fields = tmp_path / "patient.json"
    fields.write_text('{"First Name": "Test", "Last Name": "Patient"}', encoding="utf-8")
    FabricPostPatientFieldsOperator(
        task_id="pf", report_id=report_id, fields_path=f"file://{fields}", fields={"Patient Sex": "F"}
    ).execute({"ti": RecordingTI()})
    assert hook.get_patient_fields(report_id) == {
        "First Name": "Test",
        "Last Name": "Patient",
        "Patient Sex": "F",
    }

    FabricPostQcDataOperator(
        task_id="qc", report_id=report_id, qc_data={"Total Reads": 1200000, "Mean Coverage": 112.4}
    ).execute({"ti": RecordingTI()})
    entries = hook.get_qc_data(report_id)["objects"]
    assert [entry["data"] for entry in entries] == [{"Total Reads": 1200000, "Mean Coverage": 112.4}]

    # The same create task, retried, finds the report by its exact accession.
    again = FabricCreateClinicalReportOperator(
        task_id="report", proband_genome_id=genome_id, panel_id=PANEL_ID, accession_id="ACC-IT-panel-1"
    ).execute({"ti": RecordingTI()})
    assert again == report_id
    assert len([r for r in sandbox.state()["reports"] if r["accession_id"] == "ACC-IT-panel-1"]) == 1


def test_trio_from_uploads_by_path_and_file_url(
    sandbox: Any, hook: FabricHook, project_id: int, tmp_path: Path
):
    proband, mother, father = write_family(tmp_path / "fam", "ITFAM", ("proband", "mother", "father"), 150)
    returns = {
        "up_proband": upload("up_proband", project_id, proband, "ITFAM-p", genome_sex="male").execute(
            {"ti": RecordingTI()}
        ),
        "up_mother": upload("up_mother", project_id, f"file://{mother}", "ITFAM-m").execute(
            {"ti": RecordingTI()}
        ),
        "up_father": upload(
            "up_father", project_id, f"file://{father}", "ITFAM-f", genome_sex="male"
        ).execute({"ti": RecordingTI()}),
    }
    op = FabricCreateClinicalReportOperator(
        task_id="trio",
        report_type="Trio",
        proband_genome_id="{{ ti.xcom_pull('up_proband') }}",
        proband_sex="m",
        family=[
            {
                "genome_id": "{{ ti.xcom_pull('up_mother') }}",
                "sex": "f",
                "relationship": "mother",
                "affected": False,
            },
            {
                "genome_id": "{{ ti.xcom_pull('up_father') }}",
                "sex": "m",
                "relationship": "father",
                "affected": False,
            },
        ],
        hpo_terms=["HP:0001250"],
        accession_id="ACC-IT-trio-1",
    )
    ti = RecordingTI(returns)
    op.render_template_fields({"ti": ti})
    report_id = op.execute({"ti": ti})
    report = hook.get_report(report_id)
    assert report["report_type"] == "Trio"
    assert report["proband_genome_id"] == returns["up_proband"]
    family = report["family"]
    assert family["family_1"]["genome_id"] == returns["up_mother"]
    assert family["family_2"]["genome_id"] == returns["up_father"]
    assert REPORT_URL_KEY not in ti.pushed and hook.settings.ui_url is None


def test_family_report_created_empty_then_genomes_attached(
    sandbox: Any, hook: FabricHook, project_id: int, tmp_path: Path
):
    proband, mother = write_family(tmp_path / "duo", "ITDUO", ("proband", "mother"), 100)
    report_id = FabricCreateClinicalReportOperator(
        task_id="duo",
        report_type="Duo",
        project_id=project_id,
        proband_sex="f",
        family=[{"sex": "f", "relationship": "mother"}],
    ).execute({"ti": RecordingTI()})
    proband_id = upload("p", project_id, proband, None).execute({"ti": RecordingTI()})
    mother_id = upload("m", project_id, mother, None).execute({"ti": RecordingTI()})
    FabricUpdateClinicalReportOperator(
        task_id="attach",
        report_id=report_id,
        proband_genome_id=proband_id,
        proband_sex="f",
        family=[{"genome_id": mother_id, "sex": "f", "relationship": "mother"}],
    ).execute({"ti": RecordingTI()})
    report = hook.get_report(report_id)
    assert report["proband_genome_id"] == proband_id
    assert report["family"]["family_1"]["genome_id"] == mother_id


def test_upload_retried_after_a_lost_answer_leaves_exactly_one_genome(
    sandbox: Any, hook: FabricHook, project_id: int, tmp_path: Path
):
    vcf = write_vcf(tmp_path / "retry.vcf.bz2", 300, compression="bz2", sample="IT_RETRY")
    # The server stores the genome, then drops the connection: the first try never sees the answer.
    sandbox.set_faults(methods=["PUT"], paths=["/genomes$"], script=[{"kind": "drop", "phase": "after"}])
    try:
        with pytest.raises(FabricServerError):
            upload("upload", project_id, vcf, "ext-retry-1").execute({"ti": RecordingTI()})
    finally:
        sandbox.clear_faults()
    stored = [g for g in hook.list_genomes(project_id) if g["external_id"] == "ext-retry-1"]
    assert len(stored) == 1  # the lost answer did create the genome

    ti = RecordingTI()
    genome_id = upload("upload", project_id, vcf, "ext-retry-1").execute({"ti": ti})  # Airflow's retry
    assert genome_id == stored[0]["id"]
    assert [g["id"] for g in hook.list_genomes(project_id) if g["external_id"] == "ext-retry-1"] == [
        genome_id
    ]


def test_bad_file_is_refused_and_nothing_reaches_the_server(sandbox: Any, project_id: int, tmp_path: Path):
    from airflow_provider_fabric.vcf import VcfValidationError

    vcf = write_vcf(tmp_path / "b38.vcf.gz", 100, compression="gz", build="GRCh38")
    sandbox.requests_seen(clear=True)
    with pytest.raises(VcfValidationError, match="GRCh38"):
        upload("upload", project_id, vcf, "ext-b38").execute({"ti": RecordingTI()})
    assert sandbox.requests_seen() == []
