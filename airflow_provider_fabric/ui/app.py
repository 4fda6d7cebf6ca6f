"""The plugin's FastAPI app, mounted by the api-server at ``/fabric-genomics``.

* ``GET /fabric-genomics/cases``: the cases page (HTML; what the "Fabric Genomics" nav item shows);
* ``GET /fabric-genomics/api/cases``: the same rows as JSON, for scripts.

Both take ``status``, ``dag_id`` and ``stuck_hours`` filters. Airflow does not
protect plugin routes: each route here asks Airflow's own auth manager for the
user (the UI's session cookie or an API token), answers 401 without one (the
page sends the browser to Airflow's login instead), and reads only the DAGs
that user may read.

Settings, in the ``[fabric_genomics]`` section of Airflow's configuration
(or ``AIRFLOW__FABRIC_GENOMICS__...`` environment variables): ``cases_conn_id``,
``cases_cache_seconds``, ``cases_timeout``, ``cases_page_size``, ``cases_days``.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from airflow_provider_fabric.get_provider_info import get_provider_info
from airflow_provider_fabric.ui.cases import GENOME, collect
from airflow_provider_fabric.ui.statuses import Snapshot, StatusBoard
from airflow_provider_fabric.ui.view import Filters, Row, build_rows, duration_text, select

SECTION = "fabric_genomics"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # Only the Airflow UI (same origin) may frame the page.
    "Content-Security-Policy": "frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
}

StatusFilter = Annotated[str | None, Query(max_length=40, description="only cases in this status")]
DagFilter = Annotated[str | None, Query(max_length=250, description="only cases of this DAG")]
StuckFilter = Annotated[
    str | None,
    Query(max_length=20, description="only unfinished cases in their status at least this many hours"),
]


@functools.cache
def board() -> StatusBoard:
    """The process's one :class:`StatusBoard`, configured from ``[fabric_genomics]``."""
    from airflow.configuration import conf

    return StatusBoard(
        conf.get(SECTION, "cases_conn_id", fallback=_default("cases_conn_id")),
        ttl=conf.getfloat(SECTION, "cases_cache_seconds", fallback=float(_default("cases_cache_seconds"))),
        timeout=conf.getfloat(SECTION, "cases_timeout", fallback=float(_default("cases_timeout"))),
        page_size=conf.getint(SECTION, "cases_page_size", fallback=int(_default("cases_page_size"))),
    )


def _default(option: str) -> str:
    """The default the provider declares (``get_provider_info``) for an option of ``[fabric_genomics]``.

    Airflow gives it itself once it has loaded the providers' configuration; the fallback covers
    a process that has not.
    """
    return get_provider_info()["config"][SECTION]["options"][option]["default"]


def _days() -> float:
    from airflow.configuration import conf

    return conf.getfloat(SECTION, "cases_days", fallback=float(_default("cases_days")))


def _fabric_links() -> Any:
    """``(kind, id) -> URL`` in Fabric Enterprise; always ``None`` when the connection has no ``ui_url``."""
    try:
        hook = board().hook()
        if not hook.settings.ui_url:
            return lambda kind, object_id: None
    except Exception:  # no usable connection: the page says so, without links
        return lambda kind, object_id: None
    return lambda kind, object_id: (
        hook.genome_ui_url(object_id) if kind == GENOME else hook.report_ui_url(object_id)
    )


def readable_dag_ids(user: Any) -> set[str]:
    """The DAGs ``user`` may read, as Airflow's auth manager decides."""
    from airflow.api_fastapi.app import get_auth_manager

    return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))


@dataclass(frozen=True)
class CasesPage:
    """What one user is shown: the rows the filters kept, and what is known about them.

    :param now: when the page was made.
    :param rows: the rows shown, what needs a person first.
    :param total: every case the user may see, before filtering.
    :param statuses: the statuses among those cases (the status filter's choices).
    :param dag_ids: their DAGs (the DAG filter's choices).
    :param filters: the filters applied.
    :param snapshot: what Fabric said, and how fresh it is.
    :param board: the status board it came from (connection, cache time).
    """

    now: datetime
    rows: list[Row]
    total: int
    statuses: list[str]
    dag_ids: list[str]
    filters: Filters
    snapshot: Snapshot
    board: StatusBoard

    def as_json(self) -> dict[str, Any]:
        """The JSON endpoint's answer."""
        refreshed = self.snapshot.refreshed_at
        return {
            "generated_at": self.now.isoformat(),
            "fabric": {
                "connection": self.board.conn_id,
                "refreshed_at": refreshed.isoformat() if refreshed else None,
                "cache_seconds": self.board.ttl,
                "error": self.snapshot.error,
                "requests": self.snapshot.requests,
            },
            "filters": asdict(self.filters),
            "total": self.total,
            "count": len(self.rows),
            "statuses": self.statuses,
            "dag_ids": self.dag_ids,
            "cases": [row.as_json(self.now) for row in self.rows],
        }


