"""Planning an intake run: the landing area's run folders, what Fabric already has, and re-runs.

Fabric is ``requests-mock`` here; ``tests/integration/test_object_storage_s3.py``
plans a landing area on S3 against the real sandbox, and ``tests/dags/test_intake.py``
runs the whole DAG twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from intakesupport import PANEL_ROW, family_row, write_manifest
from unitsupport import BASE

from airflow_provider_fabric.exceptions import FabricInputError
from airflow_provider_fabric.intake import (
    Sample,
    cases_to_report,
    find_manifests,
    find_uploaded,
    plan_intake,
    upload_md5,
)
from airflow_provider_fabric.intake import fabric as intake_fabric

GENOMES = f"{BASE}/projects/5/genomes"
REPORTS = f"{BASE}/reports/"


def genome(genome_id: int, external_id: str, md5: str, status: str = "ANNOTATED") -> dict[str, Any]:
    return {"id": genome_id, "external_id": external_id, "checksum": md5, "status": status}


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324 - Fabric's checksum


def landing_with_a_run(landing: Path, run: str = "run-0001", tag: str = "") -> Path:
    """A run folder: a panel sample and a trio (VCF bytes made up: only their checksums matter here)."""
    rows = [
        {**PANEL_ROW, "file": "a.vcf", "external_id": f"PHI-E1{tag}"},
        family_row("p", "proband", "male", external_id=f"PHI-EXT-p{tag}", family_id=f"PHI-FAM{tag}"),
        family_row("m", "mother", external_id=f"PHI-EXT-m{tag}", family_id=f"PHI-FAM{tag}"),
        family_row("f", "father", "male", external_id=f"PHI-EXT-f{tag}", family_id=f"PHI-FAM{tag}"),
    ]
    manifest = write_manifest(landing / run, rows)
    for row in rows:
        (manifest.parent / row["file"]).write_bytes(f"##fileformat=VCFv4.2 {row['external_id']}\n".encode())
    return manifest.parent


# -- landing-area discovery -------------------------------------------------------------------------------


def test_run_folders_with_a_manifest_are_found_by_name(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    for run in ("run-0002", "run-0001", ".run-hidden", "run-writing"):
        (landing / run).mkdir(parents=True)
    for run in ("run-0002", "run-0001", ".run-hidden"):
        (landing / run / "manifest.csv").write_text("file\n")
    (landing / "stray.csv").write_text("not a run folder")
    found = find_manifests(landing)
    assert [run for run, _ in found] == ["run-0001", "run-0002"], (
        "sorted; hidden and unfinished runs left out"
    )
    assert [Path(manifest.path) for _, manifest in found] == [
        landing / "run-0001" / "manifest.csv",
        landing / "run-0002" / "manifest.csv",
    ]
    assert find_manifests(f"file://{landing}", "samplesheet.csv") == []


def test_a_missing_landing_area_is_an_error_not_an_empty_one(tmp_path: Path) -> None:
    with pytest.raises(FabricInputError, match="the landing area does not exist or is not a folder"):
        find_manifests(tmp_path / "nowhere")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(FabricInputError):
        find_manifests(tmp_path / "a-file")


# -- what Fabric already has ------------------------------------------------------------------------------


def test_a_sample_is_in_fabric_with_the_same_external_id_and_bytes(
    fabric_conn, requests_mock, tmp_path
) -> None:
    run = landing_with_a_run(tmp_path / "landing")
    md5 = md5_of(run / "a.vcf")
    listing = requests_mock.get(
        GENOMES,
        json={
            "objects": [
                genome(60, "PHI-E1", "0" * 32),  # another file of the sample
                genome(61, "PHI-E1", md5, "FAILED"),  # the same file, but its annotation failed
                genome(62, "PHI-E1", md5.upper()),  # the one
                genome(63, "PHI-E1-2", md5),  # the server matched a substring
            ]
        },
    )
    (panel,) = [s for s in read_run(run) if s.external_id == "PHI-E1"]
    assert find_uploaded(hook(), 5, [panel]) == {panel.key: 62}
    assert (
        "PHI-E1" in listing.last_request.headers["X-fg-safe-params"] and "PHI" not in listing.last_request.url
    )


def test_a_new_samples_file_is_not_read_and_a_bad_row_is_not_looked_up(
    fabric_conn, requests_mock, tmp_path, monkeypatch
) -> None:
    run = landing_with_a_run(tmp_path / "landing")
    listing = requests_mock.get(GENOMES, json={"objects": []})
    hashed: list[str] = []
    monkeypatch.setattr(intake_fabric, "upload_md5", lambda location: hashed.append(location))
    samples = read_run(run)
    bad = Sample("run-0001", 9, external_id="PHI-X", vcf_path=str(run / "a.vcf"), problem="missing label")
    assert find_uploaded(hook(), 5, [*samples, bad]) == {}
    assert hashed == [], "no genome has these external IDs: no VCF is read"
    assert listing.call_count == len(samples), "one lookup per good sample"


def test_an_md5_file_beside_the_vcf_spares_reading_it(fabric_conn, requests_mock, tmp_path) -> None:
    run = landing_with_a_run(tmp_path / "landing")
    declared = "ab" * 16
    (run / "a.vcf.md5").write_text(f"{declared}  a.vcf\n")
    (run / "a.vcf").unlink()  # the upload would fail; the lookup needs only the declared MD5
    requests_mock.get(GENOMES, json={"objects": [genome(70, "PHI-E1", declared)]})
    (panel,) = [s for s in read_run(run) if s.external_id == "PHI-E1"]
    assert upload_md5(panel.vcf_path) == declared
    assert find_uploaded(hook(), 5, [panel]) == {panel.key: 70}


def test_an_unreadable_vcf_is_planned_for_upload_whose_task_says_why(
    fabric_conn, requests_mock, tmp_path
) -> None:
    run = landing_with_a_run(tmp_path / "landing")
    (run / "a.vcf").unlink()
    requests_mock.get(GENOMES, json={"objects": [genome(70, "PHI-E1", "ab" * 16)]})
    (panel,) = [s for s in read_run(run) if s.external_id == "PHI-E1"]
    assert upload_md5(panel.vcf_path) is None
    assert find_uploaded(hook(), 5, [panel]) == {}


def test_upload_md5_is_the_md5_of_the_bytes_the_upload_sends(tmp_path: Path) -> None:
    vcf = tmp_path / "x.vcf.gz"
    vcf.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 100)
    assert upload_md5(vcf) == upload_md5(f"file://{vcf}") == md5_of(vcf)


# -- re-runs ----------------------------------------------------------------------------------------------


def test_a_rerun_skips_the_samples_uploaded_and_keeps_the_accessions(
    fabric_conn, requests_mock, tmp_path
) -> None:
    landing = tmp_path / "landing"
    run = landing_with_a_run(landing)
    requests_mock.get(GENOMES, json={"objects": []})
    first = plan_intake(hook(), 5, landing, accession_prefix="ACC-", panel_id=101)
    assert first.runs == ["run-0001"] and [s.key for s in first.to_upload] == [s.key for s in first.samples]
    assert first.describe() == (
        "Landing area: 1 run folder(s), 4 sample(s): 4 to upload (0 with manifest problems), "
        "0 already in Fabric; 2 case(s)"
    )

    # The first run uploaded the panel sample and the proband; a second run folder landed since.
    in_fabric = [
        genome(80, "PHI-E1", md5_of(run / "a.vcf")),
        genome(81, "PHI-EXT-p", md5_of(run / "p.vcf.gz")),
    ]
    requests_mock.get(GENOMES, json={"objects": in_fabric})
    landing_with_a_run(landing, "run-0002", tag="-2")
    again = plan_intake(hook(), 5, landing, accession_prefix="ACC-", panel_id=101)
    assert again.uploaded == {"run-0001:2": 80, "run-0001:3": 81}
    assert [s.key for s in again.to_upload] == [
        "run-0001:4",
        "run-0001:5",
        *(f"run-0002:{n}" for n in range(2, 6)),
    ]
    assert again.cases[:2] == first.cases, "the same manifest, the same cases and accessions"
    assert [case.accession_id for case in again.cases[2:]] == ["ACC-PHI-E1-2", "ACC-PHI-FAM-2"]
    assert "PHI" not in again.describe()


def test_cases_already_reported_are_left_out_only_when_all_their_samples_were(
    fabric_conn, requests_mock, tmp_path
) -> None:
    landing = tmp_path / "landing"
    landing_with_a_run(landing)
    requests_mock.get(GENOMES, json={"objects": []})
    plan = plan_intake(hook(), 5, landing, accession_prefix="ACC-", panel_id=101)
    cases = [case.to_dict() for case in plan.cases]
    reports = requests_mock.get(
        REPORTS,
        json={
            "objects": [{"id": 9, "accession_id": "ACC-PHI-E1"}, {"id": 10, "accession_id": "ACC-PHI-FAM-2"}]
        },
    )
    # Run 2: the panel sample and the mother were in Fabric before; the proband and father annotated now.
    uploaded = {"run-0001:2": 80, "run-0001:4": 82}
    annotated = [{"key": "run-0001:3", "genome_id": 81}, None, {"key": "run-0001:5", "genome_id": 83}]
    todo = cases_to_report(hook(), cases, uploaded, annotated, "s3://out")
    assert [case["key"] for case in todo] == ["run-0001:3,4,5"], "the panel case is reported already"
    assert reports.call_count == 1, "a case with a sample new to Fabric is not looked up"
    (trio,) = todo
    assert trio["problem"] is None and trio["report_type"] == "Trio"
    assert [trio["proband_genome_id"], *(m["genome_id"] for m in trio["family"])] == [81, 82, 83]
    assert trio["variants_path"] == "s3://out/ACC-PHI-FAM/variants.vcf"

    # A report whose accession only contains the case's is not the case's report.
    requests_mock.get(REPORTS, json={"objects": [{"id": 9, "accession_id": "ACC-PHI-E1-OLD"}]})
    todo = cases_to_report(hook(), cases, {"run-0001:2": 80}, [], "out")
    assert [(case["key"], case["problem"]) for case in todo] == [
        ("run-0001:2", None),
        ("run-0001:3,4,5", "sample(s) run-0001:3, run-0001:4, run-0001:5 did not upload and annotate"),
    ]


def read_run(run: Path) -> list[Sample]:
    from airflow_provider_fabric.intake import read_manifest

    return read_manifest(run / "manifest.csv", run.name)


def hook() -> Any:
    from airflow_provider_fabric.hooks.fabric import FabricHook

    return FabricHook()
