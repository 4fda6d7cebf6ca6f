"""End-to-end fixtures for the example DAGs: the dags folder, a migrated metadata DB, a sandbox.

``dag.test()`` in Airflow 3.3 syncs the configured DAG bundle (``[core] dags_folder``)
to the metadata database before running, so the examples must be the dags folder:
``tests/conftest.py`` sets it before Airflow is imported; this asserts it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from dagsupport import CONN_ENV, DAGS_FOLDER, POKE_ENV

assert os.environ["AIRFLOW__CORE__DAGS_FOLDER"] == str(DAGS_FOLDER)


@pytest.fixture(scope="session")
def dag_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real ``fabric-sandbox`` over HTTPS; the default connection points at it.

    Time runs in looks, not seconds (``looks=2``): a sensor's first look always finds the genome
    annotating or the report processing, and its second look finds it done, on any machine. So a
    deferrable sensor always defers, a poke-mode sensor always pokes twice, and no test waits for
    a wall clock.
    """
    from airflow_provider_fabric.sandbox.process import SandboxProcess

    process = SandboxProcess(
        tmp_path_factory.mktemp("dag-sandbox"),
        looks=2,
        record_requests=True,  # re-run tests read what each run sent
    )
    with process, pytest.MonkeyPatch.context() as patch:
        patch.setenv(CONN_ENV, process.conn_json())
        patch.setenv(POKE_ENV, "0.2")
        yield process
