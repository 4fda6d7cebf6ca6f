"""Confirmation loop: reviewed variants out to orthogonal confirmation, validation statuses back in.

Before sign-out, a lab confirms the variants its reviewers selected with an
orthogonal method (Sanger sequencing, MLPA...). This DAG:

1. exports the report's ``REVIEWED`` variants as VCF (what goes to the wet lab)
   and their scoring evidence as JSON (what the reviewers scored them on);
2. runs the confirmation step. Here it is a placeholder task that confirms
   every variant: it writes the bulk status VCF the way the vendor's own
   example client (``set_report_variants.py``) does — each variant's result,
   ``CONFIRMED`` or ``FAIL``, in its FILTER column, declared in ``##FILTER``
   header lines. A lab plugs its Sanger results import in here;
3. sets the statuses in Fabric from that VCF. The operator refuses a file
   without a status in FILTER before sending anything, and reads the statuses
   back from Fabric's JSON export afterwards: the task fails if any did not
   take effect;
4. marks the first confirmed variant as a primary finding. The variant is
   named by its location; its ID in the report comes from the JSON export.

Run it for a report that is processed and not yet signed out (``READY TO
REVIEW``), e.g. one made by ``example_fabric_trio``. Running it again with the
same conf changes nothing: confirmed variants are no longer ``REVIEWED``, so
there is nothing left to confirm, and the operators send nothing Fabric
already shows. Files live on object storage (local path, ``file://``,
``s3://``...). Connection: ``fabric_genomics_default``.
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
# The bulk status VCF's header lines, as in the vendor's example client.
STATUS_FILTERS = (
    '##FILTER=<ID=FAIL,Description="Failed external confirmation">',
    '##FILTER=<ID=CONFIRMED,Description="Passed external confirmation">',
)

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
        "report_id": Param(type="integer", minimum=1, description="A processed report (READY TO REVIEW)"),
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
    def sanger_confirmation(exported: dict[str, Any]) -> dict[str, Any]:
        """Placeholder for the lab's orthogonal confirmation: every reviewed variant comes back CONFIRMED.

        A lab replaces this task with the import of its Sanger (or MLPA...) results. It writes
        the bulk status VCF: the exported records, each with its result (``CONFIRMED`` or
        ``FAIL``) in FILTER and ``.`` in INFO, and the two ``##FILTER`` header lines.

        :param exported: the reviewed-variants export's result (its ``destination``).
        :return: where the status VCF is, how many variants it holds, and the first one's location.
        :raises AirflowSkipException: when no variant is REVIEWED (the rest of the loop is skipped).
        """
        from airflow.providers.common.compat.sdk import AirflowSkipException

        from airflow_provider_fabric.storage import as_path, atomic_writer, open_source

        with open_source(exported["destination"]) as handle:
            lines = [raw.decode("utf-8").rstrip("\r\n") for raw in handle]
        header = [line for line in lines if line.startswith("#") and not line.startswith("##FILTER=")]
        records = [line.split("\t") for line in lines if line and not line.startswith("#")]
        if not records:
            raise AirflowSkipException("No REVIEWED variants to confirm: nothing to send back")
        destination = as_path(exported["destination"]).parent / "validated.vcf"
        with atomic_writer(destination) as out:
            out.write("\n".join([*header[:-1], *STATUS_FILTERS, header[-1], ""]).encode())
            for record in records:
                record[6:8] = ["CONFIRMED", "."]  # FILTER: the result; INFO: nothing, as the vendor's
                out.write(("\t".join(record) + "\n").encode())
        chrom, pos, _, ref, alt = records[0][:5]
        return {
            "validated": str(destination),
            "variant_count": len(records),
            "first_variant": {"chrom": chrom, "pos": int(pos), "ref": ref, "alt": alt},
        }

    confirmed = sanger_confirmation(export_reviewed.output)

    # [START howto_operator_fabric_set_variant_statuses]
    # Bring the confirmation results back: one VCF sets the status of many variants. The file is
    # checked before sending, and the statuses are read back from Fabric afterwards.
    set_statuses = FabricSetVariantStatusesOperator(
        task_id="set_validation_statuses",
        report_id="{{ params.report_id }}",
        source=confirmed["validated"],
    )
    # [END howto_operator_fabric_set_variant_statuses]

    # [START howto_operator_fabric_update_variant]
    # A reviewer's decision on one variant: report the first confirmed variant as a primary finding.
    # It is named by its location; the operator finds its ID in Fabric's JSON export.
    update_variant = FabricUpdateVariantOperator(
        task_id="mark_primary_finding",
        report_id="{{ params.report_id }}",
        variant=confirmed["first_variant"],
        to_report="PRIMARY_FINDING",
    )
    # [END howto_operator_fabric_update_variant]

    export_scored >> set_statuses >> update_variant
