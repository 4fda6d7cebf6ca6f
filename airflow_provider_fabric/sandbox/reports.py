"""Clinical reports: create (panel, family, older trio form), get, list, attach genomes, status, PDFs."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response

from . import catalogue
from .common import ApiError, Context, Params, add_route, as_int, ctx, page, read_body, require_object, user
from .lifecycle import SETTABLE_REPORT_STATUSES, report_genome_ids, report_status
from .looks import look_at_reports
from .pdf import render_pdf
from .store import dumps
from .variants import reviewed_count, variants_summary

router = APIRouter()

PROCESSED = ("READY TO REVIEW", "APPROVED", "COMPLETE")


def _family_rules() -> tuple[dict[str, int], tuple[str, ...]]:
    from airflow_provider_fabric.api.reports import FAMILY_SIZES, RELATIONSHIPS  # lazy: imports Airflow

    return FAMILY_SIZES, RELATIONSHIPS


def _sex(value: Any, who: str) -> str:
    sex = {"m": "m", "male": "m", "f": "f", "female": "f"}.get(str(value).strip().lower())
    if sex is None:
        raise ApiError(422, f"{who}: sex must be 'm' or 'f'")
    return sex


def _member(raw: Any, position: int, relationships: tuple[str, ...]) -> dict[str, Any]:
    who = f"family_{position}"
    if not isinstance(raw, dict):
        raise ApiError(422, f"{who} must be an object or null")
    relationship = str(raw.get("relationship", "")).strip().lower()
    if relationship not in relationships:
        raise ApiError(422, f"{who}: relationship must be one of {', '.join(relationships)}")
    affected = raw.get("affected", False)
    if isinstance(affected, str):
        affected = affected.strip().lower() in ("true", "1", "yes")
    return {
        "genome_id": as_int(raw.get("genome_id"), f"{who} genome_id", optional=True),
        "sex": _sex(raw.get("sex"), who),
        "affected": bool(affected),
        "relationship": relationship,
        "label": raw.get("label"),
    }


def _older_trio(body: dict[str, Any]) -> dict[str, Any]:
    """Turn the older trio form (``mother_genome_id``, ``father_genome_id``...) into the new one."""
    converted = {k: v for k, v in body.items() if not k.startswith(("mother_", "father_", "proband_"))}
    converted["report_type"] = body.get("report_type") or "Trio"
    converted["proband"] = {"genome_id": body.get("proband_genome_id"), "sex": body.get("proband_sex", "m")}
    converted["family_1"] = {"genome_id": body.get("mother_genome_id"), "sex": "f", "relationship": "mother"}
    converted["family_2"] = {"genome_id": body.get("father_genome_id"), "sex": "m", "relationship": "father"}
    return converted


def _members(body: dict[str, Any], report_type: str) -> tuple[int | None, dict[str, Any]]:
    """``(proband genome, members)`` of a creation or update body, checked."""
    if report_type == "panel":
        genome = as_int(
            body.get("proband_genome_id", body.get("genome_id")), "proband_genome_id", optional=True
        )
        return genome, {"proband": {"genome_id": genome}}
    sizes, relationships = _family_rules()
    proband = body.get("proband")
    if not isinstance(proband, dict):
        raise ApiError(422, "a family report needs a 'proband' object with genome_id and sex")
    genome = as_int(proband.get("genome_id"), "proband genome_id", optional=True)
    members: dict[str, Any] = {"proband": {"genome_id": genome, "sex": _sex(proband.get("sex"), "proband")}}
    for position in range(1, 5):
        raw = body.get(f"family_{position}")
        members[f"family_{position}"] = None if raw is None else _member(raw, position, relationships)
    count = sum(1 for position in range(1, 5) if members[f"family_{position}"] is not None)
    expected = sizes[report_type]
    if count != expected:
        raise ApiError(
            422,
            f"a {report_type} report needs {expected} family member(s) besides the proband "
            f"(family_1..family_4), got {count}",
        )
    return genome, members


def _report_type(value: Any) -> str:
    text = str(value or "").strip()
    if text.lower() == "panel":
        return "panel"
    sizes, _ = _family_rules()
    for name in sizes:
        if name.lower() == text.lower():
            return name
    raise ApiError(422, f"report_type must be panel or one of {', '.join(sizes)}")


def _check_genomes(c: Context, workspace_id: int, members: dict[str, Any]) -> dict[str, Any] | None:
    """Every named genome exists and has one sample; return the proband's genome row."""
    proband_row = None
    for key, member in members.items():
        if member is None or member.get("genome_id") is None:
            continue
        row = c.store.one(
            "SELECT * FROM genomes WHERE id = ? AND workspace_id = ?", (member["genome_id"], workspace_id)
        )
        if row is None:
            raise ApiError(422, f"{key}: genome {member['genome_id']} does not exist")
        if row["sample_count"] != 1:
            raise ApiError(
                422,
                f"{key}: genome {row['id']} has {row['sample_count']} samples; a report needs a "
                "single-sample genome",
            )
        if key == "proband":
            proband_row = row
    return proband_row


