"""FabricHook: the ``fabric_genomics`` connection and every call of the Fabric Genomics API."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import IO, Any, BinaryIO

import requests
from airflow.providers.common.compat.sdk import BaseHook
from requests.adapters import HTTPAdapter
from tenacity import Retrying

from airflow_provider_fabric import __version__
from airflow_provider_fabric.api.errors import connection_failure, error_for_status
from airflow_provider_fabric.api.logsafe import install_log_redaction, redact_query
from airflow_provider_fabric.api.reports import (
    SHARE_ROLES,
    as_id,
    family_report_payload,
    panel_report_payload,
)
from airflow_provider_fabric.api.reports import (
    genome_sex as check_genome_sex,
)
from airflow_provider_fabric.api.retry import NO_RETRY, RetryPolicy
from airflow_provider_fabric.api.safe_params import (
    SAFE_PARAMS_HEADER,
    Params,
    encode_safe_params,
    param_pairs,
)
from airflow_provider_fabric.api.settings import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    FabricSettings,
    settings_from_connection,
)
from airflow_provider_fabric.api.timestamps import convert_timestamps
from airflow_provider_fabric.exceptions import FabricConfigurationError, FabricInputError

log = logging.getLogger(__name__)

USER_AGENT = f"airflow-provider-fabric-genomics/{__version__}"
#: Bytes per socket write when streaming a request body (urllib3's default is 16 KiB).
UPLOAD_BLOCK_SIZE = 1 << 20
#: Page size when following ``limit``/``offset`` pages.
DEFAULT_PAGE_SIZE = 100
VARIANT_FORMATS = ("JSON", "CSV", "VCF")
GENOME_FORMATS = ("vcf", "vcf.gz", "vcf.bz2")

ProgressCallback = Callable[[int, int | None], None]


def genome_format_from_name(name: str) -> str | None:
    """The API's ``format`` for a file name (``x.vcf.gz`` → ``vcf.gz``), or ``None`` if unclear.

    :param name: the file's name or path.
    """
    lowered = name.lower()
    if lowered.endswith((".gz", ".bgz")):
        return "vcf.gz"
    if lowered.endswith(".bz2"):
        return "vcf.bz2"
    if lowered.endswith(".vcf"):
        return "vcf"
    return None


class _BigBlockAdapter(HTTPAdapter):
    """An adapter that writes request bodies in 1 MiB blocks, so uploads run at disk speed."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blocksize", UPLOAD_BLOCK_SIZE)
        super().init_poolmanager(*args, **kwargs)


def _file_size(fileobj: IO[bytes]) -> int | None:
    try:
        return os.fstat(fileobj.fileno()).st_size - fileobj.tell()
    except (AttributeError, OSError, ValueError):
        pass
    try:
        if fileobj.seekable():
            here = fileobj.tell()
            end = fileobj.seek(0, os.SEEK_END)
            fileobj.seek(here)
            return end - here
    except (AttributeError, OSError, ValueError):
        pass
    return None


