"""#3 Export: a variants export of ``--records`` records (default 1 million) to a local file.

A VCF of that many records is uploaded to the sandbox and a panel report is made
on it; once processed, its variants are exported as CSV and as VCF (streamed by the
server) by each client, each in a fresh process, in rotating order, ``--repeat`` times:

* ``curl``      — ``curl -o FILE URL?format=CSV`` (the baseline);
* ``requests``  — ``requests.get(..., stream=True)`` + ``iter_content`` into a file;
* ``hook``      — ``FabricHook.get_variants(format=...)`` + ``iter_content`` into a file;
* ``operator``  — ``FabricExportVariantsOperator.execute`` (atomic write through
  ``ObjectStoragePath``, records counted on the way).

Two servers: the sandbox (which renders every record in Python as it streams, so
it is the bottleneck), and a bare HTTPS ``source`` (``_sink.py``) that serves the
bytes of the same export from a file, to show what the clients themselves can take.
Times are taken inside each client (curl's ``%{time_total}``); peak RSS per client
process comes from GNU time. Goals: ratio to curl >= 0.9; peak RSS flat, < 100 MB.

    .venv/bin/python benchmarks/bench_export.py [--records 1000000] [--formats csv,vcf] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import _common
from bench_upload import Sink

CLIENTS = ("curl", "requests", "hook", "operator")


def run_client(target: Any, client: str, report: int, fmt: str, dest: Path) -> tuple[float, int, int]:
    if client == "curl":
        url = f"{target.url.rstrip('/')}/reports/{report}/variants?format={fmt.upper()}"
        cmd = ["curl", "-sS", "--fail", "--cacert", target.ca_path, "-u", f"{target.login}:{target.secret}"]
        cmd += ["-o", str(dest), "-w", '{"seconds": %{time_total}}\n', url]
        result = _common.run_child(cmd)
    else:
        cmd = [sys.executable, str(_common.HERE / "_export_client.py"), client, str(report), fmt, str(dest)]
        result = _common.run_child(cmd, env=_common.child_env(target))
    size = dest.stat().st_size
    return float(result.data["seconds"]), result.peak_rss_kb, size


def wait_processed(hook: Any, report: int, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = hook.get_report(report)["status"]
        if status in ("READY TO REVIEW", "APPROVED", "COMPLETE"):
            return str(status)
        if status == "FAILED":
            raise RuntimeError(f"report {report} FAILED")
        time.sleep(0.5)
    raise RuntimeError(f"report {report} not processed in {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000, help="variants (default 1,000,000)")
    parser.add_argument("--formats", default="csv,vcf", help="csv and/or vcf (default both)")
    parser.add_argument("--repeat", type=int, default=3, help="exports per client per format (default 3)")
    parser.add_argument("--clients", default=",".join(CLIENTS), help=f"subset of {','.join(CLIENTS)}")
    parser.add_argument("--targets", default="sandbox,source", help="sandbox and/or source (default both)")
    args = parser.parse_args()
    _common.ensure_airflow_home()
    _common.print_machine()
    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    clients = [c for c in args.clients.split(",") if c]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    rows = []
    work = _common.data_dir() / "export"
    work.mkdir(exist_ok=True)
    with _common.sandbox() as box:
        project = _common.create_project(box)
        hook = FabricHook()
        vcf = write_vcf(work / "source.vcf.gz", args.records, compression="gz")
        genome = hook.upload_genome(project, vcf, genome_label="bench", genome_sex="female")
        vcf.unlink()
        report = hook.create_panel_report(
            panel_id=101, proband_genome_id=genome["genome_id"], accession_id="BENCH-1"
        )["id"]
        print(f"# report {report}: {wait_processed(hook, report)}", flush=True)
        for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
            for name in targets:
                sink = None
                if name == "source":
                    served = work / f"served.{fmt}"
                    run_client(box, "curl", report, fmt, served)
                    sink = Sink(box, serve_file=served)
                target = box if name == "sandbox" else sink
                seconds: dict[str, list[float]] = {c: [] for c in clients}
                peaks: dict[str, list[int]] = {c: [] for c in clients}
                sizes: dict[str, int] = {}
                try:
                    for i in range(args.repeat):
                        order = clients[i % len(clients) :] + clients[: i % len(clients)]
                        for client in order:
                            dest = work / f"out-{client}.{fmt}"
                            took, peak, size = run_client(target, client, report, fmt, dest)
                            dest.unlink()
                            seconds[client].append(took)
                            peaks[client].append(peak)
                            sizes[client] = size
                            print(
                                f"# {name} {fmt} {client}: {took:.2f} s, {size} B, RSS {peak / 1024:.0f} MB"
                            )
                finally:
                    if sink is not None:
                        sink.stop()
                        (work / f"served.{fmt}").unlink(missing_ok=True)
                if len(set(sizes.values())) != 1:
                    print(f"# WARNING: clients wrote different sizes: {sizes}")
                base = _common.median(seconds["curl"])
                for client in clients:
                    took = _common.median(seconds[client])
                    rows.append(
                        [
                            name,
                            fmt,
                            f"{sizes[client] / 1e6:.1f}",
                            client,
                            f"{sizes[client] / took / 1e6:.1f}",
                            f"{base / took:.3f}",
                            f"{max(peaks[client]) / 1024:.0f}",
                        ]
                    )
        hook.close()
    work.rmdir()
    print()
    print(f"{args.records} records")
    print(
        _common.table(
            [
                "server",
                "format",
                "MB",
                "client",
                "MB/s (median)",
                "ratio to curl (goal >= 0.9)",
                "peak RSS MB",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