def _filter_id(body: dict[str, Any]) -> int | None:
    filter_id = as_int(body.get("filter_id"), "filter_id", optional=True)
    if filter_id is not None and filter_id not in catalogue.FILTERS:
        raise ApiError(422, f"filter {filter_id} does not exist")
    return filter_id


def genomes_by_id(c: Context, workspace_id: int) -> dict[int, dict[str, Any]]:
    rows = c.store.all("SELECT * FROM genomes WHERE workspace_id = ?", (workspace_id,))
    return {row["id"]: row for row in rows}


def get_report_row(c: Context, workspace_id: int, report_id: int) -> dict[str, Any]:
    row = c.store.one("SELECT * FROM reports WHERE id = ? AND workspace_id = ?", (report_id, workspace_id))
    if row is None:
        raise ApiError(404, f"report {report_id} not found")
    return row


def current_status(c: Context, row: dict[str, Any]) -> tuple[str, str | None]:
    return report_status(row, genomes_by_id(c, row["workspace_id"]), c.clock, c.clock.now())


def report_view(
    c: Context, row: dict[str, Any], genomes: dict[int, dict[str, Any]], extended: bool = False
) -> dict[str, Any]:
    status, description = report_status(row, genomes, c.clock, c.clock.now())
    members = json.loads(row["members"])
    options = json.loads(row["options"])
    proband = genomes.get(row["proband_genome_id"] or 0)
    processed = status in PROCESSED and proband is not None
    records = proband["record_count"] if processed and proband else 0
    view = {
        "id": row["id"],
        "workspace_id": row["workspace_id"],
        "project_id": row["project_id"],
        "created_by": row["created_by"],
        "created_on": c.clock.stamp(row["created_at"]),
        "report_type": row["report_type"],
        "test_type": row["report_type"],
        "panel_id": row["panel_id"],
        "genome_id": row["proband_genome_id"],
        "proband_genome_id": row["proband_genome_id"],
        "family": {key: value for key, value in members.items() if key != "proband"} or None,
        "filter_id": row["filter_id"],
        "filter_name": catalogue.FILTERS.get(row["filter_id"] or 0),
        "assay_type_id": row["assay_type_id"],
        "status": status,
        "status_description": description,
        "sample_collected_date": None,
        "sample_received_date": None,
        "accession_id": row["accession_id"],
        "report_approved_date": c.clock.stamp(row["approved_at"]),
        "variant_report_id": row["id"],
        "vaast_report_id": row["id"] if row["report_type"] != "panel" else None,
        "include_cosmic": False,
        "version": 1,
        "variant_count": records,
        "reviewed_variant_count": reviewed_count(c, row["id"], records) if processed else 0,
        "patient_dict": json.loads(row["patient_fields"]),
        **options,
    }
    if extended:
        view["patient_fields"] = json.loads(row["patient_fields"])
        view["variants"] = variants_summary(c, row["id"], records) if processed else None
    return view


