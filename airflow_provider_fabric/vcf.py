"""Streaming VCF sniffing and validation, before anything is sent to Fabric.

Two jobs, both in bounded memory and on any binary file object (local files,
pipes, fsspec / ``ObjectStoragePath`` files, non-seekable streams):

* :func:`inspect_vcf` reads the header and a bounded sample of records and
  answers "is this a VCF Fabric will accept for this purpose?": compression
  format, VCF version, sample count, genome build (only GRCh37/hg19 is
  accepted) and chromosome naming.
* :class:`StreamChecker` / :func:`check_stream` make one pass over the raw
  bytes as they are uploaded: the MD5 of the bytes exactly as sent and, for
  gzip and bzip2, proof that the compressed stream is complete and not corrupt.

Error messages name the cause and the evidence, never sample names or any
other content that could be PHI. Standard library plus the ISA-L inflater of
:mod:`airflow_provider_fabric.deflate`: cheap to import.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from airflow_provider_fabric.deflate import INFLATE_ERRORS, gzip_inflater
from airflow_provider_fabric.exceptions import FabricInputError

__all__ = [
    "FORMATS",
    "GRCH37_LENGTHS",
    "GRCH38_LENGTHS",
    "StreamChecker",
    "VcfInfo",
    "VcfRecord",
    "VcfValidationError",
    "check_stream",
    "detect_format",
    "inspect_vcf",
    "iter_records",
    "open_vcf_text",
]

#: The ``format`` values the Fabric upload API accepts.
FORMATS = ("vcf", "vcf.gz", "vcf.bz2")

ACCEPTED_BUILD = "GRCh37"

#: GRCh37 / hg19 primary chromosome lengths (identical in UCSC hg19, b37 and hs37d5).
GRCH37_LENGTHS: dict[str, int] = {
    "1": 249250621,
    "2": 243199373,
    "3": 198022430,
    "4": 191154276,
    "5": 180915260,
    "6": 171115067,
    "7": 159138663,
    "8": 146364022,
    "9": 141213431,
    "10": 135534747,
    "11": 135006516,
    "12": 133851895,
    "13": 115169878,
    "14": 107349540,
    "15": 102531392,
    "16": 90354753,
    "17": 81195210,
    "18": 78077248,
    "19": 59128983,
    "20": 63025520,
    "21": 48129895,
    "22": 51304566,
    "X": 155270560,
    "Y": 59373566,
}

#: GRCh38 / hg38 primary chromosome lengths.
GRCH38_LENGTHS: dict[str, int] = {
    "1": 248956422,
    "2": 242193529,
    "3": 198295559,
    "4": 190214555,
    "5": 181538259,
    "6": 170805979,
    "7": 159345973,
    "8": 145138636,
    "9": 138394717,
    "10": 133797422,
    "11": 135086622,
    "12": 133275309,
    "13": 114364328,
    "14": 107043718,
    "15": 101991189,
    "16": 90338345,
    "17": 83257441,
    "18": 80373285,
    "19": 58617616,
    "20": 64444167,
    "21": 46709983,
    "22": 50818468,
    "X": 156040895,
    "Y": 57227415,
}

#: NCBI36 / hg18 primary chromosome lengths (only to name the build in messages).
NCBI36_LENGTHS: dict[str, int] = {
    "1": 247249719,
    "2": 242951149,
    "3": 199501827,
    "4": 191273063,
    "5": 180857866,
    "6": 170899992,
    "7": 158821424,
    "8": 146274826,
    "9": 140273252,
    "10": 135374737,
    "11": 134452384,
    "12": 132349534,
    "13": 114142980,
    "14": 106368585,
    "15": 100338915,
    "16": 88827254,
    "17": 78774742,
    "18": 76117153,
    "19": 63811651,
    "20": 62435964,
    "21": 46944323,
    "22": 49691432,
    "X": 154913754,
    "Y": 57772954,
}

_HEAD_BYTES = 1 << 16  # bytes sniffed before deciding the format
_MAX_LINE_CHARS = 32 << 20  # one #CHROM line with ~2 million sample columns
_MAX_HEADER_CHARS = 256 << 20
_READ_BUFFER = 1 << 16
_MAX_INFLATE = 1 << 19  # decompressed bytes per zlib/bz2 call in StreamChecker (bounds memory)


class VcfValidationError(FabricInputError):
    """The file is not a VCF Fabric accepts (or not for this purpose).

    The message names the cause and the evidence; it never contains sample
    names or other content of the file that could be PHI.

    :param reason: a short machine-readable cause: ``empty``, ``not_vcf``,
        ``corrupt``, ``truncated``, ``version``, ``header``, ``record``,
        ``build``, ``samples``.
    :param line: the 1-based line number (of the decompressed text) at fault, when known.
    """

    def __init__(self, message: str, *, reason: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.line = line


@dataclass(frozen=True)
class VcfInfo:
    """What :func:`inspect_vcf` found. ``samples`` is PHI and left out of ``repr``.

    :param format: the compression, decided by the content: ``"vcf"``, ``"vcf.gz"`` or ``"vcf.bz2"``.
    :param fileformat: the VCF version of the ``##fileformat`` line, e.g. ``"VCFv4.2"``.
    :param samples: the sample column names of the ``#CHROM`` line (``()`` for a sites-only VCF).
    :param build: the genome build; always ``"GRCh37"``, the only one that passes.
    :param build_evidence: what showed the build, e.g. ``"##reference names hg19"``, or
        ``"no build evidence; assumed GRCh37"``.
    :param chr_prefix: chromosomes are named ``chr1``, ``chrX``... (judged on the first record,
        else the first ``##contig`` line).
    :param records_sampled: data records read and checked (at most ``max_records``).
    """

    format: str
    fileformat: str
    samples: tuple[str, ...] = field(repr=False)
    build: str
    build_evidence: str
    chr_prefix: bool
    records_sampled: int

    @property
    def sample_count(self) -> int:
        """The number of sample columns (``0`` for a sites-only VCF)."""
        return len(self.samples)


@dataclass(frozen=True, slots=True)
class VcfRecord:
    """One data line. ``fields`` holds the columns after INFO (FORMAT and the samples).

    Every column but POS is kept as the text of the line.

    :param chrom: CHROM, as written (``1`` or ``chr1``).
    :param pos: POS, 1-based.
    :param id: ID (``.`` when none).
    :param ref: REF, never empty.
    :param alt: ALT.
    :param qual: QUAL.
    :param filter: FILTER.
    :param info: INFO, unparsed.
    :param fields: FORMAT and the sample columns (``()`` for a sites-only line).
    :param line: the whole line, without its line ending.
    """

    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    qual: str
    filter: str
    info: str
    fields: tuple[str, ...]
    line: str


# ---------------------------------------------------------------------------
# format detection


_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (.zip, .docx, .xlsx...)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xfd7zXZ\x00", "an xz-compressed file (only gzip and bzip2 compression are accepted)"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file (only gzip and bzip2 compression are accepted)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x1f\x9d", "a Unix compress (.Z) file (only gzip and bzip2 compression are accepted)"),
    (b"CRAM", "a CRAM alignment file"),
    (b"BAM\x01", "a BAM alignment file"),
    (b"BCF\x02", "a BCF (binary VCF) file; convert it with 'bcftools view -Oz'"),
    (b"BCF\x04", "a BCF (binary VCF) file; convert it with 'bcftools view -Oz'"),
    (b"\x89HDF", "an HDF5 file"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\xd0\xcf\x11\xe0", "a legacy Microsoft Office document"),
    (b"{\\rtf", "an RTF document"),
    (b"\x7fELF", "an executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
)

_GZIP_MAGIC = b"\x1f\x8b"
_BZ2_MAGIC = re.compile(rb"BZh[1-9]\x31\x41\x59\x26\x53\x59")
_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 12, 13)) + b"\x7f"


def _describe_binary(data: bytes) -> str | None:
    """Name the kind of a known non-VCF binary, or say it is binary; ``None`` for text."""
    for magic, what in _BINARY_SIGNATURES:
        if data.startswith(magic):
            return what
    if data[257:262] == b"ustar":
        return "a tar archive"
    sample = data[:4096]
    if b"\x00" in sample:
        return "binary data"
    if sample:
        controls = len(sample) - len(sample.translate(None, _CONTROL))
        if controls * 20 > len(sample):
            return "binary data"
        try:
            sample.decode("utf-8")
        except UnicodeDecodeError as err:
            # A cut multi-byte character at the end of the sample is fine.
            if err.start < len(sample) - 4 and sum(b >= 0x80 for b in sample) * 4 > len(sample):
                return "binary data"
    return None


def _format_from_name(name: str | None) -> str | None:
    if not name:
        return None
    low = str(name).lower().split("?", 1)[0]
    if low.endswith((".gz", ".bgz", ".bgzf")):
        return "vcf.gz"
    if low.endswith((".bz2", ".bz")):
        return "vcf.bz2"
    if low.endswith(".vcf"):
        return "vcf"
    return None


def detect_format(head: bytes, name: str | None = None) -> str:
    """Return ``"vcf"``, ``"vcf.gz"`` or ``"vcf.bz2"`` for a file starting with ``head``.

    The content decides (gzip and bzip2 magic bytes, else text); the file
    name is only used when ``head`` is too short to tell. A misleading name
    (``x.vcf.gz`` holding plain text) is ignored.

    :raises VcfValidationError: ``head`` is empty, or is obviously not a VCF
        (PDF, ZIP, BAM, CRAM, BCF, xz, zstd, other binary data).

    :param head: the first bytes of the file as stored (:func:`inspect_vcf` passes 64 KiB).
    :param name: the file's name or URL, consulted only when ``head`` is too short to tell.
    :return: the format, one of :data:`FORMATS`.
    """
    if not head:
        raise VcfValidationError("empty file: 0 bytes, not a VCF", reason="empty")
    if head.startswith(_GZIP_MAGIC):
        # BAM and BCF are gzip (BGZF) too: peek inside when the head allows it.
        try:
            inner = zlib.decompressobj(31).decompress(head, 64)
        except zlib.error:
            inner = b""
        what = _describe_binary(inner) if inner[:4] in (b"BAM\x01", b"BCF\x02", b"BCF\x04") else None
        if what:
            raise VcfValidationError(
                f"not a VCF: the file is {what} (gzip/BGZF-compressed)", reason="not_vcf"
            )
        return "vcf.gz"
    if _BZ2_MAGIC.match(head) or (3 <= len(head) < 10 and b"BZh91AY&SY".startswith(head)):
        return "vcf.bz2"
    if len(head) < 2 and head == _GZIP_MAGIC[:1]:
        return _format_from_name(name) or "vcf.gz"
    what = _describe_binary(head)
    if what:
        raise VcfValidationError(
            f"not a VCF: the file is {what}, not a text, gzip or bzip2 VCF", reason="not_vcf"
        )
    return "vcf"


# ---------------------------------------------------------------------------
# readers


class _RawReader(io.RawIOBase):
    """Present any object with ``read(n)`` as a raw stream, after an optional prefix.

    Closing it never closes the wrapped object (the caller owns it).
    """

    def __init__(self, fileobj: object, prefix: bytes = b"") -> None:
        super().__init__()
        self._f = fileobj
        self._prefix = prefix
        self.bytes_read = 0  # from the wrapped object

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = len(b)
        if self._prefix:
            chunk = self._prefix[:n]
            self._prefix = self._prefix[n:]
        else:
            chunk = self._f.read(n)  # type: ignore[attr-defined]
            if chunk is None:  # non-blocking stream with nothing ready
                return None  # type: ignore[return-value]
            if isinstance(chunk, str):
                raise TypeError("the VCF file object must be opened in binary mode ('rb')")
            self.bytes_read += len(chunk)
        got = len(chunk)
        b[:got] = chunk
        return got


class _CheckedReader(io.RawIOBase):
    """Read a decompressing stream and turn decompression failures into VcfValidationError."""

    def __init__(self, stream: BinaryIO, fmt: str) -> None:
        super().__init__()
        self._s = stream
        self._fmt = fmt

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            chunk = self._s.read(len(b))
        except EOFError as err:
            kind = "gzip" if self._fmt == "vcf.gz" else "bzip2"
            raise VcfValidationError(
                f"truncated {kind}: the compressed data ends before the end of the {kind} stream; "
                "the file was probably cut short",
                reason="truncated",
            ) from err
        except (zlib.error, gzip.BadGzipFile) as err:
            raise VcfValidationError(f"corrupt gzip data: {err}", reason="corrupt") from err
        except OSError as err:
            if self._fmt == "vcf.bz2" and "invalid data" in str(err).lower():
                raise VcfValidationError(f"corrupt bzip2 data: {err}", reason="corrupt") from err
            raise
        got = len(chunk)
        b[:got] = chunk
        return got

    def close(self) -> None:
        if not self.closed:
            self._s.close()  # the decompressor only; it never closes the caller's file
        super().close()


def _decompressing(raw: io.RawIOBase, fmt: str) -> Any:
    """A buffered binary stream of the decompressed bytes of ``raw``."""
    buffered: Any = io.BufferedReader(raw, _READ_BUFFER)
    stream: Any
    if fmt == "vcf":
        return buffered
    if fmt == "vcf.gz":
        stream = gzip.GzipFile(fileobj=buffered, mode="rb")
    elif fmt == "vcf.bz2":
        stream = bz2.BZ2File(buffered, mode="rb")
    else:
        raise ValueError(f"unknown VCF format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return io.BufferedReader(_CheckedReader(stream, fmt), _READ_BUFFER)


def _text(binary: Any) -> io.TextIOWrapper:
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline=None)


def open_vcf_text(fileobj: BinaryIO, fmt: str) -> TextIO:
    """Return a text stream of the (decompressed) VCF in ``fileobj``.

    UTF-8 (undecodable bytes replaced), universal newlines (``\\r\\n`` reads as
    ``\\n``), multi-member gzip/BGZF and multi-stream bzip2 supported, works on
    non-seekable streams. Decompression failures surface as
    :class:`VcfValidationError` while reading. Closing the returned stream
    does not close ``fileobj``.

    :param fileobj: a binary file object, read from its current position with ``read()`` only
        (a text-mode file raises :class:`TypeError` on the first read).
    :param fmt: its format, one of :data:`FORMATS` (as :func:`detect_format` or
        ``VcfInfo.format`` gives it); the content is not sniffed again.
    :raises ValueError: ``fmt`` is not one of :data:`FORMATS`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown VCF format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return _text(_decompressing(_RawReader(fileobj), fmt))


# ---------------------------------------------------------------------------
# records


def _readline(text: TextIO, lineno: int) -> str:
    line = text.readline(_MAX_LINE_CHARS)
    if len(line) >= _MAX_LINE_CHARS and not line.endswith("\n"):
        raise VcfValidationError(
            f"line {lineno} is longer than {_MAX_LINE_CHARS} characters; not a VCF",
            reason="record",
            line=lineno,
        )
    return line


def _parse_record(line: str, lineno: int, ncols: int | None) -> VcfRecord:
    cols = line.split("\t")
    n = len(cols)
    if n < 8:
        hint = " (columns must be separated by tabs, not spaces)" if n == 1 and " " in line else ""
        raise VcfValidationError(
            f"malformed data line {lineno}: {n} tab-separated column{'s' if n != 1 else ''}, "
            f"a VCF data line needs at least 8 (CHROM POS ID REF ALT QUAL FILTER INFO){hint}",
            reason="record",
            line=lineno,
        )
    if ncols is not None and n != ncols:
        raise VcfValidationError(
            f"malformed data line {lineno}: {n} columns, but the #CHROM header line has {ncols}",
            reason="record",
            line=lineno,
        )
    chrom, pos_s = cols[0], cols[1]
    if not chrom:
        raise VcfValidationError(f"malformed data line {lineno}: empty CHROM", reason="record", line=lineno)
    if not (pos_s.isascii() and pos_s.isdigit()):
        raise VcfValidationError(
            f"malformed data line {lineno}: POS {pos_s[:20]!r} is not a whole number",
            reason="record",
            line=lineno,
        )
    if not cols[3]:
        raise VcfValidationError(f"malformed data line {lineno}: empty REF", reason="record", line=lineno)
    return VcfRecord(
        chrom, int(pos_s), cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], tuple(cols[8:]), line
    )


