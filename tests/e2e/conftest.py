"""The e2e session: one distributed deployment, the whole scenario run once, then the checks.

Run by ``make e2e`` (``scripts/e2e.sh``), not by the plain ``pytest`` run (``tests/e2e`` is in
``norecursedirs``). Everything lands in ``e2e-output/`` (or ``$E2E_OUTPUT``): ``logs/`` of every
process and task, ``screenshots/`` from the browser, ``summary.json`` (what ran where).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deployment import ROOT, Deployment, deployment
from scenario import INTAKE, PANEL, SIGNOUT, TRIO, Scenario, scratch

OUTPUT = Path(os.environ.get("E2E_OUTPUT") or ROOT / "e2e-output").resolve()
DAGS = [
    *(ROOT / "dags_examples").glob("example_fabric_*.py"),
    *(Path(__file__).parent / "dags").glob("*.py"),
]


@pytest.fixture(scope="session")
def output() -> Path:
    return OUTPUT


@pytest.fixture(scope="session")
def e2e() -> Iterator[tuple[Deployment, Scenario]]:
    """The deployment, after the whole scenario ran on it (the browser tests then look at it)."""
    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)
    OUTPUT.mkdir(parents=True)
    inputs = scratch()
    started = time.monotonic()
    with deployment(OUTPUT, sorted(DAGS)) as deploy, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT", json.dumps(deploy.connection()))
        scenario = Scenario(deploy, inputs)
        record = scenario.record
        record["deployment_up_s"] = round(time.monotonic() - started, 1)
        try:
            panel = scenario.panel_with_worker_kill()
            trio = scenario.start_trio()
            first_intake = scenario.start_intake()
            signout = scenario.start_signout()
            for dag_id, run_id in ((PANEL, panel), (TRIO, trio), (INTAKE, first_intake)):
                scenario.wait_run(dag_id, run_id)
            scenario.second_intake()
            scenario.restart_triggerer(first_intake)
            scenario.finish_intake()
            scenario.wait_run(SIGNOUT, signout)
            record["uploads_answered"] = scenario.uploads_answered()
            record["scenario_s"] = round(time.monotonic() - started, 1)
            yield deploy, scenario
        finally:
            (OUTPUT / "summary.json").write_text(json.dumps(record, indent=2, default=str))
            shutil.rmtree(inputs, ignore_errors=True)


@pytest.fixture(scope="session")
def record(e2e: tuple[Deployment, Scenario]) -> dict[str, Any]:
    return e2e[1].record
