"""FabricUploadGenomeOperator: checks before sending, MD5, retry-safe reuse, progress without PHI."""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from tisupport import RecordingTI

from airflow_provider_fabric.exceptions import FabricChecksumError, FabricInputError
from airflow_provider_fabric.links import GENOME_URL_KEY
from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator
from airflow_provider_fabric.testing.vcfgen import write_vcf
from airflow_provider_fabric.vcf import VcfValidationError

BASE = "https://fabric.test"
LABEL = "PHI-LABEL-Doe-Jane"
EXTERNAL = "PHI-EXT-MRN-4711"
SAMPLE = "PHI-SAMPLE-JDOE"


@pytest.fixture
def vcf_gz(tmp_path: Path) -> Path:
    return write_vcf(tmp_path / "sample.vcf.gz", 300, compression="gz", sample=SAMPLE)


def upload_op(path, **kwargs) -> FabricUploadGenomeOperator:
    args = {
        "task_id": "upload",
        "project_id": "5",
        "vcf_path": path,
        "genome_label": LABEL,
        "genome_sex": "female",
        "external_id": EXTERNAL,
    }
    args.update(kwargs)
    return FabricUploadGenomeOperator(**args)


def query(request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query)


def test_upload_streams_the_file_with_its_md5_and_returns_the_genome_id(fabric_conn, requests_mock, vcf_gz):
    requests_mock.get(f"{BASE}/projects/5/genomes", json={"objects": []})
    put = requests_mock.put(f"{BASE}/projects/5/genomes", json={"genome_id": 77})
    ti = RecordingTI()
    assert upload_op(str(vcf_gz)).execute({"ti": ti}) == 77
    data = vcf_gz.read_bytes()
    sent = put.last_request
    assert sent.body is not None
    params = query(sent)
    assert params["checksum"] == [hashlib.md5(data).hexdigest()]
    assert params["format"] == ["vcf.gz"]
    assert params["genome_sex"] == ["female"] and params["assembly_version"] == ["hg19"]
    assert ti.pushed == {GENOME_URL_KEY: "https://ui.fabric.test/genomes/77"}


def test_file_url_and_format_by_content_not_name(fabric_conn, requests_mock, tmp_path):
    misnamed = tmp_path / "sample.txt"
    misnamed.write_bytes(write_vcf(tmp_path / "x.vcf.bz2", 50, compression="bz2").read_bytes())
    requests_mock.get(f"{BASE}/projects/5/genomes", json={"objects": []})
    put = requests_mock.put(f"{BASE}/projects/5/genomes", json={"genome_id": 78})
    assert upload_op(f"file://{misnamed}").execute({"ti": RecordingTI()}) == 78
    assert query(put.last_request)["format"] == ["vcf.bz2"]


def test_retry_reuses_the_earlier_genome_with_same_checksum_and_external_id(
    fabric_conn, requests_mock, vcf_gz
):
    md5 = hashlib.md5(vcf_gz.read_bytes()).hexdigest()
    listing = requests_mock.get(
        f"{BASE}/projects/5/genomes",
        json={
            "objects": [
                {"id": 60, "external_id": EXTERNAL, "checksum": "0" * 32, "status": "ANNOTATED"},
                {"id": 61, "external_id": EXTERNAL + "-2", "checksum": md5, "status": "ANNOTATED"},
                {"id": 62, "external_id": EXTERNAL, "checksum": md5, "status": "FAILED"},
                {"id": 63, "external_id": EXTERNAL, "checksum": md5.upper(), "status": "ANNOTATING"},
            ]
        },
    )
    put = requests_mock.put(f"{BASE}/projects/5/genomes", json={"genome_id": 99})
    ti = RecordingTI()
    assert upload_op(vcf_gz).execute({"ti": ti}) == 63
    assert put.call_count == 0
    assert f"external_id={EXTERNAL}" in listing.last_request.headers["X-fg-safe-params"]
    assert EXTERNAL not in listing.last_request.url
    assert ti.pushed == {GENOME_URL_KEY: "https://ui.fabric.test/genomes/63"}


def test_no_match_uploads_again(fabric_conn, requests_mock, vcf_gz):
    md5 = hashlib.md5(vcf_gz.read_bytes()).hexdigest()
    requests_mock.get(
        f"{BASE}/projects/5/genomes",
        json={"objects": [{"id": 62, "external_id": EXTERNAL, "checksum": md5, "status": "FAILED"}]},
    )
    put = requests_mock.put(f"{BASE}/projects/5/genomes", json={"genome_id": 64})
    assert upload_op(vcf_gz).execute({"ti": RecordingTI()}) == 64
    assert put.call_count == 1


