"""A worker SIGKILLed mid-upload or mid-export, then the task run again as Airflow's retry would.

The operator's ``execute()`` runs in a subprocess (``crash_runner.py``) against the sandbox.
Uploads: killed while waiting for the server's answer (body sent) and while the body is still
being sent (the server sees a truncated body). Exports: killed while the atomic
writer's temporary file is being written. Afterwards: exactly one genome, which is the file that
was meant to be uploaded; no file at the export's destination until a try completes, and then
exactly the server's bytes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

RUNNER = str(Path(__file__).with_name("crash_runner.py"))
UPLOAD = "airflow_provider_fabric.operators.genomes:FabricUploadGenomeOperator"
EXPORT = "airflow_provider_fabric.operators.exports:FabricExportVariantsOperator"
_names = itertools.count(1)


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def start(operator: str, kwargs: dict[str, Any], out: Path) -> subprocess.Popen[bytes]:
    """Run ``operator(**kwargs).execute()`` in a fresh worker process (output to ``out``)."""
    with out.open("wb") as sink:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and runner
            [sys.executable, RUNNER, operator, json.dumps(kwargs)], stdout=sink, stderr=subprocess.STDOUT
        )


def kill_when(process: subprocess.Popen[bytes], condition: Callable[[], Any], what: str) -> None:
    """SIGKILL the worker as soon as ``condition()`` holds; fail if it finished first."""
    wait_for(lambda: condition() or process.poll() is not None, what=what)
    assert process.poll() is None, f"the worker finished before {what}: cannot test a crash"
    process.send_signal(signal.SIGKILL)
    assert process.wait(30) == -signal.SIGKILL


def run_to_end(operator: str, kwargs: dict[str, Any], out: Path) -> Any:
    """The retry: the same task in a new worker process, to completion; return its result."""
    process = start(operator, kwargs, out)
    assert process.wait(120) == 0, out.read_text(errors="replace")[-3000:]
    (line,) = [line for line in out.read_text().splitlines() if line.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


def handled(sandbox: Any, request_line: str) -> int:
    """How many requests like ``PUT /projects/1/genomes`` the sandbox has finished handling (access log)."""
    return sandbox.log_tail(1_000_000).count(request_line + " ")


@pytest.mark.parametrize(
    ("records", "case"),
    [
        pytest.param(40, "awaiting-answer", id="awaiting-answer"),
        pytest.param(150_000, "mid-body", id="mid-body"),
    ],
)
def test_upload_killed_then_retried_makes_exactly_one_genome(sandbox, tmp_path, records, case):
    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    hook = FabricHook()
    project_id = hook.create_project(f"crash tests {next(_names)}")["id"]
    vcf = write_vcf(tmp_path / "sample.vcf", records, seed=records)
    external_id = f"crash-{case}-{project_id}"
    kwargs = {
        "project_id": project_id,
        "vcf_path": str(vcf),
        "genome_label": f"crash-{case}",
        "genome_sex": "female",
        "external_id": external_id,
    }
    request_line = f"PUT /projects/{project_id}/genomes"
    tracebacks_before = sandbox.log_tail(1_000_000).count("Traceback")
    # The server holds the upload before reading it, until told: a small body is then all sent and
    # the worker waits for the answer; a 9 MB one is stuck mid-body. The kill lands there for sure.
    sandbox.set_faults(
        script=[{"kind": "hold", "method": "PUT", "path": rf"^/projects/{project_id}/genomes$"}]
    )
    worker = start(UPLOAD, kwargs, tmp_path / "try1.log")
    kill_when(worker, lambda: sandbox.faults()["holding"] == 1, "the upload to be held by the server")
    assert sandbox.release_held() == 1
    wait_for(lambda: handled(sandbox, request_line) >= 1, what="the server to finish the killed upload")
    sandbox.clear_faults()
    after_crash = [g for g in sandbox.state()["genomes"] if g["external_id"] == external_id]
    # The server drops an upload whose client went away (a lost *answer* after the genome was
    # created is the fault suite's ``phase="after"`` case).
    assert after_crash == [], "a killed worker's upload leaves no genome behind"
    assert sandbox.log_tail(1_000_000).count("Traceback") == tracebacks_before, "a disconnect is one log line"

    genome_id = run_to_end(UPLOAD, kwargs, tmp_path / "try2.log")

    genomes = [g for g in sandbox.state()["genomes"] if g["external_id"] == external_id]
    assert [g["id"] for g in genomes] == [genome_id], "exactly one genome, the one the task returned"
    assert genomes[0]["checksum"] == hashlib.md5(vcf.read_bytes()).hexdigest()  # noqa: S324 - Fabric's checksum
    assert genomes[0]["size"] == vcf.stat().st_size


@pytest.fixture(scope="module")
def big_report(rel_sandbox, tmp_path_factory) -> int:
    """A report READY TO REVIEW on a 150,000-variant genome: its export takes long enough to interrupt."""
    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    rel_sandbox.clear_faults()
    hook = FabricHook()
    project_id = hook.create_project(f"crash tests {next(_names)}")["id"]
    vcf = write_vcf(tmp_path_factory.mktemp("big") / "big.vcf.gz", 150_000, compression="gz", seed=11)
    genome = hook.upload_genome(project_id, vcf, genome_label="crash-export", genome_sex="male")
    genome_id = genome["genome_id"] if "genome_id" in genome else genome["id"]
    wait_for(lambda: hook.get_genome(genome_id)["status"] == "ANNOTATED", what="annotation")
    report = hook.create_panel_report(proband_genome_id=genome_id, panel_id=101, accession_id="crash-export")
    wait_for(lambda: hook.get_report(report["id"])["status"] == "READY TO REVIEW", what="processing")
    return int(report["id"])


def partials(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob(".variants.vcf.partial-*"))


def kill_mid_export(sandbox: Any, report_id: int, kwargs: dict[str, Any], folder: Path, out: Path) -> None:
    """Kill an export worker once it has written the answer's first chunk and the server holds the rest."""
    path = rf"^/reports/{report_id}/variants$"
    sandbox.set_faults(script=[{"kind": "hold", "phase": "after", "method": "GET", "path": path}])
    worker = start(EXPORT, kwargs, out)
    kill_when(
        worker,
        lambda: sandbox.faults()["holding"] == 1 and folder.exists() and partials(folder),
        "the export's temporary file to appear while the server holds the rest of the answer",
    )
    sandbox.clear_faults()  # lets the held answer go on, to a closed connection


