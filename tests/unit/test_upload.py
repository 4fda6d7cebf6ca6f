"""The upload body: checks inside the stream, the held-back last chunk, BGZF, the checksum pass, sidecars."""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import struct
import threading
from pathlib import Path

import h11
import pytest
import requests

from airflow_provider_fabric.deflate import BGZF_EOF, BLOCK_INPUT, bgzf_chunks
from airflow_provider_fabric.exceptions import FabricChecksumError, FabricInputError
from airflow_provider_fabric.testing.vcfgen import write_vcf
from airflow_provider_fabric.upload import CHUNK, UploadBody, read_md5_sidecar, upload_checksum
from airflow_provider_fabric.vcf import VcfValidationError


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - Fabric's checksum


def drain(body: UploadBody, amount: int = 1 << 16) -> tuple[bytes, BaseException | None]:
    """Read ``body`` as a transport would; return what came out and the error that stopped it."""
    out = bytearray()
    try:
        while chunk := body.read(amount):
            out += chunk
    except Exception as err:
        return bytes(out), err
    finally:
        body.close()
    return bytes(out), None


@pytest.fixture(scope="module")
def big_gz(tmp_path_factory) -> bytes:
    """A multi-chunk gzip VCF (several MiB), so checks happen mid-stream."""
    return write_vcf(tmp_path_factory.mktemp("gz") / "big.vcf.gz", 250_000, compression="gz").read_bytes()


def test_a_good_archive_streams_whole_with_its_md5_verified(big_gz):
    assert len(big_gz) > 3 * CHUNK
    body = UploadBody(io.BytesIO(big_gz), size=len(big_gz), archive_format="vcf.gz", md5=md5(big_gz))
    assert drain(body) == (big_gz, None)
    assert body.sent == len(big_gz)


@pytest.mark.parametrize("amount", [1 << 16, CHUNK, 1 << 22])
def test_a_truncated_archive_never_comes_out_whole(big_gz, amount):
    cut = big_gz[: len(big_gz) - 1000]
    sent, error = drain(UploadBody(io.BytesIO(cut), size=len(cut), archive_format="vcf.gz"), amount)
    assert isinstance(error, VcfValidationError) and error.reason == "truncated"
    # Everything but the last chunk went out: the check ran before the end left.
    assert cut.startswith(sent) and len(cut) - CHUNK <= len(sent) < len(cut)


def test_corruption_mid_stream_stops_before_the_corrupt_chunk(big_gz):
    bad = bytearray(big_gz)
    at = 2 * CHUNK + 1000
    bad[at : at + 64] = b"\xff" * 64  # an invalid deflate block
    sent, error = drain(UploadBody(io.BytesIO(bytes(bad)), size=len(bad), archive_format="vcf.gz"))
    assert isinstance(error, VcfValidationError) and error.reason == "corrupt"
    assert bytes(bad).startswith(sent) and len(sent) <= 2 * CHUNK  # the corrupt chunk never left


def test_an_md5_mismatch_holds_back_the_last_chunk(big_gz):
    sent, error = drain(UploadBody(io.BytesIO(big_gz), size=len(big_gz), md5="0" * 32))
    assert isinstance(error, FabricChecksumError)
    assert error.expected == "0" * 32 and error.actual == md5(big_gz)
    assert len(sent) < len(big_gz)


def test_a_failed_check_fails_every_later_read_too(big_gz):
    cut = big_gz[: len(big_gz) - 1000]
    body = UploadBody(io.BytesIO(cut), size=len(cut), archive_format="vcf.gz")
    try:
        with pytest.raises(VcfValidationError):
            while body.read(1 << 16):
                pass
        for _ in range(3):  # a caller that swallows the error still never sees the end of the body
            with pytest.raises(VcfValidationError):
                body.read(1 << 16)
    finally:
        body.close()


@pytest.mark.parametrize("size_delta", [-1, 1])
def test_a_file_that_changes_size_aborts(big_gz, size_delta):
    sent, error = drain(UploadBody(io.BytesIO(big_gz), size=len(big_gz) + size_delta))
    assert isinstance(error, FabricInputError) and "while it was being uploaded" in str(error)
    assert len(sent) < len(big_gz)


def test_an_empty_body_and_a_closed_body():
    assert drain(UploadBody(io.BytesIO(b""), size=0, md5=md5(b""))) == (b"", None)
    body = UploadBody(io.BytesIO(b"data"), size=4)
    body.close()
    with pytest.raises(ValueError, match="closed"):
        body.read()  # never b"": that would let a chunked sender close the body as complete


# ---------------------------------------------------------------------------- BGZF


