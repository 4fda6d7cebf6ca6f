"""The sandbox over real HTTPS: transport, auth, projects, genomes and uploads."""

from __future__ import annotations

import bz2
import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from airflow_provider_fabric.sandbox.lifecycle import FAIL_ANNOTATION_MARKER
from airflow_provider_fabric.sandbox.process import SandboxProcess

Api = Any  # the ``api`` fixture: raw requests with the test user's credentials


def genome_count(sandbox: SandboxProcess) -> int:
    return int(sandbox.state()["counts"]["genomes"])


def test_plain_http_port_redirects_with_empty_body(sandbox: SandboxProcess) -> None:
    assert sandbox.http_url
    answer = requests.get(sandbox.http_url + "/projects/?external_id=X", allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    assert answer.content == b""
    assert answer.headers["Location"] == sandbox.url + "/projects/"


def test_https_needs_the_sandbox_ca(sandbox: SandboxProcess, tmp_path: Path) -> None:
    other_ca = tmp_path / "empty.pem"
    other_ca.write_text("")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(sandbox.url + "/projects/", verify=str(Path(requests.certs.where())), timeout=10)
    answer = requests.get(
        sandbox.url + "/projects/", auth=(sandbox.login, sandbox.secret), verify=sandbox.ca_path, timeout=10
    )
    assert answer.status_code == 200
    assert "objects" in answer.json()


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        (None, 401),
        (("unknown-key", "whatever"), 401),
        ("wrong-secret", 401),
        ("noaccess", 403),
    ],
)
def test_auth_failures(api: Api, noaccess_auth: tuple[str, str], auth: Any, status: int) -> None:
    if auth == "noaccess":
        auth = noaccess_auth
    if auth == "wrong-secret":
        auth = (api.sandbox.login, "not-the-secret")
    for method, path in (("GET", "/projects/"), ("GET", "/_sandbox/state"), ("POST", "/projects/")):
        answer = api(method, path, auth=auth, data={"project_name": "nope"})
        assert answer.status_code == status, (method, path)
        assert answer.json()["description"]
    if status == 401:
        assert api("GET", "/projects/", auth=auth).headers["WWW-Authenticate"].startswith("Basic")


def test_access_log_has_no_query_strings_or_secrets(api: Api, sandbox: SandboxProcess) -> None:
    api("GET", "/projects/", params={"external_id": "PATIENT-SECRET-ID"})
    api("GET", "/projects/", headers={"X-fg-safe-params": "external_id=PATIENT-HEADER-ID"})
    log = (sandbox.data_dir / "access.log").read_text()
    assert "GET /projects/ 200" in log
    for secret in ("PATIENT-SECRET-ID", "PATIENT-HEADER-ID", sandbox.secret, "?"):
        assert secret not in log


def test_projects_form_and_json(api: Api) -> None:
    form = api.ok(
        "POST", "/projects/", data={"project_name": "Form", "description": "d", "share_role": "VIEWER"}
    )
    as_json = api.ok("POST", "/projects/", data=json.dumps({"project_name": "Json"}))
    assert isinstance(form["id"], int) and as_json["id"] > form["id"]
    assert (form["name"], form["share_role"]) == ("Form", "VIEWER")
    assert as_json["share_role"] == "NONE"
    names = [p["name"] for p in api.ok("GET", "/projects/")["objects"]]
    assert {"Form", "Json"} <= set(names)
    assert api("POST", "/projects/", data={"project_name": "x", "share_role": "OWNER"}).status_code == 422
    assert api("POST", "/projects/", data={"description": "no name"}).status_code == 422


def test_timestamps_are_naive_los_angeles_time(api: Api) -> None:
    created = api.ok("POST", "/projects/", data={"project_name": "clock"})["created_on"]
    parsed = datetime.fromisoformat(created)
    assert parsed.tzinfo is None
    now_la = datetime.now(ZoneInfo("America/Los_Angeles")).replace(tzinfo=None)
    assert abs(now_la - parsed) < timedelta(minutes=5)


