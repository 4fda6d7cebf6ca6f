"""Clinical report operators: checked bodies, exact-accession reuse, templated IDs, PHI-free logs."""

from __future__ import annotations

import json
import logging

import pendulum
import pytest
from tisupport import RecordingTI

from airflow_provider_fabric.exceptions import FabricInputError
from airflow_provider_fabric.links import REPORT_URL_KEY
from airflow_provider_fabric.operators.reports import (
    FabricCreateClinicalReportOperator,
    FabricPostPatientFieldsOperator,
    FabricPostQcDataOperator,
    FabricUpdateClinicalReportOperator,
    FabricUpdateReportStatusOperator,
)

BASE = "https://fabric.test"
ACCESSION = "PHI-ACC-2026-0042"


def trio_family(mother="11", father="12"):
    return [
        {"genome_id": mother, "sex": "f", "affected": False, "relationship": "mother", "label": "Mother"},
        {"genome_id": father, "sex": "m", "affected": "false", "relationship": "father", "label": "Father"},
    ]


def task_log(caplog, capsys) -> str:
    return caplog.text + capsys.readouterr().out


# ------------------------------------------------------------------ create


def test_panel_report_body_return_value_and_url(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/reports/", json={"objects": []})
    post = requests_mock.post(f"{BASE}/reports/", json={"clinical_report": {"id": 31, "status": "WAITING"}})
    ti = RecordingTI()
    op = FabricCreateClinicalReportOperator(
        task_id="r", proband_genome_id="77", panel_id=2, filter_id="4", accession_id=ACCESSION
    )
    assert op.execute({"ti": ti}) == 31
    assert post.last_request.json() == {
        "report_type": "panel",
        "proband_genome_id": 77,
        "panel_id": 2,
        "filter_id": 4,
        "accession_id": ACCESSION,
    }
    assert ti.pushed == {REPORT_URL_KEY: "https://ui.fabric.test/reports/31"}


def test_trio_report_body(fabric_conn, requests_mock):
    post = requests_mock.post(f"{BASE}/reports/", json={"clinical_report": {"id": 32}})
    op = FabricCreateClinicalReportOperator(
        task_id="r",
        report_type="trio",
        proband_genome_id=10,
        proband_sex="female",
        family=trio_family(),
        hpo_terms="HP:0001250, HP:0004322",
        score_indels=True,
    )
    assert op.execute({"ti": RecordingTI()}) == 32
    body = post.last_request.json()
    assert body["report_type"] == "Trio"
    assert body["proband"] == {"genome_id": 10, "sex": "f"}
    assert body["family_1"]["genome_id"] == 11 and body["family_1"]["relationship"] == "mother"
    assert body["family_2"]["affected"] is False and body["family_3"] is None and body["family_4"] is None
    assert json.loads(body["hpo_terms"]) == ["HP:0001250", "HP:0004322"]
    assert body["score_indels"] is True


def test_retry_reuses_the_report_with_exactly_that_accession(fabric_conn, requests_mock):
    listing = requests_mock.get(
        f"{BASE}/reports/",
        json={
            "objects": [
                {"id": 40, "accession_id": ACCESSION + "-B", "report_type": "panel"},
                {"id": 41, "accession_id": ACCESSION, "report_type": "panel", "proband_genome_id": 77},
            ]
        },
    )
    post = requests_mock.post(f"{BASE}/reports/", json={"clinical_report": {"id": 99}})
    ti = RecordingTI()
    op = FabricCreateClinicalReportOperator(
        task_id="r", proband_genome_id=77, panel_id=2, accession_id=ACCESSION
    )
    assert op.execute({"ti": ti}) == 41
    assert post.call_count == 0
    assert ACCESSION not in listing.last_request.url
    assert ti.pushed == {REPORT_URL_KEY: "https://ui.fabric.test/reports/41"}


def test_a_substring_accession_match_is_not_reused(fabric_conn, requests_mock):
    requests_mock.get(
        f"{BASE}/reports/",
        json={"objects": [{"id": 40, "accession_id": ACCESSION + "-B", "report_type": "panel"}]},
    )
    post = requests_mock.post(f"{BASE}/reports/", json={"clinical_report": {"id": 42}})
    op = FabricCreateClinicalReportOperator(
        task_id="r", proband_genome_id=77, panel_id=2, accession_id=ACCESSION
    )
    assert op.execute({"ti": RecordingTI()}) == 42
    assert post.call_count == 1


def test_an_exact_accession_on_another_report_type_fails_without_creating(fabric_conn, requests_mock):
    requests_mock.get(
        f"{BASE}/reports/", json={"objects": [{"id": 43, "accession_id": ACCESSION, "report_type": "Trio"}]}
    )
    post = requests_mock.post(f"{BASE}/reports/", json={"clinical_report": {"id": 99}})
    op = FabricCreateClinicalReportOperator(
        task_id="r", proband_genome_id=77, panel_id=2, accession_id=ACCESSION
    )
    with pytest.raises(FabricInputError, match="report 43 .* Trio report, not panel") as info:
        op.execute({"ti": RecordingTI()})
    assert ACCESSION not in str(info.value)
    assert post.call_count == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"report_type": "Trio", "proband_sex": "m", "family": trio_family()[:1]}, "needs 2 family member"),
        ({"report_type": "Duo", "proband_sex": "m", "family": trio_family()}, "needs 1 family member"),
        (
            {"report_type": "Duo", "proband_sex": "m", "family": [{**trio_family()[1], "sex": "f"}]},
            "a father must have sex 'm'",
        ),
        (
            {
                "report_type": "Duo",
                "proband_sex": "m",
                "family": [{**trio_family()[0], "relationship": "aunt"}],
            },
            "relationship",
        ),
        (
            {"report_type": "Trio", "proband_sex": "m", "family": trio_family(mother="G-11")},
            "genome_id must be an integer",
        ),
        ({"report_type": "Trio", "family": trio_family()}, "proband_sex is required"),
        ({"report_type": "Solo", "proband_sex": "x"}, "sex must be 'm' or 'f'"),
        ({"report_type": "Octet", "proband_sex": "m"}, "report_type must be one of"),
        ({"report_type": "Trio", "proband_sex": "m", "family": "not a list"}, "family must be JSON"),
        ({"report_type": "Solo", "proband_sex": "m", "family": {"genome_id": 1}}, "family must be a list"),
        ({"panel_id": None}, "panel_id is required"),
        ({"proband_genome_id": None}, "needs project_id"),
        ({"proband_genome_id": "7.5"}, "proband_genome_id must be an integer"),
        ({"proband_genome_id": True}, "boolean"),
        ({"family": trio_family()}, "panel report has no family"),
    ],
)
def test_bad_report_arguments_are_refused_before_anything_is_sent(
    fabric_conn, requests_mock, kwargs, message
):
    args = {"task_id": "r", "proband_genome_id": 10, "panel_id": 2, "accession_id": ACCESSION}
    if kwargs.get("report_type", "panel") != "panel":
        args.pop("panel_id")
    args.update(kwargs)
    with pytest.raises(FabricInputError, match=message):
        FabricCreateClinicalReportOperator(**args).execute({"ti": RecordingTI()})
    assert requests_mock.call_count == 0


