"""The cases page as a person uses it: Debian's chromium, driven by Playwright, on a running api-server.

Logs in through Airflow's own login page, opens "Fabric Genomics" from the
navigation, checks the rows, statuses, filters and links inside the Airflow UI,
and saves a screenshot (``FABRIC_UI_SCREENSHOT`` names where; else the test's
temporary folder). Statuses are the sandbox's final ones (approved, ready to
review, annotated, failed), so nothing here depends on timing; "time in
status" is checked for its form only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from browsersupport import chromium
from seed_runs import SENTINELS
from uisupport import PASSWORD, UI_URL

# The first test may also build the session's Airflow (DB, DAG runs, users, api-server).
pytestmark = pytest.mark.timeout(900)
DURATION = re.compile(r"^(\d+ min|\d+ h \d\d min|\d+ d \d+ h)$")


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, airflow_ui):
    context = browser.new_context(viewport={"width": 1500, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(airflow_ui.url + "/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/auth/login).*$"))
    yield page
    context.close()


def rows(frame):
    return frame.locator("tr.case")


def statuses(frame) -> list[str]:
    return [text.strip() for text in frame.locator("tr.case td.status .badge").all_inner_texts()]


def test_cases_page_in_the_airflow_ui(page, airflow_ui, tmp_path):
    page.get_by_role("link", name="Fabric Genomics").first.click()
    page.wait_for_url(re.compile(r"/plugin/fabric-genomics"))
    frame = page.frame_locator("iframe[title='Fabric Genomics']")
    rows(frame).first.wait_for()

    assert rows(frame).count() == 9
    assert statuses(frame)[:3] == ["FAILED", "READY TO REVIEW", "READY TO REVIEW"]
    assert sorted(set(statuses(frame))) == ["ANNOTATED", "APPROVED", "FAILED", "READY TO REVIEW"]
    assert frame.locator("#counts").inner_text() == "9 of 9 cases"
    ages = frame.locator("tr.case td.age time").all_inner_texts()
    assert len(ages) == 9 and all(DURATION.match(age) for age in ages), ages

    shot = Path(os.environ.get("FABRIC_UI_SCREENSHOT") or tmp_path / "fabric-cases.png")
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    html = page.content() + frame.locator("html").inner_html()
    assert "PHISENTINEL" not in html and not [v for v in SENTINELS.values() if v in html]

    # Links: into Fabric Enterprise in a new tab, into Airflow relative to the UI's root.
    approved = frame.locator("tr.case[data-status=APPROVED]")
    assert approved.locator("a.fabric-link").get_attribute("href") == f"{UI_URL}/reports/1"
    assert approved.locator("a.fabric-link").get_attribute("target") == "_blank"
    assert approved.locator("a.dag-link").get_attribute("href") == "../dags/example_fabric_panel"
    run_id = airflow_ui.seeded["panel"]["run_id"]
    task_href = approved.locator("a.task-link").evaluate("a => a.href")
    assert task_href.startswith(f"{airflow_ui.url}/dags/example_fabric_panel/runs/")
    assert task_href.endswith("/tasks/wait_for_approval")

    # An Airflow link opens in the Airflow UI itself, not inside the frame.
    approved.locator("a.run-link").click()
    page.wait_for_url(re.compile(r"/dags/example_fabric_panel/runs/"))
    assert run_id.split("T")[0] in page.url.replace("%3A", ":")
    assert page.locator("iframe[title='Fabric Genomics']").count() == 0


def test_filters_in_the_browser(page, airflow_ui):
    page.goto(airflow_ui.url + "/plugin/fabric-genomics")
    frame = page.frame_locator("iframe[title='Fabric Genomics']")
    rows(frame).first.wait_for()

    frame.locator("#filter-status").select_option("FAILED")
    frame.locator("#apply").click()
    frame.locator("#counts", has_text="1 of 9 cases").wait_for()
    assert statuses(frame) == ["FAILED"]
    assert frame.locator("tr.case td.kind").inner_text() == "genome"
    assert "status=FAILED" in page.url, "the filter shows in the Airflow UI's address (shareable)"

    frame.locator("#reset").click()
    frame.locator("#counts", has_text="9 of 9 cases").wait_for()
    frame.locator("#filter-dag").select_option("example_fabric_panel")
    frame.locator("#apply").click()
    frame.locator("#counts", has_text="2 of 9 cases").wait_for()
    assert sorted(statuses(frame)) == ["ANNOTATED", "APPROVED"]

    frame.locator("#reset").click()
    frame.locator("#counts", has_text="9 of 9 cases").wait_for()
    frame.locator("#filter-stuck").fill("1000")
    frame.locator("#apply").click()
    frame.locator("#counts", has_text="0 of 9 cases").wait_for()
    assert frame.locator(".empty").inner_text() == "No case matches."