@pytest.mark.parametrize("compression", [None, "gz", "bz2"])
def test_upload_without_format_infers_it(
    api: Api,
    project: dict[str, Any],
    make_vcf: Callable[..., Path],
    compression: str | None,
    wait: Any,
) -> None:
    path = make_vcf(f"s.vcf{'.' + compression if compression else ''}", 25, compression=compression)
    checksum = hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324
    answer = api.upload(project["id"], path, external_id="EXT-1", checksum=checksum)
    assert answer.status_code == 200, answer.text
    genome = answer.json()
    expected = {None: "vcf", "gz": "vcf.gz", "bz2": "vcf.bz2"}[compression]
    assert genome["format"] == expected
    assert genome["checksum"] == checksum
    assert (genome["sample_count"], genome["variant_count"]) == (1, 25)
    assert genome["status"] in ("UPLOADED", "PARSING", "ANNOTATING", "ANNOTATED")
    final = wait(
        lambda: api.ok("GET", f"/genomes/{genome['genome_id']}"), lambda g: g["status"] == "ANNOTATED"
    )
    assert final["external_id"] == "EXT-1" and final["project_id"] == project["id"]
    again = api.ok("GET", f"/projects/{project['id']}/genomes/{genome['genome_id']}")
    assert again["id"] == genome["genome_id"]


VCF_OK = (
    "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
    "1\t100\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\n"
)


