"""Typed errors raised by the Fabric Genomics provider.

Every error subclasses :class:`airflow.exceptions.AirflowException` so a task
fails the normal Airflow way. Messages never contain credentials or PHI
(labels, external IDs, accession IDs, patient fields): they name the request
by method and path only, and carry the server's ``description``.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
)


class FabricError(AirflowException):
    """Base class of every error this provider raises."""


class FabricConfigurationError(FabricError, AirflowFailException):
    """The connection or an argument is set up wrongly (``http://`` host, bad ``verify``...).

    Fails the task without Airflow retries: the same settings would fail again.
    """


class FabricInputError(FabricError, AirflowFailException, ValueError):
    """Input rejected before anything was sent to Fabric (bad VCF, wrong family size...).

    Fails the task without Airflow retries: the same input would be refused again.
    """


class FabricChecksumError(FabricInputError):
    """The bytes of a file differ from the MD5 it was declared to have (its ``.md5`` file, an argument).

    Raised while uploading, before the last byte leaves: the request is
    aborted, so the server never receives a complete file and creates no genome.

    :param message: what differed, free of PHI (digests and sizes only).
    :param expected: the declared MD5 (hex).
    :param actual: the MD5 of the bytes read (hex).
    """

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class FabricManifestError(FabricInputError):
    """A row of a run's manifest cannot be taken in (:mod:`airflow_provider_fabric.intake`).

    The message says where and why — ``manifest of run <run>, line <line>: <cause>`` —
    and never quotes a value of the row (labels and IDs are PHI).

    :param run: the run folder's name.
    :param line: the manifest line the row starts on (1 for the header or the whole file).
    :param cause: what is wrong, in words that quote no value.
    """

    def __init__(self, run: str, line: int, cause: str) -> None:
        super().__init__(f"manifest of run {run}, line {line}: {cause}")
        self.run = run
        self.line = line
        self.cause = cause


class FabricApiError(FabricError):
    """The API answered with an error status.

    :param message: what went wrong, free of PHI.
    :param http_status: the HTTP status, or ``None`` when no answer arrived.
    :param description: the server's ``description`` field, when it sent one.
    :param method: the HTTP method of the request.
    :param path: the URL path of the request (never a query string).
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        description: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.description = description
        self.method = method
        self.path = path


class FabricRequestError(FabricApiError):
    """400, 404 or 422: the request was invalid (bad value, unknown ID, wrong state)."""


class FabricNotFoundError(FabricRequestError):
    """404: the project, genome, report or variant does not exist (or is not visible)."""


class FabricAuthError(FabricApiError, AirflowFailException):
    """401 or 403: the connection's API key or secret is wrong, or lacks access.

    Fails the task without Airflow retries: the same credentials would be refused again.
    """


class FabricRedirectError(FabricApiError):
    """A 3xx answer: the host is not the ``https://`` API URL."""


class FabricServerError(FabricApiError):
    """429, 5xx, or no answer at all (connection dropped, timeout), after retries."""


class FabricConflictError(FabricError, AirflowFailException):
    """The report already holds other values that may not be changed (it is signed out).

    Raised before anything is sent, naming the fields or metrics that differ (never their
    values). Fails the task without Airflow retries: the report would still differ.
    """


class FabricVerificationError(FabricError):
    """The server accepted a change, but reading it back shows it did not take effect.

    The message gives counts (and IDs), never PHI. Airflow retries it as usual: every
    operator that raises it compares first, so another try sends only what is still missing.
    """


class FabricTimeoutError(FabricError, AirflowSensorTimeout):
    """A sensor or trigger reached its deadline before the object reached a final status.

    Also an :class:`AirflowSensorTimeout`, so Airflow fails the task without
    retrying: another try would only wait the same time again.
    """


class FabricStatusError(FabricError, AirflowFailException):
    """A genome annotation or clinical report ended in a failure status.

    Fails the task without Airflow retries: a failed annotation or report stays failed.
    """
