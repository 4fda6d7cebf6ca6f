"""FabricCreateProjectOperator: find-or-create by exact name, so retries never make a second project."""

from __future__ import annotations

import pytest
from tisupport import RecordingTI

from airflow_provider_fabric.exceptions import FabricInputError
from airflow_provider_fabric.operators.projects import FabricCreateProjectOperator

BASE = "https://fabric.test"


def test_creates_a_project_with_its_form_fields_and_returns_its_id(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/projects/", json={"objects": [{"id": 3, "name": "Other"}]})
    requests_mock.post(f"{BASE}/projects/", json={"id": 12, "name": "Cardio 2026"})
    op = FabricCreateProjectOperator(
        task_id="p", project_name="Cardio 2026", description="runs", share_role="viewer"
    )
    assert op.execute({"ti": RecordingTI()}) == 12
    form = requests_mock.request_history[-1].text
    assert "project_name=Cardio+2026" in form and "share_role=VIEWER" in form and "description=runs" in form


def test_second_try_reuses_the_project_of_exactly_that_name(fabric_conn, requests_mock):
    requests_mock.get(
        f"{BASE}/projects/",
        json={"objects": [{"id": 9, "name": "Cardio 2026 (old)"}, {"id": 12, "name": "Cardio 2026"}]},
    )
    post = requests_mock.post(f"{BASE}/projects/", json={"id": 99})
    op = FabricCreateProjectOperator(task_id="p", project_name="Cardio 2026")
    assert op.execute({"ti": RecordingTI()}) == 12
    assert post.call_count == 0


def test_a_similar_name_is_not_the_same_project(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/projects/", json={"objects": [{"id": 9, "name": "cardio 2026"}]})
    requests_mock.post(f"{BASE}/projects/", json={"id": 13})
    op = FabricCreateProjectOperator(task_id="p", project_name="Cardio 2026")
    assert op.execute({"ti": RecordingTI()}) == 13


def test_if_exists_fail_refuses_an_existing_name_without_creating(fabric_conn, requests_mock):
    requests_mock.get(f"{BASE}/projects/", json={"objects": [{"id": 12, "name": "Cardio 2026"}]})
    post = requests_mock.post(f"{BASE}/projects/", json={"id": 99})
    op = FabricCreateProjectOperator(task_id="p", project_name="Cardio 2026", if_exists="fail")
    with pytest.raises(FabricInputError, match="already exists \\(project 12\\)"):
        op.execute({"ti": RecordingTI()})
    assert post.call_count == 0


def test_bad_arguments_are_refused_before_any_request(fabric_conn, requests_mock):
    with pytest.raises(ValueError, match="if_exists"):
        FabricCreateProjectOperator(task_id="p", project_name="x", if_exists="replace")
    with pytest.raises(FabricInputError, match="share_role"):
        FabricCreateProjectOperator(task_id="p", project_name="x", share_role="OWNER").execute({})
    with pytest.raises(FabricInputError, match="project_name is required"):
        FabricCreateProjectOperator(task_id="p", project_name="  ").execute({})
    assert requests_mock.call_count == 0


def test_project_name_is_templated():
    assert {"project_name", "description", "share_role"} <= set(FabricCreateProjectOperator.template_fields)
