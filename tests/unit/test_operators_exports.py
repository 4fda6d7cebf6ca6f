"""Export operators against requests-mock: what reaches the server, what lands at the destination."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
from tisupport import RecordingTI

from airflow_provider_fabric.exceptions import FabricApiError, FabricRequestError, FabricServerError
from airflow_provider_fabric.operators.exports import (
    FabricExportReportPdfOperator,
    FabricExportScoredVariantsOperator,
    FabricExportVariantsOperator,
    FabricGetClinicalReportOperator,
    RecordCounter,
)

BASE = "https://fabric.test"
SENTINEL = "PHI-SENTINEL-Doe-Jane"
VCF_BODY = (
    b"##fileformat=VCFv4.2\n"
    b"##source=fabric\n"
    b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
    b"1\t100\t.\tA\tG\t50\tPASS\tRVID=1\tGT\t0/1\n"
    b"1\t200\t.\tC\tT\t50\tPASS\tRVID=2\tGT\t1/1\n"
    b"2\t300\t.\tG\tA\t50\tPASS\tRVID=3\tGT\t0/1\n"
)


@pytest.fixture
def context():
    return {"ti": RecordingTI()}


def variant(n: int) -> dict:
    return {"report_variant_id": n, "chrom": "1", "start_on_chrom": 100 * n, "ref": "A", "alt": "G"}


def _safe_params(sent) -> str:
    assert "?" not in sent.url and sent.query == ""
    return sent.headers["X-fg-safe-params"]


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


class BrokenBody(io.RawIOBase):
    """A response body whose connection drops after ``good`` bytes."""

    def __init__(self, good: bytes) -> None:
        self._good = io.BytesIO(good)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._good.read(len(buffer))
        if not data:
            raise ConnectionResetError("connection reset by peer")
        buffer[: len(data)] = data
        return len(data)


# --------------------------------------------------------------------------- variants: CSV / VCF


def test_vcf_export_streams_to_the_file_with_filters_in_the_safe_params_header(
    hook, requests_mock, context, tmp_path
):
    requests_mock.get(f"{BASE}/reports/12/variants", content=VCF_BODY)
    dest = tmp_path / "out" / "report_12.vcf"
    op = FabricExportVariantsOperator(
        task_id="export",
        report_id="12",
        destination=str(dest),
        format="vcf",
        status=["REVIEWED", "CONFIRMED"],
        to_report="PRIMARY_FINDING",
        extended=True,
        chrom="1",
        start_on_chrom=100,
        end_on_chrom="5000",
        alt="G",
    )
    result = op.execute(context)
    assert dest.read_bytes() == VCF_BODY
    assert result == {
        "destination": f"file://{dest}",
        "variant_count": 3,
        "format": "vcf",
        "bytes": len(VCF_BODY),
        "report_id": 12,
    }
    assert _safe_params(requests_mock.request_history[0]) == (
        "status=REVIEWED&status=CONFIRMED&to_report=PRIMARY_FINDING&extended=True&chrom=1"
        "&start_on_chrom=100&end_on_chrom=5000&alt=G&format=VCF"
    )
    assert context["ti"].pushed == {"fabric_report_url": "https://ui.fabric.test/reports/12"}
    assert _leftovers(dest.parent) == []


def test_csv_export_counts_rows_even_with_quoted_line_breaks(hook, requests_mock, context, tmp_path):
    body = (
        b"report_variant_id,chrom,gene,effect\n"
        b'1,1,BRCA1,"missense\nsecond line, with comma"\n'
        b'2,1,"TP""53",stop_gained\n'
        b"3,X,DMD,intron_variant"  # no final newline
    )
    requests_mock.get(f"{BASE}/reports/5/variants", content=body)
    dest = tmp_path / "v.csv"
    result = FabricExportVariantsOperator(task_id="csv", report_id=5, destination=dest, format="CSV").execute(
        context
    )
    assert dest.read_bytes() == body
    assert result["variant_count"] == 3 and result["format"] == "csv"
    assert _safe_params(requests_mock.request_history[0]) == "format=CSV"


@pytest.mark.parametrize("chunk", [1, 2, 7, 1 << 20])
def test_record_counter_is_independent_of_chunk_boundaries(chunk):
    csv_body = b'h1,h2\r\n"a\r\nb",1\r\n"x""y\n",2\r\n\r\nlast,3\r\n'
    vcf_body = b"##x\n#CHROM\tPOS\n1\t1\n\n2\t2\n#late comment\n3\t3"
    for fmt, body, expected in (("csv", csv_body, 3), ("vcf", vcf_body, 3)):
        counter = RecordCounter(fmt)
        for start in range(0, len(body), chunk):
            counter.update(body[start : start + chunk])
        assert counter.finish() == expected, (fmt, chunk)


def _reference_count(fmt: str, body: bytes) -> int:
    lines = [line.strip(b"\r") for line in body.split(b"\n")]
    data = [line for line in lines if line]
    if fmt == "vcf":
        return sum(1 for line in data if not line.startswith(b"#"))
    return max(len(data) - 1, 0)


@pytest.mark.parametrize("seed", range(40))
def test_record_counter_matches_a_line_by_line_count(seed):
    import random

    rng = random.Random(seed)
    pieces = [b"1\t100\tA\tG", b"#comment", b"", b"\r", b"x,y,z", b"##meta=1", b"22\t5\t.\tC\tT"]
    body = b"".join(rng.choice(pieces) + rng.choice([b"\n", b"\r\n"]) for _ in range(rng.randint(0, 60)))
    body += rng.choice([b"", b"tail-without-newline", b"#tail"])
    for fmt in ("vcf", "csv"):
        for chunk in (1, 3, 16, 1 << 20):
            counter = RecordCounter(fmt)
            for start in range(0, len(body), chunk):
                counter.update(body[start : start + chunk])
            assert counter.finish() == _reference_count(fmt, body), (fmt, chunk)


def test_empty_csv_and_vcf_exports_count_zero():
    for fmt, body in (("csv", b""), ("csv", b"a,b\n"), ("vcf", b"##fileformat=VCFv4.2\n#CHROM\tPOS\n")):
        counter = RecordCounter(fmt)
        counter.update(body)
        assert counter.finish() == 0


def test_connection_dropped_mid_body_leaves_no_file_and_the_old_file_untouched(
    hook, requests_mock, context, tmp_path
):
    dest = tmp_path / "report.vcf"
    dest.write_bytes(b"yesterday's complete export\n")
    requests_mock.get(f"{BASE}/reports/12/variants", body=BrokenBody(VCF_BODY[:60]))
    op = FabricExportVariantsOperator(task_id="export", report_id=12, destination=dest, format="vcf")
    with pytest.raises(FabricServerError, match=r"cut short after \d+ bytes \(ChunkedEncodingError\)"):
        op.execute(context)
    assert dest.read_bytes() == b"yesterday's complete export\n"
    assert _leftovers(tmp_path) == []


@pytest.fixture
def memory_storage():
    """``memory://`` object storage (an in-process stand-in for s3:// buckets)."""
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    fs = MemoryFileSystem()
    attach(protocol="memory", fs=fs)
    yield fs
    fs.store.clear()
    fs.pseudo_dirs[:] = [""]


