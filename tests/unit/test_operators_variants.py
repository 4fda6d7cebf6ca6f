"""Variant update operators against requests-mock standing in for Fabric.

``FakeFabric`` answers the documented calls only: the JSON export (``id``,
``chrom``, ``start_on_chrom``, ``ref``, ``alt``, ``status``, ``to_report``,
filtered by ``chrom``/``start_on_chrom``/``end_on_chrom``), the JSON Patch of
one variant, and the bulk status VCF (FILTER ``CONFIRMED``/``FAIL``). It can
be told to accept a change and not apply it, as a faulty server would.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from tisupport import RecordingTI

from airflow_provider_fabric.api.safe_params import SAFE_PARAMS_HEADER, decode_safe_params
from airflow_provider_fabric.exceptions import FabricInputError, FabricVerificationError
from airflow_provider_fabric.operators.variants import (
    FabricSetVariantStatusesOperator,
    FabricUpdateVariantOperator,
)
from airflow_provider_fabric.vcf import VcfValidationError

BASE = "https://fabric.test"
HEADER = (
    b"##fileformat=VCFv4.2\n"
    b"##reference=GRCh37\n"
    b'##FILTER=<ID=FAIL,Description="Failed external confirmation">\n'
    b'##FILTER=<ID=CONFIRMED,Description="Passed external confirmation">\n'
    b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)
VALIDATED = HEADER + b"chr1\t100\t.\tA\tG\t50\tCONFIRMED\t.\n" + b"2\t300\t.\tG\tA\t50\tFAIL\t.\n"


class FakeFabric:
    """A report's variants behind the documented variant calls, and what was sent to it."""

    def __init__(self, requests_mock: Any, *, applies: bool = True) -> None:
        self.applies = applies
        self.variants = [
            {"id": 7, "chrom": "1", "start_on_chrom": 100, "ref": "A", "alt": "G", "status": "REVIEWED"},
            {"id": 8, "chrom": "1", "start_on_chrom": 200, "ref": "C", "alt": "T", "status": "REVIEWED"},
            {"id": 9, "chrom": "2", "start_on_chrom": 300, "ref": "G", "alt": "A", "status": "REVIEWED"},
        ]
        for variant in self.variants:
            variant["to_report"] = None
        self.gets: list[dict[str, str]] = []
        self.sent: list[Any] = []
        requests_mock.get(f"{BASE}/reports/12/variants", json=self.export)
        requests_mock.put(f"{BASE}/reports/12/variants", json=self.bulk)
        requests_mock.patch(f"{BASE}/reports/12/variants/8", json=self.patch)

    def export(self, request: Any, _context: Any) -> dict[str, Any]:
        params = dict(decode_safe_params(request.headers.get(SAFE_PARAMS_HEADER, "")))
        self.gets.append(params)
        assert request.url == f"{BASE}/reports/12/variants", "filters never travel in the URL"
        found = [
            v
            for v in self.variants
            if ("chrom" not in params or v["chrom"] == params["chrom"])
            and ("start_on_chrom" not in params or v["start_on_chrom"] >= int(params["start_on_chrom"]))
            and ("end_on_chrom" not in params or v["start_on_chrom"] <= int(params["end_on_chrom"]))
        ]
        offset = int(params.get("offset", 0))
        return {"objects": [dict(v) for v in found[offset : offset + int(params.get("limit", 1000))]]}

    def bulk(self, request: Any, _context: Any) -> dict[str, Any]:
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        self.sent.append(body)
        text = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
        for line in text.decode().splitlines():
            if line and not line.startswith("#"):
                chrom, pos, _, ref, alt, _, status = line.split("\t")[:7]
                for v in self.variants:
                    if (v["chrom"], v["start_on_chrom"], v["ref"], v["alt"]) == (
                        chrom.removeprefix("chr"),
                        int(pos),
                        ref,
                        alt,
                    ) and self.applies:
                        v["status"] = {"FAIL": "FAILED_CONFIRMATION"}.get(status, status)
        return {"updated": len(self.sent)}

    def patch(self, request: Any, _context: Any) -> dict[str, Any]:
        ops = json.loads(request.body)
        self.sent.append(ops)
        variant = self.variants[1]
        if self.applies:
            for op in ops:
                variant[op["path"][1:]] = op["value"]
        return dict(variant)

    def status(self, variant_id: int) -> str:
        return next(v["status"] for v in self.variants if v["id"] == variant_id)


@pytest.fixture
def context():
    return {"ti": RecordingTI()}


@pytest.fixture
def fabric(hook, requests_mock):
    return FakeFabric(requests_mock)


@pytest.fixture
def validated(tmp_path):
    source = tmp_path / "confirmed.vcf"
    source.write_bytes(VALIDATED)
    return source


# -- one variant ------------------------------------------------------------------------------------


