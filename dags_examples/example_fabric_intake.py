"""Scheduled intake: every hour, take the new VCFs in a landing area into Fabric and report them.

Secondary analysis drops one folder per sequencing run into a landing area (a local folder,
``s3://``, ``gs://``...): the run's VCFs and a ``manifest.csv``, one row per sample. Each run:

1. ``plan_intake`` reads every manifest, checks each row, groups the rows into panel and
   family cases with accessions derived from the manifest, and leaves out the samples
   already in Fabric (same external ID and file checksum): re-runs never upload twice;
2. ``sample`` (mapped per new sample) uploads the VCF (checked first) and waits for annotation;
3. ``plan_cases`` gives each case its genomes and leaves out the cases already reported;
4. ``case`` (mapped per case) creates the report (or reuses the one with its accession), waits
   until it is ready to review and exports the variants (VCF), the report (JSON) and the
   preview PDF into ``<output>/<accession>/``, updating :data:`REPORTS_ASSET` (which
   schedules ``example_fabric_lims_sync``);
5. ``summary`` lists what was processed, skipped and failed (manifest lines and Fabric IDs,
   no PHI). A bad row or VCF fails only its own tasks and case; ``summary`` then fails the
   run so the lab is alerted (``fail_on_errors=False`` turns that off).

The logic lives in :mod:`airflow_provider_fabric.intake`. A lab adapts :data:`MANIFEST`
(columns, test codes, accession scheme), the Variables of :data:`VARIABLES` (a manual run
may give ``landing_url`` and ``output_url`` instead), the schedule and the connection
``fabric_genomics_default``. XComs hold labels, external IDs and accessions; none is logged.

**Demo** (the how-to "Scheduled intake" has the whole recipe against a local sandbox)::

    python -m airflow_provider_fabric.testing.intake /tmp/intake/landing run-0001  # + a GRCh38 VCF
    airflow dags test example_fabric_intake 2025-03-01T10:00:00+00:00
    python -m airflow_provider_fabric.testing.intake /tmp/intake/landing run-0002 --no-bad
    airflow dags test example_fabric_intake 2025-03-01T11:00:00+00:00   # takes in run-0002 only
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, task, task_group

from airflow_provider_fabric import intake
from airflow_provider_fabric.intake.tasks import annotated, check_case, check_sample, mapped_results, reported
from airflow_provider_fabric.operators.exports import (
    FabricExportReportPdfOperator,
    FabricExportVariantsOperator,
    FabricGetClinicalReportOperator,
)
from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator
from airflow_provider_fabric.operators.projects import FabricCreateProjectOperator
from airflow_provider_fabric.operators.reports import FabricCreateClinicalReportOperator
from airflow_provider_fabric.sensors.fabric import (
    FabricClinicalReportStatusSensor,
    FabricGenomeAnnotationSensor,
)

#: Updated by every report export of this DAG; ``example_fabric_lims_sync`` is scheduled on it.
REPORTS_ASSET = Asset(name="fabric_intake_reports", uri="fabric://intake/reports")
#: The lab's manifest: file name, columns, test codes, accession scheme (how-to "Adapting the intake").
MANIFEST = intake.ManifestFormat()
#: Settings a run's conf does not give: (Airflow Variable, default).
VARIABLES = {
    "landing_url": ("fabric_intake_landing_url", "s3://lab-sequencing/landing"),
    "output_url": ("fabric_intake_output_url", "s3://lab-fabric-exports/intake"),
}
URL = ["null", "string"]  # the type of the URL params: None (the default) means the Variable
# Panels annotate in minutes; family analyses take hours. The demo and tests set this to ~1 second.
POKE_INTERVAL = float(os.environ.get("FABRIC_EXAMPLE_POKE_INTERVAL", "60"))
# Retries cover network and server trouble; the demo and tests shorten the wait between tries.
RETRY_DELAY = float(os.environ.get("FABRIC_EXAMPLE_RETRY_DELAY", "30"))

with DAG(
    dag_id="example_fabric_intake",
    description="Scheduled intake: new VCFs in a landing area are uploaded, reported and exported",
    schedule="@hourly",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["fabric-genomics", "example", "clinical", "intake"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=RETRY_DELAY)},
    params={
        "landing_url": Param(None, type=URL, description="Default: Variable fabric_intake_landing_url"),
        "output_url": Param(None, type=URL, description="Default: Variable fabric_intake_output_url"),
        "project_name": Param("Clinical intake", type="string", minLength=1),
        "panel_id": Param(None, type=["null", "integer"], description="Panel of rows whose test is 'panel'"),
        "accession_prefix": Param("INTAKE-", type="string", description="Prefixed to derived accessions"),
        "fail_on_errors": Param(True, type="boolean", description="Fail the run if a sample or case failed"),
    },
) as dag:
    create_project = FabricCreateProjectOperator(
        task_id="create_project",
        project_name="{{ params.project_name }}",
        description="Samples taken in by the scheduled intake (created by Airflow)",
    )

    @task(show_return_value_in_logs=False)
    def plan_intake(project_id: Any, params: dict[str, Any], ti: Any) -> list[dict[str, Any]]:
        """The new samples to upload; pushes the samples in Fabric (``skipped``) and the ``cases``."""
        from airflow_provider_fabric.hooks.fabric import FabricHook

        landing = intake.param_or_variable(params, "landing_url", *VARIABLES["landing_url"])
        prefix, panel = params["accession_prefix"], params.get("panel_id")
        plan = intake.plan_intake(
            FabricHook(), project_id, landing, MANIFEST, accession_prefix=prefix, panel_id=panel
        )
        ti.xcom_push(key="skipped", value=plan.uploaded)
        ti.xcom_push(key="cases", value=[case.to_dict() for case in plan.cases])
        return [sample.to_dict() for sample in plan.to_upload]

    # [START howto_fabric_intake_sample_group]
    # One mapped group per new sample: a bad row or a bad VCF fails only its own instance.
    @task_group(group_id="sample")
    def sample_group(sample: Any) -> None:
        row = check_sample(sample)
        upload = FabricUploadGenomeOperator(
            task_id="upload_genome",
            project_id=create_project.output,
            vcf_path=row["vcf_path"],
            genome_label=row["genome_label"],
            genome_sex=row["genome_sex"],
            external_id=row["external_id"],
        )
        wait = FabricGenomeAnnotationSensor(
            task_id="wait_for_annotation",
            genome_ids=upload.output,
            poke_interval=POKE_INTERVAL,
            timeout=24 * 3600,
        )
        wait >> annotated(sample, upload.output)

    # [END howto_fabric_intake_sample_group]

    @task(trigger_rule="all_done", show_return_value_in_logs=False)
    def plan_cases(cases: list, samples: list, skipped: dict, params: dict[str, Any], ti: Any) -> list:
        """Runs whatever happened to the samples: the cases to report, with genomes and export paths."""
        from airflow_provider_fabric.hooks.fabric import FabricHook

        output = intake.param_or_variable(params, "output_url", *VARIABLES["output_url"])
        done = mapped_results(ti, "sample.annotated", samples)
        return intake.cases_to_report(FabricHook(), cases, skipped, done, output)

    # [START howto_fabric_intake_case_group]
    # One mapped group per case. The exports update REPORTS_ASSET: the LIMS sync DAG runs on it.
    @task_group(group_id="case")
    def case_group(case: Any) -> None:
        args = check_case(case)
        report = FabricCreateClinicalReportOperator(
            task_id="create_report",
            project_id=create_project.output,
            report_type=args["report_type"],
            panel_id=args["panel_id"],
            panel_test_code=args["panel_test_code"],
            accession_id=args["accession_id"],
            proband_genome_id=args["proband_genome_id"],
            proband_sex=args["proband_sex"],
            family=args["family"],
        )
        wait = FabricClinicalReportStatusSensor(
            task_id="wait_for_review",
            report_id=report.output,
            target_statuses=("READY TO REVIEW",),
            poke_interval=POKE_INTERVAL,
            timeout=48 * 3600,
        )
        exports = [
            FabricExportVariantsOperator(
                task_id="export_variants",
                report_id=report.output,
                destination=args["variants_path"],
                format="vcf",
                outlets=[REPORTS_ASSET],
            ),
            FabricGetClinicalReportOperator(
                task_id="export_report_json",
                report_id=report.output,
                destination=args["report_path"],
                outlets=[REPORTS_ASSET],
            ),
            FabricExportReportPdfOperator(
                task_id="export_preview_pdf",
                report_id=report.output,
                destination=args["pdf_path"],
                preview=True,
                outlets=[REPORTS_ASSET],
            ),
        ]
        wait >> exports >> reported(case, report.output)

    # [END howto_fabric_intake_case_group]

    @task(trigger_rule="all_done", retries=0)
    def summary(
        samples: list, skipped: dict, cases: list, todo: list, params: dict[str, Any], ti: Any
    ) -> dict:
        """What this run processed, skipped and failed: keys, genome and report IDs only."""
        done, reported = (
            mapped_results(ti, "sample.annotated", samples),
            mapped_results(ti, "case.reported", todo),
        )
        result = intake.summarize(samples, done, skipped, cases, todo, reported)
        print("\n".join(result.lines()))
        if result.failed and params.get("fail_on_errors", True):
            ti.xcom_push(key="intake_summary", value=result.to_dict())
            raise result.error()
        return result.to_dict()

    plan = plan_intake(create_project.output)
    todo = plan_cases(plan["cases"], plan, plan["skipped"])
    sample_group.expand(sample=plan) >> todo
    summary(plan, plan["skipped"], plan["cases"], todo).set_upstream(case_group.expand(case=todo))