def _iter_numbered(text: TextIO, lineno: int, ncols: int | None) -> Iterator[tuple[int, VcfRecord]]:
    """Yield (line number, record); ``lineno`` is the number of lines already consumed."""
    while True:
        lineno += 1
        line = _readline(text, lineno)
        if not line:
            return
        line = line.rstrip("\n")
        if not line.strip():
            continue
        if line.startswith("#"):
            if line.startswith("#CHROM"):
                ncols = len(line.split("\t"))
            continue
        yield lineno, _parse_record(line, lineno, ncols)


def iter_records(text: TextIO) -> Iterator[VcfRecord]:
    """Yield the data records of a VCF text stream (from :func:`open_vcf_text`).

    Header lines (any line starting with ``#``) and blank lines are skipped.

    :param text: a text stream of VCF lines, read from its current position to the end;
        line numbers in errors count from there.
    :raises VcfValidationError: a data line with fewer than 8 columns, a column count
        different from the ``#CHROM`` line's (once one was seen), a non-numeric POS, an empty
        CHROM or REF, or a line of more than 32 Mi characters; the message names the line number.
    """
    for _, rec in _iter_numbered(text, 0, None):
        yield rec


# ---------------------------------------------------------------------------
# genome build evidence

_B = r"(?<![a-z0-9])"
_E = r"(?![a-z0-9])"
_ASSEMBLY_TOKENS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(_B + r"(grch37|hg19|hs37d5|hs37|b37|human_g1k_v37|homo_sapiens_assembly19|ncbi37)" + _E),
        "GRCh37",
    ),
    (
        re.compile(_B + r"(grch38|hg38|hs38dh|hs38d1|hs38|b38|homo_sapiens_assembly38|ncbi38)" + _E),
        "GRCh38",
    ),
    (re.compile(_B + r"(ncbi36|hg18|b36|human_b36)" + _E), "NCBI36/hg18"),
    (re.compile(_B + r"(ncbi35|hg17|ncbi34|hg16)" + _E), "an older human build"),
    (re.compile(_B + r"(t2t|chm13|chm13v2|hs1)" + _E), "T2T-CHM13"),
    (re.compile(_B + r"(grcm38|grcm39|mm9|mm10|mm39)" + _E), "a mouse genome"),
)
_GCA = re.compile(_B + r"gca_000001405\.(\d+)" + _E)
# Contig names that exist only in one build (UCSC hg38 alt/random/decoy/HLA naming vs hg19's).
_GRCH38_CONTIG = re.compile(
    r"(KI27\d{4}|JTFH\d{8}|KN\d{6}|KQ\d{6}|KV\d{6}|KZ\d{6}|^HLA-|v\d+_(alt|random|fix|decoy)$)"
)
_GRCH37_CONTIG = re.compile(r"(^hs37d5$|^chr[0-9XY]+_gl\d{6}_random$|^chrUn_gl\d{6}$)")


