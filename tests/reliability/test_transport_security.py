"""Transport security against the real sandbox: HTTPS only, no redirects, verified TLS, no leaked secrets."""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from relsupport import conn_json

from airflow_provider_fabric.exceptions import FabricConfigurationError, FabricRedirectError
from airflow_provider_fabric.hooks.fabric import FabricHook

CONN_ID = "fabric_transport_test"
CONN_VAR = f"AIRFLOW_CONN_{CONN_ID.upper()}"


def use_connection(monkeypatch: pytest.MonkeyPatch, sandbox: Any, **changes: Any) -> FabricHook:
    """A hook on a connection like the sandbox's, with top-level fields/extras changed."""
    conn = json.loads(conn_json(sandbox, **changes.pop("extra", {})))
    conn.update(changes)
    monkeypatch.setenv(CONN_VAR, json.dumps(conn))
    return FabricHook(CONN_ID)


def plain_http_hits(sandbox: Any) -> int:
    """How many plain-HTTP requests the sandbox's redirector has answered (it logs each one)."""
    return sandbox.log_tail(100_000).count("(plain HTTP)")


def test_plain_http_host_is_refused_before_anything_is_sent(sandbox, monkeypatch):
    assert sandbox.http_url and sandbox.http_url.startswith("http://")
    # The plain-HTTP port is live and redirects to HTTPS (what a real server does) ...
    answer = requests.get(sandbox.http_url + "/projects/", allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and answer.headers["Location"].startswith(sandbox.url)
    before = plain_http_hits(sandbox)

    # ... and a connection pointing at it is refused with a clear message, no request sent.
    hook = use_connection(monkeypatch, sandbox, host=sandbox.http_url)
    with pytest.raises(FabricConfigurationError, match="https://") as refused:
        hook.list_projects()
    assert CONN_ID in str(refused.value)
    assert plain_http_hits(sandbox) == before, "no request reached the plain-HTTP port"


@pytest.fixture
def redirecting_server(sandbox: Any) -> Iterator[tuple[str, list[str]]]:
    """An HTTPS server (the sandbox's own certificate) that answers every request with 302 to the sandbox."""
    seen: list[str] = []

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(self.path)
            self.send_response(302)
            self.send_header("Location", sandbox.url + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = do_POST = do_GET  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    tls = Path(sandbox.data_dir, "tls")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls / "server.pem", tls / "server-key.pem")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_redirects_are_never_followed(sandbox, monkeypatch, redirecting_server):
    url, seen = redirecting_server
    sandbox.requests_seen(clear=True)
    hook = use_connection(monkeypatch, sandbox, host=url)
    with pytest.raises(FabricRedirectError) as raised:
        hook.get_report(424242)
    assert raised.value.http_status == 302
    assert seen == ["/reports/424242"], "asked once, not retried"
    followed = [r for r in sandbox.requests_seen() if "424242" in json.dumps(r)]
    assert followed == [], "the redirect target never saw the request (nor the credentials)"


def _list_projects_sync(hook_conn: str) -> Any:
    return FabricHook(hook_conn).list_projects()


def _list_projects_async(hook_conn: str) -> Any:
    import asyncio

    from airflow_provider_fabric.hooks.fabric_async import FabricAsyncHook

    async def call() -> Any:
        async with FabricAsyncHook(hook_conn) as hook:
            return await hook.get_json("/projects/")

    return asyncio.run(call())


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(_list_projects_sync, id="sync"),
        pytest.param(_list_projects_async, id="async"),
    ],
)
def test_tls_is_verified_by_default_even_with_ca_bundles_in_the_environment(sandbox, monkeypatch, call):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, sandbox.ca_path)
    # Plain requests trusts the environment's bundle, so the sandbox's CA is "trusted" in this env ...
    assert requests.get(sandbox.url + "/projects/", auth=(sandbox.login, sandbox.secret), timeout=10).ok
    # ... but a connection that leaves ``verify`` at its default checks against the public CAs only.
    use_connection(monkeypatch, sandbox, extra={"verify": None})
    assert FabricHook(CONN_ID).settings.verify is True
    with pytest.raises(FabricConfigurationError, match="TLS"):
        call(CONN_ID)
    # With the CA named in the connection it works: the failure above was the certificate, nothing else.
    use_connection(monkeypatch, sandbox)
    assert isinstance(call(CONN_ID), (list, dict))


def test_password_is_masked_and_never_logged(sandbox, monkeypatch, caplog):
    from airflow.sdk.log import redact

    hook = use_connection(monkeypatch, sandbox)
    token = base64.b64encode(f"{sandbox.login}:{sandbox.secret}".encode()).decode()
    sandbox.set_faults(script=["503", "429", "drop"], methods=["GET"], retry_after=0)
    with caplog.at_level(logging.DEBUG):
        assert isinstance(hook.list_projects(), list)
    assert sandbox.faults()["script_left"] == [], "the retries (which log) really happened"
    # Fetching the connection registered its password with Airflow's secrets masker ...
    assert sandbox.secret not in str(redact(f"password is {sandbox.secret}"))
    # ... and nothing this package (or requests/urllib3 at DEBUG) logged holds the secret or the auth header.
    logged = "\n".join(f"{r.getMessage()} {r.args}" for r in caplog.records)
    assert "Fabric request failed" in logged
    assert sandbox.secret not in logged and token not in logged


def test_sandbox_listens_on_loopback_only(sandbox):
    listening = [
        c for c in psutil.Process(sandbox.pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
    ]
    ports = {c.laddr.port for c in listening}
    assert {int(sandbox.url.rsplit(":", 1)[1]), int(sandbox.http_url.rsplit(":", 1)[1])} <= ports
    assert {c.laddr.ip for c in listening} <= {"127.0.0.1", "::1"}


def test_sandbox_stores_only_hashed_secrets(sandbox):
    assert sandbox.state()["counts"] is not None  # it has authenticated us, so it holds our credentials
    token = base64.b64encode(f"{sandbox.login}:{sandbox.secret}".encode())
    found = [
        str(path.relative_to(sandbox.data_dir))
        for path in Path(sandbox.data_dir).rglob("*")
        if path.is_file() and (sandbox.secret.encode() in (data := path.read_bytes()) or token in data)
    ]
    assert found == [], "the secret (or the Basic auth token) is written in clear in the data dir"
    assert any(Path(sandbox.data_dir).rglob("*")), "the data dir was searched"
