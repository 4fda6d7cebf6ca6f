"""Operators for Fabric Genomics clinical reports: create, attach genomes, patient fields, QC, status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_fabric.api.reports import as_id
from airflow_provider_fabric.links import FabricReportLink
from airflow_provider_fabric.operators.base import FabricBaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Largest patient-field or QC-data file read from object storage (these are small key/value files).
MAX_FIELDS_FILE_BYTES = 1 << 20


def _parse_structured(value: Any, what: str) -> Any:
    """A rendered template gives text: read it as JSON, or as a Python literal (``str()`` of a list/dict)."""
    import ast
    import json

    from airflow_provider_fabric.exceptions import FabricInputError

    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise FabricInputError(
            f"{what} must be JSON (or a rendered list/dict), and could not be read"
        ) from None


def _family(value: Any) -> list[Mapping[str, Any]]:
    from airflow_provider_fabric.exceptions import FabricInputError

    members = _parse_structured(value, "family")
    if members is None:
        return []
    if isinstance(members, Mapping) or not isinstance(members, Sequence) or isinstance(members, str):
        raise FabricInputError("family must be a list of member objects (genome_id, sex, relationship...)")
    for position, member in enumerate(members, start=1):
        if not isinstance(member, Mapping):
            raise FabricInputError(
                f"family member {position} must be an object, got a {type(member).__name__}"
            )
    return list(members)


def _hpo_terms(value: Any) -> list[str] | None:
    from airflow_provider_fabric.exceptions import FabricInputError

    if isinstance(value, str) and not value.strip().startswith("["):
        return [term.strip() for term in value.split(",") if term.strip()]
    terms = _parse_structured(value, "hpo_terms")
    if terms is None:
        return None
    if isinstance(terms, str) or not isinstance(terms, Sequence):
        raise FabricInputError("hpo_terms must be a list of HPO term IDs (or a comma-separated string)")
    return [str(term).strip() for term in terms]


def _text_or_none(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value)


def _report_kind(report: Mapping[str, Any]) -> str:
    return str(report.get("report_type") or report.get("test_type") or "")


class FabricCreateClinicalReportOperator(FabricBaseOperator):
    """Create a panel or family clinical report; returns the report ID.

    Every argument is checked before anything is sent (via
    :mod:`airflow_provider_fabric.api.reports`): the family size must match
    the report type (Solo 0, Duo 1, Trio 2, Quad 3, Quintet 4 relatives),
    sexes are ``m``/``f`` (mothers ``f``, fathers ``m``), relationships are
    ``mother``, ``father``, ``sibling`` or ``other``, and genome, panel,
    filter and project IDs are integers (digits rendered by a template, such
    as ``"{{ ti.xcom_pull('upload') }}"``, are accepted). ``family`` may be a
    list of dicts whose values are templates, or one template rendering to a
    list (JSON text, or a native list with ``render_template_as_native_obj=True``).

    **Idempotency under Airflow retries.** With an ``accession_id``, the
    operator first lists the reports whose accession contains it (the
    server matches substrings) and reuses the oldest one whose
    ``accession_id`` is *exactly* equal, instead of creating another report;
    an exact match of another report type fails the task. Without an
    ``accession_id`` there is nothing to match on, and a retry after a lost
    answer creates a second report.

    The report's Fabric Enterprise URL is pushed under ``fabric_report_url``
    when the connection has ``ui_url`` (the "Fabric report" extra link).
    The accession ID is PHI: it is never logged, and once rendered it and the
    family members' labels are masked (``***``) in Airflow's "Rendered
    Template" view and in any log line.

    :param report_type: ``panel``, or a family type: ``Solo``, ``Duo``, ``Trio``, ``Quad``,
        ``Quintet`` (templated).
    :param project_id: the report's project; required when no proband genome is given (templated).
    :param proband_genome_id: the proband's genome, or ``None`` to attach it later (templated).
    :param panel_id: the gene panel of a panel report (templated).
    :param filter_id: an optional variant filter of a panel report (templated).
    :param accession_id: the lab's accession number (templated; PHI, never logged); makes retries
        reuse the first try's report.
    :param proband_sex: ``m`` or ``f`` (or ``male``/``female``); required for family reports (templated).
    :param family: the relatives of a family report, in order: dicts with ``genome_id``, ``sex``,
        ``affected``, ``relationship`` and ``label`` (templated).
    :param score_indels: score indels in VAAST (family reports).
    :param hpo_terms: HPO term IDs describing the phenotype, a list or a comma-separated
        string (templated; family reports).
    :param background: the VAAST background (family reports).
    :param fabric_conn_id: the ``fabric_genomics`` connection to use.
    :param kwargs: any other :class:`~airflow.models.BaseOperator` argument.
    """

    template_fields: Sequence[str] = (
        "report_type",
        "project_id",
        "proband_genome_id",
        "panel_id",
        "filter_id",
        "accession_id",
        "proband_sex",
        "family",
        "hpo_terms",
    )
    phi_fields: Sequence[str] = ("accession_id", "family.label")
    operator_extra_links = (FabricReportLink(),)

    def __init__(
        self,
        *,
        report_type: str = "panel",
        project_id: int | str | None = None,
        proband_genome_id: int | str | None = None,
        panel_id: int | str | None = None,
        filter_id: int | str | None = None,
        accession_id: str | None = None,
        proband_sex: str | None = None,
        family: Any = None,
        score_indels: bool = False,
        hpo_terms: Any = None,
        background: str = "FULL",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_type = report_type
        self.project_id = project_id
        self.proband_genome_id = proband_genome_id
        self.panel_id = panel_id
        self.filter_id = filter_id
        self.accession_id = accession_id
        self.proband_sex = proband_sex
        self.family = family
        self.score_indels = score_indels
        self.hpo_terms = hpo_terms
        self.background = background

    def build_payload(self) -> dict[str, Any]:
        """The checked creation body (nothing is sent).

        :return: the JSON body of ``POST /reports/``.
        :raises FabricInputError: on any invalid argument.
        """
        from airflow_provider_fabric.api.reports import family_report_payload, panel_report_payload
        from airflow_provider_fabric.exceptions import FabricInputError

        report_type = str(self.report_type or "").strip()
        accession = _text_or_none(self.accession_id)
        family = _family(self.family)
        if report_type.lower() == "panel":
            if family:
                raise FabricInputError("a panel report has no family members; use a family report type")
            if self.panel_id in (None, ""):
                raise FabricInputError("panel_id is required for a panel report")
            return panel_report_payload(
                panel_id=self.panel_id,
                accession_id=accession,
                proband_genome_id=self.proband_genome_id,
                filter_id=self.filter_id if self.filter_id != "" else None,
                project_id=self.project_id,
            )
        if self.filter_id not in (None, ""):
            raise FabricInputError(
                "filter_id applies to panel reports at creation; set a family report's filter with "
                "FabricUpdateClinicalReportOperator"
            )
        if self.panel_id not in (None, ""):
            raise FabricInputError("panel_id applies to panel reports only")
        if _text_or_none(self.proband_sex) is None:
            raise FabricInputError("proband_sex is required for a family report")
        return family_report_payload(
            report_type=report_type,
            proband_genome_id=self.proband_genome_id,
            proband_sex=str(self.proband_sex),
            family=family,
            accession_id=accession,
            project_id=self.project_id,
            score_indels=bool(self.score_indels),
            hpo_terms=_hpo_terms(self.hpo_terms),
            background=self.background,
        )

    def execute(self, context: Context) -> int:
        """Check the arguments, reuse the report of this exact accession or create one.

        :param context: the task's execution context.
        :return: the report's ID.
        """
        payload = self.build_payload()
        wanted_type = payload["report_type"]
        accession = payload.get("accession_id")
        if accession:
            reused = self._find_by_accession(accession, wanted_type, payload)
            if reused is not None:
                self.push_report_url(context, reused)
                return reused
        else:
            self.log.info("No accession_id: nothing to find an earlier try's report by; creating one")
        answer = self.hook.create_report(payload)
        report_id = as_id(answer.get("id"), "report id in the creation answer")
        self.log.info("Created %s report %s (status %s)", wanted_type, report_id, answer.get("status"))
        self.push_report_url(context, report_id)
        return report_id

    def _find_by_accession(self, accession: str, wanted_type: str, payload: Mapping[str, Any]) -> int | None:
        from airflow_provider_fabric.exceptions import FabricInputError

        exact = sorted(
            (r for r in self.hook.list_reports(accession_id=accession) if r.get("accession_id") == accession),
            key=lambda r: int(r.get("id") or 0),
        )
        if not exact:
            return None
        report = exact[0]
        report_id = as_id(report.get("id"), "report id")
        kind = _report_kind(report)
        if kind.lower() != wanted_type.lower():
            raise FabricInputError(
                f"report {report_id} already has this accession_id but is a {kind or 'different'} report, "
                f"not {wanted_type}"
            )
        if len(exact) > 1:
            self.log.warning("%d reports have exactly this accession_id; reusing the oldest", len(exact))
        wanted_genome = payload.get("proband_genome_id") or (payload.get("proband") or {}).get("genome_id")
        found_genome = report.get("proband_genome_id", report.get("genome_id"))
        if wanted_genome and found_genome and int(found_genome) != int(wanted_genome):
            self.log.warning(
                "Report %s has proband genome %s, not %s: reused as is (attach genomes with "
                "FabricUpdateClinicalReportOperator)",
                report_id,
                found_genome,
                wanted_genome,
            )
        self.log.info(
            "Reusing %s report %s (exact accession_id match, status %s)",
            kind,
            report_id,
            report.get("status"),
        )
        return report_id


class FabricUpdateClinicalReportOperator(FabricBaseOperator):
    """Attach genomes (and set or clear the variant filter) of an existing clinical report.

    The report is read first to learn its type. A panel report takes
    ``proband_genome_id``; a family report takes ``proband_genome_id`` with
    ``proband_sex`` and/or ``family`` (relatives in order, sent as
    ``family_1``...; each checked like at creation). Genomes can only change
    while the report has not been processed. Repeating the same update is
    harmless, so retries are safe. Returns the report ID and pushes its URL.

    :param report_id: the report to update (templated).
    :param proband_genome_id: the proband's genome to attach (templated).
    :param proband_sex: the proband's sex, ``m`` or ``f``; required with ``proband_genome_id``
        for a family report (templated).
    :param family: relatives to attach, as for :class:`FabricCreateClinicalReportOperator` (templated).
    :param filter_id: a variant filter to set (templated).
    :param clear_filter: remove the report's filter (sends ``filter_id: null``).
    :param fabric_conn_id: the ``fabric_genomics`` connection to use.
    :param kwargs: any other :class:`~airflow.models.BaseOperator` argument.
    """

    template_fields: Sequence[str] = ("report_id", "proband_genome_id", "proband_sex", "family", "filter_id")
    phi_fields: Sequence[str] = ("family.label",)
    operator_extra_links = (FabricReportLink(),)

    def __init__(
        self,
        *,
        report_id: int | str,
        proband_genome_id: int | str | None = None,
        proband_sex: str | None = None,
        family: Any = None,
        filter_id: int | str | None = None,
        clear_filter: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.proband_genome_id = proband_genome_id
        self.proband_sex = proband_sex
        self.family = family
        self.filter_id = filter_id
        self.clear_filter = clear_filter

    def execute(self, context: Context) -> int:
        """Check the arguments, read the report's type, then send the update.

        :param context: the task's execution context.
        :return: the report's ID.
        """
        from airflow_provider_fabric.api.reports import family_member
        from airflow_provider_fabric.exceptions import FabricInputError

        report_id = as_id(self.report_id, "report_id")
        genome = as_id(self.proband_genome_id, "proband_genome_id", optional=True)
        family = [family_member(member, n) for n, member in enumerate(_family(self.family), start=1)]
        if len(family) > 4:
            raise FabricInputError(
                f"a report has at most 4 family members besides the proband, got {len(family)}"
            )
        filter_id = as_id(self.filter_id, "filter_id", optional=True)
        if filter_id is not None and self.clear_filter:
            raise FabricInputError("give filter_id or clear_filter=True, not both")
        if genome is None and not family and filter_id is None and not self.clear_filter:
            raise FabricInputError(
                "nothing to update: give proband_genome_id, family, filter_id or clear_filter"
            )

        body: dict[str, Any] = {}
        if genome is not None or family:
            report = self.hook.get_report(report_id)
            kind = _report_kind(report)
            if kind.lower() == "panel":
                if family:
                    raise FabricInputError(f"report {report_id} is a panel report: it has no family members")
                body["proband_genome_id"] = genome
            else:
                if genome is not None:
                    from airflow_provider_fabric.api.reports import REPORT_SEXES

                    sex = REPORT_SEXES.get(str(self.proband_sex or "").strip().lower())
                    if sex is None:
                        raise FabricInputError(
                            f"report {report_id} is a {kind} report: proband_sex ('m' or 'f') is required "
                            "with proband_genome_id"
                        )
                    body["proband"] = {"genome_id": genome, "sex": sex}
                for position, member in enumerate(family, start=1):
                    body[f"family_{position}"] = member
        if filter_id is not None or self.clear_filter:
            body["filter_id"] = filter_id
        answer = self.hook.update_report(report_id, body)
        attached = (1 if genome is not None else 0) + sum(1 for m in family if m.get("genome_id") is not None)
        self.log.info(
            "Updated report %s: %d genome(s) attached%s (status %s)",
            report_id,
            attached,
            ""
            if "filter_id" not in body
            else (", filter cleared" if filter_id is None else f", filter {filter_id}"),
            answer.get("status") if isinstance(answer, Mapping) else None,
        )
        self.push_report_url(context, report_id)
        return report_id


class _FabricReportValuesOperator(FabricBaseOperator):
    """Shared loading of name → value maps from a dict and/or a JSON or CSV file."""

    what = "values"

    def _load(self, values: Any, path: Any) -> dict[str, Any]:
        from airflow_provider_fabric.exceptions import FabricInputError

        merged: dict[str, Any] = {}
        if path not in (None, ""):
            merged.update(self._read_file(path))
        inline = _parse_structured(values, self.what)
        if inline is not None:
            if not isinstance(inline, Mapping):
                raise FabricInputError(f"{self.what} must be a dict of name to value")
            merged.update(inline)
        if not merged:
            raise FabricInputError(f"no {self.what} to post: give a dict or a file")
        for name, value in merged.items():
            if not isinstance(name, str) or not name.strip():
                raise FabricInputError(f"{self.what}: every name must be non-empty text")
            if value is not None and not isinstance(value, str | int | float | bool):
                raise FabricInputError(
                    f"{self.what}: {name!r} must be a text, number or boolean value, "
                    f"not a {type(value).__name__}"
                )
        return merged

    def _read_file(self, location: Any) -> dict[str, Any]:
        import csv
        import io
        import json

        from airflow_provider_fabric.exceptions import FabricInputError
        from airflow_provider_fabric.storage import as_path, open_source

        with open_source(location) as handle:
            data = handle.read(MAX_FIELDS_FILE_BYTES + 1)
        if len(data) > MAX_FIELDS_FILE_BYTES:
            raise FabricInputError(f"the {self.what} file is larger than {MAX_FIELDS_FILE_BYTES} bytes")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FabricInputError(f"the {self.what} file is not UTF-8 text") from None
        is_json = as_path(location).name.lower().endswith(".json") or text.lstrip().startswith("{")
        if is_json:
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as err:
                raise FabricInputError(
                    f"the {self.what} file is not valid JSON (line {err.lineno})"
                ) from None
            if not isinstance(loaded, dict):
                raise FabricInputError(f"the {self.what} JSON file must hold one object of name to value")
            return loaded
        rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
        if not rows:
            raise FabricInputError(f"the {self.what} CSV file is empty")
        header = [cell.strip() for cell in rows[0]]
        if (
            len(header) == 2
            and header[0].lower() in ("name", "field", "metric")
            and header[1].lower() == "value"
        ):
            if any(len(row) != 2 for row in rows[1:]):
                raise FabricInputError(
                    f"the {self.what} CSV file: every row needs exactly a name and a value"
                )
            return {row[0].strip(): row[1] for row in rows[1:]}
        if len(rows) != 2 or len(rows[1]) != len(header):
            raise FabricInputError(
                f"the {self.what} CSV file must be a header row of names and one row of values "
                "(or two columns headed name,value)"
            )
        return dict(zip(header, rows[1], strict=True))


class FabricPostPatientFieldsOperator(_FabricReportValuesOperator):
    """Post a report's patient fields; returns the report ID.

    Fields come from ``fields`` (a dict, templated), from ``fields_path`` (a
    JSON object, or a CSV file: a header row of field names and one row of
    values, or two columns headed ``name,value``) on any object storage, or
    both (the dict's values win). Values are PHI: they are never logged, and
    not returned; the log names the fields only. Posting the same fields again
    sets the same values, so retries are safe. The values of ``fields`` are
    masked (``***``) in Airflow's "Rendered Template" view once rendered; a
    DAG file or run ``conf`` holding them is stored by Airflow as written, so
    prefer ``fields_path``.

    :param report_id: the report (templated).
    :param fields: field name → value, e.g. ``{"Patient DOB": "...", "Indication for Testing": "..."}``
        (templated).
    :param fields_path: a JSON or CSV file with the fields: local path, object-storage URL or
        ``ObjectStoragePath`` (templated).
    :param fabric_conn_id: the ``fabric_genomics`` connection to use.
    :param kwargs: any other :class:`~airflow.models.BaseOperator` argument.
    """

    template_fields: Sequence[str] = ("report_id", "fields", "fields_path")
    phi_fields: Sequence[str] = ("fields",)
    operator_extra_links = (FabricReportLink(),)
    what = "patient fields"

    def __init__(
        self,
        *,
        report_id: int | str,
        fields: Any = None,
        fields_path: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.fields = fields
        self.fields_path = fields_path

    def execute(self, context: Context) -> int:
        """Load, check and post the fields.

        :param context: the task's execution context.
        :return: the report's ID.
        """
        report_id = as_id(self.report_id, "report_id")
        fields = self._load(self.fields, self.fields_path)
        self.log.info(
            "Posting %d patient field(s) to report %s: %s", len(fields), report_id, ", ".join(fields)
        )
        self.hook.post_patient_fields(report_id, fields)
        self.push_report_url(context, report_id)
        return report_id


class FabricPostQcDataOperator(_FabricReportValuesOperator):
    """Post a report's QC metrics (those its assay type defines); returns the report ID.

    Metrics come from ``qc_data`` (a dict, templated), from ``qc_data_path``
    (a JSON object or a CSV file, as for :class:`FabricPostPatientFieldsOperator`),
    or both (the dict's values win). The log names the metrics, not their
    values. Each post adds a QC entry on the server, so a retry after a lost
    answer can leave two identical entries.

    :param report_id: the report (templated).
    :param qc_data: metric → value, e.g. ``{"mean_coverage": 112.4}`` (templated).
    :param qc_data_path: a JSON or CSV file with the metrics (templated).
    :param fabric_conn_id: the ``fabric_genomics`` connection to use.
    :param kwargs: any other :class:`~airflow.models.BaseOperator` argument.
    """

    template_fields: Sequence[str] = ("report_id", "qc_data", "qc_data_path")
    operator_extra_links = (FabricReportLink(),)
    what = "QC data"

    def __init__(
        self,
        *,
        report_id: int | str,
        qc_data: Any = None,
        qc_data_path: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.qc_data = qc_data
        self.qc_data_path = qc_data_path

    def execute(self, context: Context) -> int:
        """Load, check and post the metrics.

        :param context: the task's execution context.
        :return: the report's ID.
        """
        report_id = as_id(self.report_id, "report_id")
        metrics = self._load(self.qc_data, self.qc_data_path)
        self.log.info("Posting %d QC metric(s) to report %s: %s", len(metrics), report_id, ", ".join(metrics))
        self.hook.post_qc_data(report_id, metrics)
        self.push_report_url(context, report_id)
        return report_id


class FabricUpdateReportStatusOperator(FabricBaseOperator):
    """Move a clinical report to a new status (e.g. ``APPROVED``); returns the report ID.

    Setting the status a report already has is harmless, so retries are
    safe. A status outside the known vocabulary is sent anyway (the server
    decides) with a warning.

    :param report_id: the report (templated).
    :param status: the new status, e.g. ``READY TO REVIEW`` or ``APPROVED`` (templated).
    :param fabric_conn_id: the ``fabric_genomics`` connection to use.
    :param kwargs: any other :class:`~airflow.models.BaseOperator` argument.
    """

    template_fields: Sequence[str] = ("report_id", "status")
    operator_extra_links = (FabricReportLink(),)

    def __init__(self, *, report_id: int | str, status: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.status = status

    def execute(self, context: Context) -> int:
        """Send the status change.

        :param context: the task's execution context.
        :return: the report's ID.
        """
        from airflow_provider_fabric.api.statuses import REPORT_STATUSES, normalize_status
        from airflow_provider_fabric.exceptions import FabricInputError

        report_id = as_id(self.report_id, "report_id")
        status = str(self.status or "").strip().upper()
        if not status:
            raise FabricInputError("status is required")
        if normalize_status(status) not in REPORT_STATUSES:
            self.log.warning(
                "Status %r is not one of %s; sending it anyway", status, ", ".join(REPORT_STATUSES)
            )
        answer = self.hook.update_report_status(report_id, status)
        self.log.info(
            "Report %s status is now %s",
            report_id,
            answer.get("status") if isinstance(answer, Mapping) else status,
        )
        self.push_report_url(context, report_id)
        return report_id
