"""Panel test, end to end: one proband VCF in, a signed-out clinical report and its files out.

The steps a clinical lab runs for a targeted gene panel (hereditary cancer,
cardiomyopathy, epilepsy...):

1. find or create the Fabric project the lab files this kind of test in;
2. upload the proband's VCF (checked before sending: VCF 4+, GRCh37, one sample);
3. wait until Fabric has annotated it;
4. create the panel report (idempotent on the accession ID) for the ordered
   test, found in the workspace's panel catalogue by its test code;
5. attach the patient's demographics and the sequencing run's QC metrics
   (named as the panel's assay type defines them);
6. wait until Fabric has processed the report (``READY TO REVIEW``);
7. export the variants (VCF and CSV) and, while the report is still in review,
   the preview PDF for the reviewers;
8. sign the report out (``APPROVED``), wait for that, and file the final PDF
   and the full report JSON for the LIMS.

Running it again with the same conf — after a failure, or after sign-out —
creates and changes nothing: every step finds what an earlier run did (the
project by name, the genome by external ID and checksum, the report by
accession) and sends only what differs; the exports are written again.

Every input is an Airflow param (trigger the DAG with a JSON conf to change
them), every file is read from and written to object storage (a local path,
``file://``, ``s3://``, ``gs://``...), and the sensors defer to the triggerer
when ``[operators] default_deferrable = True`` (they then hold no worker slot).
No patient data lives in this file: labels, IDs and patient fields come in at
run time. Patient fields are read from a JSON file rather than the run's conf,
because a run's conf is shown in the Airflow UI.

Connection: ``fabric_genomics_default`` (for a local ``fabric-sandbox``, see
``scripts/demo.sh``).
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_fabric.operators.exports import (
    FabricExportReportPdfOperator,
    FabricExportVariantsOperator,
    FabricGetClinicalReportOperator,
)
from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator
from airflow_provider_fabric.operators.projects import FabricCreateProjectOperator
from airflow_provider_fabric.operators.reports import (
    FabricCreateClinicalReportOperator,
    FabricPostPatientFieldsOperator,
    FabricPostQcDataOperator,
    FabricUpdateReportStatusOperator,
)
from airflow_provider_fabric.sensors.fabric import (
    FabricClinicalReportStatusSensor,
    FabricGenomeAnnotationSensor,
)

# How often the sensors ask Fabric. Panels annotate in minutes: start at a minute and, on long waits,
# back off exponentially up to ten times that. The demo and the tests use a local sandbox that
# answers in seconds and set FABRIC_EXAMPLE_POKE_INTERVAL=1.
POKE_INTERVAL = float(os.environ.get("FABRIC_EXAMPLE_POKE_INTERVAL", "60"))
MAX_WAIT = pendulum.duration(seconds=10 * POKE_INTERVAL)

# Every file of one report lands in one folder named after the report's ID (never a patient name).
REPORT_ID = "{{ ti.xcom_pull(task_ids='create_panel_report') }}"
OUTPUT = "{{ params.output_base.rstrip('/') }}/panel/report-" + REPORT_ID

with DAG(
    dag_id="example_fabric_panel",
    description="Panel test: upload a proband VCF, run a panel report, export variants, PDFs and JSON",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    tags=["fabric-genomics", "example", "clinical"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=30)},
    params={
        "project_name": Param("Hereditary cancer panels", type="string", minLength=1),
        "vcf_path": Param(
            "s3://lab-sequencing/incoming/run-0001/SAMPLE-0001.vcf.gz",
            type="string",
            minLength=1,
            description="The proband's single-sample VCF (local path, file://, s3://, gs://...)",
        ),
        "genome_label": Param("SAMPLE-0001", type="string", minLength=1, description="Fabric genome label"),
        "genome_sex": Param("female", enum=["male", "female", "unspecified"]),
        "external_id": Param(
            "LAB-SAMPLE-0001",
            type="string",
            minLength=1,
            description="The lab's sample ID; with the file's checksum it makes upload retries safe",
        ),
        "accession_id": Param(
            "ACC-0001",
            type="string",
            minLength=1,
            description="The order's accession; a retried run reuses the report with this accession",
        ),
        "panel_test_code": Param(
            type="string",
            minLength=1,
            description="Test code of the ordered panel in your Fabric catalogue (GET /panels/?test_code=)",
        ),
        "patient_fields_path": Param(
            "s3://lab-lims/orders/ACC-0001/patient_fields.json",
            type="string",
            minLength=1,
            description="JSON object of Fabric patient fields (First Name, Patient DOB...) from the LIMS",
        ),
        "qc_data_path": Param(
            "s3://lab-sequencing/incoming/run-0001/SAMPLE-0001.qc.json",
            type="string",
            minLength=1,
            description="JSON object of QC metrics from secondary analysis, named as the panel's assay type "
            "defines them (GET /assay_types/{id}: 'Mean Coverage', 'Total Reads'...)",
        ),
        "output_base": Param(
            "s3://lab-fabric-exports",
            type="string",
            minLength=1,
            description="Where exports, PDFs and the report JSON are written",
        ),
    },
) as dag:
    # [START howto_operator_fabric_create_project]
    # The project the lab files panel tests in. Found by name, so re-running the DAG (or retrying
    # the task after a lost answer) never creates a second project.
    create_project = FabricCreateProjectOperator(
        task_id="create_project",
        project_name="{{ params.project_name }}",
        description="Targeted panel tests (created by Airflow)",
    )
    # [END howto_operator_fabric_create_project]

    # [START howto_operator_fabric_upload_genome]
    # Accession: the proband's VCF from secondary analysis goes into Fabric. It is validated first
    # (VCF 4+, GRCh37/hg19, exactly one sample, not truncated) and streamed from object storage.
    # A retry reuses the genome an earlier try uploaded (same external ID and MD5).
    upload_genome = FabricUploadGenomeOperator(
        task_id="upload_genome",
        project_id=create_project.output,
        vcf_path="{{ params.vcf_path }}",
        genome_label="{{ params.genome_label }}",
        genome_sex="{{ params.genome_sex }}",
        external_id="{{ params.external_id }}",
    )
    # [END howto_operator_fabric_upload_genome]

    # [START howto_sensor_fabric_genome_annotation]
    # Fabric annotates the variants (minutes for a panel). A failed annotation fails this task at
    # once with the server's reason, rather than letting the report wait forever.
    wait_for_annotation = FabricGenomeAnnotationSensor(
        task_id="wait_for_annotation",
        genome_ids=upload_genome.output,
        poke_interval=POKE_INTERVAL,
        exponential_backoff=True,
        max_wait=MAX_WAIT,
        timeout=6 * 60 * 60,
    )
    # [END howto_sensor_fabric_genome_annotation]

    # [START howto_operator_fabric_create_panel_report]
    # The clinical report for the ordered panel, found in the catalogue by its test code. Keyed on
    # the accession ID: a retried task finds the report its first try created instead of opening
    # a second one.
    create_panel_report = FabricCreateClinicalReportOperator(
        task_id="create_panel_report",
        report_type="panel",
        proband_genome_id=upload_genome.output,
        panel_test_code="{{ params.panel_test_code }}",
        accession_id="{{ params.accession_id }}",
        project_id=create_project.output,
    )
    # [END howto_operator_fabric_create_panel_report]

    # [START howto_operator_fabric_post_patient_fields]
    # Demographics and the indication for testing, as the LIMS exported them. The values are PHI:
    # they are sent to Fabric but never logged (the log names the fields). Fields the report already
    # holds are not sent again; other values on a signed-out report fail the task, naming the fields.
    post_patient_fields = FabricPostPatientFieldsOperator(
        task_id="post_patient_fields",
        report_id=create_panel_report.output,
        fields_path="{{ params.patient_fields_path }}",
    )
    # [END howto_operator_fabric_post_patient_fields]

    # [START howto_operator_fabric_post_qc_data]
    # The sequencing run's QC metrics for this sample. Their names are checked against the report's
    # assay type before anything is sent; metrics the report already holds are not posted again.
    post_qc_data = FabricPostQcDataOperator(
        task_id="post_qc_data",
        report_id=create_panel_report.output,
        qc_data_path="{{ params.qc_data_path }}",
    )
    # [END howto_operator_fabric_post_qc_data]

    # [START howto_sensor_fabric_report_status]
    # Fabric runs the report once annotation is done. Wait until reviewers can open it (or, on a
    # re-run, until it is found signed out already).
    wait_for_review = FabricClinicalReportStatusSensor(
        task_id="wait_for_review",
        report_id=create_panel_report.output,
        target_statuses=("READY TO REVIEW", "APPROVED"),
        poke_interval=POKE_INTERVAL,
        exponential_backoff=True,
        max_wait=MAX_WAIT,
        timeout=12 * 60 * 60,
    )
    # [END howto_sensor_fabric_report_status]

    # [START howto_operator_fabric_export_variants]
    # The report's variants for the review team and downstream tools: VCF (for IGV and
    # confirmation assays) and CSV (for spreadsheets). Written all or nothing.
    export_variants_vcf = FabricExportVariantsOperator(
        task_id="export_variants_vcf",
        report_id=create_panel_report.output,
        destination=OUTPUT + "/variants.vcf",
        format="vcf",
    )
    export_variants_csv = FabricExportVariantsOperator(
        task_id="export_variants_csv",
        report_id=create_panel_report.output,
        destination=OUTPUT + "/variants.csv",
        format="csv",
    )
    # [END howto_operator_fabric_export_variants]

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def in_review(report_id: Any) -> bool:
        """Whether the report is still before sign-out: only then is there a preview (a re-run skips it).

        :param report_id: the report.
        """
        from airflow_provider_fabric.hooks.fabric import FabricHook

        return FabricHook().get_report(report_id).get("status") != "APPROVED"

    # The draft report as the reviewers will see it (only available before sign-out).
    export_preview_pdf = FabricExportReportPdfOperator(
        task_id="export_preview_pdf",
        report_id=create_panel_report.output,
        destination=OUTPUT + "/report-preview.pdf",
        preview=True,
    )

    # [START howto_operator_fabric_update_report_status]
    # Sign-out. In a lab the laboratory director reviews the report in Fabric Enterprise and
    # approves it there; this DAG would then only wait for APPROVED (next task). In this demo the
    # task below stands in for the director's sign-out so the DAG runs end to end (it sends nothing
    # when the report is approved already).
    approve_report = FabricUpdateReportStatusOperator(
        task_id="approve_report",
        report_id=create_panel_report.output,
        status="APPROVED",
        trigger_rule="none_failed_min_one_success",  # also after a skipped preview (a re-run)
    )
    # [END howto_operator_fabric_update_report_status]

    # Wait for sign-out (immediate here; hours or days when a director approves in Fabric).
    wait_for_approval = FabricClinicalReportStatusSensor(
        task_id="wait_for_approval",
        report_id=create_panel_report.output,
        target_statuses=("APPROVED",),
        poke_interval=POKE_INTERVAL,
        exponential_backoff=True,
        max_wait=MAX_WAIT,
        timeout=7 * 24 * 60 * 60,
    )

    # [START howto_operator_fabric_export_report_pdf]
    # The signed-out report, filed for the ordering physician and the medical record.
    export_final_pdf = FabricExportReportPdfOperator(
        task_id="export_final_pdf",
        report_id=create_panel_report.output,
        destination=OUTPUT + "/report.pdf",
    )
    # [END howto_operator_fabric_export_report_pdf]

    # [START howto_operator_fabric_get_clinical_report]
    # The full report record (variants, patient fields, QC) as JSON for the LIMS and audits. The
    # file holds PHI; the task's XCom does not.
    get_clinical_report = FabricGetClinicalReportOperator(
        task_id="get_clinical_report",
        report_id=create_panel_report.output,
        destination=OUTPUT + "/report.json",
    )
    # [END howto_operator_fabric_get_clinical_report]

    wait_for_annotation >> create_panel_report
    create_panel_report >> [post_patient_fields, post_qc_data] >> wait_for_review
    review_open = in_review(create_panel_report.output)
    wait_for_review >> [export_variants_vcf, export_variants_csv, review_open]
    review_open >> export_preview_pdf
    [export_variants_vcf, export_variants_csv, export_preview_pdf] >> approve_report
    approve_report >> wait_for_approval >> [export_final_pdf, get_clinical_report]
