"""OpenLineage from the operators: dataset names, custody facets, no PHI, no cost without OpenLineage.

Operators run ``execute()`` against ``requests-mock``; then the OpenLineage
provider's call (``get_openlineage_facets_on_complete`` / ``_on_failure``) is
made as the provider's listener makes it, and its datasets are serialized the
way an event carries them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.serde import Serde
from tisupport import RecordingTI

from airflow_provider_fabric.lineage import (
    RedactDagRunConf,
    fabric_namespace,
    hashed_file_name,
    storage_name,
)
from airflow_provider_fabric.testing.vcfgen import write_vcf

BASE = "https://fabric.test"
NAMESPACE = "fabric://fabric.test"
LABEL = "PHI-LABEL-Doe-Jane"
EXTERNAL = "PHI-EXT-MRN-4711"
SAMPLE = "PHI-SAMPLE-JDOE"
ACCESSION = "PHI-ACC-2026-0042"
PATIENT = "PHI-PATIENT-Jane-Doe"
SENTINELS = (LABEL, EXTERNAL, SAMPLE, ACCESSION, PATIENT)


def sha(name: str) -> str:
    """The documented default: the first 16 hex digits of the file name's SHA-256."""
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def datasets(lineage: Any) -> dict[str, list[dict[str, Any]]]:
    """The datasets as an OpenLineage event carries them (JSON)."""
    return {
        "inputs": [json.loads(Serde.to_json(d)) for d in lineage.inputs],
        "outputs": [json.loads(Serde.to_json(d)) for d in lineage.outputs],
    }


def names(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(item["namespace"], item["name"]) for item in items]


def assert_no_phi(lineage: Any) -> None:
    text = json.dumps(datasets(lineage))
    assert [value for value in SENTINELS if value in text] == []


# --------------------------------------------------------------------------- names


def test_fabric_objects_live_in_one_namespace_per_host():
    assert fabric_namespace("https://api.fabricgenomics.com") == "fabric://api.fabricgenomics.com"
    assert fabric_namespace("https://API.example.org:8443/v1") == "fabric://api.example.org:8443"


@pytest.mark.parametrize(
    ("location", "namespace", "name"),
    [
        ("/data/run-1/SAMPLE-0001.vcf.gz", "file", f"/data/run-1/{sha('SAMPLE-0001.vcf.gz')}.vcf.gz"),
        ("file:///data/run%201/S1.vcf", "file", f"/data/run 1/{sha('S1.vcf')}.vcf"),
        ("s3://lab/run-1/SAMPLE-0001.vcf.bz2", "s3://lab", f"run-1/{sha('SAMPLE-0001.vcf.bz2')}.vcf.bz2"),
        ("s3://aws_lab@lab/x/JDOE.report.pdf", "s3://lab", f"x/{sha('JDOE.report.pdf')}.pdf"),
        ("gs://bucket/JDOE_fields", "gs://bucket", sha("JDOE_fields")),
        ("s3://bucket/SAMPLE.0001.vcf", "s3://bucket", f"{sha('SAMPLE.0001.vcf')}.vcf"),
    ],
)
def test_file_names_are_hashed_keeping_scheme_bucket_folders_and_extension(location, namespace, name):
    assert storage_name(location) == (namespace, name)


def test_object_storage_paths_are_named_without_opening_them(tmp_path):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    local = ObjectStoragePath(f"file://{tmp_path}/JDOE.vcf")
    assert storage_name(local) == ("file", f"{tmp_path}/{sha('JDOE.vcf')}.vcf")