def _assembly_builds(value: str) -> list[tuple[str, str]]:
    """(build, token) pairs named in a ``##reference`` or ``assembly=`` value."""
    low = value.lower()
    found: list[tuple[str, str]] = []
    for pattern, build in _ASSEMBLY_TOKENS:
        m = pattern.search(low)
        if m:
            found.append((build, value[m.start(1) : m.end(1)]))
    m = _GCA.search(low)
    if m:
        found.append(("GRCh37" if int(m.group(1)) <= 14 else "GRCh38", value[m.start() : m.end()]))
    return found


def _norm_chrom(name: str) -> str:
    if name[:3].lower() == "chr":
        name = name[3:]
    return name.upper() if name in ("x", "y") else name


def _length_build(key: str, length: int) -> str | None:
    if GRCH37_LENGTHS.get(key) == length:
        return "GRCh37"
    if GRCH38_LENGTHS.get(key) == length:
        return "GRCh38"
    if NCBI36_LENGTHS.get(key) == length:
        return "NCBI36/hg18"
    return None


_CONTIG_ID = re.compile(r"[<,]\s*ID=([^,>]+)")
_CONTIG_LEN = re.compile(r"[<,]\s*length=\"?(\d+)")
_CONTIG_ASM = re.compile(r"[<,]\s*assembly=([^,>]+)")