@add_route(router, "/reports/", ["POST"])
async def create_report(request: Request) -> dict[str, Any]:
    c, me = ctx(request), user(request)
    body = require_object(await read_body(request), "the report")
    if "proband" not in body and ("mother_genome_id" in body or "father_genome_id" in body):
        body = _older_trio(body)
    report_type = _report_type(body.get("report_type"))
    proband_genome, members = _members(body, report_type)
    proband_row = _check_genomes(c, me.workspace_id, members)
    panel_id = None
    if report_type == "panel":
        panel_id = as_int(body.get("panel_id"), "panel_id")
        if panel_id not in catalogue.PANELS:
            raise ApiError(422, f"panel {panel_id} does not exist")
    project_id = as_int(body.get("project_id"), "project_id", optional=True)
    if project_id is None and proband_row is not None:
        project_id = proband_row["project_id"]
    if project_id is None:
        raise ApiError(422, "project_id is required for a report created without a proband genome")
    if (
        c.store.one(
            "SELECT id FROM projects WHERE id = ? AND workspace_id = ?", (project_id, me.workspace_id)
        )
        is None
    ):
        raise ApiError(422, f"project {project_id} does not exist")
    hpo_terms = body.get("hpo_terms")
    if isinstance(hpo_terms, str) and hpo_terms.strip():
        try:
            hpo_terms = json.loads(hpo_terms)
        except ValueError as err:
            raise ApiError(422, "hpo_terms must be a JSON-encoded list") from err
    options = {
        "hpo_terms": hpo_terms or [],
        "score_indels": bool(body.get("score_indels", False)),
        "background": body.get("background") or ("FULL" if report_type != "panel" else None),
    }
    now = c.clock.now()
    assay = catalogue.PANELS[panel_id]["assay_type_id"] if panel_id else catalogue.FAMILY_ASSAY_TYPE_ID
    values = {
        "workspace_id": me.workspace_id,
        "project_id": project_id,
        "report_type": report_type,
        "panel_id": panel_id,
        "filter_id": _filter_id(body),
        "accession_id": body.get("accession_id"),
        "assay_type_id": assay,
        "proband_genome_id": proband_genome,
        "members": dumps(members),
        "options": dumps(options),
        "patient_fields": "{}",
        "created_by": me.login,
        "created_at": now,
        "attached_at": now,
    }
    report_id = c.store.insert("reports", values)
    row = get_report_row(c, me.workspace_id, report_id)
    return {"clinical_report": report_view(c, row, genomes_by_id(c, me.workspace_id))}


@add_route(router, "/reports/", ["GET"])
def list_reports(request: Request) -> dict[str, Any]:
    c, params, me = ctx(request), Params(request), user(request)
    genomes = genomes_by_id(c, me.workspace_id)
    rows = c.store.all("SELECT * FROM reports WHERE workspace_id = ? ORDER BY id", (me.workspace_id,))
    views = [report_view(c, row, genomes) for row in rows]
    wanted_type = (params.get("report_type") or "").lower()
    statuses = {s.strip().upper().replace("_", " ") for s in params.getlist("report_status") if s}
    accession = (params.get("accession_id") or "").lower()
    external = (params.get("external_id") or "").lower()
    genome_id = params.integer("genome_id")
    genome_name = (params.get("genome_name") or "").lower()

    def keep(view: dict[str, Any], row: dict[str, Any]) -> bool:
        ids = [g for g in report_genome_ids(row) if g is not None]
        named = [genomes[g] for g in ids if g in genomes]
        return (
            (not wanted_type or view["report_type"].lower() == wanted_type)
            and (not statuses or view["status"] in statuses)
            and (not accession or accession in (view["accession_id"] or "").lower())
            and (not external or any(external in (g["external_id"] or "").lower() for g in named))
            and (genome_id is None or genome_id in ids)
            and (not genome_name or any(genome_name in g["label"].lower() for g in named))
        )

    kept = [(view, row) for view, row in zip(views, rows, strict=True) if keep(view, row)]
    order = params.get("order_by")
    if order:
        key = order.lstrip("-")
        field = {"run_date": "id", "report_type": "report_type", "report_status": "status"}.get(key)
        if field is None:
            raise ApiError(400, "order_by must be run_date, report_type or report_status")
        kept.sort(key=lambda pair: pair[0][field], reverse=order.startswith("-"))
    returned = [row for _, row in page(kept, params)]
    look_at_reports(c, returned, genomes)
    return {"objects": [report_view(c, row, genomes) for row in returned]}