def test_the_hash_key_makes_names_unguessable_and_stays_stable(monkeypatch):
    monkeypatch.setenv("AIRFLOW__FABRIC_GENOMICS__LINEAGE_HASH_KEY", "lab-secret")
    keyed = hmac.new(b"lab-secret", b"SAMPLE-0001.vcf.gz", hashlib.sha256).hexdigest()[:16]
    assert storage_name("s3://lab/SAMPLE-0001.vcf.gz") == ("s3://lab", f"{keyed}.vcf.gz")
    assert storage_name("s3://lab/SAMPLE-0001.vcf.gz") == storage_name("s3://lab/SAMPLE-0001.vcf.gz")
    assert keyed != sha("SAMPLE-0001.vcf.gz")
    monkeypatch.delenv("AIRFLOW__FABRIC_GENOMICS__LINEAGE_HASH_KEY")
    monkeypatch.setenv("AIRFLOW__FABRIC_GENOMICS__LINEAGE_HASH_KEY_CMD", "echo lab-secret")  # a secret option
    assert storage_name("s3://lab/SAMPLE-0001.vcf.gz") == ("s3://lab", f"{keyed}.vcf.gz")


def test_a_lab_may_keep_file_names(monkeypatch):
    monkeypatch.setenv("AIRFLOW__FABRIC_GENOMICS__LINEAGE_FILE_NAMES", "keep")
    assert storage_name("s3://lab/run-1/SAMPLE-0001.vcf.gz") == ("s3://lab", "run-1/SAMPLE-0001.vcf.gz")


