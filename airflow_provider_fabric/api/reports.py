"""Clinical report creation bodies, checked before anything is sent.

Panel and family reports have strict shapes: the number of relatives must
match the report type, sexes and relationships come from small vocabularies,
and genome IDs are integers. A mistake here would otherwise surface hours
later as a failed VAAST run, so every rule is checked up front.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, overload

from airflow_provider_fabric.exceptions import FabricInputError

#: Family report types and how many relatives (besides the proband) each has.
FAMILY_SIZES = {"Solo": 0, "Duo": 1, "Trio": 2, "Quad": 3, "Quintet": 4}
RELATIONSHIPS = ("mother", "father", "sibling", "other")
REPORT_SEXES = {"m": "m", "male": "m", "f": "f", "female": "f"}
GENOME_SEXES = ("male", "female", "unspecified")
SHARE_ROLES = ("CONTRIBUTOR", "VIEWER", "NONE")


@overload
def as_id(value: Any, what: str) -> int: ...
@overload
def as_id(value: Any, what: str, *, optional: Literal[False]) -> int: ...
@overload
def as_id(value: Any, what: str, *, optional: bool) -> int | None: ...


def as_id(value: Any, what: str, *, optional: bool = False) -> int | None:
    """Coerce an object ID (int, or digits from a template) to ``int``; refuse anything else.

    :param value: the ID as given or rendered.
    :param what: the argument's name, for the error message (the value is never repeated).
    :param optional: return ``None`` for a missing value instead of raising.
    :raises FabricInputError: missing (unless optional) or not an integer ID.
    """
    if value is None or value == "":
        if optional:
            return None
        raise FabricInputError(f"{what} is required")
    if isinstance(value, bool):
        raise FabricInputError(f"{what} must be an integer ID, got a boolean")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    raise FabricInputError(f"{what} must be an integer ID, got a {type(value).__name__} that is not digits")


def genome_sex(value: str) -> str:
    """Check a genome's sex for upload: ``male``, ``female`` or ``unspecified``.

    :param value: the sex as given (case and surrounding spaces ignored).
    :raises FabricInputError: any other value.
    """
    sex = str(value).strip().lower()
    if sex not in GENOME_SEXES:
        raise FabricInputError(f"genome_sex must be one of {', '.join(GENOME_SEXES)}")
    return sex


def _report_sex(value: Any, who: str) -> str:
    sex = REPORT_SEXES.get(str(value).strip().lower())
    if sex is None:
        raise FabricInputError(f"{who}: sex must be 'm' or 'f' (or male/female)")
    return sex


def panel_report_payload(
    *,
    panel_id: Any,
    accession_id: str | None = None,
    proband_genome_id: Any = None,
    filter_id: Any = None,
    project_id: Any = None,
) -> dict[str, Any]:
    """Body of a panel report. With no proband genome, ``project_id`` is required.

    :param panel_id: the gene panel to report on.
    :param accession_id: the lab's accession number (PHI: never logged).
    :param proband_genome_id: the proband's genome, or ``None`` to attach it later.
    :param filter_id: an optional variant filter.
    :param project_id: the project of a report created without a genome.
    """
    genome = as_id(proband_genome_id, "proband_genome_id", optional=True)
    project = as_id(project_id, "project_id", optional=True)
    if genome is None and project is None:
        raise FabricInputError("a panel report without a proband genome needs project_id")
    payload: dict[str, Any] = {
        "report_type": "panel",
        "proband_genome_id": genome,
        "panel_id": as_id(panel_id, "panel_id"),
        "accession_id": accession_id,
    }
    if filter_id is not None:
        payload["filter_id"] = as_id(filter_id, "filter_id")
    if project is not None:
        payload["project_id"] = project
    return payload


def family_member(member: Mapping[str, Any], position: int) -> dict[str, Any]:
    """Check one relative (``genome_id``, ``sex``, ``affected``, ``relationship``, ``label``).

    :param member: the relative's fields.
    :param position: the relative's place in the family (1-4), for messages.
    :raises FabricInputError: an unknown key or a bad value.
    """
    who = f"family member {position}"
    unknown = set(member) - {"genome_id", "sex", "affected", "relationship", "label"}
    if unknown:
        raise FabricInputError(f"{who}: unknown keys {sorted(unknown)}")
    relationship = str(member.get("relationship", "")).strip().lower()
    if relationship not in RELATIONSHIPS:
        raise FabricInputError(f"{who}: relationship must be one of {', '.join(RELATIONSHIPS)}")
    affected = member.get("affected", False)
    if isinstance(affected, str):
        if affected.strip().lower() not in ("true", "false", "yes", "no", "1", "0", ""):
            raise FabricInputError(f"{who}: affected must be true or false")
        affected = affected.strip().lower() in ("true", "yes", "1")
    sex = _report_sex(member.get("sex"), who)
    if relationship == "mother" and sex != "f":
        raise FabricInputError(f"{who}: a mother must have sex 'f'")
    if relationship == "father" and sex != "m":
        raise FabricInputError(f"{who}: a father must have sex 'm'")
    return {
        "genome_id": as_id(member.get("genome_id"), f"{who} genome_id", optional=True),
        "sex": sex,
        "affected": bool(affected),
        "relationship": relationship,
        "label": member.get("label"),
    }


def family_report_payload(
    *,
    report_type: str,
    proband_genome_id: Any,
    proband_sex: str,
    family: Sequence[Mapping[str, Any]] = (),
    accession_id: str | None = None,
    project_id: Any = None,
    score_indels: bool = False,
    hpo_terms: Sequence[str] | None = None,
    background: str = "FULL",
) -> dict[str, Any]:
    """Body of a family report (Solo, Duo, Trio, Quad or Quintet).

    :param report_type: one of ``Solo``, ``Duo``, ``Trio``, ``Quad``, ``Quintet``.
    :param proband_genome_id: the proband's genome (``None`` to attach later).
    :param proband_sex: ``m`` or ``f``.
    :param family: up to four relatives, as many as the report type needs.
    :param accession_id: the lab's accession number (PHI: never logged).
    :param project_id: the project (needed when genomes are attached later).
    :param score_indels: score indels in VAAST.
    :param hpo_terms: HPO term IDs describing the phenotype.
    :param background: the VAAST background.
    """
    canonical = {name.lower(): name for name in FAMILY_SIZES}.get(str(report_type).strip().lower())
    if canonical is None:
        raise FabricInputError(f"report_type must be one of {', '.join(FAMILY_SIZES)} or 'panel'")
    members = list(family or ())
    expected = FAMILY_SIZES[canonical]
    if len(members) != expected:
        raise FabricInputError(
            f"a {canonical} report needs {expected} family member(s) besides the proband, got {len(members)}"
        )
    payload: dict[str, Any] = {
        "report_type": canonical,
        "proband": {
            "genome_id": as_id(proband_genome_id, "proband_genome_id", optional=True),
            "sex": _report_sex(proband_sex, "proband"),
        },
        "background": background,
        "score_indels": bool(score_indels),
        "accession_id": accession_id,
        "project_id": as_id(project_id, "project_id", optional=True),
        "hpo_terms": json.dumps(list(hpo_terms or [])),
    }
    for position in range(1, 5):
        payload[f"family_{position}"] = (
            family_member(members[position - 1], position) if position <= len(members) else None
        )
    return payload
