"""LIMS sync: whenever the intake DAG exports reports, copy them to the LIMS drop folder.

This DAG has no time schedule: it is scheduled on the ``fabric_intake_reports``
Asset (``fabric://intake/reports``), which every report export of
``example_fabric_intake`` updates. Airflow queues one run of this DAG after
those exports, however many cases an intake run reported.

It copies, for every case folder of the intake's output area
(``<output>/<accession>/``), the report JSON, the preview PDF and the variants
VCF into ``<lims_drop>/<accession>/``, each file written under a temporary
name and moved into place only once complete (so the LIMS never picks up half
a file). A file already in the drop folder with the same size is left alone,
so the sync is idempotent: a run that finds nothing new copies nothing.

**Settings.** Params (for a manual run's conf), else Airflow Variables (for the
Asset-triggered runs), else the defaults: ``output_url`` /
``fabric_intake_output_url`` (the intake DAG's output area) and
``lims_drop_url`` / ``fabric_lims_drop_url``. Log lines give counts and the
tasks whose exports triggered the run, never folder names (accessions are PHI).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, task

from airflow_provider_fabric.intake import param_or_variable

#: The same Asset as ``example_fabric_intake.REPORTS_ASSET`` (same name and URI).
REPORTS_ASSET = Asset(name="fabric_intake_reports", uri="fabric://intake/reports")

#: The files of a case folder that the LIMS takes.
FILES = ("report.json", "report-preview.pdf", "variants.vcf")

VARIABLES = {
    "output_url": ("fabric_intake_output_url", "s3://lab-fabric-exports/intake"),
    "lims_drop_url": ("fabric_lims_drop_url", "s3://lab-lims/drop/fabric"),
}


with DAG(
    dag_id="example_fabric_lims_sync",
    description="Copies the intake DAG's report JSON, PDF and VCF exports to the LIMS drop folder",
    schedule=[REPORTS_ASSET],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["fabric-genomics", "example", "lims"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=30)},
    params={
        "output_url": Param(
            None, type=["null", "string"], description="Default: Variable fabric_intake_output_url"
        ),
        "lims_drop_url": Param(
            None, type=["null", "string"], description="Default: Variable fabric_lims_drop_url"
        ),
    },
) as dag:
    # [START howto_fabric_lims_sync]
    @task
    def sync_to_lims(
        params: dict[str, Any] | None = None, triggering_asset_events: Any = None
    ) -> dict[str, int]:
        """Copy each case folder's report JSON, preview PDF and VCF into the LIMS drop folder.

        :param params: the run's params (filled in by Airflow).
        :param triggering_asset_events: the Asset events that queued this run (filled in by Airflow).
        :return: counts: ``cases`` seen, files ``copied``, files already ``up_to_date``.
        """
        from airflow_provider_fabric.storage import as_path, atomic_writer, open_source

        assert params is not None
        for asset, events in (triggering_asset_events or {}).items():
            sources = sorted({f"{e.source_dag_id}/{e.source_task_id}" for e in events if e.source_task_id})
            print(f"Triggered by {len(events)} event(s) of {asset.uri} from {', '.join(sources)}")
        output = as_path(param_or_variable(params, "output_url", *VARIABLES["output_url"]))
        drop = as_path(param_or_variable(params, "lims_drop_url", *VARIABLES["lims_drop_url"]))
        counts = {"cases": 0, "copied": 0, "up_to_date": 0}
        if not output.exists():
            print("The output area does not exist yet: nothing to sync")
            return counts
        for case in sorted(p for p in output.iterdir() if p.is_dir() and not p.name.startswith(".")):
            ready = [name for name in FILES if (case / name).exists()]
            if "report.json" not in ready:
                continue  # not exported yet: the next event brings it
            counts["cases"] += 1
            for name in ready:
                source, target = case / name, drop / case.name / name
                size = source.stat().st_size
                if target.exists() and target.stat().st_size == size:
                    counts["up_to_date"] += 1
                    continue
                with open_source(source) as reader, atomic_writer(target) as writer:
                    for chunk in iter(lambda: reader.read(1 << 20), b""):
                        writer.write(chunk)
                counts["copied"] += 1
        print(
            f"LIMS sync: {counts['cases']} case folder(s), {counts['copied']} file(s) copied, "
            f"{counts['up_to_date']} already up to date"
        )
        return counts

    # [END howto_fabric_lims_sync]

    sync_to_lims()