def test_an_unknown_file_name_setting_hashes_and_says_so(monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW__FABRIC_GENOMICS__LINEAGE_FILE_NAMES", "kepe")
    with caplog.at_level(logging.WARNING):
        assert storage_name("/d/SAMPLE.vcf") == ("file", f"/d/{sha('SAMPLE.vcf')}.vcf")
    assert "must be hash or keep" in caplog.text


def test_only_known_extensions_survive_the_hash():
    assert hashed_file_name("JDOE.final.pdf") == f"{sha('JDOE.final.pdf')}.pdf"
    assert hashed_file_name("JDOE") == sha("JDOE")
    assert hashed_file_name("a.tar.vcf.gz") == f"{sha('a.tar.vcf.gz')}.vcf.gz"


# --------------------------------------------------------------------------- operators


def test_upload_lineage_is_vcf_to_genome_with_md5_size_and_build(fabric_conn, requests_mock, tmp_path):
    from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator

    vcf = write_vcf(tmp_path / f"{SAMPLE}.vcf.gz", 50, compression="gz", sample=SAMPLE)
    requests_mock.get(f"{BASE}/projects/5/genomes", json={"objects": []})
    requests_mock.put(f"{BASE}/projects/5/genomes", json={"genome_id": 77})
    op = FabricUploadGenomeOperator(
        task_id="upload",
        project_id=5,
        vcf_path=str(vcf),
        genome_label=LABEL,
        genome_sex="female",
        external_id=EXTERNAL,
    )
    op.execute({"ti": RecordingTI()})
    lineage = op.get_openlineage_facets_on_complete(None)
    found = datasets(lineage)
    md5 = hashlib.md5(vcf.read_bytes()).hexdigest()
    (vcf_in,) = found["inputs"]
    assert (vcf_in["namespace"], vcf_in["name"]) == ("file", f"{tmp_path}/{sha(vcf.name)}.vcf.gz")
    assert vcf_in["inputFacets"]["inputStatistics"]["size"] == vcf.stat().st_size
    file_facet = vcf_in["facets"]["fabricFile"]
    assert (file_facet["content"], file_facet["md5"], file_facet["fileFormat"]) == ("VCF", md5, "vcf.gz")
    assert (file_facet["genomeBuild"], file_facet["sampleCount"]) == ("GRCh37", 1)
    (genome,) = found["outputs"]
    assert (genome["namespace"], genome["name"]) == (NAMESPACE, "genomes/77")
    facet = genome["facets"]["fabricGenome"]
    assert (facet["genomeId"], facet["projectId"], facet["md5"], facet["reused"]) == (77, 5, md5, False)
    assert facet["genomeBuild"] == "GRCh37"
    assert facet["_schemaURL"].endswith("/_static/lineage-facets.json#/$defs/FabricGenomeFacet")
    assert_no_phi(lineage)


def test_a_compressed_upload_gives_the_files_md5_and_the_md5_sent(fabric_conn, requests_mock, tmp_path):
    """compress=True: the VCF keeps its own (declared) MD5; the genome the MD5 of the BGZF bytes sent."""
    from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator

    vcf = write_vcf(tmp_path / "s.vcf", 500, sample=SAMPLE)
    plain_md5 = hashlib.md5(vcf.read_bytes()).hexdigest()
    requests_mock.get(f"{BASE}/projects/5/genomes", json={"objects": []})
    received = []

    def consume(request, context):
        while chunk := request.body.read(1 << 16):
            received.append(chunk)
        return {"genome_id": 93}

    requests_mock.put(f"{BASE}/projects/5/genomes", json=consume)
    op = FabricUploadGenomeOperator(
        task_id="u",
        project_id=5,
        vcf_path=vcf,
        genome_label=LABEL,
        genome_sex="male",
        external_id=EXTERNAL,
        md5=plain_md5,
        compress=True,
    )
    op.execute({"ti": RecordingTI()})
    found = datasets(op.get_openlineage_facets_on_complete(None))
    read = found["inputs"][0]["facets"]["fabricFile"]
    made = found["outputs"][0]["facets"]["fabricGenome"]
    assert (read["md5"], read["fileFormat"]) == (plain_md5, "vcf")
    assert (made["md5"], made["fileFormat"]) == (hashlib.md5(b"".join(received)).hexdigest(), "vcf.gz")


def test_a_reused_genome_is_the_output_and_says_so(fabric_conn, requests_mock, tmp_path):
    from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator

    vcf = write_vcf(tmp_path / "s.vcf", 20, sample=SAMPLE)
    md5 = hashlib.md5(vcf.read_bytes()).hexdigest()
    requests_mock.get(
        f"{BASE}/projects/5/genomes",
        json={"objects": [{"id": 60, "external_id": EXTERNAL, "checksum": md5, "status": "ANNOTATED"}]},
    )
    op = FabricUploadGenomeOperator(
        task_id="u", project_id=5, vcf_path=vcf, genome_label=LABEL, genome_sex="male", external_id=EXTERNAL
    )
    assert op.execute({"ti": RecordingTI()}) == 60
    (genome,) = datasets(op.get_openlineage_facets_on_complete(None))["outputs"]
    assert genome["name"] == "genomes/60" and genome["facets"]["fabricGenome"]["reused"] is True


def test_a_rejected_vcf_is_reported_read_and_nothing_written(fabric_conn, requests_mock, tmp_path):
    from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator
    from airflow_provider_fabric.vcf import VcfValidationError

    bad = tmp_path / f"{SAMPLE}.vcf"
    bad.write_text("not a vcf\n")
    op = FabricUploadGenomeOperator(
        task_id="u", project_id=5, vcf_path=bad, genome_label=LABEL, genome_sex="male"
    )
    with pytest.raises(VcfValidationError):
        op.execute({"ti": RecordingTI()})
    for lineage in (op.get_openlineage_facets_on_failure(None), op.get_openlineage_facets_on_complete(None)):
        found = datasets(lineage)
        assert names(found["inputs"]) == [("file", f"{tmp_path}/{sha(bad.name)}.vcf")]
        assert found["outputs"] == []
    assert requests_mock.call_count == 0


def test_project_lineage_names_the_project_by_id_only(fabric_conn, requests_mock):
    from airflow_provider_fabric.operators.projects import FabricCreateProjectOperator

    requests_mock.get(f"{BASE}/projects/", json={"objects": []})
    requests_mock.post(f"{BASE}/projects/", json={"id": 9, "name": "Secret study"})
    op = FabricCreateProjectOperator(task_id="p", project_name="Secret study")
    op.execute({"ti": RecordingTI()})
    found = datasets(op.get_openlineage_facets_on_complete(None))
    assert (found["inputs"], names(found["outputs"])) == ([], [(NAMESPACE, "projects/9")])
    assert "Secret study" not in json.dumps(found)


def test_family_report_lineage_is_every_genome_to_the_report(fabric_conn, requests_mock):
    from airflow_provider_fabric.operators.reports import FabricCreateClinicalReportOperator

    requests_mock.get(f"{BASE}/reports/", json={"objects": []})
    requests_mock.post(f"{BASE}/reports/", json={"clinical_report": {"id": 32, "status": "WAITING"}})
    family = [
        {"genome_id": 11, "sex": "f", "affected": False, "relationship": "mother", "label": LABEL + "M"},
        {"genome_id": 12, "sex": "m", "affected": False, "relationship": "father", "label": LABEL + "F"},
    ]
    op = FabricCreateClinicalReportOperator(
        task_id="r",
        report_type="trio",
        proband_genome_id=10,
        proband_sex="f",
        family=family,
        accession_id=ACCESSION,
    )
    op.execute({"ti": RecordingTI()})
    lineage = op.get_openlineage_facets_on_complete(None)
    found = datasets(lineage)
    assert names(found["inputs"]) == [(NAMESPACE, f"genomes/{n}") for n in (10, 11, 12)]
    (report,) = found["outputs"]
    assert report["name"] == "reports/32"
    facet = report["facets"]["fabricReport"]
    assert (facet["reportId"], facet["reportType"], facet["status"]) == (32, "Trio", "WAITING")
    assert_no_phi(lineage)


def test_patient_fields_lineage_is_the_file_to_the_report_without_values(
    fabric_conn, requests_mock, tmp_path
):
    from airflow_provider_fabric.operators.reports import FabricPostPatientFieldsOperator

    fields = tmp_path / "orders" / f"{ACCESSION}.json"
    fields.parent.mkdir()
    fields.write_text(json.dumps({"First Name": PATIENT}))
    requests_mock.get(f"{BASE}/reports/31/patient_fields", json={})
    requests_mock.get(f"{BASE}/reports/31", json={"id": 31, "status": "WAITING"})
    requests_mock.post(f"{BASE}/reports/31/patient_fields", json={})
    op = FabricPostPatientFieldsOperator(task_id="f", report_id=31, fields_path=f"file://{fields}")
    op.execute({"ti": RecordingTI()})
    lineage = op.get_openlineage_facets_on_complete(None)
    found = datasets(lineage)
    assert names(found["inputs"]) == [("file", f"{fields.parent}/{sha(fields.name)}.json")]
    assert found["inputs"][0]["facets"]["fabricFile"]["content"] == "patient fields"
    assert names(found["outputs"]) == [(NAMESPACE, "reports/31")]
    assert_no_phi(lineage)


def test_status_change_lineage_gives_the_report_type_and_new_status(fabric_conn, requests_mock):
    from airflow_provider_fabric.operators.reports import FabricUpdateReportStatusOperator

    requests_mock.get(
        f"{BASE}/reports/31", json={"id": 31, "status": "READY TO REVIEW", "report_type": "panel"}
    )
    requests_mock.patch(f"{BASE}/reports/31/update_status/", json={"id": 31, "status": "APPROVED"})
    op = FabricUpdateReportStatusOperator(task_id="s", report_id=31, status="approved")
    op.execute({"ti": RecordingTI()})
    (report,) = datasets(op.get_openlineage_facets_on_complete(None))["outputs"]
    facet = report["facets"]["fabricReport"]
    assert (report["name"], facet["reportType"], facet["status"]) == ("reports/31", "panel", "APPROVED")


def test_variant_export_lineage_is_report_to_file_with_records_and_bytes(
    fabric_conn, requests_mock, tmp_path
):
    from airflow_provider_fabric.operators.exports import FabricExportVariantsOperator

    body = b"chrom,start_on_chrom,ref,alt\n1,100,A,G\n1,200,C,T\n"
    requests_mock.get(f"{BASE}/reports/7/variants", content=body)
    dest = tmp_path / "report-7" / "variants.csv"
    op = FabricExportVariantsOperator(task_id="e", report_id=7, destination=str(dest), format="csv")
    op.execute({"ti": RecordingTI()})
    found = datasets(op.get_openlineage_facets_on_complete(None))
    assert names(found["inputs"]) == [(NAMESPACE, "reports/7")]
    (out,) = found["outputs"]
    assert (out["namespace"], out["name"]) == ("file", f"{dest.parent}/{sha('variants.csv')}.csv")
    assert out["outputFacets"]["outputStatistics"] == {
        **out["outputFacets"]["outputStatistics"],
        "rowCount": 2,
        "size": len(body),
    }
    assert out["facets"]["fabricFile"]["content"] == "variants"
    assert out["facets"]["fabricFile"]["fileFormat"] == "csv"


def test_a_failed_export_claims_no_file(fabric_conn, requests_mock, tmp_path):
    from airflow_provider_fabric.exceptions import FabricRequestError
    from airflow_provider_fabric.operators.exports import FabricExportVariantsOperator

    requests_mock.get(f"{BASE}/reports/7/variants", status_code=422, json={"description": "not ready"})
    requests_mock.get(f"{BASE}/reports/7", json={"id": 7, "status": "PROCESSING"})
    op = FabricExportVariantsOperator(task_id="e", report_id=7, destination=tmp_path / "v.vcf", format="vcf")
    with pytest.raises(FabricRequestError):
        op.execute({"ti": RecordingTI()})
    found = datasets(op.get_openlineage_facets_on_failure(None))
    assert (names(found["inputs"]), found["outputs"]) == ([(NAMESPACE, "reports/7")], [])


def test_report_json_lineage_gives_type_and_status_and_no_phi(fabric_conn, requests_mock, tmp_path):
    from airflow_provider_fabric.operators.exports import FabricGetClinicalReportOperator

    report = {
        "id": 7,
        "status": "APPROVED",
        "test_type": "panel",
        "accession_id": ACCESSION,
        "patient_dict": {"First Name": PATIENT},
    }
    requests_mock.get(f"{BASE}/reports/7", json=report)
    op = FabricGetClinicalReportOperator(task_id="g", report_id=7, destination=tmp_path / "report.json")
    op.execute({"ti": RecordingTI()})
    lineage = op.get_openlineage_facets_on_complete(None)
    found = datasets(lineage)
    facet = found["inputs"][0]["facets"]["fabricReport"]
    assert (facet["reportType"], facet["status"]) == ("panel", "APPROVED")
    (out,) = found["outputs"]
    assert out["outputFacets"]["outputStatistics"]["size"] == (tmp_path / "report.json").stat().st_size
    assert_no_phi(lineage)


def test_status_vcf_lineage_is_the_file_to_the_report(fabric_conn, requests_mock, tmp_path):
    from airflow_provider_fabric.operators.variants import FabricSetVariantStatusesOperator

    status_vcf = tmp_path / f"{SAMPLE}_confirmed.vcf"
    status_vcf.write_text(
        "##fileformat=VCFv4.2\n##reference=GRCh37\n"
        '##FILTER=<ID=CONFIRMED,Description="Passed external confirmation">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "1\t100\t.\tA\tG\t.\tCONFIRMED\t.\n"
    )
    variant = {"id": 5, "chrom": "1", "start_on_chrom": 100, "ref": "A", "alt": "G", "status": "CONFIRMED"}
    requests_mock.get(f"{BASE}/reports/7/variants", json={"objects": [variant]})
    op = FabricSetVariantStatusesOperator(task_id="s", report_id=7, source=str(status_vcf))
    assert op.execute({"ti": RecordingTI()})["changed"] == 0
    found = datasets(op.get_openlineage_facets_on_complete(None))
    (vcf_in,) = found["inputs"]
    assert vcf_in["name"] == f"{tmp_path}/{sha(status_vcf.name)}.vcf"
    assert vcf_in["inputFacets"]["inputStatistics"]["rowCount"] == 1
    assert vcf_in["inputFacets"]["inputStatistics"]["size"] == status_vcf.stat().st_size
    assert names(found["outputs"]) == [(NAMESPACE, "reports/7")]


# --------------------------------------------------------------------------- the DAG run's conf


def dag_run_event(conf: dict[str, Any]) -> Any:
    """A task event carrying the DAG run's conf the way the OpenLineage provider builds it."""
    from types import SimpleNamespace

    from airflow.providers.openlineage.plugins.facets import AirflowRunFacet
    from airflow.providers.openlineage.utils.utils import DagRunInfo
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    dag_run = DagRunInfo(SimpleNamespace(conf=conf, dag_id="example_fabric_panel", run_id="manual__1"))
    assert dag_run["conf"] == conf, "the provider copies the conf into its airflow run facet"
    facet = AirflowRunFacet(dag={}, dagRun=dag_run, task={}, taskInstance={}, taskUuid="u")
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime="2026-01-01T00:00:00+00:00",
        run=Run(runId="01a22ae8-ad06-7323-9284-22127c8c95c0", facets={"airflow": facet}),
        job=Job(namespace="lab", name="example_fabric_panel.upload_genome"),
        producer="test",
    )


