"""Confirmation loop: reviewed variants out to orthogonal confirmation, validation statuses back in.

Before sign-out, a lab confirms the variants its reviewers selected with an
orthogonal method (Sanger sequencing, MLPA...). This DAG:

1. exports the report's ``REVIEWED`` variants as VCF (what goes to the wet lab)
   and their scoring evidence as JSON (what the reviewers scored them on);
2. runs the confirmation step. Here it is a placeholder task: it writes a VCF
   of the variants marked ``VALIDATION=CONFIRMED`` (the INFO key Fabric reads in
   bulk status VCFs). A lab plugs its Sanger results import in here;
3. bulk-sets the validation statuses in Fabric from that VCF;
4. marks the first confirmed variant as a primary finding;
5. exports the reviewed variants again and checks that Fabric now shows every
   confirmed variant as ``CONFIRMED``.

Run it for a report that is processed and not yet signed out (``READY TO
REVIEW``), e.g. one made by ``example_fabric_trio``. Files live on object
storage (local path, ``file://``, ``s3://``...). Connection:
``fabric_genomics_default``.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_fabric.operators.exports import (
    FabricExportScoredVariantsOperator,
    FabricExportVariantsOperator,
)
from airflow_provider_fabric.operators.variants import (
    FabricSetVariantStatusesOperator,
    FabricUpdateVariantOperator,
)

# One folder per report and run: a later confirmation round never overwrites an earlier one's records.
OUTPUT = (
    "{{ params.output_base.rstrip('/') }}/confirmation/report-{{ params.report_id }}/"
    "{{ run_id | replace(':', '-') | replace('+', '-') }}"
)


def _vcf_records(location: str) -> tuple[list[str], list[list[str]]]:
    """Header lines and data records (as column lists) of a small VCF on object storage."""
    from airflow_provider_fabric.storage import open_source

    header: list[str] = []
    records: list[list[str]] = []
    with open_source(location) as handle:
        for raw in handle:
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith("#"):
                header.append(line)
            elif line:
                records.append(line.split("\t"))
    return header, records


def _info(record: list[str]) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in record[7].split(";") if item and item != ".")


def _key(record: list[str]) -> tuple[str, str, str, str]:
    return record[0].removeprefix("chr"), record[1], record[3], record[4]


with DAG(
    dag_id="example_fabric_confirmation",
    description="Confirmation loop: export reviewed variants, confirm them, set validation statuses",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["fabric-genomics", "example", "clinical"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=30)},
    params={
        "report_id": Param(1, type="integer", minimum=1, description="A processed report (READY TO REVIEW)"),
        "output_base": Param(
            "s3://lab-fabric-exports",
            type="string",
            minLength=1,
            description="Where the exported and validated VCFs are written",
        ),
    },
) as dag:
    # What goes to the wet lab: every variant the reviewers marked REVIEWED.
    export_reviewed = FabricExportVariantsOperator(
        task_id="export_reviewed",
        report_id="{{ params.report_id }}",
        destination=OUTPUT + "/reviewed.vcf",
        format="vcf",
        status="REVIEWED",
    )

    # [START howto_operator_fabric_export_scored_variants]
    # The scoring evidence behind the reviewed variants (criteria and audit log), kept with the
    # confirmation records.
    export_scored = FabricExportScoredVariantsOperator(
        task_id="export_scored",
        report_id="{{ params.report_id }}",
        destination=OUTPUT + "/scored.json",
        scoring_status=["scored", "classified"],
        audit_log=True,
    )
    # [END howto_operator_fabric_export_scored_variants]

    @task(multiple_outputs=True)
    def sanger_confirmation(exported: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Placeholder for the lab's orthogonal confirmation: every reviewed variant comes back CONFIRMED.

        A lab replaces this task with the import of its Sanger (or MLPA...) results. It writes a
        VCF of the validated variants with ``VALIDATION=<status>`` in INFO (``CONFIRMED``, ``FAIL``,
        ``NOT_CONFIRMED`` or ``PENDING``), the form Fabric reads when statuses are set in bulk.

        :param exported: the reviewed-variants export's result (its ``destination``).
        :param params: the run's params (filled in by Airflow).
        :return: where the validated VCF is, how many variants it holds and the first one's ID.
        :raises AirflowSkipException: when no variant is REVIEWED yet (the rest of the loop is skipped).
        """
        from airflow.providers.common.compat.sdk import AirflowSkipException

        from airflow_provider_fabric.storage import as_path, atomic_writer

        header, records = _vcf_records(exported["destination"])
        if not records:
            raise AirflowSkipException("No REVIEWED variants to confirm yet: nothing to send back")
        destination = as_path(exported["destination"]).parent / "validated.vcf"
        info_line = '##INFO=<ID=VALIDATION,Number=1,Type=String,Description="Validation status">'
        with atomic_writer(destination) as out:
            for line in header:
                if line.startswith("#CHROM") and info_line not in header:
                    out.write((info_line + "\n").encode())
                out.write((line + "\n").encode())
            for record in records:
                info = {key: value for key, value in _info(record).items() if key != "VALIDATION"}
                info["VALIDATION"] = "CONFIRMED"
                record[7] = ";".join(f"{key}={value}" if value else key for key, value in info.items())
                out.write(("\t".join(record) + "\n").encode())
        first = _info(records[0]).get("RVID")
        return {
            "validated": str(destination),
            "variant_count": len(records),
            "first_report_variant_id": int(first) if first else None,
        }

    confirmed = sanger_confirmation(export_reviewed.output)

    # [START howto_operator_fabric_set_variant_statuses]
    # Bring the confirmation results back: one VCF sets the validation status of many variants.
    set_statuses = FabricSetVariantStatusesOperator(
        task_id="set_validation_statuses",
        report_id="{{ params.report_id }}",
        source=confirmed["validated"],
    )
    # [END howto_operator_fabric_set_variant_statuses]

    # [START howto_operator_fabric_update_variant]
    # A reviewer's decision on one variant: report the confirmed variant as a primary finding.
    update_variant = FabricUpdateVariantOperator(
        task_id="mark_primary_finding",
        report_id="{{ params.report_id }}",
        report_variant_id=confirmed["first_report_variant_id"],
        to_report="PRIMARY_FINDING",
    )
    # [END howto_operator_fabric_update_variant]

    # The same export again: what the reviewers now see in Fabric.
    export_after = FabricExportVariantsOperator(
        task_id="export_reviewed_after",
        report_id="{{ params.report_id }}",
        destination=OUTPUT + "/reviewed-after.vcf",
        format="vcf",
        status="REVIEWED",
    )

    @task
    def verify_statuses(validated: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
        """Check that Fabric shows every variant sent back as CONFIRMED with that status now.

        :param validated: the confirmation task's result.
        :param after: the second export's result.
        :return: counts of validated variants and of those Fabric shows as confirmed.
        """
        _, sent = _vcf_records(validated["validated"])
        _, now = _vcf_records(after["destination"])
        shown = {_key(record): _info(record).get("VALIDATION") for record in now}
        missing = [record for record in sent if shown.get(_key(record)) != "CONFIRMED"]
        if missing:
            raise ValueError(f"{len(missing)} of {len(sent)} confirmed variants do not show CONFIRMED")
        return {"validated": len(sent), "confirmed_in_fabric": len(sent)}

    [set_statuses, update_variant] >> export_after
    export_scored >> set_statuses
    verify_statuses(confirmed, export_after.output)
