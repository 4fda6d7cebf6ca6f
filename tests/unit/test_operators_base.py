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


def test_operator_modules_import_nothing_heavy():
    """DAG files are parsed constantly: importing the operators must not pull in HTTP, VCF or storage code."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from airflow.providers.common.compat.sdk import BaseOperator, BaseOperatorLink, XCom\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_fabric.operators.projects, airflow_provider_fabric.operators.genomes\n"
        "import airflow_provider_fabric.operators.reports\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "airflow_provider_fabric.operators.genomes" in loaded
    heavy = {"requests", "airflow_provider_fabric.hooks.fabric", "airflow_provider_fabric.vcf"}
    heavy |= {"airflow_provider_fabric.storage", "airflow_provider_fabric.sandbox"}
    assert not loaded & heavy
