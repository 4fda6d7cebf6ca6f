"""Variant update operators against requests-mock: the JSON Patch and the validation VCF upload."""

from __future__ import annotations

import gzip
import json

import pytest
from tisupport import RecordingTI

from airflow_provider_fabric.exceptions import FabricInputError
from airflow_provider_fabric.operators.variants import (
    FabricSetVariantStatusesOperator,
    FabricUpdateVariantOperator,
)
from airflow_provider_fabric.vcf import VcfValidationError

BASE = "https://fabric.test"
VALIDATED = (
    b"##fileformat=VCFv4.2\n"
    b"##reference=GRCh37\n"
    b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    b"1\t100\t.\tA\tG\t50\tPASS\tVALIDATION=CONFIRMED\n"
    b"2\t300\t.\tG\tA\t50\tPASS\tVALIDATION=FAIL\n"
)


@pytest.fixture
def context():
    return {"ti": RecordingTI()}


def test_update_variant_sends_a_json_patch(hook, requests_mock, context):
    requests_mock.patch(
        f"{BASE}/reports/12/variants/34",
        json={"report_variant_id": 34, "status": "REVIEWED", "to_report": "PRIMARY_FINDING", "gene": "BRCA1"},
    )
    result = FabricUpdateVariantOperator(
        task_id="update",
        report_id="12",
        report_variant_id="34",
        status="REVIEWED",
        to_report="PRIMARY_FINDING",
    ).execute(context)
    sent = requests_mock.request_history[0]
    assert sent.headers["Content-Type"] == "application/json-patch+json"
    assert json.loads(sent.body) == [
        {"op": "replace", "path": "/status", "value": "REVIEWED"},
        {"op": "replace", "path": "/to_report", "value": "PRIMARY_FINDING"},
    ]
    assert result == {
        "report_id": 12,
        "report_variant_id": 34,
        "status": "REVIEWED",
        "to_report": "PRIMARY_FINDING",
    }
    assert context["ti"].pushed == {"fabric_report_url": "https://ui.fabric.test/reports/12"}


def test_update_variant_only_patches_what_is_given(hook, requests_mock, context):
    requests_mock.patch(
        f"{BASE}/reports/12/variants/34", json={"report_variant_id": 34, "to_report": "DO_NOT_REPORT"}
    )
    FabricUpdateVariantOperator(
        task_id="update", report_id=12, report_variant_id=34, to_report="DO_NOT_REPORT"
    ).execute(context)
    assert json.loads(requests_mock.request_history[0].body) == [
        {"op": "replace", "path": "/to_report", "value": "DO_NOT_REPORT"}
    ]


def test_update_variant_refuses_nothing_to_do_and_bad_categories(hook, requests_mock, context):
    with pytest.raises(ValueError, match="needs status, to_report or both"):
        FabricUpdateVariantOperator(task_id="u", report_id=1, report_variant_id=2)
    op = FabricUpdateVariantOperator(task_id="u", report_id=1, report_variant_id=2, to_report="MAYBE")
    with pytest.raises(FabricInputError, match="to_report must be"):
        op.execute(context)
    assert requests_mock.request_history == []


def test_update_variant_fields_are_templated():
    op = FabricUpdateVariantOperator(
        task_id="u", report_id="{{ params.r }}", report_variant_id="{{ params.v }}", status="{{ params.s }}"
    )
    op.render_template_fields({"params": {"r": 1, "v": 2, "s": "REVIEWED"}})
    assert (op.report_id, op.report_variant_id, op.status) == ("1", "2", "REVIEWED")


def test_small_validation_vcf_is_sent_whole_with_its_format(hook, requests_mock, context, tmp_path):
    requests_mock.put(f"{BASE}/reports/12/variants", json={"updated": 2, "unmatched": []})
    source = tmp_path / "confirmed.vcf"
    source.write_bytes(VALIDATED)
    result = FabricSetVariantStatusesOperator(task_id="set", report_id=12, source=str(source)).execute(
        context
    )
    sent = requests_mock.request_history[0]
    assert sent.body == VALIDATED
    assert sent.qs == {"format": ["vcf"]}
    assert result == {
        "report_id": 12,
        "format": "vcf",
        "bytes": len(VALIDATED),
        "result": {"updated": 2, "unmatched": []},
    }


def test_gzip_validation_vcf_is_detected_from_content(hook, requests_mock, context, tmp_path):
    requests_mock.put(f"{BASE}/reports/12/variants", json={"updated": 2})
    source = tmp_path / "confirmed"  # no extension: the content decides
    source.write_bytes(gzip.compress(VALIDATED))
    result = FabricSetVariantStatusesOperator(task_id="set", report_id=12, source=source).execute(context)
    assert requests_mock.request_history[0].qs == {"format": ["vcf.gz"]}
    assert gzip.decompress(requests_mock.request_history[0].body) == VALIDATED
    assert result["format"] == "vcf.gz"


def test_large_validation_vcf_is_streamed_from_storage(hook, requests_mock, context, tmp_path):
    received = []

    def capture(request, _context):
        body = request.body
        received.append(body if isinstance(body, bytes) else body.read())
        return {"updated": 2}

    requests_mock.put(f"{BASE}/reports/12/variants", json=capture)
    source = tmp_path / "confirmed.vcf"
    source.write_bytes(VALIDATED)
    op = FabricSetVariantStatusesOperator(task_id="set", report_id=12, source=source, max_in_memory_bytes=16)
    result = op.execute(context)
    assert received == [VALIDATED]
    assert not isinstance(requests_mock.request_history[0].body, bytes)  # a file handle, not a buffer
    assert result["bytes"] == len(VALIDATED)


def test_a_file_that_is_not_a_vcf_is_refused_before_sending(hook, requests_mock, context, tmp_path):
    source = tmp_path / "confirmed.vcf"
    source.write_bytes(b"%PDF-1.4 this is a report, not a VCF")
    op = FabricSetVariantStatusesOperator(task_id="set", report_id=12, source=source)
    with pytest.raises(VcfValidationError, match="not a VCF"):
        op.execute(context)
    assert requests_mock.request_history == []


def test_a_grch38_vcf_is_refused_before_sending(hook, requests_mock, context, tmp_path):
    source = tmp_path / "confirmed.vcf"
    source.write_bytes(VALIDATED.replace(b"GRCh37", b"GRCh38"))
    op = FabricSetVariantStatusesOperator(task_id="set", report_id=12, source=source)
    with pytest.raises(VcfValidationError):
        op.execute(context)
    assert requests_mock.request_history == []


def test_a_missing_source_is_a_clear_input_error(hook, requests_mock, context, tmp_path):
    op = FabricSetVariantStatusesOperator(task_id="set", report_id=12, source=tmp_path / "nope.vcf")
    with pytest.raises(FabricInputError, match="does not exist"):
        op.execute(context)
    assert requests_mock.request_history == []


def test_validation_vcf_is_read_from_object_storage(hook, requests_mock, context):
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    fs = MemoryFileSystem()
    attach(protocol="memory", fs=fs)
    try:
        fs.pipe("/lab/2024-05-01/confirmed.vcf", VALIDATED)
        requests_mock.put(f"{BASE}/reports/12/variants", json={"updated": 2})
        op = FabricSetVariantStatusesOperator(
            task_id="set", report_id=12, source="memory://lab/{{ ds }}/confirmed.vcf"
        )
        op.render_template_fields({"ds": "2024-05-01"})
        op.execute(context)
        assert requests_mock.request_history[0].body == VALIDATED
    finally:
        fs.store.clear()
