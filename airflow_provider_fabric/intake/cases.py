"""Case planning: the manifest's samples grouped into panel and family cases with stable accessions.

One panel case per panel sample; one family case per ``family_id`` within a
run's manifest (Solo to Quintet: the proband and up to four relatives). A
case's accession comes from the manifest
(:attr:`ManifestFormat.panel_accession <airflow_provider_fabric.intake.manifest.ManifestFormat>`,
``family_accession``), so the same manifest always gives the same cases and
accessions and a re-run finds the report it created before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_fabric.api.reports import FAMILY_SIZES, family_member
from airflow_provider_fabric.exceptions import FabricInputError
from airflow_provider_fabric.intake.manifest import TRUE, ManifestFormat, Sample

#: Family report types by the number of people (the proband and the relatives).
FAMILY_TYPES = {relatives + 1: name for name, relatives in FAMILY_SIZES.items()}


@dataclass(frozen=True)
class Member:
    """A person of a case: their sample's key, relationship to the proband, sex and whether affected."""

    key: str
    relationship: str
    sex: str
    affected: bool = False


@dataclass(frozen=True)
class Case:
    """One report to create: its type, accession, people (proband first) and problem.

    In XComs a case travels as :meth:`to_dict` (the accession included; never log it).
    """

    #: ``<run>:<line>`` of a panel sample, ``<run>:<line>,<line>...`` of a family's rows.
    key: str
    #: ``panel``, or the family report type (``Solo``... ``Quintet``; ``?`` for a bad size).
    report_type: str
    accession_id: str
    members: tuple[Member, ...]
    panel_id: int | None = None
    panel_test_code: str | None = None
    #: Why the case cannot be reported (no value quoted), or ``None``.
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The case as plain JSON for an XCom."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Case:
        """A case from :meth:`to_dict`."""
        members = tuple(Member(**member) for member in data["members"])
        return cls(**{**data, "members": members})

    def to_report(self, genomes: Mapping[str, int], output: str) -> dict[str, Any]:
        """What the case's report and exports need, once its samples have genomes.

        :param genomes: genome ID by sample key (a member without one gives the case a problem).
        :param output: the output area; the case's exports go to ``<output>/<accession>/``.
        :return: ``key``, ``problem``, the arguments of ``FabricCreateClinicalReportOperator``
            (``report_type``, ``panel_id``, ``panel_test_code``, ``accession_id``,
            ``proband_genome_id``, ``proband_sex``, ``family``) and the export paths
            ``variants_path``, ``report_path``, ``pdf_path``.
        """
        missing = [member.key for member in self.members if member.key not in genomes]
        problem = self.problem
        if problem is None and missing:
            problem = f"sample(s) {', '.join(missing)} did not upload and annotate"
        proband, *relatives = self.members
        panel = self.report_type == "panel"
        folder = f"{output}/{self.accession_id}"
        return {
            "key": self.key,
            "problem": problem,
            "report_type": self.report_type,
            "panel_id": self.panel_id,
            "panel_test_code": self.panel_test_code,
            "accession_id": self.accession_id,
            "proband_genome_id": genomes.get(proband.key),
            "proband_sex": None if panel else proband.sex[:1],
            "family": [
                {
                    "genome_id": genomes.get(member.key),
                    "sex": member.sex[:1],
                    "affected": member.affected,
                    "relationship": member.relationship,
                    "label": member.relationship.capitalize(),
                }
                for member in relatives
            ],
            "variants_path": f"{folder}/variants.vcf",
            "report_path": f"{folder}/report.json",
            "pdf_path": f"{folder}/report-preview.pdf",
        }


def report_arguments(case: Mapping[str, Any]) -> dict[str, Any]:
    """One case to report (from :meth:`Case.to_report`) without its ``problem``; raises the problem.

    :param case: a case from :meth:`Case.to_report`.
    :raises FabricInputError: the case cannot be reported (its key and cause, no value).
    """
    if case["problem"]:
        raise FabricInputError(f"case {case['key']}: {case['problem']}")
    return {name: value for name, value in case.items() if name != "problem"}


def plan_cases(
    samples: Sequence[Sample],
    manifest_format: ManifestFormat | None = None,
    *,
    accession_prefix: str = "",
    panel_id: int | None = None,
) -> list[Case]:
    """Group samples into cases: one per panel sample, one per family ID within a run.

    A panel sample with a problem makes no case (the sample alone fails). A family row
    with a problem still joins its family, whose case then has a problem too: a family is
    reported whole or not at all.

    :param samples: the samples of one or more runs (:func:`read_manifest`).
    :param manifest_format: how the lab writes manifests: test codes and accession templates.
    :param accession_prefix: the ``prefix`` of the accession templates.
    :param panel_id: the panel of rows whose test is plain ``panel``.
    :return: panel cases in manifest order, then family cases in order of first appearance.
    """
    spec = manifest_format or ManifestFormat()
    cases: list[Case] = []
    families: dict[tuple[str, str], list[Sample]] = {}
    for sample in samples:
        order = spec.order(sample.test)
        if order is not None and order.report == "family" and sample.family_id:
            families.setdefault((sample.run, sample.family_id), []).append(sample)
        elif order is not None and sample.problem is None:
            panel = order.panel_id if order.panel_id is not None or order.panel_test_code else panel_id
            cases.append(
                Case(
                    key=sample.key,
                    report_type="panel",
                    accession_id=spec.accession("panel", sample, accession_prefix),
                    members=(Member(sample.key, "proband", sample.sex),),
                    panel_id=panel,
                    panel_test_code=order.panel_test_code,
                    problem=None
                    if panel is not None or order.panel_test_code
                    else "no panel ID (test is panel and no panel_id param)",
                )
            )
    for (run, _), people in families.items():
        probands = [person for person in people if person.relationship == "proband"]
        ordered = probands + [person for person in people if person.relationship != "proband"]
        cases.append(
            Case(
                key=f"{run}:{','.join(str(person.line) for person in people)}",
                report_type=FAMILY_TYPES.get(len(people), "?"),
                accession_id=spec.accession("family", ordered[0], accession_prefix),
                members=tuple(
                    Member(person.key, person.relationship, person.sex, person.affected in TRUE)
                    for person in ordered
                ),
                problem=_family_problem(people, probands),
            )
        )
    return cases


def _family_problem(people: list[Sample], probands: list[Sample]) -> str | None:
    """Why a family cannot be reported (manifest lines and causes, no value), or ``None``."""
    bad = [str(person.line) for person in people if person.problem]
    if bad:
        return f"manifest line(s) {', '.join(bad)} of this family are invalid"
    if len(probands) != 1:
        return f"a family needs exactly one proband row, not {len(probands)}"
    if len(people) not in FAMILY_TYPES:
        return f"a family report takes 1 to {max(FAMILY_TYPES)} people, not {len(people)}"
    relatives = [person for person in people if person is not probands[0]]
    for position, person in enumerate(relatives, start=1):
        try:  # the family report's own rules for a relative (a mother is female...)
            family_member({"sex": person.sex, "relationship": person.relationship}, position)
        except FabricInputError as error:
            return f"manifest line {person.line}: {error}"
    return None
