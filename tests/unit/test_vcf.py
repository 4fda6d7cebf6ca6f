"""VCF sniffing and streaming validation: what a lab relies on before an upload starts.

Every input here is generated (``vcfgen``) or a small inline string: no real data.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import io
import json
import os
import random
import struct
import subprocess
import sys
import textwrap
import threading
import zlib
from pathlib import Path

import pytest

from airflow_provider_fabric.exceptions import FabricInputError
from airflow_provider_fabric.testing.vcfgen import write_vcf
from airflow_provider_fabric.vcf import (
    GRCH37_LENGTHS,
    GRCH38_LENGTHS,
    StreamChecker,
    VcfInfo,
    VcfRecord,
    VcfValidationError,
    check_stream,
    detect_format,
    inspect_vcf,
    iter_records,
    open_vcf_text,
)

COLUMNS = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"


def vcf_text(
    records: list[str] | None = None,
    *,
    header: list[str] | None = None,
    samples: tuple[str, ...] = ("S1",),
    fileformat: str = "VCFv4.2",
) -> str:
    """A small VCF; records are given with spaces for readability and turned into tabs."""
    if records is None:
        records = ["1 10000 . A G 50 PASS DP=10 GT 0/1"]
    cols = COLUMNS + ("\tFORMAT\t" + "\t".join(samples) if samples else "")
    lines = [f"##fileformat={fileformat}", *(header or []), cols]
    lines += ["\t".join(r.split(" ")) for r in records]
    return "\n".join(lines) + "\n"


def inspect_bytes(data: bytes, name: str | None = None, **kwargs: object) -> VcfInfo:
    return inspect_vcf(io.BytesIO(data), name, **kwargs)  # type: ignore[arg-type]


def inspect_path(path: Path, **kwargs: object) -> VcfInfo:
    with open(path, "rb") as f:
        return inspect_vcf(f, path.name, **kwargs)  # type: ignore[arg-type]


def rejected(data: bytes, name: str | None = None, **kwargs: object) -> VcfValidationError:
    with pytest.raises(VcfValidationError) as info:
        inspect_bytes(data, name, **kwargs)
    return info.value


def check_bytes(data: bytes, fmt: str, **kwargs: object) -> str | None:
    return check_stream(io.BytesIO(data), fmt, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# accepted files


def test_generated_grch37_vcf_is_accepted_with_contig_evidence(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "s.vcf", 2000, sample="SAMPLE1")
    info = inspect_path(path, for_report=True)
    assert info.format == "vcf"
    assert info.fileformat == "VCFv4.2"
    assert info.samples == ("SAMPLE1",)
    assert info.sample_count == 1
    assert info.build == "GRCh37"
    assert "##contig 1 length=249250621 (GRCh37)" in info.build_evidence
    assert info.chr_prefix is False
    assert info.records_sampled == 1000  # bounded by max_records, not the file


def test_hg19_chr_prefixed_vcf_is_accepted(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "s.vcf", 50, chr_prefix=True)
    info = inspect_path(path)
    assert info.chr_prefix is True
    assert "##contig chr1 length=249250621 (GRCh37)" in info.build_evidence
    assert "hg19" in info.build_evidence
    assert info.records_sampled == 50


@pytest.mark.parametrize(("compression", "fmt"), [("gz", "vcf.gz"), ("bz2", "vcf.bz2")])
def test_compressed_vcfs_are_accepted(tmp_path: Path, compression: str, fmt: str) -> None:
    path = write_vcf(tmp_path / f"s.{fmt}", 300, compression=compression)
    info = inspect_path(path, for_report=True)
    assert info.format == fmt
    assert info.records_sampled == 300
    with open(path, "rb") as f:
        assert check_stream(f, fmt) == hashlib.md5(path.read_bytes()).hexdigest()


def test_no_build_evidence_assumes_grch37_and_says_so() -> None:
    info = inspect_bytes(vcf_text().encode())
    assert info.build == "GRCh37"
    assert info.build_evidence == "no build evidence; assumed GRCh37"


@pytest.mark.parametrize("fileformat", ["VCFv4.0", "VCFv4.1", "VCFv4.3", "VCFv4.4"])
def test_vcf_4x_versions_are_accepted(fileformat: str) -> None:
    assert inspect_bytes(vcf_text(fileformat=fileformat).encode()).fileformat == fileformat


def test_windows_line_endings_are_accepted(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "crlf.vcf", 20, line_ending="\r\n", sample="SAMPLE1")
    assert b"\r\n" in path.read_bytes()
    info = inspect_path(path, for_report=True)
    assert info.samples == ("SAMPLE1",)  # no stray \r in the last column
    assert info.records_sampled == 20
    with open(path, "rb") as f, open_vcf_text(f, "vcf") as text:
        recs = list(iter_records(text))
    assert len(recs) == 20
    assert all(not r.line.endswith("\r") and r.fields[-1][-1] != "\r" for r in recs)


def test_sites_only_vcf_is_accepted_but_not_for_a_report(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "sites.vcf", 20, samples=())
    info = inspect_path(path)
    assert info.samples == ()
    with pytest.raises(VcfValidationError, match="sites-only VCF.*exactly one sample"):
        inspect_path(path, for_report=True)


def test_multi_sample_vcf_passes_inspection_but_is_refused_for_a_report(tmp_path: Path) -> None:
    names = ("FAKEKID_A", "FAKEMUM_B", "FAKEDAD_C")
    path = write_vcf(tmp_path / "multi.vcf", 20, samples=names)
    info = inspect_path(path)
    assert info.samples == names
    assert "FAKEKID_A" not in repr(info)  # sample names are PHI: kept out of logs of the info object
    with pytest.raises(VcfValidationError) as err:
        inspect_path(path, for_report=True)
    message = str(err.value)
    assert "multi-sample VCF (3 samples)" in message
    assert "cannot be used for a report" in message
    assert not any(n in message for n in names)
    assert err.value.reason == "samples"


def test_validation_error_is_a_fabric_input_error() -> None:
    err = rejected(b"")
    assert isinstance(err, FabricInputError)
    assert isinstance(err, ValueError)


# ---------------------------------------------------------------------------
# genome build


def test_grch38_by_contig_length_is_refused_naming_the_evidence(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "b38.vcf", 20, build="GRCh38", reference_line=False, chr_prefix=True)
    with pytest.raises(VcfValidationError) as err:
        inspect_path(path)
    assert "##contig chr1 length=248956422 matches GRCh38, not GRCh37/hg19" in str(err.value)
    assert err.value.reason == "build"


def test_grch38_by_reference_line_is_refused(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "b38.vcf", 20, build="GRCh38", with_contigs=False)
    with pytest.raises(VcfValidationError, match="##reference names GRCh38, not GRCh37/hg19"):
        inspect_path(path)


@pytest.mark.parametrize(
    "reference",
    [
        "hg38",
        "GRCh38",
        "file:///refs/GRCh38_no_alt_analysis_set.fa",
        "GCA_000001405.15_GRCh38_no_alt_analysis_set",
        "/data/hs38DH.fa",
        "Homo_sapiens_assembly38.fasta",
        "hg18",
        "chm13v2.0",
    ],
)
def test_non_grch37_reference_names_are_refused(reference: str) -> None:
    err = rejected(vcf_text(header=[f"##reference={reference}"]).encode())
    assert "##reference names" in str(err)
    assert "not GRCh37/hg19" in str(err)
    assert "/refs/" not in str(err)  # only the matched name is quoted, not paths


@pytest.mark.parametrize(
    "reference",
    [
        "GRCh37",
        "hg19",
        "file:///refs/ucsc.hg19.fasta",
        "b37",
        "/ref/hs37d5.fa.gz",
        "human_g1k_v37.fasta",
        "GCA_000001405.14",
        "Homo_sapiens_assembly19.fasta",
    ],
)
def test_grch37_reference_names_are_accepted(reference: str) -> None:
    info = inspect_bytes(vcf_text(header=[f"##reference={reference}"]).encode())
    assert info.build == "GRCh37"
    assert "##reference names" in info.build_evidence


def test_assembly_in_contig_lines_counts_as_evidence() -> None:
    err = rejected(vcf_text(header=["##contig=<ID=1,assembly=GRCh38>"]).encode())
    assert "##contig 1 assembly=GRCh38, not GRCh37/hg19" in str(err)
    info = inspect_bytes(vcf_text(header=["##contig=<ID=1,assembly=b37>"]).encode())
    assert "assembly=b37" in info.build_evidence


@pytest.mark.parametrize("chrom", ["17", "chr17"])
def test_record_position_beyond_grch37_length_is_refused(chrom: str) -> None:
    pos = 83_000_000  # chr17 is 81,195,210 in GRCh37 and 83,257,441 in GRCh38
    data = vcf_text([f"{chrom} 1000 . A G 50 PASS . GT 0/1", f"{chrom} {pos} . A G 50 PASS . GT 0/1"])
    err = rejected(data.encode())
    assert f"record on line 4 at {chrom}:{pos} is beyond the GRCh37/hg19 {chrom} length 81195210" in str(err)
    assert "fits GRCh38" in str(err)


def test_grch38_only_sequence_names_in_records_are_refused() -> None:
    data = vcf_text(["chr1_KI270706v1_random 100 . A G 50 PASS . GT 0/1"])
    assert "GRCh38 sequence name" in str(rejected(data.encode()))


def test_conflicting_build_evidence_is_refused_naming_both() -> None:
    data = vcf_text(header=["##reference=hg19", f"##contig=<ID=chr1,length={GRCH38_LENGTHS['1']}>"])
    message = str(rejected(data.encode()))
    assert message.startswith("conflicting genome build evidence")
    assert "##contig chr1 length=248956422 matches GRCh38" in message
    assert "##reference names hg19 (GRCh37)" in message
    assert "not GRCh37/hg19; but ##reference" in message


def test_contig_length_of_no_known_build_is_refused() -> None:
    data = vcf_text(header=["##contig=<ID=2,length=12345>"])
    assert "##contig 2 length=12345 does not match GRCh37/hg19" in str(rejected(data.encode()))


def test_length_tables_are_complete() -> None:
    expected = {str(i) for i in range(1, 23)} | {"X", "Y"}
    assert set(GRCH37_LENGTHS) == expected == set(GRCH38_LENGTHS)
    assert GRCH37_LENGTHS["X"] == 155270560
    assert GRCH38_LENGTHS["X"] == 156040895
    assert all(GRCH37_LENGTHS[c] != GRCH38_LENGTHS[c] for c in expected)


# ---------------------------------------------------------------------------
# not a VCF, wrong version, malformed


def test_empty_file_is_refused() -> None:
    err = rejected(b"")
    assert "empty" in str(err)
    assert err.reason == "empty"
    assert "empty" in str(rejected(gzip.compress(b""), "x.vcf.gz"))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "PDF document"),
        (random.Random(1).randbytes(5000), "binary data"),
        (b"sample,chrom,pos,ref,alt\nS1,1,10000,A,G\n", "CSV table"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(100), "ZIP archive"),
        (gzip.compress(b"BAM\x01" + bytes(200)), "BAM alignment file"),
        (gzip.compress(b"BCF\x02\x02" + bytes(200)), "BCF"),
        (b"\xfd7zXZ\x00\x00" + bytes(50), "xz-compressed"),
        (b">chr1\nACGTACGT\n", "FASTA"),
        (b"<html><body>Login</body></html>\n", "HTML"),
        (gzip.compress(b"%PDF-1.4\n" + bytes(100)), "PDF document"),
    ],
    ids=["pdf", "random", "csv", "zip", "bam", "bcf", "xz", "fasta", "html", "gzipped-pdf"],
)
def test_not_a_vcf_is_refused_naming_what_it_looks_like(data: bytes, expected: str) -> None:
    err = rejected(data, "upload.vcf")
    assert str(err).startswith("not a VCF")
    assert expected in str(err)
    assert err.reason == "not_vcf"


@pytest.mark.parametrize("version", ["VCFv3.3", "VCFv3.0"])
def test_vcf_before_4_0_is_refused_naming_the_version(version: str) -> None:
    err = rejected(vcf_text(fileformat=version).encode())
    assert f"unsupported VCF version {version}" in str(err)
    assert "4.0 or later" in str(err)


def test_missing_fileformat_line_is_refused() -> None:
    data = vcf_text().split("\n", 1)[1]
    assert "##fileformat" in str(rejected(data.encode()))


def test_missing_chrom_header_line_is_refused() -> None:
    data = "##fileformat=VCFv4.2\n##source=x\n"
    assert "no #CHROM header line" in str(rejected(data.encode()))
    data = "##fileformat=VCFv4.2\n1\t100\t.\tA\tG\t50\tPASS\t.\n"
    assert "data line before the #CHROM header line" in str(rejected(data.encode()))


def test_malformed_chrom_header_line_is_refused() -> None:
    data = "##fileformat=VCFv4.2\n#CHROM POS ID REF ALT QUAL FILTER INFO\n"
    assert "separated by tabs" in str(rejected(data.encode()))
    data = "##fileformat=VCFv4.2\n" + COLUMNS + "\tS1\tS2\n"
    assert "column 9 must be FORMAT" in str(rejected(data.encode()))
    data = "##fileformat=VCFv4.2\n" + COLUMNS + "\tFORMAT\tDUP\tDUP\n"
    err = rejected(data.encode())
    assert "duplicate sample column names" in str(err)
    assert "DUP" not in str(err)


def test_short_data_line_is_refused_with_its_line_number() -> None:
    data = vcf_text(["1 100 . A G 50 PASS . GT 0/1", "1 200 . A G"])
    err = rejected(data.encode())
    assert "malformed data line 4: 5 tab-separated columns, a VCF data line needs at least 8" in str(err)
    assert err.line == 4


def test_space_separated_data_line_gets_a_hint() -> None:
    data = vcf_text().rstrip("\n") + "\n1 200 . A G 50 PASS . GT 0/1\n"
    assert "separated by tabs, not spaces" in str(rejected(data.encode()))


def test_non_numeric_pos_and_column_count_mismatch_are_refused() -> None:
    assert "POS 'abc' is not a whole number" in str(
        rejected(vcf_text(["1 abc . A G 50 PASS . GT 0/1"]).encode())
    )
    err = rejected(vcf_text(["1 100 . A G 50 PASS . GT 0/1 0/1"]).encode())
    assert "malformed data line 3: 11 columns, but the #CHROM header line has 10" in str(err)


def test_short_line_windows_endings_line_number_is_exact() -> None:
    data = vcf_text(["1 100 . A G 50 PASS . GT 0/1", "1 200 . A"]).replace("\n", "\r\n")
    assert "malformed data line 4:" in str(rejected(data.encode()))


# ---------------------------------------------------------------------------
# compression problems


def gz_body(tmp_path: Path, n: int = 3000) -> bytes:
    return write_vcf(tmp_path / "s.vcf.gz", n, compression="gz").read_bytes()


def test_truncated_gzip_is_refused_by_the_stream_check(tmp_path: Path) -> None:
    data = gz_body(tmp_path)
    cut = data[: len(data) * 2 // 3]
    with pytest.raises(VcfValidationError, match="truncated gzip") as err:
        check_bytes(cut, "vcf.gz")
    assert err.value.reason == "truncated"
    # ... and by inspection when the cut falls inside what inspection reads
    err2 = rejected(data[: len(data) // 4], "s.vcf.gz", max_records=100_000)
    assert "truncated gzip" in str(err2)


def test_gzip_cut_after_its_last_member_header_is_truncated(tmp_path: Path) -> None:
    data = gz_body(tmp_path, 10)
    with pytest.raises(VcfValidationError, match="truncated gzip"):
        check_bytes(data + data[:12], "vcf.gz")


def test_corrupt_gzip_is_refused(tmp_path: Path) -> None:
    data = bytearray(gz_body(tmp_path))
    mid = len(data) // 2
    data[mid : mid + 16] = bytes(b ^ 0xA5 for b in data[mid : mid + 16])
    with pytest.raises(VcfValidationError, match="corrupt gzip") as err:
        check_bytes(bytes(data), "vcf.gz")
    assert err.value.reason == "corrupt"
    # Inspection reads through the damage too: deflate cannot tell before the member's CRC,
    # so it may see garbled lines first. Either way the file is refused.
    rejected(bytes(data), max_records=100_000)


def test_corrupt_gzip_header_is_refused() -> None:
    data = bytearray(gzip.compress(vcf_text().encode()))
    data[3] = 0xFF  # reserved flag bits set
    assert "corrupt gzip" in str(rejected(bytes(data)))
    with pytest.raises(VcfValidationError, match="corrupt gzip"):
        check_bytes(bytes(data), "vcf.gz")


def test_trailing_garbage_after_gzip_is_refused(tmp_path: Path) -> None:
    data = gz_body(tmp_path, 10)
    with pytest.raises(VcfValidationError, match="non-gzip data after the end of gzip member 1"):
        check_bytes(data + b"garbage!", "vcf.gz")


def test_truncated_and_corrupt_bzip2_are_refused(tmp_path: Path) -> None:
    data = write_vcf(tmp_path / "s.vcf.bz2", 3000, compression="bz2").read_bytes()
    with pytest.raises(VcfValidationError, match="truncated bzip2"):
        check_bytes(data[: len(data) - 100], "vcf.bz2")
    assert "truncated bzip2" in str(rejected(data[: len(data) - 100], max_records=100_000))
    bad = bytearray(data)
    mid = len(bad) // 2
    bad[mid : mid + 16] = bytes(b ^ 0x5A for b in bad[mid : mid + 16])
    with pytest.raises(VcfValidationError, match="corrupt bzip2"):
        check_bytes(bytes(bad), "vcf.bz2")


def test_corrupt_bzip2_header_is_refused() -> None:
    data = b"BZh91AY&SY" + random.Random(2).randbytes(300)
    assert "corrupt bzip2" in str(rejected(data))
    with pytest.raises(VcfValidationError, match="corrupt bzip2"):
        check_bytes(data, "vcf.bz2")


def test_doubly_compressed_vcf_is_refused_saying_so() -> None:
    twice = gzip.compress(gzip.compress(vcf_text().encode()))
    assert "compressed twice" in str(rejected(twice, "x.vcf.gz"))


def test_non_ascii_digits_in_pos_are_refused_cleanly() -> None:
    assert "is not a whole number" in str(rejected(vcf_text(["1 1\u00b2 . A G 50 PASS . GT 0/1"]).encode()))


def test_multi_member_gzip_is_read_across_members() -> None:
    text = vcf_text([f"1 {100 + i} . A G 50 PASS . GT 0/1" for i in range(30)])
    cut = len(text) // 2
    data = gzip.compress(text[:cut].encode()) + gzip.compress(text[cut:].encode())
    info = inspect_bytes(data)
    assert info.records_sampled == 30
    checker = StreamChecker("vcf.gz")
    for i in range(0, len(data), 7):  # member boundaries and headers split across chunks
        checker.update(data[i : i + 7])
    assert checker.finish() == hashlib.md5(data).hexdigest()
    assert checker.members == 2
    assert checker.bytes_out == len(text)


def test_multi_stream_bzip2_is_read_across_streams() -> None:
    text = vcf_text([f"1 {100 + i} . A G 50 PASS . GT 0/1" for i in range(30)])
    data = bz2.compress(text[:100].encode()) + bz2.compress(text[100:].encode())
    assert inspect_bytes(data).records_sampled == 30
    checker = StreamChecker("vcf.bz2")
    for i in range(0, len(data), 5):
        checker.update(data[i : i + 5])
    assert checker.finish() == hashlib.md5(data).hexdigest()
    assert (checker.members, checker.bytes_out) == (2, len(text))


def bgzf(data: bytes, block: int = 4096) -> bytes:
    """A BGZF file (as written by bgzip/htslib): gzip members with a BC extra field, then the EOF block."""
    out = []
    for i in range(0, len(data), block):
        chunk = data[i : i + block]
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        cdata = comp.compress(chunk) + comp.flush()
        header = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff" + struct.pack(
            "<HBBHH", 6, 66, 67, 2, 25 + len(cdata)
        )
        out.append(header + cdata + struct.pack("<II", zlib.crc32(chunk), len(chunk)))
    eof = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
    return b"".join(out) + eof


def test_bgzf_is_accepted() -> None:
    text = vcf_text([f"1 {100 + i} . A G 50 PASS . GT 0/1" for i in range(500)], header=["##reference=hg19"])
    data = bgzf(text.encode())
    assert gzip.decompress(data) == text.encode()
    info = inspect_bytes(data, "x.vcf.bgz")
    assert (info.format, info.records_sampled) == ("vcf.gz", 500)
    checker = StreamChecker("vcf.gz")
    checker.update(data)
    assert checker.finish() == hashlib.md5(data).hexdigest()
    assert checker.members > 3


# ---------------------------------------------------------------------------
# format detection


def test_format_detection_trusts_content_over_the_name(tmp_path: Path) -> None:
    plain = write_vcf(tmp_path / "p.vcf", 5).read_bytes()
    gz = gzip.compress(plain)
    bz = bz2.compress(plain)
    assert detect_format(gz, "misleading.vcf") == "vcf.gz"
    assert detect_format(plain, "misleading.vcf.gz") == "vcf"
    assert detect_format(bz, "misleading.txt") == "vcf.bz2"
    assert inspect_bytes(gz, "misleading.vcf").format == "vcf.gz"
    assert inspect_bytes(plain, "misleading.vcf.bz2").format == "vcf"


def test_format_detection_falls_back_to_the_name_for_a_too_short_head() -> None:
    assert detect_format(b"\x1f", "x.vcf.gz") == "vcf.gz"
    with pytest.raises(VcfValidationError, match="empty"):
        detect_format(b"", "x.vcf")


# ---------------------------------------------------------------------------
# streams: non-seekable, bounded reads, caller's file stays open


class CountingReader:
    """A bare reader (read() only: no seek, tell, peek...) that counts what is read."""

    def __init__(self, f: io.BufferedIOBase) -> None:
        self._f = f
        self.bytes_read = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.bytes_read += len(data)
        return data


def test_inspection_works_on_a_pipe(tmp_path: Path) -> None:
    data = write_vcf(tmp_path / "s.vcf.gz", 5000, compression="gz").read_bytes()
    r, w = os.pipe()

    def feed() -> None:
        with os.fdopen(w, "wb") as out, contextlib.suppress(BrokenPipeError):
            out.write(data)

    thread = threading.Thread(target=feed)
    thread.start()
    with os.fdopen(r, "rb", buffering=0) as pipe:
        assert not pipe.seekable()
        info = inspect_vcf(pipe, None, max_records=200)
    thread.join()
    assert (info.format, info.records_sampled) == ("vcf.gz", 200)


def test_inspection_and_check_work_on_object_storage_files(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    sdk = pytest.importorskip("airflow.sdk")
    path = write_vcf(tmp_path / "s.vcf.gz", 300, compression="gz")
    expected = hashlib.md5(path.read_bytes()).hexdigest()
    remote = sdk.ObjectStoragePath(f"file://{path}")
    with remote.open("rb") as f:
        assert inspect_vcf(f, remote.name, for_report=True).format == "vcf.gz"
    with remote.open("rb") as f:
        assert check_stream(f, "vcf.gz") == expected
    memory = fsspec.filesystem("memory")
    memory.pipe("/fabric-test/s.vcf.gz", path.read_bytes())
    try:
        with memory.open("/fabric-test/s.vcf.gz", "rb") as f:
            assert inspect_vcf(f, "s.vcf.gz").records_sampled == 300
    finally:
        memory.rm("/fabric-test", recursive=True)


@pytest.mark.parametrize("compression", [None, "gz", "bz2"])
def test_inspection_reads_only_a_bounded_prefix(tmp_path: Path, compression: str | None) -> None:
    n = 200_000
    path = write_vcf(tmp_path / "big.vcf", n, compression=compression)
    size = path.stat().st_size
    with open(path, "rb") as f:
        reader = CountingReader(f)
        info = inspect_vcf(reader, path.name)  # type: ignore[arg-type]
        assert not f.closed  # the caller owns the file
    assert info.records_sampled == 1000
    assert reader.bytes_read < 1_500_000
    assert reader.bytes_read * 5 < size


def test_iter_records_parses_fields_and_skips_the_header(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "s.vcf.gz", 100, compression="gz", samples=("A1", "B2"))
    with open(path, "rb") as f, open_vcf_text(f, "vcf.gz") as text:
        recs = list(iter_records(text))
    assert len(recs) == 100
    first = recs[0]
    assert isinstance(first, VcfRecord)
    assert first.chrom == "1" and first.pos > 0 and first.filter == "PASS"
    assert first.fields[0] == "GT:DP:GQ" and len(first.fields) == 3
    assert first.line.split("\t")[1] == str(first.pos)


def test_iter_records_reports_decompression_errors_as_validation_errors(tmp_path: Path) -> None:
    data = gz_body(tmp_path)
    truncated = io.BytesIO(data[: len(data) // 2])
    with (
        open_vcf_text(truncated, "vcf.gz") as text,  # type: ignore[arg-type]
        pytest.raises(VcfValidationError, match="truncated gzip"),
    ):
        list(iter_records(text))


# ---------------------------------------------------------------------------
# checksums


@pytest.mark.parametrize("compression", [None, "gz", "bz2"])
def test_md5_equals_hashlib_of_the_raw_bytes(tmp_path: Path, compression: str | None) -> None:
    path = write_vcf(tmp_path / "s.vcf", 2000, compression=compression)
    fmt = {None: "vcf", "gz": "vcf.gz", "bz2": "vcf.bz2"}[compression]
    data = path.read_bytes()
    expected = hashlib.md5(data).hexdigest()
    with open(path, "rb") as f:
        assert check_stream(f, fmt, chunk_size=1000) == expected
    assert check_bytes(data, fmt, md5=False) is None


def test_empty_compressed_upload_is_refused_by_the_stream_check() -> None:
    with pytest.raises(VcfValidationError, match="empty"):
        check_bytes(b"", "vcf.gz")
    assert check_bytes(b"", "vcf") == hashlib.md5(b"").hexdigest()


def test_unknown_format_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown VCF format"):
        StreamChecker("vcf.zst")


# ---------------------------------------------------------------------------
# a whole-genome-sized file in bounded memory

_BIG_CHECK = textwrap.dedent(
    """
    import json, resource, sys
    from airflow_provider_fabric.vcf import StreamChecker, inspect_vcf
    path = sys.argv[1]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(path, "rb") as f:
        info = inspect_vcf(f, path, for_report=True)
    checker = StreamChecker(info.format)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            checker.update(chunk)
    md5 = checker.finish()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"md5": md5, "growth_kb": after - before, "bytes_out": checker.bytes_out,
                      "format": info.format}))
    """
)


def test_one_gigabyte_vcf_is_validated_and_checksummed_in_bounded_memory(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "wgs.vcf.gz", target_bytes=1 << 30, compression="gz")
    try:
        expected = hashlib.md5()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                expected.update(chunk)
        env = {**os.environ}
        done = subprocess.run(
            [sys.executable, "-c", _BIG_CHECK, str(path)], capture_output=True, text=True, env=env, check=True
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        path.unlink()
    assert result["format"] == "vcf.gz"
    assert result["md5"] == expected.hexdigest()
    assert result["bytes_out"] > 1_000_000_000  # the whole gigabyte was decompressed and verified
    assert result["growth_kb"] < 64 * 1024  # peak RSS grew by less than 64 MiB
