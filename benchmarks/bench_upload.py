"""#1 Upload: the operator and the hook against curl and a plain ``requests.put``.

For each size (of the uncompressed VCF, made by ``airflow_provider_fabric.testing.vcfgen``)
and each of plain / gzip, every client uploads the same file into the same sandbox
project, each in its own fresh process, in rotating order, ``--repeat`` times:

* ``curl``     — ``curl --upload-file F --cacert CA -u KEY:SECRET URL?genome_label=...`` (the baseline);
* ``requests`` — ``requests.put(url, params=..., data=open(f, "rb"))``, as the vendor's example does;
* ``hook``     — ``FabricHook.upload_genome(project, path, ...)`` (no checksum, like the two above);
* ``operator`` — ``FabricUploadGenomeOperator.execute`` with the defaults: header/record checks,
  a full MD5 + compression pass, the earlier-try lookup, then the upload with ``checksum``.

Times are taken inside each client around the upload only (curl's ``%{time_total}``).
Peak RSS of each client process comes from ``os.wait4``. The server's own work after
the last byte (the sandbox re-reads the stored file to count records) is inside every
client's time alike; the ``server scan`` column times that step alone on the same file
so its share is visible. Genomes are deleted after each upload, files after each size.

    .venv/bin/python benchmarks/bench_upload.py [--sizes 10M,200M,1G] [--repeat 3] [--clients ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common

CLIENTS = ("curl", "requests", "hook", "operator")


def run_curl(box: Any, project: int, path: Path) -> tuple[float, int, int]:
    query = "genome_label=bench&genome_sex=female&assembly_version=hg19"
    url = f"{box.url.rstrip('/')}/projects/{project}/genomes?{query}"
    out = path.with_suffix(".answer.json")
    cmd = ["curl", "-sS", "--fail", "--cacert", box.ca_path, "-u", f"{box.login}:{box.secret}"]
    cmd += ["-H", "Content-Type: application/octet-stream", "--upload-file", str(path), "-o", str(out)]
    cmd += ["-w", '{"seconds": %{time_total}}\n', url]
    result = _common.run_child(cmd)
    genome_id = int(json.loads(out.read_text())["genome_id"])
    out.unlink()
    return float(result.data["seconds"]), result.peak_rss_kb, genome_id


def run_python(box: Any, mode: str, project: int, path: Path) -> tuple[float, int, int]:
    cmd = [sys.executable, str(_common.HERE / "_upload_client.py"), mode, str(project), str(path)]
    result = _common.run_child(cmd, env=_common.child_env(box))
    return float(result.data["seconds"]), result.peak_rss_kb, int(result.data["genome_id"])


def server_scan_seconds(path: Path, fmt: str) -> float:
    """Time the sandbox's post-receive scan of a stored upload, alone, in this process."""
    from airflow_provider_fabric.sandbox.genomes import _scan_file

    started = time.perf_counter()
    _scan_file(path, fmt)
    return time.perf_counter() - started


