"""Scheduled intake: every hour, take the new VCFs in a landing area into Fabric and report them.

Labs do not trigger a DAG per sample. Secondary analysis drops one folder per
sequencing run into a landing area (a local folder, ``s3://``, ``gs://``...),
holding the run's VCFs and a ``manifest.csv``; this DAG runs on a schedule and
takes it from there:

1. find or create the Fabric project intake files samples in;
2. ``plan_intake``: list the landing area, read every run's manifest, check each
   row, and leave out the samples already in Fabric (same external ID *and*
   same file checksum), so re-runs and overlapping schedules never upload twice;
3. ``sample`` (a task group mapped once per new sample): check the row, upload
   the VCF (validated before sending: VCF 4+, GRCh37, one sample), wait for the
   annotation;
4. ``plan_cases``: group the annotated genomes into cases (a panel case per
   panel sample, a family case per family ID within a run), each with a stable
   accession derived from the manifest, and leave out the cases already reported;
5. ``case`` (mapped once per case): create the report (an existing report with
   the same accession is reused), wait until it is ready to review, and export
   the variants (VCF), the report (JSON) and the preview PDF into
   ``<output>/<accession>/``. These exports update the
   :data:`REPORTS_ASSET` Asset, which schedules the LIMS sync DAG
   (``example_fabric_lims_sync.py``);
6. ``summary``: which samples and cases were processed, skipped or failed (run
   folder names, manifest line numbers, genome and report IDs: no PHI).

A malformed manifest row or a bad VCF fails only that sample's mapped tasks
(with the reason in the task's log); its case cannot be reported, the other
samples and cases proceed, and ``summary`` fails the run at the end so the lab
is alerted (``fail_on_errors=False`` turns that off).

**Landing layout**::

    <landing>/
      run-0001/                   one folder per sequencing run (name it after the run, never a patient)
        manifest.csv
        S1.vcf.gz
        ...

**Manifest columns** (header row required)::

    file,label,sex,external_id,family_id,relationship,affected,test
    S1.vcf.gz,SAMPLE-0001,female,LAB-0001,,,,panel:101
    P1.vcf.gz,SAMPLE-0002,male,LAB-0002,FAM-01,proband,true,family
    M1.vcf.gz,SAMPLE-0003,female,LAB-0003,FAM-01,mother,false,family

* ``file``: the VCF, relative to the manifest's folder (or an absolute path or URL);
* ``label``, ``sex`` (``male``, ``female``, ``unspecified``), ``external_id`` (the
  lab's sample ID): required; the external ID and the file's checksum identify a
  sample across runs;
* ``test``: ``panel:<panel ID>``, ``panel`` (uses the ``panel_id`` param) or ``family``;
* family rows: ``family_id`` groups the people of one family report (within one
  run's manifest); ``relationship`` is ``proband`` (exactly one), ``mother``,
  ``father``, ``sibling`` or ``other``; ``affected`` is ``true``/``false``; sex
  must be ``male`` or ``female``.

The accession of a case is ``<accession_prefix><external_id>`` for a panel
and ``<accession_prefix><family_id>`` for a family: the same manifest always
gives the same accession, so a re-run reuses the report. A sample re-sequenced
under the same external ID (new file) is uploaded again, but its panel report
is reused as it is.

**Settings.** Params (for a manual run's conf), else Airflow Variables (for the
scheduled runs), else the defaults below: ``landing_url`` /
``fabric_intake_landing_url``, ``output_url`` / ``fabric_intake_output_url``.
A lab adapts this DAG by setting those two Variables, the ``schedule`` and the
``fabric_genomics_default`` connection. The ``plan_intake`` and ``sample``
XComs hold labels and external IDs (the uploads need them) and the ``case``
XComs hold accessions and output paths; none of them is logged.

``max_active_runs=1``: two intake runs never work on the same landing area at
once (the check for samples already in Fabric happens before the uploads).

**Demo.** :func:`build_demo_landing` writes a run folder of synthetic VCFs
(a panel sample, a trio and, unless ``--no-bad``, a GRCh38 VCF that fails
only its own upload), with its manifest. Against a local ``fabric-sandbox``
(connection ``fabric_genomics_default`` pointing at it)::

    export AIRFLOW_VAR_FABRIC_INTAKE_LANDING_URL=/tmp/intake/landing
    export AIRFLOW_VAR_FABRIC_INTAKE_OUTPUT_URL=/tmp/intake/exports
    export AIRFLOW_VAR_FABRIC_LIMS_DROP_URL=/tmp/intake/lims
    export FABRIC_EXAMPLE_POKE_INTERVAL=1 FABRIC_EXAMPLE_RETRY_DELAY=1
    python dags_examples/example_fabric_intake.py /tmp/intake/landing run-0001
    airflow dags reserialize && airflow dags unpause example_fabric_lims_sync
    airflow dags test example_fabric_intake 2025-03-01T10:00:00+00:00
    python dags_examples/example_fabric_intake.py /tmp/intake/landing run-0002 --no-bad
    airflow dags test example_fabric_intake 2025-03-01T11:00:00+00:00   # takes in run-0002 only
    airflow dags test example_fabric_lims_sync

Instead of the Variables, a manual run can take
``{"landing_url": ..., "output_url": ...}`` as its conf.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, task, task_group

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

#: Where settings come from when the run's conf does not give them: Airflow Variable, then default.
VARIABLES = {
    "landing_url": ("fabric_intake_landing_url", "s3://lab-sequencing/landing"),
    "output_url": ("fabric_intake_output_url", "s3://lab-fabric-exports/intake"),
}

# Panels annotate in minutes; family analyses take hours. The demo and tests set this to ~1 second.
POKE_INTERVAL = float(os.environ.get("FABRIC_EXAMPLE_POKE_INTERVAL", "60"))
# Retries cover network and server trouble. A bad VCF fails every try the same way, so the demo and
# tests shorten the wait between tries with FABRIC_EXAMPLE_RETRY_DELAY=1.
RETRY_DELAY = float(os.environ.get("FABRIC_EXAMPLE_RETRY_DELAY", "30"))

MANIFEST = "manifest.csv"
COLUMNS = ("file", "label", "sex", "external_id", "family_id", "relationship", "affected", "test")
SEXES = ("male", "female", "unspecified")
RELATIVES = ("mother", "father", "sibling", "other")
FAMILY_TYPES = {1: "Solo", 2: "Duo", 3: "Trio", 4: "Quad", 5: "Quintet"}
TRUE, FALSE = ("true", "yes", "1", "y"), ("false", "no", "0", "n", "")


def setting(params: dict[str, Any], name: str) -> str:
    """A setting from the run's params, else its Airflow Variable, else its default.

    :param params: the run's params.
    :param name: ``landing_url`` or ``output_url``.
    :return: the setting's value, without a trailing ``/``.
    """
    from airflow.sdk import Variable

    value = params.get(name)
    if not value:
        variable, default = VARIABLES[name]
        value = Variable.get(variable, default=default)
    return str(value).rstrip("/")


def _row_problem(row: dict[str, str]) -> str | None:
    """What is wrong with one manifest row, in words that quote no value (values can be PHI)."""
    missing = [key for key in ("file", "label", "sex", "external_id", "test") if not row.get(key)]
    if missing:
        return f"missing {', '.join(missing)}"
    if row["sex"] not in SEXES:
        return f"sex must be one of {', '.join(SEXES)}"
    test = row["test"]
    if test == "family":
        if not row.get("family_id"):
            return "a family test needs a family_id"
        if row.get("relationship") not in ("proband", *RELATIVES):
            return f"relationship must be proband, {', '.join(RELATIVES)}"
        if row["sex"] == "unspecified":
            return "family reports need the sex of every person (male or female)"
        if row.get("affected", "") not in TRUE + FALSE:
            return "affected must be true or false"
    elif test != "panel" and not (test.startswith("panel:") and test[6:].isdigit()):
        return "test must be panel, panel:<panel ID> or family"
    return None


def read_manifest(manifest: Any, run: str) -> list[dict[str, Any]]:
    """The rows of one run's manifest as samples: ``key`` (``run:line``), fields, ``vcf_path``, ``problem``.

    Never fails on a bad row: its ``problem`` says what is wrong (without quoting any value).

    :param manifest: the manifest's ``ObjectStoragePath``.
    :param run: the run folder's name.
    :return: one dict per non-empty row.
    """
    import csv
    import io

    with manifest.open("rb") as handle:
        text = handle.read().decode("utf-8-sig")
    samples = []
    for line, raw in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        for key in ("sex", "test", "relationship", "affected"):
            row[key] = row.get(key, "").lower()
        location = row.get("file", "")
        if location and "://" not in location and not location.startswith("/"):
            location = str(manifest.parent / location)
        samples.append(
            {
                "key": f"{run}:{line}",
                "run": run,
                "line": line,
                **{column: row.get(column, "") for column in COLUMNS},
                "vcf_path": location,
                "problem": _row_problem(row),
            }
        )
    return samples


def _md5(location: str) -> str | None:
    """The MD5 of a file's bytes (as the upload sends them), or ``None`` if it cannot be read."""
    import hashlib

    from airflow_provider_fabric.storage import open_source

    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open_source(location) as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except (OSError, ValueError):
        return None
    return digest.hexdigest()


