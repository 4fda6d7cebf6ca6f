"""The intake's manifest: every row checked, each problem with its run, line and cause, and no value quoted.

Every value in these manifests is a PHI stand-in (``PHI-...``): none may reach a
problem, an exception message or a log line.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
from intakesupport import PANEL_ROW, family_row, write_manifest

from airflow_provider_fabric.exceptions import FabricConfigurationError, FabricManifestError
from airflow_provider_fabric.intake import (
    FAMILY,
    FIELDS,
    ManifestFormat,
    Order,
    Sample,
    plan_cases,
    read_manifest,
    upload_arguments,
)


def problems(samples: list[Sample]) -> list[tuple[int, str | None]]:
    return [(sample.line, sample.problem) for sample in samples]


def assert_no_phi(*texts: Any) -> None:
    for text in texts:
        assert "PHI" not in str(text), text


def test_rows_become_checked_samples(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path / "run-7",
        [
            PANEL_ROW,
            family_row("p", "proband", "male"),
            family_row("m", "mother"),
            {
                "file": "d.vcf",
                "label": "PHI-SECRETLABEL",
                "sex": "PHI-SECRETSEX",
                "external_id": "E4",
                "test": "panel",
            },
            {"file": "", "label": "PHI-L5", "sex": "male", "external_id": "", "test": "panel"},
        ],
    )
    samples = read_manifest(manifest, "run-7")
    assert [s.key for s in samples] == ["run-7:2", "run-7:3", "run-7:4", "run-7:5", "run-7:6"]
    first = samples[0]
    assert first.vcf_path == str(tmp_path / "run-7" / "a.vcf") and first.sex == "female"
    assert (first.label, first.external_id, first.test) == ("PHI-L1", "PHI-E1", "panel:102")
    assert problems(samples) == [
        (2, None),
        (3, None),
        (4, None),
        (5, "sex must be one of male, female, unspecified"),
        (6, "missing file, external_id"),
    ]
    assert_no_phi(*problems(samples))
    # XComs carry samples as plain dicts and back.
    assert [Sample.from_dict(s.to_dict()) for s in samples] == samples
    assert samples[0].to_dict()["key"] == "run-7:2"


ROW_CAUSES = [
    ({"sex": ""}, "missing sex"),
    ({"label": "", "test": ""}, "missing label, test"),
    ({"sex": "PHI-x"}, "sex must be one of male, female, unspecified"),
    ({"test": "PHI-wgs"}, "test must be panel, panel:<panel ID> or family"),
    ({"test": "panel:PHI"}, "test must be panel, panel:<panel ID> or family"),
    ({"test": "family"}, "a family test needs a family_id"),
    (
        {"test": "family", "family_id": "F", "relationship": "PHI-aunt"},
        "relationship must be proband, mother",
    ),
    (
        {"test": "family", "family_id": "F", "relationship": "proband", "sex": "unspecified"},
        "family reports need the sex",
    ),
    (
        {"test": "family", "family_id": "F", "relationship": "proband", "affected": "PHI"},
        "affected must be true or false",
    ),
]


@pytest.mark.parametrize(("change", "cause"), ROW_CAUSES, ids=[cause for _, cause in ROW_CAUSES])
def test_each_row_problem_names_its_line_and_cause_and_no_value(tmp_path, change, cause) -> None:
    manifest = write_manifest(
        tmp_path / "run-1", [PANEL_ROW, {**PANEL_ROW, "external_id": "PHI-E2", **change}]
    )
    good, bad = read_manifest(manifest, "run-1")
    assert good.problem is None
    assert bad.line == 3 and bad.problem is not None and bad.problem.startswith(cause)
    with pytest.raises(FabricManifestError) as raised:
        upload_arguments(bad.to_dict())
    assert str(raised.value) == f"manifest of run run-1, line 3: {bad.problem}"
    assert (raised.value.run, raised.value.line, raised.value.cause) == ("run-1", 3, bad.problem)
    assert_no_phi(raised.value)


def test_a_repeated_external_id_fails_the_later_row(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "r", [PANEL_ROW, {**PANEL_ROW, "file": "b.vcf"}])
    assert problems(read_manifest(manifest, "r")) == [(2, None), (3, "the same external_id as line 2")]


def test_a_row_with_more_fields_than_the_header_is_a_shifted_row(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "manifest.csv").write_text(
        ",".join(FIELDS) + "\n" + "a.vcf,PHI-Doe, Jane,female,PHI-E1,,,,panel:101\n"
    )
    (sample,) = read_manifest(folder / "manifest.csv", "r")
    assert sample.problem == "9 fields where the header has 8 (an unquoted comma?)"


def test_line_numbers_count_blank_lines_and_quoted_line_breaks(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    header = ",".join(FIELDS)
    (folder / "manifest.csv").write_text(
        f"\ufeff{header}\r\n"
        "\r\n"
        'a.vcf,"PHI-two\r\nlines",female,PHI-E1,,,,panel:101\r\n'
        ",,,,,,,\r\n"
        "b.vcf,PHI-L2,PHI-bad,PHI-E2,,,,panel:101\r\n"
    )
    samples = read_manifest(folder / "manifest.csv", "r")
    assert problems(samples) == [(3, None), (6, "sex must be one of male, female, unspecified")]
    assert samples[0].label == "PHI-two\r\nlines"


@pytest.mark.parametrize(
    ("content", "line", "cause"),
    [
        (b"file,label\n", 1, "the header has no column sex, external_id, test"),
        (",".join(FIELDS).encode() + b",test\n", 1, "the header has the column test more than once"),
        (",".join(FIELDS).encode() + b"\na.vcf,PHI-\xff,female,E,,,,panel\n", 2, "not UTF-8 text"),
        (
            ",".join(FIELDS).encode() + b'\na.vcf,PHI,female,E,,,,panel\n"b.vcf,PHI,male\nc,d\n',
            3,
            "not valid CSV",
        ),
        (",".join(FIELDS).encode() + b'\na.vcf,"PHI"x,female,E,,,,panel\n', 2, "not valid CSV"),
    ],
    ids=["missing-columns", "repeated-column", "not-utf8", "unclosed-quote", "stray-quote"],
)
def test_a_broken_manifest_is_left_out_whole_with_one_problem(tmp_path, content, line, cause) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "manifest.csv").write_bytes(content)
    (sample,) = read_manifest(folder / "manifest.csv", "r")
    assert sample.line == line and sample.problem is not None
    assert sample.problem.startswith(cause) and sample.problem.endswith("the whole manifest is left out")
    assert_no_phi(sample.problem)


def test_an_empty_manifest_has_no_samples(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "manifest.csv").write_text("\n\n")
    assert read_manifest(folder / "manifest.csv", "r") == []


def test_files_are_relative_to_the_manifest_unless_absolute_or_urls(tmp_path: Path) -> None:
    rows = [
        {**PANEL_ROW, "file": "sub/a.vcf", "external_id": "1"},
        {**PANEL_ROW, "file": "/data/b.vcf", "external_id": "2"},
        {**PANEL_ROW, "file": "s3://bucket/c.vcf", "external_id": "3"},
    ]
    samples = read_manifest(write_manifest(tmp_path / "r", rows), "r")
    assert [s.vcf_path for s in samples] == [
        str(tmp_path / "r/sub/a.vcf"),
        "/data/b.vcf",
        "s3://bucket/c.vcf",
    ]
    assert upload_arguments(samples[0].to_dict()) == {
        "vcf_path": str(tmp_path / "r/sub/a.vcf"),
        "genome_label": "PHI-L1",
        "genome_sex": "female",
        "external_id": "1",
    }


# -- a lab's own manifest ---------------------------------------------------------------------------------

LAB = ManifestFormat(
    file_name="samplesheet.csv",
    columns={"file": "VCF", "external_id": "Sample ID", "label": "Name", "test": "Test Code", "sex": "Sex"},
    test_codes={
        "HC": Order("panel", panel_test_code="HC-101"),
        "CARDIO": Order("panel", panel_id=102),
        "WES-FAM": FAMILY,
    },
)
LAB_COLUMNS = ("VCF", "Name", "Sex", "Sample ID", "family_id", "relationship", "affected", "Test Code")


def test_a_labs_columns_and_test_codes(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    rows = [
        ("a.vcf", "PHI-A", "female", "E1", "", "", "", "hc"),
        ("b.vcf", "PHI-B", "male", "E2", "", "", "", "CARDIO"),
        ("c.vcf", "PHI-C", "male", "E3", "F1", "proband", "true", "wes-fam"),
        ("d.vcf", "PHI-D", "male", "E4", "", "", "", "panel:101"),  # the built-in codes still work
        ("e.vcf", "PHI-E", "male", "E5", "", "", "", "PHI-EXOME"),
    ]
    with (folder / LAB.file_name).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([column.upper() for column in LAB_COLUMNS])  # headers match in any case
        writer.writerows(rows)
    samples = read_manifest(folder / LAB.file_name, "run", LAB)
    assert [s.external_id for s in samples] == ["E1", "E2", "E3", "E4", "E5"]
    assert [LAB.order(s.test) for s in samples] == [
        Order("panel", panel_test_code="HC-101"),
        Order("panel", panel_id=102),
        FAMILY,
        Order("panel", panel_id=101),
        None,
    ]
    assert (
        samples[-1].problem == "test must be panel, panel:<panel ID> or family, or one of HC, CARDIO, WES-FAM"
    )
    # The default format does not read this manifest: its header lacks the default columns.
    (broken,) = read_manifest(folder / LAB.file_name, "run")
    assert broken.problem.startswith("the header has no column file, label, external_id, test")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"columns": {"sample_id": "x"}}, "unknown fields ['sample_id']"),
        ({"test_codes": {"HC": "panel:101"}}, "every value must be an Order"),
        ({"panel_accession": "{prefix}{mrn}"}, "panel_accession must name some of"),
        ({"family_accession": "FIXED"}, "family_accession must name some of"),
    ],
)
def test_a_format_that_cannot_work_is_refused_when_the_dag_is_parsed(kwargs, message) -> None:
    with pytest.raises(FabricConfigurationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ManifestFormat(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"report": "exome"},
        {"report": "family", "panel_id": 1},
        {"report": "panel", "panel_id": 1, "panel_test_code": "X"},
    ],
)
def test_an_order_is_a_panel_or_a_family(kwargs) -> None:
    with pytest.raises(FabricConfigurationError):
        Order(**kwargs)


def test_the_how_tos_lab_manifest_reads_as_the_page_says(tmp_path: Path) -> None:
    """docs/howto/intake_manifest.md: its ManifestFormat, run against its sample sheet."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "howto" / "intake_manifest.md").read_text()
    blocks = re.findall(r"```(\w+)\n(.*?)```", page, re.DOTALL)
    (sheet,) = [text for kind, text in blocks if kind == "text" and text.startswith("VCF,")]
    (code,) = [text for kind, text in blocks if kind == "python" and "ManifestFormat(" in text]
    namespace: dict[str, Any] = {}
    exec(compile(code, "intake_manifest.md", "exec"), namespace)  # noqa: S102 - the docs' own example
    lab: ManifestFormat = namespace["MANIFEST"]
    (tmp_path / "run-0009").mkdir()
    (tmp_path / "run-0009" / lab.file_name).write_text(sheet)
    samples = read_manifest(tmp_path / "run-0009" / lab.file_name, "run-0009", lab)
    assert [(s.external_id, s.problem) for s in samples] == [(f"LAB-000{n}", None) for n in range(1, 6)]
    cases = plan_cases(samples, lab, accession_prefix="ACC-")
    assert [(c.report_type, c.panel_id, c.panel_test_code, c.accession_id) for c in cases] == [
        ("panel", None, "HC-101", "ACC-LAB-0001"),
        ("panel", 102, None, "ACC-LAB-0002"),
        ("Trio", None, None, "ACC-run-0009-F1"),
    ]
    assert [m.affected for m in cases[2].members] == [True, False, False]
