"""FabricAsyncHook: the async half of the hook, used by triggers in the triggerer.

It follows exactly the rules of :class:`~airflow_provider_fabric.hooks.fabric.FabricHook`
(same settings, safe-params header, error mapping, retry policy and timestamp
conversion, all from :mod:`airflow_provider_fabric.api`), over ``httpx.AsyncClient``
so that no call blocks the triggerer's event loop.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import ssl
from dataclasses import replace
from typing import Any

import httpx
from airflow.providers.common.compat.sdk import BaseHook
from tenacity import AsyncRetrying

from airflow_provider_fabric import __version__
from airflow_provider_fabric.api.errors import connection_failure, error_for_status
from airflow_provider_fabric.api.logsafe import install_log_redaction
from airflow_provider_fabric.api.reports import as_id
from airflow_provider_fabric.api.retry import NO_RETRY, RetryPolicy
from airflow_provider_fabric.api.safe_params import (
    SAFE_PARAMS_HEADER,
    Params,
    encode_safe_params,
    param_pairs,
)
from airflow_provider_fabric.api.settings import DEFAULT_CONN_ID, FabricSettings, settings_from_connection
from airflow_provider_fabric.api.timestamps import convert_timestamps
from airflow_provider_fabric.exceptions import FabricConfigurationError, FabricInputError

USER_AGENT = f"airflow-provider-fabric-genomics/{__version__}"
#: Methods that are safe to resend after a transient failure.
IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "PATCH", "DELETE"})
#: How many objects :meth:`FabricAsyncHook.get_genomes` fetches at once.
DEFAULT_CONCURRENCY = 8


def _ssl_failure(err: BaseException) -> bool:
    """Whether ``err`` (or what caused it) is a failed TLS handshake or certificate check."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(err)


def _make_ssl_context(ca_bundle: str | bool) -> ssl.SSLContext | bool:
    """The TLS setting for httpx: our own context, so no environment variable can override it.

    One context is shared by every trigger that trusts the same bundle (a
    production bundle costs ~0.7 MB and tens of milliseconds to load, per
    context); a bundle file changed on disk gets a fresh context.

    :param ca_bundle: :attr:`FabricSettings.ca_bundle`: a CA bundle path, or ``False``.
    """
    if ca_bundle is False:
        return False
    path = str(ca_bundle)
    return _shared_ssl_context(path, os.stat(path).st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _shared_ssl_context(path: str, mtime_ns: int) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=path)


