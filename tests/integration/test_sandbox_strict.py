"""The sandbox is as strict as the spec: documented formats only, catalogue values, the same 422s.

A DAG that works against the sandbox must work against Fabric, so the
sandbox refuses what a strict server would: bulk statuses anywhere but a
declared FILTER, QC metrics the report's assay type does not define, panels
outside the catalogue. And it accepts the vendor's own example, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_fabric.hooks.fabric import FabricHook

Api = Any  # the ``api`` fixture: raw requests with the test user's credentials

# The bulk status VCF of the vendor's example client, as quoted in the spec.
VENDOR_EXAMPLE = (
    "##fileformat=VCFv4.2\n"
    "##reference=GRCh37\n"
    '##FILTER=<ID=FAIL,Description="Failed external confirmation">\n'
    '##FILTER=<ID=CONFIRMED,Description="Passed external confirmation">\n'
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tSAMPLE\n"
    "chr7\t87160618\trs2032582\tA\tC\t1484.13\tCONFIRMED\t.\tGT\t1/1\n"
)
PANEL_METRICS = "Mean Coverage, Percent Bases 100x, Total Reads, Percent Q30"


@pytest.fixture
def report(api: Api, project: dict[str, Any], tmp_path: Path, wait: Any) -> dict[str, Any]:
    """A processed panel report whose proband carries the vendor example's variant and two more."""
    vcf = tmp_path / "proband.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##reference=GRCh37\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1\n"
        "chr7\t87160618\trs2032582\tA\tC\t1484.13\tPASS\t.\tGT\t1/1\n"
        "chr7\t87160700\t.\tG\tT\t50\tPASS\t.\tGT\t0/1\n"
        "chr17\t41245466\t.\tG\tA\t50\tPASS\t.\tGT\t0/1\n"
    )
    answer = api.upload(project["id"], vcf)
    assert answer.status_code == 200, answer.text
    body = {"report_type": "panel", "proband_genome_id": answer.json()["genome_id"], "panel_id": 101}
    report_id = api.ok("POST", "/reports/", data=json.dumps(body))["clinical_report"]["id"]
    return wait(  # type: ignore[no-any-return]
        lambda: api.ok("GET", f"/reports/{report_id}"), lambda r: r["status"] == "READY TO REVIEW"
    )


def variants(api: Api, report_id: int) -> list[dict[str, Any]]:
    return api.ok("GET", f"/reports/{report_id}/variants")["objects"]  # type: ignore[no-any-return]


def put_statuses(api: Api, report_id: int, text: str) -> Any:
    return api("PUT", f"/reports/{report_id}/variants", params={"format": "vcf"}, data=text.encode())


def test_the_vendor_example_bulk_vcf_confirms_its_variant(api: Api, report: dict[str, Any]) -> None:
    answer = put_statuses(api, report["id"], VENDOR_EXAMPLE)
    assert answer.status_code == 200, answer.text
    first, second, third = variants(api, report["id"])
    assert (first["id"], first["chrom"], first["start_on_chrom"]) == (1, "chr7", 87160618)
    assert first["status"] == "CONFIRMED"
    assert second["status"] == "NOT_REVIEWED" and third["status"] == "NOT_REVIEWED"
    fail = VENDOR_EXAMPLE.replace(
        "87160618\trs2032582\tA\tC\t1484.13\tCONFIRMED", "87160700\t.\tG\tT\t50\tFAIL"
    )
    assert put_statuses(api, report["id"], fail).status_code == 200
    assert variants(api, report["id"])[1]["status"] == "FAILED_CONFIRMATION"


@pytest.mark.parametrize(
    ("record_filter", "info", "message"),
    [
        ("PASS", ".", "1 of 1 record(s) carry no validation status in FILTER"),
        (".", ".", "first: record 1, FILTER '.'"),
        ("PASS", "VALIDATION=CONFIRMED", "carry no validation status in FILTER"),  # INFO is never read
        ("confirmed", ".", "FILTER 'confirmed'"),
    ],
    ids=["pass", "dot", "info-key", "lower-case"],
)
def test_bulk_records_without_a_status_in_filter_are_refused_whole(
    api: Api, report: dict[str, Any], record_filter: str, info: str, message: str
) -> None:
    before = variants(api, report["id"])
    text = VENDOR_EXAMPLE.replace("CONFIRMED\t.\tGT", f"{record_filter}\t{info}\tGT")
    answer = put_statuses(api, report["id"], text)
    assert answer.status_code == 422 and message in answer.json()["description"]
    assert variants(api, report["id"]) == before, "nothing was set"


