"""A run's manifest: the lab's columns and test codes, read into checked, typed samples.

A run folder's manifest (a CSV file with a header row) has one row per
sample. :class:`ManifestFormat` says how the lab's manifest is written;
:func:`read_manifest` turns it into :class:`Sample` objects. A bad row never
stops the others: its :attr:`Sample.problem` says what is wrong, in words that
quote no value of the row (labels, sexes and IDs are PHI), and
:func:`upload_arguments` raises it as a
:class:`~airflow_provider_fabric.exceptions.FabricManifestError` naming the
run and the line.
"""

from __future__ import annotations

import csv
import io
import string
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from airflow_provider_fabric.api.reports import GENOME_SEXES, RELATIONSHIPS
from airflow_provider_fabric.exceptions import FabricConfigurationError, FabricManifestError

#: The fields of a sample, in the default manifest's column order.
FIELDS = ("file", "label", "sex", "external_id", "family_id", "relationship", "affected", "test")
#: The fields every row needs (family rows need ``family_id``, ``relationship`` and ``affected`` too).
REQUIRED = ("file", "label", "sex", "external_id", "test")
#: Fields compared without regard to case.
_LOWERED = ("sex", "test", "relationship", "affected")
#: What an accession template may name besides the fields: the DAG's prefix and the run folder.
_ACCESSION_NAMES = frozenset((*FIELDS, "prefix", "run"))
#: The column index of an absent optional field: past any row's end, so it reads as empty.
_ABSENT = 1 << 30
TRUE = ("true", "yes", "1", "y")
FALSE = ("false", "no", "0", "n", "")


@dataclass(frozen=True)
class Order:
    """The report a manifest's ``test`` value orders.

    :param report: ``panel`` or ``family``.
    :param panel_id: a panel report's panel, by its ID in the workspace's catalogue.
    :param panel_test_code: a panel report's panel, by its catalogue test code (resolved when
        the report is created: ``FabricCreateClinicalReportOperator(panel_test_code=...)``).
        A panel order with neither takes the intake's default panel ID.
    """

    report: Literal["panel", "family"]
    panel_id: int | None = None
    panel_test_code: str | None = None

    def __post_init__(self) -> None:
        if self.report not in ("panel", "family"):
            raise FabricConfigurationError("an Order's report is 'panel' or 'family'")
        if self.report == "family" and (self.panel_id is not None or self.panel_test_code):
            raise FabricConfigurationError("a family Order takes no panel")
        if self.panel_id is not None and self.panel_test_code:
            raise FabricConfigurationError("give an Order a panel_id or a panel_test_code, not both")


#: ``test`` = ``family``.
FAMILY = Order("family")
#: ``test`` = ``panel``: the intake's default panel.
PANEL = Order("panel")