@add_route(router, "/reports/{report_id}", ["GET"])
def get_report(request: Request, report_id: int) -> dict[str, Any]:
    c, params, me = ctx(request), Params(request), user(request)
    row, genomes = get_report_row(c, me.workspace_id, report_id), genomes_by_id(c, me.workspace_id)
    look_at_reports(c, [row], genomes)
    return report_view(c, row, genomes, extended=params.flag("extended"))


@add_route(router, "/reports/{report_id}", ["PUT"])
async def update_report(request: Request, report_id: int) -> dict[str, Any]:
    c, me = ctx(request), user(request)
    row = get_report_row(c, me.workspace_id, report_id)
    body = require_object(await read_body(request), "the report update")
    changes: dict[str, Any] = {}
    genome_keys = {"proband_genome_id", "genome_id", "proband", "mother_genome_id", "father_genome_id"}
    genome_keys |= {f"family_{n}" for n in range(1, 5)}
    if genome_keys & set(body):
        status, _ = current_status(c, row)
        if status in PROCESSED or row["status_override"]:
            raise ApiError(422, f"report {report_id} is {status}: genomes can no longer change")
        if "proband" not in body and ("mother_genome_id" in body or "father_genome_id" in body):
            body = _older_trio({**body, "report_type": row["report_type"]})
        if row["report_type"] != "panel":
            current = json.loads(row["members"])
            body = {**current, **{k: v for k, v in body.items() if k in current}}
        proband_genome, members = _members(body, row["report_type"])
        _check_genomes(c, me.workspace_id, members)
        changes.update(
            proband_genome_id=proband_genome, members=dumps(members), attached_at=c.clock.now(), looks=0
        )
    if "filter_id" in body:
        changes["filter_id"] = _filter_id(body)
    if "accession_id" in body:
        changes["accession_id"] = body["accession_id"]
    c.store.update("reports", report_id, changes)
    return report_view(c, get_report_row(c, me.workspace_id, report_id), genomes_by_id(c, me.workspace_id))


@add_route(router, "/reports/{report_id}/patient_fields", ["POST"])
async def post_patient_fields(request: Request, report_id: int) -> dict[str, Any]:
    c, me = ctx(request), user(request)
    row = get_report_row(c, me.workspace_id, report_id)
    body = require_object(await read_body(request), "patient fields")
    for name, value in body.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ApiError(422, f"patient field {name!r} must be a text, number or boolean value")
    if current_status(c, row)[0] == "APPROVED":
        raise ApiError(422, f"report {report_id} is approved: patient fields are locked")
    fields = {**json.loads(row["patient_fields"]), **body}
    c.store.update("reports", report_id, {"patient_fields": dumps(fields)})
    return fields


@add_route(router, "/reports/{report_id}/patient_fields", ["GET"])
def get_patient_fields(request: Request, report_id: int) -> dict[str, Any]:
    c = ctx(request)
    return json.loads(get_report_row(c, user(request).workspace_id, report_id)["patient_fields"])


def _qc_view(c: Context, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "report_id": row["report_id"],
        "created_on": c.clock.stamp(row["created_at"]),
        "data": json.loads(row["data"]),
    }


@add_route(router, "/reports/{report_id}/qc_data", ["POST"])
async def post_qc_data(request: Request, report_id: int) -> dict[str, Any]:
    c, me = ctx(request), user(request)
    row = get_report_row(c, me.workspace_id, report_id)
    body = require_object(await read_body(request), "QC data")
    assay = catalogue.ASSAY_TYPES[row["assay_type_id"]]
    allowed = assay["qc_metrics"]
    unknown = sorted(name for name in body if name not in allowed)
    if unknown or not body:
        given = f"unknown QC metric(s) {', '.join(unknown)}" if unknown else "no QC metric given"
        raise ApiError(
            422, f"{given} for assay type {assay['id']} ({assay['name']}); allowed: {', '.join(allowed)}"
        )
    for name, value in body.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ApiError(422, f"QC metric {name!r} must be a text, number or boolean value")
    if current_status(c, row)[0] == "APPROVED":
        raise ApiError(422, f"report {report_id} is approved: QC data is locked")
    values = {
        "report_id": report_id,
        "data": dumps(body),
        "created_by": me.login,
        "created_at": c.clock.now(),
    }
    qc_id = c.store.insert("qc_data", values)
    return _qc_view(c, {"id": qc_id, **values})


