"""Operators for Fabric Genomics clinical reports: create, attach genomes, patient fields, QC, status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_fabric.api.reports import as_id
from airflow_provider_fabric.links import FabricReportLink
from airflow_provider_fabric.operators.base import FabricBaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_fabric.lineage import Node

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


def _same_value(given: Any, held: Any, numeric: bool) -> bool:
    """Whether a value given equals the one the server holds (as text, or as numbers when asked)."""
    if _text_or_none(given) is None or _text_or_none(held) is None:
        return _text_or_none(given) is None and _text_or_none(held) is None
    if numeric and not isinstance(given, bool) and not isinstance(held, bool):
        try:
            return float(given) == float(held)
        except (TypeError, ValueError):
            pass
    return str(given).strip() == str(held).strip()


def _report_kind(report: Mapping[str, Any]) -> str:
    return str(report.get("report_type") or report.get("test_type") or "")


def _genome_ids(payload: Mapping[str, Any]) -> list[int]:
    """The genome IDs a report creation or update body attaches, proband first (for lineage)."""
    found = [payload.get("proband_genome_id"), (payload.get("proband") or {}).get("genome_id")]
    found += [(payload.get(f"family_{n}") or {}).get("genome_id") for n in range(1, 5)]
    ids: list[int] = []
    for value in found:
        if value not in (None, "") and int(value) not in ids:
            ids.append(int(value))
    return ids


def report_lineage(namespace: str | None, facts: Mapping[str, Any]) -> tuple[list[Node], list[Node]]:
    """The report a task changed (output), after the genomes it attached (inputs).

    :param namespace: the Fabric server's namespace, if reached.
    :param facts: the operator's :attr:`~.FabricBaseOperator.lineage_facts`.
    """
    from airflow_provider_fabric.lineage import fabric_node, report_node

    if namespace is None:
        return [], []
    inputs = [fabric_node(namespace, "genomes", genome) for genome in facts.get("genome_ids", ())]
    if facts.get("report_id") is None:
        return inputs, []
    report = report_node(
        namespace, facts["report_id"], report_type=facts.get("report_type"), status=facts.get("status")
    )
    return inputs, [report]


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
    :param panel_test_code: instead of ``panel_id``, the panel's test code in the workspace's
        catalogue: resolved with ``GET /panels/?test_code=`` to the one panel whose ``test_code``
        is exactly this (templated).
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
        "panel_test_code",
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
        panel_test_code: str | None = None,
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
        self.panel_test_code = panel_test_code
        self.filter_id = filter_id
        self.accession_id = accession_id
        self.proband_sex = proband_sex
        self.family = family
        self.score_indels = score_indels
        self.hpo_terms = hpo_terms
        self.background = background

    def build_payload(self, panel_id: Any = None) -> dict[str, Any]:
        """The checked creation body (nothing is sent).

        :param panel_id: the panel, when resolved from ``panel_test_code`` (default: ``panel_id``).
        :return: the JSON body of ``POST /reports/``.
        :raises FabricInputError: on any invalid argument.
        """
        from airflow_provider_fabric.api.reports import family_report_payload, panel_report_payload
        from airflow_provider_fabric.exceptions import FabricInputError

        report_type = str(self.report_type or "").strip()
        accession = _text_or_none(self.accession_id)
        family = _family(self.family)
        panel_id = self.panel_id if panel_id is None else panel_id
        if report_type.lower() == "panel":
            if family:
                raise FabricInputError("a panel report has no family members; use a family report type")
            if panel_id in (None, ""):
                raise FabricInputError("panel_id is required for a panel report (or panel_test_code)")
            return panel_report_payload(
                panel_id=panel_id,
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
        if panel_id not in (None, "") or _text_or_none(self.panel_test_code):
            raise FabricInputError("panel_id and panel_test_code apply to panel reports only")
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
        payload = self.build_payload(panel_id=self._panel_from_test_code())
        wanted_type = payload["report_type"]
        accession = payload.get("accession_id")
        self.note_lineage(report_type=wanted_type, genome_ids=_genome_ids(payload))
        if accession:
            reused = self._find_by_accession(accession, wanted_type, payload)
            if reused is not None:
                self.push_report_url(context, reused)
                self.note_lineage(report_id=reused)
                return reused
        else:
            self.log.info("No accession_id: nothing to find an earlier try's report by; creating one")
        answer = self.hook.create_report(payload)
        report_id = as_id(answer.get("id"), "report id in the creation answer")
        self.log.info("Created %s report %s (status %s)", wanted_type, report_id, answer.get("status"))
        self.push_report_url(context, report_id)
        self.note_lineage(report_id=report_id, status=answer.get("status"))
        return report_id

    def lineage_nodes(self, namespace: str | None) -> tuple[list[Node], list[Node]]:
        """Inputs: the genomes given (proband first); output: the report, with its type and status.

        :param namespace: the Fabric server's namespace, if reached.
        """
        return report_lineage(namespace, self.lineage_facts)

    def _panel_from_test_code(self) -> int | None:
        """The ID of the catalogue panel whose test code is exactly ``panel_test_code`` (if given)."""
        from airflow_provider_fabric.exceptions import FabricInputError

        code = _text_or_none(self.panel_test_code)
        if code is None or str(self.report_type or "").strip().lower() != "panel":
            return None
        if self.panel_id not in (None, ""):
            raise FabricInputError("give panel_id or panel_test_code, not both")
        code = code.strip()
        found = self.hook.list_panels(test_code=code)  # the server matches substrings
        panels = [panel for panel in found if str(panel.get("test_code", "")).strip() == code]
        if len(panels) != 1:
            which = "no panel has" if not panels else f"{len(panels)} panels have"
            raise FabricInputError(f"{which} test code {code!r} in the workspace's catalogue (GET /panels/)")
        panel_id = as_id(panels[0].get("id"), "panel id")
        self.log.info("Panel test code %s is panel %s (%s)", code, panel_id, panels[0].get("name"))
        return panel_id

    def _find_by_accession(self, accession: str, wanted_type: str, payload: Mapping[str, Any]) -> int | None:
        from airflow_provider_fabric.exceptions import FabricInputError

        exact = self.hook.find_reports_by_accession(accession)
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
        self.note_lineage(
            report_id=report_id,
            genome_ids=_genome_ids(body),
            status=answer.get("status") if isinstance(answer, Mapping) else None,
        )
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

    def lineage_nodes(self, namespace: str | None) -> tuple[list[Node], list[Node]]:
        """Inputs: the genomes attached; output: the report.

        :param namespace: the Fabric server's namespace, if reached.
        """
        return report_lineage(namespace, self.lineage_facts)


class _FabricReportValuesOperator(FabricBaseOperator):
    """Shared by patient fields and QC data: load name → value maps, post them only when they differ.

    Posting is compare-first: the report's current values are read, and nothing is sent when
    they already equal those given (a re-run changes nothing). On an approved report,
    different values fail the task with
    :class:`~airflow_provider_fabric.exceptions.FabricConflictError` naming the fields (never
    their values) before anything is sent. When a post gets no answer (or a 5xx), the values
    are read again: if the post took effect the task goes on, so a lost answer never leads
    to posting twice.
    """

    what = "values"
    #: What one name is called in messages.
    item = "field"
    #: The argument naming the file the values may come from.
    path_field = ""
    #: Compare values as numbers when both read as one (``"112.40"`` equals ``112.4``).
    numeric = False

    def _current(self, report_id: int) -> Mapping[str, Any]:
        """The values the report holds now, by name."""
        raise NotImplementedError

    def _post(self, report_id: int, values: Mapping[str, Any]) -> Any:
        """Send the values."""
        raise NotImplementedError

    def _differing(self, values: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
        """The names whose value differs from the report's (missing ones included)."""
        return [name for name in values if not _same_value(values[name], current.get(name), self.numeric)]

    def _post_unless_current(
        self, report_id: int, values: Mapping[str, Any], report: Mapping[str, Any] | None = None
    ) -> bool:
        """Post ``values`` unless the report already holds them.

        :param report_id: the report.
        :param values: name → value.
        :param report: the report, if already read (for its status).
        :return: whether anything was posted.
        :raises FabricConflictError: the report is approved and holds other values.
        """
        from airflow_provider_fabric.api.statuses import normalize_status
        from airflow_provider_fabric.exceptions import FabricConflictError, FabricServerError

        differ = self._differing(values, self._current(report_id))
        if not differ:
            self.log.info(
                "Report %s already holds these %d %s(s): nothing sent", report_id, len(values), self.item
            )
            return False
        report = report if report is not None else self.hook.get_report(report_id)
        if normalize_status(report.get("status")) == "APPROVED":
            raise FabricConflictError(
                f"report {report_id} is approved (signed out) and its {self.what} differ from those given "
                f"({self.item}s: {', '.join(differ)}): nothing was sent. A signed-out report is not changed "
                "by a pipeline: amend it in Fabric Enterprise, or correct the input"
            )
        self.log.info(
            "Posting %d %s(s) to report %s (%d differ from the report's): %s",
            len(values),
            self.item,
            report_id,
            len(differ),
            ", ".join(values),
        )
        try:
            self._post(report_id, values)
        except FabricServerError as err:
            # The server may have acted before the answer was lost: look before anyone posts again.
            if self._differing(values, self._current(report_id)):
                raise
            self.log.warning("%s; the report holds the values nonetheless: not posted again", err)
        return True

    def lineage_nodes(self, namespace: str | None) -> tuple[list[Node], list[Node]]:
        """Input: the file of values, if any (file name hashed; values never); output: the report.

        :param namespace: the Fabric server's namespace, if reached.
        """
        from airflow_provider_fabric.lineage import FabricFileFacet, file_node

        location = getattr(self, self.path_field, None)
        files = [] if location in (None, "") else [file_node(location, FabricFileFacet(content=self.what))]
        inputs, outputs = report_lineage(namespace, self.lineage_facts)
        return files + inputs, outputs

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
    """Post a report's patient fields when they differ from the report's; returns the report ID.

    Fields come from ``fields`` (a dict, templated), from ``fields_path`` (a
    JSON object, or a CSV file: a header row of field names and one row of
    values, or two columns headed ``name,value``) on any object storage, or
    both (the dict's values win). Values are PHI: they are never logged, and
    not returned; the log names the fields only. The values of ``fields`` are
    masked (``***``) in Airflow's "Rendered Template" view once rendered; a
    DAG file or run ``conf`` holding them is stored by Airflow as written, so
    prefer ``fields_path``.

    The report's fields are read first (``GET /reports/{id}/patient_fields``):
    when every field given already has that value (compared as text), nothing
    is sent, so re-runs and retries change nothing. Different values on an
    approved report fail with
    :class:`~airflow_provider_fabric.exceptions.FabricConflictError`, naming
    the fields.

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
    path_field = "fields_path"

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

    def _current(self, report_id: int) -> Mapping[str, Any]:
        current = self.hook.get_patient_fields(report_id)
        return current if isinstance(current, Mapping) else {}

    def _post(self, report_id: int, values: Mapping[str, Any]) -> Any:
        return self.hook.post_patient_fields(report_id, values)

    def execute(self, context: Context) -> int:
        """Load and check the fields, post them unless the report holds them already.

        :param context: the task's execution context.
        :return: the report's ID.
        """
        report_id = as_id(self.report_id, "report_id")
        fields = self._load(self.fields, self.fields_path)
        self._post_unless_current(report_id, fields)
        self.push_report_url(context, report_id)
        self.note_lineage(report_id=report_id)
        return report_id


class FabricPostQcDataOperator(_FabricReportValuesOperator):
    """Post a report's QC metrics (those its assay type defines); returns the report ID.

    Metrics come from ``qc_data`` (a dict, templated), from ``qc_data_path``
    (a JSON object or a CSV file, as for :class:`FabricPostPatientFieldsOperator`),
    or both (the dict's values win). The log names the metrics, not their
    values.

    Before anything is sent the metric names are checked against the report's
    assay type (``GET /assay_types/{id}``, its ``qc_metrics``): a name it does
    not define fails with :class:`~airflow_provider_fabric.exceptions.FabricInputError`
    listing the allowed ones. The assay type is ``assay_type_id``, else the
    report's ``assay_type_id``; when neither is known, or the assay type lists
    no metrics, the check is skipped with a warning and Fabric's answer decides.

    Each post adds a QC entry on the server, so the report's entries are read
    first: when they already hold every metric given with that value (the
    latest entry naming a metric wins; numbers compared as numbers), nothing
    is sent. A post whose answer is lost is checked the same way before the
    task fails, so a retry never leaves two entries. Different values on an
    approved report fail with
    :class:`~airflow_provider_fabric.exceptions.FabricConflictError`.

    :param report_id: the report (templated).
    :param qc_data: metric → value, e.g. ``{"Mean Coverage": 112.4}`` (templated).
    :param qc_data_path: a JSON or CSV file with the metrics (templated).
    :param assay_type_id: the report's assay type, when the report does not name it (templated).
    :param fabric_conn_id: the ``fabric_genomics`` connection to use.
    :param kwargs: any other :class:`~airflow.models.BaseOperator` argument.
    """

    template_fields: Sequence[str] = ("report_id", "qc_data", "qc_data_path", "assay_type_id")
    operator_extra_links = (FabricReportLink(),)
    what = "QC data"
    item = "metric"
    numeric = True
    path_field = "qc_data_path"

    def __init__(
        self,
        *,
        report_id: int | str,
        qc_data: Any = None,
        qc_data_path: Any = None,
        assay_type_id: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.qc_data = qc_data
        self.qc_data_path = qc_data_path
        self.assay_type_id = assay_type_id

    def _current(self, report_id: int) -> Mapping[str, Any]:
        answer = self.hook.get_qc_data(report_id)
        entries = answer.get("objects", []) if isinstance(answer, Mapping) else answer or []
        merged: dict[str, Any] = {}
        for entry in entries if isinstance(entries, list) else []:
            data = entry.get("data", entry) if isinstance(entry, Mapping) else None
            if isinstance(data, Mapping):
                merged.update(data)
        return merged

    def _post(self, report_id: int, values: Mapping[str, Any]) -> Any:
        return self.hook.post_qc_data(report_id, values)

    def _check_metrics(self, report_id: int, report: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        """Refuse metric names the report's assay type does not define (nothing sent)."""
        from airflow_provider_fabric.exceptions import FabricInputError

        assay_id = as_id(self.assay_type_id, "assay_type_id", optional=True)
        if assay_id is None:
            assay_id = as_id(report.get("assay_type_id"), "the report's assay_type_id", optional=True)
        if assay_id is None:
            self.log.warning(
                "Report %s names no assay type (and no assay_type_id was given): QC metric names not "
                "checked before posting",
                report_id,
            )
            return
        assay = self.hook.get_assay_type(assay_id)
        allowed = assay.get("qc_metrics") if isinstance(assay, Mapping) else None
        if not isinstance(allowed, list) or not allowed:
            self.log.warning("Assay type %s lists no QC metrics: metric names not checked", assay_id)
            return
        unknown = [name for name in metrics if name not in [str(a) for a in allowed]]
        if unknown:
            raise FabricInputError(
                f"QC metric(s) {', '.join(unknown)} are not defined by assay type {assay_id} "
                f"({assay.get('name')}) of report {report_id}; its metrics are "
                f"{', '.join(str(a) for a in allowed)}: nothing was sent"
            )

    def execute(self, context: Context) -> int:
        """Load the metrics, check their names, post them unless the report holds them already.

        :param context: the task's execution context.
        :return: the report's ID.
        """
        report_id = as_id(self.report_id, "report_id")
        metrics = self._load(self.qc_data, self.qc_data_path)
        report = self.hook.get_report(report_id)
        self._check_metrics(report_id, report, metrics)
        self._post_unless_current(report_id, metrics, report)
        self.push_report_url(context, report_id)
        self.note_lineage(report_id=report_id, report_type=_report_kind(report) or None)
        return report_id


class FabricUpdateReportStatusOperator(FabricBaseOperator):
    """Move a clinical report to a new status (e.g. ``APPROVED``); returns the report ID.

    The report is read first: when it already has that status nothing is sent,
    so re-runs and retries change nothing. A status outside the known
    vocabulary is sent anyway (the server decides) with a warning.

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
        """Send the status change, unless the report already has that status.

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
        self.push_report_url(context, report_id)
        report = self.hook.get_report(report_id)
        self.note_lineage(report_id=report_id, report_type=_report_kind(report) or None, status=status)
        if normalize_status(report.get("status")) == normalize_status(status):
            self.log.info("Report %s is already %s: nothing sent", report_id, status)
            return report_id
        answer = self.hook.update_report_status(report_id, status)
        self.log.info(
            "Report %s status is now %s",
            report_id,
            answer.get("status") if isinstance(answer, Mapping) else status,
        )
        return report_id

    def lineage_nodes(self, namespace: str | None) -> tuple[list[Node], list[Node]]:
        """Output: the report, with its type and the status it now has.

        :param namespace: the Fabric server's namespace, if reached.
        """
        return report_lineage(namespace, self.lineage_facts)
