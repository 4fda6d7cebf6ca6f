"""Export and variant-update operators against a real fabric-sandbox over HTTPS."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tisupport import RecordingTI

from airflow_provider_fabric.exceptions import FabricInputError, FabricRequestError
from airflow_provider_fabric.hooks.fabric import FabricHook
from airflow_provider_fabric.operators.exports import (
    FabricExportReportPdfOperator,
    FabricExportScoredVariantsOperator,
    FabricExportVariantsOperator,
    FabricGetClinicalReportOperator,
)
from airflow_provider_fabric.operators.variants import (
    FabricSetVariantStatusesOperator,
    FabricUpdateVariantOperator,
)
from airflow_provider_fabric.testing.vcfgen import write_vcf

SENTINEL = "PHI-SENTINEL-Doe-Jane"
#: Records of the large export. 1,000,000 uploads and exports in ~15 s on a 2-core machine.
LARGE_RECORDS = 1_000_000
#: Peak RSS growth allowed to the task process during the large export.
MEMORY_BOUND_BYTES = 100 << 20
#: Peak Python heap (tracemalloc) allowed during the export: generous next to the 1 MiB chunks
#: streamed, yet far below the ~80 MB file, so buffering the body would fail the test.
HEAP_BOUND_BYTES = 32 << 20


@pytest.fixture
def context() -> dict[str, Any]:
    return {"ti": RecordingTI()}


@pytest.fixture
def hook(sandbox: Any) -> FabricHook:
    return FabricHook()


@pytest.fixture
def make_report(
    hook: FabricHook, wait: Callable[..., Any], tmp_path: Path
) -> Callable[..., tuple[int, Path]]:
    """Upload a vcfgen VCF, create a panel report on it, wait for READY TO REVIEW: (report_id, vcf)."""

    def make(n_records: int = 240, **vcf_kwargs: Any) -> tuple[int, Path]:
        suffix = ".vcf.gz" if vcf_kwargs.get("compression") == "gz" else ".vcf"
        vcf_path = write_vcf(
            tmp_path / f"proband-{n_records}{suffix}", n_records, sample="PROBAND", **vcf_kwargs
        )
        project = hook.create_project(f"exports-{tmp_path.name}-{n_records}")
        genome = hook.upload_genome(project["id"], vcf_path, genome_label="proband", genome_sex="female")
        wait(lambda: hook.get_genome(genome["genome_id"])["status"], lambda s: s == "ANNOTATED", timeout=120)
        report = hook.create_panel_report(
            proband_genome_id=genome["genome_id"], panel_id=101, accession_id="A1"
        )
        wait(lambda: hook.get_report(report["id"])["status"], lambda s: s == "READY TO REVIEW", timeout=120)
        return report["id"], vcf_path

    return make


def vcf_sites(path: Path) -> list[tuple[str, int, str, str]]:
    from airflow_provider_fabric import vcf

    with path.open("rb") as handle:
        fmt = vcf.detect_format(handle.read(4))
        handle.seek(0)
        text = vcf.open_vcf_text(handle, fmt)
        return [(r.chrom, r.pos, r.ref, r.alt) for r in vcf.iter_records(text)]


def export(context: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return FabricExportVariantsOperator(task_id="export", **kwargs).execute(context)


def test_all_three_formats_hold_exactly_the_uploaded_records(
    make_report: Callable[..., tuple[int, Path]], context: dict[str, Any], tmp_path: Path, sandbox: Any
) -> None:
    report_id, uploaded = make_report(240)
    expected = vcf_sites(uploaded)
    assert len(expected) == 240
    sandbox.requests_seen(clear=True)

    as_json = export(context, report_id=report_id, destination=tmp_path / "out/v.json", page_size=100)
    as_jsonl = export(context, report_id=report_id, destination=tmp_path / "out/v.jsonl", json_lines=True)
    as_csv = export(context, report_id=report_id, destination=tmp_path / "out/v.csv", format="csv")
    as_vcf = export(context, report_id=report_id, destination=tmp_path / "out/v.vcf", format="vcf")

    objects = json.loads((tmp_path / "out/v.json").read_text())["objects"]
    assert [(v["chrom"], v["start_on_chrom"], v["ref"], v["alt"]) for v in objects] == expected
    lines = (tmp_path / "out/v.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == objects
    with (tmp_path / "out/v.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["chrom"], int(r["start_on_chrom"]), r["ref"], r["alt"]) for r in rows] == expected
    assert vcf_sites(tmp_path / "out/v.vcf") == expected
    for result in (as_json, as_jsonl, as_csv, as_vcf):
        assert result["variant_count"] == 240
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["v.csv", "v.json", "v.jsonl", "v.vcf"]
    gets = [r for r in sandbox.requests_seen() if r["method"] == "GET"]
    assert len(gets) == 3 + 1 + 1 + 1  # three JSON pages, one JSON Lines page, CSV, VCF
    assert all("?" not in r["url"] for r in gets), gets


def test_filters_select_the_same_variants_in_every_format(
    make_report: Callable[..., tuple[int, Path]], context: dict[str, Any], tmp_path: Path
) -> None:
    report_id, uploaded = make_report(240)
    chrom = vcf_sites(uploaded)[0][0]
    filters = {"report_id": report_id, "status": "REVIEWED", "chrom": chrom}
    as_json = export(context, destination=tmp_path / "r.json", **filters)
    as_vcf = export(context, destination=tmp_path / "r.vcf", format="vcf", **filters)
    objects = json.loads((tmp_path / "r.json").read_text())["objects"]
    assert objects and all(v["status"] == "REVIEWED" and v["chrom"] == chrom for v in objects)
    assert as_json["variant_count"] == as_vcf["variant_count"] == len(objects)
    assert vcf_sites(tmp_path / "r.vcf") == [
        (v["chrom"], v["start_on_chrom"], v["ref"], v["alt"]) for v in objects
    ]


def test_variant_updates_and_validation_statuses_show_in_the_next_export(
    make_report: Callable[..., tuple[int, Path]], context: dict[str, Any], tmp_path: Path
) -> None:
    report_id, _ = make_report(60)
    export(context, report_id=report_id, destination=tmp_path / "before.json")
    before = json.loads((tmp_path / "before.json").read_text())["objects"]
    target = next(v for v in before if v["status"] != "REVIEWED")
    result = FabricUpdateVariantOperator(
        task_id="update",
        report_id=report_id,
        report_variant_id=target["report_variant_id"],
        status="REVIEWED",
        to_report="SECONDARY_FINDING",
    ).execute(context)
    assert result["status"] == "REVIEWED" and result["to_report"] == "SECONDARY_FINDING"

    # The validation loop: export the reviewed variants as VCF, confirm them, send the VCF back.
    reviewed = export(
        context, report_id=report_id, destination=tmp_path / "to_confirm.vcf", format="vcf", status="REVIEWED"
    )
    assert reviewed["variant_count"] == sum(v["status"] == "REVIEWED" for v in before) + 1
    # The export as is carries no status in FILTER: refused before anything is sent.
    with pytest.raises(FabricInputError, match=f"none of the {reviewed['variant_count']} records"):
        FabricSetVariantStatusesOperator(
            task_id="validate", report_id=report_id, source=str(tmp_path / "to_confirm.vcf")
        ).execute(context)
    lines = (tmp_path / "to_confirm.vcf").read_text().splitlines()
    confirmed_vcf = [
        *[line for line in lines if line.startswith("##")],
        '##FILTER=<ID=CONFIRMED,Description="Passed external confirmation">',
        *[line for line in lines if line.startswith("#CHROM")],
        *[
            "\t".join([*cols[:6], "CONFIRMED", ".", *cols[8:]])
            for cols in (line.split("\t") for line in lines if not line.startswith("#"))
        ],
    ]
    (tmp_path / "confirmed.vcf").write_text("\n".join(confirmed_vcf) + "\n")
    answer = FabricSetVariantStatusesOperator(
        task_id="validate", report_id=report_id, source=str(tmp_path / "confirmed.vcf")
    ).execute(context)
    assert answer["changed"] == answer["variants"] == reviewed["variant_count"]
    assert answer["result"]["updated"] == reviewed["variant_count"]

    export(context, report_id=report_id, destination=tmp_path / "after.csv", format="csv")
    with (tmp_path / "after.csv").open(newline="") as handle:
        after = {int(row["report_variant_id"]): row for row in csv.DictReader(handle)}
    row = after[target["report_variant_id"]]
    assert (row["status"], row["to_report"]) == ("CONFIRMED", "SECONDARY_FINDING")
    confirmed = {rvid for rvid, r in after.items() if r["status"] == "CONFIRMED"}
    assert confirmed == {v["report_variant_id"] for v in before if v["status"] == "REVIEWED"} | {
        target["report_variant_id"]
    }

    scored = FabricExportScoredVariantsOperator(
        task_id="scored", report_id=report_id, destination=tmp_path / "scored.json", audit_log=True
    ).execute(context)
    document = json.loads((tmp_path / "scored.json").read_text())
    assert scored["variant_count"] == len(document["objects"]) > 0
    changed = {(e["report_variant_id"], e["field"], e["new_value"]) for e in document["audit_log"]}
    assert (target["report_variant_id"], "to_report", "SECONDARY_FINDING") in changed


def test_final_pdf_only_after_approval_preview_only_before(
    make_report: Callable[..., tuple[int, Path]], hook: FabricHook, context: dict[str, Any], tmp_path: Path
) -> None:
    report_id, _ = make_report(30)
    final = tmp_path / "signed" / "report.pdf"
    preview = tmp_path / "preview.pdf"

    def pdf(dest: Path, is_preview: bool) -> dict[str, Any]:
        return FabricExportReportPdfOperator(
            task_id="pdf", report_id=report_id, destination=dest, preview=is_preview
        ).execute(context)

    with pytest.raises(FabricRequestError) as early:
        pdf(final, False)
    assert "the report is READY TO REVIEW" in str(early.value)
    assert "only the preview PDF is available (preview=True)" in str(early.value)
    assert not final.exists()

    assert pdf(preview, True)["bytes"] == preview.stat().st_size
    assert preview.read_bytes().startswith(b"%PDF-")

    hook.update_report_status(report_id, "APPROVED")
    assert pdf(final, False)["bytes"] > 0
    assert final.read_bytes().startswith(b"%PDF-")

    with pytest.raises(FabricRequestError) as late:
        pdf(tmp_path / "late-preview.pdf", True)
    assert "the report is APPROVED" in str(late.value)
    assert "the final PDF is available (preview=False)" in str(late.value)
    assert not (tmp_path / "late-preview.pdf").exists()


def test_clinical_report_filed_with_phi_returned_without(
    make_report: Callable[..., tuple[int, Path]], hook: FabricHook, context: dict[str, Any], tmp_path: Path
) -> None:
    report_id, _ = make_report(30)
    hook.post_patient_fields(report_id, {"First Name": SENTINEL, "Last Name": SENTINEL})
    dest = tmp_path / "lims" / f"report_{report_id}.json"
    result = FabricGetClinicalReportOperator(task_id="report", report_id=report_id, destination=dest).execute(
        context
    )
    filed = json.loads(dest.read_text())
    assert filed["patient_fields"]["First Name"] == SENTINEL
    assert filed["variants"]["variant_count"] == 30  # the extended record
    assert "T" in filed["created_on"] and "+" not in filed["created_on"]  # the server's naive timestamp
    assert result["report"]["id"] == report_id and result["status"] == "READY TO REVIEW"
    assert SENTINEL not in json.dumps(result)


LARGE_EXPORT = textwrap.dedent(
    """
    import json, resource, sys, tracemalloc

    from airflow_provider_fabric.operators.exports import FabricExportVariantsOperator

    class TI:
        def xcom_push(self, key, value):
            pass

    op = FabricExportVariantsOperator(
        task_id="big", report_id=int(sys.argv[1]), destination=sys.argv[2], format="vcf"
    )
    op.hook.settings  # connection read before measuring
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    result = op.execute({"ti": TI()})
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"result": result, "rss_growth": after - before, "heap_peak": heap_peak}))
    """
)


def test_large_vcf_export_streams_in_bounded_memory(
    make_report: Callable[..., tuple[int, Path]], sandbox: Any, tmp_path: Path
) -> None:
    report_id, _ = make_report(LARGE_RECORDS, compression="gz")
    dest = tmp_path / "exports" / "big.vcf"
    env = {**os.environ, **sandbox.env()}
    done = subprocess.run(
        [sys.executable, "-c", LARGE_EXPORT, str(report_id), str(dest)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["result"]["variant_count"] == LARGE_RECORDS
    assert outcome["result"]["bytes"] == dest.stat().st_size > 50 << 20  # far larger than the bound
    assert outcome["rss_growth"] < MEMORY_BOUND_BYTES, outcome
    assert outcome["heap_peak"] < HEAP_BOUND_BYTES, outcome
    with dest.open("rb") as handle:
        data_lines = sum(1 for line in handle if not line.startswith(b"#"))
    assert data_lines == LARGE_RECORDS