def test_update_variant_by_id_sends_a_json_patch_and_reads_it_back(fabric, requests_mock, context):
    result = FabricUpdateVariantOperator(
        task_id="update",
        report_id="12",
        report_variant_id="8",
        status="REVIEWED",
        to_report="PRIMARY_FINDING",
    ).execute(context)
    (patch,) = [r for r in requests_mock.request_history if r.method == "PATCH"]
    assert patch.headers["Content-Type"] == "application/json-patch+json"
    assert json.loads(patch.body) == [
        {"op": "replace", "path": "/status", "value": "REVIEWED"},
        {"op": "replace", "path": "/to_report", "value": "PRIMARY_FINDING"},
    ]
    assert result == {
        "report_id": 12,
        "report_variant_id": 8,
        "status": "REVIEWED",
        "to_report": "PRIMARY_FINDING",
        "changed": True,
    }
    # Read back by location after the patch: the documented filters, in the safe-params header.
    assert fabric.gets[-1] == {
        "chrom": "1",
        "start_on_chrom": "200",
        "end_on_chrom": "200",
        "format": "JSON",
        "limit": "1000",
        "offset": "0",
    }
    assert context["ti"].pushed == {"fabric_report_url": "https://ui.fabric.test/reports/12"}


def test_update_variant_by_location_resolves_its_id_from_the_json_export(fabric, context):
    result = FabricUpdateVariantOperator(
        task_id="update",
        report_id=12,
        variant={"chrom": "chr1", "pos": "200", "ref": "C", "alt": "T"},
        to_report="PRIMARY_FINDING",
    ).execute(context)
    assert result["report_variant_id"] == 8 and result["to_report"] == "PRIMARY_FINDING"
    assert fabric.sent == [[{"op": "replace", "path": "/to_report", "value": "PRIMARY_FINDING"}]]


def test_update_variant_already_so_sends_nothing(fabric, context):
    fabric.variants[1]["to_report"] = "PRIMARY_FINDING"
    result = FabricUpdateVariantOperator(
        task_id="update", report_id=12, report_variant_id=8, to_report="PRIMARY_FINDING"
    ).execute(context)
    assert fabric.sent == [] and result["changed"] is False


def test_update_variant_that_does_not_take_effect_fails_with_a_typed_error(hook, requests_mock, context):
    fabric = FakeFabric(requests_mock, applies=False)
    op = FabricUpdateVariantOperator(task_id="update", report_id=12, report_variant_id=8, status="EXCLUDED")
    with pytest.raises(FabricVerificationError, match="did not take effect .status is 'REVIEWED'"):
        op.execute(context)
    assert len(fabric.sent) == 1


def test_update_variant_refuses_unknown_variants_mismatches_and_bad_categories(fabric, context):
    with pytest.raises(ValueError, match="needs status, to_report or both"):
        FabricUpdateVariantOperator(task_id="u", report_id=1, report_variant_id=2)
    with pytest.raises(ValueError, match="needs report_variant_id, variant or both"):
        FabricUpdateVariantOperator(task_id="u", report_id=1, status="REVIEWED")
    cases = [
        ({"report_variant_id": 99}, "has no variant 99"),
        ({"variant": {"chrom": "1", "pos": 201, "ref": "C", "alt": "T"}}, "no variant at the given"),
        ({"report_variant_id": 7, "variant": {"chrom": "1", "pos": 200, "ref": "C", "alt": "T"}}, "is not"),
        ({"variant": {"chrom": "1", "pos": 200}}, "variant must be a dict with chrom, pos"),
        ({"report_variant_id": 8, "to_report": "MAYBE"}, "to_report must be"),
    ]
    for kwargs, message in cases:
        args = {"task_id": "u", "report_id": 12, "status": "REVIEWED", **kwargs}
        with pytest.raises(FabricInputError, match=message):
            FabricUpdateVariantOperator(**args).execute(context)
    assert fabric.sent == []


def test_update_variant_fields_are_templated():
    op = FabricUpdateVariantOperator(
        task_id="u",
        report_id="{{ params.r }}",
        report_variant_id="{{ params.v }}",
        variant="{{ params.loc }}",
        status="{{ params.s }}",
    )
    op.render_template_fields({"params": {"r": 1, "v": 2, "s": "REVIEWED", "loc": {"chrom": "1"}}})
    assert (op.report_id, op.report_variant_id, op.status) == ("1", "2", "REVIEWED")
    assert op.variant == "{'chrom': '1'}"


# -- many variants from a VCF -------------------------------------------------------------------------


def test_status_vcf_is_sent_whole_and_read_back(fabric, context, validated):
    result = FabricSetVariantStatusesOperator(task_id="set", report_id=12, source=str(validated)).execute(
        context
    )
    assert fabric.sent == [VALIDATED]
    assert (fabric.status(7), fabric.status(8), fabric.status(9)) == (
        "CONFIRMED",
        "REVIEWED",
        "FAILED_CONFIRMATION",
    )
    assert result == {
        "report_id": 12,
        "format": "vcf",
        "bytes": len(VALIDATED),
        "variants": 2,
        "statuses": {"CONFIRMED": 1, "FAIL": 1},
        "changed": 2,
        "result": {"updated": 1},
    }