class FabricHook(BaseHook):
    """Talk to the Fabric Genomics API through a ``fabric_genomics`` connection.

    Every GET sends its parameters in the ``X-fg-safe-params`` header, never in
    the URL; only HTTPS hosts are accepted and redirects are never followed;
    errors come back as typed exceptions carrying the server's description;
    idempotent calls (GET, PUT, PATCH, DELETE) are retried on 429, 502-504 and
    connection trouble with exponential backoff, honouring ``Retry-After``.
    POSTs and streamed uploads are never resent blindly.

    Methods take the API's own field names. Timestamps in answers
    (``created_on``, ``report_approved_date``...) are converted to
    timezone-aware datetimes in the connection's ``server_timezone``; use
    :meth:`get_json` for the raw JSON.

    :param fabric_conn_id: the Airflow connection to use.
    :param retry_policy: overrides the retry policy read from the connection.
    :param timeout: overrides the connection's ``timeout`` (seconds).
    """

    conn_name_attr = "fabric_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Fabric Genomics"

    def __init__(
        self,
        fabric_conn_id: str = DEFAULT_CONN_ID,
        *,
        retry_policy: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__()
        self.fabric_conn_id = fabric_conn_id
        self._retry_policy = retry_policy
        self._timeout = timeout
        install_log_redaction()

    # ----------------------------------------------------------------- plumbing

    @cached_property
    def settings(self) -> FabricSettings:
        """The connection's settings (HTTPS base URL, credentials, TLS, timeouts, zone)."""
        conn = self.get_connection(self.fabric_conn_id)
        settings = settings_from_connection(conn, self.fabric_conn_id)
        overrides: dict[str, Any] = {}
        if self._retry_policy is not None:
            overrides["retry"] = self._retry_policy
        if self._timeout is not None:
            overrides["timeout"] = self._timeout
        if overrides:
            from dataclasses import replace

            settings = replace(settings, **overrides)
        return settings

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive session per hook, with basic auth and our User-Agent."""
        session = requests.Session()
        session.auth = (self.settings.login, self.settings.password)
        session.headers["User-Agent"] = USER_AGENT
        session.headers["Accept"] = "application/json"
        adapter = _BigBlockAdapter()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def close(self) -> None:
        """Close the HTTP session (open connections are otherwise reused)."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        retry: bool = True,
    ) -> requests.Response:
        """Send one API request and return the successful response.

        :param method: HTTP method.
        :param path: API path such as ``/reports/12``; never with a query string.
        :param params: GET: sent in ``X-fg-safe-params``; other methods: in the URL
            (as the API requires), and redacted from every log line.
        :param json_body: a JSON-serialisable body.
        :param data: a raw body (bytes, form dict or file-like), sent as is.
        :param headers: extra headers.
        :param stream: leave the body unread so it can be streamed.
        :param retry: retry transient failures; only for requests safe to resend.
        :raises FabricApiError: a typed subclass for every non-success answer.
        """
        method = method.upper()
        if "?" in path:
            raise FabricInputError("API paths must not carry a query string; pass params instead")
        settings = self.settings
        url = settings.url(path)
        send_headers = dict(headers or {})
        query: list[tuple[str, str]] | None = None
        if method == "GET":
            encoded = encode_safe_params(params)
            if encoded:
                send_headers[SAFE_PARAMS_HEADER] = encoded
        else:
            query = param_pairs(params) or None
        body = data
        if json_body is not None:
            body = json.dumps(json_body)
            send_headers.setdefault("Content-Type", "application/json")

        def send_once() -> requests.Response:
            try:
                response = self.session.request(
                    method,
                    url,
                    params=query,
                    data=body,
                    headers=send_headers,
                    stream=stream,
                    timeout=settings.timeout,
                    # An explicit bundle per request: requests would otherwise let
                    # REQUESTS_CA_BUNDLE in the environment replace verify=True.
                    verify=settings.ca_bundle,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as err:
                raise FabricConfigurationError(
                    f"{method} {path}: TLS verification with {settings.base_url} failed "
                    f"({redact_query(str(err))[:300]}). Set extra 'verify' of connection "
                    f"'{settings.conn_id}' to the server's CA bundle path."
                ) from None
            except (requests.ConnectionError, requests.Timeout) as err:
                raise connection_failure(method, path, type(err).__name__) from None
            if response.status_code >= 300:
                try:
                    content = response.content
                finally:
                    response.close()
                raise error_for_status(
                    response.status_code,
                    method=method,
                    path=path,
                    body=content,
                    conn_id=settings.conn_id,
                    retry_after=response.headers.get("Retry-After"),
                    location=response.headers.get("Location"),
                )
            return response

        policy = settings.retry if retry and method in ("GET", "PUT", "PATCH", "DELETE") else NO_RETRY
        return Retrying(**policy.tenacity_kwargs())(send_once)

    def get_json(self, path: str, params: Params | None = None) -> Any:
        """GET ``path`` and return the raw JSON, timestamps left as the server sent them.

        :param path: API path such as ``/reports/12``.
        :param params: GET parameters, sent in the ``X-fg-safe-params`` header.
        """
        return self.request("GET", path, params=params).json()

    def _json(self, response: requests.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        return convert_timestamps(response.json(), self.settings.zone)

    def _get(self, path: str, params: Params | None = None) -> Any:
        return self._json(self.request("GET", path, params=params))

    def pages(
        self,
        path: str,
        params: Params | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        raw: bool = False,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield each page of a list endpoint's ``objects``, following ``limit``/``offset`` to the end.

        :param path: the list endpoint.
        :param params: filters, sent like any GET parameter.
        :param page_size: objects asked for per request.
        :param raw: keep the server's values as sent (timestamps not converted).
        """
        base = param_pairs(params)
        offset = 0
        while True:
            page_params = [*base, ("limit", page_size), ("offset", offset)]
            page = (self.get_json(path, page_params) if raw else self._get(path, page_params)) or {}
            objects = page.get("objects", []) if isinstance(page, dict) else []
            yield objects
            if len(objects) < page_size:
                return
            offset += len(objects)

    def paginate(
        self, path: str, params: Params | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Yield every object of a list endpoint, following ``limit``/``offset`` pages to the end."""
        for page in self.pages(path, params, page_size=page_size):
            yield from page

    # ----------------------------------------------------------------- projects

    def list_projects(self) -> list[dict[str, Any]]:
        """Every project the API key can see."""
        return list(self.paginate("/projects/"))

    def create_project(
        self, project_name: str, description: str | None = None, share_role: str = "NONE"
    ) -> dict[str, Any]:
        """Create a project and return it (with its numeric ``id``). Not retried (a POST).

        :param project_name: the project's name.
        :param description: an optional description.
        :param share_role: how the project is shared with the workspace: ``CONTRIBUTOR``,
            ``VIEWER`` or ``NONE``.
        :raises FabricInputError: an empty name or an unknown share role.
        """
        if share_role not in SHARE_ROLES:
            raise FabricInputError(f"share_role must be one of {', '.join(SHARE_ROLES)}")
        if not project_name or not str(project_name).strip():
            raise FabricInputError("project_name is required")
        form = {"project_name": project_name, "share_role": share_role}
        if description:
            form["description"] = description
        return self._json(self.request("POST", "/projects/", data=form))

    # ----------------------------------------------------------------- genomes

    def upload_genome(
        self,
        project_id: int | str,
        file: str | os.PathLike[str] | BinaryIO,
        *,
        genome_label: str,
        genome_sex: str,
        external_id: str | None = None,
        assembly_version: str = "hg19",
        format: str | None = None,
        checksum: str | None = None,
        bam_file: str | None = None,
        progress: ProgressCallback | None = None,
        compress: bool = False,
        verify_archive: bool = False,
        file_md5: str | None = None,
        body_size: int | None = None,
    ) -> dict[str, Any]:
        """Upload a VCF into a project, streaming the body; returns ``{"genome_id": N, ...}``.

        Never retried here: a resent upload could create a second genome. The
        upload operator makes retries safe by looking for an earlier try's
        genome first (:meth:`find_uploaded_genome`).

        The checks asked for run inside the stream
        (:class:`~airflow_provider_fabric.upload.UploadBody`): the last bytes
        are sent only once the whole file has passed them, and a failed check
        aborts the request with its body incomplete, so no genome is created.

        :param project_id: the project to upload into.
        :param file: a path or a binary file object (read in 1 MiB blocks, never whole).
        :param genome_label: the genome's label (PHI: sent in the URL as the API requires, never logged).
        :param genome_sex: ``male``, ``female`` or ``unspecified``.
        :param external_id: the lab's sample ID (PHI, as above).
        :param assembly_version: ``hg19`` (GRCh37); nothing else is accepted by Fabric.
        :param format: ``vcf``, ``vcf.gz`` or ``vcf.bz2``: the file's format; inferred from the
            file name when omitted.
        :param checksum: MD5 of the bytes sent, checked by the server; the body is verified
            against it as it streams (a mismatch raises
            :class:`~airflow_provider_fabric.exceptions.FabricChecksumError`).
        :param bam_file: optional BAM location.
        :param progress: called as ``progress(bytes_sent, total_or_None)`` while sending.
        :param compress: compress a plain VCF into BGZF on the way and upload it as ``vcf.gz``
            (deterministic: the same file always gives the same bytes, see
            :func:`~airflow_provider_fabric.upload.upload_checksum`).
        :param verify_archive: prove a ``vcf.gz``/``vcf.bz2`` file complete and intact while
            sending it (a :class:`~airflow_provider_fabric.vcf.VcfValidationError` otherwise).
        :param file_md5: MD5 of the file as read, before any compression (e.g. from its ``.md5``
            file), verified while sending.
        :param body_size: bytes of the compressed body, as
            :func:`~airflow_provider_fabric.upload.upload_checksum` gives them: sent as
            ``Content-Length``. Without it a compressed body is sent chunked.
        :raises FabricInputError: bad arguments, or a check failed (nothing was created).
        """
        from airflow_provider_fabric.upload import UploadBody, as_md5

        project = as_id(project_id, "project_id")
        if not genome_label:
            raise FabricInputError("genome_label is required")
        if assembly_version.lower() not in ("hg19", "grch37"):
            raise FabricInputError("assembly_version must be hg19 (GRCh37): Fabric annotates hg19 only")
        name = os.fspath(file) if isinstance(file, str | os.PathLike) else getattr(file, "name", None)
        fmt = format or (genome_format_from_name(str(name)) if name else None)
        if fmt is not None and fmt not in GENOME_FORMATS:
            raise FabricInputError(f"format must be one of {', '.join(GENOME_FORMATS)}")
        if compress and fmt not in (None, "vcf"):
            raise FabricInputError(f"compress=True needs a plain VCF; this one is already {fmt}")
        if verify_archive and fmt is None:
            raise FabricInputError("verify_archive=True needs the format (vcf.gz or vcf.bz2)")
        params = {
            "genome_label": genome_label,
            "genome_sex": check_genome_sex(genome_sex),
            "external_id": external_id,
            "assembly_version": assembly_version,
            "format": "vcf.gz" if compress else fmt,
            "checksum": as_md5(checksum, "checksum") if checksum else None,
            "bam_file": bam_file,
        }
        with contextlib.ExitStack() as stack:
            fileobj: IO[bytes] = (
                stack.enter_context(open(file, "rb")) if isinstance(file, str | os.PathLike) else file
            )
            size = body_size if body_size is not None or compress else _file_size(fileobj)
            body = UploadBody(
                fileobj,
                size=size,
                compress=compress,
                archive_format=fmt if verify_archive and fmt != "vcf" else None,
                file_md5=as_md5(file_md5, "file_md5") if file_md5 else None,
                md5=params["checksum"],
                progress=progress,
            )
            stack.callback(body.close)
            started = time.monotonic()
            log.info("Uploading a genome into project %s (%s bytes)", project, size if size else "unknown")
            response = self.request(
                "PUT",
                f"/projects/{project}/genomes",
                params=params,
                data=body,
                headers={"Content-Type": "application/octet-stream"},
                retry=False,
            )
            log.info("Upload finished in %.1f s", time.monotonic() - started)
            return self._json(response)

    def find_uploaded_genome(
        self, project_id: int | str, external_id: str, checksum: str | Callable[[], str | None]
    ) -> int | None:
        """The genome an earlier upload of these bytes created, or ``None``: what makes upload retries safe.

        Looks in the project for genomes whose ``external_id`` equals ``external_id``
        exactly and whose ``checksum`` equals ``checksum`` (case aside), skips any
        whose annotation ``FAILED``, and returns the newest one's ID.

        :param project_id: the project the upload goes into.
        :param external_id: the lab's sample ID (PHI: sent in the safe-params header, never logged).
        :param checksum: MD5 of the bytes the upload sends
            (:func:`~airflow_provider_fabric.upload.upload_checksum`), or a function that
            computes it, called only when a genome with this external ID exists (so a file new
            to Fabric is not read); a function that returns ``None`` finds nothing.
        """
        from airflow_provider_fabric.api.statuses import normalize_status

        same_sample = [
            genome
            for genome in self.list_genomes(project_id, external_id=external_id)
            if genome.get("external_id") == external_id
        ]
        if not same_sample:
            return None
        wanted = checksum() if callable(checksum) else checksum
        if not wanted:
            return None
        wanted = wanted.strip().lower()
        candidates = []
        for genome in same_sample:
            if str(genome.get("checksum") or "").strip().lower() != wanted:
                continue
            genome_id = as_id(genome.get("id", genome.get("genome_id")), "genome id")
            if normalize_status(genome.get("status")) == "FAILED":
                log.warning("Genome %s has the same file and external ID but FAILED: not reused", genome_id)
                continue
            candidates.append(genome_id)
        return max(candidates) if candidates else None

    def get_genome(self, genome_id: int | str) -> dict[str, Any]:
        """One genome, with its annotation ``status``.

        :param genome_id: the genome's ID.
        """
        return self._get(f"/genomes/{as_id(genome_id, 'genome_id')}")

    def list_genomes(
        self,
        project_id: int | str | None = None,
        *,
        external_id: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> list[dict[str, Any]]:
        """Genomes of one project (or all), optionally only those with an ``external_id``.

        :param project_id: the project, or ``None`` for every genome the API key can see.
        :param external_id: only genomes with this external ID (sent in the safe-params header).
        :param page_size: genomes asked for per page.
        """
        path = "/genomes" if project_id is None else f"/projects/{as_id(project_id, 'project_id')}/genomes"
        return list(self.paginate(path, {"external_id": external_id}, page_size=page_size))

    def update_genome(
        self,
        genome_id: int | str,
        *,
        name: str | None = None,
        external_id: str | None = None,
        project_id: int | str | None = None,
    ) -> dict[str, Any]:
        """Rename a genome, change its external ID, or move it to another project.

        :param genome_id: the genome's ID.
        :param name: the new label.
        :param external_id: the new external ID.
        :param project_id: the project to move it to.
        :raises FabricInputError: none of ``name``, ``external_id``, ``project_id`` given.
        """
        body = {
            "name": name,
            "external_id": external_id,
            "project_id": as_id(project_id, "project_id", optional=True),
        }
        body = {k: v for k, v in body.items() if v is not None}
        if not body:
            raise FabricInputError("update_genome needs name, external_id or project_id")
        return self._json(self.request("PUT", f"/genomes/{as_id(genome_id, 'genome_id')}", json_body=body))

    def delete_genome(self, genome_id: int | str) -> None:
        """Delete a genome.

        :param genome_id: the genome's ID.
        """
        self.request("DELETE", f"/genomes/{as_id(genome_id, 'genome_id')}")

    # ----------------------------------------------------------------- reports

    def create_report(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Create a clinical report from a full creation body; returns the report. Not retried (a POST).

        :param payload: the creation body, as built by
            :func:`~airflow_provider_fabric.api.reports.panel_report_payload` or
            :func:`~airflow_provider_fabric.api.reports.family_report_payload`.
        """
        answer = self._json(self.request("POST", "/reports/", json_body=dict(payload)))
        return answer.get("clinical_report", answer) if isinstance(answer, dict) else answer

    def create_panel_report(self, **kwargs: Any) -> dict[str, Any]:
        """Create a panel report, checking every argument first.

        :param kwargs: the keyword arguments of
            :func:`~airflow_provider_fabric.api.reports.panel_report_payload`.
        """
        return self.create_report(panel_report_payload(**kwargs))

    def create_family_report(self, **kwargs: Any) -> dict[str, Any]:
        """Create a family report, checking every argument (family size, sexes...) first.

        :param kwargs: the keyword arguments of
            :func:`~airflow_provider_fabric.api.reports.family_report_payload`.
        """
        return self.create_report(family_report_payload(**kwargs))

    def get_report(self, report_id: int | str, *, extended: bool = False) -> dict[str, Any]:
        """One clinical report, with its ``status``.

        :param report_id: the report's ID.
        :param extended: also return variants and patient fields (PHI).
        """
        return self._get(
            f"/reports/{as_id(report_id, 'report_id')}", {"extended": True if extended else None}
        )

    def list_reports(
        self,
        *,
        report_type: str | None = None,
        report_status: str | None = None,
        order_by: str | None = None,
        external_id: str | None = None,
        accession_id: str | None = None,
        genome_id: int | str | None = None,
        genome_name: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> list[dict[str, Any]]:
        """Reports matching every given filter, all pages followed.

        ``external_id`` and ``accession_id`` match substrings on the server:
        compare exactly yourself when you need one report. Filters travel in the
        ``X-fg-safe-params`` header.

        :param report_type: only reports of this type (``panel``, ``Trio``...).
        :param report_status: only reports in this status.
        :param order_by: the server's sort key.
        :param external_id: only reports whose genomes' external ID contains this (PHI).
        :param accession_id: only reports whose accession ID contains this (PHI).
        :param genome_id: only reports using this genome.
        :param genome_name: only reports whose genome label contains this (PHI).
        :param page_size: reports asked for per page.
        """
        params = {
            "report_type": report_type,
            "report_status": report_status,
            "order_by": order_by,
            "external_id": external_id,
            "accession_id": accession_id,
            "genome_id": as_id(genome_id, "genome_id", optional=True),
            "genome_name": genome_name,
        }
        return list(self.paginate("/reports/", params, page_size=page_size))

    def find_reports_by_accession(self, accession_id: str) -> list[dict[str, Any]]:
        """The reports whose accession ID is exactly ``accession_id``, oldest first.

        The server's ``accession_id`` filter matches substrings; this keeps exact matches only.

        :param accession_id: the lab's accession (PHI: sent in the safe-params header, never logged).
        """
        found = self.list_reports(accession_id=accession_id)
        exact = [report for report in found if report.get("accession_id") == accession_id]
        return sorted(exact, key=lambda report: int(report.get("id") or 0))

    def update_report(self, report_id: int | str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Attach genomes (same keys as creation) or set ``filter_id`` (``None`` = explicitly none).

        :param report_id: the report's ID.
        :param payload: the fields to change.
        """
        return self._json(
            self.request("PUT", f"/reports/{as_id(report_id, 'report_id')}", json_body=dict(payload))
        )

    def post_patient_fields(self, report_id: int | str, fields: Mapping[str, Any]) -> Any:
        """Set patient fields (PHI: never logged). Not retried (a POST).

        :param report_id: the report's ID.
        :param fields: field name → value, e.g. ``{"Patient DOB": "..."}``.
        """
        return self._json(
            self.request(
                "POST", f"/reports/{as_id(report_id, 'report_id')}/patient_fields", json_body=dict(fields)
            )
        )

    def get_patient_fields(self, report_id: int | str) -> Any:
        """The report's patient fields (PHI).

        :param report_id: the report's ID.
        """
        return self._get(f"/reports/{as_id(report_id, 'report_id')}/patient_fields")

    def post_qc_data(self, report_id: int | str, qc_data: Mapping[str, Any]) -> Any:
        """Post QC metrics defined by the report's assay type. Not retried (a POST).

        :param report_id: the report's ID.
        :param qc_data: metric → value, e.g. ``{"mean_coverage": 112.4}``.
        """
        return self._json(
            self.request("POST", f"/reports/{as_id(report_id, 'report_id')}/qc_data", json_body=dict(qc_data))
        )

    def get_qc_data(self, report_id: int | str) -> Any:
        """The report's QC data entries.

        :param report_id: the report's ID.
        """
        return self._get(f"/reports/{as_id(report_id, 'report_id')}/qc_data")

    def _patch(self, path: str, ops: list[dict[str, Any]]) -> Any:
        return self._json(
            self.request(
                "PATCH", path, data=json.dumps(ops), headers={"Content-Type": "application/json-patch+json"}
            )
        )

    def update_report_status(self, report_id: int | str, status: str) -> dict[str, Any]:
        """Move a report to ``status`` (e.g. ``APPROVED``) with a JSON Patch.

        :param report_id: the report's ID.
        :param status: the new status.
        """
        return self._patch(
            f"/reports/{as_id(report_id, 'report_id')}/update_status/",
            [{"op": "replace", "path": "/status", "value": status}],
        )

    # ----------------------------------------------------------------- variants

    @staticmethod
    def _variant_filters(**filters: Any) -> dict[str, Any]:
        return {key: value for key, value in filters.items() if value is not None}

    def get_variants(
        self,
        report_id: int | str,
        *,
        format: str = "JSON",
        status: str | list[str] | None = None,
        to_report: str | list[str] | None = None,
        extended: bool | None = None,
        chrom: str | None = None,
        start_on_chrom: int | None = None,
        end_on_chrom: int | None = None,
        alt: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Any:
        """One page of a report's variants.

        JSON answers are parsed. CSV and VCF answers are returned as a streaming
        ``requests.Response`` that the caller must close (use it as a context
        manager and read ``iter_content``), so large exports never sit in memory.
        Filters travel in the ``X-fg-safe-params`` header.

        :param report_id: the report's ID.
        :param format: ``JSON``, ``CSV`` or ``VCF``.
        :param status: only variants with this review status, or any of these.
        :param to_report: only variants with this reporting category, or any of these.
        :param extended: ask for the extended variant information.
        :param chrom: only variants on this chromosome.
        :param start_on_chrom: only variants starting at or after this position.
        :param end_on_chrom: only variants ending at or before this position.
        :param alt: only variants with this alternate allele.
        :param limit: page size.
        :param offset: index of the page's first variant.
        """
        fmt = format.upper()
        if fmt not in VARIANT_FORMATS:
            raise FabricInputError(f"format must be one of {', '.join(VARIANT_FORMATS)}")
        params = self._variant_filters(
            status=status,
            to_report=to_report,
            extended=extended or None,
            chrom=chrom,
            start_on_chrom=start_on_chrom,
            end_on_chrom=end_on_chrom,
            alt=alt,
            format=fmt,
            limit=limit,
            offset=offset,
        )
        path = f"/reports/{as_id(report_id, 'report_id')}/variants"
        if fmt == "JSON":
            return self._get(path, params)
        return self.request("GET", path, params=params, stream=True)

    def iter_variants(
        self, report_id: int | str, *, page_size: int = 1000, **filters: Any
    ) -> Iterator[dict[str, Any]]:
        """Every variant of a report as JSON objects, following pages to the end.

        :param report_id: the report's ID.
        :param page_size: variants asked for per page.
        :param filters: the filters of :meth:`get_variants` (``status``, ``chrom``...).
        """
        filters.pop("format", None)
        params = {**self._variant_filters(**filters), "format": "JSON"}
        yield from self.paginate(
            f"/reports/{as_id(report_id, 'report_id')}/variants", params, page_size=page_size
        )

    def get_scored_variants(
        self, report_id: int | str, *, scoring_status: str | None = None, audit_log: bool = False
    ) -> Any:
        """A report's scored variants, as the server's JSON document.

        :param report_id: the report's ID.
        :param scoring_status: only variants in this scoring status: ``scored``, ``scoring``
            or ``classified``.
        :param audit_log: include the scoring audit log.
        """
        if scoring_status is not None and scoring_status not in ("scored", "scoring", "classified"):
            raise FabricInputError("scoring_status must be scored, scoring or classified")
        params = {"scoring_status": scoring_status, "audit_log": "true" if audit_log else None}
        return self._get(f"/reports/{as_id(report_id, 'report_id')}/variants/scored", params)

    def update_variant(
        self,
        report_id: int | str,
        report_variant_id: int | str,
        *,
        status: str | None = None,
        to_report: str | None = None,
    ) -> Any:
        """Set a report variant's ``status`` and/or ``to_report`` with a JSON Patch.

        :param report_id: the report's ID.
        :param report_variant_id: the variant's ``report_variant_id`` in that report.
        :param status: the new review status.
        :param to_report: ``PRIMARY_FINDING``, ``SECONDARY_FINDING`` or ``DO_NOT_REPORT``.
        :raises FabricInputError: neither given, or an unknown ``to_report``.
        """
        ops = [
            {"op": "replace", "path": f"/{key}", "value": value}
            for key, value in (("status", status), ("to_report", to_report))
            if value is not None
        ]
        if not ops:
            raise FabricInputError("update_variant needs status or to_report")
        if to_report is not None and to_report not in (
            "PRIMARY_FINDING",
            "SECONDARY_FINDING",
            "DO_NOT_REPORT",
        ):
            raise FabricInputError("to_report must be PRIMARY_FINDING, SECONDARY_FINDING or DO_NOT_REPORT")
        rid = as_id(report_id, "report_id")
        vid = as_id(report_variant_id, "report_variant_id")
        return self._patch(f"/reports/{rid}/variants/{vid}", ops)

    def set_variant_statuses(
        self,
        report_id: int | str,
        file: str | os.PathLike[str] | bytes | BinaryIO,
        *,
        format: str | None = None,
    ) -> Any:
        """Set validation statuses from a VCF of validated variants (e.g. after Sanger confirmation).

        A path or bytes body is resent on transient failures (PUT is idempotent);
        a file object, or a file over 64 MiB, is sent once.

        :param report_id: the report's ID.
        :param file: a path, the file's bytes, or a binary file object.
        :param format: ``vcf``, ``vcf.gz`` or ``vcf.bz2``; from the file name when omitted,
            else ``vcf``.
        """
        name = os.fspath(file) if isinstance(file, str | os.PathLike) else getattr(file, "name", None)
        fmt = format or (genome_format_from_name(str(name)) if name else None) or "vcf"
        if fmt not in GENOME_FORMATS:
            raise FabricInputError(f"format must be one of {', '.join(GENOME_FORMATS)}")
        path = f"/reports/{as_id(report_id, 'report_id')}/variants"
        headers = {"Content-Type": "application/octet-stream"}
        if isinstance(file, str | os.PathLike):
            with open(file, "rb") as handle:
                body = handle.read() if os.path.getsize(file) <= 64 << 20 else None
            if body is None:
                with open(file, "rb") as handle:
                    response = self.request(
                        "PUT", path, params={"format": fmt}, data=handle, headers=headers, retry=False
                    )
                return self._json(response)
            return self._json(self.request("PUT", path, params={"format": fmt}, data=body, headers=headers))
        if isinstance(file, bytes):
            return self._json(self.request("PUT", path, params={"format": fmt}, data=file, headers=headers))
        return self._json(
            self.request("PUT", path, params={"format": fmt}, data=file, headers=headers, retry=False)
        )

    # ----------------------------------------------------------------- PDFs and catalogues

    def get_report_pdf(self, report_id: int | str, *, preview: bool = False) -> requests.Response:
        """The final PDF (approved reports only) or the preview, as a streaming response to close.

        :param report_id: the report's ID.
        :param preview: the preview PDF (processed, not yet approved) instead of the final one.
        :raises FabricRequestError: 422 when that PDF is not available in the report's state.
        """
        kind = "pdf_preview" if preview else "pdf_report"
        return self.request(
            "GET",
            f"/reports/{as_id(report_id, 'report_id')}/{kind}",
            stream=True,
            headers={"Accept": "application/pdf"},
        )

    def list_panels(
        self, *, name: str | None = None, description: str | None = None, test_code: str | None = None
    ) -> list[dict[str, Any]]:
        """Gene panels, optionally filtered (substring matches on the server).

        :param name: only panels whose name contains this.
        :param description: only panels whose description contains this.
        :param test_code: only panels whose test code contains this.
        """
        return list(
            self.paginate("/panels/", {"name": name, "description": description, "test_code": test_code})
        )

    def list_assay_types(self) -> list[dict[str, Any]]:
        """Assay types (they define the QC metrics a report accepts)."""
        return list(self.paginate("/assay_types"))

    def get_assay_type(self, assay_type_id: int | str) -> dict[str, Any]:
        """One assay type, with the QC metrics it defines.

        :param assay_type_id: the assay type's ID.
        """
        return self._get(f"/assay_types/{as_id(assay_type_id, 'assay_type_id')}")

    # ----------------------------------------------------------------- UI

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated GET, for Airflow's Test button and ``airflow connections test``.

        Messages say "this connection": Airflow tests a copy stored under a random temporary ID,
        which would mean nothing to the person who clicked Test.
        """
        try:
            self._get("/projects/", {"limit": 1})
        except Exception as err:  # the UI shows the message; it holds no secret
            named = f"onnection '{self.fabric_conn_id}'"
            return False, str(err).replace(f"C{named}", "This connection").replace(
                f"c{named}", "this connection"
            )
        return True, f"Connected to {self.settings.base_url}: the API key and secret were accepted"

    def report_ui_url(self, report_id: int | str) -> str | None:
        """Link to a report in the Fabric Enterprise web app, when the connection has ``ui_url``.

        :param report_id: the report's ID.
        """
        return f"{self.settings.ui_url}/reports/{report_id}" if self.settings.ui_url else None

    def genome_ui_url(self, genome_id: int | str) -> str | None:
        """Link to a genome in the Fabric Enterprise web app, when the connection has ``ui_url``.

        :param genome_id: the genome's ID.
        """
        return f"{self.settings.ui_url}/genomes/{genome_id}" if self.settings.ui_url else None
