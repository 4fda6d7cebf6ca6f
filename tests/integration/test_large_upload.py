"""A 200 MB VCF through FabricHook.upload_genome into the real sandbox, both sides in bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

#: Runs in a fresh process so its peak RSS is its own: imports first, then the upload.
CLIENT = """
import json, resource, sys
from airflow_provider_fabric.hooks.fabric import FabricHook

hook = FabricHook()
project = hook.create_project("large upload")["id"]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
answer = hook.upload_genome(project, sys.argv[1], genome_label="large", genome_sex="female")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("RESULT " + json.dumps({"genome_id": answer["genome_id"], "growth_kb": after - before}))
"""


def test_200_mb_upload_streams_in_bounded_memory_on_client_and_server(sandbox: Any, tmp_path: Path) -> None:
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    vcf = write_vcf(tmp_path / "large.vcf", target_bytes=200_000_000, seed=5)
    assert vcf.stat().st_size >= 200_000_000
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", CLIENT, str(vcf)],
        capture_output=True,
        text=True,
        env={**os.environ, "AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT": sandbox.conn_json()},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    result = json.loads(line.removeprefix("RESULT "))
    # The client never holds the file: its peak grows by far less than the 200 MB sent.
    assert result["growth_kb"] < 64 * 1024
    genome = next(g for g in sandbox.state()["genomes"] if g["id"] == result["genome_id"])
    assert genome["size"] == vcf.stat().st_size
    # Nor does the sandbox, which streams the body to disk while checking it.
    assert sandbox.peak_rss_kb() < 300 * 1024
