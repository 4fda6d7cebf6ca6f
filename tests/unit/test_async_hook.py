"""FabricAsyncHook keeps the sync hook's rules, proven through httpx's own MockTransport."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from airflow_provider_fabric.api.retry import RetryPolicy
from airflow_provider_fabric.exceptions import (
    FabricAuthError,
    FabricConfigurationError,
    FabricInputError,
    FabricRedirectError,
    FabricRequestError,
    FabricServerError,
)
from airflow_provider_fabric.hooks.fabric_async import FabricAsyncHook, _make_ssl_context

SENTINEL = "PHI-SENTINEL-Doe-Jane"


def call(handler: Callable[[httpx.Request], httpx.Response], action, **hook_kwargs: Any):
    """Run ``action(hook)`` against ``handler``; return (result or exception, requests seen)."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    async def go():
        async with FabricAsyncHook(transport=httpx.MockTransport(record), **hook_kwargs) as hook:
            try:
                return await action(hook)
            except Exception as err:
                return err

    return asyncio.run(go()), seen


def test_get_params_travel_in_the_safe_params_header_never_the_url(fabric_conn):
    answer, seen = call(
        lambda r: httpx.Response(200, json={"objects": []}),
        lambda hook: hook.get_json("/reports/", {"accession_id": SENTINEL + " ā", "status": ["A", "B"]}),
    )
    assert answer == {"objects": []}
    (request,) = seen
    assert str(request.url) == "https://fabric.test/reports/"
    assert request.headers["X-fg-safe-params"] == (
        "accession_id=PHI-SENTINEL-Doe-Jane%20%C4%81&status=A&status=B"
    )
    expected = base64.b64encode(b"api-key-123:s3cr3t-value").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.headers["User-Agent"].startswith("airflow-provider-fabric-genomics/")


def test_put_params_go_in_the_url_as_the_api_requires(fabric_conn):
    _, seen = call(
        lambda r: httpx.Response(200, json={}),
        lambda hook: hook.request("PUT", "/reports/5/variants", params={"format": "vcf"}),
    )
    assert seen[0].url.params["format"] == "vcf"
    assert "X-fg-safe-params" not in seen[0].headers


def test_paths_with_query_strings_are_refused(fabric_conn):
    error, seen = call(lambda r: httpx.Response(200), lambda hook: hook.request("GET", "/genomes?x=1"))
    assert isinstance(error, FabricInputError) and seen == []


def test_timestamps_become_aware_in_the_server_zone(fabric_conn):
    answer, _ = call(
        lambda r: httpx.Response(
            200, json={"id": 3, "status": "ANNOTATED", "created_on": "2024-01-02T03:04:05"}
        ),
        lambda hook: hook.get_genome(3),
    )
    assert answer["created_on"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=ZoneInfo("America/Los_Angeles"))


def test_redirects_are_never_followed(fabric_conn):
    error, seen = call(
        lambda r: httpx.Response(302, headers={"Location": "http://fabric.test/reports/5?x=1"}),
        lambda hook: hook.get_report(5),
    )
    assert isinstance(error, FabricRedirectError)
    assert len(seen) == 1
    assert "https://" in str(error) and "x=1" not in str(error)


def test_request_errors_carry_the_server_description(fabric_conn):
    error, _ = call(
        lambda r: httpx.Response(422, json={"description": "report is still processing"}),
        lambda hook: hook.get_report(5),
    )
    assert isinstance(error, FabricRequestError)
    assert error.http_status == 422 and error.description == "report is still processing"
    assert str(error) == "GET /reports/5: request rejected (HTTP 422): report is still processing"


def test_auth_errors_name_the_connection_and_are_not_retried(fabric_conn):
    error, seen = call(lambda r: httpx.Response(403), lambda hook: hook.get_genome(1))
    assert isinstance(error, FabricAuthError) and error.http_status == 403
    assert "fabric_genomics_default" in str(error)
    assert fabric_conn["password"] not in str(error)
    assert len(seen) == 1


def test_429_is_retried_honouring_retry_after(fabric_conn):
    answers = [
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(200, json={"status": "WAITING"}),
    ]
    answer, seen = call(lambda r: answers.pop(0), lambda hook: hook.get_report(5))
    assert answer == {"status": "WAITING"}
    assert len(seen) == 2


def test_connection_trouble_is_retried_then_a_server_error(fabric_conn):
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    error, seen = call(drop, lambda hook: hook.get_report(5), retry_policy=RetryPolicy(3, 0.001, 0.01))
    assert isinstance(error, FabricServerError)
    assert str(error) == "GET /reports/5: no answer from Fabric (ConnectError)"
    assert len(seen) == 3


def test_posts_are_never_resent(fabric_conn):
    error, seen = call(
        lambda r: httpx.Response(503), lambda hook: hook.request("POST", "/reports/", json_body={})
    )
    assert isinstance(error, FabricServerError)
    assert len(seen) == 1


def test_json_bodies_are_sent_as_json(fabric_conn):
    _, seen = call(
        lambda r: httpx.Response(200, json={}),
        lambda hook: hook.request("PUT", "/genomes/3", json_body={"name": "x"}),
    )
    assert json.loads(seen[0].content) == {"name": "x"}
    assert seen[0].headers["Content-Type"] == "application/json"


def test_many_genomes_are_fetched_with_bounded_concurrency(fabric_conn):
    in_flight = 0
    most = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
        gid = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(200, json={"id": gid, "status": "ANNOTATED"})

    async def go():
        async with FabricAsyncHook(transport=httpx.MockTransport(handler)) as hook:
            return await hook.get_genomes(list(range(1, 41)), concurrency=4)

    genomes = asyncio.run(go())
    assert sorted(genomes) == list(range(1, 41))
    assert genomes[17]["id"] == 17
    assert 1 < most <= 4


def test_plain_http_host_is_refused(monkeypatch):
    conn = {
        "conn_type": "fabric_genomics",
        "host": "http://fabric.test",
        "login": "key12",
        "password": "secret",
    }
    monkeypatch.setenv("AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT", json.dumps(conn))
    error, seen = call(lambda r: httpx.Response(200), lambda hook: hook.get_report(1))
    assert isinstance(error, FabricConfigurationError) and "https://" in str(error)
    assert seen == []


def test_triggers_trusting_one_bundle_share_one_tls_context(tmp_path):
    import os
    import shutil

    import certifi

    bundle = tmp_path / "ca.pem"
    shutil.copy(certifi.where(), bundle)
    first, second = _make_ssl_context(str(bundle)), _make_ssl_context(str(bundle))
    assert first is second  # loaded once, not once per trigger
    stat = bundle.stat()
    os.utime(bundle, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # the bundle was replaced
    assert _make_ssl_context(str(bundle)) is not first


def test_tls_settings_come_from_the_connection():
    import certifi

    assert _make_ssl_context(False) is False
    private = _make_ssl_context(certifi.where())
    assert isinstance(private, ssl.SSLContext)
    assert private.verify_mode is ssl.CERT_REQUIRED and private.check_hostname