def test_export_to_object_storage_url(hook, requests_mock, context, memory_storage):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    requests_mock.get(f"{BASE}/reports/12/variants", content=VCF_BODY)
    dest = ObjectStoragePath("memory://lab-exports/2024-01-01/report_12.vcf")
    result = FabricExportVariantsOperator(
        task_id="export", report_id=12, destination=dest, format="vcf"
    ).execute(context)
    assert dest.read_bytes() == VCF_BODY
    assert result["destination"] == "memory://lab-exports/2024-01-01/report_12.vcf"
    assert [p.name for p in dest.parent.iterdir()] == ["report_12.vcf"]


def test_variants_422_says_which_state_the_report_is_in(hook, requests_mock, context, tmp_path):
    requests_mock.get(
        f"{BASE}/reports/12/variants",
        status_code=422,
        json={"description": "report 12 is WAITING: variants are available once it is processed"},
    )
    requests_mock.get(f"{BASE}/reports/12", json={"id": 12, "status": "WAITING", "accession_id": SENTINEL})
    dest = tmp_path / "v.vcf"
    op = FabricExportVariantsOperator(task_id="export", report_id=12, destination=dest, format="vcf")
    with pytest.raises(FabricRequestError) as caught:
        op.execute(context)
    message = str(caught.value)
    assert "Variants of report 12 cannot be exported" in message
    assert "the report is WAITING" in message and "once the report is processed" in message
    assert caught.value.http_status == 422
    assert SENTINEL not in message
    assert not dest.exists() and _leftovers(tmp_path) == []


# --------------------------------------------------------------------------- variants: JSON


