"""Map HTTP answers to the provider's typed errors, and decide what to retry.

Messages name the request by method and path only (paths hold numeric IDs,
never PHI) and quote the server's ``description``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_fabric.exceptions import (
    FabricApiError,
    FabricAuthError,
    FabricNotFoundError,
    FabricRedirectError,
    FabricRequestError,
    FabricServerError,
)

#: Answers worth another try: rate limiting and transient gateway trouble.
RETRYABLE_STATUS_CODES = frozenset({429, 502, 503, 504})
#: How long a ``Retry-After`` may make us wait before we stop trusting it.
MAX_RETRY_AFTER_SECONDS = 300.0


class RetryableServerError(FabricServerError):
    """A transient failure (429, 502-504, connection trouble) that may succeed if tried again.

    :param message: the error message (method, path, status; never PHI).
    :param retry_after: seconds the server asked us to wait, if it said.
    :param kwargs: the :class:`~airflow_provider_fabric.exceptions.FabricApiError` fields
        (``http_status``, ``description``, ``method``, ``path``).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


def server_description(body: bytes | str | None) -> str | None:
    """The ``description`` of a JSON error body, or a short plain-text excerpt.

    :param body: the answer's body.
    """
    if not body:
        return None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:300] or None
    if isinstance(data, dict):
        for key in ("description", "detail", "message", "error"):
            if data.get(key):
                return str(data[key])[:1000]
    return text.strip()[:300] or None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), capped.

    :param value: the header's value.
    :param now: the current time, for an HTTP-date value (default: now).
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def error_for_status(
    status_code: int,
    *,
    method: str,
    path: str,
    body: bytes | str | None,
    conn_id: str,
    retry_after: str | None = None,
    location: str | None = None,
) -> FabricApiError:
    """Build the typed error for an answer whose status is not a success.

    :param status_code: the HTTP status.
    :param method: the request method.
    :param path: the request path, without query string.
    :param body: the answer's body, for the server's ``description``.
    :param conn_id: the Airflow connection used, named in auth errors.
    :param retry_after: the ``Retry-After`` header, if any.
    :param location: the ``Location`` header of a redirect, if any.
    """
    description = server_description(body)
    where = f"{method} {path}"
    detail = f": {description}" if description else ""

    def make(cls: type[FabricApiError], message: str) -> FabricApiError:
        return cls(message, http_status=status_code, description=description, method=method, path=path)

    if 300 <= status_code < 400:
        target = f" (server points to {location.split('?')[0]})" if location else ""
        return make(
            FabricRedirectError,
            f"{where} was answered with a {status_code} redirect{target}. Redirects are never followed "
            f"with credentials: set the host of connection '{conn_id}' to the https:// API URL, "
            "e.g. https://api.fabricgenomics.com",
        )
    if status_code in (401, 403):
        reason = "rejected the API key or secret" if status_code == 401 else "denied access for the API key"
        return make(
            FabricAuthError,
            f"{where}: Fabric {reason} (HTTP {status_code}){detail}. "
            f"Check the login (API key) and password (API secret) of connection '{conn_id}'.",
        )
    if status_code == 404:
        return make(FabricNotFoundError, f"{where}: not found (HTTP 404){detail}")
    if status_code in (400, 405, 406, 409, 410, 422):
        return make(FabricRequestError, f"{where}: request rejected (HTTP {status_code}){detail}")
    if status_code in RETRYABLE_STATUS_CODES:
        return RetryableServerError(
            f"{where}: server busy or unavailable (HTTP {status_code}){detail}",
            retry_after=parse_retry_after(retry_after),
            http_status=status_code,
            description=description,
            method=method,
            path=path,
        )
    return make(FabricServerError, f"{where}: server error (HTTP {status_code}){detail}")


def connection_failure(method: str, path: str, reason: str) -> RetryableServerError:
    """The error for a request that got no answer (refused, dropped, timed out).

    :param method: the request method.
    :param path: the request path, without query string.
    :param reason: what happened, e.g. the exception's class name.
    """
    return RetryableServerError(
        f"{method} {path}: no answer from Fabric ({reason})", method=method, path=path
    )


def is_retryable(exc: BaseException) -> bool:
    """The one retry predicate shared by the sync and async hooks.

    :param exc: the exception a try raised.
    """
    return isinstance(exc, RetryableServerError)