class FabricAsyncHook(BaseHook):
    """Read from the Fabric Genomics API without blocking an event loop.

    Used by the triggers behind deferrable sensors. The connection is read
    inside the triggerer (never carried in a trigger's serialized kwargs),
    through Airflow's async connection lookup. GET parameters travel in the
    ``X-fg-safe-params`` header; redirects are never followed; TLS is verified
    with the connection's CA bundle; transient failures (429, 502-504, no
    answer) are retried with the connection's retry policy, honouring
    ``Retry-After``; every other failure is the same typed error the sync hook
    raises. Use it as an async context manager, or call :meth:`aclose`.

    :param fabric_conn_id: the Airflow connection to use.
    :param retry_policy: overrides the retry policy read from the connection.
    :param timeout: overrides the connection's ``timeout`` (seconds).
    :param transport: an ``httpx`` transport to send requests through instead of
        the network (for tests: ``httpx.MockTransport``).
    """

    default_conn_name = DEFAULT_CONN_ID

    def __init__(
        self,
        fabric_conn_id: str = DEFAULT_CONN_ID,
        *,
        retry_policy: RetryPolicy | None = None,
        timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__()
        self.fabric_conn_id = fabric_conn_id
        self._retry_policy = retry_policy
        self._timeout = timeout
        self._transport = transport
        self._settings: FabricSettings | None = None
        self._client: httpx.AsyncClient | None = None
        install_log_redaction()

    # ----------------------------------------------------------------- plumbing

    async def get_settings(self) -> FabricSettings:
        """The connection's settings, read once through Airflow's async connection lookup."""
        if self._settings is None:
            conn = await self.aget_connection(self.fabric_conn_id)
            # settings_from_connection checks that a CA bundle file exists: a (tiny) disk access.
            settings = await asyncio.to_thread(settings_from_connection, conn, self.fabric_conn_id)
            overrides: dict[str, Any] = {}
            if self._retry_policy is not None:
                overrides["retry"] = self._retry_policy
            if self._timeout is not None:
                overrides["timeout"] = self._timeout
            self._settings = replace(settings, **overrides) if overrides else settings
        return self._settings

    async def get_client(self) -> httpx.AsyncClient:
        """One keep-alive ``httpx.AsyncClient`` per hook, with basic auth and our User-Agent."""
        if self._client is None:
            settings = await self.get_settings()
            # Loading a CA bundle reads a file: do it off the event loop.
            verify = await asyncio.to_thread(_make_ssl_context, settings.ca_bundle)
            self._client = httpx.AsyncClient(
                auth=httpx.BasicAuth(settings.login, settings.password),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                verify=verify,
                timeout=settings.timeout,
                follow_redirects=False,
                transport=self._transport,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client and its open connections."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def __aenter__(self) -> FabricAsyncHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """Send one API request and return the successful (fully read) response.

        :param method: HTTP method.
        :param path: API path such as ``/reports/12``; never with a query string.
        :param params: GET: sent in ``X-fg-safe-params``; other methods: in the URL,
            as the API requires.
        :param json_body: a JSON-serialisable body.
        :param headers: extra headers.
        :param retry: retry transient failures; only idempotent methods are ever retried.
        :raises FabricApiError: a typed subclass for every non-success answer.
        :raises FabricConfigurationError: TLS verification failed.
        """
        method = method.upper()
        if "?" in path:
            raise FabricInputError("API paths must not carry a query string; pass params instead")
        settings = await self.get_settings()
        client = await self.get_client()
        url = settings.url(path)
        send_headers = dict(headers or {})
        query: httpx.QueryParams | None = None
        if method == "GET":
            encoded = encode_safe_params(params)
            if encoded:
                send_headers[SAFE_PARAMS_HEADER] = encoded
        else:
            pairs = param_pairs(params)
            query = httpx.QueryParams(tuple(pairs)) if pairs else None
        content: bytes | None = None
        if json_body is not None:
            content = json.dumps(json_body).encode()
            send_headers.setdefault("Content-Type", "application/json")

        async def send_once() -> httpx.Response:
            try:
                response = await client.request(
                    method, url, params=query, content=content, headers=send_headers
                )
            except httpx.TransportError as err:
                if _ssl_failure(err):
                    raise FabricConfigurationError(
                        f"{method} {path}: TLS verification with {settings.base_url} failed "
                        f"({type(err).__name__}). Set extra 'verify' of connection "
                        f"'{settings.conn_id}' to the server's CA bundle path."
                    ) from None
                raise connection_failure(method, path, type(err).__name__) from None
            if response.status_code >= 300:
                raise error_for_status(
                    response.status_code,
                    method=method,
                    path=path,
                    body=response.content,
                    conn_id=settings.conn_id,
                    retry_after=response.headers.get("Retry-After"),
                    location=response.headers.get("Location"),
                )
            return response

        policy = settings.retry if retry and method in IDEMPOTENT_METHODS else NO_RETRY
        return await AsyncRetrying(**policy.tenacity_kwargs())(send_once)

    async def get_json(self, path: str, params: Params | None = None) -> Any:
        """GET ``path`` and return the raw JSON, timestamps left as the server sent them.

        :param path: API path.
        :param params: GET parameters (sent in ``X-fg-safe-params``).
        """
        return (await self.request("GET", path, params=params)).json()

    async def _get(self, path: str, params: Params | None = None) -> Any:
        response = await self.request("GET", path, params=params)
        if response.status_code == 204 or not response.content:
            return None
        settings = await self.get_settings()
        return convert_timestamps(response.json(), settings.zone)

    # ----------------------------------------------------------------- reads used by triggers

    async def get_genome(self, genome_id: int | str) -> dict[str, Any]:
        """One genome, with its annotation ``status`` (timestamps timezone-aware).

        :param genome_id: the genome's ID.
        """
        return await self._get(f"/genomes/{as_id(genome_id, 'genome_id')}")

    async def get_genomes(
        self, genome_ids: list[int], *, concurrency: int = DEFAULT_CONCURRENCY
    ) -> dict[int, dict[str, Any]]:
        """Several genomes, at most ``concurrency`` requests at a time; keyed by ID.

        :param genome_ids: the genomes' IDs.
        :param concurrency: most requests in flight at once.
        """
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(genome_id: int) -> tuple[int, dict[str, Any]]:
            async with gate:
                return genome_id, await self.get_genome(genome_id)

        return dict(await asyncio.gather(*(one(gid) for gid in genome_ids)))

    async def get_report(self, report_id: int | str, *, extended: bool = False) -> dict[str, Any]:
        """One clinical report, with its ``status`` (timestamps timezone-aware).

        :param report_id: the report's ID.
        :param extended: add variants and patient fields (PHI); triggers never ask for them.
        """
        return await self._get(
            f"/reports/{as_id(report_id, 'report_id')}", {"extended": True if extended else None}
        )