def test_without_external_id_or_checksum_there_is_no_lookup(fabric_conn, requests_mock, vcf_gz):
    listing = requests_mock.get(f"{BASE}/projects/5/genomes", json={"objects": []})
    put = requests_mock.put(f"{BASE}/projects/5/genomes", json={"genome_id": 70})
    upload_op(vcf_gz, external_id=None).execute({"ti": RecordingTI()})
    upload_op(vcf_gz, checksum=False).execute({"ti": RecordingTI()})
    assert listing.call_count == 0 and put.call_count == 2
    assert "checksum" not in query(put.last_request)


@pytest.mark.parametrize(
    ("make", "kwargs", "message"),
    [
        (lambda d: write_vcf(d / "a.vcf.gz", 50, build="GRCh38", compression="gz"), {}, "GRCh38"),
        (lambda d: write_vcf(d / "a.vcf", 50, samples=("S1", "S2")), {}, "sample"),
        (lambda d: _write(d / "a.vcf", b"%PDF-1.4\n%binary\n"), {}, "not a VCF"),
        (lambda d: _write(d / "a.vcf", b"##fileformat=VCFv3.3\n#CHROM\tPOS\n"), {}, "4.0"),
    ],
    ids=["grch38", "multi-sample-for-report", "pdf", "old-vcf"],
)
def test_bad_files_are_refused_before_anything_is_sent(
    fabric_conn, requests_mock, tmp_path, make, kwargs, message
):
    path = make(tmp_path)
    with pytest.raises(VcfValidationError, match=message):
        upload_op(path, **kwargs).execute({"ti": RecordingTI()})
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    ("make", "kwargs", "error", "message"),
    [
        (lambda d: _truncated(d), {}, VcfValidationError, "truncated"),
        (lambda d: _truncated(d), {"checksum": False}, VcfValidationError, "truncated"),
        (lambda d: _corrupted(d), {}, VcfValidationError, "corrupt gzip"),
        (lambda d: _with_sidecar(d, "0" * 32), {}, FabricChecksumError, "MD5 mismatch"),
        (lambda d: _with_sidecar(d, None), {"md5": "0" * 32}, FabricChecksumError, "MD5 mismatch"),
    ],
    ids=["truncated-gzip", "truncated-gzip-no-md5", "corrupt-gzip", "sidecar-mismatch", "argument-mismatch"],
)
def test_bad_archives_abort_the_upload_before_its_last_byte(
    fabric_conn, requests_mock, tmp_path, make, kwargs, error, message
):
    path = make(tmp_path)
    requests_mock.get(f"{BASE}/projects/5/genomes", json={"objects": []})
    received = []

    def consume_like_a_socket(request, context):
        while chunk := request.body.read(1 << 16):
            received.append(chunk)
        return {"genome_id": 1}

    requests_mock.put(f"{BASE}/projects/5/genomes", json=consume_like_a_socket)
    with pytest.raises(error, match=message):
        upload_op(path, **kwargs).execute({"ti": RecordingTI()})
    # The transport got a strict prefix of the file: the request body never completed.
    sent = b"".join(received)
    assert len(sent) < path.stat().st_size and path.read_bytes().startswith(sent)


def test_declared_md5_needs_no_pass_and_finds_the_earlier_genome(fabric_conn, requests_mock, tmp_path):
    path = write_vcf(tmp_path / "sample.vcf.gz", 300, compression="gz")
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    (tmp_path / "sample.vcf.gz.md5").write_text(f"{md5.upper()}  results/sample.vcf.gz\n")
    requests_mock.get(
        f"{BASE}/projects/5/genomes",
        json={"objects": [{"id": 90, "external_id": EXTERNAL, "checksum": md5, "status": "ANNOTATED"}]},
    )
    put = requests_mock.put(f"{BASE}/projects/5/genomes", json={"genome_id": 91})
    assert upload_op(path).execute({"ti": RecordingTI()}) == 90
    assert put.call_count == 0


def test_compressed_upload_sends_the_md5_of_the_bgzf_bytes(fabric_conn, requests_mock, tmp_path):
    path = write_vcf(tmp_path / "sample.vcf", 3000)
    requests_mock.get(f"{BASE}/projects/5/genomes", json={"objects": []})
    received = []

    def consume_like_a_socket(request, context):
        while chunk := request.body.read(1 << 16):
            received.append(chunk)
        return {"genome_id": 92}

    put = requests_mock.put(f"{BASE}/projects/5/genomes", json=consume_like_a_socket)
    assert upload_op(path, compress=True).execute({"ti": RecordingTI()}) == 92
    sent = b"".join(received)
    params = query(put.last_request)
    assert params["format"] == ["vcf.gz"]
    assert params["checksum"] == [hashlib.md5(sent).hexdigest()]
    assert gzip.decompress(sent) == path.read_bytes()
    assert put.last_request.headers["Content-Length"] == str(len(sent))


