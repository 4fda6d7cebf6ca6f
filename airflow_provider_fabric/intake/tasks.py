"""Task helpers for an intake DAG's mapped groups: the first and last task of each group.

Call them inside a ``@task_group`` as ``example_fabric_intake`` does: the
``check_*`` tasks fail their own mapped instance (and nothing else) when a row or
a case has a problem, else hand the operators their arguments; the last tasks
record what the group achieved, by key and Fabric ID only (no PHI), for
:func:`mapped_results`.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import task

from airflow_provider_fabric.intake.cases import report_arguments
from airflow_provider_fabric.intake.manifest import upload_arguments

__all__ = ["annotated", "check_case", "check_sample", "mapped_results", "reported"]


@task(multiple_outputs=True, show_return_value_in_logs=False, retries=0)
def check_sample(sample: dict[str, Any]) -> dict[str, str]:
    """Fail this sample (only) if its manifest row is malformed; else give its upload's arguments.

    :param sample: one sample of the plan (:meth:`Sample.to_dict
        <airflow_provider_fabric.intake.manifest.Sample.to_dict>`).
    :return: :func:`~airflow_provider_fabric.intake.manifest.upload_arguments`.
    """
    return upload_arguments(sample)


@task
def annotated(sample: dict[str, Any], genome_id: Any) -> dict[str, Any]:
    """Record that this sample's genome is uploaded and annotated.

    :param sample: the sample.
    :param genome_id: its genome.
    :return: ``key`` (``<run>:<line>``) and ``genome_id``.
    """
    return {"key": sample["key"], "genome_id": int(genome_id)}


@task(multiple_outputs=True, show_return_value_in_logs=False, retries=0)
def check_case(case: dict[str, Any]) -> dict[str, Any]:
    """Fail this case (only) if it cannot be reported; else give its report's arguments.

    :param case: one case to report (:meth:`Case.to_report
        <airflow_provider_fabric.intake.cases.Case.to_report>`).
    :return: :func:`~airflow_provider_fabric.intake.cases.report_arguments`.
    """
    return report_arguments(case)


@task
def reported(case: dict[str, Any], report_id: Any) -> dict[str, Any]:
    """Record that this case's report is ready and exported.

    :param case: the case.
    :param report_id: its report.
    :return: ``key`` and ``report_id``.
    """
    return {"key": case["key"], "report_id": int(report_id)}


def mapped_results(ti: Any, task_id: str, mapped_over: list[Any] | None) -> list[Any]:
    """The return value of each mapped instance of ``task_id``, in order (``None`` where it failed).

    :param ti: the calling task instance.
    :param task_id: the mapped task, ``<group>.<task>``.
    :param mapped_over: what its group was mapped over (one instance each).
    """
    return [ti.xcom_pull(task_ids=task_id, map_indexes=index) for index in range(len(mapped_over or []))]