def test_ids_and_family_render_from_xcom(fabric_conn):
    ti = RecordingTI({"upload": 77, "upload_mother": 78, "upload_father": 79})
    op = FabricCreateClinicalReportOperator(
        task_id="r",
        report_type="{{ params.kind }}",
        proband_genome_id="{{ ti.xcom_pull('upload') }}",
        proband_sex="m",
        family=[
            {"genome_id": "{{ ti.xcom_pull('upload_mother') }}", "sex": "f", "relationship": "mother"},
            {"genome_id": "{{ ti.xcom_pull('upload_father') }}", "sex": "m", "relationship": "father"},
        ],
        accession_id="{{ params.accession }}",
    )
    op.render_template_fields({"ti": ti, "params": {"kind": "Trio", "accession": ACCESSION}})
    payload = op.build_payload()
    assert payload["proband"]["genome_id"] == 77
    assert [payload["family_1"]["genome_id"], payload["family_2"]["genome_id"]] == [78, 79]
    assert payload["accession_id"] == ACCESSION


def test_family_from_one_template_rendering_a_list(fabric_conn):
    members = [{"genome_id": 78, "sex": "f", "relationship": "mother", "affected": True}]
    ti = RecordingTI({"family": members})
    op = FabricCreateClinicalReportOperator(
        task_id="r",
        report_type="Duo",
        proband_genome_id=77,
        proband_sex="f",
        family="{{ ti.xcom_pull('family') }}",
    )
    op.render_template_fields({"ti": ti})
    assert isinstance(op.family, str)  # Jinja renders text unless the DAG asks for native objects
    payload = op.build_payload()
    assert payload["family_1"] == {
        "genome_id": 78,
        "sex": "f",
        "affected": True,
        "relationship": "mother",
        "label": None,
    }