def task_log(caplog, capsys) -> str:
    """Operator logs go through Airflow's structured logging (stdout); the hook's through logging."""
    return caplog.text + capsys.readouterr().out


def test_multi_sample_warns_when_not_for_a_report(fabric_conn, requests_mock, tmp_path, caplog, capsys):
    path = write_vcf(tmp_path / "a.vcf", 50, samples=("S1", "S2"))
    requests_mock.get(f"{BASE}/projects/5/genomes", json={"objects": []})
    requests_mock.put(f"{BASE}/projects/5/genomes", json={"genome_id": 71})
    with caplog.at_level(logging.INFO):
        assert upload_op(path, for_report=False).execute({"ti": RecordingTI()}) == 71
    assert "2 sample columns" in task_log(caplog, capsys)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"project_id": "five"}, "project_id must be an integer"),
        ({"genome_sex": "x"}, "genome_sex"),
        ({"assembly_version": "hg38"}, "hg19"),
        ({"genome_label": ""}, "genome_label is required"),
        ({"vcf_path": "/nonexistent/dir/a.vcf"}, "does not exist"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_sent(
    fabric_conn, requests_mock, vcf_gz, kwargs, message
):
    with pytest.raises(FabricInputError, match=message):
        upload_op(vcf_gz, **kwargs).execute({"ti": RecordingTI()})
    assert requests_mock.call_count == 0


def test_logs_give_progress_and_throughput_but_no_phi(fabric_conn, requests_mock, tmp_path, caplog, capsys):
    path = write_vcf(tmp_path / f"{SAMPLE}.vcf.gz", 3000, compression="gz", sample=SAMPLE)
    requests_mock.get(f"{BASE}/projects/5/genomes", json={"objects": []})

    def consume_like_a_socket(request, context):
        while request.body.read(8192):
            pass
        return {"genome_id": 72}

    requests_mock.put(f"{BASE}/projects/5/genomes", json=consume_like_a_socket)
    with caplog.at_level(logging.INFO):  # what a task log shows
        upload_op(path, progress_interval=0).execute({"ti": RecordingTI()})
    text = task_log(caplog, capsys)
    assert "Uploaded genome 72 into project 5" in text and "MB/s" in text
    assert re.search(r"Uploaded [\d.]+ kB of [\d.]+ kB \(\d+%\) at [\d.]+ MB/s", text)
    for phi in (LABEL, EXTERNAL, SAMPLE):
        assert phi not in text


def test_errors_carry_no_phi(fabric_conn, requests_mock, tmp_path):
    path = write_vcf(tmp_path / f"{SAMPLE}.vcf", 50, samples=(SAMPLE, SAMPLE + "-2"))
    with pytest.raises(VcfValidationError) as info:
        upload_op(path).execute({"ti": RecordingTI()})
    assert SAMPLE not in str(info.value)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _corrupted(directory: Path) -> Path:
    data = bytearray(write_vcf(directory / "full.vcf.gz", 20000, compression="gz").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64  # an invalid deflate block
    return _write(directory / "bad.vcf.gz", bytes(data))


def _with_sidecar(directory: Path, md5: str | None) -> Path:
    path = write_vcf(directory / "sample.vcf.gz", 20000, compression="gz")
    if md5 is not None:
        (directory / "sample.vcf.gz.md5").write_text(f"{md5}  sample.vcf.gz\n")
    return path


def _truncated(directory: Path) -> Path:
    full = write_vcf(directory / "full.vcf.gz", 20000, compression="gz").read_bytes()
    return _write(directory / "cut.vcf.gz", full[: len(full) * 3 // 4])


def test_vcf_path_renders_from_a_template_and_accepts_an_object_storage_path(
    fabric_conn, requests_mock, vcf_gz
):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    op = upload_op("{{ params.folder }}/sample.vcf.gz", project_id="{{ params.project }}")
    op.render_template_fields({"params": {"folder": f"file://{vcf_gz.parent}", "project": 5}})
    assert op.vcf_path == f"file://{vcf_gz}" and op.project_id == "5"
    requests_mock.get(f"{BASE}/projects/5/genomes", json={"objects": []})
    requests_mock.put(f"{BASE}/projects/5/genomes", json={"genome_id": 80})
    assert op.execute({"ti": RecordingTI()}) == 80
    as_object = upload_op(ObjectStoragePath(f"file://{vcf_gz}"))
    as_object.render_template_fields({})
    assert as_object.execute({"ti": RecordingTI()}) == 80