def test_json_export_follows_pages_and_writes_one_document(hook, requests_mock, context, tmp_path):
    pages = [[variant(1), variant(2)], [variant(3), variant(4)], [variant(5)]]
    requests_mock.get(f"{BASE}/reports/9/variants", [{"json": {"objects": page}} for page in pages])
    dest = tmp_path / "v.json"
    result = FabricExportVariantsOperator(
        task_id="json", report_id=9, destination=dest, status="REVIEWED", page_size=2
    ).execute(context)
    assert json.loads(dest.read_text()) == {"objects": [variant(n) for n in range(1, 6)]}
    assert result["variant_count"] == 5 and result["format"] == "json"
    headers = [_safe_params(sent) for sent in requests_mock.request_history]
    assert headers == [
        "status=REVIEWED&format=JSON&limit=2&offset=0",
        "status=REVIEWED&format=JSON&limit=2&offset=2",
        "status=REVIEWED&format=JSON&limit=2&offset=4",
    ]


def test_json_export_keeps_server_values_as_sent(hook, requests_mock, context, tmp_path):
    raw = {**variant(1), "reviewed_on": "2014-12-02T00:12:10", "note": "āēī"}
    requests_mock.get(f"{BASE}/reports/9/variants", json={"objects": [raw]})
    dest = tmp_path / "v.json"
    FabricExportVariantsOperator(task_id="json", report_id=9, destination=dest).execute(context)
    assert json.loads(dest.read_text(encoding="utf-8")) == {"objects": [raw]}


def test_json_lines_export_writes_one_object_per_line(hook, requests_mock, context, tmp_path):
    pages = [[variant(1), variant(2)], []]
    requests_mock.get(f"{BASE}/reports/9/variants", [{"json": {"objects": page}} for page in pages])
    dest = tmp_path / "v.jsonl"
    result = FabricExportVariantsOperator(
        task_id="jsonl", report_id=9, destination=dest, json_lines=True, page_size=2
    ).execute(context)
    lines = dest.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [variant(1), variant(2)]
    assert result["variant_count"] == 2 and result["format"] == "jsonl"


def test_empty_json_export_is_still_a_valid_document(hook, requests_mock, context, tmp_path):
    requests_mock.get(f"{BASE}/reports/9/variants", json={"objects": []})
    dest = tmp_path / "v.json"
    result = FabricExportVariantsOperator(task_id="json", report_id=9, destination=dest).execute(context)
    assert json.loads(dest.read_text()) == {"objects": []}
    assert result["variant_count"] == 0


def test_json_export_failing_on_a_later_page_leaves_the_old_file(hook, requests_mock, context, tmp_path):
    dest = tmp_path / "v.json"
    dest.write_text('{"objects": ["old"]}')
    requests_mock.get(
        f"{BASE}/reports/9/variants",
        [
            {"json": {"objects": [variant(1), variant(2)]}},
            {"status_code": 404, "json": {"description": "gone"}},
        ],
    )
    op = FabricExportVariantsOperator(task_id="json", report_id=9, destination=dest, page_size=2)
    with pytest.raises(FabricApiError):
        op.execute(context)
    assert dest.read_text() == '{"objects": ["old"]}'
    assert _leftovers(tmp_path) == []


def test_bad_format_and_json_lines_combinations_are_refused_when_the_dag_is_parsed():
    with pytest.raises(ValueError, match="format must be one of json, csv, vcf"):
        FabricExportVariantsOperator(task_id="x", report_id=1, destination="/tmp/x", format="xlsx")
    with pytest.raises(ValueError, match="json_lines"):
        FabricExportVariantsOperator(
            task_id="x", report_id=1, destination="/tmp/x", format="csv", json_lines=True
        )


# --------------------------------------------------------------------------- scored variants


def test_scored_variants_export_sends_filters_and_writes_json(hook, requests_mock, context, tmp_path):
    answer = {
        "report_id": 4,
        "objects": [{"report_variant_id": 1, "scoring_status": "classified"}],
        "audit_log": [{"report_variant_id": 1, "timestamp": "2024-01-02T03:04:05"}],
    }
    requests_mock.get(f"{BASE}/reports/4/variants/scored", json=answer)
    dest = tmp_path / "scored.json"
    result = FabricExportScoredVariantsOperator(
        task_id="scored", report_id=4, destination=dest, scoring_status="classified", audit_log=True
    ).execute(context)
    assert json.loads(dest.read_text()) == answer
    assert result["variant_count"] == 1 and result["destination"] == f"file://{dest}"
    assert _safe_params(requests_mock.request_history[0]) == "scoring_status=classified&audit_log=true"