@pytest.mark.parametrize(
    ("case", "status", "words"),
    [
        ("grch38", 422, "GRCh38"),
        ("assembly_grch38", 422, "hg19"),
        ("checksum", 422, "checksum"),
        ("truncated_gz", 422, "truncated"),
        ("corrupt_bz2", 422, "bzip2"),
        ("not_vcf", 400, "not a VCF"),
        ("old_version", 422, "4.0"),
        ("no_chrom_header", 422, "#CHROM"),
        ("bad_record", 422, "line"),
        ("format_mismatch", 422, "format"),
        ("empty", 400, "empty"),
        ("no_label", 422, "genome_label"),
    ],
)
def test_rejected_upload_leaves_no_genome(
    api: Api,
    sandbox: SandboxProcess,
    project: dict[str, Any],
    make_vcf: Callable[..., Path],
    tmp_path: Path,
    case: str,
    status: int,
    words: str,
) -> None:
    params: dict[str, Any] = {}
    body: bytes
    if case == "grch38":
        body = make_vcf("g38.vcf", 50, build="GRCh38").read_bytes()
    elif case == "assembly_grch38":
        body, params = VCF_OK.encode(), {"assembly_version": "GRCh38"}
    elif case == "checksum":
        body, params = VCF_OK.encode(), {"checksum": "0" * 32}
    elif case == "truncated_gz":
        whole = make_vcf("t.vcf.gz", 400, compression="gz").read_bytes()
        body = whole[: len(whole) // 2]
    elif case == "corrupt_bz2":
        whole = bytearray(bz2.compress(make_vcf("c.vcf", 400).read_bytes()))
        whole[len(whole) // 2 : len(whole) // 2 + 64] = b"\x00" * 64
        body = bytes(whole)
    elif case == "not_vcf":
        body = b"%PDF-1.4 not a genome"
    elif case == "old_version":
        body = VCF_OK.replace("VCFv4.2", "VCFv3.3").encode()
    elif case == "no_chrom_header":
        body = b"##fileformat=VCFv4.2\n##source=x\n"
    elif case == "bad_record":
        body = (VCF_OK + "1\tnot-a-position\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\n").encode()
    elif case == "format_mismatch":
        body, params = VCF_OK.encode(), {"format": "vcf.gz"}
    elif case == "empty":
        body = b""
    else:
        body, params = VCF_OK.encode(), {"genome_label": ""}
    before = genome_count(sandbox)
    query = {"genome_label": "rejected", "genome_sex": "male", "assembly_version": "hg19", **params}
    answer = api("PUT", f"/projects/{project['id']}/genomes", params=query, data=body)
    assert answer.status_code == status, answer.text
    assert words.lower() in answer.json()["description"].lower()
    assert genome_count(sandbox) == before
    assert not list((sandbox.data_dir / "genomes").glob("*.part"))


def test_upload_into_unknown_project_is_404(api: Api) -> None:
    query = {"genome_label": "x", "genome_sex": "male", "assembly_version": "hg19"}
    assert api("PUT", "/projects/999999/genomes", params=query, data=VCF_OK.encode()).status_code == 404


def test_genome_list_filters_edit_move_delete(
    api: Api, project: dict[str, Any], make_vcf: Callable[..., Path]
) -> None:
    ids = []
    for index, external in enumerate(["E-A", "E-B", "E-A"]):
        answer = api.upload(project["id"], make_vcf(f"g{index}.vcf", 5, seed=index), external_id=external)
        ids.append(answer.json()["genome_id"])
    listed = api.ok("GET", f"/projects/{project['id']}/genomes")["objects"]
    assert [g["id"] for g in listed] == ids
    same = api.ok("GET", f"/projects/{project['id']}/genomes", params={"external_id": "E-A"})["objects"]
    assert [g["id"] for g in same] == [ids[0], ids[2]]
    everywhere = api.ok("GET", "/genomes", params={"external_id": "E-A", "limit": 1, "offset": 1})["objects"]
    assert [g["id"] for g in everywhere] == [ids[2]]
    other = api.ok("POST", "/projects/", data={"project_name": "moved-to"})
    edited = api.ok(
        "PUT", f"/genomes/{ids[1]}", json={"name": "renamed", "external_id": "E-C", "project_id": other["id"]}
    )
    assert (edited["name"], edited["external_id"], edited["project_id"]) == ("renamed", "E-C", other["id"])
    assert api("PUT", f"/genomes/{ids[1]}", json={"project_id": 999999}).status_code == 422
    assert api("DELETE", f"/genomes/{ids[0]}").status_code == 200
    assert api("GET", f"/genomes/{ids[0]}").status_code == 404
    assert api("GET", "/genomes/not-a-number").status_code == 404


def test_annotation_failure_marker(
    api: Api, project: dict[str, Any], make_vcf: Callable[..., Path], wait: Any
) -> None:
    path = make_vcf("fail.vcf", 10, source=FAIL_ANNOTATION_MARKER)
    genome_id = api.upload(project["id"], path).json()["genome_id"]
    failed = wait(
        lambda: api.ok("GET", f"/genomes/{genome_id}"),
        lambda g: g["status"] != "ANNOTATING" and g["status"] not in ("UPLOADED", "PARSING"),
    )
    assert failed["status"] == "FAILED"
    assert FAIL_ANNOTATION_MARKER in failed["status_description"]
    report = api.ok(
        "POST",
        "/reports/",
        data=json.dumps({"report_type": "panel", "proband_genome_id": genome_id, "panel_id": 101}),
    )["clinical_report"]
    again = api.ok("GET", f"/reports/{report['id']}")
    assert again["status"] == "FAILED"
    assert str(genome_id) in again["status_description"]


def test_catalogue(api: Api) -> None:
    panels = api.ok("GET", "/panels/")["objects"]
    assert len(panels) >= 3 and all(isinstance(p["id"], int) for p in panels)
    cancer = api.ok("GET", "/panels/", params={"name": "cancer"})["objects"]
    assert [p["test_code"] for p in cancer] == ["HC-101"]
    regions = api.ok("GET", f"/panels/{cancer[0]['id']}/regions")["objects"]
    assert {"BRCA1", "BRCA2"} <= {r["gene"] for r in regions}
    assert api("GET", "/panels/424242/regions").status_code == 404
    unknown = api("GET", "/no/such/endpoint")
    assert unknown.status_code == 404 and unknown.json()["description"]
    assays = api.ok("GET", "/assay_types")["objects"]
    assert api.ok("GET", f"/assay_types/{assays[0]['id']}")["qc_metrics"]
