"""Operators that bring data back out of Fabric: variants, scored variants, the report, its PDF.

Every file is written with :func:`~airflow_provider_fabric.storage.atomic_writer`:
under a hidden temporary name beside the destination, moved into place only
once complete, so a reader (a LIMS sync, an archiving DAG) never sees half a
file, and a failed try leaves an older file at the destination untouched.
Destinations are local paths, URLs (``s3://bucket/key``, ``gs://...``) or
:class:`~airflow.sdk.ObjectStoragePath` objects. Bodies are streamed in
bounded memory whatever the export size.

These operators accept Airflow ``outlets`` like any operator, so downstream
DAGs can be scheduled on the files they write::

    from airflow.sdk import Asset

    variants_vcf = Asset("s3://lab-exports/fabric/variants.vcf")

    FabricExportVariantsOperator(
        task_id="export_reviewed_variants",
        report_id="{{ ti.xcom_pull(task_ids='create_report') }}",
        destination="s3://lab-exports/fabric/{{ ds }}/report_{{ params.report_id }}.vcf",
        format="vcf",
        status="REVIEWED",
        outlets=[variants_vcf],
    )

    # another DAG: runs whenever a new export lands
    with DAG("lims_sync", schedule=[variants_vcf]):
        ...

Log lines name files by their base name only and carry IDs, counts and
sizes, never PHI.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any, Protocol

from airflow_provider_fabric.api.reports import as_id
from airflow_provider_fabric.links import FabricReportLink
from airflow_provider_fabric.operators.base import FabricBaseOperator

if TYPE_CHECKING:
    import requests
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_fabric.lineage import Node

log = logging.getLogger(__name__)

#: Bytes read from the network per chunk when streaming an export to its destination.
CHUNK_SIZE = 1 << 20
#: Variants per JSON page when following ``limit``/``offset`` pages.
JSON_PAGE_SIZE = 1000
#: The first bytes of every PDF file.
PDF_MAGIC = b"%PDF-"
#: Export formats of :class:`FabricExportVariantsOperator`.
EXPORT_FORMATS = ("json", "csv", "vcf")
#: Keys whose values are PHI in report JSON (at any depth); kept out of XCom unless asked.
PHI_KEYS = frozenset(
    {
        "patient_dict",
        "patient_fields",
        "accession_id",
        "external_id",
        "external_ids",
        "genome_label",
        "genome_name",
        "label",
        "name",
        "sample_name",
        "sample_names",
        "samples",
        "hpo_terms",
    }
)
#: The report statuses in which the preview PDF exists (processed, not yet approved).
PREVIEW_STATUSES = ("READY TO REVIEW", "COMPLETE")


# --------------------------------------------------------------------------- helpers


class _Writable(Protocol):
    def write(self, chunk: bytes, /) -> int: ...


#: The line break before a blank line (matches are rare, so the scan runs at C speed).
_BLANK = re.compile(rb"\n(?=\r*\n)")
#: The line break before a blank line or a ``#`` line (VCF header and comments).
_BLANK_OR_COMMENT = re.compile(rb"\n(?=\r*[\n#])")


class RecordCounter:
    """Count the data records of a CSV or VCF export while its bytes stream past.

    CSV: records are counted outside double quotes (a quoted field may hold
    line breaks), minus the header row. VCF: every non-blank line that does
    not start with ``#``. Blank lines are never counted. Works on raw UTF-8
    bytes chunk by chunk, holding no more than one chunk.

    :param fmt: ``"csv"`` or ``"vcf"``.
    """

    def __init__(self, fmt: str) -> None:
        if fmt not in ("csv", "vcf"):
            raise ValueError(f"RecordCounter counts csv or vcf, not {fmt!r}")
        self.fmt = fmt
        self._lines = 0  # finished non-blank records (header and comment lines included)
        self._comments = 0  # VCF lines starting with '#'
        self._line_has_data = False
        self._line_is_comment = False
        self._in_quotes = False

    def update(self, chunk: bytes) -> None:
        """Feed the next chunk of the body.

        :param chunk: raw bytes, in order.
        """
        if self.fmt == "csv" and (self._in_quotes or b'"' in chunk):
            self._update_csv(chunk)  # quoted fields may hide line breaks: walk them
            return
        # Everything else is counted in C: a Python step per line would cost more than the download.
        first_break = chunk.find(b"\n")
        if first_break < 0:
            self._text(chunk)
            return
        self._text(chunk[:first_break])
        self._end_line()
        last_break = chunk.rfind(b"\n")
        whole_lines = chunk[first_break : last_break + 1]  # each line here follows a b"\n"
        skipped = _BLANK_OR_COMMENT if self.fmt == "vcf" else _BLANK
        self._lines += whole_lines.count(b"\n") - 1 - len(skipped.findall(whole_lines))
        self._text(chunk[last_break + 1 :])

    def _end_line(self) -> None:
        if self._line_has_data:
            self._lines += 1
            self._comments += self._line_is_comment
        self._line_has_data = self._line_is_comment = False

    def _text(self, piece: bytes) -> None:
        """Account for a piece of one line that holds no line break."""
        if not self._line_has_data and piece.strip(b"\r"):
            self._line_has_data = True
            self._line_is_comment = piece.lstrip(b"\r")[:1] == b"#"

    def _update_csv(self, chunk: bytes) -> None:
        parts = chunk.split(b'"')
        for index, part in enumerate(parts):
            if index:
                self._in_quotes = not self._in_quotes
                self._line_has_data = True  # a quote is content
            if self._in_quotes:
                if part:
                    self._line_has_data = True
                continue
            lines = part.split(b"\n")
            for line in lines[:-1]:
                self._text(line)
                self._end_line()
            self._text(lines[-1])

    def finish(self) -> int:
        """The number of data records seen (end of body reached).

        :return: CSV rows after the header, or VCF data lines.
        """
        self._end_line()
        if self.fmt == "vcf":
            return self._lines - self._comments
        return max(self._lines - 1, 0)


def _stream_body(
    response: requests.Response, handle: _Writable, path: str, counter: RecordCounter | None = None
) -> int:
    """Copy a streaming response body into ``handle``; return the byte count.

    A connection dropped mid-body becomes a :class:`FabricServerError` (the
    caller's atomic writer then deletes the partial file).
    """
    import requests

    from airflow_provider_fabric.exceptions import FabricServerError

    size = 0
    try:
        for chunk in response.iter_content(chunk_size=CHUNK_SIZE):
            if not chunk:
                continue
            if counter is not None:
                counter.update(chunk)
            handle.write(chunk)
            size += len(chunk)
    except requests.RequestException as err:
        raise FabricServerError(
            f"GET {path}: the answer was cut short after {size} bytes ({type(err).__name__}); "
            "nothing was written to the destination",
            method="GET",
            path=path,
        ) from None
    return size


def _rate(size: int, started: float) -> str:
    elapsed = max(time.monotonic() - started, 1e-6)
    return f"{size / elapsed / (1 << 20):.1f} MiB/s"


def _destination(location: Any) -> str:
    from airflow_provider_fabric.storage import as_path

    return str(as_path(location))


def _export_lineage(operator: FabricBaseOperator, namespace: str | None, content: str) -> tuple[list, list]:
    """Input: the report (``reports/{id}``); output: the file written, with its size and records.

    :param operator: the export operator, after (or during) its ``execute()``.
    :param namespace: the Fabric server's namespace, if reached.
    :param content: what the file holds, e.g. ``variants``.
    """
    from airflow_provider_fabric.lineage import FabricFileFacet, file_node, report_node

    facts = operator.lineage_facts
    inputs: list[Node] = []
    if namespace is not None and facts.get("report_id") is not None:
        inputs.append(
            report_node(
                namespace,
                facts["report_id"],
                report_type=facts.get("report_type"),
                status=facts.get("status"),
            )
        )
    destination = getattr(operator, "destination", None)
    if "size" not in facts or destination in (None, ""):
        return inputs, []
    facet = FabricFileFacet(content=content, fileFormat=facts.get("format"))
    return inputs, [file_node(destination, facet, size=facts["size"], rows=facts.get("rows"))]


def redact_phi(value: Any) -> Any:
    """A copy of ``value`` (JSON data) without the keys of :data:`PHI_KEYS`, at any depth.

    :param value: parsed JSON (dicts, lists, scalars).
    :return: the same structure with every PHI-bearing key removed.
    """
    if isinstance(value, dict):
        return {key: redact_phi(item) for key, item in value.items() if key not in PHI_KEYS}
    if isinstance(value, list):
        return [redact_phi(item) for item in value]
    return value


# --------------------------------------------------------------------------- variants


class FabricExportVariantsOperator(FabricBaseOperator):
    """Export a report's variants as JSON, CSV or VCF to a file, streamed, all or nothing.

    JSON exports follow ``limit``/``offset`` pages to the end and write one
    JSON document ``{"objects": [variant, ...]}`` (or, with ``json_lines``,
    one variant object per line), page by page, objects exactly as the server
    sent them; CSV and VCF exports stream the server's text to the file chunk
    by chunk. Records are counted as they pass. The file appears at
    ``destination`` only once complete (see :mod:`~airflow_provider_fabric.operators.exports`).
    Filters travel in the ``X-fg-safe-params`` header, never in the URL.

    Example: the reviewed variants as VCF, for confirmation outside Fabric::

        FabricExportVariantsOperator(
            task_id="export_reviewed",
            report_id="{{ ti.xcom_pull(task_ids='create_report') }}",
            destination="s3://lab/{{ ds }}/report_{{ ti.xcom_pull(task_ids='create_report') }}.vcf",
            format="vcf",
            status="REVIEWED",
            outlets=[Asset("s3://lab/fabric-exports")],
        )

    :param report_id: the clinical report (templated).
    :param destination: where to write: a local path, a URL such as ``s3://bucket/key``,
        or an ``ObjectStoragePath`` (templated).
    :param format: ``"json"`` (default), ``"csv"`` or ``"vcf"``.
    :param status: only variants with this review status, or any of these (templated).
    :param to_report: only variants with this reporting category, or any of these (templated).
    :param extended: ask for the extended variant information.
    :param chrom: only variants on this chromosome (templated).
    :param start_on_chrom: only variants starting at or after this position (templated).
    :param end_on_chrom: only variants ending at or before this position (templated).
    :param alt: only variants with this alternate allele (templated).
    :param json_lines: JSON only: write JSON Lines (one object per line) instead of one document.
    :param page_size: JSON only: variants per page requested from the server.
    :param kwargs: :class:`~airflow_provider_fabric.operators.base.FabricBaseOperator` arguments
        (``fabric_conn_id``) and any ``BaseOperator`` argument, such as ``outlets``.
    :return: ``{"destination": str, "variant_count": int, "format": str, "bytes": int,
        "report_id": int}`` (``format`` is ``"jsonl"`` for JSON Lines).
    """

    template_fields: Sequence[str] = (
        "report_id",
        "destination",
        "status",
        "to_report",
        "chrom",
        "start_on_chrom",
        "end_on_chrom",
        "alt",
    )
    operator_extra_links = (FabricReportLink(),)
    ui_color = "#d6ecf3"

    def __init__(
        self,
        *,
        report_id: int | str,
        destination: Any,
        format: str = "json",
        status: str | list[str] | None = None,
        to_report: str | list[str] | None = None,
        extended: bool = False,
        chrom: str | None = None,
        start_on_chrom: int | str | None = None,
        end_on_chrom: int | str | None = None,
        alt: str | None = None,
        json_lines: bool = False,
        page_size: int = JSON_PAGE_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        fmt = str(format).lower()
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, not {format!r}")
        if json_lines and fmt != "json":
            raise ValueError("json_lines=True only applies to format='json'")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.report_id = report_id
        self.destination = destination
        self.format = fmt
        self.status = status
        self.to_report = to_report
        self.extended = extended
        self.chrom = chrom
        self.start_on_chrom = start_on_chrom
        self.end_on_chrom = end_on_chrom
        self.alt = alt
        self.json_lines = json_lines
        self.page_size = page_size

    def _filters(self) -> dict[str, Any]:
        filters = {
            "status": self.status or None,
            "to_report": self.to_report or None,
            "extended": True if self.extended else None,
            "chrom": self.chrom or None,
            "start_on_chrom": self.start_on_chrom,
            "end_on_chrom": self.end_on_chrom,
            "alt": self.alt or None,
        }
        return {key: value for key, value in filters.items() if value not in (None, "")}

    def execute(self, context: Context) -> dict[str, Any]:
        """Stream the export to ``destination`` and return where it went and how many variants it holds.

        :param context: the task's execution context.
        """
        from airflow_provider_fabric.exceptions import FabricRequestError
        from airflow_provider_fabric.storage import atomic_writer, display_name

        report_id = as_id(self.report_id, "report_id")
        path = f"/reports/{report_id}/variants"
        self.push_report_url(context, report_id)
        self.note_lineage(report_id=report_id)
        name = display_name(self.destination)
        log.info("Exporting variants of report %s as %s to %s", report_id, self.format.upper(), name)
        started = time.monotonic()
        try:
            if self.format == "json":
                with atomic_writer(self.destination) as handle:
                    count, size = self._write_json(report_id, path, handle)
            else:
                counter = RecordCounter(self.format)
                answer = self.hook.get_variants(report_id, format=self.format.upper(), **self._filters())
                with answer, atomic_writer(self.destination) as handle:
                    size = _stream_body(answer, handle, path, counter)
                count = counter.finish()
        except FabricRequestError as err:
            if err.http_status != 422:
                raise
            raise _state_error(
                self.hook,
                report_id,
                err,
                f"Variants of report {report_id} cannot be exported",
                lambda status: "variants exist once the report is processed (READY TO REVIEW or later)",
            ) from None
        log.info(
            "Wrote %d variants (%d bytes, %s) of report %s to %s",
            count,
            size,
            _rate(size, started),
            report_id,
            name,
        )
        fmt = "jsonl" if self.json_lines else self.format
        self.note_lineage(size=size, rows=count, format=fmt)
        return {
            "destination": _destination(self.destination),
            "variant_count": count,
            "format": fmt,
            "bytes": size,
            "report_id": report_id,
        }

    def lineage_nodes(self, namespace: str | None) -> tuple[list[Node], list[Node]]:
        """Input: the report; output: the export file (name hashed by default), bytes and variants.

        :param namespace: the Fabric server's namespace, if reached.
        """
        return _export_lineage(self, namespace, "variants")

    def _write_json(self, report_id: int, path: str, handle: IO[bytes]) -> tuple[int, int]:
        count = size = 0
        if not self.json_lines:
            size += handle.write(b'{"objects": [')
        filters = {**self._filters(), "format": "JSON"}
        for page in self.hook.pages(path, filters, page_size=self.page_size, raw=True):
            if not page:
                continue
            if self.json_lines:
                text = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in page)
            else:
                separator = ",\n" if count else "\n"
                text = separator + ",\n".join(json.dumps(item, ensure_ascii=False) for item in page)
            size += handle.write(text.encode("utf-8"))
            count += len(page)
            log.info("Report %s: %d variants written so far", report_id, count)
        if not self.json_lines:
            size += handle.write(b"\n]}\n" if count else b"]}\n")
        return count, size


class FabricExportScoredVariantsOperator(FabricBaseOperator):
    """Write a report's scored variants (scoring criteria, scoring status, optional audit log) as JSON.

    The file holds the server's JSON document as sent (timestamps untouched).

    :param report_id: the clinical report (templated).
    :param destination: where to write: a local path, URL or ``ObjectStoragePath`` (templated).
    :param scoring_status: only variants in this scoring status, or any of these:
        ``scored``, ``scoring``, ``classified`` (templated).
    :param audit_log: include the scoring audit log.
    :param kwargs: :class:`~airflow_provider_fabric.operators.base.FabricBaseOperator` arguments
        and any ``BaseOperator`` argument, such as ``outlets``.
    :return: ``{"destination": str, "variant_count": int, "format": "json", "bytes": int,
        "report_id": int}``.
    """

    template_fields: Sequence[str] = ("report_id", "destination", "scoring_status")
    operator_extra_links = (FabricReportLink(),)
    ui_color = "#d6ecf3"

    SCORING_STATUSES = ("scored", "scoring", "classified")

    def __init__(
        self,
        *,
        report_id: int | str,
        destination: Any,
        scoring_status: str | list[str] | None = None,
        audit_log: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.destination = destination
        self.scoring_status = scoring_status
        self.audit_log = audit_log

    def execute(self, context: Context) -> dict[str, Any]:
        """Fetch the scored variants and write them to ``destination``.

        :param context: the task's execution context.
        """
        from airflow_provider_fabric.exceptions import FabricInputError
        from airflow_provider_fabric.storage import atomic_writer, display_name

        report_id = as_id(self.report_id, "report_id")
        path = f"/reports/{report_id}/variants"
        wanted = self.scoring_status
        statuses = [wanted] if isinstance(wanted, str) else list(wanted or [])
        statuses = [str(s).strip().lower() for s in statuses if str(s).strip()]
        bad = [s for s in statuses if s not in self.SCORING_STATUSES]
        if bad:
            raise FabricInputError(f"scoring_status must be among {', '.join(self.SCORING_STATUSES)}")
        self.push_report_url(context, report_id)
        self.note_lineage(report_id=report_id)
        params = {"scoring_status": statuses or None, "audit_log": "true" if self.audit_log else None}
        answer = self.hook.get_json(f"{path}/scored", params)
        objects = answer.get("objects") if isinstance(answer, dict) else answer
        count = len(objects) if isinstance(objects, list) else 0
        data = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        with atomic_writer(self.destination) as handle:
            handle.write(data)
        log.info(
            "Wrote %d scored variants (%d bytes%s) of report %s to %s",
            count,
            len(data),
            ", with audit log" if self.audit_log else "",
            report_id,
            display_name(self.destination),
        )
        self.note_lineage(size=len(data), rows=count, format="json")
        return {
            "destination": _destination(self.destination),
            "variant_count": count,
            "format": "json",
            "bytes": len(data),
            "report_id": report_id,
        }

    def lineage_nodes(self, namespace: str | None) -> tuple[list[Node], list[Node]]:
        """Input: the report; output: the scored-variants file, bytes and variants.

        :param namespace: the Fabric server's namespace, if reached.
        """
        return _export_lineage(self, namespace, "scored variants")


# --------------------------------------------------------------------------- report and PDF


class FabricGetClinicalReportOperator(FabricBaseOperator):
    """Fetch the full clinical report, file it as JSON, and/or return it through XCom when small.

    The file (for the LIMS and audits) holds the report exactly as the server
    sent it, PHI included (``patient_dict``, patient fields, accession ID,
    labels, external IDs). The XCom return value leaves the keys of
    :data:`PHI_KEYS` out, at any depth, unless ``include_phi_in_xcom=True``.
    Pushes the report's Fabric Enterprise URL for the "Fabric report" link.

    :param report_id: the clinical report (templated).
    :param destination: where to write the JSON file; ``None`` writes no file (templated).
    :param extended: ask for the extended report (variant information and patient fields).
    :param include_phi_in_xcom: put the PHI-bearing fields in the XCom too. Only for
        deployments whose XCom backend is cleared for PHI.
    :param xcom_max_bytes: the report is returned in XCom only when its JSON (after
        redaction) is at most this size; larger reports return ``"report": None``.
    :param kwargs: :class:`~airflow_provider_fabric.operators.base.FabricBaseOperator` arguments
        and any ``BaseOperator`` argument, such as ``outlets``.
    :return: ``{"report_id": int, "status": str, "destination": str | None, "bytes": int,
        "report": dict | None}``.
    """

    template_fields: Sequence[str] = ("report_id", "destination")
    operator_extra_links = (FabricReportLink(),)
    ui_color = "#d6ecf3"

    def __init__(
        self,
        *,
        report_id: int | str,
        destination: Any = None,
        extended: bool = True,
        include_phi_in_xcom: bool = False,
        xcom_max_bytes: int = 64 * 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.destination = destination
        self.extended = extended
        self.include_phi_in_xcom = include_phi_in_xcom
        self.xcom_max_bytes = xcom_max_bytes

    def execute(self, context: Context) -> dict[str, Any]:
        """Fetch the report, write it, and return the (redacted) report when small.

        :param context: the task's execution context.
        """
        from airflow_provider_fabric.storage import atomic_writer, display_name

        report_id = as_id(self.report_id, "report_id")
        self.push_report_url(context, report_id)
        self.note_lineage(report_id=report_id)
        report = self.hook.get_json(f"/reports/{report_id}", {"extended": True if self.extended else None})
        data = json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8")
        status = report.get("status") if isinstance(report, dict) else None
        if isinstance(report, dict):
            from airflow_provider_fabric.operators.reports import _report_kind

            self.note_lineage(report_type=_report_kind(report) or None, status=status)
        destination = None
        if self.destination not in (None, ""):
            with atomic_writer(self.destination) as handle:
                handle.write(data)
            destination = _destination(self.destination)
            self.note_lineage(size=len(data), format="json")
            log.info(
                "Wrote report %s (status %s, %d bytes) to %s",
                report_id,
                status,
                len(data),
                display_name(self.destination),
            )
        shown = report if self.include_phi_in_xcom else redact_phi(report)
        shown_size = len(json.dumps(shown, ensure_ascii=False))
        if shown_size > self.xcom_max_bytes:
            log.info(
                "Report %s is %d bytes as JSON, over xcom_max_bytes=%d: not returned in XCom",
                report_id,
                shown_size,
                self.xcom_max_bytes,
            )
            shown = None
        return {
            "report_id": report_id,
            "status": status,
            "destination": destination,
            "bytes": len(data),
            "report": shown,
        }

    def lineage_nodes(self, namespace: str | None) -> tuple[list[Node], list[Node]]:
        """Input: the report, with its type and status; output: the JSON file, if one was written.

        :param namespace: the Fabric server's namespace, if reached.
        """
        return _export_lineage(self, namespace, "report")


class FabricExportReportPdfOperator(FabricBaseOperator):
    """Download the report's final PDF (approved reports) or its preview to a file.

    The body is streamed to a temporary name and checked to start with the
    PDF signature (``%PDF-``) before it is moved into place, so nothing but a
    PDF ever lands at ``destination``. When Fabric refuses (HTTP 422) the
    task fails with the report's current status and which PDF, if any, is
    available in that status.

    :param report_id: the clinical report (templated).
    :param destination: where to write the PDF: local path, URL or ``ObjectStoragePath`` (templated).
    :param preview: download the preview (reports processed but not yet approved) instead of
        the final PDF (approved reports only).
    :param kwargs: :class:`~airflow_provider_fabric.operators.base.FabricBaseOperator` arguments
        and any ``BaseOperator`` argument, such as ``outlets``.
    :return: ``{"destination": str, "bytes": int, "preview": bool, "report_id": int}``.
    """

    template_fields: Sequence[str] = ("report_id", "destination")
    operator_extra_links = (FabricReportLink(),)
    ui_color = "#d6ecf3"

    def __init__(
        self, *, report_id: int | str, destination: Any, preview: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.destination = destination
        self.preview = preview

    def execute(self, context: Context) -> dict[str, Any]:
        """Stream the PDF into place, or fail saying why it is not available.

        :param context: the task's execution context.
        """
        from airflow_provider_fabric.exceptions import FabricRequestError
        from airflow_provider_fabric.storage import atomic_writer, display_name

        report_id = as_id(self.report_id, "report_id")
        self.push_report_url(context, report_id)
        self.note_lineage(report_id=report_id)
        kind = "preview PDF" if self.preview else "final PDF"
        path = f"/reports/{report_id}/{'pdf_preview' if self.preview else 'pdf_report'}"
        try:
            answer = self.hook.get_report_pdf(report_id, preview=self.preview)
        except FabricRequestError as err:
            if err.http_status != 422:
                raise
            which = "preview" if self.preview else "final PDF"
            raise _state_error(
                self.hook, report_id, err, f"Report {report_id} has no {which} to download", _pdf_advice
            ) from None
        started = time.monotonic()
        with answer, atomic_writer(self.destination) as handle:
            checked = _PdfCheck(handle, path)
            size = _stream_body(answer, checked, path)
            checked.close_check()
        log.info(
            "Wrote the %s of report %s (%d bytes, %s) to %s",
            kind,
            report_id,
            size,
            _rate(size, started),
            display_name(self.destination),
        )
        self.note_lineage(size=size, format="pdf")
        return {
            "destination": _destination(self.destination),
            "bytes": size,
            "preview": self.preview,
            "report_id": report_id,
        }

    def lineage_nodes(self, namespace: str | None) -> tuple[list[Node], list[Node]]:
        """Input: the report; output: the PDF file and its size.

        :param namespace: the Fabric server's namespace, if reached.
        """
        return _export_lineage(self, namespace, "preview PDF" if self.preview else "final PDF")


def _pdf_advice(status: str | None) -> str:
    """Which PDF exists for a report in ``status``."""
    if status == "APPROVED":
        return "the final PDF is available (preview=False); a preview exists only before approval"
    if status in PREVIEW_STATUSES:
        return "only the preview PDF is available (preview=True) until the report is APPROVED"
    if status == "FAILED":
        return "no PDF is available for a failed report"
    if status:
        return (
            "no PDF is available yet: the preview appears once it is processed (READY TO REVIEW) "
            "and the final PDF once it is APPROVED"
        )
    return "the final PDF exists only for APPROVED reports, the preview only before approval"


def _state_error(
    hook: Any, report_id: int, err: Any, what: str, advice: Callable[[str | None], str]
) -> Exception:
    """The error for a 422 (wrong report state): the report's current status and what to do.

    :param hook: the operator's hook, to read the report's status.
    :param report_id: the report.
    :param err: the :class:`FabricRequestError` of the refused request.
    :param what: what could not be done, first words of the message.
    :param advice: gives, for the current status (``None`` when unknown), what is available.
    """
    from airflow_provider_fabric.api.statuses import normalize_status
    from airflow_provider_fabric.exceptions import FabricError, FabricRequestError

    status: str | None
    try:
        status = normalize_status(hook.get_report(report_id).get("status")) or None
    except FabricError as lookup:
        log.warning("Could not read the status of report %s: %s", report_id, lookup)
        status = None
    state = f"the report is {status}" if status else "the report's status could not be read"
    detail = f" Server said: {err.description}" if err.description else ""
    return FabricRequestError(
        f"{what} (HTTP 422): {state}; {advice(status)}.{detail}",
        http_status=422,
        description=err.description,
        method=err.method,
        path=err.path,
    )


class _PdfCheck:
    """A write-through wrapper that refuses a body not starting with ``%PDF-``."""

    def __init__(self, handle: IO[bytes], path: str) -> None:
        self._handle = handle
        self._path = path
        self._head = b""
        self._checked = False

    def write(self, chunk: bytes) -> int:
        if not self._checked:
            self._head += chunk[: len(PDF_MAGIC)]
            if len(self._head) >= len(PDF_MAGIC):
                self._verify()
        return self._handle.write(chunk)

    def _verify(self) -> None:
        from airflow_provider_fabric.exceptions import FabricApiError

        self._checked = True
        if not self._head.startswith(PDF_MAGIC):
            raise FabricApiError(
                f"GET {self._path}: the answer is not a PDF (it does not start with %PDF-); "
                "nothing was written to the destination",
                http_status=200,
                method="GET",
                path=self._path,
            )

    def close_check(self) -> None:
        if not self._checked:
            self._verify()
