"""Variants of a report, read lazily from the proband's stored VCF.

Nothing is imported at upload time: every export re-reads the VCF record by
record (bounded memory, streamed to the client), and SQLite holds only the
per-variant overrides (``status``, ``to_report``) and their audit trail.
Record *n* of the file (1-based, data lines only) is the variant with ID *n*
(``id``, also given as ``report_variant_id``) — stable across exports and restarts.

A variant's ``status`` is its review status (``NOT_REVIEWED``, ``REVIEWED``,
``EXCLUDED``) and, once an external confirmation was set in bulk, its
validation result: ``CONFIRMED`` or ``FAILED_CONFIRMATION`` (the vendor's
example clients filter on both; a bulk VCF's ``FAIL`` sets the latter).

Initial values are deterministic from the record's ordinal so exports are
checkable: ``status`` is ``REVIEWED`` when ``n % 3 == 1`` (else
``NOT_REVIEWED``) and ``to_report`` is ``PRIMARY_FINDING`` when ``n % 6 == 1``
(else ``null``). ``start_on_chrom``/``end_on_chrom`` are 1-based inclusive
(``POS`` and ``POS + len(REF) - 1``). ``gene`` comes from the catalogue's
gene regions, else a deterministic pick.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from . import catalogue
from .common import Context, Params

VARIANT_STATUSES = ("NOT_REVIEWED", "REVIEWED", "EXCLUDED", "CONFIRMED", "FAILED_CONFIRMATION")
TO_REPORT = ("PRIMARY_FINDING", "SECONDARY_FINDING", "DO_NOT_REPORT")
#: FILTER value of a bulk status VCF -> the ``status`` it gives the variant.
BULK_STATUSES = {"CONFIRMED": "CONFIRMED", "FAIL": "FAILED_CONFIRMATION"}
CSV_COLUMNS = (
    "id",
    "report_variant_id",
    "chrom",
    "start_on_chrom",
    "end_on_chrom",
    "ref",
    "alt",
    "rsid",
    "genotype",
    "zygosity",
    "quality",
    "filter",
    "gene",
    "effect",
    "status",
    "to_report",
    "score",
)
_EFFECTS = ("missense_variant", "synonymous_variant", "intron_variant", "frameshift_variant", "stop_gained")


def base_status(rvid: int) -> str:
    return "REVIEWED" if rvid % 3 == 1 else "NOT_REVIEWED"


def base_to_report(rvid: int) -> str | None:
    return "PRIMARY_FINDING" if rvid % 6 == 1 else None


def norm_chrom(chrom: str) -> str:
    return chrom.removeprefix("chr").removeprefix("CHR").upper()


def overrides(c: Context, report_id: int) -> dict[int, dict[str, Any]]:
    rows = c.store.all("SELECT * FROM variant_overrides WHERE report_id = ?", (report_id,))
    return {row["rvid"]: row for row in rows}


def reviewed_count(c: Context, report_id: int, records: int) -> int:
    """How many variants are ``REVIEWED`` now: the deterministic base, adjusted by overrides."""
    count = (records + 2) // 3
    for rvid, row in overrides(c, report_id).items():
        if row["status"] is not None and rvid <= records:
            count += (row["status"] == "REVIEWED") - (base_status(rvid) == "REVIEWED")
    return count


def variants_summary(c: Context, report_id: int, records: int) -> dict[str, Any]:
    """The ``extended=True`` summary: totals without reading the file."""
    edited = overrides(c, report_id)
    return {
        "variant_count": records,
        "reviewed_variant_count": reviewed_count(c, report_id, records),
        "validated": {
            status: sum(1 for row in edited.values() if row["status"] == status)
            for status in BULK_STATUSES.values()
        },
        "edited_variant_count": len(edited),
    }


def _genotype(record: Any) -> str | None:
    fields = record.fields
    if len(fields) < 2:
        return None
    if fields[0].startswith("GT"):
        return str(fields[1].split(":", 1)[0])
    keys = fields[0].split(":")
    if "GT" not in keys:
        return None
    values = fields[1].split(":")
    index = keys.index("GT")
    return values[index] if index < len(values) else None


_ZYGOSITY = {"0/1": "heterozygous", "0|1": "heterozygous", "1|0": "heterozygous", "1/1": "homozygous"}
_ZYGOSITY.update({"1|1": "homozygous", "0/0": "reference", "0|0": "reference"})


def _zygosity(genotype: str | None) -> str | None:
    if not genotype or "." in genotype:
        return None
    known = _ZYGOSITY.get(genotype)
    if known:
        return known
    alleles = set(genotype.replace("|", "/").split("/"))
    if alleles == {"0"}:
        return "reference"
    return "homozygous" if len(alleles) == 1 else "heterozygous"


def make_variant(report_id: int, rvid: int, record: Any, edit: dict[str, Any] | None) -> dict[str, Any]:
    """The API view of record ``rvid`` of the proband's VCF, with any stored override applied."""
    genotype = _genotype(record)
    digest = zlib.crc32(f"{record.chrom}:{record.pos}:{record.ref}:{record.alt}".encode())
    try:
        quality: float | None = float(record.qual)
    except ValueError:
        quality = None
    edit = edit or {}
    return {
        "id": rvid,
        "report_variant_id": rvid,
        "report_id": report_id,
        "chrom": record.chrom,
        "start_on_chrom": record.pos,
        "end_on_chrom": record.pos + len(record.ref) - 1,
        "ref": record.ref,
        "alt": record.alt,
        "rsid": None if record.id in (".", "") else record.id,
        "genotype": genotype,
        "zygosity": _zygosity(genotype),
        "quality": quality,
        "filter": record.filter,
        "gene": catalogue.gene_for(record.chrom, record.pos, digest >> 8),
        "effect": _EFFECTS[digest % len(_EFFECTS)],
        "status": edit.get("status") or base_status(rvid),
        "to_report": edit["to_report"] if edit.get("to_report") is not None else base_to_report(rvid),
        "score": round((digest % 10000) / 100.0, 2),
    }


