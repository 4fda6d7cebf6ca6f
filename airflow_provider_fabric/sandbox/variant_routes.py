"""Variant endpoints: export (JSON/CSV/VCF, streamed), scored variants, PATCH one, bulk validation VCF.

Bulk statuses (``PUT /reports/{id}/variants?format=vcf``), as the vendor's
``set_report_variants.py`` sends them: each record's FILTER column is its
validation result, ``CONFIRMED`` or ``FAIL``, declared in a ``##FILTER``
header line; the record is matched to a report variant by CHROM (``chr``
prefix ignored), POS, REF and ALT; INFO is ignored. A file with any record
whose FILTER is not a declared ``CONFIRMED``/``FAIL`` (``PASS``, ``.``...) is
refused whole (422): nothing is set. ``CONFIRMED`` sets the variant's
``status`` to ``CONFIRMED``, ``FAIL`` to ``FAILED_CONFIRMATION``.

The INFO keys of the VCF export (``RVID``, ``GENE``, ``STATUS``,
``TO_REPORT``) are for people to read: the public material does not fix
them, so no client may rely on them (the JSON export has the variant IDs).
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from .common import ApiError, Context, Params, add_route, ctx, read_body, user
from .genomes import receive_file
from .reports import PROCESSED, current_status, get_report_row, patch_values
from .variants import (
    BULK_STATUSES,
    CSV_COLUMNS,
    TO_REPORT,
    VARIANT_STATUSES,
    VariantFilter,
    iter_file_records,
    make_variant,
    norm_chrom,
    overrides,
    sample_name,
    select,
)

router = APIRouter()
_BATCH = 1 << 16
_VCF_HEADER = """##fileformat=VCFv4.2
##source=fabric-sandbox
##reference=GRCh37
##INFO=<ID=RVID,Number=1,Type=Integer,Description="Fabric report variant ID">
##INFO=<ID=GENE,Number=1,Type=String,Description="Gene">
##INFO=<ID=STATUS,Number=1,Type=String,Description="Review status">
##INFO=<ID=TO_REPORT,Number=1,Type=String,Description="Reporting category">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}
"""


def _proband_file(c: Context, request: Request, report_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report row and its proband genome row; 422 until the report has been processed."""
    row = get_report_row(c, user(request).workspace_id, report_id)
    status, _ = current_status(c, row)
    genome = c.store.one("SELECT * FROM genomes WHERE id = ?", (row["proband_genome_id"] or 0,))
    if status not in PROCESSED or genome is None:
        raise ApiError(422, f"report {report_id} is {status}: variants are available once it is processed")
    return row, genome


def _batched(parts: Iterable[str]) -> Iterator[bytes]:
    buffer: list[str] = []
    size = 0
    for part in parts:
        buffer.append(part)
        size += len(part)
        if size >= _BATCH:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode()


def _json_parts(pairs: Iterable[tuple[Any, dict[str, Any]]], extended: bool) -> Iterator[str]:
    yield '{"objects": ['
    for index, (record, variant) in enumerate(pairs):
        if extended:
            variant = {**variant, "info": record.info, "format": record.fields[:1], "qual_raw": record.qual}
        yield ("," if index else "") + json.dumps(variant)
    yield "]}"