def test_status_vcf_already_applied_sends_nothing(fabric, context, validated):
    fabric.variants[0]["status"], fabric.variants[2]["status"] = "CONFIRMED", "FAILED_CONFIRMATION"
    result = FabricSetVariantStatusesOperator(task_id="set", report_id=12, source=validated).execute(context)
    assert fabric.sent == []
    assert (result["changed"], result["result"]) == (0, None)


def test_statuses_that_do_not_take_effect_fail_with_counts(hook, requests_mock, context, validated):
    fabric = FakeFabric(requests_mock, applies=False)
    op = FabricSetVariantStatusesOperator(task_id="set", report_id=12, source=validated)
    with pytest.raises(FabricVerificationError) as info:
        op.execute(context)
    assert "2 of the 2 variants sent do not show their new status" in str(info.value)
    assert "CONFIRMED: 1 of 1, FAIL: 1 of 1" in str(info.value)
    assert len(fabric.sent) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (HEADER + b"1\t100\t.\tA\tG\t50\tPASS\t.\n2\t300\t.\tG\tA\t50\tPASS\t.\n", "none of the 2 records"),
        (HEADER + b"1\t100\t.\tA\tG\t50\tCONFIRMED\t.\n2\t300\t.\tG\tA\t50\t.\t.\n", "1 of the 2 records"),
        (HEADER + b"1\t100\t.\tA\tG\t50\tCONFIRMED\tVALIDATION=CONFIRMED\n", None),
        (VALIDATED.replace(b"##FILTER=<ID=FAIL", b"##FILTER=<ID=FAILED"), "FAIL without a ##FILTER"),
        (HEADER, "holds no variant records"),
        (HEADER + b"1\t999\t.\tA\tG\t50\tCONFIRMED\t.\n", "1 of the 1 variants .* not variants of report 12"),
        (b"%PDF-1.4 this is a report, not a VCF", "not a VCF"),
        (VALIDATED.replace(b"GRCh37", b"GRCh38"), "GRCh38"),
    ],
    ids=["all-pass", "one-dot", "info-ignored", "undeclared", "empty", "unknown-variant", "pdf", "grch38"],
)
def test_a_bad_status_vcf_is_refused_before_anything_is_sent(fabric, context, tmp_path, body, message):
    source = tmp_path / "confirmed.vcf"
    source.write_bytes(body)
    op = FabricSetVariantStatusesOperator(task_id="set", report_id=12, source=source)
    if message is None:  # the INFO column is ignored: FILTER alone carries the status
        op.execute(context)
        assert fabric.status(7) == "CONFIRMED"
        return
    with pytest.raises((FabricInputError, VcfValidationError), match=message):
        op.execute(context)
    assert fabric.sent == []


def test_gzip_status_vcf_is_detected_from_content(fabric, context, tmp_path):
    source = tmp_path / "confirmed"  # no extension: the content decides
    source.write_bytes(gzip.compress(VALIDATED))
    result = FabricSetVariantStatusesOperator(task_id="set", report_id=12, source=source).execute(context)
    assert gzip.decompress(fabric.sent[0]) == VALIDATED
    assert result["format"] == "vcf.gz" and fabric.status(7) == "CONFIRMED"


def test_large_status_vcf_is_streamed_from_storage(fabric, requests_mock, context, validated):
    op = FabricSetVariantStatusesOperator(
        task_id="set", report_id=12, source=validated, max_in_memory_bytes=16
    )
    result = op.execute(context)
    assert fabric.sent == [VALIDATED]
    (put,) = [r for r in requests_mock.request_history if r.method == "PUT"]
    assert put.qs == {"format": ["vcf"]}
    assert not isinstance(put.body, bytes)  # a file handle, not a buffer
    assert result["bytes"] == len(VALIDATED) and result["changed"] == 2


def test_many_variants_are_matched_in_one_pass_over_the_export(fabric, context, tmp_path, monkeypatch):
    import airflow_provider_fabric.operators.variants as variants

    monkeypatch.setattr(variants, "MAX_LOCATION_LOOKUPS", 1)
    source = tmp_path / "confirmed.vcf"
    source.write_bytes(VALIDATED)
    FabricSetVariantStatusesOperator(task_id="set", report_id=12, source=source).execute(context)
    assert all("chrom" not in params for params in fabric.gets)
    assert fabric.status(7) == "CONFIRMED"


def test_a_missing_source_is_a_clear_input_error(fabric, context, tmp_path):
    op = FabricSetVariantStatusesOperator(task_id="set", report_id=12, source=tmp_path / "nope.vcf")
    with pytest.raises(FabricInputError, match="does not exist"):
        op.execute(context)
    assert fabric.sent == []


def test_status_vcf_is_read_from_object_storage(fabric, context):
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    fs = MemoryFileSystem()
    attach(protocol="memory", fs=fs)
    try:
        fs.pipe("/lab/2024-05-01/confirmed.vcf", VALIDATED)
        op = FabricSetVariantStatusesOperator(
            task_id="set", report_id=12, source="memory://lab/{{ ds }}/confirmed.vcf"
        )
        op.render_template_fields({"ds": "2024-05-01"})
        op.execute(context)
        assert fabric.sent == [VALIDATED]
    finally:
        fs.store.clear()
