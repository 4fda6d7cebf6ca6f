"""Operators that write review results back to a report's variants.

:class:`FabricUpdateVariantOperator` sets ``status`` / ``to_report`` on one
report variant (a JSON Patch); :class:`FabricSetVariantStatusesOperator`
uploads a VCF of externally validated variants (e.g. Sanger-confirmed) so
reviewers see which were confirmed. The usual loop::

    export = FabricExportVariantsOperator(
        task_id="export_reviewed", report_id=report_id, format="vcf", status="REVIEWED",
        destination="s3://lab/{{ ds }}/to_confirm.vcf",
    )
    # ... confirmation outside Fabric writes s3://lab/{{ ds }}/confirmed.vcf, each record's
    # result (CONFIRMED or FAIL) in its FILTER column ...
    FabricSetVariantStatusesOperator(
        task_id="set_validation", report_id=report_id, source="s3://lab/{{ ds }}/confirmed.vcf",
    )

Only what the API documents is used: variants are told apart by chromosome,
position, ref and alt, their IDs (``id``) and statuses come from the JSON
export, and the bulk file carries each status in FILTER, as the vendor's
``set_report_variants.py`` example sends it. Both operators compare first
(nothing is sent when Fabric already shows what is asked, so re-runs change
nothing) and read the variants back afterwards, failing with
:class:`~airflow_provider_fabric.exceptions.FabricVerificationError` when the
change did not take effect.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from airflow_provider_fabric.api.reports import as_id
from airflow_provider_fabric.links import FabricReportLink
from airflow_provider_fabric.operators.base import FabricBaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.lineage import Node

log = logging.getLogger(__name__)

#: Validation VCFs up to this size are read into memory, so a transient failure can resend them.
MAX_IN_MEMORY_BYTES = 64 << 20
#: FILTER value of a bulk status VCF -> the ``status`` values the JSON export may show once it took
#: effect. The vendor's example clients filter variants on ``CONFIRMED`` and ``FAILED_CONFIRMATION``.
BULK_STATUSES: dict[str, tuple[str, ...]] = {
    "CONFIRMED": ("CONFIRMED",),
    "FAIL": ("FAIL", "FAILED_CONFIRMATION"),
}
#: Up to this many variants are looked up one location at a time; more are matched in one pass
#: over the report's JSON export.
MAX_LOCATION_LOOKUPS = 50

#: ``(chromosome without "chr", position, ref, alt)``: how the API tells variants apart.
VariantKey = tuple[str, int, str, str]
_FILTER_HEADER = re.compile(r"##FILTER=<ID=([^,>]+)")


def variant_key(chrom: Any, pos: Any, ref: Any, alt: Any) -> VariantKey:
    """The key a VCF record or a JSON variant is matched on (``chr7`` and ``7`` alike).

    :param chrom: the chromosome.
    :param pos: the 1-based position (VCF ``POS``, JSON ``start_on_chrom``).
    :param ref: the reference allele.
    :param alt: the alternate allele.
    """
    chrom_text = str(chrom).strip().upper()
    return chrom_text.removeprefix("CHR"), int(pos), str(ref).strip().upper(), str(alt).strip().upper()


def _json_key(variant: Mapping[str, Any]) -> VariantKey | None:
    try:
        return variant_key(variant["chrom"], variant["start_on_chrom"], variant["ref"], variant["alt"])
    except (KeyError, TypeError, ValueError):
        return None


def find_variants(hook: FabricHook, report_id: int, keys: Collection[VariantKey]) -> dict[VariantKey, Any]:
    """The report's variants at these locations, as its JSON export shows them.

    A few are looked up by location (``chrom``, ``start_on_chrom``, ``end_on_chrom``
    filters); more than :data:`MAX_LOCATION_LOOKUPS` are matched in one pass over the export.

    :param hook: the hook to ask with.
    :param report_id: the report.
    :param keys: the variants wanted.
    :return: ``key -> variant`` for each key found (missing keys are not in the report).
    """
    wanted = set(keys)
    variants: Iterable[dict[str, Any]]
    if len(wanted) <= MAX_LOCATION_LOOKUPS:
        variants = chain.from_iterable(
            hook.iter_variants(
                report_id, chrom=chrom, start_on_chrom=pos, end_on_chrom=pos + max(len(ref), 1) - 1
            )
            for chrom, pos, ref, _ in sorted(wanted)
        )
    else:
        variants = hook.iter_variants(report_id)
    found: dict[VariantKey, Any] = {}
    for variant in variants:
        key = _json_key(variant)
        if key in wanted:
            found[cast("VariantKey", key)] = variant
    return found


def _not_showing(wanted: Mapping[VariantKey, str], shown: Mapping[VariantKey, Any]) -> dict[VariantKey, str]:
    """The wanted ``key -> status`` whose variant does not show that status (or was not found)."""
    return {
        key: status
        for key, status in wanted.items()
        if str((shown.get(key) or {}).get("status") or "").strip().upper() not in BULK_STATUSES[status]
    }


def read_bulk_statuses(fileobj: BinaryIO, fmt: str) -> dict[VariantKey, str]:
    """Each record's validation result, from its FILTER column, as the vendor's example sends it.

    :param fileobj: the VCF, opened in binary mode (not closed).
    :param fmt: ``vcf``, ``vcf.gz`` or ``vcf.bz2``.
    :return: ``variant key -> CONFIRMED or FAIL``.
    :raises FabricInputError: no records; a record whose FILTER is not ``CONFIRMED`` or ``FAIL``
        (``PASS``, ``.``...); a status not declared in a ``##FILTER`` header line.
    """
    from airflow_provider_fabric import vcf
    from airflow_provider_fabric.exceptions import FabricInputError

    declared: set[str] = set()
    wanted: dict[VariantKey, str] = {}
    bad: list[tuple[int, str]] = []
    count = 0
    with vcf.open_vcf_text(fileobj, fmt) as text:
        line = text.readline().lstrip("\ufeff")
        while line.startswith("##"):
            match = _FILTER_HEADER.match(line)
            if match:
                declared.add(match.group(1))
            line = text.readline()
        if not line.startswith("#CHROM"):
            raise FabricInputError("the status VCF has no #CHROM header line: nothing was sent")
        for count, record in enumerate(vcf.iter_records(text), start=1):
            if record.filter in BULK_STATUSES:
                wanted[variant_key(record.chrom, record.pos, record.ref, record.alt)] = record.filter
            else:
                bad.append((count, record.filter))
    settable = " or ".join(BULK_STATUSES)
    if not count:
        raise FabricInputError("the status VCF holds no variant records: nothing was sent")
    if bad:
        number, value = bad[0]
        share = f"none of the {count}" if len(bad) == count else f"{len(bad)} of the {count}"
        raise FabricInputError(
            f"{share} records of the status VCF carry a status Fabric sets in FILTER ({settable}; "
            f"first: record {number}, FILTER {value[:40]!r}): nothing was sent. Put each variant's "
            "confirmation result in its FILTER column, as the vendor's set_report_variants.py example does"
        )
    undeclared = sorted(set(wanted.values()) - declared)
    if undeclared:
        raise FabricInputError(
            f"the status VCF uses FILTER {', '.join(undeclared)} without a ##FILTER header line for it "
            '(e.g. ##FILTER=<ID=CONFIRMED,Description="Passed external confirmation">): nothing was sent'
        )
    return wanted


def _location(value: Any) -> VariantKey | None:
    """A ``variant`` argument (``{"chrom", "pos", "ref", "alt"}``, maybe rendered as text) as a key."""
    from airflow_provider_fabric.exceptions import FabricInputError
    from airflow_provider_fabric.operators.reports import _parse_structured

    location = _parse_structured(value, "variant")
    if location is None:
        return None
    try:
        pos = location.get("pos", location.get("start_on_chrom"))
        return variant_key(location["chrom"], pos, location["ref"], location["alt"])
    except (AttributeError, KeyError, TypeError, ValueError):
        raise FabricInputError(
            "variant must be a dict with chrom, pos (or start_on_chrom), ref and alt"
        ) from None


class FabricUpdateVariantOperator(FabricBaseOperator):
    """Set the review ``status`` and/or reporting category ``to_report`` of one report variant.

    The variant is named by its ID in the report (``report_variant_id``, the JSON export's
    ``id``), or by its location (``variant``: chromosome, position, ref, alt), or both
    (they must agree). Its current values are read from the report's JSON export first:
    when they already are as asked nothing is sent (a re-run changes nothing). After the
    JSON Patch the variant is read back; values that did not take effect fail the task
    with :class:`~airflow_provider_fabric.exceptions.FabricVerificationError`.

    :param report_id: the clinical report (templated).
    :param report_variant_id: the variant's ID in that report (templated).
    :param variant: the variant's location, ``{"chrom", "pos", "ref", "alt"}`` (templated).
    :param status: the new review status, e.g. ``REVIEWED`` (templated).
    :param to_report: ``PRIMARY_FINDING``, ``SECONDARY_FINDING`` or ``DO_NOT_REPORT`` (templated).
    :param kwargs: :class:`~airflow_provider_fabric.operators.base.FabricBaseOperator` arguments
        (``fabric_conn_id``) and any ``BaseOperator`` argument.
    :return: ``{"report_id", "report_variant_id", "status", "to_report", "changed"}`` as the
        server now has them (``changed``: whether a patch was sent).
    """

    template_fields: Sequence[str] = ("report_id", "report_variant_id", "variant", "status", "to_report")
    operator_extra_links = (FabricReportLink(),)
    ui_color = "#e8f3d6"

    def __init__(
        self,
        *,
        report_id: int | str,
        report_variant_id: int | str | None = None,
        variant: Any = None,
        status: str | None = None,
        to_report: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if status is None and to_report is None:
            raise ValueError("FabricUpdateVariantOperator needs status, to_report or both")
        if report_variant_id is None and variant is None:
            raise ValueError("FabricUpdateVariantOperator needs report_variant_id, variant or both")
        self.report_id = report_id
        self.report_variant_id = report_variant_id
        self.variant = variant
        self.status = status
        self.to_report = to_report

    def _current(self, report_id: int, variant_id: int | None, location: VariantKey | None) -> Any:
        """The variant as the JSON export shows it now."""
        from airflow_provider_fabric.exceptions import FabricInputError

        if location is not None:
            found = find_variants(self.hook, report_id, [location]).get(location)
            if found is None:
                raise FabricInputError(f"report {report_id} has no variant at the given chrom, pos, ref, alt")
            if variant_id is not None and as_id(found.get("id"), "id") != variant_id:
                raise FabricInputError(
                    f"report {report_id}: variant {variant_id} is not the variant at the given location "
                    f"(that is variant {found.get('id')})"
                )
            return found
        for found in self.hook.iter_variants(report_id):
            if str(found.get("id")) == str(variant_id):
                return found
        raise FabricInputError(f"report {report_id} has no variant {variant_id}")

    def execute(self, context: Context) -> dict[str, Any]:
        """Compare, send the JSON Patch if needed, read the variant back.

        :param context: the task's execution context.
        """
        from airflow_provider_fabric.exceptions import FabricVerificationError

        report_id = as_id(self.report_id, "report_id")
        variant_id = as_id(self.report_variant_id, "report_variant_id", optional=True)
        self.push_report_url(context, report_id)
        self.note_lineage(report_id=report_id)
        current = self._current(report_id, variant_id, _location(self.variant))
        variant_id = as_id(current.get("id"), "id")
        wanted = {
            key: str(value).strip().upper()
            for key, value in (("status", self.status), ("to_report", self.to_report))
            if value not in (None, "")
        }
        changed = any(str(current.get(key) or "").upper() != value for key, value in wanted.items())
        if changed:
            self.hook.update_variant(
                report_id, variant_id, status=wanted.get("status"), to_report=wanted.get("to_report")
            )
            key = _json_key(current)
            current = find_variants(self.hook, report_id, [key]).get(key) if key else None
            current = current or {}
            differ = {k: current.get(k) for k, v in wanted.items() if str(current.get(k) or "").upper() != v}
            if differ:
                shown = ", ".join(f"{k} is {v!r}, not {wanted[k]!r}" for k, v in differ.items())
                raise FabricVerificationError(
                    f"Report {report_id} variant {variant_id}: the update did not take effect ({shown})"
                )
        log.info(
            "Report %s variant %s: status=%s to_report=%s (%s)",
            report_id,
            variant_id,
            current.get("status"),
            current.get("to_report"),
            "updated and read back" if changed else "already so: nothing sent",
        )
        return {
            "report_id": report_id,
            "report_variant_id": variant_id,
            "status": current.get("status"),
            "to_report": current.get("to_report"),
            "changed": changed,
        }

    def lineage_nodes(self, namespace: str | None) -> tuple[list[Node], list[Node]]:
        """Output: the report whose variant now has the status asked for.

        :param namespace: the Fabric server's namespace, if reached.
        """
        from airflow_provider_fabric.operators.reports import report_lineage

        return report_lineage(namespace, self.lineage_facts)


class FabricSetVariantStatusesOperator(FabricBaseOperator):
    """Set validation statuses of many report variants from a VCF of validated variants.

    The VCF is the vendor's bulk status format: each record's FILTER column is its
    validation result, ``CONFIRMED`` or ``FAIL``, declared in a ``##FILTER`` header line;
    records are matched to the report's variants by chromosome, position, ref and alt.

    Before anything is sent the file is checked (a VCF, GRCh37, not truncated at the
    start; every record's FILTER a status Fabric sets — a file of ``PASS`` records is
    refused) and its variants are looked up in the report's JSON export: every one must
    be a variant of the report, and when all already show their status nothing is sent
    (a re-run changes nothing). After the upload the variants are read back, and any that
    do not show the status sent fail the task with
    :class:`~airflow_provider_fabric.exceptions.FabricVerificationError` (with counts).

    Files up to ``max_in_memory_bytes`` are read into memory (and resent if the server is
    briefly unavailable); larger ones are streamed from storage in one go, never copied
    whole to memory.

    :param report_id: the clinical report (templated).
    :param source: the VCF: local path, URL such as ``s3://bucket/key`` or
        ``ObjectStoragePath`` (templated). Plain, gzip or bzip2.
    :param format: ``vcf``, ``vcf.gz`` or ``vcf.bz2``; detected from the content when omitted.
    :param validate: check the VCF's header and build before sending it.
    :param max_in_memory_bytes: the largest file read into memory instead of streamed.
    :param kwargs: :class:`~airflow_provider_fabric.operators.base.FabricBaseOperator` arguments
        (``fabric_conn_id``) and any ``BaseOperator`` argument.
    :return: ``{"report_id", "format", "bytes", "variants", "statuses", "changed", "result"}``:
        variants in the file, their count per status, how many had to change, and the
        server's answer (``None`` when nothing was sent).
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
        """Check the VCF, compare with Fabric, send it if needed, read the statuses back.

        :param context: the task's execution context.
        """
        import io
        from contextlib import AbstractContextManager

        from airflow_provider_fabric.exceptions import FabricInputError, FabricVerificationError
        from airflow_provider_fabric.storage import as_path, display_name, open_source

        report_id = as_id(self.report_id, "report_id")
        self.push_report_url(context, report_id)
        self.note_lineage(report_id=report_id)
        name = display_name(self.source)
        try:
            size: int | None = int(as_path(self.source).stat().st_size)
        except (OSError, AttributeError, TypeError, ValueError):
            size = None
        body: bytes | None = None
        if size is not None and size <= self.max_in_memory_bytes:
            with open_source(self.source) as handle:
                body = handle.read()
            size = len(body)

        def reopen() -> AbstractContextManager[Any]:
            return io.BytesIO(body) if body is not None else open_source(self.source)

        with reopen() as handle:
            fmt = self.format or self._check(handle, name)
        with reopen() as handle:
            wanted = read_bulk_statuses(handle, fmt)
        statuses = dict(Counter(wanted.values()))
        self.note_lineage(size=size, rows=len(wanted), format=fmt)
        shown = find_variants(self.hook, report_id, wanted)
        unknown = len(wanted) - len(shown)
        if unknown:
            raise FabricInputError(
                f"{unknown} of the {len(wanted)} variants in the status VCF are not variants of report "
                f"{report_id} (matched on CHROM, POS, REF and ALT with its JSON export): nothing was sent"
            )
        pending = _not_showing(wanted, shown)
        result = {"report_id": report_id, "format": fmt, "bytes": size, "variants": len(wanted)}
        result.update(statuses=statuses, changed=len(pending), result=None)
        if not pending:
            log.info(
                "Report %s: all %d variants of %s already show their status (%s): nothing sent",
                report_id,
                len(wanted),
                name,
                _counts(statuses),
            )
            return result
        log.info(
            "Setting the statuses of report %s from %s (%s bytes, %s): %d of %d variants to change",
            report_id,
            name,
            size if size is not None else "unknown",
            fmt if body is not None else f"{fmt}, streamed",
            len(pending),
            len(wanted),
        )
        if body is not None:
            answer = self.hook.set_variant_statuses(report_id, body, format=fmt)
        else:
            with open_source(self.source) as handle:
                answer = self.hook.set_variant_statuses(report_id, cast("BinaryIO", handle), format=fmt)
        missing = _not_showing(wanted, find_variants(self.hook, report_id, wanted))
        if missing:
            failed = Counter(missing.values())
            detail = ", ".join(f"{status}: {failed[status]} of {count}" for status, count in statuses.items())
            raise FabricVerificationError(
                f"Report {report_id}: Fabric accepted the status VCF, but {len(missing)} of the "
                f"{len(wanted)} variants sent do not show their new status when read back ({detail})"
            )
        log.info("Report %s: %d variants now show %s (read back)", report_id, len(wanted), _counts(statuses))
        result["result"] = answer
        return result

    def lineage_nodes(self, namespace: str | None) -> tuple[list[Node], list[Node]]:
        """Input: the status VCF (name hashed by default), its size and variants; output: the report.

        :param namespace: the Fabric server's namespace, if reached.
        """
        from airflow_provider_fabric.lineage import FabricFileFacet, file_node
        from airflow_provider_fabric.operators.reports import report_lineage

        facts = self.lineage_facts
        facet = FabricFileFacet(content="variant statuses", fileFormat=facts.get("format"))
        status_vcf = file_node(self.source, facet, size=facts.get("size"), rows=facts.get("rows"))
        _, outputs = report_lineage(namespace, facts)
        return [status_vcf], outputs


def _counts(statuses: Mapping[str, int]) -> str:
    return ", ".join(f"{count} {status}" for status, count in statuses.items())