def _csv_parts(pairs: Iterable[tuple[Any, dict[str, Any]]]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for _, variant in pairs:
        writer.writerow(["" if variant[k] is None else variant[k] for k in CSV_COLUMNS])
        if out.tell() >= _BATCH:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def _vcf_parts(pairs: Iterable[tuple[Any, dict[str, Any]]], sample: str) -> Iterator[str]:
    yield _VCF_HEADER.format(sample=sample)
    for record, variant in pairs:
        info = [
            f"RVID={variant['report_variant_id']}",
            f"GENE={variant['gene']}",
            f"STATUS={variant['status']}",
        ]
        if variant["to_report"]:
            info.append(f"TO_REPORT={variant['to_report']}")
        columns = [
            record.chrom,
            str(record.pos),
            record.id,
            record.ref,
            record.alt,
            record.qual,
            record.filter,
        ]
        yield "\t".join([*columns, ";".join(info), "GT", variant["genotype"] or "./."]) + "\n"


@add_route(router, "/reports/{report_id}/variants", ["GET"])
def get_variants(request: Request, report_id: int) -> StreamingResponse:
    c, params = ctx(request), Params(request)
    fmt = (params.get("format") or "JSON").upper()
    if fmt not in ("JSON", "CSV", "VCF"):
        raise ApiError(400, "format must be JSON, CSV or VCF")
    wanted = VariantFilter(params)
    _, genome = _proband_file(c, request, report_id)
    pairs = select(c, report_id, genome["path"], genome["format"], wanted)
    if fmt == "CSV":
        parts, media = _csv_parts(pairs), "text/csv"
    elif fmt == "VCF":
        parts, media = _vcf_parts(pairs, sample_name(genome["path"], genome["format"])), "text/vcf"
    else:
        parts, media = _json_parts(pairs, params.flag("extended")), "application/json"
    name = f"report_{report_id}_variants.{fmt.lower()}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(_batched(parts), media_type=media, headers=headers)


def _scored(
    c: Context, report_id: int, genome: dict[str, Any], statuses: set[str]
) -> Iterator[dict[str, Any]]:
    edits = overrides(c, report_id)
    for rvid, record in iter_file_records(genome["path"], genome["format"]):
        variant = make_variant(report_id, rvid, record, edits.get(rvid))
        if variant["status"] in ("NOT_REVIEWED", "EXCLUDED") and not variant["to_report"]:
            continue
        digest = zlib.crc32(f"{rvid}:{record.pos}".encode())
        scoring = "classified" if variant["to_report"] else ("scored" if digest % 2 else "scoring")
        if statuses and scoring not in statuses:
            continue
        criteria = ("PVS1", "PS1", "PM2", "PP3", "BP4", "BA1")
        yield {
            **{
                k: variant[k] for k in ("report_variant_id", "chrom", "start_on_chrom", "end_on_chrom", "ref")
            },
            **{k: variant[k] for k in ("alt", "gene", "status", "to_report", "score")},
            "scoring_status": scoring,
            "classification": {"PRIMARY_FINDING": "Pathogenic", "SECONDARY_FINDING": "Likely pathogenic"}.get(
                variant["to_report"] or "", "Uncertain significance"
            ),
            "criteria": [criteria[digest % 6], criteria[(digest // 6) % 6]],
        }


@add_route(router, "/reports/{report_id}/variants/scored", ["GET"])
def get_scored_variants(request: Request, report_id: int) -> StreamingResponse:
    c, params = ctx(request), Params(request)
    statuses = {s.lower() for s in params.getlist("scoring_status") if s}
    unknown = statuses - {"scored", "scoring", "classified"}
    if unknown:
        raise ApiError(400, "scoring_status must be scored, scoring or classified")
    _, genome = _proband_file(c, request, report_id)
    audit = params.flag("audit_log")

    def parts() -> Iterator[str]:
        yield f'{{"report_id": {report_id}, "scoring_status": "scored", "objects": ['
        for index, item in enumerate(_scored(c, report_id, genome, statuses)):
            yield ("," if index else "") + json.dumps(item)
        yield "]"
        if audit:
            rows = c.store.all("SELECT * FROM variant_events WHERE report_id = ? ORDER BY id", (report_id,))
            log = [
                {
                    "report_variant_id": row["rvid"],
                    "field": row["field"],
                    "old_value": row["old_value"],
                    "new_value": row["new_value"],
                    "user": row["user"],
                    "timestamp": c.clock.stamp(row["at"]),
                }
                for row in rows
            ]
            yield ', "audit_log": ' + json.dumps(log)
        yield "}"

    return StreamingResponse(_batched(parts()), media_type="application/json")


def _set_fields(
    c: Context, report_id: int, who: str, changes: dict[int, dict[str, Any]], current: dict
) -> int:
    """Store the values that differ from ``current`` and their audit events in one transaction.

    A value equal to the current one is not an edit: no override, no audit event.
    :return: how many variants changed.
    """
    now = c.clock.now()
    statements: list[tuple[str, list[Any]]] = []
    changed = 0
    for rvid, fields in changes.items():
        before = current[rvid]
        edits = {field: value for field, value in fields.items() if before.get(field) != value}
        if not edits:
            continue
        changed += 1
        statements.append(
            (
                "INSERT INTO variant_overrides (report_id, rvid, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (report_id, rvid) DO NOTHING",
                [report_id, rvid, now],
            )
        )
        for field, value in edits.items():
            statements.append(
                (
                    f"UPDATE variant_overrides SET {field} = ?, updated_at = ? "  # noqa: S608  # nosec B608
                    "WHERE report_id = ? AND rvid = ?",
                    [value, now, report_id, rvid],
                )
            )
            statements.append(
                (
                    "INSERT INTO variant_events (report_id, rvid, field, old_value, new_value, user, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [report_id, rvid, field, before.get(field), value, who, now],
                )
            )
    if statements:
        c.store.execute_many(statements)
    return changed


@add_route(router, "/reports/{report_id}/variants/{rvid}", ["PATCH"])
async def patch_variant(request: Request, report_id: int, rvid: int) -> dict[str, Any]:
    c = ctx(request)
    row, genome = _proband_file(c, request, report_id)
    values = patch_values(await read_body(request), ("/status", "/to_report"))
    vocabularies = {"/status": VARIANT_STATUSES, "/to_report": TO_REPORT}
    fields: dict[str, Any] = {}
    for path, value in values.items():
        text = str(value).strip().upper() if value is not None else None
        if text is None and path == "/status" or text is not None and text not in vocabularies[path]:
            raise ApiError(422, f"{path[1:]} must be one of {', '.join(vocabularies[path])}")
        fields[path[1:]] = text
    if rvid < 1 or rvid > genome["record_count"]:
        raise ApiError(404, f"variant {rvid} not found in report {report_id}")

    def find() -> Any:
        for number, record in iter_file_records(genome["path"], genome["format"]):
            if number == rvid:
                return record
        raise ApiError(404, f"variant {rvid} not found in report {report_id}")

    record = await run_in_threadpool(find)
    before = make_variant(report_id, rvid, record, overrides(c, report_id).get(rvid))
    _set_fields(c, report_id, user(request).login, {rvid: fields}, {rvid: before})
    return make_variant(report_id, rvid, record, overrides(c, report_id).get(rvid))


_FILTER_HEADER = re.compile(r"##FILTER=<ID=([^,>]+)")


def _declared_filters(path: Any, fmt: str) -> set[str]:
    """The IDs of the ``##FILTER`` header lines."""
    from airflow_provider_fabric import vcf

    declared: set[str] = set()
    with open(path, "rb") as handle:
        for line in vcf.open_vcf_text(handle, fmt):
            if not line.startswith("#"):
                break
            match = _FILTER_HEADER.match(line)
            if match:
                declared.add(match.group(1))
    return declared


def _wanted_statuses(path: Any, fmt: str) -> dict[tuple[str, int, str, str], str]:
    """``(chrom, pos, ref, alt) -> status`` from the FILTER column; 422 unless every record has one."""
    from airflow_provider_fabric import vcf

    declared = _declared_filters(path, fmt)
    wanted: dict[tuple[str, int, str, str], str] = {}
    bad: list[tuple[int, str]] = []
    count = 0
    with open(path, "rb") as handle:
        for count, record in enumerate(vcf.iter_records(vcf.open_vcf_text(handle, fmt)), start=1):
            status = BULK_STATUSES.get(record.filter) if record.filter in declared else None
            if status is None:
                bad.append((count, record.filter))
                continue
            wanted[(norm_chrom(record.chrom), record.pos, record.ref, record.alt)] = status
    if not count:
        raise ApiError(422, "the VCF holds no variant records")
    if bad:
        number, value = bad[0]
        raise ApiError(
            422,
            f"{len(bad)} of {count} record(s) carry no validation status in FILTER: each record's FILTER "
            f"must be {' or '.join(BULK_STATUSES)}, declared in a ##FILTER header line "
            f"(first: record {number}, FILTER {value[:40]!r}); nothing was set",
        )
    return wanted


def _bulk_statuses(c: Context, report_id: int, genome: dict[str, Any], path: Any, fmt: str, who: str):
    wanted = _wanted_statuses(path, fmt)
    edits = overrides(c, report_id)
    changes: dict[int, dict[str, Any]] = {}
    current: dict[int, dict[str, Any]] = {}
    for rvid, record in iter_file_records(genome["path"], genome["format"]):
        key = (norm_chrom(record.chrom), record.pos, record.ref, record.alt)
        if key in wanted:
            changes[rvid] = {"status": wanted.pop(key)}
            current[rvid] = make_variant(report_id, rvid, record, edits.get(rvid))
    changed = _set_fields(c, report_id, who, changes, current)
    unmatched = [{"chrom": k[0], "pos": k[1], "ref": k[2], "alt": k[3]} for k in wanted]
    matched = [{"id": rvid, **fields} for rvid, fields in changes.items()]
    return {"updated": changed, "matched": len(matched), "objects": matched, "unmatched": unmatched}


@add_route(router, "/reports/{report_id}/variants", ["PUT"])
async def set_variant_statuses(request: Request, report_id: int) -> dict[str, Any]:
    from airflow_provider_fabric.vcf import VcfValidationError

    c, params = ctx(request), Params(request)
    _, genome = _proband_file(c, request, report_id)
    fmt = (params.get("format") or "").lower() or None
    if fmt is not None and fmt not in ("vcf", "vcf.gz", "vcf.bz2"):
        raise ApiError(400, "format must be vcf, vcf.gz or vcf.bz2")
    temp = c.store.genome_dir / f"validation-{uuid.uuid4().hex}.part"
    try:
        detected, _ = await receive_file(request, temp, fmt)
        return await run_in_threadpool(
            _bulk_statuses, c, report_id, genome, temp, detected, user(request).login
        )
    except VcfValidationError as err:
        raise ApiError(422, f"invalid VCF: {err}") from err
    finally:
        temp.unlink(missing_ok=True)


@add_route(router, "/reports/{report_id}/selectable_variants", ["GET", "POST"])
async def selectable_variants(request: Request, report_id: int) -> dict[str, Any]:
    c, params = ctx(request), Params(request)
    body = await read_body(request) if request.method == "POST" else {}
    if isinstance(body, dict) and body:
        params.pairs.extend((str(k), str(v)) for k, v in body.items() if v is not None)
    _, genome = _proband_file(c, request, report_id)
    gene = (params.get("gene") or "").upper()
    wanted = VariantFilter(params)
    limit, wanted.limit, offset, wanted.offset = wanted.limit or 100, None, wanted.offset, 0

    def collect() -> list[dict[str, Any]]:
        found = []
        for _, variant in select(c, report_id, genome["path"], genome["format"], wanted):
            if not gene or variant["gene"] == gene:
                found.append(variant)
                if len(found) >= offset + limit:
                    break
        return found[offset:]

    return {"objects": await run_in_threadpool(collect)}