@dataclass(frozen=True)
class ManifestFormat:
    """How a lab writes its manifests. The defaults read the example intake's manifest::

        file,label,sex,external_id,family_id,relationship,affected,test
        S1.vcf.gz,SAMPLE-0001,female,LAB-0001,,,,panel:101
        P1.vcf.gz,SAMPLE-0002,male,LAB-0002,FAM-01,proband,true,family

    :param file_name: the manifest's name in each run folder. Write it last: a run folder
        is taken in once its manifest exists.
    :param columns: the lab's header for each field named differently (``{"external_id":
        "sample_id"}``); headers match without regard to case or surrounding spaces.
    :param test_codes: the lab's own ``test`` values and the :class:`Order` each stands for
        (``{"CARDIO": Order("panel", panel_test_code="CARD-102"), "WES-TRIO": FAMILY}``), on
        top of the built-in ``panel:<panel ID>``, ``panel`` and ``family``; matched without
        regard to case.
    :param panel_accession: a panel case's accession, a :meth:`str.format` template over the
        sample's fields, ``prefix`` (the intake's accession prefix) and ``run`` (the run
        folder's name).
    :param family_accession: a family case's accession, the same way over the proband's row.
    :raises FabricConfigurationError: an unknown field, a test code that is not an
        :class:`Order`, or a template naming anything else.
    """

    file_name: str = "manifest.csv"
    columns: Mapping[str, str] = field(default_factory=dict)
    test_codes: Mapping[str, Order] = field(default_factory=dict)
    panel_accession: str = "{prefix}{external_id}"
    family_accession: str = "{prefix}{family_id}"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.columns) - set(FIELDS))
        if unknown:
            raise FabricConfigurationError(f"columns: unknown fields {unknown}; the fields are {FIELDS}")
        if not all(isinstance(order, Order) for order in self.test_codes.values()):
            raise FabricConfigurationError("test_codes: every value must be an Order")
        for name in ("panel_accession", "family_accession"):
            template = getattr(self, name)
            named = {part[1] for part in string.Formatter().parse(template) if part[1] is not None}
            if not named or not named <= _ACCESSION_NAMES:
                raise FabricConfigurationError(
                    f"{name} must name some of {sorted(_ACCESSION_NAMES)}, each as {{name}}"
                )

    def header(self, name: str) -> str:
        """The header (lower case) of a field in the lab's manifest.

        :param name: one of :data:`FIELDS`.
        """
        return self.columns.get(name, name).strip().lower()

    def order(self, test: str) -> Order | None:
        """What a ``test`` value orders, or ``None`` if it orders nothing this format knows.

        :param test: the row's ``test`` value.
        """
        test = test.strip().lower()
        for code, order in self.test_codes.items():
            if code.strip().lower() == test:
                return order
        if test == "family":
            return FAMILY
        if test == "panel":
            return PANEL
        if test.startswith("panel:") and test[6:].isdigit():
            return Order("panel", panel_id=int(test[6:]))
        return None

    def accession(self, case: Literal["panel", "family"], sample: Sample, prefix: str) -> str:
        """A case's accession from its (proband's) row: the same row always gives the same one.

        :param case: ``panel`` or ``family``.
        :param sample: the panel sample, or the family's proband.
        :param prefix: the intake's accession prefix.
        """
        template = self.panel_accession if case == "panel" else self.family_accession
        return template.format(prefix=prefix, **sample.fields())

    def _unknown_test(self) -> str:
        lab = f", or one of {', '.join(self.test_codes)}" if self.test_codes else ""
        return f"test must be panel, panel:<panel ID> or family{lab}"

    def problem(self, sample: Sample) -> str | None:
        """What is wrong with one row, in words that quote no value; ``None`` if nothing is.

        :param sample: the row, its values stripped (and lower case where compared so).
        """
        missing = [name for name in REQUIRED if not getattr(sample, name)]
        if missing:
            return f"missing {', '.join(missing)}"
        if sample.sex not in GENOME_SEXES:
            return f"sex must be one of {', '.join(GENOME_SEXES)}"
        order = self.order(sample.test)
        if order is None:
            return self._unknown_test()
        if order.report == "family":
            if not sample.family_id:
                return "a family test needs a family_id"
            if sample.relationship not in ("proband", *RELATIONSHIPS):
                return f"relationship must be proband, {', '.join(RELATIONSHIPS)}"
            if sample.sex == "unspecified":
                return "family reports need the sex of every person (male or female)"
            if sample.affected not in TRUE + FALSE:
                return "affected must be true or false"
        return None