class _Evidence:
    """Collects genome-build evidence from the header and sampled records."""

    def __init__(self) -> None:
        self.good: list[str] = []
        self.bad: list[str] = []
        self._good_kinds: set[str] = set()

    def add(self, build: str, text: str, kind: str) -> None:
        named = build.lower() in text.lower()  # "##reference names GRCh38" needs no "(GRCh38)"
        if build == ACCEPTED_BUILD:
            if kind not in self._good_kinds:  # one piece of good evidence per kind is enough
                self._good_kinds.add(kind)
                self.good.append(text if named else f"{text} ({build})")
        elif len(self.bad) < 3:
            self.bad.append(
                f"{text}, not GRCh37/hg19" if named else f"{text} matches {build}, not GRCh37/hg19"
            )

    def reference(self, value: str) -> None:
        for build, token in _assembly_builds(value):
            self.add(build, f"##reference names {token}", "reference")

    def contig(self, body: str) -> str | None:
        m = _CONTIG_ID.search(body)
        if not m:
            return None
        cid = m.group(1).strip().strip('"')
        asm = _CONTIG_ASM.search(body)
        if asm:
            for build, token in _assembly_builds(asm.group(1).strip().strip('"')):
                self.add(build, f"##contig {cid} assembly={token}", "assembly")
        length_m = _CONTIG_LEN.search(body)
        key = _norm_chrom(cid)
        if length_m and key in GRCH37_LENGTHS:
            length = int(length_m.group(1))
            length_build = _length_build(key, length)
            if length_build:
                self.add(length_build, f"##contig {cid} length={length}", "contig")
            elif len(self.bad) < 3:
                self.bad.append(
                    f"##contig {cid} length={length} does not match GRCh37/hg19 "
                    f"({cid} length={GRCH37_LENGTHS[key]})"
                )
        self.naming(cid, "##contig")
        return cid

    def naming(self, chrom: str, where: str) -> None:
        if _GRCH38_CONTIG.search(chrom):
            self.add("GRCh38", f"{where} {chrom[:40]} is a GRCh38 sequence name", "naming")
        elif _GRCH37_CONTIG.search(chrom):
            self.add("GRCh37", f"{where} {chrom[:40]} is a GRCh37 sequence name", "naming")

    def record(self, rec: VcfRecord, lineno: int) -> None:
        key = _norm_chrom(rec.chrom)
        limit = GRCH37_LENGTHS.get(key)
        if limit is not None and rec.pos > limit:
            fits = " (fits GRCh38)" if rec.pos <= GRCH38_LENGTHS[key] else ""
            if len(self.bad) < 3:
                self.bad.append(
                    f"record on line {lineno} at {rec.chrom}:{rec.pos} is beyond the GRCh37/hg19 "
                    f"{rec.chrom} length {limit}{fits}"
                )
        elif limit is None:
            self.naming(rec.chrom, "record CHROM")

    def verdict(self) -> str:
        if self.bad and self.good:
            raise VcfValidationError(
                "conflicting genome build evidence: "
                + "; ".join(self.bad)
                + "; but "
                + "; ".join(self.good)
                + ". Only GRCh37/hg19 VCFs are accepted",
                reason="build",
            )
        if self.bad:
            raise VcfValidationError(
                "VCF is not GRCh37/hg19 (the only build Fabric accepts): " + "; ".join(self.bad),
                reason="build",
            )
        if self.good:
            return "; ".join(self.good)
        return "no build evidence; assumed GRCh37"


