"""Family (trio) exome test: a proband and both parents, uploaded in parallel from a manifest.

Labs describe a family the way their LIMS exports it: a small CSV manifest,
one row per person. This DAG reads the manifest from object storage, maps one
upload task per row (dynamic task mapping: ``.partial()`` for what every
upload shares, ``.expand_kwargs()`` for what each row brings), waits once for
all the annotations, launches the family report (Fabric then runs the VAAST
Solo and Trio analyses, which can take hours), waits for it, and exports what
the reviewers need. Running it again with the same manifest — after a failure,
or after the report was signed out — uploads and creates nothing: the genomes
are found by external ID and checksum, the report by accession, and the
exports are written again (the preview only while the report is in review).

Manifest columns (header row required; one ``proband`` row; ``vcf_path`` may
be relative to the manifest's folder)::

    role,vcf_path,genome_label,genome_sex,external_id,affected
    proband,FAM-0001_proband.vcf.gz,SAMPLE-0001,female,LAB-0001,true
    mother,FAM-0001_mother.vcf.gz,SAMPLE-0002,female,LAB-0002,false
    father,FAM-0001_father.vcf.gz,SAMPLE-0003,male,LAB-0003,false

``role`` is ``proband``, ``mother``, ``father``, ``sibling`` or ``other``.
Labels and external IDs are sample identifiers and can be PHI: they pass
through the ``read_manifest`` task's XCom (the mapped uploads need them) and
are never logged. Keep patient names out of the manifest.

Connection: ``fabric_genomics_default``. Sensors defer to the triggerer when
``[operators] default_deferrable = True``.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_fabric.operators.exports import (
    FabricExportReportPdfOperator,
    FabricExportVariantsOperator,
)
from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator
from airflow_provider_fabric.operators.projects import FabricCreateProjectOperator
from airflow_provider_fabric.operators.reports import FabricCreateClinicalReportOperator
from airflow_provider_fabric.sensors.fabric import (
    FabricClinicalReportStatusSensor,
    FabricGenomeAnnotationSensor,
)

# Exomes annotate in tens of minutes and family analyses take hours: start at two minutes and back off
# exponentially up to ten times that, so a day-long wait costs tens of requests, not thousands.
# The demo and tests set FABRIC_EXAMPLE_POKE_INTERVAL=1.
POKE_INTERVAL = float(os.environ.get("FABRIC_EXAMPLE_POKE_INTERVAL", "120"))
MAX_WAIT = pendulum.duration(seconds=10 * POKE_INTERVAL)

REPORT_TYPES = {2: "Duo", 3: "Trio", 4: "Quad", 5: "Quintet"}
RELATIONSHIPS = ("mother", "father", "sibling", "other")

REPORT_ID = "{{ ti.xcom_pull(task_ids='create_family_report') }}"
OUTPUT = "{{ params.output_base.rstrip('/') }}/family/report-" + REPORT_ID


def _manifest_rows(manifest_path: str) -> list[dict[str, str]]:
    """The manifest's rows, proband first, with ``vcf_path`` resolved against the manifest's folder."""
    import csv
    import io

    from airflow_provider_fabric.exceptions import FabricInputError
    from airflow_provider_fabric.storage import as_path

    manifest = as_path(manifest_path)
    with manifest.open("rb") as handle:
        text = handle.read().decode("utf-8-sig")
    rows = [
        {key.strip().lower(): (value or "").strip() for key, value in row.items() if key}
        for row in csv.DictReader(io.StringIO(text))
    ]
    rows = [row for row in rows if any(row.values())]
    needed = {"role", "vcf_path", "genome_label", "genome_sex"}
    for number, row in enumerate(rows, start=2):
        missing = sorted(key for key in needed if not row.get(key))
        if missing:
            raise FabricInputError(f"manifest line {number}: missing {', '.join(missing)}")
        row["role"] = row["role"].lower()
        if row["role"] not in ("proband", *RELATIONSHIPS):
            raise FabricInputError(
                f"manifest line {number}: unknown role (proband, {', '.join(RELATIONSHIPS)})"
            )
        if "://" not in row["vcf_path"] and not row["vcf_path"].startswith("/"):
            row["vcf_path"] = str(manifest.parent / row["vcf_path"])
    probands = [row for row in rows if row["role"] == "proband"]
    if len(probands) != 1:
        raise FabricInputError(f"the manifest must have exactly one proband row, not {len(probands)}")
    if len(rows) not in REPORT_TYPES:
        raise FabricInputError(f"a family report takes 2 to 5 people; the manifest has {len(rows)}")
    return probands + [row for row in rows if row["role"] != "proband"]


with DAG(
    dag_id="example_fabric_trio",
    description="Family report: upload a trio from a manifest in parallel, run the family report, export",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    tags=["fabric-genomics", "example", "clinical"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=30)},
    params={
        "project_name": Param("Exome family studies", type="string", minLength=1),
        "manifest_path": Param(
            "s3://lab-sequencing/families/FAM-0001/manifest.csv",
            type="string",
            minLength=1,
            description="CSV manifest: role,vcf_path,genome_label,genome_sex,external_id,affected",
        ),
        "accession_id": Param(
            "ACC-FAM-0001",
            type="string",
            minLength=1,
            description="The order's accession; a retried run reuses the report with this accession",
        ),
        "hpo_terms": Param(
            ["HP:0001250", "HP:0001263"],
            type="array",
            items={"type": "string", "pattern": "^HP:[0-9]{7}$"},
            description="The proband's phenotype as HPO terms (seizures, developmental delay...)",
        ),
        "output_base": Param(
            "s3://lab-fabric-exports",
            type="string",
            minLength=1,
            description="Where exports and PDFs are written",
        ),
    },
) as dag:
    # The project the lab files family studies in (found by name on re-runs).
    create_project = FabricCreateProjectOperator(
        task_id="create_project",
        project_name="{{ params.project_name }}",
        description="Family exome studies (created by Airflow)",
    )

    @task(show_return_value_in_logs=False)
    def read_manifest(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
        """Read the family manifest: one upload's arguments per person, proband first.

        The returned XCom holds sample labels and external IDs (the uploads need them); it is
        not logged.

        :param params: the run's params (filled in by Airflow).
        """
        assert params is not None
        return [
            {
                "vcf_path": row["vcf_path"],
                "genome_label": row["genome_label"],
                "genome_sex": row["genome_sex"].lower(),
                "external_id": row.get("external_id") or None,
            }
            for row in _manifest_rows(params["manifest_path"])
        ]

    # [START howto_operator_fabric_upload_genome_mapped]
    # One upload per family member, in parallel: .partial() holds what all uploads share,
    # .expand_kwargs() maps over the manifest's rows. Each mapped task validates and streams its
    # own VCF from object storage, so the uploads may run on different workers.
    upload_genomes = FabricUploadGenomeOperator.partial(
        task_id="upload_genomes",
        project_id=create_project.output,
    ).expand_kwargs(read_manifest())
    # [END howto_operator_fabric_upload_genome_mapped]

    # [START howto_sensor_fabric_genome_annotation_many]
    # One sensor for the whole family: it succeeds when every genome is annotated and fails at once
    # (naming the genome and Fabric's reason) if any annotation fails.
    wait_for_annotation = FabricGenomeAnnotationSensor(
        task_id="wait_for_annotation",
        genome_ids=upload_genomes.output,
        poke_interval=POKE_INTERVAL,
        exponential_backoff=True,
        max_wait=MAX_WAIT,
        timeout=24 * 60 * 60,
    )
    # [END howto_sensor_fabric_genome_annotation_many]

    @task(multiple_outputs=True)
    def family_members(genome_ids: Any, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Pair each person's role, sex and affected status with the genome uploaded for them.

        No labels or external IDs are returned: only genome IDs, sexes, roles, affected flags and
        the params' HPO terms.

        :param genome_ids: the mapped uploads' genome IDs, in manifest order (proband first).
        :param params: the run's params (filled in by Airflow).
        """
        assert params is not None
        rows = _manifest_rows(params["manifest_path"])
        # genome_ids[:] reads the mapped uploads' results in one request (iterating them would read
        # one past the end, which Airflow logs as an "XCom not found" error).
        ids = [int(genome_id) for genome_id in genome_ids[:]]
        if len(ids) != len(rows):
            raise ValueError(f"{len(rows)} manifest rows but {len(ids)} uploaded genomes")
        proband, *relatives = zip(rows, ids, strict=True)
        return {
            "report_type": REPORT_TYPES[len(rows)],
            "hpo_terms": list(params["hpo_terms"]),
            "proband_genome_id": proband[1],
            "proband_sex": proband[0]["genome_sex"][:1].lower(),
            "family": [
                {
                    "genome_id": genome_id,
                    "sex": row["genome_sex"][:1].lower(),
                    "affected": row.get("affected", "").lower() in ("true", "yes", "1"),
                    "relationship": row["role"],
                    "label": row["role"].capitalize(),
                }
                for row, genome_id in relatives
            ],
        }

    members = family_members(upload_genomes.output)

    # [START howto_operator_fabric_create_family_report]
    # The family report: proband plus relatives, with the phenotype for VAAST's ranking. Fabric
    # waits for every member's annotation, runs VAAST Solo and Trio, then processes the report.
    # Keyed on the accession ID, so a retried task reuses the report it already created.
    create_family_report = FabricCreateClinicalReportOperator(
        task_id="create_family_report",
        report_type=members["report_type"],
        proband_genome_id=members["proband_genome_id"],
        proband_sex=members["proband_sex"],
        family=members["family"],
        accession_id="{{ params.accession_id }}",
        project_id=create_project.output,
        hpo_terms=members["hpo_terms"],
        score_indels=True,
    )
    # [END howto_operator_fabric_create_family_report]

    # Family analyses take hours: the sensor defers (when configured) and backs off between polls.
    # A re-run finds the report reviewed or signed out already.
    wait_for_review = FabricClinicalReportStatusSensor(
        task_id="wait_for_review",
        report_id=create_family_report.output,
        target_statuses=("READY TO REVIEW", "APPROVED"),
        poke_interval=POKE_INTERVAL,
        exponential_backoff=True,
        max_wait=MAX_WAIT,
        timeout=48 * 60 * 60,
    )

    # What the reviewers work from: the variants (VCF for IGV and confirmation, CSV for
    # spreadsheets) and the draft report.
    export_variants_vcf = FabricExportVariantsOperator(
        task_id="export_variants_vcf",
        report_id=create_family_report.output,
        destination=OUTPUT + "/variants.vcf",
        format="vcf",
    )
    export_variants_csv = FabricExportVariantsOperator(
        task_id="export_variants_csv",
        report_id=create_family_report.output,
        destination=OUTPUT + "/variants.csv",
        format="csv",
    )

    @task.short_circuit
    def in_review(report_id: Any) -> bool:
        """Whether the report is still before sign-out: only then is there a preview (a re-run skips it).

        :param report_id: the report.
        """
        from airflow_provider_fabric.hooks.fabric import FabricHook

        return FabricHook().get_report(report_id).get("status") != "APPROVED"

    export_preview_pdf = FabricExportReportPdfOperator(
        task_id="export_preview_pdf",
        report_id=create_family_report.output,
        destination=OUTPUT + "/report-preview.pdf",
        preview=True,
    )

    wait_for_annotation >> members
    create_family_report >> wait_for_review
    review_open = in_review(create_family_report.output)
    wait_for_review >> [export_variants_vcf, export_variants_csv, review_open]
    review_open >> export_preview_pdf


def build_demo_family(folder: str, family_id: str = "FAM-0001", *, records: int = 300, seed: int = 11) -> str:
    """Write a demo trio: three synthetic VCFs (proband, mother, father) and their manifest.

    No real patient data: labels and external IDs are derived from ``family_id``.

    :param folder: the family's folder (local path).
    :param family_id: names the files, labels and external IDs.
    :param records: variants per VCF.
    :param seed: seed of the generated variants.
    :return: the manifest's path (the VCFs are beside it).
    """
    import csv
    from pathlib import Path

    from airflow_provider_fabric.testing.vcfgen import write_family

    paths = write_family(folder, family_id, n_records=records, seed=seed, compression="gz")
    people = (("proband", "female", "true"), ("mother", "female", "false"), ("father", "male", "false"))
    manifest = Path(folder, "manifest.csv")
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["role", "vcf_path", "genome_label", "genome_sex", "external_id", "affected"])
        for number, ((role, sex, affected), path) in enumerate(zip(people, paths, strict=True), start=1):
            writer.writerow(
                [role, path.name, f"{family_id}-{number}", sex, f"LAB-{family_id}-{number}", affected]
            )
    return str(manifest)