def _in_fabric(hook: Any, project_id: int, sample: dict[str, Any]) -> int | None:
    """The genome already in the project with this sample's external ID and file checksum, if any."""
    ext = sample["external_id"]
    from airflow_provider_fabric.api.statuses import normalize_status

    candidates = [
        genome
        for genome in hook.list_genomes(project_id, external_id=ext)
        if genome.get("external_id") == ext
        and normalize_status(genome.get("status")) != "FAILED"
        and genome.get("checksum")
    ]
    if not candidates:
        return None
    md5 = _md5(sample["vcf_path"])  # only read when a genome with this external ID exists
    same = [int(g["id"]) for g in candidates if md5 and str(g["checksum"]).lower() == md5]
    return max(same) if same else None


def _cases(samples: list[dict[str, Any]], prefix: str, panel_id: int | None) -> list[dict[str, Any]]:
    """Group a run's samples into cases: one per panel sample, one per family ID."""
    cases: list[dict[str, Any]] = []
    families: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for sample in samples:
        if sample["test"] == "family" and sample["family_id"]:
            families.setdefault((sample["run"], sample["family_id"]), []).append(sample)
        elif sample["problem"] is None:
            test = sample["test"]
            panel = int(test[6:]) if test.startswith("panel:") else panel_id
            cases.append(
                {
                    "case": sample["key"],
                    "report_type": "panel",
                    "panel_id": panel,
                    "accession_id": prefix + sample["external_id"],
                    "members": [sample["key"]],
                    "roles": {sample["key"]: {"relationship": "proband", "sex": sample["sex"]}},
                    "problem": None
                    if panel is not None
                    else "no panel ID (test is panel and no panel_id param)",
                }
            )
    for (run, family_id), people in families.items():
        lines = ",".join(str(p["line"]) for p in people)
        probands = [p for p in people if p["relationship"] == "proband"]
        problem = None
        bad = [str(p["line"]) for p in people if p["problem"]]
        if bad:
            problem = f"manifest line(s) {', '.join(bad)} of this family are invalid"
        elif len(probands) != 1:
            problem = f"a family needs exactly one proband row, not {len(probands)}"
        elif len(people) not in FAMILY_TYPES:
            problem = f"a family report takes 1 to 5 people, not {len(people)}"
        ordered = probands + [p for p in people if p["relationship"] != "proband"]
        cases.append(
            {
                "case": f"{run}:{lines}",
                "report_type": FAMILY_TYPES.get(len(people), "?"),
                "panel_id": None,
                "accession_id": prefix + family_id,
                "members": [p["key"] for p in ordered],
                "roles": {
                    p["key"]: {
                        "relationship": p["relationship"],
                        "sex": p["sex"],
                        "affected": p["affected"] in TRUE,
                    }
                    for p in ordered
                },
                "problem": problem,
            }
        )
    return cases


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
        "landing_url": Param(
            None,
            type=["null", "string"],
            description="Landing area (one folder per run, each with manifest.csv); "
            "default: Variable fabric_intake_landing_url",
        ),
        "output_url": Param(
            None,
            type=["null", "string"],
            description="Where exports are written, one folder per accession; "
            "default: Variable fabric_intake_output_url",
        ),
        "project_name": Param("Clinical intake", type="string", minLength=1),
        "panel_id": Param(
            None,
            type=["null", "integer"],
            description="Panel ID (from your Fabric catalogue) of rows whose test is 'panel'",
        ),
        "accession_prefix": Param("INTAKE-", type="string", description="Prefixed to derived accessions"),
        "fail_on_errors": Param(
            True, type="boolean", description="Fail the run if any sample or case failed"
        ),
    },
) as dag:
    create_project = FabricCreateProjectOperator(
        task_id="create_project",
        project_name="{{ params.project_name }}",
        description="Samples taken in by the scheduled intake (created by Airflow)",
    )

    @task(show_return_value_in_logs=False)
    def plan_intake(
        project_id: Any, params: dict[str, Any] | None = None, ti: Any = None
    ) -> list[dict[str, Any]]:
        """Read every run's manifest in the landing area; leave out the samples already in Fabric.

        The returned XCom holds labels and external IDs (the uploads need them); it is not logged.

        :param project_id: the intake project's ID.
        :param params: the run's params (filled in by Airflow).
        :param ti: this task instance (filled in by Airflow).
        :return: the samples to upload (bad rows included: their mapped task fails). The samples
            already in Fabric (with their genome IDs) are pushed under ``skipped``, the cases
            under ``cases``.
        """
        from airflow_provider_fabric.hooks.fabric import FabricHook
        from airflow_provider_fabric.storage import as_path

        assert params is not None
        landing = as_path(setting(params, "landing_url"))
        runs = sorted(p for p in landing.iterdir() if p.is_dir() and not p.name.startswith("."))
        hook, project = FabricHook(), int(project_id)
        everything: list[dict[str, Any]] = []
        cases: list[dict[str, Any]] = []
        for run in runs:
            manifest = run / MANIFEST
            if not manifest.exists():
                continue
            samples = read_manifest(manifest, run.name)
            everything += samples
            cases += _cases(samples, params["accession_prefix"], params.get("panel_id"))
        to_upload, skipped = [], []
        for sample in everything:
            genome_id = None if sample["problem"] else _in_fabric(hook, project, sample)
            if genome_id is None:
                to_upload.append(sample)
            else:
                skipped.append({"key": sample["key"], "genome_id": genome_id})
        print(
            f"Landing area: {len(runs)} run folder(s), {len(everything)} sample(s): {len(to_upload)} to "
            f"upload ({sum(1 for s in everything if s['problem'])} with manifest problems), "
            f"{len(skipped)} already in Fabric; {len(cases)} case(s)"
        )
        ti.xcom_push(key="skipped", value=skipped)
        ti.xcom_push(key="cases", value=cases)
        return to_upload

    @task(multiple_outputs=True, show_return_value_in_logs=False, retries=0)
    def check_sample(sample: dict[str, Any]) -> dict[str, Any]:
        """Fail this sample (only) if its manifest row is malformed; else give its upload's arguments.

        :param sample: one sample from ``plan_intake``.
        :return: ``vcf_path``, ``genome_label``, ``genome_sex``, ``external_id``.
        """
        from airflow_provider_fabric.exceptions import FabricInputError

        if sample["problem"]:
            raise FabricInputError(
                f"manifest of run {sample['run']}, line {sample['line']}: {sample['problem']}"
            )
        print(f"Sample {sample['key']}: manifest row is complete")
        return {
            "vcf_path": sample["vcf_path"],
            "genome_label": sample["label"],
            "genome_sex": sample["sex"],
            "external_id": sample["external_id"],
        }

    @task
    def annotated(sample: dict[str, Any], genome_id: Any) -> dict[str, Any]:
        """Record that this sample's genome is uploaded and annotated (IDs only).

        :param sample: one sample from ``plan_intake``.
        :param genome_id: the uploaded genome's ID.
        :return: ``key`` (``run:line``) and ``genome_id``.
        """
        return {"key": sample["key"], "genome_id": int(genome_id)}

    # [START howto_fabric_intake_sample_group]
    # One mapped group per new sample: a bad row or a bad VCF fails only its own instance.
    @task_group(group_id="sample")
    def sample_group(sample: Any) -> None:
        """Check, upload and wait for one sample.

        :param sample: one sample from ``plan_intake``.
        """
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
            timeout=24 * 60 * 60,
        )
        wait >> annotated(sample, upload.output)

    # [END howto_fabric_intake_sample_group]

    plan = plan_intake(create_project.output)
    samples = sample_group.expand(sample=plan)

    @task(trigger_rule="all_done", show_return_value_in_logs=False)
    def plan_cases(
        cases: list[dict[str, Any]],
        uploaded: list[dict[str, Any]],
        skipped: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        ti: Any = None,
    ) -> list[dict[str, Any]]:
        """Give every case its genomes; leave out cases already reported; mark cases that cannot run.

        Runs whatever happened to the samples. The returned XCom holds accessions and output
        paths; it is not logged.

        :param cases: the cases from ``plan_intake``.
        :param uploaded: the samples mapped to the ``sample`` group.
        :param skipped: the samples already in Fabric, with their genome IDs.
        :param params: the run's params (filled in by Airflow).
        :param ti: this task instance (filled in by Airflow).
        :return: the cases to report, each with what ``case`` needs.
        """
        from airflow_provider_fabric.hooks.fabric import FabricHook

        assert params is not None
        genomes = {s["key"]: int(s["genome_id"]) for s in skipped}
        in_fabric = set(genomes)
        for index in range(len(uploaded)):
            done = ti.xcom_pull(task_ids="sample.annotated", map_indexes=index)
            if done:
                genomes[done["key"]] = int(done["genome_id"])
        output, hook = setting(params, "output_url"), FabricHook()
        todo = []
        for case in cases:
            missing = [key for key in case["members"] if key not in genomes]
            if case["problem"] is None and missing:
                case["problem"] = f"sample(s) {', '.join(missing)} did not upload and annotate"
            if case["problem"] is None and set(case["members"]) <= in_fabric:
                accession = case["accession_id"]
                if any(r.get("accession_id") == accession for r in hook.list_reports(accession_id=accession)):
                    print(f"Case {case['case']}: already reported, skipped")
                    continue
            proband, *relatives = case["members"]
            folder = f"{output}/{case['accession_id']}"
            todo.append(
                {
                    "case": case["case"],
                    "problem": case["problem"],
                    "report_type": case["report_type"],
                    "panel_id": case["panel_id"],
                    "accession_id": case["accession_id"],
                    "proband_genome_id": genomes.get(proband),
                    "proband_sex": case["roles"][proband]["sex"][:1]
                    if case["report_type"] != "panel"
                    else None,
                    "family": [
                        {
                            "genome_id": genomes.get(key),
                            "sex": case["roles"][key]["sex"][:1],
                            "affected": case["roles"][key]["affected"],
                            "relationship": case["roles"][key]["relationship"],
                            "label": case["roles"][key]["relationship"].capitalize(),
                        }
                        for key in relatives
                    ],
                    "variants_path": f"{folder}/variants.vcf",
                    "report_path": f"{folder}/report.json",
                    "pdf_path": f"{folder}/report-preview.pdf",
                }
            )
        print(f"{len(todo)} case(s) to report, {len(cases) - len(todo)} already reported")
        return todo

    @task(multiple_outputs=True, show_return_value_in_logs=False, retries=0)
    def check_case(case: dict[str, Any]) -> dict[str, Any]:
        """Fail this case (only) if it cannot be reported; else give its report's arguments.

        :param case: one case from ``plan_cases``.
        :return: the case without its ``problem``.
        """
        from airflow_provider_fabric.exceptions import FabricInputError

        if case["problem"]:
            raise FabricInputError(f"case {case['case']}: {case['problem']}")
        print(
            f"Case {case['case']}: {case['report_type']} report, proband genome {case['proband_genome_id']}"
        )
        return {key: value for key, value in case.items() if key != "problem"}

    @task
    def reported(case: dict[str, Any], report_id: Any) -> dict[str, Any]:
        """Record that this case's report is ready and exported (IDs only).

        :param case: one case from ``plan_cases``.
        :param report_id: the report's ID.
        :return: ``case`` (run and manifest lines) and ``report_id``.
        """
        return {"case": case["case"], "report_id": int(report_id)}

    # [START howto_fabric_intake_case_group]
    # One mapped group per case. The exports update REPORTS_ASSET: the LIMS sync DAG runs on it.
    @task_group(group_id="case")
    def case_group(case: Any) -> None:
        """Report one case and export its files.

        :param case: one case from ``plan_cases``.
        """
        args = check_case(case)
        report = FabricCreateClinicalReportOperator(
            task_id="create_report",
            report_type=args["report_type"],
            project_id=create_project.output,
            proband_genome_id=args["proband_genome_id"],
            panel_id=args["panel_id"],
            accession_id=args["accession_id"],
            proband_sex=args["proband_sex"],
            family=args["family"],
        )
        wait = FabricClinicalReportStatusSensor(
            task_id="wait_for_review",
            report_id=report.output,
            target_statuses=("READY TO REVIEW",),
            poke_interval=POKE_INTERVAL,
            timeout=48 * 60 * 60,
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

    todo = plan_cases(plan["cases"], plan, plan["skipped"])
    samples >> todo
    cases = case_group.expand(case=todo)

    @task(trigger_rule="all_done", retries=0)
    def summary(
        uploaded: list[dict[str, Any]],
        skipped: list[dict[str, Any]],
        all_cases: list[dict[str, Any]],
        todo: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        ti: Any = None,
    ) -> dict[str, Any]:
        """What this run processed, skipped and failed: run:line keys, genome and report IDs only.

        :param uploaded: the samples mapped to the ``sample`` group.
        :param skipped: the samples already in Fabric.
        :param all_cases: every case found in the manifests.
        :param todo: the cases mapped to the ``case`` group.
        :param params: the run's params (filled in by Airflow).
        :param ti: this task instance (filled in by Airflow).
        :return: ``samples`` and ``cases``, each with ``processed``, ``skipped`` and ``failed``.
        """
        from airflow_provider_fabric.exceptions import FabricError

        assert params is not None
        samples: dict[str, Any] = {"processed": {}, "skipped": {}, "failed": []}
        for index, sample in enumerate(uploaded or []):
            done = ti.xcom_pull(task_ids="sample.annotated", map_indexes=index)
            if done:
                samples["processed"][done["key"]] = done["genome_id"]
            else:
                samples["failed"].append(sample["key"])
        samples["skipped"] = {s["key"]: s["genome_id"] for s in skipped or []}
        cases: dict[str, Any] = {"processed": {}, "skipped": [], "failed": []}
        for index, case in enumerate(todo or []):
            done = ti.xcom_pull(task_ids="case.reported", map_indexes=index)
            if done:
                cases["processed"][done["case"]] = done["report_id"]
            else:
                cases["failed"].append(case["case"])
        mapped = {case["case"] for case in todo or []}
        cases["skipped"] = [case["case"] for case in all_cases or [] if case["case"] not in mapped]
        for what, result in (("Samples", samples), ("Cases", cases)):
            for state in ("processed", "skipped", "failed"):
                items = result[state]
                listed = ", ".join(f"{k} ({v})" for k, v in items.items()) if isinstance(items, dict) else ""
                print(f"{what} {state}: {len(items)} {listed or ', '.join(items)}")
        failed = len(samples["failed"]) + len(cases["failed"])
        if failed and params.get("fail_on_errors", True):
            ti.xcom_push(key="intake_summary", value={"samples": samples, "cases": cases})
            raise FabricError(
                f"{len(samples['failed'])} sample(s) and {len(cases['failed'])} case(s) failed: "
                f"samples {samples['failed']}, cases {cases['failed']} (see their task logs)"
            )
        return {"samples": samples, "cases": cases}

    summary(plan, plan["skipped"], plan["cases"], todo).set_upstream(cases)


def build_demo_landing(landing: str, run: str, *, bad: bool = True, records: int = 40, seed: int = 0) -> str:
    """Write a demo run folder: synthetic VCFs and a manifest (one panel sample, a trio, a bad VCF).

    Add a second run later (another ``run`` name) to see the next scheduled run take in only
    the new samples. No real patient data: labels and IDs are derived from ``run``.

    :param landing: the landing folder (local path).
    :param run: the run folder's name, e.g. ``run-0001``.
    :param bad: include a GRCh38 VCF, which fails only its own upload.
    :param records: variants per VCF.
    :param seed: seed of the generated variants.
    :return: the run folder's path.
    """
    import csv
    from pathlib import Path

    from airflow_provider_fabric.testing.vcfgen import write_vcf

    folder = Path(landing, run)
    folder.mkdir(parents=True, exist_ok=True)
    tag = run.upper().replace("-", "")
    rows = [
        ("panel", "female", "", "", "", "panel:101", "GRCh37"),
        ("proband", "male", f"FAM-{tag}", "proband", "true", "family", "GRCh37"),
        ("mother", "female", f"FAM-{tag}", "mother", "false", "family", "GRCh37"),
        ("father", "male", f"FAM-{tag}", "father", "false", "family", "GRCh37"),
    ]
    if bad:
        rows.append(("grch38", "male", "", "", "", "panel:101", "GRCh38"))
    with (folder / MANIFEST).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for number, (name, sex, family, relationship, affected, test, build) in enumerate(rows):
            file = f"{name}.vcf.gz"
            write_vcf(
                folder / file,
                records,
                sample=f"{tag}-{name}",
                compression="gz",
                build=build,
                seed=seed + number,
            )
            writer.writerow(
                [file, f"{tag}-{name}", sex, f"LAB-{tag}-{name}", family, relationship, affected, test]
            )
    return str(folder)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[3:] not in ([], ["--no-bad"]):
        sys.exit(f"usage: {sys.argv[0]} LANDING_FOLDER RUN_NAME [--no-bad]")
    print(build_demo_landing(sys.argv[1], sys.argv[2], bad="--no-bad" not in sys.argv))