def cases_page_for(session: Any, dag_ids: set[str], filters: Filters) -> CasesPage:
    """Everything the page and the JSON show: only cases of ``dag_ids``, counts included.

    :param session: a session on Airflow's metadata database.
    :param dag_ids: the DAGs the user may read (:func:`readable_dag_ids`).
    :param filters: the filters asked for.
    """
    now = datetime.now(UTC)
    cases = collect(session, dag_ids, since=now - timedelta(days=_days()))
    status_board = board()
    snapshot = status_board.lookup({case.key: case.project_id for case in cases})
    rows = build_rows(cases, snapshot, _fabric_links())
    return CasesPage(
        now=now,
        rows=select(rows, filters, now),
        total=len(rows),
        statuses=sorted({row.status for row in rows}),
        dag_ids=sorted({row.dag_id for row in rows}),
        filters=filters,
        snapshot=snapshot,
        board=status_board,
    )


def _filters(status: str | None, dag_id: str | None, stuck_hours: str | None) -> Filters:
    """The filters as asked; empty fields (a submitted form sends them) mean "any"."""
    hours = None
    if stuck_hours and stuck_hours.strip():
        try:
            hours = float(stuck_hours)
        except ValueError:
            hours = -1.0
        if not 0 <= hours <= 24 * 365:
            raise HTTPException(422, "stuck_hours must be a number of hours between 0 and 8760")
    return Filters((status or "").strip().upper() or None, dag_id or None, hours)


def cases_json(
    user: GetUserDep,
    session: SessionDep,
    status: StatusFilter = None,
    dag_id: DagFilter = None,
    stuck_hours: StuckFilter = None,
) -> Response:
    """The cases as JSON (IDs, statuses, times and links; never labels, external IDs or accessions)."""
    import json

    page = cases_page_for(session, readable_dag_ids(user), _filters(status, dag_id, stuck_hours))
    return Response(json.dumps(page.as_json()), media_type="application/json", headers=PAGE_HEADERS)


def cases_page(
    request: Request,
    user: GetUserDep,
    session: SessionDep,
    status: StatusFilter = None,
    dag_id: DagFilter = None,
    stuck_hours: StuckFilter = None,
) -> HTMLResponse:
    """The cases page."""
    page = cases_page_for(session, readable_dag_ids(user), _filters(status, dag_id, stuck_hours))
    return HTMLResponse(render_page(page, str(request.url.query)), headers=PAGE_HEADERS)


def render_page(page: CasesPage, query: str = "") -> str:
    """The page's HTML (``query``: the filters asked for, repeated in the JSON link)."""
    return _template().render(page=page, duration=duration_text, query=query)


@functools.cache
def _template() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("airflow_provider_fabric.ui", "templates"),
        autoescape=select_autoescape(default=True),
    )
    return env.get_template("cases.html")


async def _login_or_error(request: Request, exc: HTTPException) -> Response:
    """Send a browser without a valid session to Airflow's login page; everything else as FastAPI would."""
    from fastapi.exception_handlers import http_exception_handler

    wants_page = request.url.path.endswith("/cases") and "/api/" not in request.url.path
    if wants_page and exc.status_code in (401, 403) and request.method == "GET":
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
    return await http_exception_handler(request, exc)


def create_app() -> FastAPI:
    """The FastAPI app the plugin mounts (no OpenAPI docs: the routes are described in our docs)."""
    app = FastAPI(title="Fabric Genomics cases", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_api_route("/cases", cases_page, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route("/api/cases", cases_json, methods=["GET"])
    app.add_exception_handler(HTTPException, _login_or_error)  # type: ignore[arg-type]
    return app
