"""FabricBaseOperator: connection choice, cached hook, UI-URL pushes for the extra links."""

from __future__ import annotations

import json

import pytest
from tisupport import RecordingTI

from airflow_provider_fabric.links import GENOME_URL_KEY, REPORT_URL_KEY
from airflow_provider_fabric.operators.base import FabricBaseOperator


def test_pushes_report_and_genome_urls_from_connection_ui_url(fabric_conn):
    op = FabricBaseOperator(task_id="t")
    ti = RecordingTI()
    assert op.push_report_url({"ti": ti}, 42) == "https://ui.fabric.test/reports/42"
    assert op.push_genome_url({"ti": ti}, 7) == "https://ui.fabric.test/genomes/7"
    assert ti.pushed == {
        REPORT_URL_KEY: "https://ui.fabric.test/reports/42",
        GENOME_URL_KEY: "https://ui.fabric.test/genomes/7",
    }


def test_pushes_nothing_without_ui_url(monkeypatch: pytest.MonkeyPatch):
    conn = {"conn_type": "fabric_genomics", "host": "https://fabric.test", "login": "k", "password": "s"}
    monkeypatch.setenv("AIRFLOW_CONN_OTHER_FABRIC", json.dumps(conn))
    op = FabricBaseOperator(task_id="t", fabric_conn_id="other_fabric")
    ti = RecordingTI()
    assert op.push_report_url({"ti": ti}, 42) is None
    assert op.push_genome_url({"ti": ti}, 7) is None
    assert ti.pushed == {}
    assert op.hook.fabric_conn_id == "other_fabric"
    assert op.hook is op.hook  # one hook (one HTTP session) per task run


def test_operator_modules_import_nothing_heavy():
    """DAG files are parsed constantly: importing the operators must not pull in HTTP, VCF or storage code."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from airflow.providers.common.compat.sdk import BaseOperator, BaseOperatorLink, XCom\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_fabric.operators.projects, airflow_provider_fabric.operators.genomes\n"
        "import airflow_provider_fabric.operators.reports\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "airflow_provider_fabric.operators.genomes" in loaded
    heavy = {"requests", "airflow_provider_fabric.hooks.fabric", "airflow_provider_fabric.vcf"}
    heavy |= {"airflow_provider_fabric.storage", "airflow_provider_fabric.sandbox"}
    assert not loaded & heavy


def test_rendered_phi_is_masked_in_logs_and_the_rendered_template_view(fabric_conn):
    from airflow.providers.common.compat.sdk import redact

    from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator
    from airflow_provider_fabric.operators.reports import (
        FabricCreateClinicalReportOperator,
        FabricPostPatientFieldsOperator,
    )

    upload = FabricUploadGenomeOperator(
        task_id="upload",
        project_id="{{ params.project }}",
        vcf_path="/data/run-1/sample.vcf.gz",
        genome_label="{{ params.label }}",
        genome_sex="female",
        external_id="MRN-PHI-0042",
    )
    report = FabricCreateClinicalReportOperator(
        task_id="report",
        report_type="Duo",
        proband_genome_id="48213",
        proband_sex="f",
        accession_id="ACC-PHI-7731",
        family=[
            {"genome_id": "{{ params.mother }}", "sex": "f", "relationship": "mother", "label": "Mum-PHI-Doe"}
        ],
    )
    fields = FabricPostPatientFieldsOperator(
        task_id="fields", report_id=1, fields={"First Name": "Janeth-PHI", "Patient Age": "42"}
    )
    context = {"params": {"project": "31337", "label": "Doe-Jane-PHI", "mother": "48214"}}
    for op in (upload, report, fields):
        op.render_template_fields(context)

    line = (
        "label Doe-Jane-PHI ext MRN-PHI-0042 acc ACC-PHI-7731 mother Mum-PHI-Doe name Janeth-PHI "
        "project 31337 genomes 48213 48214 file /data/run-1/sample.vcf.gz"
    )
    assert redact(line) == (
        "label *** ext *** acc *** mother *** name *** "
        "project 31337 genomes 48213 48214 file /data/run-1/sample.vcf.gz"
    )