class Sink:
    """The ``_sink.py`` HTTPS server, with the sandbox's certificate; looks like a sandbox to the clients."""

    def __init__(self, box: Any, serve_file: Path | None = None, rate: float | None = None) -> None:
        tls = Path(box.data_dir) / "tls"
        self.login, self.secret, self.ca_path = box.login, box.secret, box.ca_path
        cmd = [
            sys.executable,
            str(_common.HERE / "_sink.py"),
            str(tls / "server.pem"),
            str(tls / "server-key.pem"),
        ]
        if serve_file is not None:
            cmd.append(str(serve_file))
        if rate is not None:
            cmd += ["--rate", str(rate)]
        self.process = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = f"https://127.0.0.1:{int(self.process.stdout.readline())}"

    def conn_json(self) -> str:
        return json.dumps(
            {
                "conn_type": "fabric_genomics",
                "host": self.url,
                "login": self.login,
                "password": self.secret,
                "extra": {"verify": self.ca_path},
            }
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def measure_file(
    target: Any, name: str, project: int, path: Path, clients: list[str], repeat: int, delete: bool
) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    seconds: dict[str, list[float]] = {c: [] for c in clients}
    peaks: dict[str, list[int]] = {c: [] for c in clients}
    for i in range(repeat):
        order = clients[i % len(clients) :] + clients[: i % len(clients)]
        for client in order:
            if client == "curl":
                took, peak, genome_id = run_curl(target, project, path)
            else:
                took, peak, genome_id = run_python(target, client, project, path)
            if delete:
                target.admin("DELETE", f"/genomes/{genome_id}")
            seconds[client].append(took)
            peaks[client].append(peak)
            print(f"# {name} {path.name} {client}: {took:.2f} s, peak RSS {peak / 1024:.0f} MB", flush=True)
    return seconds, peaks


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10M,200M,1G", help="uncompressed sizes (default 10M,200M,1G)")
    parser.add_argument("--compressions", default="plain,gz", help="plain and/or gz (default both)")
    parser.add_argument("--repeat", type=int, default=3, help="uploads per client per file (default 3)")
    parser.add_argument("--clients", default=",".join(CLIENTS), help=f"subset of {','.join(CLIENTS)}")
    parser.add_argument("--targets", default="sandbox,sink", help="sandbox and/or sink (default both)")
    parser.add_argument("--no-server-scan", action="store_true", help="skip timing the server's scan")
    args = parser.parse_args()
    _common.ensure_airflow_home()
    _common.print_machine()
    from airflow_provider_fabric.testing.vcfgen import parse_size, write_vcf

    clients = [c for c in args.clients.split(",") if c]
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    rows = []
    rss: dict[tuple[str, str, str], dict[str, float]] = {}
    with _common.sandbox() as box:
        project = _common.create_project(box)
        sink = Sink(box) if "sink" in targets else None
        try:
            for size in sizes:
                for comp in [c.strip() for c in args.compressions.split(",") if c.strip()]:
                    suffix = ".vcf.gz" if comp == "gz" else ".vcf"
                    path = _common.data_dir() / f"upload-{size}{suffix}"
                    write_vcf(path, target_bytes=parse_size(size), compression="gz" if comp == "gz" else None)
                    nbytes = path.stat().st_size
                    for name in targets:
                        target = box if name == "sandbox" else sink
                        seconds, peaks = measure_file(
                            target, name, project, path, clients, args.repeat, delete=name == "sandbox"
                        )
                        scan = float("nan")
                        if name == "sandbox" and not args.no_server_scan:
                            scan = server_scan_seconds(path, "vcf.gz" if comp == "gz" else "vcf")
                        base = _common.median(seconds["curl"]) if "curl" in seconds else float("nan")
                        for client in clients:
                            took = _common.median(seconds[client])
                            peak_mb = max(peaks[client]) / 1024
                            rss.setdefault((name, client, comp), {})[size] = peak_mb
                            rows.append(
                                [
                                    name,
                                    size,
                                    comp,
                                    f"{nbytes / 1e6:.1f}",
                                    client,
                                    f"{nbytes / took / 1e6:.1f}",
                                    f"{base / took:.3f}",
                                    f"{peak_mb:.0f}",
                                    f"{scan / base:.2f}" if client == "curl" and name == "sandbox" else "",
                                ]
                            )
                    path.unlink()
        finally:
            if sink is not None:
                sink.stop()
    print()
    print(
        _common.table(
            [
                "server",
                "size",
                "comp",
                "file MB",
                "client",
                "MB/s (median)",
                "throughput ratio to curl (goal >= 0.9)",
                "peak RSS MB",
                "server scan alone / curl time",
            ],
            rows,
        )
    )
    if len(sizes) > 1:
        growth = []
        for (name, client, comp), by_size in rss.items():
            growth.append([name, client, comp, f"{by_size[sizes[-1]] - by_size[sizes[0]]:.1f}"])
        print()
        print(f"peak RSS growth from {sizes[0]} to {sizes[-1]} (goal < 64 MB):")
        print(_common.table(["server", "client", "comp", "RSS growth MB"], growth))


if __name__ == "__main__":
    main()