def test_native_rendering_keeps_ints_and_lists(fabric_conn):
    from airflow.sdk import DAG

    members = [{"genome_id": 78, "sex": "f", "relationship": "mother"}]
    with DAG(
        "native", schedule=None, start_date=pendulum.datetime(2026, 1, 1), render_template_as_native_obj=True
    ):
        op = FabricCreateClinicalReportOperator(
            task_id="r",
            report_type="Duo",
            proband_genome_id="{{ ti.xcom_pull('upload') }}",
            proband_sex="f",
            family="{{ ti.xcom_pull('family') }}",
        )
    op.render_template_fields({"ti": RecordingTI({"upload": 77, "family": members})})
    assert op.proband_genome_id == 77 and op.family == members
    assert op.build_payload()["family_1"]["genome_id"] == 78


# ------------------------------------------------------------------ update


def test_attach_proband_to_a_panel_report(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/reports/31", json={"id": 31, "report_type": "panel"})
    put = requests_mock.put(f"{BASE}/reports/31", json={"id": 31, "status": "WAITING"})
    ti = RecordingTI()
    op = FabricUpdateClinicalReportOperator(task_id="u", report_id="31", proband_genome_id="77", filter_id=4)
    assert op.execute({"ti": ti}) == 31
    assert put.last_request.json() == {"proband_genome_id": 77, "filter_id": 4}
    assert ti.pushed == {REPORT_URL_KEY: "https://ui.fabric.test/reports/31"}


def test_attach_family_genomes_to_a_trio_report(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/reports/32", json={"id": 32, "report_type": "Trio"})
    put = requests_mock.put(f"{BASE}/reports/32", json={"id": 32})
    op = FabricUpdateClinicalReportOperator(
        task_id="u", report_id=32, proband_genome_id=10, proband_sex="m", family=trio_family()
    )
    op.execute({"ti": RecordingTI()})
    body = put.last_request.json()
    assert body["proband"] == {"genome_id": 10, "sex": "m"}
    assert body["family_1"]["genome_id"] == 11 and body["family_2"]["genome_id"] == 12


def test_family_proband_needs_a_sex_and_nothing_is_changed(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/reports/32", json={"id": 32, "report_type": "Trio"})
    put = requests_mock.put(f"{BASE}/reports/32", json={"id": 32})
    op = FabricUpdateClinicalReportOperator(task_id="u", report_id=32, proband_genome_id=10)
    with pytest.raises(FabricInputError, match="proband_sex"):
        op.execute({"ti": RecordingTI()})
    assert put.call_count == 0


def test_clear_filter_sends_an_explicit_null(fabric_conn, requests_mock):
    put = requests_mock.put(f"{BASE}/reports/31", json={"id": 31})
    FabricUpdateClinicalReportOperator(task_id="u", report_id=31, clear_filter=True).execute(
        {"ti": RecordingTI()}
    )
    assert put.last_request.json() == {"filter_id": None}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "nothing to update"),
        ({"filter_id": 3, "clear_filter": True}, "not both"),
        ({"family": [{"genome_id": 1, "sex": "f", "relationship": "cousin"}]}, "relationship"),
        ({"report_id": "R31", "proband_genome_id": 1}, "report_id must be an integer"),
    ],
)
def test_bad_update_arguments_send_nothing(fabric_conn, requests_mock, kwargs, message):
    args = {"task_id": "u", "report_id": 31, **kwargs}
    with pytest.raises(FabricInputError, match=message):
        FabricUpdateClinicalReportOperator(**args).execute({"ti": RecordingTI()})
    assert requests_mock.call_count == 0


# ------------------------------------------------------------------ patient fields and QC

PATIENT = {"First Name": "PHI-Jane", "Last Name": "PHI-Doe", "Patient DOB": "PHI-1990-01-01"}


def test_patient_fields_from_dict_are_posted_and_values_never_logged(
    fabric_conn, requests_mock, caplog, capsys
):
    post = requests_mock.post(f"{BASE}/reports/31/patient_fields", json=PATIENT)
    ti = RecordingTI()
    with caplog.at_level(logging.INFO):
        result = FabricPostPatientFieldsOperator(task_id="pf", report_id=31, fields=PATIENT).execute(
            {"ti": ti}
        )
    assert result == 31  # the XCom holds the report ID, never the (PHI) fields
    assert post.last_request.json() == PATIENT
    text = task_log(caplog, capsys)
    assert "3 patient field(s)" in text and "Patient DOB" in text
    assert "PHI-" not in text
    assert ti.pushed == {REPORT_URL_KEY: "https://ui.fabric.test/reports/31"}