def test_export_killed_then_retried_leaves_no_partial_file_at_the_destination(sandbox, big_report, tmp_path):
    from airflow_provider_fabric.hooks.fabric import FabricHook

    folder = tmp_path / "exports"
    destination = folder / "variants.vcf"
    kwargs = {"report_id": big_report, "destination": str(destination), "format": "vcf"}
    kill_mid_export(sandbox, big_report, kwargs, folder, tmp_path / "try1.log")

    assert not destination.exists(), "a killed export leaves nothing at the destination"
    stale = partials(folder)
    assert len(stale) == 1 and stale[0].startswith("."), "what it leaves is one hidden temporary file"
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == [], "readers see no file"

    result = run_to_end(EXPORT, kwargs, tmp_path / "try2.log")
    with FabricHook().get_variants(big_report, format="VCF") as answer:
        expected = answer.content
    assert destination.read_bytes() == expected, "the retry wrote exactly the server's export"
    assert result["bytes"] == len(expected) and result["variant_count"] >= 100_000
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == ["variants.vcf"]


def test_export_retry_cleans_the_killed_tries_temporary_file(sandbox, big_report, tmp_path):
    folder = tmp_path / "exports"
    destination = folder / "variants.vcf"
    kwargs = {"report_id": big_report, "destination": str(destination), "format": "vcf"}
    kill_mid_export(sandbox, big_report, kwargs, folder, tmp_path / "try1.log")
    run_to_end(EXPORT, kwargs, tmp_path / "try2.log")
    assert partials(folder) == []
