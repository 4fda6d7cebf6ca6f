"""One variants export in a fresh process (run by ``bench_export.py``); prints seconds and bytes.

``seconds`` is timed inside the process around the export only (interpreter start
and imports excluded), like curl's ``%{time_total}``.

    python _export_client.py MODE REPORT_ID FORMAT DEST     # MODE: operator | hook | requests
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    mode, report, fmt, dest = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if mode == "operator":
        from airflow_provider_fabric.operators.exports import FabricExportVariantsOperator

        operator = FabricExportVariantsOperator(
            task_id="export", report_id=report, destination=dest, format=fmt
        )
        operator.hook.settings  # noqa: B018 - resolve the connection before the clock starts
        started = time.perf_counter()
        result = operator.execute({})  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        size = int(result["bytes"])
    elif mode == "hook":
        from airflow_provider_fabric.hooks.fabric import FabricHook

        hook = FabricHook()
        hook.settings  # noqa: B018
        started = time.perf_counter()
        size = 0
        with hook.get_variants(report, format=fmt.upper()) as answer, open(dest, "wb") as out:
            for chunk in answer.iter_content(chunk_size=1 << 20):
                size += out.write(chunk)
        seconds = time.perf_counter() - started
    elif mode == "requests":
        import requests

        conn = json.loads(os.environ["AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT"])
        url = f"{conn['host'].rstrip('/')}/reports/{report}/variants"
        started = time.perf_counter()
        size = 0
        with (
            requests.get(
                url,
                params={"format": fmt.upper()},
                auth=(conn["login"], conn["password"]),
                verify=conn["extra"]["verify"],
                stream=True,
                timeout=3600,
            ) as answer,
            open(dest, "wb") as out,
        ):
            answer.raise_for_status()
            for chunk in answer.iter_content(chunk_size=1 << 20):
                size += out.write(chunk)
        seconds = time.perf_counter() - started
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps({"seconds": seconds, "bytes": size}))


if __name__ == "__main__":
    main()