def test_patient_fields_from_a_csv_file_with_the_dict_winning(fabric_conn, requests_mock, tmp_path):
    path = tmp_path / "patient.csv"
    path.write_text("First Name,Last Name,Patient Sex\nJane,Doe,F\n", encoding="utf-8")
    post = requests_mock.post(f"{BASE}/reports/31/patient_fields", json={})
    FabricPostPatientFieldsOperator(
        task_id="pf", report_id=31, fields_path=f"file://{path}", fields={"Patient Sex": "Female"}
    ).execute({"ti": RecordingTI()})
    assert post.last_request.json() == {"First Name": "Jane", "Last Name": "Doe", "Patient Sex": "Female"}


def test_qc_data_from_name_value_csv_and_json(fabric_conn, requests_mock, tmp_path, caplog, capsys):
    csv_path = tmp_path / "qc.csv"
    csv_path.write_text("metric,value\ntotal_reads,1200000\nmean_coverage,112.4\n", encoding="utf-8")
    json_path = tmp_path / "qc.json"
    json_path.write_text(json.dumps({"total_reads": 5, "mean_coverage": 99.5}), encoding="utf-8")
    post = requests_mock.post(f"{BASE}/reports/31/qc_data", json={"id": 1})
    with caplog.at_level(logging.INFO):
        FabricPostQcDataOperator(task_id="qc", report_id=31, qc_data_path=csv_path).execute(
            {"ti": RecordingTI()}
        )
    assert post.last_request.json() == {"total_reads": "1200000", "mean_coverage": "112.4"}
    text = task_log(caplog, capsys)
    assert "total_reads, mean_coverage" in text and "1200000" not in text
    FabricPostQcDataOperator(task_id="qc", report_id=31, qc_data_path=json_path).execute(
        {"ti": RecordingTI()}
    )
    assert post.last_request.json() == {"total_reads": 5, "mean_coverage": 99.5}


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        (None, {}, "no patient fields to post"),
        (None, {"fields": {"Patient DOB": {"year": 1990}}}, "must be a text, number or boolean"),
        (None, {"fields": "[1, 2]"}, "must be a dict"),
        ("a,b\n1,2\n3,4\n", {}, "one row of values"),
        ("{not json", {}, "not valid JSON"),
        ("[1, 2]", {}, "must be JSON|not valid JSON|one object"),
    ],
)
def test_bad_fields_send_nothing_and_name_no_values(
    fabric_conn, requests_mock, tmp_path, content, kwargs, message
):
    args = {"task_id": "pf", "report_id": 31, **kwargs}
    if content is not None:
        path = tmp_path / ("fields.json" if content.startswith(("{", "[")) else "fields.csv")
        path.write_text(content, encoding="utf-8")
        args["fields_path"] = path
    with pytest.raises(FabricInputError, match=message) as info:
        FabricPostPatientFieldsOperator(**args).execute({"ti": RecordingTI()})
    assert "1990" not in str(info.value)
    assert requests_mock.call_count == 0


# ------------------------------------------------------------------ status


def test_update_status_sends_a_json_patch(fabric_conn, requests_mock):
    patch = requests_mock.patch(f"{BASE}/reports/31/update_status/", json={"id": 31, "status": "APPROVED"})
    ti = RecordingTI()
    assert (
        FabricUpdateReportStatusOperator(task_id="s", report_id=31, status="approved").execute({"ti": ti})
        == 31
    )
    assert patch.last_request.json() == [{"op": "replace", "path": "/status", "value": "APPROVED"}]
    assert ti.pushed == {REPORT_URL_KEY: "https://ui.fabric.test/reports/31"}


def test_templated_fields_cover_ids_paths_and_accession():
    assert {"proband_genome_id", "accession_id", "family", "project_id", "panel_id"} <= set(
        FabricCreateClinicalReportOperator.template_fields
    )
    assert {"fields", "fields_path", "report_id"} <= set(FabricPostPatientFieldsOperator.template_fields)
    assert {"qc_data", "qc_data_path"} <= set(FabricPostQcDataOperator.template_fields)
