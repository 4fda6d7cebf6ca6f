"""An intake run's plans: what is new in the landing area, then which cases to report.

:func:`plan_intake` runs before the uploads: it finds the run folders of the
landing area (:func:`find_manifests`), reads their manifests, plans the cases,
and leaves out the samples already in Fabric. :func:`cases_to_report` runs after
the uploads: it gives each case its genomes and leaves out the cases already
reported. Both log counts and sample keys only (``<run>:<line>``), never a value
of a manifest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_fabric.intake.cases import Case, plan_cases
from airflow_provider_fabric.intake.fabric import find_uploaded, is_reported
from airflow_provider_fabric.intake.manifest import ManifestFormat, Sample, read_manifest

if TYPE_CHECKING:
    from airflow_provider_fabric.hooks.fabric import FabricHook

log = logging.getLogger(__name__)


def param_or_variable(params: Mapping[str, Any], name: str, variable: str, default: str) -> str:
    """A setting from a run's params, else from an Airflow Variable, else its default.

    Manual runs give settings in their conf; scheduled runs (which have none) read the lab's
    Airflow Variables.

    :param params: the run's params.
    :param name: the param's name.
    :param variable: the Airflow Variable's name.
    :param default: the value when neither is set.
    :return: the setting, without a trailing ``/`` (settings are URLs of folders).
    """
    from airflow.providers.common.compat.sdk import Variable

    value = params.get(name) or Variable.get(variable, default=default)
    return str(value).rstrip("/")


def find_manifests(landing: Any, file_name: str = "manifest.csv") -> list[tuple[str, Any]]:
    """The run folders of a landing area that hold a manifest, by name.

    A landing area holds one folder per sequencing run; a folder is taken in once its
    manifest exists (so write the manifest last). Hidden folders (``.name``) are skipped.

    :param landing: a local path, a URL (``s3://``, ``gs://``...) or an ``ObjectStoragePath``.
    :param file_name: the manifest's name in each run folder.
    :return: ``(run folder name, manifest ObjectStoragePath)`` pairs, sorted by name.
    :raises FabricInputError: the landing area does not exist or is not a folder (on object
        stores, a folder exists once it holds a file).
    """
    from airflow_provider_fabric.exceptions import FabricInputError
    from airflow_provider_fabric.storage import as_path

    root = as_path(landing)
    if not root.is_dir():
        raise FabricInputError("the landing area does not exist or is not a folder")
    runs = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=str)
    return [(run.name, run / file_name) for run in runs if (run / file_name).exists()]


@dataclass
class IntakePlan:
    """What one intake run takes in: every sample and case of the landing area, and what is new."""

    #: The run folders with a manifest.
    runs: list[str]
    #: Every row of every manifest (with or without a problem).
    samples: list[Sample]
    #: Genome ID by sample key: the samples already in Fabric.
    uploaded: dict[str, int]
    #: Every case of every manifest.
    cases: list[Case]

    @property
    def to_upload(self) -> list[Sample]:
        """The samples not in Fabric yet, those with a problem included (their upload task fails)."""
        return [sample for sample in self.samples if sample.key not in self.uploaded]

    def describe(self) -> str:
        """One log line of counts."""
        problems = sum(1 for sample in self.samples if sample.problem)
        return (
            f"Landing area: {len(self.runs)} run folder(s), {len(self.samples)} sample(s): "
            f"{len(self.to_upload)} to upload ({problems} with manifest problems), "
            f"{len(self.uploaded)} already in Fabric; {len(self.cases)} case(s)"
        )


def plan_intake(
    hook: FabricHook,
    project_id: int | str,
    landing: Any,
    manifest_format: ManifestFormat | None = None,
    *,
    accession_prefix: str = "",
    panel_id: int | None = None,
) -> IntakePlan:
    """Read every run's manifest in the landing area, plan its cases, find what is in Fabric.

    Samples and cases come in run folder order, then manifest order.

    :param hook: the Fabric connection.
    :param project_id: the intake's project (where samples are looked for and uploaded).
    :param landing: the landing area (see :func:`find_manifests`).
    :param manifest_format: how the lab writes manifests (default: :class:`ManifestFormat`).
    :param accession_prefix: the ``prefix`` of the accession templates.
    :param panel_id: the panel of rows whose test is plain ``panel``.
    """
    spec = manifest_format or ManifestFormat()
    runs, samples, cases = [], [], []
    for run, manifest in find_manifests(landing, spec.file_name):
        rows = read_manifest(manifest, run, spec)
        runs.append(run)
        samples += rows
        cases += plan_cases(rows, spec, accession_prefix=accession_prefix, panel_id=panel_id)
    plan = IntakePlan(runs, samples, find_uploaded(hook, project_id, samples), cases)
    log.info(plan.describe())
    return plan


def cases_to_report(
    hook: FabricHook,
    cases: Sequence[Mapping[str, Any]],
    uploaded: Mapping[str, int],
    annotated: Iterable[Mapping[str, Any] | None],
    output: str,
) -> list[dict[str, Any]]:
    """The cases this run reports, each with its genomes and export paths (:meth:`Case.to_report`).

    A case whose samples were all in Fabric before this run is left out if it is reported
    already; a case with a problem, or whose samples did not all upload and annotate, is kept
    with its problem (its report task fails, alone).

    :param hook: the Fabric connection.
    :param cases: the plan's cases (:meth:`Case.to_dict`).
    :param uploaded: genome ID by sample key of the samples in Fabric before this run.
    :param annotated: ``{"key", "genome_id"}`` of each sample this run uploaded and annotated
        (``None`` for a sample that failed).
    :param output: the output area.
    """
    genomes = dict(uploaded)
    genomes.update({done["key"]: int(done["genome_id"]) for done in annotated if done})
    todo = []
    for data in cases:
        case = Case.from_dict(data)
        old = all(member.key in uploaded for member in case.members)
        if case.problem is None and old and is_reported(hook, case.accession_id):
            log.info("Case %s: already reported, skipped", case.key)
            continue
        todo.append(case.to_report(genomes, output))
    log.info("%d case(s) to report, %d already reported", len(todo), len(cases) - len(todo))
    return todo