@dataclass(frozen=True)
class Sample:
    """One manifest row: where it is (run folder, line), its fields, its VCF and its problem.

    Values are stripped; ``sex``, ``test``, ``relationship`` and ``affected`` are lower case.
    In XComs a sample travels as :meth:`to_dict` (labels and external IDs included: the upload
    needs them; never log it).
    """

    run: str
    line: int
    file: str = ""
    label: str = ""
    sex: str = ""
    external_id: str = ""
    family_id: str = ""
    relationship: str = ""
    affected: str = ""
    test: str = ""
    #: ``file`` resolved against the manifest's folder (a URL or an absolute path stays as it is).
    vcf_path: str = ""
    #: What is wrong with the row (no value quoted), or ``None``.
    problem: str | None = None

    @property
    def key(self) -> str:
        """``<run>:<line>``: names the sample in logs and summaries without PHI."""
        return f"{self.run}:{self.line}"

    def fields(self) -> dict[str, str]:
        """The manifest fields and ``run``."""
        return {"run": self.run, **{name: getattr(self, name) for name in FIELDS}}

    def error(self) -> FabricManifestError:
        """The row's problem as an exception naming the run and line."""
        return FabricManifestError(self.run, self.line, self.problem or "no problem")

    def to_dict(self) -> dict[str, Any]:
        """The sample as plain JSON for an XCom, with its ``key``."""
        return {"key": self.key, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sample:
        """A sample from :meth:`to_dict` (``key`` and unknown keys ignored)."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def upload_arguments(sample: Mapping[str, Any]) -> dict[str, str]:
    """The arguments of ``FabricUploadGenomeOperator`` for one planned sample.

    :param sample: a :meth:`Sample.to_dict`.
    :return: ``vcf_path``, ``genome_label``, ``genome_sex`` and ``external_id``.
    :raises FabricManifestError: the row has a problem (its run, line and cause, no value).
    """
    row = Sample.from_dict(sample)
    if row.problem:
        raise row.error()
    return {
        "vcf_path": row.vcf_path,
        "genome_label": row.label,
        "genome_sex": row.sex,
        "external_id": row.external_id,
    }


def read_manifest(manifest: Any, run: str, manifest_format: ManifestFormat | None = None) -> list[Sample]:
    """The rows of one run's manifest as samples, each checked; blank rows left out.

    Never fails on a bad row: its :attr:`Sample.problem` says what is wrong. A manifest
    that cannot be read as a whole (not UTF-8 text, not CSV, a header that lacks a required
    column) gives a single sample at the line where reading stopped, whose problem says
    why, and nothing else: no part of a broken manifest is taken in.

    :param manifest: the manifest's ``ObjectStoragePath`` (or ``pathlib.Path``).
    :param run: the run folder's name.
    :param manifest_format: how the lab writes manifests (default: :class:`ManifestFormat`).
    """
    spec = manifest_format or ManifestFormat()
    with manifest.open("rb") as handle:
        rows, unreadable = _rows(handle.read())
    if unreadable:
        line, cause = unreadable
        return [Sample(run, line, problem=f"{cause}: the whole manifest is left out")]
    if not rows:
        return []
    (header_line, header), body = rows[0], rows[1:]
    columns, header_problem = _columns(spec, [cell.strip().lower() for cell in header])
    if header_problem:
        return [Sample(run, header_line, problem=f"{header_problem}: the whole manifest is left out")]
    samples: list[Sample] = []
    first_line: dict[str, int] = {}
    for line, cells in body:
        values = {name: cells[i].strip() if i < len(cells) else "" for name, i in columns.items()}
        values.update({name: values[name].lower() for name in _LOWERED})
        location = values["file"]
        if location and "://" not in location and not location.startswith("/"):
            location = str(manifest.parent / location)
        sample = Sample(run, line, **values, vcf_path=location)
        problem = spec.problem(sample)
        if len(cells) > len(header):  # shifted columns make any other cause misleading
            problem = f"{len(cells)} fields where the header has {len(header)} (an unquoted comma?)"
        elif problem is None and sample.external_id in first_line:
            problem = f"the same external_id as line {first_line[sample.external_id]}"
        first_line.setdefault(sample.external_id, line)
        samples.append(replace(sample, problem=problem))
    return samples


def _rows(data: bytes) -> tuple[list[tuple[int, list[str]]], tuple[int, str] | None]:
    """The non-blank CSV rows of a file with the lines they start on, or where and why reading stopped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return [], (data.count(b"\n", 0, error.start) + 1, "not UTF-8 text")
    # strict: a stray quote is an error, not the start of a field that swallows the next rows.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []
    start = 1  # the line the next row starts on
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error:
        return [], (start, "not valid CSV from here (a stray or unclosed quote?)")
    return rows, None


def _columns(spec: ManifestFormat, header: list[str]) -> tuple[dict[str, int], str | None]:
    """Each field's column index, or the header's problem. An absent optional column reads as empty."""
    columns: dict[str, int] = {}
    missing = []
    for name in FIELDS:
        wanted = spec.header(name)
        if header.count(wanted) > 1:
            return {}, f"the header has the column {wanted} more than once"
        if wanted in header:
            columns[name] = header.index(wanted)
        elif name in REQUIRED:
            missing.append(wanted)
        else:
            columns[name] = _ABSENT
    if missing:
        return {}, f"the header has no column {', '.join(missing)}"
    return columns, None
