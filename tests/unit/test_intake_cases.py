"""Case planning: panel and family cases (Solo to Quintet), relationships, stable accessions, the summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from intakesupport import PANEL_ROW, family_row, write_manifest

from airflow_provider_fabric.exceptions import FabricError, FabricInputError
from airflow_provider_fabric.intake import (
    Case,
    ManifestFormat,
    Member,
    Order,
    plan_cases,
    read_manifest,
    report_arguments,
    summarize,
)

RELATIVES = [("mother", "female"), ("father", "male"), ("sibling", "male"), ("other", "female")]


def cases_of(tmp_path: Path, rows: list[dict[str, str]], **kwargs) -> list[Case]:
    manifest = write_manifest(tmp_path / "run-7", rows)
    return plan_cases(read_manifest(manifest, "run-7"), **kwargs)


def test_a_panel_case_and_a_family_case_from_one_manifest(tmp_path: Path) -> None:
    rows = [PANEL_ROW, family_row("p", "proband", "male"), family_row("m", "mother")]
    panel, family = cases_of(tmp_path, rows, accession_prefix="ACC-", panel_id=101)
    assert panel == Case(
        key="run-7:2",
        report_type="panel",
        accession_id="ACC-PHI-E1",
        members=(Member("run-7:2", "proband", "female"),),
        panel_id=102,
    )
    assert family == Case(
        key="run-7:3,4",
        report_type="Duo",
        accession_id="ACC-PHI-FAM",
        members=(Member("run-7:3", "proband", "male", True), Member("run-7:4", "mother", "female", False)),
    )
    assert [Case.from_dict(case.to_dict()) for case in (panel, family)] == [panel, family]


@pytest.mark.parametrize(
    ("people", "report_type"), [(1, "Solo"), (2, "Duo"), (3, "Trio"), (4, "Quad"), (5, "Quintet")]
)
def test_families_of_each_size(tmp_path: Path, people: int, report_type: str) -> None:
    # The proband is listed last: the case puts it first, the relatives in manifest order.
    relatives = [family_row(name, name, sex) for name, sex in RELATIVES[: people - 1]]
    (case,) = cases_of(tmp_path, [*relatives, family_row("p", "proband", "male")], accession_prefix="X-")
    assert case.problem is None and case.report_type == report_type
    assert case.key == "run-7:" + ",".join(str(line) for line in range(2, people + 2))
    assert [m.relationship for m in case.members] == ["proband"] + [
        name for name, _ in RELATIVES[: people - 1]
    ]
    assert [m.affected for m in case.members] == [True] + [False] * (people - 1)

    report = report_arguments(case.to_report({m.key: 10 + i for i, m in enumerate(case.members)}, "s3://out"))
    assert report["report_type"] == report_type and report["panel_id"] is None
    assert (report["proband_genome_id"], report["proband_sex"]) == (10, "m")
    assert report["family"] == [
        {
            "genome_id": 11 + i,
            "sex": sex[0],
            "affected": False,
            "relationship": name,
            "label": name.capitalize(),
        }
        for i, (name, sex) in enumerate(RELATIVES[: people - 1])
    ]
    assert report["accession_id"] == "X-PHI-FAM"
    assert report["pdf_path"] == "s3://out/X-PHI-FAM/report-preview.pdf"


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (
            [family_row("p", "proband", "male")] + [family_row(f"s{i}", "sibling") for i in range(5)],
            "a family report takes 1 to 5 people, not 6",
        ),
        ([family_row("m", "mother"), family_row("f", "father", "male")], "exactly one proband row, not 0"),
        (
            [family_row("p", "proband", "male"), family_row("q", "proband", "female")],
            "a family needs exactly one proband row, not 2",
        ),
        (
            [family_row("p", "proband", "male"), family_row("m", "mother", "male")],
            "manifest line 3: family member 1: a mother must have sex 'f'",
        ),
        (
            [
                family_row("p", "proband", "male"),
                family_row("m", "mother"),
                family_row("f", "father", "female"),
            ],
            "manifest line 4: family member 2: a father must have sex 'm'",
        ),
        (
            [
                family_row("p", "proband", "male"),
                family_row("m", "PHI-aunt"),
                family_row("f", "father", "PHI"),
            ],
            "manifest line(s) 3, 4 of this family are invalid",
        ),
    ],
    ids=["six-people", "no-proband", "two-probands", "male-mother", "female-father", "bad-rows"],
)
def test_a_family_that_cannot_be_reported_has_a_problem_naming_lines(tmp_path, rows, problem) -> None:
    (case,) = cases_of(tmp_path, rows)
    assert case.problem is not None and case.problem.endswith(problem)
    assert "PHI" not in case.problem
    with pytest.raises(FabricInputError, match="^case run-7:2,3"):
        report_arguments(case.to_report({}, "out"))


def test_families_are_grouped_within_a_run_by_family_id(tmp_path: Path) -> None:
    rows = [
        family_row("p1", "proband", "male"),
        family_row("p2", "proband", "female", family_id="OTHER"),
        family_row("m1", "mother"),
        family_row("nofam", "proband", "male", family_id=""),  # no family ID: no case, the sample fails alone
    ]
    cases = cases_of(tmp_path, rows)
    assert [(case.key, case.report_type, case.accession_id) for case in cases] == [
        ("run-7:2,4", "Duo", "PHI-FAM"),
        ("run-7:3", "Solo", "OTHER"),
    ]


def test_panel_cases_take_the_panel_of_their_test(tmp_path: Path) -> None:
    rows = [
        {**PANEL_ROW, "test": "panel:101", "external_id": "A"},
        {**PANEL_ROW, "test": "panel", "external_id": "B"},
        {**PANEL_ROW, "test": "HC", "external_id": "C"},
        {**PANEL_ROW, "test": "panel", "external_id": "D", "sex": "PHI"},  # a bad row makes no case
    ]
    lab = ManifestFormat(test_codes={"HC": Order("panel", panel_test_code="HC-101")})
    manifest = write_manifest(tmp_path / "r", rows)
    with_default = plan_cases(read_manifest(manifest, "r", lab), lab, panel_id=7)
    assert [(c.panel_id, c.panel_test_code, c.problem) for c in with_default] == [
        (101, None, None),
        (7, None, None),
        (None, "HC-101", None),
    ]
    without = plan_cases(read_manifest(manifest, "r", lab), lab)
    assert [c.problem for c in without] == [None, "no panel ID (test is panel and no panel_id param)", None]
    arguments = report_arguments(with_default[2].to_report({"r:4": 5}, "out"))
    assert (arguments["panel_test_code"], arguments["panel_id"], arguments["proband_sex"]) == (
        "HC-101",
        None,
        None,
    )


def test_accessions_are_stable_and_follow_the_labs_scheme(tmp_path: Path) -> None:
    rows = [PANEL_ROW, family_row("p", "proband", "male"), family_row("m", "mother")]
    manifest = write_manifest(tmp_path / "run-7", rows)
    first = plan_cases(read_manifest(manifest, "run-7"), accession_prefix="ACC-", panel_id=1)
    again = plan_cases(read_manifest(manifest, "run-7"), accession_prefix="ACC-", panel_id=1)
    assert again == first, "the same manifest gives the same cases and accessions: a re-run reuses reports"

    lab = ManifestFormat(panel_accession="{prefix}{run}-{external_id}", family_accession="FAM/{family_id}")
    cases = plan_cases(read_manifest(manifest, "run-7", lab), lab, accession_prefix="L-", panel_id=1)
    assert [case.accession_id for case in cases] == ["L-run-7-PHI-E1", "FAM/PHI-FAM"]


def test_a_case_whose_samples_did_not_all_annotate_cannot_be_reported(tmp_path: Path) -> None:
    rows = [family_row("p", "proband", "male"), family_row("m", "mother")]
    (case,) = cases_of(tmp_path, rows)
    todo = case.to_report({"run-7:2": 1}, "out")
    assert todo["problem"] == "sample(s) run-7:3 did not upload and annotate"
    with pytest.raises(FabricInputError) as raised:
        report_arguments(todo)
    assert str(raised.value) == "case run-7:2,3: sample(s) run-7:3 did not upload and annotate"


# -- the run summary --------------------------------------------------------------------------------------


def test_the_summary_names_keys_and_ids_only() -> None:
    uploaded = [{"key": "r:2", "label": "PHI-L"}, {"key": "r:3", "label": "PHI-M"}]
    cases = [{"key": "r:2"}, {"key": "r:3"}, {"key": "q:2,3"}]
    todo = [{"key": "r:2", "accession_id": "PHI-A"}, {"key": "r:3", "accession_id": "PHI-B"}]
    result = summarize(
        uploaded, [{"key": "r:2", "genome_id": 5}, None], {"q:2": 1, "q:3": 2}, cases, todo, [None, None]
    )
    assert result.to_dict() == {
        "samples": {"processed": {"r:2": 5}, "skipped": {"q:2": 1, "q:3": 2}, "failed": ["r:3"]},
        "cases": {"processed": {}, "skipped": ["q:2,3"], "failed": ["r:2", "r:3"]},
    }
    assert result.failed == 3
    assert result.lines() == [
        "Samples processed: 1 r:2 (5)",
        "Samples skipped: 2 q:2 (1), q:3 (2)",
        "Samples failed: 1 r:3",
        "Cases processed: 0",
        "Cases skipped: 1 q:2,3",
        "Cases failed: 2 r:2, r:3",
    ]
    error = result.error()
    assert isinstance(error, FabricError)
    assert (
        str(error)
        == "1 sample(s) and 2 case(s) failed: samples ['r:3'], cases ['r:2', 'r:3'] (see their task logs)"
    )
    assert "PHI" not in "\n".join(result.lines()) + str(error)


def test_the_summary_of_a_run_whose_planning_failed() -> None:
    result = summarize(None, None, None, None, None, None)
    assert result.failed == 0 and result.to_dict()["samples"] == {
        "processed": {},
        "skipped": {},
        "failed": [],
    }
