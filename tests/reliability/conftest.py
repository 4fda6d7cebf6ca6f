"""Reliability and security fixtures: a migrated metadata DB and one recording fabric-sandbox.

The example DAGs must be Airflow's dags folder (``dag.test()`` syncs the configured
bundle first), so it is set here at import time, as ``tests/dags`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from relsupport import conn_json

CONN_ENV = "AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT"
POKE_ENV = "FABRIC_EXAMPLE_POKE_INTERVAL"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reliability: fault, crash, PHI and transport-security proofs")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(scope="session")
def rel_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real fabric-sandbox: time in looks, request recording, the plain-HTTP redirector.

    Statuses advance per look (``looks=2``): a sensor's first look always finds the object still
    running (a deferrable sensor always defers), its second finds it done, whatever the machine's
    speed. The default connection points at it with fast retry waits; example DAG sensors poke
    every 0.2 s.
    """
    from airflow_provider_fabric.sandbox.process import SandboxProcess

    process = SandboxProcess(
        tmp_path_factory.mktemp("rel-sandbox"),
        looks=2,
        http_port=0,
        record_requests=True,
    )
    with process, pytest.MonkeyPatch.context() as patch:
        patch.setenv(CONN_ENV, conn_json(process))
        patch.setenv(POKE_ENV, "0.2")
        yield process


@pytest.fixture
def sandbox(rel_sandbox: Any) -> Any:
    """The session sandbox with faults off at the start of the test."""
    rel_sandbox.clear_faults()
    return rel_sandbox
