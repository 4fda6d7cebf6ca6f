"""Reports, variants and PDFs on the sandbox, driven by FabricHook and by raw requests."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_fabric.exceptions import FabricRequestError
from airflow_provider_fabric.hooks.fabric import FabricHook
from airflow_provider_fabric.sandbox.lifecycle import FAIL_ANNOTATION_MARKER
from airflow_provider_fabric.vcf import inspect_vcf, iter_records, open_vcf_text

Api = Any  # the ``api`` fixture: raw requests with the test user's credentials


@pytest.fixture
def hook(sandbox: Any) -> FabricHook:
    return FabricHook()


def upload(api: Api, project_id: int, path: Path, sex: str = "female") -> int:
    answer = api.upload(project_id, path, genome_sex=sex)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["genome_id"])


def ready_report(api: Api, wait: Any, report_id: int) -> dict[str, Any]:
    return wait(  # type: ignore[no-any-return]
        lambda: api.ok("GET", f"/reports/{report_id}"),
        lambda r: r["status"] not in ("WAITING", "PROCESSING"),
    )


def records_of(path: Path) -> list[Any]:
    with path.open("rb") as handle:
        fmt = inspect_vcf(handle).format
    with path.open("rb") as handle:
        return list(iter_records(open_vcf_text(handle, fmt)))


def test_panel_report_lifecycle_and_pdf_rules(
    hook: FabricHook, api: Api, project: dict[str, Any], make_vcf: Callable[..., Path], wait: Any
) -> None:
    report = hook.create_panel_report(panel_id=101, accession_id="ACC-PANEL-1", project_id=project["id"])
    report_id = report["id"]
    assert report["status"] == "WAITING"
    for preview in (False, True):
        with pytest.raises(FabricRequestError) as caught:
            hook.get_report_pdf(report_id, preview=preview)
        assert caught.value.http_status == 422
    with pytest.raises(FabricRequestError):
        hook.update_report_status(report_id, "APPROVED")
    genome_id = upload(api, project["id"], make_vcf("late.vcf", 12))
    hook.update_report(report_id, {"proband_genome_id": genome_id})
    ready = ready_report(api, wait, report_id)
    assert ready["status"] == "READY TO REVIEW"
    assert (ready["genome_id"], ready["variant_count"], ready["reviewed_variant_count"]) == (genome_id, 12, 4)
    with hook.get_report_pdf(report_id, preview=True) as pdf:
        body = pdf.content
        assert pdf.headers["Content-Type"] == "application/pdf"
        assert "preview" in pdf.headers["Content-Disposition"]
    assert body.startswith(b"%PDF-1.") and body.rstrip().endswith(b"%%EOF")
    assert f"Report ID: {report_id}".encode() in body and b"READY TO REVIEW" in body
    with pytest.raises(FabricRequestError):
        hook.get_report_pdf(report_id)
    with pytest.raises(FabricRequestError):
        hook.update_report(report_id, {"proband_genome_id": genome_id})  # processed: genomes are fixed
    approved = hook.update_report_status(report_id, "APPROVED")
    assert approved["status"] == "APPROVED" and approved["report_approved_date"] is not None
    with hook.get_report_pdf(report_id) as pdf:
        final = pdf.content
        assert f'filename="report_{report_id}.pdf"' in pdf.headers["Content-Disposition"]
    assert final.startswith(b"%PDF-1.") and b"APPROVED" in final and b"ACC-PANEL-1" not in final
    with pytest.raises(FabricRequestError) as caught:
        hook.get_report_pdf(report_id, preview=True)
    assert caught.value.http_status == 422
    bad = api(
        "PATCH",
        f"/reports/{report_id}/update_status/",
        json=[{"op": "replace", "path": "/status", "value": "NOPE"}],
    )
    assert bad.status_code == 422


def test_family_report_sizes_and_waiting_for_every_member(
    hook: FabricHook, api: Api, project: dict[str, Any], make_vcf: Callable[..., Path], wait: Any
) -> None:
    proband = upload(api, project["id"], make_vcf("p.vcf", 20, seed=1), "male")
    mother = upload(api, project["id"], make_vcf("m.vcf", 20, seed=2))
    father = upload(api, project["id"], make_vcf("f.vcf", 20, seed=3), "male")
    members = {
        "family_1": {"genome_id": mother, "sex": "f", "affected": False, "relationship": "mother"},
        "family_2": {"genome_id": None, "sex": "m", "affected": False, "relationship": "father"},
    }
    body = {
        "report_type": "Trio",
        "proband": {"genome_id": proband, "sex": "m"},
        "accession_id": "FAM-1",
        **members,
    }
    report = api.ok("POST", "/reports/", data=json.dumps(body))["clinical_report"]
    assert api.ok("GET", f"/reports/{report['id']}")["status"] == "WAITING"  # the father is missing
    wrong = {**body, "family_3": {"genome_id": None, "sex": "f", "relationship": "sibling"}}
    answer = api("POST", "/reports/", data=json.dumps(wrong))
    assert answer.status_code == 422 and "Trio" in answer.json()["description"]
    answer = api("POST", "/reports/", data=json.dumps({**body, "report_type": "Quad"}))
    assert answer.status_code == 422
    answer = api("POST", "/reports/", data=json.dumps({**body, "report_type": "Solo"}))
    assert answer.status_code == 422
    api.ok(
        "PUT",
        f"/reports/{report['id']}",
        data=json.dumps({"family_2": {**members["family_2"], "genome_id": father}}),
    )
    done = ready_report(api, wait, report["id"])
    assert done["status"] == "READY TO REVIEW"
    assert done["family"]["family_2"]["genome_id"] == father and done["vaast_report_id"]
    older = {
        "report_type": "Trio",
        "proband_genome_id": proband,
        "proband_sex": "m",
        "mother_genome_id": mother,
        "father_genome_id": father,
        "accession_id": "FAM-OLD",
    }
    old_form = api.ok("POST", "/reports/", data=json.dumps(older))["clinical_report"]
    assert old_form["family"]["family_1"]["relationship"] == "mother"
    assert old_form["family"]["family_2"]["genome_id"] == father
    failing = upload(api, project["id"], make_vcf("x.vcf", 5, source=FAIL_ANNOTATION_MARKER))
    solo_fail = {
        "report_type": "Duo",
        "proband": {"genome_id": proband, "sex": "m"},
        "project_id": project["id"],
    }
    solo_fail["family_1"] = {"genome_id": failing, "sex": "f", "relationship": "sibling", "affected": True}
    failed = ready_report(
        api, wait, api.ok("POST", "/reports/", data=json.dumps(solo_fail))["clinical_report"]["id"]
    )
    assert failed["status"] == "FAILED" and str(failing) in failed["status_description"]


def test_report_refuses_multi_sample_and_unknown_ids(
    api: Api, project: dict[str, Any], make_vcf: Callable[..., Path]
) -> None:
    multi = upload(api, project["id"], make_vcf("multi.vcf", 5, samples=["A", "B", "C"]))
    for body in (
        {"report_type": "panel", "proband_genome_id": multi, "panel_id": 101},
        {"report_type": "panel", "proband_genome_id": 99999, "panel_id": 101},
        {"report_type": "panel", "proband_genome_id": None, "panel_id": 101},  # no project either
        {"report_type": "panel", "project_id": project["id"], "panel_id": 4242},
        {"report_type": "Octet", "project_id": project["id"]},
    ):
        answer = api("POST", "/reports/", data=json.dumps(body))
        assert answer.status_code == 422, body
        assert answer.json()["description"]


def test_report_lists_filters(
    hook: FabricHook, api: Api, project: dict[str, Any], make_vcf: Callable[..., Path], wait: Any
) -> None:
    genome = upload(api, project["id"], make_vcf("filtered.vcf", 6))
    api.ok("PUT", f"/genomes/{genome}", json={"name": "FilterLabel-77", "external_id": "LIMS-FILTER-77"})
    panel = hook.create_panel_report(panel_id=102, accession_id="LIST-ACC-1", proband_genome_id=genome)
    other = hook.create_panel_report(panel_id=103, accession_id="LIST-ACC-2", project_id=project["id"])
    ready_report(api, wait, panel["id"])
    by_accession = hook.list_reports(accession_id="LIST-ACC")
    assert {r["id"] for r in by_accession} == {panel["id"], other["id"]}
    assert [r["id"] for r in hook.list_reports(external_id="FILTER-77")] == [panel["id"]]
    assert [r["id"] for r in hook.list_reports(genome_id=genome)] == [panel["id"]]
    assert [r["id"] for r in hook.list_reports(genome_name="filterlabel")] == [panel["id"]]
    waiting = {r["id"] for r in hook.list_reports(report_status="WAITING")}
    assert other["id"] in waiting and panel["id"] not in waiting
    assert all(r["report_type"] == "panel" for r in hook.list_reports(report_type="panel"))
    ordered = api.ok("GET", "/reports/", params={"order_by": "-run_date", "limit": 2})["objects"]
    assert [r["id"] for r in ordered] == sorted((r["id"] for r in ordered), reverse=True)
    second = api.ok("GET", "/reports/", params={"accession_id": "LIST-ACC", "limit": 1, "offset": 1})[
        "objects"
    ]
    assert [r["id"] for r in second] == [other["id"]]


def test_patient_fields_qc_and_extended(api: Api, annotated_genome: dict[str, Any], wait: Any) -> None:
    body = {"report_type": "panel", "proband_genome_id": annotated_genome["id"], "panel_id": 101}
    report_id = api.ok("POST", "/reports/", data=json.dumps(body))["clinical_report"]["id"]
    fields = {"First Name": "Synthetic", "Patient DOB": "1990-01-01", "Indication for Testing": "test"}
    # The vendor's client sends JSON text without a JSON content type.
    api.ok("POST", f"/reports/{report_id}/patient_fields", data=json.dumps(fields))
    api.ok("POST", f"/reports/{report_id}/patient_fields", data=json.dumps({"Patient Age": 34}))
    assert api.ok("GET", f"/reports/{report_id}/patient_fields") == {**fields, "Patient Age": 34}
    assert api("POST", f"/reports/{report_id}/qc_data", json={"not_a_metric": 1}).status_code == 422
    entry = api.ok(
        "POST", f"/reports/{report_id}/qc_data", json={"Mean Coverage": 123.4, "Total Reads": 1000}
    )
    assert entry["data"]["Mean Coverage"] == 123.4
    assert api.ok("GET", f"/reports/{report_id}/qc_data")["objects"][0]["id"] == entry["id"]
    ready_report(api, wait, report_id)
    plain = api.ok("GET", f"/reports/{report_id}")
    assert "patient_fields" not in plain and "variants" not in plain
    extended = api.ok("GET", f"/reports/{report_id}", params={"extended": "True"})
    assert extended["patient_fields"]["First Name"] == "Synthetic"
    assert extended["variants"]["variant_count"] == 60


def test_variant_exports_match_uploaded_records(
    hook: FabricHook, api: Api, project: dict[str, Any], make_vcf: Callable[..., Path], wait: Any
) -> None:
    path = make_vcf("export.vcf.gz", 90, compression="gz", chr_prefix=True, seed=5)
    records = records_of(path)
    genome_id = upload(api, project["id"], path)
    report_id = hook.create_panel_report(panel_id=101, proband_genome_id=genome_id)["id"]
    ready_report(api, wait, report_id)
    variants = list(hook.iter_variants(report_id, page_size=40))
    keys = [(v["chrom"], v["start_on_chrom"], v["ref"], v["alt"]) for v in variants]
    assert keys == [(r.chrom, r.pos, r.ref, r.alt) for r in records]
    assert [v["report_variant_id"] for v in variants] == list(range(1, 91))
    assert all(v["end_on_chrom"] == v["start_on_chrom"] + len(v["ref"]) - 1 for v in variants)
    assert all(v["gene"] and v["genotype"] for v in variants)
    reviewed = [v for v in variants if v["status"] == "REVIEWED"]
    assert 0 < len(reviewed) < len(variants)

    with hook.get_variants(report_id, format="CSV") as answer:
        rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["chrom"], int(r["start_on_chrom"]), r["ref"], r["alt"]) for r in rows] == keys

    with hook.get_variants(report_id, format="VCF", status="REVIEWED") as answer:
        exported = answer.content
    exported_path = path.parent / "exported.vcf"
    exported_path.write_bytes(exported)
    with exported_path.open("rb") as handle:
        assert inspect_vcf(handle).fileformat == "VCFv4.2"
    assert [(r.chrom, r.pos, r.ref, r.alt) for r in records_of(exported_path)] == [
        (v["chrom"], v["start_on_chrom"], v["ref"], v["alt"]) for v in reviewed
    ]

    chrom = records[-1].chrom
    on_chrom = hook.get_variants(report_id, chrom=chrom.removeprefix("chr"))["objects"]
    assert on_chrom and all(v["chrom"] == chrom for v in on_chrom)
    start, end = records[10].pos, records[20].pos
    window = hook.get_variants(report_id, chrom=records[10].chrom, start_on_chrom=start, end_on_chrom=end)[
        "objects"
    ]
    assert all(start <= v["start_on_chrom"] and v["end_on_chrom"] <= end for v in window)
    alt = hook.get_variants(report_id, alt=records[0].alt)["objects"]
    assert alt and all(v["alt"] == records[0].alt for v in alt)
    primary = hook.get_variants(report_id, to_report="PRIMARY_FINDING")["objects"]
    assert primary and all(v["to_report"] == "PRIMARY_FINDING" for v in primary)
    both = hook.get_variants(report_id, status=["REVIEWED", "NOT_REVIEWED"], limit=5, offset=3)["objects"]
    assert [v["report_variant_id"] for v in both] == [4, 5, 6, 7, 8]
    extended = hook.get_variants(report_id, extended=True, limit=1)["objects"][0]
    assert "info" in extended


def test_variant_patch_bulk_validation_and_scoring(
    hook: FabricHook, api: Api, annotated_genome: dict[str, Any], wait: Any
) -> None:
    report_id = hook.create_panel_report(panel_id=101, proband_genome_id=annotated_genome["id"])["id"]
    ready_report(api, wait, report_id)
    patched = hook.update_variant(report_id, 2, status="REVIEWED", to_report="SECONDARY_FINDING")
    assert (patched["report_variant_id"], patched["status"], patched["to_report"]) == (
        2,
        "REVIEWED",
        "SECONDARY_FINDING",
    )
    assert (
        api(
            "PATCH",
            f"/reports/{report_id}/variants/2",
            json=[{"op": "replace", "path": "/status", "value": "X"}],
        ).status_code
        == 422
    )
    assert (
        api(
            "PATCH",
            f"/reports/{report_id}/variants/100000",
            json=[{"op": "replace", "path": "/status", "value": "REVIEWED"}],
        ).status_code
        == 404
    )
    assert api.ok("GET", f"/reports/{report_id}")["reviewed_variant_count"] == 21  # 20 by default, +1

    reviewed = hook.get_variants(report_id, status="REVIEWED", limit=3)["objects"]
    statuses = ["CONFIRMED", "FAIL", "CONFIRMED"]
    data = [
        f"{v['chrom']}\t{v['start_on_chrom']}\t.\t{v['ref']}\t{v['alt']}\t50\t{status}\t.\tGT\t0/1"
        for v, status in zip(reviewed, statuses, strict=True)
    ]
    unknown = "1\t12345\t.\tA\tT\t50\tCONFIRMED\t.\tGT\t0/1"
    header = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=FAIL,Description="Failed external confirmation">',
        '##FILTER=<ID=CONFIRMED,Description="Passed external confirmation">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tSAMPLE",
    ]
    result = hook.set_variant_statuses(report_id, "\n".join([*header, *data, unknown, ""]).encode())
    assert result["updated"] == 3 and len(result["unmatched"]) == 1
    shown = {v["id"]: v["status"] for v in hook.iter_variants(report_id)}
    first_ids = [v["id"] for v in reviewed]
    assert [shown[i] for i in first_ids] == ["CONFIRMED", "FAILED_CONFIRMATION", "CONFIRMED"]

    scored = hook.get_scored_variants(report_id, audit_log=True)
    assert scored["objects"] and {o["scoring_status"] for o in scored["objects"]} <= {
        "scored",
        "scoring",
        "classified",
    }
    fields = {(e["report_variant_id"], e["field"], e["new_value"]) for e in scored["audit_log"]}
    assert (2, "to_report", "SECONDARY_FINDING") in fields
    assert (first_ids[1], "status", "FAILED_CONFIRMATION") in fields
    classified = hook.get_scored_variants(report_id, scoring_status="classified")
    assert classified["objects"] and all(o["scoring_status"] == "classified" for o in classified["objects"])
    assert "audit_log" not in classified


def test_variants_wait_for_processing(api: Api, project: dict[str, Any]) -> None:
    body = {"report_type": "panel", "project_id": project["id"], "panel_id": 101}
    report_id = api.ok("POST", "/reports/", data=json.dumps(body))["clinical_report"]["id"]
    answer = api("GET", f"/reports/{report_id}/variants")
    assert answer.status_code == 422 and "WAITING" in answer.json()["description"]


def test_url_query_and_safe_params_header_give_identical_answers(
    api: Api, annotated_genome: dict[str, Any], wait: Any
) -> None:
    body = {
        "report_type": "panel",
        "proband_genome_id": annotated_genome["id"],
        "panel_id": 101,
        "accession_id": "SAFE-1",
    }
    report_id = api.ok("POST", "/reports/", data=json.dumps(body))["clinical_report"]["id"]
    ready_report(api, wait, report_id)
    cases = [
        ("/genomes", [("external_id", annotated_genome["external_id"] or ""), ("limit", "5")]),
        ("/reports/", [("accession_id", "SAFE-1"), ("report_status", "READY TO REVIEW")]),
        (f"/reports/{report_id}", [("extended", "True")]),
        (
            f"/reports/{report_id}/variants",
            [("status", "REVIEWED"), ("status", "NOT_REVIEWED"), ("limit", "7")],
        ),
        (f"/reports/{report_id}/variants", [("format", "CSV"), ("to_report", "PRIMARY_FINDING")]),
        (f"/reports/{report_id}/variants/scored", [("scoring_status", "classified")]),
        ("/panels/", [("name", "Cardiomyopathy Panel")]),
    ]
    from airflow_provider_fabric.api.safe_params import encode_safe_params

    for path, params in cases:
        in_url = api("GET", path, params=params)
        in_header = api("GET", path, headers={"X-fg-safe-params": encode_safe_params(params)})
        assert in_url.status_code == in_header.status_code == 200, path
        assert in_url.content == in_header.content, path
        unfiltered = api("GET", path)
        if path != f"/reports/{report_id}/variants/scored":
            assert unfiltered.content != in_url.content, path  # the parameters really took effect


def test_hook_never_puts_get_parameters_in_urls(
    hook: FabricHook, sandbox: Any, annotated_genome: dict[str, Any]
) -> None:
    sandbox.requests_seen(clear=True)
    hook.list_genomes(external_id="PHI-EXTERNAL-ID")
    hook.list_reports(accession_id="PHI-ACCESSION")
    hook.list_panels(name="cancer")
    seen = [r for r in sandbox.requests_seen() if r["method"] == "GET"]
    assert len(seen) >= 3
    assert all("?" not in r["url"] for r in seen), seen
