"""Connection settings, read once from an Airflow connection and shared by both hooks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_fabric.api.retry import RetryPolicy
from airflow_provider_fabric.api.timestamps import DEFAULT_SERVER_TIMEZONE
from airflow_provider_fabric.exceptions import FabricConfigurationError

DEFAULT_CONN_ID = "fabric_genomics_default"
CONN_TYPE = "fabric_genomics"
DEFAULT_HOST = "https://api.fabricgenomics.com"
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class FabricSettings:
    """Everything a client needs to talk to one Fabric server.

    :param conn_id: the Airflow connection these came from (named in errors).
    :param base_url: ``https://host[:port][/prefix]`` with no trailing slash.
    :param login: the API key.
    :param password: the API secret.
    :param verify: ``True``, ``False`` or the path of a CA bundle.
    :param timeout: seconds to wait for the server on each request.
    :param ui_url: base URL of the Fabric Enterprise web app, for links (optional).
    :param server_timezone: the zone of the server's naive timestamps.
    :param retry: the retry policy.
    """

    conn_id: str
    base_url: str
    login: str
    password: str = field(repr=False)
    verify: bool | str = True
    timeout: float = DEFAULT_TIMEOUT
    ui_url: str | None = None
    server_timezone: str = DEFAULT_SERVER_TIMEZONE
    retry: RetryPolicy = RetryPolicy()

    @property
    def zone(self) -> ZoneInfo:
        """The server's time zone."""
        return ZoneInfo(self.server_timezone)

    @property
    def ca_bundle(self) -> str | bool:
        """What to verify the server's certificate against: a CA bundle path, or ``False``.

        ``verify=true`` means the certifi bundle, named explicitly so that
        ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` in the environment cannot
        swap the trust store under a connection, and so that the sync and async
        hooks trust exactly the same authorities.
        """
        if self.verify is True:
            import certifi

            return certifi.where()
        return self.verify

    def url(self, path: str) -> str:
        """The absolute URL of an API path (no query string is ever added here).

        :param path: an API path such as ``/reports/12``.
        """
        return f"{self.base_url}/{path.lstrip('/')}"


def _parse_verify(value: Any, conn_id: str) -> bool | str:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    if not os.path.exists(text):
        raise FabricConfigurationError(
            f"Connection '{conn_id}': extra 'verify' is neither true/false nor an existing CA bundle "
            f"file ({text!r} does not exist)."
        )
    return text


def normalize_base_url(
    host: str | None, conn_id: str, schema: str | None = None, port: int | None = None
) -> str:
    """Turn the connection's host (and port) into an ``https://`` base URL, refusing plain HTTP.

    :param host: the connection's host: a URL, or a host name (from a URI).
    :param conn_id: the connection's ID, named in errors.
    :param schema: the connection's schema (``http`` there means plain HTTP, refused).
    :param port: the connection's port, added when the host has none.
    :raises FabricConfigurationError: not HTTPS, no host name, a query or fragment, or a port
        in the host that differs from ``port``.
    """
    host = (host or "").strip()
    if not host:
        return DEFAULT_HOST
    if "://" not in host:
        # A URI like fabric-genomics://key:secret@host:port puts only the host name here.
        scheme = "http" if schema and schema.lower() == "http" else "https"
        host = f"{scheme}://{host}"
    parts = urlsplit(host)
    if port and parts.port is None:
        parts = parts._replace(netloc=f"{parts.netloc}:{port}")
    elif port and parts.port != int(port):
        raise FabricConfigurationError(
            f"Connection '{conn_id}': the host's port {parts.port} and the Port field ({port}) differ."
        )
    if parts.scheme.lower() != "https":
        raise FabricConfigurationError(
            f"Connection '{conn_id}': host must be an https:// URL, got a {parts.scheme}:// URL. "
            "Fabric serves its API over HTTPS only and answers plain HTTP with a redirect; "
            "use e.g. https://api.fabricgenomics.com"
        )
    if not parts.hostname:
        raise FabricConfigurationError(f"Connection '{conn_id}': host {host!r} has no host name.")
    if parts.query or parts.fragment:
        raise FabricConfigurationError(f"Connection '{conn_id}': host must not carry a query or fragment.")
    return f"https://{parts.netloc}{parts.path.rstrip('/')}"


def settings_from_connection(conn: Any, conn_id: str) -> FabricSettings:
    """Read a ``fabric_genomics`` connection into :class:`FabricSettings`.

    Extras: ``verify`` (true/false/CA bundle path, default true), ``timeout``
    (seconds), ``ui_url``, ``server_timezone`` (default America/Los_Angeles),
    and the retry knobs ``retry_limit``, ``retry_initial_wait``, ``retry_max_wait``,
    ``retry_max_total``.

    :param conn: the Airflow connection.
    :param conn_id: its ID, named in errors.
    :raises FabricConfigurationError: missing credentials or a bad host, time zone, timeout,
        retry knob or ``verify`` value.
    """
    extra: dict[str, Any] = dict(conn.extra_dejson or {})
    if not conn.login or not conn.password:
        raise FabricConfigurationError(
            f"Connection '{conn_id}' needs the API key as login and the API secret as password."
        )
    timezone = str(extra.get("server_timezone") or DEFAULT_SERVER_TIMEZONE)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise FabricConfigurationError(
            f"Connection '{conn_id}': unknown server_timezone {timezone!r}"
        ) from err
    try:
        timeout = float(extra.get("timeout") or DEFAULT_TIMEOUT)
        retry = RetryPolicy.from_extra(extra)
    except (TypeError, ValueError) as err:
        raise FabricConfigurationError(f"Connection '{conn_id}': {err}") from err
    ui_url = extra.get("ui_url")
    return FabricSettings(
        conn_id=conn_id,
        base_url=normalize_base_url(
            conn.host, conn_id, getattr(conn, "schema", None), getattr(conn, "port", None)
        ),
        login=str(conn.login),
        password=str(conn.password),
        verify=_parse_verify(extra.get("verify"), conn_id),
        timeout=timeout,
        ui_url=str(ui_url).rstrip("/") if ui_url else None,
        server_timezone=timezone,
        retry=retry,
    )
