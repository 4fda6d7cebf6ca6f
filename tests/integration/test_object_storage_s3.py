"""Inputs read from and outputs written to s3://, against a local S3-compatible server (moto).

Tasks on Celery or Kubernetes workers never share a disk, so operators take
``s3://`` URLs as well as local paths. These tests run the real operators
against the real sandbox with the files on a moto S3 server on loopback.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tisupport import RecordingTI

BUCKET = "lab-genomes"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A moto S3 server on a free loopback port, ``aws_default`` pointing at it; yields a boto3 client."""
    import boto3

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as patch:
        # Workers usually get S3 credentials from their environment (or an IAM role), not a URL.
        patch.setenv("AWS_ACCESS_KEY_ID", "testing-key")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_ENDPOINT_URL", endpoint)
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing-key",
            aws_secret_access_key="testing-secret",  # noqa: S106 - a local fake server
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                client.create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield client
    server.terminate()
    server.wait(10)
    log.close()


def keys(s3: Any, prefix: str) -> list[str]:
    answer = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in answer.get("Contents", []))


def test_upload_reads_the_vcf_from_s3(sandbox: Any, s3: Any, tmp_path: Path) -> None:
    from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    local = write_vcf(tmp_path / "S1.vcf.gz", 500, compression="gz", seed=21)
    s3.upload_file(str(local), BUCKET, "run-7/S1.vcf.gz")
    project = sandbox_project(sandbox, "s3 uploads")
    op = FabricUploadGenomeOperator(
        task_id="upload",
        project_id=project,
        vcf_path=f"s3://{BUCKET}/run-7/S1.vcf.gz",
        genome_label="S1",
        genome_sex="male",
        external_id="LAB-S3-1",
    )
    genome_id = op.execute({"ti": RecordingTI()})
    (genome,) = [g for g in sandbox.state()["genomes"] if g["id"] == genome_id]
    assert genome["checksum"] == hashlib.md5(local.read_bytes()).hexdigest()  # noqa: S324 - Fabric's checksum
    assert genome["format"] == "vcf.gz" and genome["size"] == local.stat().st_size
    # A retry finds the genome the first try made, from the same s3:// file.
    assert op.execute({"ti": RecordingTI()}) == genome_id


def test_exports_land_whole_in_s3(sandbox: Any, s3: Any, tmp_path: Path, wait: Callable[..., Any]) -> None:
    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.operators.exports import (
        FabricExportReportPdfOperator,
        FabricExportVariantsOperator,
    )
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    hook = FabricHook()
    vcf = write_vcf(tmp_path / "P1.vcf", 300, seed=22)
    genome = hook.upload_genome(
        sandbox_project(sandbox, "s3 exports"), vcf, genome_label="P1", genome_sex="female"
    )
    wait(lambda: hook.get_genome(genome["genome_id"])["status"], lambda s: s == "ANNOTATED", timeout=120)
    report = hook.create_panel_report(
        proband_genome_id=genome["genome_id"], panel_id=101, accession_id="S3-A1"
    )
    wait(lambda: hook.get_report(report["id"])["status"], lambda s: s == "READY TO REVIEW", timeout=120)

    destination = f"s3://{BUCKET}/exports/{report['id']}/variants.vcf"
    result = FabricExportVariantsOperator(
        task_id="export", report_id=report["id"], destination=destination, format="vcf"
    ).execute({"ti": RecordingTI()})
    FabricExportReportPdfOperator(
        task_id="pdf",
        report_id=report["id"],
        destination=f"s3://{BUCKET}/exports/{report['id']}/preview.pdf",
        preview=True,
    ).execute({"ti": RecordingTI()})

    with hook.get_variants(report["id"], format="VCF") as answer:
        expected = answer.content
    stored = s3.get_object(Bucket=BUCKET, Key=f"exports/{report['id']}/variants.vcf")["Body"].read()
    assert stored == expected and result["variant_count"] == 300
    pdf = s3.get_object(Bucket=BUCKET, Key=f"exports/{report['id']}/preview.pdf")["Body"].read()
    assert pdf.startswith(b"%PDF-")
    # Only the finished objects: no temporary object is left beside them.
    assert keys(s3, f"exports/{report['id']}/") == [
        f"exports/{report['id']}/preview.pdf",
        f"exports/{report['id']}/variants.vcf",
    ]


def test_an_intake_plans_a_landing_area_on_s3_and_skips_what_it_uploaded(
    sandbox: Any, s3: Any, tmp_path: Path
) -> None:
    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.intake import plan_intake, upload_arguments
    from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator
    from airflow_provider_fabric.testing.intake import build_demo_landing

    folder = Path(build_demo_landing(str(tmp_path / "landing"), "run-0001", bad=False, records=30, seed=31))
    for path in sorted(folder.iterdir()):
        s3.upload_file(str(path), BUCKET, f"landing/run-0001/{path.name}")
    s3.put_object(Bucket=BUCKET, Key="landing/run-0002/panel.vcf.gz", Body=b"still being copied")
    s3.put_object(Bucket=BUCKET, Key="landing/.trash/manifest.csv", Body=b"file\n")
    project, landing = sandbox_project(sandbox, "s3 intake"), f"s3://{BUCKET}/landing"

    first = plan_intake(FabricHook(), project, landing, accession_prefix="S3-")
    assert first.runs == ["run-0001"], "a run folder without its manifest, or a hidden one, is not taken in"
    names = ("panel", "proband", "mother", "father")
    assert [s.vcf_path for s in first.to_upload] == [f"{landing}/run-0001/{name}.vcf.gz" for name in names]
    assert [(c.report_type, c.accession_id) for c in first.cases] == [
        ("panel", "S3-LAB-RUN0001-panel"),
        ("Trio", "S3-FAM-RUN0001"),
    ]

    # The DAG's mapped upload of the panel sample, straight from S3.
    panel = first.to_upload[0]
    upload = FabricUploadGenomeOperator(
        task_id="upload", project_id=project, **upload_arguments(panel.to_dict())
    )
    genome_id = upload.execute({"ti": RecordingTI()})

    again = plan_intake(FabricHook(), project, landing, accession_prefix="S3-")
    assert again.uploaded == {panel.key: genome_id}, "found by external ID and the checksum of the S3 object"
    assert again.to_upload == first.to_upload[1:] and again.cases == first.cases


def sandbox_project(sandbox: Any, name: str) -> int:
    from airflow_provider_fabric.hooks.fabric import FabricHook

    return int(FabricHook().create_project(f"{name} {time.monotonic_ns()}")["id"])
