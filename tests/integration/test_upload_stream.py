"""Checks inside the upload stream, against the real sandbox over HTTPS.

A truncated or corrupt archive, or bytes that do not match their declared MD5,
are found while the file is being sent: the client aborts the request before
its last byte, the server sees a body that never completes, and no genome is
created. Compressed uploads are deterministic, so a retry finds the first
try's genome.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tisupport import RecordingTI

from airflow_provider_fabric.exceptions import FabricChecksumError, FabricServerError
from airflow_provider_fabric.hooks.fabric import FabricHook
from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator
from airflow_provider_fabric.testing.vcfgen import write_vcf
from airflow_provider_fabric.upload import CHUNK, upload_checksum
from airflow_provider_fabric.vcf import VcfValidationError

_serial = itertools.count(1)


@pytest.fixture(scope="module")
def big_gz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~7 MB gzip VCF: several chunks, so the checks run while earlier chunks are on the wire."""
    return write_vcf(tmp_path_factory.mktemp("stream") / "big.vcf.gz", 400_000, compression="gz")


@pytest.fixture
def project_id(sandbox: Any) -> int:
    return int(FabricHook().create_project(f"stream-{next(_serial)}")["id"])


def upload_op(project: int, path: Path, external_id: str, **kwargs: Any) -> FabricUploadGenomeOperator:
    return FabricUploadGenomeOperator(
        task_id="upload",
        project_id=project,
        vcf_path=str(path),
        genome_label=f"label-{external_id}",
        genome_sex="female",
        external_id=external_id,
        **kwargs,
    )


def genomes_in(sandbox: Any, project: int) -> list[dict[str, Any]]:
    return [g for g in sandbox.state()["genomes"] if g["project_id"] == project]


def server_finished_upload(sandbox: Any, project: int, wait: Callable[..., Any]) -> str:
    """Wait until the sandbox has finished handling the upload request; return its answer's status."""
    pattern = re.compile(rf"^PUT /projects/{project}/genomes (\d{{3}}) ", re.M)
    log = wait(lambda: sandbox.log_tail(400), lambda text: pattern.search(text) is not None)
    return pattern.findall(log)[-1]


def assert_nothing_left(sandbox: Any, project: int, wait: Callable[..., Any]) -> None:
    # The server did get the request (it was recorded) and part of its body...
    assert any(
        r["method"] == "PUT" and r["url"].startswith(f"/projects/{project}/genomes?")
        for r in sandbox.requests_seen()
    )
    # ...and, once it gave up on the body, it answered 400 to nobody, kept no partial file,
    # and created no genome.
    assert server_finished_upload(sandbox, project, wait) == "400"
    assert list((sandbox.data_dir / "genomes").glob("upload-*.part")) == []
    assert genomes_in(sandbox, project) == []


def _cut(big: Path, out: Path) -> Path:
    data = big.read_bytes()
    out.write_bytes(data[: len(data) - 1000])
    return out


def _corrupt(big: Path, out: Path) -> Path:
    data = bytearray(big.read_bytes())
    at = 4 * CHUNK + 4321  # several chunks in: they are on the wire when this one is checked
    data[at : at + 64] = b"\xff" * 64  # an invalid deflate block
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize(
    ("damage", "reason"), [(_cut, "truncated"), (_corrupt, "corrupt")], ids=["truncated", "corrupt"]
)
@pytest.mark.parametrize("checksum", [True, False], ids=["md5-pass", "no-md5"])
def test_a_damaged_archive_found_mid_stream_leaves_no_genome(
    sandbox: Any,
    project_id: int,
    big_gz: Path,
    tmp_path: Path,
    wait: Callable[..., Any],
    damage: Callable[[Path, Path], Path],
    reason: str,
    checksum: bool,
):
    path = damage(big_gz, tmp_path / "sample.vcf.gz")
    assert path.stat().st_size > 5 * CHUNK
    with pytest.raises(VcfValidationError) as caught:  # the client's own check, not a server answer
        upload_op(project_id, path, "EXT-damaged", checksum=checksum).execute({"ti": RecordingTI()})
    assert caught.value.reason == reason
    assert_nothing_left(sandbox, project_id, wait)


def test_a_sidecar_mismatch_aborts_with_a_typed_error_and_no_genome(
    sandbox: Any, project_id: int, big_gz: Path, tmp_path: Path, wait: Callable[..., Any]
):
    path = tmp_path / "sample.vcf.gz"
    path.write_bytes(big_gz.read_bytes())
    wrong = hashlib.md5(b"another file").hexdigest()  # noqa: S324 - Fabric's checksum
    (tmp_path / "sample.vcf.gz.md5").write_text(f"{wrong}  sample.vcf.gz\n")
    with pytest.raises(FabricChecksumError) as caught:
        upload_op(project_id, path, "EXT-sidecar").execute({"ti": RecordingTI()})
    assert caught.value.expected == wrong
    assert caught.value.actual == hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324
    assert_nothing_left(sandbox, project_id, wait)


def test_a_correct_sidecar_is_the_checksum_and_finds_the_genome_on_retry(
    sandbox: Any, project_id: int, tmp_path: Path
):
    path = write_vcf(tmp_path / "sample.vcf.gz", 2000, compression="gz")
    md5 = hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324
    (tmp_path / "sample.vcf.gz.md5").write_text(f"{md5}  sample.vcf.gz\n")
    first = upload_op(project_id, path, "EXT-sidecar-ok").execute({"ti": RecordingTI()})
    again = upload_op(project_id, path, "EXT-sidecar-ok").execute({"ti": RecordingTI()})
    assert first == again
    (genome,) = genomes_in(sandbox, project_id)
    assert genome["checksum"] == md5 and genome["variant_count"] == 2000


def test_a_retried_compressed_upload_reuses_the_first_genome(sandbox: Any, project_id: int, tmp_path: Path):
    plain = write_vcf(tmp_path / "sample.vcf", 30_000)
    # The first try's answer is lost after the server stored the genome (a worker crash, a timeout).
    sandbox.set_faults(
        script=["drop"], phase="after", methods=["PUT"], paths=[rf"^/projects/{project_id}/genomes$"]
    )
    try:
        with pytest.raises(FabricServerError):
            upload_op(project_id, plain, "EXT-bgzf", compress=True).execute({"ti": RecordingTI()})
    finally:
        sandbox.clear_faults()
    (stored,) = genomes_in(sandbox, project_id)
    # The retry compresses again, gets the same bytes, and finds that genome instead of uploading.
    again = upload_op(project_id, plain, "EXT-bgzf", compress=True).execute({"ti": RecordingTI()})
    assert again == stored["id"]
    assert len(genomes_in(sandbox, project_id)) == 1
    assert stored["format"] == "vcf.gz" and stored["variant_count"] == 30_000
    assert stored["checksum"] == upload_checksum(plain, compress=True).md5
    # What the server stored is BGZF of the plain file, byte for byte the MD5 that was sent.
    (kept,) = [
        f.read_bytes()
        for f in (sandbox.data_dir / "genomes").glob("*.vcf.gz")
        if hashlib.md5(f.read_bytes()).hexdigest() == stored["checksum"]  # noqa: S324
    ]
    assert gzip.decompress(kept) == plain.read_bytes()
