"""One real Airflow for the UI tests: the example DAGs run against a sandbox, users, the api-server.

The sandbox counts time in looks (``looks=2``), so the runs end the same way on
any machine, in final statuses that looking at them again does not change.
Built once per session (about two minutes: DB migration, two DAG runs, users,
api-server start) and stopped at the end. ``cases_cache_seconds=0``: every
request reads Fabric again, so what a test does to the sandbox shows at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from uisupport import UI_URL, AirflowUI


@pytest.fixture(scope="session")
def ui_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from airflow_provider_fabric.sandbox.process import SandboxProcess

    # Time in looks: every sensor's second look finds its object done, on any machine.
    with SandboxProcess(tmp_path_factory.mktemp("ui-sandbox"), looks=2) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def airflow_ui(ui_sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowUI]:
    conn = json.loads(ui_sandbox.conn_json())
    conn["extra"]["ui_url"] = UI_URL
    ui = AirflowUI(
        tmp_path_factory.mktemp("ui-airflow-home"),
        json.dumps(conn),
        {"AIRFLOW__FABRIC_GENOMICS__CASES_CACHE_SECONDS": "0"},
    )
    ui.prepare()
    ui.seeded = ui.seed(tmp_path_factory.mktemp("ui-inputs"))
    ui.add_users()
    ui.start()
    try:
        yield ui
    finally:
        ui.stop()
