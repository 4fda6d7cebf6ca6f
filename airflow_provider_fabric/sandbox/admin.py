"""Catalogue endpoints (panels, assay types) and the sandbox-only admin endpoints under ``/_sandbox``.

Admin endpoints exist only in the sandbox, never in the real API, and still
need a valid API user:

* ``GET /_sandbox/faults`` — current fault settings, scripted faults left, counters.
* ``PUT /_sandbox/faults`` — replace the fault settings (JSON, fields of :class:`.faults.FaultConfig`).
* ``DELETE /_sandbox/faults`` — no faults.
* ``POST /_sandbox/faults/release`` — let every request held by a scripted ``hold`` go on.
* ``GET /_sandbox/state`` — every project, genome and report (with computed statuses) and counts.
* ``GET /_sandbox/clock`` / ``POST`` — the server's time and offset; ``{"advance_seconds": S}``
  moves time on by ``S`` seconds (statuses, timestamps), for tests of long waits without waiting.
* ``GET /_sandbox/requests`` / ``DELETE`` — raw request lines (method, full URL with query
  string, and ``at``: arrival on the machine's monotonic clock) recorded in memory; only when
  started with ``--record-requests``, else 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from . import catalogue
from .common import ApiError, Params, add_route, ctx, page, read_body, require_object, user
from .faults import FaultConfig
from .genomes import genome_view, project_view
from .reports import genomes_by_id, report_view

router = APIRouter()


@add_route(router, "/panels/", ["GET"])
def list_panels(request: Request) -> dict[str, Any]:
    params = Params(request)
    panels = [catalogue.panel_view(panel) for panel in catalogue.PANELS.values()]
    for key in ("name", "description", "test_code"):
        wanted = (params.get(key) or "").lower()
        if wanted:
            panels = [panel for panel in panels if wanted in str(panel[key]).lower()]
    return {"objects": page(panels, params)}


def _panel_id(panel_id: int) -> int:
    if panel_id not in catalogue.PANELS:
        raise ApiError(404, f"panel {panel_id} not found")
    return panel_id


@add_route(router, "/panels/{panel_id}", ["GET"])
def get_panel(panel_id: int) -> dict[str, Any]:
    return catalogue.panel_view(catalogue.PANELS[_panel_id(panel_id)])


@add_route(router, "/panels/{panel_id}/regions", ["GET"])
def panel_regions(request: Request, panel_id: int) -> dict[str, Any]:
    return {"objects": page(catalogue.panel_regions(_panel_id(panel_id)), Params(request))}


@add_route(router, "/assay_types", ["GET"])
def list_assay_types(request: Request) -> dict[str, Any]:
    return {"objects": page(list(catalogue.ASSAY_TYPES.values()), Params(request))}


@add_route(router, "/assay_types/{assay_type_id}", ["GET"])
def get_assay_type(assay_type_id: int) -> dict[str, Any]:
    if assay_type_id not in catalogue.ASSAY_TYPES:
        raise ApiError(404, f"assay type {assay_type_id} not found")
    return catalogue.ASSAY_TYPES[assay_type_id]


@add_route(router, "/_sandbox/faults", ["GET"])
def get_faults(request: Request) -> dict[str, Any]:
    return ctx(request).faults.describe()


@add_route(router, "/_sandbox/faults", ["PUT", "POST"])
async def set_faults(request: Request) -> dict[str, Any]:
    c = ctx(request)
    body = require_object(await read_body(request), "the fault settings")
    try:
        config = FaultConfig.from_dict(body)
    except (TypeError, ValueError) as err:
        raise ApiError(422, str(err)) from err
    c.faults.configure(config)
    return c.faults.describe()


@add_route(router, "/_sandbox/faults", ["DELETE"])
def clear_faults(request: Request) -> dict[str, Any]:
    c = ctx(request)
    c.faults.configure(FaultConfig())
    return c.faults.describe()


@add_route(router, "/_sandbox/faults/release", ["POST"])
def release_held(request: Request) -> dict[str, Any]:
    return {"released": ctx(request).faults.release()}


@add_route(router, "/_sandbox/state", ["GET"])
def state(request: Request) -> dict[str, Any]:
    c, workspace = ctx(request), user(request).workspace_id
    now = c.clock.now()
    genomes = genomes_by_id(c, workspace)
    projects = c.store.all("SELECT * FROM projects WHERE workspace_id = ? ORDER BY id", (workspace,))
    reports = c.store.all("SELECT * FROM reports WHERE workspace_id = ? ORDER BY id", (workspace,))
    result: dict[str, Any] = {
        "projects": [project_view(c, row) for row in projects],
        "genomes": [genome_view(c, row, now) for row in genomes.values()],
        "reports": [report_view(c, row, genomes) for row in reports],
    }
    result["counts"] = {key: len(value) for key, value in result.items()}
    return result


def _clock_view(request: Request) -> dict[str, Any]:
    clock = ctx(request).clock
    return {"now": clock.stamp(clock.now()), "offset_seconds": clock.offset, "looks": clock.looks}


@add_route(router, "/_sandbox/clock", ["GET"])
def get_clock(request: Request) -> dict[str, Any]:
    return _clock_view(request)


@add_route(router, "/_sandbox/clock", ["POST"])
async def advance_clock(request: Request) -> dict[str, Any]:
    body = require_object(await read_body(request), "the clock change")
    try:
        seconds = float(body.get("advance_seconds", 0))
    except (TypeError, ValueError) as err:
        raise ApiError(422, "advance_seconds must be a number") from err
    if seconds < 0:
        raise ApiError(422, "advance_seconds must not be negative: the sandbox's time never goes back")
    ctx(request).clock.offset += seconds
    return _clock_view(request)


@add_route(router, "/_sandbox/requests", ["GET", "DELETE"])
def recorded_requests(request: Request) -> dict[str, Any]:
    recorded = ctx(request).recorded
    if recorded is None:
        raise ApiError(404, "request recording is off: start the sandbox with --record-requests")
    objects = list(recorded)
    if request.method == "DELETE":
        recorded.clear()
    return {"objects": objects}