def test_scored_variants_rejects_an_unknown_scoring_status_before_sending(
    hook, requests_mock, context, tmp_path
):
    op = FabricExportScoredVariantsOperator(
        task_id="scored", report_id=4, destination=tmp_path / "s.json", scoring_status="done"
    )
    with pytest.raises(ValueError, match="scoring_status"):
        op.execute(context)
    assert requests_mock.request_history == []


# --------------------------------------------------------------------------- clinical report


REPORT = {
    "id": 7,
    "status": "APPROVED",
    "created_on": "2014-12-02T00:12:10",
    "accession_id": SENTINEL,
    "patient_dict": {"First Name": SENTINEL, "Patient DOB": "1970-01-01"},
    "patient_fields": {"Last Name": SENTINEL},
    "family": {"family_1": {"genome_id": 3, "label": SENTINEL, "relationship": "mother"}},
    "variant_count": 12,
}


def test_clinical_report_file_holds_everything_xcom_holds_no_phi(
    hook, requests_mock, context, tmp_path, caplog
):
    requests_mock.get(f"{BASE}/reports/7", json=REPORT)
    dest = tmp_path / "lims" / "report_7.json"
    with caplog.at_level(logging.DEBUG):
        result = FabricGetClinicalReportOperator(task_id="report", report_id=7, destination=dest).execute(
            context
        )
    assert json.loads(dest.read_text()) == REPORT  # raw: naive timestamp kept, PHI kept
    assert _safe_params(requests_mock.request_history[0]) == "extended=True"
    assert SENTINEL not in json.dumps(result)
    assert result["report"] == {
        "id": 7,
        "status": "APPROVED",
        "created_on": "2014-12-02T00:12:10",
        "family": {"family_1": {"genome_id": 3, "relationship": "mother"}},
        "variant_count": 12,
    }
    assert result["status"] == "APPROVED" and result["destination"] == f"file://{dest}"
    assert context["ti"].pushed == {"fabric_report_url": "https://ui.fabric.test/reports/7"}
    assert SENTINEL not in caplog.text


def test_clinical_report_phi_in_xcom_only_when_asked(hook, requests_mock, context):
    requests_mock.get(f"{BASE}/reports/7", json=REPORT)
    result = FabricGetClinicalReportOperator(
        task_id="report", report_id=7, include_phi_in_xcom=True, extended=False
    ).execute(context)
    assert result["report"] == REPORT
    assert result["destination"] is None
    assert "X-fg-safe-params" not in requests_mock.request_history[0].headers


def test_large_clinical_report_is_filed_but_not_returned(hook, requests_mock, context, tmp_path):
    requests_mock.get(f"{BASE}/reports/7", json=REPORT)
    dest = tmp_path / "r.json"
    result = FabricGetClinicalReportOperator(
        task_id="report", report_id=7, destination=dest, xcom_max_bytes=50
    ).execute(context)
    assert result["report"] is None
    assert json.loads(dest.read_text()) == REPORT


# --------------------------------------------------------------------------- PDF

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def test_final_pdf_is_written(hook, requests_mock, context, tmp_path):
    requests_mock.get(
        f"{BASE}/reports/7/pdf_report", content=PDF, headers={"Content-Type": "application/pdf"}
    )
    dest = tmp_path / "signed" / "report_7.pdf"
    result = FabricExportReportPdfOperator(task_id="pdf", report_id=7, destination=dest).execute(context)
    assert dest.read_bytes() == PDF
    assert result == {"destination": f"file://{dest}", "bytes": len(PDF), "preview": False, "report_id": 7}


def test_preview_pdf_uses_the_preview_endpoint(hook, requests_mock, context, tmp_path):
    requests_mock.get(f"{BASE}/reports/7/pdf_preview", content=PDF)
    dest = tmp_path / "preview.pdf"
    result = FabricExportReportPdfOperator(
        task_id="pdf", report_id=7, destination=dest, preview=True
    ).execute(context)
    assert dest.read_bytes() == PDF and result["preview"] is True


@pytest.mark.parametrize("body", [b"<html>maintenance</html>", b"", b"%PD"])
def test_a_body_that_is_not_a_pdf_never_reaches_the_destination(hook, requests_mock, context, tmp_path, body):
    dest = tmp_path / "report_7.pdf"
    dest.write_bytes(PDF + b"old")
    requests_mock.get(f"{BASE}/reports/7/pdf_report", content=body)
    op = FabricExportReportPdfOperator(task_id="pdf", report_id=7, destination=dest)
    with pytest.raises(FabricApiError, match="not a PDF"):
        op.execute(context)
    assert dest.read_bytes() == PDF + b"old"
    assert _leftovers(tmp_path) == []


