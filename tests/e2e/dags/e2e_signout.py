"""Sign-out watch: wait for the laboratory director to approve many reports, then file each final PDF.

A lab's director signs reports out in Fabric Enterprise, hours or days after they
are ready. This DAG (used by the end-to-end test) waits for all of them at once:
one deferrable sensor per report, each holding no worker slot while it waits in
the triggerer, then one final-PDF export per report into object storage.

Conf: ``{"report_ids": [12, 13, ...], "output_base": "s3://bucket/prefix"}``.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_fabric.operators.exports import FabricExportReportPdfOperator
from airflow_provider_fabric.sensors.fabric import FabricClinicalReportStatusSensor

#: Seconds between two looks of one sensor's trigger (the test checks no trigger looks more often).
POKE_INTERVAL = float(os.environ.get("FABRIC_E2E_SIGNOUT_POKE_INTERVAL", "2"))

with DAG(
    dag_id="e2e_signout",
    description="Wait for the director's sign-out of many reports (deferred), then file the final PDFs",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["fabric-genomics", "e2e"],
    default_args={"retries": 1, "retry_delay": pendulum.duration(seconds=5)},
    params={
        "report_ids": Param([], type="array", items={"type": "integer"}),
        "output_base": Param("s3://lab-fabric-exports", type="string", minLength=1),
    },
) as dag:

    @task
    def reports(params: dict[str, Any] | None = None) -> list[int]:
        """The reports to watch (IDs only)."""
        assert params is not None
        return [int(report_id) for report_id in params["report_ids"]]

    ids = reports()
    signed_out = FabricClinicalReportStatusSensor.partial(
        task_id="wait_for_signout",
        target_statuses=("APPROVED",),
        poke_interval=POKE_INTERVAL,
        deferrable=True,
        timeout=60 * 60,
    ).expand(report_id=ids)

    @task
    def final_pdfs(report_ids: list[int], params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One final-PDF export per signed-out report, each in the report's own folder."""
        assert params is not None
        base = params["output_base"].rstrip("/")
        return [
            {"report_id": report_id, "destination": f"{base}/signout/report-{report_id}/report.pdf"}
            for report_id in report_ids
        ]

    pdfs = final_pdfs(ids)
    signed_out >> pdfs
    FabricExportReportPdfOperator.partial(task_id="export_final_pdf").expand_kwargs(pdfs)
