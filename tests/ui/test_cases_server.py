"""The cases page and its JSON on a running api-server: who sees what, live statuses, no PHI, Fabric down.

The DB holds real runs of ``example_fabric_panel`` and ``example_fabric_intake``
made against the sandbox (see ``seed_runs.py``); the statuses expected come
from the sandbox's own state, not from the page.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from seed_runs import SENTINELS
from uisupport import UI_URL

# The first test also builds the session's Airflow (DB, DAG runs, users, api-server): minutes, not seconds.
pytestmark = pytest.mark.timeout(900)
JSON_PATH = "/fabric-genomics/api/cases"
PAGE_PATH = "/fabric-genomics/cases"


def cases(ui: Any, user: str, query: str = "") -> dict[str, Any]:
    code, _, body = ui.get(JSON_PATH + query, ui.token(user))
    assert code == 200, body
    return json.loads(body)


def sandbox_statuses(sandbox: Any) -> set[tuple[str, int, str]]:
    state = sandbox.state()
    genomes = {("genome", g["id"], g["status"]) for g in state["genomes"]}
    return genomes | {("report", r["id"], r["status"]) for r in state["reports"]}


def test_anonymous_requests_get_401_or_the_login_page(airflow_ui):
    code, _, body = airflow_ui.get(JSON_PATH)
    assert code == 401 and "cases" not in body
    code, headers, _ = airflow_ui.get(PAGE_PATH + "?status=FAILED")
    assert code == 303
    assert headers["location"].startswith(airflow_ui.url + "/auth/login/?next=")
    assert quote(PAGE_PATH, safe="") in headers["location"], "back to the page after login"
    code, _, _ = airflow_ui.get(JSON_PATH, "not-a-jwt")
    assert code in (401, 403)


def test_admin_sees_every_case_with_its_live_status(airflow_ui, ui_sandbox):
    data = cases(airflow_ui, "admin")
    shown = {(c["object"], c["fabric_id"], c["status"]) for c in data["cases"]}
    assert shown == sandbox_statuses(ui_sandbox), "one row per genome and report, with Fabric's status"
    assert data["total"] == data["count"] == len(shown) == 9
    assert {c["status_source"] for c in data["cases"]} == {"live"} and data["fabric"]["error"] is None
    assert data["fabric"]["requests"] > 0, "cases_cache_seconds=0: every request reads Fabric"
    statuses = [c["status"] for c in data["cases"]]
    assert statuses[0] == "FAILED" and statuses[1:3] == ["READY TO REVIEW"] * 2, "what needs a person first"

    runs = {airflow_ui.seeded[name]["run_id"]: name for name in ("panel", "intake")}
    kinds = {}
    for case in data["cases"]:
        assert case["run_id"] in runs and case["dag_id"] == f"example_fabric_{runs[case['run_id']]}"
        links = case["links"]
        assert links["task"].startswith(links["run"] + "/tasks/") and links["run"].startswith(links["dag"])
        assert not links["dag"].startswith("/"), "relative to the UI's root (it may sit under a proxy path)"
        assert links["fabric"] == f"{UI_URL}/{case['object']}s/{case['fabric_id']}"
        kinds[(case["object"], case["fabric_id"])] = case["kind"]
    assert sorted(set(kinds.values())) == ["family report (Trio)", "genome", "panel report"]


def test_a_user_sees_only_cases_of_the_dags_they_may_read(airflow_ui):
    panel = cases(airflow_ui, "panel_lab")
    assert {c["dag_id"] for c in panel["cases"]} == {"example_fabric_panel"}
    assert panel["total"] == 2 and panel["dag_ids"] == ["example_fabric_panel"]
    other = cases(airflow_ui, "panel_lab", "?dag_id=example_fabric_intake")
    assert other["count"] == 0 and other["total"] == 2, "asking for another DAG reveals nothing of it"

    nothing = cases(airflow_ui, "no_dags")
    assert (nothing["total"], nothing["count"], nothing["cases"], nothing["dag_ids"]) == (0, 0, [], [])
    code, _, html = airflow_ui.get(PAGE_PATH, airflow_ui.token("no_dags"))
    assert code == 200 and "0 of 0 cases" in html and "example_fabric" not in html


def test_filters(airflow_ui):
    failed = cases(airflow_ui, "admin", "?status=failed")
    assert [(c["object"], c["status"]) for c in failed["cases"]] == [("genome", "FAILED")]
    panel = cases(airflow_ui, "admin", "?dag_id=example_fabric_panel")
    assert sorted(c["status"] for c in panel["cases"]) == ["ANNOTATED", "APPROVED"]
    stuck = cases(airflow_ui, "admin", "?stuck_hours=0")
    assert {c["status"] for c in stuck["cases"]} == {"FAILED", "READY TO REVIEW"}, "unfinished cases only"
    assert cases(airflow_ui, "admin", "?stuck_hours=1000")["count"] == 0
    code, _, _ = airflow_ui.get(JSON_PATH + "?stuck_hours=-1", airflow_ui.token("admin"))
    assert code == 422


def test_the_ui_session_cookie_opens_the_page(airflow_ui):
    code, headers, html = airflow_ui.get(PAGE_PATH, airflow_ui.token("admin"), cookie=True)
    assert code == 200 and headers["content-type"].startswith("text/html")
    assert html.count('<tr class="case"') == 9
    assert headers["content-security-policy"] == "frame-ancestors 'self'"


def test_no_phi_in_the_page_or_its_json(airflow_ui):
    token = airflow_ui.token("admin")
    # The sentinels are in Airflow's DB (the intake's plan XCom holds labels and external IDs)...
    run = quote(airflow_ui.seeded["intake"]["run_id"], safe="")
    xcom = f"/api/v2/dags/example_fabric_intake/dagRuns/{run}/taskInstances/plan_intake/xcomEntries/"
    code, _, body = airflow_ui.get(xcom + "return_value", token)
    assert code == 200 and SENTINELS["label"] in body and SENTINELS["external_id"] in body
    # ...and never on the page or in its JSON, whatever the filters.
    for query in ("", "?status=FAILED", "?dag_id=example_fabric_panel", "?stuck_hours=0"):
        for path in (PAGE_PATH, JSON_PATH):
            code, _, text = airflow_ui.get(path + query, token)
            assert code == 200
            leaked = [value for value in SENTINELS.values() if value in text]
            assert leaked == [] and "PHISENTINEL" not in text, (path, query, leaked)


def test_fabric_down_shows_what_airflow_knows_and_the_last_known_status(airflow_ui, ui_sandbox):
    before = cases(airflow_ui, "admin")
    ui_sandbox.stop()
    try:
        offline = cases(airflow_ui, "admin")
        code, _, html = airflow_ui.get(PAGE_PATH, airflow_ui.token("admin"))
    finally:
        ui_sandbox.start()
    assert "no answer from Fabric" in offline["fabric"]["error"]
    assert offline["fabric"]["refreshed_at"] == before["fabric"]["refreshed_at"]
    assert [(c["fabric_id"], c["status"]) for c in offline["cases"]] == [
        (c["fabric_id"], c["status"]) for c in before["cases"]
    ]
    assert {c["status_source"] for c in offline["cases"]} == {"last known"}
    assert all(c["task_state"] and c["run_id"] for c in offline["cases"]), "Airflow's side is all there"
    assert code == 200 and 'id="fabric-notice"' in html and "Statuses are the last known" in html
    assert cases(airflow_ui, "admin")["fabric"]["error"] is None, "back to live once Fabric answers"
