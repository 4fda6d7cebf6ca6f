"""The sandbox as a process: CLI, config file, restart persistence, clean stop, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from airflow_provider_fabric.sandbox.lifecycle import FAIL_ANNOTATION_MARKER
from airflow_provider_fabric.sandbox.process import SandboxProcess
from airflow_provider_fabric.testing.vcfgen import write_vcf

CLI = [sys.executable, "-m", "airflow_provider_fabric.sandbox"]


def call(
    sandbox: SandboxProcess, method: str, path: str, auth: Any = None, **kwargs: Any
) -> requests.Response:
    auth = auth or (sandbox.login, sandbox.secret)
    return requests.request(
        method, sandbox.url + path, auth=auth, verify=sandbox.ca_path, timeout=120, **kwargs
    )


def test_help_documents_users_marker_and_admin_endpoints() -> None:
    text = subprocess.run([*CLI, "--help"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    for needle in (
        FAIL_ANNOTATION_MARKER,
        "noaccess",
        "/_sandbox/faults",
        "--record-requests",
        "--fault-503",
    ):
        assert needle in text


def test_config_file_users_hashed_secrets_and_no_plaintext_on_disk(tmp_path: Path) -> None:
    hashed = subprocess.run([*CLI, "--hash-secret", "from-hash"], capture_output=True, text=True, check=True)
    config = {
        "users": [
            {"login": "hash-user", "secret_hash": hashed.stdout.strip()},
            {"login": "blocked", "secret": "blocked-secret", "access": False},
        ],
        "annotation_seconds": 0,
    }
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    data_dir = tmp_path / "data"
    ca_out = tmp_path / "client" / "fabric-ca.pem"
    args = ["--config", str(config_path), "--ca-out", str(ca_out)]
    sandbox = SandboxProcess(data_dir, secret="cli-secret-value", extra_args=args)
    with sandbox:
        assert sandbox.ca_path == str(ca_out)
        assert ca_out.read_bytes() == (data_dir / "tls" / "ca.pem").read_bytes()
        assert call(sandbox, "GET", "/projects/", auth=("hash-user", "from-hash")).status_code == 200
        assert call(sandbox, "GET", "/projects/", auth=("hash-user", "wrong")).status_code == 401
        assert call(sandbox, "GET", "/projects/", auth=("blocked", "blocked-secret")).status_code == 403
        assert call(sandbox, "GET", "/projects/").status_code == 200
        assert call(sandbox, "GET", "/_sandbox/requests").status_code == 404  # not recording
        # No secret on the command line, where any local user could read it.
        cmdline = Path(f"/proc/{sandbox.pid}/cmdline").read_bytes()
        assert b"cli-secret-value" not in cmdline and b"blocked-secret" not in cmdline
        assert sandbox.users_file.stat().st_mode & 0o077 == 0  # owner-only
    for path in data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret in (b"cli-secret-value", b"from-hash", b"blocked-secret"):
                assert secret not in content, path


def test_state_survives_restart_and_sigterm_stops_cleanly(tmp_path: Path) -> None:
    sandbox = SandboxProcess(tmp_path / "data", annotation_seconds=0, report_seconds=0, http_port=0)
    with sandbox:
        ca_before = Path(sandbox.ca_path).read_bytes()
        url_before = sandbox.url
        project = call(sandbox, "POST", "/projects/", data={"project_name": "persisted"}).json()
        vcf = write_vcf(tmp_path / "p.vcf.bz2", 30, compression="bz2")
        query = {"genome_label": "g", "genome_sex": "male", "assembly_version": "GRCh37"}
        with vcf.open("rb") as handle:
            genome = call(
                sandbox, "PUT", f"/projects/{project['id']}/genomes", params=query, data=handle
            ).json()
        body = {"report_type": "panel", "proband_genome_id": genome["genome_id"], "panel_id": 101}
        report = call(sandbox, "POST", "/reports/", data=json.dumps(body)).json()["clinical_report"]
        patch = [{"op": "replace", "path": "/status", "value": "NOT_REVIEWED"}]
        assert call(sandbox, "PATCH", f"/reports/{report['id']}/variants/1", json=patch).status_code == 200
        code = sandbox.stop()
        assert code == 0
        assert not (sandbox.data_dir / "ready.json").exists()
        sandbox.start()
        assert sandbox.url == url_before
        assert Path(sandbox.ca_path).read_bytes() == ca_before
        state = sandbox.state()
        assert [p["name"] for p in state["projects"]] == ["persisted"]
        assert state["genomes"][0]["status"] == "ANNOTATED"
        again = call(sandbox, "GET", f"/reports/{report['id']}").json()
        assert again["status"] == "READY TO REVIEW"
        variants = call(sandbox, "GET", f"/reports/{report['id']}/variants").json()["objects"]
        assert len(variants) == 30 and variants[0]["status"] == "NOT_REVIEWED"


def test_large_vcf_upload_and_export_in_bounded_memory(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "large.vcf.gz", target_bytes=60_000_000, compression="gz", seed=11)
    with SandboxProcess(tmp_path / "data", annotation_seconds=0, report_seconds=0) as sandbox:
        project = call(sandbox, "POST", "/projects/", data={"project_name": "large"}).json()
        query = {"genome_label": "large", "genome_sex": "female", "assembly_version": "hg19"}
        with path.open("rb") as handle:
            answer = call(sandbox, "PUT", f"/projects/{project['id']}/genomes", params=query, data=handle)
        assert answer.status_code == 200, answer.text
        genome = answer.json()
        assert genome["variant_count"] > 900_000
        body = {"report_type": "panel", "proband_genome_id": genome["genome_id"], "panel_id": 101}
        report = call(sandbox, "POST", "/reports/", data=json.dumps(body)).json()["clinical_report"]
        lines = 0
        with call(
            sandbox, "GET", f"/reports/{report['id']}/variants", params={"format": "CSV"}, stream=True
        ) as r:
            assert r.status_code == 200
            for chunk in r.iter_content(1 << 20):
                lines += chunk.count(b"\n")
        assert lines == genome["variant_count"] + 1  # header row + one row per record
        assert sandbox.peak_rss_kb() < 300 * 1024