def test_pdf_cut_short_leaves_nothing(hook, requests_mock, context, tmp_path):
    requests_mock.get(f"{BASE}/reports/7/pdf_report", body=BrokenBody(PDF[:20]))
    dest = tmp_path / "report_7.pdf"
    with pytest.raises(FabricServerError, match="cut short"):
        FabricExportReportPdfOperator(task_id="pdf", report_id=7, destination=dest).execute(context)
    assert not dest.exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("preview", "status", "expected"),
    [
        (False, "READY TO REVIEW", "only the preview PDF is available (preview=True)"),
        (False, "PROCESSING", "no PDF is available yet"),
        (True, "APPROVED", "the final PDF is available (preview=False)"),
        (True, "WAITING", "no PDF is available yet"),
    ],
)
def test_pdf_422_names_the_report_state_and_the_available_pdf(
    hook, requests_mock, context, tmp_path, preview, status, expected
):
    endpoint = "pdf_preview" if preview else "pdf_report"
    requests_mock.get(f"{BASE}/reports/7/{endpoint}", status_code=422, json={"description": "not available"})
    requests_mock.get(f"{BASE}/reports/7", json={"id": 7, "status": status, "accession_id": SENTINEL})
    dest = tmp_path / "r.pdf"
    op = FabricExportReportPdfOperator(task_id="pdf", report_id=7, destination=dest, preview=preview)
    with pytest.raises(FabricRequestError) as caught:
        op.execute(context)
    message = str(caught.value)
    assert f"the report is {status}" in message and expected in message
    assert ("no preview" if preview else "no final PDF") in message
    assert "Server said: not available" in message
    assert SENTINEL not in message
    assert not dest.exists()


def test_pdf_422_still_explains_when_the_status_lookup_fails(hook, requests_mock, context, tmp_path):
    requests_mock.get(f"{BASE}/reports/7/pdf_report", status_code=422, json={"description": "not approved"})
    requests_mock.get(f"{BASE}/reports/7", status_code=404, json={"description": "gone"})
    op = FabricExportReportPdfOperator(task_id="pdf", report_id=7, destination=tmp_path / "r.pdf")
    with pytest.raises(FabricRequestError, match="the final PDF exists only for APPROVED reports"):
        op.execute(context)


# --------------------------------------------------------------------------- DAG-level behaviour


def test_export_operators_accept_asset_outlets():
    from airflow.providers.common.compat.sdk import Asset

    asset = Asset("s3://lab-exports/fabric/variants")
    ops = [
        FabricExportVariantsOperator(task_id="a", report_id=1, destination="/x", outlets=[asset]),
        FabricExportScoredVariantsOperator(task_id="b", report_id=1, destination="/x", outlets=[asset]),
        FabricGetClinicalReportOperator(task_id="c", report_id=1, destination="/x", outlets=[asset]),
        FabricExportReportPdfOperator(task_id="d", report_id=1, destination="/x", outlets=[asset]),
    ]
    for op in ops:
        assert op.outlets == [asset]


def test_report_id_destination_and_filters_are_rendered_from_templates():
    op = FabricExportVariantsOperator(
        task_id="export",
        report_id="{{ params.report }}",
        destination="s3://lab/{{ ds }}/report_{{ params.report }}.vcf",
        format="vcf",
        status=["{{ params.status }}"],
        chrom="{{ params.chrom }}",
    )
    op.render_template_fields(
        {"ds": "2024-05-01", "params": {"report": 42, "status": "REVIEWED", "chrom": "X"}}
    )
    assert op.report_id == "42"
    assert op.destination == "s3://lab/2024-05-01/report_42.vcf"
    assert op.status == ["REVIEWED"] and op.chrom == "X"
    pdf = FabricExportReportPdfOperator(
        task_id="pdf", report_id="{{ params.report }}", destination="{{ ds }}.pdf"
    )
    pdf.render_template_fields({"ds": "2024-05-01", "params": {"report": 42}})
    assert (pdf.report_id, pdf.destination) == ("42", "2024-05-01.pdf")


def test_importing_the_operators_stays_cheap():
    code = (
        "import sys\n"
        "import airflow_provider_fabric.operators.exports, airflow_provider_fabric.operators.variants\n"
        "heavy = ['requests', 'airflow_provider_fabric.hooks.fabric', 'airflow_provider_fabric.vcf',\n"
        "         'airflow_provider_fabric.sandbox', 'airflow_provider_fabric.storage']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