def test_the_conf_transform_blanks_the_dag_run_conf_through_the_transform_transport(tmp_path):
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport import get_default_factory

    out = tmp_path / "events.jsonl"
    config = {
        "type": "transform",
        "transformer_class": "airflow_provider_fabric.lineage.RedactDagRunConf",
        "transformer_properties": {"keep": ["project_name"]},
        "transport": {"type": "file", "log_file_path": str(out), "append": True},
    }
    client = OpenLineageClient(transport=get_default_factory().create(config))
    client.emit(dag_run_event({"genome_label": LABEL, "accession_id": ACCESSION, "project_name": "Panels"}))
    (line,) = out.read_text().splitlines()
    conf = json.loads(line)["run"]["facets"]["airflow"]["dagRun"]["conf"]
    assert conf == {"genome_label": "***", "accession_id": "***", "project_name": "Panels"}


def test_the_conf_transform_leaves_events_without_a_conf_alone():
    event = dag_run_event({})
    assert RedactDagRunConf({}).transform(event) is event
    assert event.run.facets["airflow"].dagRun["conf"] == {}


# --------------------------------------------------------------------------- import cost


WITHOUT_LINEAGE = """
import importlib, json, sys

import requests_mock
from airflow.sdk import BaseOperator
from tisupport import RecordingTI

def openlineage_modules():
    return {name for name in sys.modules if "openlineage" in name}

airflow_itself = openlineage_modules()  # Airflow reads every installed provider's info
for name in ("projects", "genomes", "reports", "exports", "variants"):
    importlib.import_module("airflow_provider_fabric.operators." + name)
from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator

op = FabricUploadGenomeOperator(
    task_id="u", project_id=5, vcf_path=sys.argv[1], genome_label="x", genome_sex="male"
)
with requests_mock.Mocker() as server:
    server.put("https://fabric.test/projects/5/genomes", json={"genome_id": 77})
    genome_id = op.execute({"ti": RecordingTI()})
print(json.dumps({"genome_id": genome_id, "ours": sorted(openlineage_modules() - airflow_itself)}))
"""


def test_importing_and_running_operators_imports_nothing_of_openlineage(fabric_conn, tmp_path):
    """OpenLineage is optional: the operators import it only inside their OpenLineage methods.

    So an operator imports and runs the same whether OpenLineage is installed or not (the
    import benchmark measures the cost).
    """
    vcf = write_vcf(tmp_path / "s.vcf", 5)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}  # tisupport
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", WITHOUT_LINEAGE, str(vcf)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"genome_id": 77, "ours": []}


def test_the_facet_schema_is_published_with_the_docs():
    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "docs/_static/lineage-facets.json").read_text()
    )
    assert set(schema["$defs"]) == {"FabricGenomeFacet", "FabricReportFacet", "FabricFileFacet"}
