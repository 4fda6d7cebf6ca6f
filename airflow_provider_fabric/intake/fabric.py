"""What Fabric already has: the samples and cases earlier intake runs (or anyone) took in.

The intake asks the questions the operators ask before they create anything,
through the same hook methods, so the answers cannot drift apart: a sample is in
Fabric when the project holds a genome with its external ID and the checksum of
the bytes its upload sends (:meth:`FabricHook.find_uploaded_genome
<airflow_provider_fabric.hooks.fabric.FabricHook.find_uploaded_genome>`, as
``FabricUploadGenomeOperator`` does); a case is reported when a report has
exactly its accession (:meth:`FabricHook.find_reports_by_accession
<airflow_provider_fabric.hooks.fabric.FabricHook.find_reports_by_accession>`,
as ``FabricCreateClinicalReportOperator`` does).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.intake.manifest import Sample


def upload_md5(location: Any) -> str | None:
    """The MD5 of the bytes an upload of this VCF sends, as ``FabricUploadGenomeOperator`` finds it.

    The MD5 in the ``.md5`` file beside the VCF when there is one (then the VCF itself is
    not read: write ``.md5`` files to keep planning cheap), else the checksum pass
    (:func:`~airflow_provider_fabric.upload.upload_checksum`).

    :param location: the VCF: a local path, a URL or an ``ObjectStoragePath``.
    :return: the MD5, or ``None`` when the VCF or its ``.md5`` file cannot be read (the
        sample is then planned for upload, whose task says what is wrong).
    """
    from airflow_provider_fabric.upload import read_md5_sidecar, upload_checksum

    try:
        return read_md5_sidecar(location) or upload_checksum(location).md5
    except (OSError, ValueError):  # FabricInputError is a ValueError
        return None


def find_uploaded(hook: FabricHook, project_id: int | str, samples: Iterable[Sample]) -> dict[str, int]:
    """The samples already in the project: same external ID and same bytes, annotation not failed.

    A sample's VCF is read (or its ``.md5`` file) only when the project holds a genome
    with its external ID. Samples with a problem are never looked up.

    :param hook: the Fabric connection.
    :param project_id: the intake's project.
    :param samples: the samples of the landing area.
    :return: genome ID by sample key, for the samples found.
    """
    found = {}
    for sample in samples:
        if sample.problem:
            continue
        md5 = functools.partial(upload_md5, sample.vcf_path)
        genome_id = hook.find_uploaded_genome(project_id, sample.external_id, md5)
        if genome_id is not None:
            found[sample.key] = genome_id
    return found


def is_reported(hook: FabricHook, accession_id: str) -> bool:
    """Whether a report with exactly this accession exists (a case's report is then reused).

    :param hook: the Fabric connection.
    :param accession_id: the case's accession (PHI: sent in the safe-params header only).
    """
    return bool(hook.find_reports_by_accession(accession_id))
