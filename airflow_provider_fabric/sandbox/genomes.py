"""Projects and genomes: create/list projects, upload (streamed to disk), get, list, edit, delete genomes.

An upload is written to a temporary file while its MD5 and, for gzip and
bzip2, the integrity of the compressed stream are checked on the fly
(:class:`airflow_provider_fabric.vcf.StreamChecker`). The header and build
are then checked with :func:`airflow_provider_fabric.vcf.inspect_vcf` and
every record with :func:`airflow_provider_fabric.vcf.iter_records`. Any
failure answers 400/422 with a description and leaves no genome behind.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from .common import ApiError, Context, Params, add_route, ctx, page, read_body, require_object, user
from .lifecycle import FAIL_ANNOTATION_MARKER, genome_status
from .looks import look_at_genomes

router = APIRouter()

SHARE_ROLES = ("CONTRIBUTOR", "VIEWER", "NONE")
GENOME_SEXES = ("male", "female", "unspecified")
ASSEMBLIES = {"hg19": "hg19", "grch37": "GRCh37"}
_HEAD = 1 << 16


def project_view(c: Context, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "share_role": row["share_role"],
        "workspace_id": row["workspace_id"],
        "created_on": c.clock.stamp(row["created_at"]),
    }


def genome_view(c: Context, row: dict[str, Any], now: float) -> dict[str, Any]:
    status, description = genome_status(row, c.clock, now)
    return {
        "id": row["id"],
        "genome_id": row["id"],
        "project_id": row["project_id"],
        "genome_label": row["label"],
        "name": row["label"],
        "genome_sex": row["sex"],
        "external_id": row["external_id"],
        "assembly_version": row["assembly_version"],
        "format": row["format"],
        "checksum": row["checksum"],
        "size": row["size"],
        "sample_count": row["sample_count"],
        "variant_count": row["record_count"],
        "created_on": c.clock.stamp(row["created_at"]),
        "status": status,
        "status_description": description,
    }


def get_project(c: Context, workspace_id: int, project_id: int) -> dict[str, Any]:
    row = c.store.one("SELECT * FROM projects WHERE id = ? AND workspace_id = ?", (project_id, workspace_id))
    if row is None:
        raise ApiError(404, f"project {project_id} not found")
    return row


def get_genome_row(c: Context, workspace_id: int, genome_id: int) -> dict[str, Any]:
    row = c.store.one("SELECT * FROM genomes WHERE id = ? AND workspace_id = ?", (genome_id, workspace_id))
    if row is None:
        raise ApiError(404, f"genome {genome_id} not found")
    return row


@add_route(router, "/projects/", ["GET"])
def list_projects(request: Request) -> dict[str, Any]:
    c, params = ctx(request), Params(request)
    rows = c.store.all(
        "SELECT * FROM projects WHERE workspace_id = ? ORDER BY id", (user(request).workspace_id,)
    )
    return {"objects": page([project_view(c, row) for row in rows], params)}


@add_route(router, "/projects/", ["POST"])
async def create_project(request: Request) -> dict[str, Any]:
    c = ctx(request)
    body = require_object(await read_body(request), "the project")
    name = str(body.get("project_name") or body.get("name") or "").strip()
    if not name:
        raise ApiError(422, "project_name is required")
    share_role = str(body.get("share_role") or "NONE").upper()
    if share_role not in SHARE_ROLES:
        raise ApiError(422, f"share_role must be one of {', '.join(SHARE_ROLES)}")
    me = user(request)
    values = {
        "workspace_id": me.workspace_id,
        "name": name,
        "description": body.get("description") or "",
        "share_role": share_role,
        "created_by": me.login,
        "created_at": c.clock.now(),
    }
    project_id = c.store.insert("projects", values)
    return project_view(c, {"id": project_id, **values})


def _genome_list(request: Request, project_id: int | None) -> dict[str, Any]:
    c, params, me = ctx(request), Params(request), user(request)
    sql = "SELECT * FROM genomes WHERE workspace_id = ?"
    args: list[Any] = [me.workspace_id]
    if project_id is not None:
        get_project(c, me.workspace_id, project_id)
        sql += " AND project_id = ?"
        args.append(project_id)
    external_id = params.get("external_id")
    if external_id is not None:
        sql += " AND external_id = ?"
        args.append(external_id)
    rows = page(c.store.all(sql + " ORDER BY id", args), params)
    look_at_genomes(c, rows)
    now = c.clock.now()
    return {"objects": [genome_view(c, row, now) for row in rows]}


@add_route(router, "/projects/{project_id}/genomes", ["GET"])
def list_project_genomes(request: Request, project_id: int) -> dict[str, Any]:
    return _genome_list(request, project_id)


@add_route(router, "/genomes", ["GET"])
def list_genomes(request: Request) -> dict[str, Any]:
    return _genome_list(request, None)


@add_route(router, "/genomes/{genome_id}", ["GET"])
def get_genome(request: Request, genome_id: int) -> dict[str, Any]:
    c = ctx(request)
    row = get_genome_row(c, user(request).workspace_id, genome_id)
    look_at_genomes(c, [row])
    return genome_view(c, row, c.clock.now())


@add_route(router, "/projects/{project_id}/genomes/{genome_id}", ["GET"])
def get_project_genome(request: Request, project_id: int, genome_id: int) -> dict[str, Any]:
    c = ctx(request)
    row = get_genome_row(c, user(request).workspace_id, genome_id)
    if row["project_id"] != project_id:
        raise ApiError(404, f"genome {genome_id} not found in project {project_id}")
    look_at_genomes(c, [row])
    return genome_view(c, row, c.clock.now())


@add_route(router, "/genomes/{genome_id}", ["PUT"])
async def edit_genome(request: Request, genome_id: int) -> dict[str, Any]:
    c, me = ctx(request), user(request)
    get_genome_row(c, me.workspace_id, genome_id)
    body = require_object(await read_body(request), "the genome update")
    changes: dict[str, Any] = {}
    if "name" in body or "genome_label" in body:
        name = str(body.get("name") or body.get("genome_label") or "").strip()
        if not name:
            raise ApiError(422, "name must not be empty")
        changes["label"] = name
    if "external_id" in body:
        changes["external_id"] = body["external_id"]
    if body.get("project_id") is not None:
        try:
            project_id = int(body["project_id"])
        except (TypeError, ValueError) as err:
            raise ApiError(422, "project_id must be an integer") from err
        try:
            get_project(c, me.workspace_id, project_id)
        except ApiError as err:
            raise ApiError(422, err.description) from err
        changes["project_id"] = project_id
    c.store.update("genomes", genome_id, changes)
    return genome_view(c, get_genome_row(c, me.workspace_id, genome_id), c.clock.now())


@add_route(router, "/genomes/{genome_id}", ["DELETE"])
def delete_genome(request: Request, genome_id: int) -> dict[str, Any]:
    c = ctx(request)
    row = get_genome_row(c, user(request).workspace_id, genome_id)
    c.store.execute("DELETE FROM genomes WHERE id = ?", (genome_id,))
    Path(row["path"]).unlink(missing_ok=True)
    return {"genome_id": genome_id, "deleted": True}


def _upload_params(params: Params) -> dict[str, Any]:
    label = (params.get("genome_label") or "").strip()
    if not label:
        raise ApiError(422, "genome_label is required")
    sex = (params.get("genome_sex") or "").strip().lower()
    if sex not in GENOME_SEXES:
        raise ApiError(422, f"genome_sex must be one of {', '.join(GENOME_SEXES)}")
    assembly = ASSEMBLIES.get((params.get("assembly_version") or "").strip().lower())
    if assembly is None:
        raise ApiError(
            422,
            "assembly_version must be hg19 (or GRCh37): only hg19/GRCh37 coordinates are accepted",
        )
    fmt = params.get("format")
    if fmt is not None and fmt.lower() not in ("vcf", "vcf.gz", "vcf.bz2"):
        raise ApiError(422, "format must be one of vcf, vcf.gz, vcf.bz2")
    checksum = (params.get("checksum") or "").strip().lower() or None
    return {
        "label": label,
        "sex": sex,
        "assembly_version": assembly,
        "format": fmt.lower() if fmt else None,
        "checksum": checksum,
        "external_id": params.get("external_id"),
        "bam_file": params.get("bam_file"),
    }


def _scan_file(path: Path, fmt: str) -> dict[str, Any]:
    """Check header, build and every record; count records; look for the failure marker."""
    from airflow_provider_fabric import vcf  # imported lazily: it pulls in Airflow's exceptions

    with path.open("rb") as handle:
        info = vcf.inspect_vcf(handle, max_records=1000)
    fail, records = False, 0
    with path.open("rb") as handle:
        text = vcf.open_vcf_text(handle, fmt)
        for line in text:
            if not line.startswith("##"):
                break
            if line.startswith("##source") and FAIL_ANNOTATION_MARKER in line:
                fail = True
    with path.open("rb") as handle:
        for _ in vcf.iter_records(vcf.open_vcf_text(handle, fmt)):
            records += 1
    return {"sample_count": info.sample_count, "record_count": records, "fail_annotation": int(fail)}


async def receive_file(request: Request, path: Path, wanted_format: str | None) -> tuple[str, str]:
    """Stream the body to ``path``; return ``(format, md5)``. Checks compression on the fly."""
    from airflow_provider_fabric import vcf

    head = bytearray()
    checker: Any = None
    with path.open("wb") as out:
        async for chunk in request.stream():
            if not chunk:
                continue
            if checker is None:
                head += chunk
                if len(head) < _HEAD:
                    continue
                checker = vcf.StreamChecker(_decide_format(vcf, bytes(head), wanted_format))
                chunk, head = bytes(head), bytearray()
            checker.update(chunk)
            out.write(chunk)
        if checker is None:
            checker = vcf.StreamChecker(_decide_format(vcf, bytes(head), wanted_format))
            checker.update(bytes(head))
            out.write(head)
    return checker.fmt, checker.finish()


def _decide_format(vcf: Any, head: bytes, wanted: str | None) -> str:
    detected = str(vcf.detect_format(head))
    if wanted and wanted != detected:
        raise ApiError(422, f"format is {wanted} but the content is {detected}")
    return detected


@add_route(router, "/projects/{project_id}/genomes", ["PUT", "POST"])
async def upload_genome(request: Request, project_id: int) -> dict[str, Any]:
    from airflow_provider_fabric.vcf import VcfValidationError

    c, me = ctx(request), user(request)
    meta = _upload_params(Params(request))
    get_project(c, me.workspace_id, project_id)
    temp = c.store.genome_dir / f"upload-{uuid.uuid4().hex}.part"
    try:
        fmt, md5 = await receive_file(request, temp, meta["format"])
        if meta["checksum"] and meta["checksum"] != md5:
            raise ApiError(422, "checksum mismatch: the MD5 of the received file differs from 'checksum'")
        scanned = await run_in_threadpool(_scan_file, temp, fmt)
    except VcfValidationError as err:
        temp.unlink(missing_ok=True)
        status = 400 if getattr(err, "reason", None) in ("empty", "not_vcf") else 422
        raise ApiError(status, f"invalid VCF: {err}") from err
    except ClientDisconnect:
        # Nobody is left to answer; an API error keeps it to one access-log line (no traceback).
        temp.unlink(missing_ok=True)
        raise ApiError(400, "the client disconnected before the upload was complete") from None
    except (ApiError, OSError):
        temp.unlink(missing_ok=True)
        raise
    final = c.store.genome_dir / f"{uuid.uuid4().hex}.{fmt}"
    os.replace(temp, final)
    now = c.clock.now()
    values = {
        "workspace_id": me.workspace_id,
        "project_id": project_id,
        "label": meta["label"],
        "sex": meta["sex"],
        "external_id": meta["external_id"],
        "assembly_version": meta["assembly_version"],
        "format": fmt,
        "checksum": md5,
        "size": final.stat().st_size,
        "path": str(final),
        "bam_file": meta["bam_file"],
        "created_at": now,
        "annotated_at": now + c.clock.annotation_seconds,
        "looks": 0,
        **scanned,
    }
    genome_id = c.store.insert("genomes", values)
    return genome_view(c, {"id": genome_id, **values}, now)
