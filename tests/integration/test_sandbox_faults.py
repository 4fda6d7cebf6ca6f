"""Fault injection: retries through 429/5xx/dropped connections, and faults after processing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_fabric.api.retry import RetryPolicy
from airflow_provider_fabric.exceptions import FabricServerError
from airflow_provider_fabric.hooks.fabric import FabricHook

Api = Any  # the ``api`` fixture: raw requests with the test user's credentials
FAST_RETRY = RetryPolicy(max_attempts=6, initial_wait=0.01, max_wait=0.1, max_total=30)


@pytest.fixture
def hook(sandbox: Any) -> FabricHook:
    return FabricHook(retry_policy=FAST_RETRY)


def test_scripted_faults_are_retried_by_the_hook(hook: FabricHook, sandbox: Any, api: Api) -> None:
    sandbox.set_faults(script=["429", "503", "drop", "502"], methods=["GET"], retry_after=0)
    assert isinstance(hook.list_projects(), list)
    state = sandbox.faults()
    assert state["script_left"] == []
    assert {k: state["stats"][k] for k in ("429", "503", "drop", "502")} == {
        "429": 1,
        "503": 1,
        "drop": 1,
        "502": 1,
    }


def test_fault_answers_look_like_the_real_ones(sandbox: Any, api: Api) -> None:
    sandbox.set_faults(script=["429", "500", "drop"], retry_after=2)
    limited = api("GET", "/projects/")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert limited.json()["description"]
    assert api("GET", "/projects/").status_code == 500
    with pytest.raises(requests.ConnectionError):
        api("GET", "/projects/")
    assert api("GET", "/projects/").status_code == 200


def test_rates_are_seeded_and_restricted_to_paths(sandbox: Any, api: Api) -> None:
    def pattern() -> list[int]:
        sandbox.set_faults(rate_503=0.5, seed=7, paths=["^/panels"], methods=["GET"])
        return [api("GET", "/panels/").status_code for _ in range(12)]

    first = pattern()
    assert set(first) == {200, 503}
    assert pattern() == first  # same seed, same dice
    assert all(api("GET", "/projects/").status_code == 200 for _ in range(5))  # other paths untouched
    assert api("POST", "/panels/").status_code in (404, 405)  # other methods untouched


def test_persistent_failure_ends_in_a_clear_error(hook: FabricHook, sandbox: Any) -> None:
    sandbox.set_faults(rate_503=1.0, methods=["GET"], paths=["^/assay_types"], retry_after=0)
    with pytest.raises(FabricServerError) as caught:
        hook.list_assay_types()
    assert "503" in str(caught.value)
    assert sandbox.faults()["stats"]["503"] == FAST_RETRY.max_attempts


def test_fault_after_processing_creates_the_object(sandbox: Any, api: Api, project: dict[str, Any]) -> None:
    before = sandbox.state()["counts"]["projects"]
    sandbox.set_faults(script=[{"kind": "503", "phase": "after"}], methods=["POST"], paths=["^/projects"])
    answer = api("POST", "/projects/", data={"project_name": "created-despite-503"})
    assert answer.status_code == 503
    names = [p["name"] for p in sandbox.state()["projects"]]
    assert sandbox.state()["counts"]["projects"] == before + 1 and "created-despite-503" in names


def test_dropped_upload_after_processing_still_stores_the_genome(
    sandbox: Any, api: Api, project: dict[str, Any], make_vcf: Callable[..., Path]
) -> None:
    sandbox.set_faults(script=["drop"], phase="after", methods=["PUT"], paths=[r"^/projects/\d+/genomes$"])
    with pytest.raises(requests.ConnectionError):
        api.upload(project["id"], make_vcf("dropped.vcf", 8), external_id="DROPPED-1")
    found = api.ok("GET", f"/projects/{project['id']}/genomes", params={"external_id": "DROPPED-1"})[
        "objects"
    ]
    assert len(found) == 1 and found[0]["variant_count"] == 8


def test_fault_before_processing_creates_nothing(sandbox: Any, api: Api, project: dict[str, Any]) -> None:
    before = sandbox.state()["counts"]["projects"]
    sandbox.set_faults(script=["drop", "503"], phase="before", methods=["POST"])
    with pytest.raises(requests.ConnectionError):
        api("POST", "/projects/", data={"project_name": "never"})
    assert api("POST", "/projects/", data={"project_name": "never"}).status_code == 503
    assert sandbox.state()["counts"]["projects"] == before


def test_latency_and_bad_settings(sandbox: Any, api: Api) -> None:
    sandbox.set_faults(latency_ms=50, methods=["GET"])
    assert api("GET", "/projects/").status_code == 200
    for bad in ({"rate_503": 2}, {"phase": "during"}, {"nonsense": 1}, {"script": ["418"]}):
        assert api("PUT", "/_sandbox/faults", json=bad).status_code == 422
    assert api("GET", "/_sandbox/faults").json()["config"]["latency_ms"] == 50
