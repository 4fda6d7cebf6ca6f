"""FabricBaseOperator: connection choice, cached hook, UI-URL pushes for the extra links."""

from __future__ import annotations

import json

import pytest

from airflow_provider_fabric.links import GENOME_URL_KEY, REPORT_URL_KEY
from airflow_provider_fabric.operators.base import FabricBaseOperator


class RecordingTI:
    def __init__(self) -> None:
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


def test_pushes_report_and_genome_urls_from_connection_ui_url(fabric_conn):
    op = FabricBaseOperator(task_id="t")
    ti = RecordingTI()
    assert op.push_report_url({"ti": ti}, 42) == "https://ui.fabric.test/reports/42"
    assert op.push_genome_url({"ti": ti}, 7) == "https://ui.fabric.test/genomes/7"
    assert ti.pushed == {
        REPORT_URL_KEY: "https://ui.fabric.test/reports/42",
        GENOME_URL_KEY: "https://ui.fabric.test/genomes/7",
    }


def test_pushes_nothing_without_ui_url(monkeypatch: pytest.MonkeyPatch):
    conn = {"conn_type": "fabric_genomics", "host": "https://fabric.test", "login": "k", "password": "s"}
    monkeypatch.setenv("AIRFLOW_CONN_OTHER_FABRIC", json.dumps(conn))
    op = FabricBaseOperator(task_id="t", fabric_conn_id="other_fabric")
    ti = RecordingTI()
    assert op.push_report_url({"ti": ti}, 42) is None
    assert op.push_genome_url({"ti": ti}, 7) is None
    assert ti.pushed == {}
    assert op.hook.fabric_conn_id == "other_fabric"
    assert op.hook is op.hook  # one hook (one HTTP session) per task run
