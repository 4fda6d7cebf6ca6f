"""The provider in Airflow's own UI, driven in a real browser (Debian's chromium through Playwright).

Against the api-server of the deployment the scenario ran on: the connection form (relabelled
fields, extras, the Test button), the Details tab's links into Fabric Enterprise, no empty
"Extra Links" heading, and PHI shown as ``***`` in Rendered Templates. Screenshots go to
``e2e-output/screenshots/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browsersupport import chromium
from deployment import UI_URL, Deployment
from scenario import PANEL, TRIO, Scenario

E2E = tuple[Deployment, Scenario]
WAIT_MS = 60_000  # bound of every wait for the page (a busy 2-core machine renders slowly)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Any, e2e: E2E) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


def shot(page: Any, output: Path, name: str) -> Path:
    path = output / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


def field(page: Any, label: str) -> Any:
    """The input right after a form label (the form's extra fields are not tied to their labels)."""
    return page.locator(f"xpath=//*[text()='{label}']/following::input[1]")


def task_page(
    deploy: Deployment, dag_id: str, run_id: str, task_id: str, tab: str, map_index: int = -1
) -> str:
    mapped = f"/mapped/{map_index}" if map_index >= 0 else ""
    return f"{deploy.api_url}/dags/{dag_id}/runs/{run_id}/tasks/{task_id}{mapped}/{tab}"


def test_connection_form_and_its_test_button(page: Any, e2e: E2E, output: Path) -> None:
    from playwright.sync_api import expect

    deploy, scenario = e2e
    sandbox = scenario.sandbox
    page.goto(f"{deploy.api_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    page.get_by_role("combobox").first.fill("Fabric Genomics")
    page.keyboard.press("Enter")
    # Airflow's standard fields under Fabric's names; schema hidden; Port kept for the Test button.
    for label in ("Fabric API URL", "API key", "API secret", "Port"):
        expect(page.get_by_label(label, exact=True)).to_be_visible()
    expect(page.get_by_label("Schema", exact=True)).to_have_count(0)
    expect(page.get_by_label("Fabric API URL")).to_have_attribute(
        "placeholder", "https://api.fabricgenomics.com"
    )
    expect(page.get_by_label("Port", exact=True)).to_have_attribute("placeholder", re.compile("Test button"))
    page.get_by_label("Connection ID").fill("fabric_ui_check")
    page.get_by_label("Fabric API URL").fill(sandbox.url)
    page.get_by_label("API key", exact=True).fill(sandbox.login)
    page.get_by_label("API secret", exact=True).fill(sandbox.secret)
    page.get_by_label("Port", exact=True).fill(str(sandbox.port))
    shot(page, output, "connection-form")
    page.get_by_text("Extra Fields", exact=True).click()
    for label, help_text in (
        ("Verify TLS", "the path of a CA bundle"),
        ("Timeout (seconds)", "How long to wait"),
        ("Fabric Enterprise UI URL", "Base URL of the Fabric Enterprise web app"),
        ("Server time zone", "GMT for the EU server"),
    ):
        expect(page.get_by_text(label, exact=True)).to_be_visible()
        expect(page.get_by_text(re.compile(re.escape(help_text)))).to_be_visible()
    expect(field(page, "Verify TLS")).to_have_value("true")
    expect(field(page, "Server time zone")).to_have_value("America/Los_Angeles")
    field(page, "Verify TLS").fill(sandbox.ca_path)
    field(page, "Fabric Enterprise UI URL").fill(UI_URL)
    shot(page, output, "connection-form-extras")
    page.get_by_role("button", name="Save").click()

    row = page.get_by_role("row").filter(has_text="fabric_ui_check")
    expect(row).to_be_visible()
    stored = deploy.api("GET", "/connections/fabric_ui_check")
    assert (stored["conn_type"], stored["host"], stored["port"]) == (
        "fabric_genomics",
        sandbox.url,
        sandbox.port,
    )
    extra = json.loads(stored["extra"])
    assert extra["verify"] == sandbox.ca_path and extra["ui_url"] == UI_URL
    assert extra["server_timezone"] == "America/Los_Angeles" and float(extra["timeout"]) == 60

    row.get_by_role("button", name="Test Connection").click()
    expect(
        page.get_by_text(f"Connected to {sandbox.url}: the API key and secret were accepted")
    ).to_be_visible()
    shot(page, output, "connection-test")


def test_details_tab_links_open_the_report_and_the_genome_in_fabric(
    page: Any, e2e: E2E, output: Path
) -> None:
    from playwright.sync_api import expect

    deploy, scenario = e2e
    state = scenario.sandbox.state()
    report = next(r for r in state["reports"] if r["accession_id"] == "ACC-0001")
    genome = next(g for g in state["genomes"] if g["external_id"] == "LAB-SAMPLE-0001")
    panel = scenario.record["runs"][PANEL][0]

    page.goto(task_page(deploy, PANEL, panel, "wait_for_review", "details"))
    expect(page.get_by_text("Extra Links", exact=True)).to_be_visible()
    link = page.get_by_role("link", name="Fabric report")
    expect(link).to_have_attribute("href", f"{UI_URL}/reports/{report['id']}")
    shot(page, output, "details-fabric-report-link")

    page.goto(task_page(deploy, PANEL, panel, "upload_genome", "details"))
    expect(page.get_by_role("link", name="Fabric genome")).to_have_attribute(
        "href", f"{UI_URL}/genomes/{genome['id']}"
    )

    trio = scenario.record["runs"][TRIO][0]
    uploads = {
        t["map_index"]: t for t in scenario.task_instances(TRIO, trio) if t["task_id"] == "upload_genomes"
    }
    page.goto(task_page(deploy, TRIO, trio, "upload_genomes", "details", map_index=1))
    expect(page.get_by_role("link", name="Fabric genome")).to_have_attribute(
        "href", re.compile(rf"^{UI_URL}/genomes/\d+$")
    )
    expect(page.get_by_text(uploads[1]["hostname"], exact=True)).to_be_visible()  # which worker ran it


@pytest.mark.parametrize(("dag_id", "task_id"), [(TRIO, "wait_for_annotation"), (PANEL, "create_project")])
def test_no_empty_extra_links_heading(page: Any, e2e: E2E, output: Path, dag_id: str, task_id: str) -> None:
    """A task with no link to show (several genomes; a project) shows no "Extra Links" heading at all."""
    from playwright.sync_api import expect

    deploy, scenario = e2e
    run_id = scenario.record["runs"][dag_id][0]
    with page.expect_response(lambda answer: answer.url.split("?")[0].endswith(f"/{task_id}/links")) as links:
        page.goto(task_page(deploy, dag_id, run_id, task_id, "details"))
    assert links.value.json()["extra_links"] == {}
    expect(page.get_by_text("Task ID", exact=True)).to_be_visible()  # the tab has rendered
    expect(page.get_by_text("Extra Links", exact=True)).to_have_count(0)
    if dag_id == TRIO:
        shot(page, output, "details-several-genomes-no-links")


def test_rendered_templates_show_phi_as_stars(page: Any, e2e: E2E, output: Path) -> None:
    from playwright.sync_api import expect

    deploy, scenario = e2e
    panel = scenario.record["runs"][PANEL][0]
    page.goto(task_page(deploy, PANEL, panel, "upload_genome", "rendered_templates"))
    for name in ("genome_label", "external_id"):
        row = page.get_by_role("row").filter(has=page.get_by_text(name, exact=True))
        expect(row).to_contain_text("***")
    expect(page.get_by_text("hg19", exact=True)).to_be_visible()  # not PHI: shown as it is
    text = page.locator("body").inner_text()
    assert "SAMPLE-0001" not in text and "LAB-SAMPLE-0001" not in text
    shot(page, output, "rendered-templates-phi-masked")
    page.goto(task_page(deploy, PANEL, panel, "create_panel_report", "rendered_templates"))
    expect(page.get_by_role("row").filter(has=page.get_by_text("accession_id", exact=True))).to_contain_text(
        "***"
    )
    assert "ACC-0001" not in page.locator("body").inner_text()