def test_bulk_statuses_must_be_declared_in_the_header(api: Api, report: dict[str, Any]) -> None:
    text = VENDOR_EXAMPLE.replace('##FILTER=<ID=CONFIRMED,Description="Passed external confirmation">\n', "")
    answer = put_statuses(api, report["id"], text)
    assert answer.status_code == 422 and "declared in a ##FILTER header line" in answer.json()["description"]
    assert variants(api, report["id"])[0]["status"] == "REVIEWED", "unchanged"


def test_setting_a_value_again_is_not_an_edit(api: Api, report: dict[str, Any]) -> None:
    hook = FabricHook()
    for _ in range(2):
        assert put_statuses(api, report["id"], VENDOR_EXAMPLE).status_code == 200
        hook.update_variant(report["id"], 2, to_report="DO_NOT_REPORT")
    log = hook.get_scored_variants(report["id"], audit_log=True)["audit_log"]
    assert [(e["report_variant_id"], e["field"], e["new_value"]) for e in log] == [
        (1, "status", "CONFIRMED"),
        (2, "to_report", "DO_NOT_REPORT"),
    ]


def test_qc_metrics_are_those_of_the_assay_type(api: Api, report: dict[str, Any]) -> None:
    path = f"/reports/{report['id']}/qc_data"
    assay = api.ok("GET", f"/assay_types/{report['assay_type_id']}")
    assert ", ".join(assay["qc_metrics"]) == PANEL_METRICS
    refused = api("POST", path, json={"total_reads": 1000, "mean_coverage": 250.5})
    assert refused.status_code == 422
    assert refused.json()["description"] == (
        "unknown QC metric(s) mean_coverage, total_reads for assay type 1 (Targeted Panel); "
        f"allowed: {PANEL_METRICS}"
    )
    assert api("POST", path, json={}).status_code == 422
    assert api.ok("GET", path)["objects"] == []
    # The vendor's client sends JSON text without a JSON content type; text values are fine.
    entry = api.ok("POST", path, data=json.dumps({"Total Reads": "1000", "Mean Coverage": 250.5}))
    assert entry["data"] == {"Total Reads": "1000", "Mean Coverage": 250.5}


def test_an_approved_report_locks_patient_fields_and_qc_data(api: Api, report: dict[str, Any]) -> None:
    patch = [{"op": "replace", "path": "/status", "value": "APPROVED"}]
    api.ok("PATCH", f"/reports/{report['id']}/update_status/", data=json.dumps(patch))
    locked = {
        "patient_fields": ({"Last Name": "X"}, "patient fields are locked"),
        "qc_data": ({"Total Reads": 1}, "QC data is locked"),
    }
    for path, (body, message) in locked.items():
        answer = api("POST", f"/reports/{report['id']}/{path}", json=body)
        assert answer.status_code == 422
        assert answer.json()["description"] == f"report {report['id']} is approved: {message}"


def test_panels_and_assay_types_come_from_the_catalogue(api: Api, project: dict[str, Any]) -> None:
    body = {"report_type": "panel", "project_id": project["id"], "panel_id": 4242}
    answer = api("POST", "/reports/", data=json.dumps(body))
    assert answer.status_code == 422 and answer.json()["description"] == "panel 4242 does not exist"
    assert api("GET", "/assay_types/4242").status_code == 404
    (panel,) = api.ok("GET", "/panels/", params={"test_code": "HC-101"})["objects"]
    assert (panel["id"], panel["assay_type_id"]) == (101, 1)


# -- the operators against it: compare first, read back, never twice ------------------------------------


def writes(sandbox: Any) -> list[str]:
    return [r["method"] for r in sandbox.requests_seen() if r["method"] in ("POST", "PUT", "PATCH", "DELETE")]