def test_bgzf_is_standard_gzip_and_the_same_however_the_input_is_split(tmp_path):
    plain = write_vcf(tmp_path / "a.vcf", 20_000).read_bytes()
    whole = b"".join(bgzf_chunks([plain]))
    assert gzip.decompress(whole) == plain
    for size in (1, 1000, BLOCK_INPUT, BLOCK_INPUT + 1, CHUNK):
        pieces = [plain[i : i + size] for i in range(0, len(plain), size)] if size > 100 else None
        if pieces is None:  # one-byte pieces of a short prefix only (bounded test time)
            prefix = plain[: 3 * BLOCK_INPUT + 7]
            assert b"".join(bgzf_chunks(prefix[i : i + 1] for i in range(len(prefix)))) == b"".join(
                bgzf_chunks([prefix])
            )
            continue
        assert b"".join(bgzf_chunks(pieces)) == whole
    assert whole.endswith(BGZF_EOF)


def test_bgzf_blocks_carry_their_size_as_bgzip_writes_them(tmp_path):
    plain = write_vcf(tmp_path / "a.vcf", 5_000).read_bytes()
    data = b"".join(bgzf_chunks([plain]))
    offset, blocks = 0, 0
    while offset < len(data):
        magic, flags, xlen, si, slen, bsize = struct.unpack_from("<HxB6xH2sHH", data, offset)
        assert (magic, flags, xlen, si, slen) == (0x8B1F, 4, 6, b"BC", 2)
        offset += bsize + 1
        blocks += 1
    assert offset == len(data) and blocks == -(-len(plain) // BLOCK_INPUT) + 1  # + the EOF block


def test_bgzf_is_the_same_in_another_process(tmp_path):
    """A retry runs in a new process, maybe on another worker: it must produce the same bytes.

    (ISA-L's compressor, tried first, gave different bytes in different processes.)
    """
    import subprocess
    import sys

    plain = write_vcf(tmp_path / "a.vcf", target_bytes=40_000_000)
    code = (
        "import hashlib, sys\n"
        "from airflow_provider_fabric.deflate import bgzf_chunks\n"
        "h = hashlib.md5()\n"
        "with open(sys.argv[1], 'rb') as f:\n"
        "    for c in bgzf_chunks(iter(lambda: f.read(1 << 20), b'')): h.update(c)\n"
        "print(h.hexdigest())\n"
    )
    digests = {
        subprocess.run(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", code, str(plain)], capture_output=True, text=True, check=True, timeout=300
        ).stdout.strip()
        for _ in range(3)
    }
    assert digests == {upload_checksum(plain, compress=True).md5}


def test_incompressible_input_still_fits_a_block():
    noise = hashlib.shake_256(b"seed").digest(3 * BLOCK_INPUT)
    data = b"".join(bgzf_chunks([noise]))
    assert gzip.decompress(data) == noise


# ---------------------------------------------------------------------------- checksum pass


@pytest.mark.parametrize("compress", [False, True])
def test_the_checksum_pass_hashes_exactly_the_bytes_the_body_sends(tmp_path, compress):
    path = write_vcf(tmp_path / "a.vcf", 30_000)
    checksum = upload_checksum(path, compress=compress)
    with path.open("rb") as handle:
        sent, error = drain(UploadBody(handle, size=checksum.size, compress=compress, md5=checksum.md5))
    assert error is None and (md5(sent), len(sent)) == checksum
    assert (gzip.decompress(sent) if compress else sent) == path.read_bytes()


def test_compression_verifies_the_declared_md5_of_the_plain_file(tmp_path):
    path = write_vcf(tmp_path / "a.vcf", 30_000)
    good = md5(path.read_bytes())
    with path.open("rb") as handle:
        assert drain(UploadBody(handle, compress=True, file_md5=good))[1] is None
    with path.open("rb") as handle:
        sent, error = drain(UploadBody(handle, compress=True, file_md5="f" * 32))
    assert isinstance(error, FabricChecksumError) and error.actual == good
    assert not sent.endswith(BGZF_EOF)


# ---------------------------------------------------------------------------- sidecars


@pytest.mark.parametrize(
    "text",
    [
        "{md5}  sample.vcf.gz\n",
        "{MD5} *sample.vcf.gz\n",
        "{md5}  /data/run7/sample.vcf.gz\n",
        "MD5 (sample.vcf.gz) = {md5}\n",
        "{md5}\n",
        "# made by the pipeline\n{other}  other.vcf.gz\n{md5}  sample.vcf.gz\n",
    ],
)
def test_md5_sidecars_in_the_forms_pipelines_write(tmp_path, text):
    digest, other = "0123456789abcdef" * 2, "f" * 32
    (tmp_path / "sample.vcf.gz.md5").write_text(text.format(md5=digest, MD5=digest.upper(), other=other))
    assert read_md5_sidecar(tmp_path / "sample.vcf.gz") == digest
    assert read_md5_sidecar(f"file://{tmp_path}/sample.vcf.gz") == digest


def test_no_sidecar_and_bad_sidecars(tmp_path):
    assert read_md5_sidecar(tmp_path / "sample.vcf.gz") is None
    sidecar = tmp_path / "sample.vcf.gz.md5"
    for text, message in [
        ("not a digest\n", "not md5sum output"),
        (f"{'a' * 32}  other.vcf.gz\n", "no MD5 for it"),
        (f"{'a' * 32}  sample.vcf.gz\n{'b' * 32}  sample.vcf.gz\n", "more than one"),
    ]:
        sidecar.write_text(text)
        with pytest.raises(FabricInputError, match=message) as info:
            read_md5_sidecar(tmp_path / "sample.vcf.gz")
        assert "sample" not in str(info.value)  # file names can hold sample IDs (PHI)


# ---------------------------------------------------------------------------- on the wire


def capture_one_request(body: UploadBody) -> tuple[bytes, BaseException]:
    """Send ``body`` with requests to a socket that records every byte; return them and the client's error."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)
    received = bytearray()

    def record() -> None:
        conn, _ = listener.accept()
        conn.settimeout(30)
        with conn:
            while data := conn.recv(1 << 16):
                received.extend(data)

    thread = threading.Thread(target=record)
    thread.start()
    try:
        with pytest.raises(Exception) as caught:
            requests.put(
                f"http://127.0.0.1:{listener.getsockname()[1]}/projects/1/genomes", data=body, timeout=30
            )
    finally:
        body.close()
        thread.join(30)
        listener.close()
    return bytes(received), caught.value


def http_events(wire: bytes) -> list[object]:
    """What an independent HTTP/1.1 server parser (h11) makes of these bytes followed by EOF."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(wire)
    conn.receive_data(b"")
    events: list[object] = []
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as err:
            events.append(err)
            return events
        if event in (h11.NEED_DATA, h11.PAUSED) or isinstance(event, h11.ConnectionClosed):
            return events
        events.append(event)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_aborted_upload_is_never_a_complete_http_request(big_gz, framing):
    cut = big_gz[: len(big_gz) - 1000]
    size = len(cut) if framing == "content-length" else None
    wire, error = capture_one_request(UploadBody(io.BytesIO(cut), size=size, archive_format="vcf.gz"))
    assert isinstance(error, VcfValidationError) and error.reason == "truncated"
    events = http_events(wire)
    request = events[0]
    assert isinstance(request, h11.Request) and request.method == b"PUT"
    headers = dict(request.headers)
    assert (b"content-length" in headers) == (framing == "content-length")
    assert not any(isinstance(event, h11.EndOfMessage) for event in events)
    assert isinstance(events[-1], h11.RemoteProtocolError)  # "peer closed ... without complete body"
    data = b"".join(bytes(event.data) for event in events if isinstance(event, h11.Data))
    assert len(data) > 0 and cut.startswith(data) and len(data) < len(cut)


def test_a_good_upload_is_one_complete_request(big_gz):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)
    parsed: list[object] = []

    def serve() -> None:
        conn, _ = listener.accept()
        server = h11.Connection(h11.SERVER)
        with conn:
            conn.settimeout(30)
            while not parsed or not isinstance(parsed[-1], h11.EndOfMessage):
                event = server.next_event()
                if event is h11.NEED_DATA:
                    server.receive_data(conn.recv(1 << 16))
                    continue
                parsed.append(event)
            answer = b'{"genome_id": 1}'
            conn.sendall(
                server.send(h11.Response(status_code=200, headers=[("Content-Length", str(len(answer)))]))
            )
            conn.sendall(server.send(h11.Data(data=answer)) + server.send(h11.EndOfMessage()))

    thread = threading.Thread(target=serve)
    thread.start()
    body = UploadBody(io.BytesIO(big_gz), size=len(big_gz), archive_format="vcf.gz", md5=md5(big_gz))
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/projects/1/genomes"
        assert requests.put(url, data=body, timeout=30).json() == {"genome_id": 1}
    finally:
        body.close()
        thread.join(30)
        listener.close()
    data = b"".join(bytes(event.data) for event in parsed if isinstance(event, h11.Data))
    assert data == big_gz and isinstance(parsed[-1], h11.EndOfMessage)


def test_checksum_pass_reads_object_storage_urls(tmp_path: Path):
    path = write_vcf(tmp_path / "a.vcf.gz", 500, compression="gz")
    assert upload_checksum(f"file://{path}") == (md5(path.read_bytes()), path.stat().st_size)