def iter_file_records(path: str, fmt: str) -> Iterator[tuple[int, Any]]:
    """``(report_variant_id, record)`` for every record of a stored VCF, lazily."""
    from airflow_provider_fabric import vcf

    with open(path, "rb") as handle:
        yield from enumerate(vcf.iter_records(vcf.open_vcf_text(handle, fmt)), start=1)


def sample_name(path: str, fmt: str) -> str:
    from airflow_provider_fabric import vcf

    with open(path, "rb") as handle:
        samples = vcf.inspect_vcf(handle, max_records=0).samples
    return samples[0] if samples else "SAMPLE"


class VariantFilter:
    """The documented filters of ``GET /reports/{id}/variants``; ``limit``/``offset`` apply after them."""

    def __init__(self, params: Params) -> None:
        self.statuses = {s.upper() for s in params.getlist("status") if s}
        self.to_report = {s.upper() for s in params.getlist("to_report") if s}
        chrom = params.get("chrom")
        self.chrom = norm_chrom(chrom) if chrom else None
        self.start = params.integer("start_on_chrom")
        self.end = params.integer("end_on_chrom")
        self.alt = params.get("alt")
        self.offset = params.integer("offset", 0) or 0
        self.limit = params.integer("limit")

    def location_ok(self, record: Any) -> bool:
        if self.chrom is not None and norm_chrom(record.chrom) != self.chrom:
            return False
        if self.start is not None and record.pos < self.start:
            return False
        if self.end is not None and record.pos + len(record.ref) - 1 > self.end:
            return False
        return self.alt is None or record.alt == self.alt

    def variant_ok(self, variant: dict[str, Any]) -> bool:
        if self.statuses and variant["status"] not in self.statuses:
            return False
        return not self.to_report or (variant["to_report"] or "NONE") in self.to_report


def select(
    c: Context, report_id: int, path: str, fmt: str, wanted: VariantFilter
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Matching ``(record, variant)`` pairs in file order, after offset and up to limit."""
    edits = overrides(c, report_id)
    skipped = produced = 0
    for rvid, record in iter_file_records(path, fmt):
        if wanted.limit is not None and produced >= wanted.limit:
            return
        if not wanted.location_ok(record):
            continue
        variant = make_variant(report_id, rvid, record, edits.get(rvid))
        if not wanted.variant_ok(variant):
            continue
        if skipped < wanted.offset:
            skipped += 1
            continue
        produced += 1
        yield record, variant
