"""Operators that write review results back to a report's variants.

:class:`FabricUpdateVariantOperator` sets ``status`` / ``to_report`` on one
report variant (a JSON Patch); :class:`FabricSetVariantStatusesOperator`
uploads a VCF of externally validated variants (e.g. Sanger-confirmed) so
reviewers see which were confirmed. The usual loop::

    export = FabricExportVariantsOperator(
        task_id="export_reviewed", report_id=report_id, format="vcf", status="REVIEWED",
        destination="s3://lab/{{ ds }}/to_confirm.vcf",
    )
    # ... confirmation outside Fabric writes s3://lab/{{ ds }}/confirmed.vcf ...
    FabricSetVariantStatusesOperator(
        task_id="set_validation", report_id=report_id, source="s3://lab/{{ ds }}/confirmed.vcf",
    )
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from airflow_provider_fabric.api.reports import as_id
from airflow_provider_fabric.links import FabricReportLink
from airflow_provider_fabric.operators.base import FabricBaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

log = logging.getLogger(__name__)

#: Validation VCFs up to this size are read into memory, so a transient failure can resend them.
MAX_IN_MEMORY_BYTES = 64 << 20


class FabricUpdateVariantOperator(FabricBaseOperator):
    """Set the review ``status`` and/or reporting category ``to_report`` of one report variant.

    :param report_id: the clinical report (templated).
    :param report_variant_id: the variant's ``report_variant_id`` in that report (templated).
    :param status: the new review status, e.g. ``REVIEWED`` (templated).
    :param to_report: ``PRIMARY_FINDING``, ``SECONDARY_FINDING`` or ``DO_NOT_REPORT`` (templated).
    :param kwargs: :class:`~airflow_provider_fabric.operators.base.FabricBaseOperator` arguments
        (``fabric_conn_id``) and any ``BaseOperator`` argument.
    :return: ``{"report_id", "report_variant_id", "status", "to_report"}`` as the server now has them.
    """

    template_fields: Sequence[str] = ("report_id", "report_variant_id", "status", "to_report")
    operator_extra_links = (FabricReportLink(),)
    ui_color = "#e8f3d6"

    def __init__(
        self,
        *,
        report_id: int | str,
        report_variant_id: int | str,
        status: str | None = None,
        to_report: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if status is None and to_report is None:
            raise ValueError("FabricUpdateVariantOperator needs status, to_report or both")
        self.report_id = report_id
        self.report_variant_id = report_variant_id
        self.status = status
        self.to_report = to_report

    def execute(self, context: Context) -> dict[str, Any]:
        """Send the JSON Patch and return the variant's new values.

        :param context: the task's execution context.
        """
        report_id = as_id(self.report_id, "report_id")
        variant_id = as_id(self.report_variant_id, "report_variant_id")
        self.push_report_url(context, report_id)
        answer = self.hook.update_variant(
            report_id, variant_id, status=self.status or None, to_report=self.to_report or None
        )
        answer = answer if isinstance(answer, dict) else {}
        result = {
            "report_id": report_id,
            "report_variant_id": answer.get("report_variant_id", variant_id),
            "status": answer.get("status", self.status),
            "to_report": answer.get("to_report", self.to_report),
        }
        log.info(
            "Report %s variant %s: status=%s to_report=%s",
            report_id,
            variant_id,
            result["status"],
            result["to_report"],
        )
        return result


class FabricSetVariantStatusesOperator(FabricBaseOperator):
    """Set validation statuses of many report variants from a VCF of validated variants.

    The VCF is read from any object storage location. It is checked first
    (a VCF, GRCh37, not truncated at the start) so a wrong file is refused
    before anything is sent. Files up to ``max_in_memory_bytes`` are read
    into memory (and resent if the server is briefly unavailable); larger
    ones are streamed from storage in one go, never copied whole to memory.

    :param report_id: the clinical report (templated).
    :param source: the VCF: local path, URL such as ``s3://bucket/key`` or
        ``ObjectStoragePath`` (templated). Plain, gzip or bzip2.
    :param format: ``vcf``, ``vcf.gz`` or ``vcf.bz2``; detected from the content when omitted.
    :param validate: check the VCF before sending it.
    :param max_in_memory_bytes: the largest file read into memory instead of streamed.
    :param kwargs: :class:`~airflow_provider_fabric.operators.base.FabricBaseOperator` arguments
        (``fabric_conn_id``) and any ``BaseOperator`` argument.
    :return: ``{"report_id": int, "format": str, "bytes": int | None, "result": <server answer>}``.
    """

    template_fields: Sequence[str] = ("report_id", "source", "format")
    operator_extra_links = (FabricReportLink(),)
    ui_color = "#e8f3d6"

    def __init__(
        self,
        *,
        report_id: int | str,
        source: Any,
        format: str | None = None,
        validate: bool = True,
        max_in_memory_bytes: int = MAX_IN_MEMORY_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.source = source
        self.format = format
        self.validate = validate
        self.max_in_memory_bytes = max_in_memory_bytes

    def _check(self, fileobj: Any, name: str) -> str:
        """Validate the start of the VCF (when asked) and return its format."""
        from airflow_provider_fabric import vcf

        if self.validate:
            return vcf.inspect_vcf(fileobj, name, max_records=1000).format
        return vcf.detect_format(fileobj.read(64), name)

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the VCF, send it, and return the server's answer.

        :param context: the task's execution context.
        """
        import io

        from airflow_provider_fabric.storage import as_path, display_name, open_source

        report_id = as_id(self.report_id, "report_id")
        self.push_report_url(context, report_id)
        name = display_name(self.source)
        try:
            size: int | None = int(as_path(self.source).stat().st_size)
        except (OSError, AttributeError, TypeError, ValueError):
            size = None
        if size is not None and size <= self.max_in_memory_bytes:
            with open_source(self.source) as handle:
                body = handle.read()
            size = len(body)
            detected = self._check(io.BytesIO(body), name)
            fmt = self.format or detected
            log.info(
                "Setting variant statuses of report %s from %s (%d bytes, %s)", report_id, name, size, fmt
            )
            answer = self.hook.set_variant_statuses(report_id, body, format=fmt)
        else:
            with open_source(self.source) as handle:
                detected = self._check(handle, name)
            fmt = self.format or detected
            log.info(
                "Setting variant statuses of report %s from %s (%s bytes, %s, streamed)",
                report_id,
                name,
                size if size is not None else "unknown",
                fmt,
            )
            with open_source(self.source) as handle:
                answer = self.hook.set_variant_statuses(report_id, cast("BinaryIO", handle), format=fmt)
        if isinstance(answer, dict) and "updated" in answer:
            log.info("Report %s: %s variants updated", report_id, answer["updated"])
        return {"report_id": report_id, "format": fmt, "bytes": size, "result": answer}
