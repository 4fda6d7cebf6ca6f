"""The scheduled intake of a landing area, as plain functions a DAG calls (``example_fabric_intake``).

Secondary analysis drops one folder per sequencing run into a landing area
(any object storage), holding the run's VCFs and a manifest. An intake run:

1. :func:`plan_intake`: finds the run folders (:func:`find_manifests`), reads
   every manifest into checked :class:`Sample` rows (:func:`read_manifest`, in
   the lab's :class:`ManifestFormat`), groups them into panel and family
   :class:`Case` objects with stable accessions (:func:`plan_cases`), and
   leaves out the samples already in Fabric (:func:`find_uploaded`);
2. uploads each new sample (:func:`upload_arguments` gives the upload's
   arguments, or raises the row's problem);
3. :func:`cases_to_report`: gives each case its genomes and leaves out the
   cases already reported (:func:`report_arguments` gives a report's
   arguments, or raises the case's problem);
4. :func:`summarize`: what was processed, skipped and failed.

Importing this package is cheap (DAG files import it): the hook, the VCF
reader and object storage are imported when a function needs them.
"""

from __future__ import annotations

from airflow_provider_fabric.intake.cases import FAMILY_TYPES, Case, Member, plan_cases, report_arguments
from airflow_provider_fabric.intake.fabric import find_uploaded, is_reported, upload_md5
from airflow_provider_fabric.intake.manifest import (
    FAMILY,
    FIELDS,
    PANEL,
    REQUIRED,
    ManifestFormat,
    Order,
    Sample,
    read_manifest,
    upload_arguments,
)
from airflow_provider_fabric.intake.plan import (
    IntakePlan,
    cases_to_report,
    find_manifests,
    param_or_variable,
    plan_intake,
)
from airflow_provider_fabric.intake.summary import IntakeSummary, summarize

__all__ = [
    "FAMILY",
    "FAMILY_TYPES",
    "FIELDS",
    "PANEL",
    "REQUIRED",
    "Case",
    "IntakePlan",
    "IntakeSummary",
    "ManifestFormat",
    "Member",
    "Order",
    "Sample",
    "cases_to_report",
    "find_manifests",
    "find_uploaded",
    "is_reported",
    "param_or_variable",
    "plan_cases",
    "plan_intake",
    "read_manifest",
    "report_arguments",
    "summarize",
    "upload_arguments",
    "upload_md5",
]
