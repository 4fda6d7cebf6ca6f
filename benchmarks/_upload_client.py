"""One upload in a fresh process (run by ``bench_upload*.py``); prints ``{"seconds": ..., "genome_id": ...}``.

``seconds`` is timed inside the process around the upload only (interpreter start
and imports excluded), like curl's ``%{time_total}``.

    python _upload_client.py MODE PROJECT_ID FILE

MODE: ``requests`` | ``hook`` | ``operator`` (defaults: MD5 from a ``.md5`` file beside FILE
if there is one, else a checksum pass) | ``operator-nochecksum`` | ``operator-compress``
(``compress=True``). A ``+zlib`` suffix (``operator+zlib``...) makes the archive check
inflate with the standard library's zlib instead of ISA-L, to measure what ISA-L earns.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    mode, project, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    conn = json.loads(os.environ["AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT"])
    if mode == "requests":
        # How the vendor's example client uploads: requests.put with the open file as the body.
        import requests

        url = f"{conn['host'].rstrip('/')}/projects/{project}/genomes"
        params = {"genome_label": "bench", "genome_sex": "female", "assembly_version": "hg19"}
        started, cpu = time.perf_counter(), time.process_time()
        with open(path, "rb") as body:
            response = requests.put(
                url,
                params=params,
                data=body,
                auth=(conn["login"], conn["password"]),
                verify=conn["extra"]["verify"],
                timeout=3600,
            )
        response.raise_for_status()
        seconds = time.perf_counter() - started
        genome_id = response.json()["genome_id"]
    elif mode == "hook":
        from airflow_provider_fabric.hooks.fabric import FabricHook

        hook = FabricHook()
        hook.settings  # noqa: B018 - resolve the connection before the clock starts
        started, cpu = time.perf_counter(), time.process_time()
        answer = hook.upload_genome(project, path, genome_label="bench", genome_sex="female")
        seconds = time.perf_counter() - started
        genome_id = answer["genome_id"]
    elif mode.split("+")[0] in ("operator", "operator-nochecksum", "operator-compress"):
        from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator

        if mode.endswith("+zlib"):
            import zlib

            from airflow_provider_fabric import deflate

            deflate.codec = zlib
        mode = mode.split("+")[0]

        operator = FabricUploadGenomeOperator(
            task_id="upload",
            project_id=project,
            vcf_path=path,
            genome_label="bench",
            genome_sex="female",
            external_id=f"bench-{time.time_ns()}",
            checksum=mode != "operator-nochecksum",
            compress=mode == "operator-compress",
        )
        operator.hook.settings  # noqa: B018 - resolve the connection before the clock starts
        started, cpu = time.perf_counter(), time.process_time()
        genome_id = operator.execute({})  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
    else:
        raise SystemExit(f"unknown mode {mode}")
    # CPU seconds of every thread of this process over the same span: what the client needs
    # whatever else the machine runs.
    print(json.dumps({"seconds": seconds, "cpu_seconds": time.process_time() - cpu, "genome_id": genome_id}))


if __name__ == "__main__":
    main()
