"""Fixtures for hook-level unit tests against ``requests-mock``."""

from __future__ import annotations

import json

import pytest
from unitsupport import BASE


@pytest.fixture
def fabric_conn(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A ``fabric_genomics_default`` connection pointing at a mocked HTTPS server."""
    conn = {
        "conn_type": "fabric_genomics",
        "host": BASE,
        "login": "api-key-123",
        "password": "s3cr3t-value",
        "extra": {"ui_url": "https://ui.fabric.test", "retry_initial_wait": 0.001, "retry_max_wait": 0.01},
    }
    monkeypatch.setenv("AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT", json.dumps(conn))
    return conn


@pytest.fixture
def hook(fabric_conn):
    from airflow_provider_fabric.hooks.fabric import FabricHook

    return FabricHook()