# ---------------------------------------------------------------------------
# inspection

_FILEFORMAT = re.compile(r"##fileformat=VCFv(\d+)\.(\d+)\s*$")
_REQUIRED_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")


def _read_head(fileobj: BinaryIO, size: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < size:
        chunk = fileobj.read(size - got)
        if isinstance(chunk, str):
            raise TypeError("the VCF file object must be opened in binary mode ('rb')")
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _describe_first_line(line: str) -> str:
    s = line.lstrip("\ufeff").strip()
    low = s.lower()
    if low.startswith("##fileformat="):
        return "unrecognised ##fileformat value"
    if s.startswith("#CHROM") or s.startswith("##"):
        return "the first line must be ##fileformat=VCFv4.x"
    if s.startswith("@HD") or s.startswith("@SQ"):
        return "it looks like a SAM alignment file"
    if s.startswith(">"):
        return "it looks like a FASTA file"
    if s.startswith("@"):
        return "it looks like a FASTQ file"
    if s.startswith("<"):
        return "it looks like HTML or XML"
    if s.startswith(("{", "[")):
        return "it looks like JSON"
    if low.startswith(("##gff-version", "#gff")):
        return "it looks like a GFF file"
    if low.startswith(("track", "browser")):
        return "it looks like a BED file"
    if "," in s and "\t" not in s:
        return "it looks like a CSV table"
    if "\t" in s:
        return "it looks like a tab-separated table"
    return "the first line is not ##fileformat=VCFv4.x"


def inspect_vcf(
    fileobj: BinaryIO,
    name: str | None = None,
    *,
    max_records: int = 1000,
    for_report: bool = False,
) -> VcfInfo:
    """Check that ``fileobj`` holds a VCF Fabric accepts, reading only its beginning.

    Reads the header and at most ``max_records`` data records (never the
    whole file), from the current position, without seeking: non-seekable
    streams and fsspec / ``ObjectStoragePath`` files work. The file is left
    open, positioned somewhere after what was read: reopen it (or ``seek(0)``)
    before uploading. ``name`` (a file name or URL) only helps when the
    content cannot tell the format.

    :param fileobj: a binary file object (``"rb"``); it is not closed.
    :param name: the file's name or URL, a hint for :func:`detect_format` only.
    :param max_records: data records to read and check after the header (``0``: header only).
    :param for_report: require exactly one sample column, as a clinical
        report needs. Without it, zero (sites-only) or several samples pass
        and callers decide whether to warn.
    :return: the format, version, samples, build evidence and chromosome naming.
    :raises TypeError: ``fileobj`` was opened in text mode.
    :raises VcfValidationError: empty file, not a VCF (naming what it looks
        like), corrupt or truncated compression in what was read, VCF older
        than 4.0, missing or malformed ``#CHROM`` line, malformed data line,
        non-GRCh37 build evidence, or wrong sample count for a report.
    """
    head = _read_head(fileobj, _HEAD_BYTES)
    fmt = detect_format(head, name)
    if fmt == "vcf.gz" and len(head) >= 4 and (head[2] != 8 or head[3] & 0xE0):
        raise VcfValidationError(
            "corrupt gzip header: unknown compression method or reserved flags set", reason="corrupt"
        )
    raw = _RawReader(fileobj, head)
    binary = _decompressing(raw, fmt)
    if fmt != "vcf":
        inner = binary.peek(_HEAD_BYTES)[:_HEAD_BYTES]
        if not inner:
            raise VcfValidationError(
                f"empty file: the {'gzip' if fmt == 'vcf.gz' else 'bzip2'} stream holds no data",
                reason="empty",
            )
        kind = "gzip" if fmt == "vcf.gz" else "bzip2"
        if inner.startswith(_GZIP_MAGIC) or _BZ2_MAGIC.match(inner):
            raise VcfValidationError(
                f"not a VCF: the {kind} data is itself compressed (compressed twice); decompress it once",
                reason="not_vcf",
            )
        what = _describe_binary(inner)
        if what:
            raise VcfValidationError(f"not a VCF: the file is {what} ({kind}-compressed)", reason="not_vcf")
    text = _text(binary)
    try:
        return _inspect_text(text, fmt, max_records, for_report)
    finally:
        text.detach()  # leave the caller's file object open


def _inspect_text(text: TextIO, fmt: str, max_records: int, for_report: bool) -> VcfInfo:
    first = _readline(text, 1)
    if not first:
        raise VcfValidationError("empty file: no text, not a VCF", reason="empty")
    first = first.lstrip("\ufeff").rstrip("\n")
    m = _FILEFORMAT.match(first)
    if not m:
        if first.lower().startswith("##fileformat="):
            value = first.split("=", 1)[1].strip()[:30]
            raise VcfValidationError(
                f"unsupported file format {value!r}: Fabric needs VCF 4.0 or later (##fileformat=VCFv4.x)",
                reason="version",
                line=1,
            )
        raise VcfValidationError(
            f"not a VCF: {_describe_first_line(first)} (line 1 has no ##fileformat=VCFv4.x)",
            reason="not_vcf",
            line=1,
        )
    major = int(m.group(1))
    fileformat = f"VCFv{m.group(1)}.{m.group(2)}"
    if major < 4:
        raise VcfValidationError(
            f"unsupported VCF version {fileformat}: Fabric needs VCF 4.0 or later", reason="version", line=1
        )

    evidence = _Evidence()
    contig_ids: list[str] = []
    lineno = 1
    header_chars = len(first)
    columns: list[str] | None = None
    while columns is None:
        lineno += 1
        line = _readline(text, lineno)
        if not line:
            raise VcfValidationError(
                f"malformed VCF header: no #CHROM header line (file ends at line {lineno - 1})",
                reason="header",
                line=lineno - 1,
            )
        header_chars += len(line)
        if header_chars > _MAX_HEADER_CHARS:
            raise VcfValidationError(
                f"malformed VCF header: no #CHROM line within the first {_MAX_HEADER_CHARS} characters",
                reason="header",
            )
        line = line.rstrip("\n")
        if line.startswith("##"):
            if line.startswith("##reference="):
                evidence.reference(line[12:])
            elif line.startswith("##contig="):
                cid = evidence.contig(line[9:])
                if cid and len(contig_ids) < 100:
                    contig_ids.append(cid)
            continue
        if line.startswith("#"):
            columns = line.rstrip().split("\t")
            break
        if not line.strip():
            continue
        raise VcfValidationError(
            f"malformed VCF header: line {lineno} is a data line before the #CHROM header line",
            reason="header",
            line=lineno,
        )

    if tuple(columns[:8]) != _REQUIRED_COLUMNS:
        hint = " (columns must be separated by tabs)" if len(columns) == 1 and " " in columns[0] else ""
        raise VcfValidationError(
            f"malformed #CHROM header line {lineno}: the first 8 columns must be "
            f"{' '.join(_REQUIRED_COLUMNS)}{hint}",
            reason="header",
            line=lineno,
        )
    if len(columns) > 8 and columns[8] != "FORMAT":
        raise VcfValidationError(
            f"malformed #CHROM header line {lineno}: column 9 must be FORMAT when sample columns follow",
            reason="header",
            line=lineno,
        )
    samples = tuple(columns[9:])
    if len(set(samples)) != len(samples):
        raise VcfValidationError(
            f"malformed #CHROM header line {lineno}: duplicate sample column names",
            reason="header",
            line=lineno,
        )
    if any(not s.strip() for s in samples):
        raise VcfValidationError(
            f"malformed #CHROM header line {lineno}: empty sample column name", reason="header", line=lineno
        )
    if for_report and len(samples) != 1:
        if samples:
            msg = (
                f"multi-sample VCF ({len(samples)} samples): a multi-sample VCF cannot be used for a "
                "report; split it into one VCF per sample (e.g. bcftools +split)"
            )
        else:
            msg = "sites-only VCF (no sample column): a report needs a VCF with exactly one sample"
        raise VcfValidationError(msg, reason="samples", line=lineno)

    records = 0
    first_chrom: str | None = None
    if max_records > 0:
        for rec_lineno, rec in _iter_numbered(text, lineno, len(columns)):
            records += 1
            if first_chrom is None:
                first_chrom = rec.chrom
            evidence.record(rec, rec_lineno)
            if records >= max_records:
                break

    build_evidence = evidence.verdict()
    naming_source = first_chrom or (contig_ids[0] if contig_ids else "")
    chr_prefix = naming_source[:3].lower() == "chr"
    return VcfInfo(
        format=fmt,
        fileformat=fileformat,
        samples=samples,
        build=ACCEPTED_BUILD,
        build_evidence=build_evidence,
        chr_prefix=chr_prefix,
        records_sampled=records,
    )


# ---------------------------------------------------------------------------
# streaming integrity check


class StreamChecker:
    """One streaming pass over the raw bytes of an upload.

    Feed every chunk, in order, to :meth:`update`; :meth:`finish` returns the
    MD5 hex digest of the bytes exactly as fed (``None`` with ``md5=False``)
    and, for ``vcf.gz`` (single-, multi-member and BGZF) and ``vcf.bz2``
    (single- and multi-stream), raises :class:`VcfValidationError` unless
    the compressed data decompressed without error up to a proper end of
    stream with nothing after it. Decompressed output is discarded at once,
    so memory stays bounded whatever the file size.

    :param fmt: the format of the bytes to come, one of :data:`FORMATS`; for ``"vcf"`` only
        the MD5 is computed.
    :param md5: compute the MD5 digest (skip it when the caller hashes elsewhere).
    :raises ValueError: ``fmt`` is not one of :data:`FORMATS`.
    """

    def __init__(self, fmt: str, *, md5: bool = True) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown VCF format {fmt!r}; expected one of {', '.join(FORMATS)}")
        self.fmt = fmt
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.bytes_in = 0  #: raw bytes fed
        self.bytes_out = 0  #: decompressed bytes seen (0 for plain VCF)
        self.members = 0  #: gzip members / bzip2 streams completed
        self._gz: Any = None
        self._member_head = b""  # the first bytes of a gzip member, until 4 are here
        self._bz: bz2.BZ2Decompressor | None = None
        self._finished = False

    def _kind(self) -> str:
        return "gzip" if self.fmt == "vcf.gz" else "bzip2"

    def _corrupt(self, err: Exception) -> VcfValidationError:
        return VcfValidationError(
            f"corrupt {self._kind()} data (around compressed byte {self.bytes_in}): {err}", reason="corrupt"
        )

    def update(self, chunk: bytes) -> None:
        """Feed the next chunk of raw bytes.

        :param chunk: the next bytes exactly as sent; an empty chunk is ignored.
        :raises VcfValidationError: the compressed data is corrupt, or bytes that are not
            gzip (bzip2) follow the end of a gzip member (bzip2 stream).
        :raises RuntimeError: called after :meth:`finish`.
        """
        if self._finished:
            raise RuntimeError("StreamChecker.update() after finish()")
        if not chunk:
            return
        self.bytes_in += len(chunk)
        if self._md5 is not None:
            self._md5.update(chunk)
        if self.fmt == "vcf.gz":
            self._update_gz(chunk)
        elif self.fmt == "vcf.bz2":
            self._update_bz2(chunk)

    def _update_gz(self, data: bytes) -> None:
        out = 0
        if self._member_head:
            data, self._member_head = self._member_head + data, b""
        try:
            while data:
                d = self._gz
                if d is None:
                    if self.members and not data.startswith(_GZIP_MAGIC[: len(data)]):
                        raise VcfValidationError(
                            f"corrupt gzip: {len(data)} bytes of non-gzip data after the end of gzip member "
                            f"{self.members}",
                            reason="corrupt",
                        )
                    if len(data) < 4:  # judge the member's header once its first 4 bytes are here
                        self._member_head = bytes(data)
                        return
                    # Checked here: ISA-L would wait for header fields that reserved flags announce.
                    if data[2] != 8 or data[3] & 0xE0:
                        raise VcfValidationError(
                            f"corrupt gzip header of member {self.members + 1}: unknown compression method "
                            "or reserved flags set",
                            reason="corrupt",
                        )
                    d = self._gz = gzip_inflater()
                out += len(d.decompress(data, _MAX_INFLATE))
                data = d.unconsumed_tail
                while data and not d.eof:
                    out += len(d.decompress(data, _MAX_INFLATE))
                    data = d.unconsumed_tail
                if d.eof:
                    self.members += 1
                    data = d.unused_data
                    self._gz = None
        except INFLATE_ERRORS as err:
            raise self._corrupt(err) from err
        finally:
            self.bytes_out += out

    def _update_bz2(self, data: bytes) -> None:
        out = 0
        try:
            while data:
                d = self._bz
                if d is None:
                    if self.members and not b"BZh".startswith(data[:3]):
                        raise VcfValidationError(
                            f"corrupt bzip2: {len(data)} bytes of non-bzip2 data after the end of bzip2 "
                            f"stream {self.members}",
                            reason="corrupt",
                        )
                    d = self._bz = bz2.BZ2Decompressor()
                out += len(d.decompress(data, _MAX_INFLATE))
                data = b""
                while not d.eof and not d.needs_input:
                    out += len(d.decompress(b"", _MAX_INFLATE))
                if d.eof:
                    self.members += 1
                    data = d.unused_data
                    self._bz = None
        except OSError as err:
            raise self._corrupt(err) from err
        finally:
            self.bytes_out += out

    def finish(self) -> str | None:
        """Return the MD5 hex digest (or ``None``); raise if the compressed stream is incomplete.

        No more chunks may be fed afterwards.

        :return: the MD5 hex digest of every byte fed, or ``None`` when created with ``md5=False``.
        :raises VcfValidationError: for ``vcf.gz``/``vcf.bz2``: no bytes were fed, or the data
            ends inside a gzip member or bzip2 stream (truncated).
        """
        self._finished = True
        if self.fmt != "vcf":
            if self.bytes_in == 0:
                raise VcfValidationError(f"empty file: no {self._kind()} data", reason="empty")
            if self._gz is not None or self._bz is not None or self._member_head:
                raise VcfValidationError(
                    f"truncated {self._kind()}: the file ends ({self.bytes_in} bytes) before the end of "
                    f"{self._kind()} {'member' if self.fmt == 'vcf.gz' else 'stream'} {self.members + 1}; "
                    "the upload or copy was probably cut short",
                    reason="truncated",
                )
        return self._md5.hexdigest() if self._md5 is not None else None


def check_stream(fileobj: BinaryIO, fmt: str, *, md5: bool = True, chunk_size: int = 1 << 20) -> str | None:
    """Read ``fileobj`` to the end through a :class:`StreamChecker` and return its result.

    :param fileobj: a binary file object, read from its current position; it is not closed.
    :param fmt: the format of its bytes, one of :data:`FORMATS`.
    :param md5: compute the MD5 digest.
    :param chunk_size: bytes per ``read()``.
    :return: the MD5 hex digest of the bytes read, or ``None`` with ``md5=False``.
    :raises ValueError: ``fmt`` is not one of :data:`FORMATS`.
    :raises VcfValidationError: corrupt, truncated or empty gzip/bzip2 data.
    """
    checker = StreamChecker(fmt, md5=md5)
    read = fileobj.read
    while True:
        chunk = read(chunk_size)
        if not chunk:
            break
        checker.update(chunk)
    return checker.finish()
