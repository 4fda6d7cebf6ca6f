"""Clinical report operators: checked bodies, exact-accession reuse, templated IDs, PHI-free logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import pendulum
import pytest
import requests
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
PANEL_METRICS = ["Mean Coverage", "Percent Bases 100x", "Total Reads", "Percent Q30"]


class FakeReport:
    """Report 31 behind the documented calls: the report, its patient fields, QC entries, assay type.

    ``lose_next_answer`` makes the next POST act on the server and then drop the connection.
    """

    def __init__(self, requests_mock: Any, status: str = "READY TO REVIEW", assay_type_id: Any = 1) -> None:
        self.report = {"id": 31, "status": status, "report_type": "panel"}
        if assay_type_id is not None:
            self.report["assay_type_id"] = assay_type_id
        self.fields: dict[str, Any] = {}
        self.qc: list[dict[str, Any]] = []
        self.posts: list[Any] = []
        self.lose_next_answer = False
        requests_mock.get(f"{BASE}/reports/31", json=lambda r, c: dict(self.report))
        requests_mock.get(f"{BASE}/reports/31/patient_fields", json=lambda r, c: dict(self.fields))
        requests_mock.post(f"{BASE}/reports/31/patient_fields", json=self.post_fields)
        requests_mock.get(f"{BASE}/reports/31/qc_data", json=lambda r, c: {"objects": list(self.qc)})
        requests_mock.post(f"{BASE}/reports/31/qc_data", json=self.post_qc)
        requests_mock.get(
            f"{BASE}/assay_types/1", json={"id": 1, "name": "Targeted Panel", "qc_metrics": PANEL_METRICS}
        )
        requests_mock.patch(f"{BASE}/reports/31/update_status/", json=self.patch_status)

    def _answer(self, value: Any) -> Any:
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise requests.exceptions.ConnectionError("connection dropped after the server acted")
        return value

    def post_fields(self, request: Any, _context: Any) -> Any:
        self.posts.append(request.json())
        self.fields.update(request.json())
        return self._answer(dict(self.fields))

    def post_qc(self, request: Any, _context: Any) -> Any:
        self.posts.append(request.json())
        self.qc.append({"id": len(self.qc) + 1, "report_id": 31, "data": request.json()})
        return self._answer(self.qc[-1])

    def patch_status(self, request: Any, _context: Any) -> Any:
        self.posts.append(request.json())
        self.report["status"] = request.json()[0]["value"]
        return dict(self.report)


def test_patient_fields_from_dict_are_posted_and_values_never_logged(
    fabric_conn, requests_mock, caplog, capsys
):
    report = FakeReport(requests_mock)
    ti = RecordingTI()
    with caplog.at_level(logging.INFO):
        result = FabricPostPatientFieldsOperator(task_id="pf", report_id=31, fields=PATIENT).execute(
            {"ti": ti}
        )
    assert result == 31  # the XCom holds the report ID, never the (PHI) fields
    assert report.posts == [PATIENT] and report.fields == PATIENT
    text = task_log(caplog, capsys)
    assert "3 field(s)" in text and "Patient DOB" in text
    assert "PHI-" not in text
    assert ti.pushed == {REPORT_URL_KEY: "https://ui.fabric.test/reports/31"}


def test_patient_fields_from_a_csv_file_with_the_dict_winning(fabric_conn, requests_mock, tmp_path):
    report = FakeReport(requests_mock)
    path = tmp_path / "patient.csv"
    path.write_text("First Name,Last Name,Patient Sex\nJane,Doe,F\n", encoding="utf-8")
    FabricPostPatientFieldsOperator(
        task_id="pf", report_id=31, fields_path=f"file://{path}", fields={"Patient Sex": "Female"}
    ).execute({"ti": RecordingTI()})
    assert report.posts == [{"First Name": "Jane", "Last Name": "Doe", "Patient Sex": "Female"}]


@pytest.mark.parametrize("status", ["READY TO REVIEW", "APPROVED"])
def test_patient_fields_the_report_already_holds_are_not_posted_again(fabric_conn, requests_mock, status):
    report = FakeReport(requests_mock, status=status)
    report.fields = {**PATIENT, "Patient Sex": "F"}
    FabricPostPatientFieldsOperator(task_id="pf", report_id=31, fields=PATIENT).execute({"ti": RecordingTI()})
    assert report.posts == []
    assert [r.method for r in requests_mock.request_history] == ["GET"]


def test_other_patient_fields_on_an_approved_report_fail_at_once_naming_the_fields(
    fabric_conn, requests_mock
):
    from airflow.providers.common.compat.sdk import AirflowFailException

    from airflow_provider_fabric.exceptions import FabricConflictError

    report = FakeReport(requests_mock, status="APPROVED")
    report.fields = {**PATIENT, "Last Name": "PHI-Smith"}
    op = FabricPostPatientFieldsOperator(task_id="pf", report_id=31, fields=PATIENT)
    with pytest.raises(FabricConflictError, match=r"report 31 is approved .*fields: Last Name\)") as info:
        op.execute({"ti": RecordingTI()})
    assert isinstance(info.value, AirflowFailException), "not retried: the report would still differ"
    assert "PHI-" not in str(info.value)
    assert report.posts == []


def test_qc_data_from_name_value_csv_and_json(fabric_conn, requests_mock, tmp_path, caplog, capsys):
    report = FakeReport(requests_mock)
    csv_path = tmp_path / "qc.csv"
    csv_path.write_text("metric,value\nTotal Reads,1200000\nMean Coverage,112.4\n", encoding="utf-8")
    json_path = tmp_path / "qc.json"
    json_path.write_text(json.dumps({"Total Reads": 5, "Mean Coverage": 99.5}), encoding="utf-8")
    with caplog.at_level(logging.INFO):
        FabricPostQcDataOperator(task_id="qc", report_id=31, qc_data_path=csv_path).execute(
            {"ti": RecordingTI()}
        )
    assert report.posts == [{"Total Reads": "1200000", "Mean Coverage": "112.4"}]
    text = task_log(caplog, capsys)
    assert "Total Reads, Mean Coverage" in text and "1200000" not in text
    FabricPostQcDataOperator(task_id="qc", report_id=31, qc_data_path=json_path).execute(
        {"ti": RecordingTI()}
    )
    assert report.posts[-1] == {"Total Reads": 5, "Mean Coverage": 99.5}


def test_qc_metrics_the_assay_type_does_not_define_are_refused_before_sending(fabric_conn, requests_mock):
    report = FakeReport(requests_mock)
    op = FabricPostQcDataOperator(task_id="qc", report_id=31, qc_data={"mean_coverage": 1, "Total Reads": 2})
    with pytest.raises(FabricInputError) as info:
        op.execute({"ti": RecordingTI()})
    assert str(info.value) == (
        "QC metric(s) mean_coverage are not defined by assay type 1 (Targeted Panel) of report 31; its "
        "metrics are Mean Coverage, Percent Bases 100x, Total Reads, Percent Q30: nothing was sent"
    )
    assert report.posts == []


def test_qc_assay_type_can_be_given_or_left_to_the_server(fabric_conn, requests_mock, caplog, capsys):
    report = FakeReport(requests_mock, assay_type_id=None)  # the report does not name its assay type
    with pytest.raises(FabricInputError, match="not defined by assay type 1"):
        FabricPostQcDataOperator(task_id="qc", report_id=31, qc_data={"x": 1}, assay_type_id=1).execute(
            {"ti": RecordingTI()}
        )
    with caplog.at_level(logging.WARNING):
        FabricPostQcDataOperator(task_id="qc", report_id=31, qc_data={"x": 1}).execute({"ti": RecordingTI()})
    assert "QC metric names not checked" in task_log(caplog, capsys)
    assert report.posts == [{"x": 1}]


def test_qc_data_the_report_already_holds_is_not_posted_again(fabric_conn, requests_mock):
    report = FakeReport(requests_mock, status="APPROVED")
    report.qc = [
        {"id": 1, "data": {"Total Reads": 5, "Mean Coverage": 90}},
        {"id": 2, "data": {"Mean Coverage": "112.40"}},  # the latest entry naming a metric wins
    ]
    FabricPostQcDataOperator(
        task_id="qc", report_id=31, qc_data={"Total Reads": "5", "Mean Coverage": 112.4}
    ).execute({"ti": RecordingTI()})
    assert report.posts == []
    with pytest.raises(Exception, match=r"approved .*metrics: Mean Coverage\)"):
        FabricPostQcDataOperator(task_id="qc", report_id=31, qc_data={"Mean Coverage": 90}).execute(
            {"ti": RecordingTI()}
        )
    assert report.posts == []


def test_a_lost_qc_answer_leaves_one_entry(fabric_conn, requests_mock, caplog, capsys):
    report = FakeReport(requests_mock)
    report.lose_next_answer = True
    with caplog.at_level(logging.WARNING):
        FabricPostQcDataOperator(task_id="qc", report_id=31, qc_data={"Total Reads": 7}).execute(
            {"ti": RecordingTI()}
        )
    text = task_log(caplog, capsys)
    assert "no answer from Fabric" in text and "not posted again" in text
    # The next Airflow try (or a re-run) finds the entry and posts nothing.
    FabricPostQcDataOperator(task_id="qc", report_id=31, qc_data={"Total Reads": 7}).execute(
        {"ti": RecordingTI()}
    )
    assert [entry["data"] for entry in report.qc] == [{"Total Reads": 7}]


def test_a_lost_answer_of_a_post_that_did_not_act_still_fails(fabric_conn, requests_mock):
    from airflow_provider_fabric.api.errors import RetryableServerError

    FakeReport(requests_mock)
    requests_mock.post(f"{BASE}/reports/31/qc_data", exc=requests.exceptions.ConnectTimeout)
    with pytest.raises(RetryableServerError, match="no answer"):
        FabricPostQcDataOperator(task_id="qc", report_id=31, qc_data={"Total Reads": 7}).execute(
            {"ti": RecordingTI()}
        )


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


def test_update_status_sends_a_json_patch_unless_the_report_has_it(fabric_conn, requests_mock):
    report = FakeReport(requests_mock)
    ti = RecordingTI()
    assert (
        FabricUpdateReportStatusOperator(task_id="s", report_id=31, status="approved").execute({"ti": ti})
        == 31
    )
    assert report.posts == [[{"op": "replace", "path": "/status", "value": "APPROVED"}]]
    assert ti.pushed == {REPORT_URL_KEY: "https://ui.fabric.test/reports/31"}
    FabricUpdateReportStatusOperator(task_id="s", report_id=31, status="APPROVED").execute({"ti": ti})
    assert len(report.posts) == 1, "already APPROVED: nothing sent"


def test_templated_fields_cover_ids_paths_and_accession():
    assert {"proband_genome_id", "accession_id", "family", "project_id", "panel_id"} <= set(
        FabricCreateClinicalReportOperator.template_fields
    )
    assert {"fields", "fields_path", "report_id"} <= set(FabricPostPatientFieldsOperator.template_fields)
    assert {"qc_data", "qc_data_path"} <= set(FabricPostQcDataOperator.template_fields)
