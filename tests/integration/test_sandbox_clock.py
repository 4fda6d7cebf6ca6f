"""The sandbox's clocks: time in looks (what keeps the suite independent of machine speed), the admin clock.

The session sandbox counts time in looks (``looks=2``): every GET answer that returns an object is
one look at it; a genome is annotated at its second look, a report ready at its second look once its
genomes are annotated; ``/_sandbox/state`` never looks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_fabric.sandbox.lifecycle import FAIL_ANNOTATION_MARKER
from airflow_provider_fabric.sandbox.process import SandboxError, SandboxProcess

Api = Any  # the ``api`` fixture: raw requests with the test user's credentials


def state_of(sandbox: SandboxProcess, kind: str, object_id: int) -> str:
    """The status the admin view shows (an admin read is not a look)."""
    return next(str(o["status"]) for o in sandbox.state()[kind] if o["id"] == object_id)


def upload(api: Api, project: dict[str, Any], path: Path, external_id: str) -> int:
    answer = api.upload(project["id"], path, external_id=external_id)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "UPLOADED"  # the upload's own answer is not a look
    return int(answer.json()["genome_id"])


def test_a_genome_is_annotated_at_its_second_look(
    api: Api, sandbox: SandboxProcess, project: dict[str, Any], make_vcf: Callable[..., Path]
) -> None:
    genome_id = upload(api, project, make_vcf("looks.vcf", 5), "LOOKS-1")
    other_id = upload(api, project, make_vcf("other.vcf", 5), "LOOKS-2")
    assert state_of(sandbox, "genomes", genome_id) == "UPLOADED"
    assert api.ok("GET", f"/genomes/{genome_id}")["status"] == "ANNOTATING"
    assert state_of(sandbox, "genomes", genome_id) == "ANNOTATING"  # admin reads never move time on
    # A list answer is a look at what it returns, and only at that.
    listed = api.ok("GET", f"/projects/{project['id']}/genomes", params={"external_id": "LOOKS-1"})
    assert [(g["id"], g["status"]) for g in listed["objects"]] == [(genome_id, "ANNOTATED")]
    assert state_of(sandbox, "genomes", other_id) == "UPLOADED"

    failing = upload(api, project, make_vcf("fails.vcf", 5, source=FAIL_ANNOTATION_MARKER), "LOOKS-3")
    assert api.ok("GET", f"/genomes/{failing}")["status"] == "ANNOTATING"
    assert api.ok("GET", f"/projects/{project['id']}/genomes/{failing}")["status"] == "FAILED"


def test_a_report_is_ready_at_its_second_look_after_annotation(
    api: Api, sandbox: SandboxProcess, project: dict[str, Any], make_vcf: Callable[..., Path]
) -> None:
    genome_id = upload(api, project, make_vcf("report-looks.vcf", 5), "LOOKS-R")
    panel_id = api.ok("GET", "/panels/")["objects"][0]["id"]
    body = {"report_type": "panel", "proband_genome_id": genome_id, "panel_id": panel_id}
    report = api.ok("POST", "/reports/", data=json.dumps({**body, "accession_id": "LOOKS-ACC-1"}))
    idle = api.ok("POST", "/reports/", data=json.dumps({**body, "accession_id": "LOOKS-ACC-2"}))
    report_id, idle_id = report["clinical_report"]["id"], idle["clinical_report"]["id"]
    # Each look at the report is a look at its genome: annotating, annotated (report processing), ready.
    seen = [api.ok("GET", f"/reports/{report_id}")["status"] for _ in range(3)]
    assert seen == ["WAITING", "PROCESSING", "READY TO REVIEW"]
    assert state_of(sandbox, "genomes", genome_id) == "ANNOTATED"
    # The other report shares the genome but was never looked at: still processing.
    assert state_of(sandbox, "reports", idle_id) == "PROCESSING"
    # A list answer is a look at each report it returns, and only at those.
    for expected in ("PROCESSING", "READY TO REVIEW"):
        listed = api.ok("GET", "/reports/", params={"accession_id": "LOOKS-ACC-2"})["objects"]
        assert [(r["id"], r["status"]) for r in listed] == [(idle_id, expected)]
    assert state_of(sandbox, "reports", report_id) == "READY TO REVIEW"


def test_scripted_faults_wait_for_their_request(sandbox: SandboxProcess, api: Api) -> None:
    sandbox.set_faults(script=[{"kind": "503", "method": "POST", "path": "^/projects/?$"}])
    assert api("GET", "/projects/").status_code == 200  # not the request the fault waits for
    assert sandbox.faults()["script_left"] != []
    assert api("POST", "/projects/", data={"project_name": "scripted"}).status_code == 503
    assert api("POST", "/projects/", data={"project_name": "scripted"}).status_code == 200
    assert sandbox.faults()["script_left"] == []
    with pytest.raises(SandboxError, match="unknown keys"):
        sandbox.set_faults(script=[{"kind": "503", "methods": ["POST"]}])


def test_the_admin_clock_moves_time_on_without_waiting(tmp_path: Path) -> None:
    """Seconds mode: a 2-hour annotation is over as soon as the test says two hours have passed."""
    with SandboxProcess(tmp_path / "data", annotation_seconds=7200, report_seconds=7200) as sandbox:
        call = sandbox.admin
        before = datetime.fromisoformat(call("GET", "/_sandbox/clock")["now"])
        project = call("POST", "/projects/", {"project_name": "clock"})
        vcf = tmp_path / "clock.vcf"
        vcf.write_text(
            "##fileformat=VCFv4.2\n##reference=GRCh37\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\t"
            "FORMAT\tS1\n1\t100\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\n"
        )
        genome = _upload(sandbox, project["id"], vcf)
        assert call("GET", f"/genomes/{genome}")["status"] != "ANNOTATED"
        moved = call("POST", "/_sandbox/clock", {"advance_seconds": 7200})
        assert datetime.fromisoformat(moved["now"]) - before >= timedelta(hours=2)
        assert call("GET", f"/genomes/{genome}")["status"] == "ANNOTATED"
        later = call("POST", "/projects/", {"project_name": "later"})
        assert datetime.fromisoformat(later["created_on"]) - before >= timedelta(hours=2)
        with pytest.raises(SandboxError, match="422"):
            sandbox.advance_clock(-1)
        assert sandbox.advance_clock(0)["offset_seconds"] == 7200


def _upload(sandbox: SandboxProcess, project_id: int, path: Path) -> int:
    import requests

    answer = requests.put(
        f"{sandbox.url}/projects/{project_id}/genomes",
        params={"genome_label": "clock", "genome_sex": "female", "assembly_version": "hg19"},
        data=path.read_bytes(),
        auth=(sandbox.login, sandbox.secret),
        verify=sandbox.ca_path,
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["genome_id"])