@add_route(router, "/reports/{report_id}/qc_data", ["GET"])
def get_qc_data(request: Request, report_id: int) -> dict[str, Any]:
    c = ctx(request)
    get_report_row(c, user(request).workspace_id, report_id)
    rows = c.store.all("SELECT * FROM qc_data WHERE report_id = ? ORDER BY id", (report_id,))
    return {"objects": [_qc_view(c, row) for row in rows]}


def patch_values(body: Any, allowed_paths: tuple[str, ...]) -> dict[str, Any]:
    """The ``{path: value}`` of a JSON Patch list of ``replace`` operations."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not body:
        raise ApiError(400, "the body must be a JSON Patch list of operations")
    values: dict[str, Any] = {}
    for op in body:
        if not isinstance(op, dict) or op.get("op") != "replace" or op.get("path") not in allowed_paths:
            raise ApiError(422, f"only 'replace' operations on {', '.join(allowed_paths)} are supported")
        values[op["path"]] = op.get("value")
    return values


@add_route(router, "/reports/{report_id}/update_status/", ["PATCH"])
async def update_status(request: Request, report_id: int) -> dict[str, Any]:
    c, me = ctx(request), user(request)
    row = get_report_row(c, me.workspace_id, report_id)
    value = str(patch_values(await read_body(request), ("/status",))["/status"] or "")
    wanted = value.strip().upper().replace("_", " ")
    if wanted not in SETTABLE_REPORT_STATUSES:
        raise ApiError(422, f"status can be set to {', '.join(SETTABLE_REPORT_STATUSES)}")
    status, _ = current_status(c, row)
    if status not in PROCESSED:
        raise ApiError(422, f"report {report_id} is {status}: its status can change only after processing")
    now = c.clock.now()
    changes = {"status_override": wanted, "status_set_at": now}
    changes["approved_at"] = (row["approved_at"] or now) if wanted == "APPROVED" else None
    c.store.update("reports", report_id, changes)
    return report_view(c, get_report_row(c, me.workspace_id, report_id), genomes_by_id(c, me.workspace_id))


def _pdf(report_id: int, status: str, preview: bool) -> Response:
    title = "PREVIEW - not the final report" if preview else "Final clinical report"
    lines = [
        "Fabric Genomics sandbox",
        title,
        f"Report ID: {report_id}",
        f"Status: {status}",
        "Synthetic sandbox document: no patient information.",
    ]
    name = f"report_{report_id}{'_preview' if preview else ''}.pdf"
    return Response(
        render_pdf(lines),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@add_route(router, "/reports/{report_id}/pdf_report", ["GET"])
def pdf_report(request: Request, report_id: int) -> Response:
    c = ctx(request)
    status, _ = current_status(c, get_report_row(c, user(request).workspace_id, report_id))
    if status != "APPROVED":
        raise ApiError(422, f"report {report_id} is {status}: the final PDF exists only for approved reports")
    return _pdf(report_id, status, preview=False)


@add_route(router, "/reports/{report_id}/pdf_preview", ["GET"])
def pdf_preview(request: Request, report_id: int) -> Response:
    c = ctx(request)
    status, _ = current_status(c, get_report_row(c, user(request).workspace_id, report_id))
    if status == "APPROVED":
        raise ApiError(422, f"report {report_id} is approved: download the final PDF instead of a preview")
    if status not in PROCESSED:
        raise ApiError(422, f"report {report_id} is {status}: no preview until processing has finished")
    return _pdf(report_id, status, preview=True)
