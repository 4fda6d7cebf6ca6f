"""Bad-input cases that need a real server: wrong secret, unknown IDs, an untrusted CA.

Each ends in a typed error whose message names the cause, and leaves nothing
new on the server (the sandbox's state is compared before and after).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tisupport import RecordingTI

from airflow_provider_fabric.exceptions import (
    FabricAuthError,
    FabricConfigurationError,
    FabricNotFoundError,
    FabricRequestError,
)


def counts(sandbox: Any) -> tuple[int, int, int]:
    state = sandbox.state()
    return len(state["projects"]), len(state["genomes"]), len(state["reports"])


def use_connection(monkeypatch: pytest.MonkeyPatch, sandbox: Any, **changes: Any) -> None:
    conn = json.loads(sandbox.conn_json())
    extra = {**conn["extra"], **changes.pop("extra", {})}
    monkeypatch.setenv(
        "AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT", json.dumps({**conn, **changes, "extra": extra})
    )


def upload(project_id: Any, vcf: Path) -> Any:
    from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator

    op = FabricUploadGenomeOperator(
        task_id="upload",
        project_id=project_id,
        vcf_path=str(vcf),
        genome_label="L1",
        genome_sex="male",
        external_id="LAB-BAD-1",
    )
    return op.execute({"ti": RecordingTI()})


@pytest.fixture
def vcf(make_vcf: Callable[..., Path]) -> Path:
    return make_vcf("ok.vcf", 30)


def test_wrong_secret_is_an_auth_error_naming_the_connection(sandbox, monkeypatch, vcf, project):
    before = counts(sandbox)
    use_connection(monkeypatch, sandbox, password="not-the-secret")
    with pytest.raises(FabricAuthError, match="fabric_genomics_default") as info:
        upload(project["id"], vcf)
    assert info.value.http_status == 401 and "not-the-secret" not in str(info.value)
    assert counts(sandbox) == before


def test_unknown_project_is_not_found_before_any_upload(sandbox, vcf):
    before = counts(sandbox)
    with pytest.raises(FabricNotFoundError, match=r"/projects/987654/genomes: not found"):
        upload(987654, vcf)
    assert counts(sandbox) == before


def test_unknown_genome_in_a_report_is_refused(sandbox, project):
    from airflow_provider_fabric.operators.reports import FabricCreateClinicalReportOperator

    before = counts(sandbox)
    op = FabricCreateClinicalReportOperator(
        task_id="report", report_type="panel", panel_id=101, proband_genome_id=987654, accession_id="BAD-G-1"
    )
    with pytest.raises(FabricRequestError, match="987654|genome") as info:
        op.execute({"ti": RecordingTI()})
    assert info.value.http_status in (400, 404, 422)
    assert counts(sandbox) == before


def test_unknown_report_export_is_not_found_and_writes_nothing(sandbox, tmp_path):
    from airflow_provider_fabric.operators.exports import FabricExportVariantsOperator

    destination = tmp_path / "out" / "variants.vcf"
    op = FabricExportVariantsOperator(
        task_id="x", report_id=987654, destination=str(destination), format="vcf"
    )
    with pytest.raises(FabricNotFoundError, match="/reports/987654"):
        op.execute({"ti": RecordingTI()})
    assert not destination.exists()
    assert not destination.parent.exists() or list(destination.parent.iterdir()) == []


def test_server_whose_ca_is_not_trusted_is_refused(sandbox, monkeypatch, vcf, project):
    before = counts(sandbox)
    use_connection(monkeypatch, sandbox, extra={"verify": "true"})  # certifi's roots: not the sandbox's CA
    with pytest.raises(FabricConfigurationError, match="TLS verification") as info:
        upload(project["id"], vcf)
    assert "verify" in str(info.value)
    assert counts(sandbox) == before


def test_plain_http_host_is_refused_before_connecting(sandbox, monkeypatch, vcf, project):
    use_connection(monkeypatch, sandbox, host=sandbox.url.replace("https://", "http://"))
    with pytest.raises(FabricConfigurationError, match="https://"):
        upload(project["id"], vcf)