def test_statuses_set_twice_are_sent_once(
    sandbox: Any, api: Api, report: dict[str, Any], tmp_path: Path
) -> None:
    from tisupport import RecordingTI

    from airflow_provider_fabric.operators.variants import (
        FabricSetVariantStatusesOperator,
        FabricUpdateVariantOperator,
    )

    source = tmp_path / "confirmed.vcf"
    source.write_text(VENDOR_EXAMPLE)
    set_statuses = FabricSetVariantStatusesOperator(task_id="set", report_id=report["id"], source=source)
    primary = FabricUpdateVariantOperator(
        task_id="primary",
        report_id=report["id"],
        variant={"chrom": "7", "pos": 87160618, "ref": "A", "alt": "C"},
        to_report="SECONDARY_FINDING",  # variant 1 starts as a primary finding
    )
    sandbox.requests_seen(clear=True)
    assert set_statuses.execute({"ti": RecordingTI()})["changed"] == 1
    assert primary.execute({"ti": RecordingTI()})["changed"] is True
    assert writes(sandbox) == ["PUT", "PATCH"]
    assert set_statuses.execute({"ti": RecordingTI()})["changed"] == 0
    assert primary.execute({"ti": RecordingTI()})["changed"] is False
    assert writes(sandbox) == ["PUT", "PATCH"], "the second time, nothing was sent"
    first = variants(api, report["id"])[0]
    assert (first["status"], first["to_report"]) == ("CONFIRMED", "SECONDARY_FINDING")


def test_a_lost_qc_answer_leaves_one_entry(sandbox: Any, api: Api, report: dict[str, Any]) -> None:
    from tisupport import RecordingTI

    from airflow_provider_fabric.operators.reports import FabricPostQcDataOperator

    path = f"/reports/{report['id']}/qc_data"
    sandbox.set_faults(methods=["POST"], paths=[f"{path}$"], script=[{"kind": "drop", "phase": "after"}])
    op = FabricPostQcDataOperator(task_id="qc", report_id=report["id"], qc_data={"Total Reads": 1000})
    op.execute({"ti": RecordingTI()})  # the server stored the entry; its answer was lost
    assert sandbox.faults()["script_left"] == []
    op.execute({"ti": RecordingTI()})  # a re-run finds it
    assert [entry["data"] for entry in api.ok("GET", path)["objects"]] == [{"Total Reads": 1000}]


def test_other_values_for_an_approved_report_fail_before_anything_is_sent(
    sandbox: Any, api: Api, report: dict[str, Any]
) -> None:
    from tisupport import RecordingTI

    from airflow_provider_fabric.exceptions import FabricConflictError, FabricInputError
    from airflow_provider_fabric.operators.reports import (
        FabricPostPatientFieldsOperator,
        FabricPostQcDataOperator,
    )

    fields = {"First Name": "Synthetic", "Patient DOB": "1990-01-01"}
    FabricPostPatientFieldsOperator(task_id="pf", report_id=report["id"], fields=fields).execute(
        {"ti": RecordingTI()}
    )
    patch = [{"op": "replace", "path": "/status", "value": "APPROVED"}]
    api.ok("PATCH", f"/reports/{report['id']}/update_status/", data=json.dumps(patch))
    sandbox.requests_seen(clear=True)
    FabricPostPatientFieldsOperator(task_id="pf", report_id=report["id"], fields=fields).execute(
        {"ti": RecordingTI()}
    )
    changed = {**fields, "Patient DOB": "1990-01-02"}
    with pytest.raises(FabricConflictError, match=r"fields: Patient DOB\)") as info:
        FabricPostPatientFieldsOperator(task_id="pf", report_id=report["id"], fields=changed).execute(
            {"ti": RecordingTI()}
        )
    assert "1990" not in str(info.value)
    with pytest.raises(FabricInputError, match="mean_coverage are not defined by assay type 1"):
        FabricPostQcDataOperator(task_id="qc", report_id=report["id"], qc_data={"mean_coverage": 1}).execute(
            {"ti": RecordingTI()}
        )
    assert writes(sandbox) == []
