"""#8 Upload over an emulated link: the upload operator's settings against curl (issue #18).

A link is emulated by the bare HTTPS sink of ``bench_upload.py`` reading each request
body at a fixed rate (``_sink.py --rate``): TCP flow control holds every client to it.
For each setting, ``curl --upload-file`` and the operator clients upload the same file
over the same link, each in its own fresh process, in rotating order, ``--repeat``
times; every repeat gives one ratio per client, ``curl seconds / client seconds``
(> 1: faster than curl), and the table gives their median and spread (min-max).

Settings (goals from issue #18):

* ``gz, MD5 in .md5 file`` @ 1 Gbit/s: a ``.vcf.gz`` with an md5sum-format sidecar;
  the operator verifies it and proves the archive intact while sending (goal >= 0.9);
* ``gz, no MD5`` @ 1 Gbit/s and @ 100 Mbit/s: a checksum pass before sending, the
  archive proof while sending (goals >= 0.8 and >= 0.95);
* ``plain, compress`` @ 100 Mbit/s: ``compress=True`` on a plain VCF: a compress-and-MD5
  pass, then BGZF on the way; curl sends the plain file (goal >= 2.5); and @ 1 Gbit/s,
  with the plain upload (``operator``) beside it, for the docs' advice on when to compress.

Clients: ``operator`` (as a DAG runs it: inspect, MD5, earlier-try lookup, upload),
``operator-compress``; ``+zlib`` inflates (the archive check) with the standard library's
zlib instead of ISA-L (what the ``isal`` dependency earns; compression is zlib's in both).
Times are taken inside each process around the transfer (curl: ``%{time_total}``;
operator: ``execute``), and so is the operator's CPU time (all its threads): what it
needs whatever else the shared machine runs. Client peak RSS comes from
GNU time; every setting first runs once on a ``--small`` file, and the RSS growth column is
the big file's peak minus that one's. Files are read from the page cache.

    .venv/bin/python benchmarks/bench_upload_link.py [--size 1G] [--small 10M] [--repeat 5]
        [--repeat-slow 3] [--settings all]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common
from bench_upload import Sink, run_curl


@dataclass(frozen=True)
class Setting:
    key: str
    label: str
    mbit: int
    kind: str  # "gz" or "plain"
    sidecar: bool
    clients: tuple[str, ...]
    goal: float | None  # None: measured for the docs (when to compress), no goal


SETTINGS = (
    Setting("gz-md5-1g", "gz, MD5 in .md5 file", 1000, "gz", True, ("operator", "operator+zlib"), 0.9),
    Setting("gz-1g", "gz, no MD5", 1000, "gz", False, ("operator", "operator+zlib"), 0.8),
    Setting("gz-100m", "gz, no MD5", 100, "gz", False, ("operator",), 0.95),
    Setting(
        "plain-compress-100m",
        "plain, compress",
        100,
        "plain",
        False,
        ("operator-compress",),
        2.5,
    ),
    Setting(
        "plain-compress-1g", "plain, compress", 1000, "plain", False, ("operator-compress", "operator"), None
    ),
)


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def files(size: str) -> dict[tuple[str, bool], Path]:
    """The plain and gzip VCF of ``size``, and a hard link of the gzip one with a ``.md5`` file."""
    from airflow_provider_fabric.testing.vcfgen import parse_size, write_vcf

    out = {}
    for kind in ("plain", "gz"):
        path = _common.data_dir() / f"link-{size}.vcf{'.gz' if kind == 'gz' else ''}"
        if not path.exists():
            write_vcf(path, target_bytes=parse_size(size), compression="gz" if kind == "gz" else None)
        out[(kind, False)] = path
    linked = _common.data_dir() / f"link-{size}-sidecar.vcf.gz"
    if not linked.exists():
        os.link(out[("gz", False)], linked)
    digest = hashlib.md5(out[("gz", False)].read_bytes(), usedforsecurity=False).hexdigest()
    Path(f"{linked}.md5").write_text(f"{digest}  {linked.name}\n")
    out[("gz", True)] = linked
    return out


def run_setting(box: Any, setting: Setting, path: Path, repeat: int) -> dict[str, Any]:
    sink = Sink(box, rate=setting.mbit * 1e6 / 8)
    clients = ["curl", *setting.clients]
    seconds: dict[str, list[float]] = {c: [] for c in clients}
    cpu: dict[str, list[float]] = {c: [] for c in clients}
    peaks: dict[str, list[int]] = {c: [] for c in clients}
    loads = [load()]
    try:
        for i in range(repeat):
            order = clients[i % len(clients) :] + clients[: i % len(clients)]
            for client in order:
                if client == "curl":
                    took, peak, _ = run_curl(sink, 0, path)
                else:
                    took, peak, cpu_seconds = run_client(sink, client, path)
                    cpu[client].append(cpu_seconds)
                seconds[client].append(took)
                peaks[client].append(peak)
                print(
                    f"# {setting.key} {path.name} #{i + 1} {client}: {took:.2f} s, "
                    f"peak RSS {peak / 1024:.0f} MB, load {load()}",
                    flush=True,
                )
            loads.append(load())
    finally:
        sink.stop()
    ratios = {c: [b / t for b, t in zip(seconds["curl"], seconds[c], strict=True)] for c in clients}
    return {"seconds": seconds, "cpu": cpu, "peaks": peaks, "ratios": ratios, "loads": loads}


def run_client(sink: Sink, mode: str, path: Path) -> tuple[float, int, float]:
    """One operator upload in a fresh process: wall seconds, peak RSS (kB), CPU seconds."""
    cmd = [sys.executable, str(_common.HERE / "_upload_client.py"), mode, "0", str(path)]
    result = _common.run_child(cmd, env=_common.child_env(sink))
    return float(result.data["seconds"]), result.peak_rss_kb, float(result.data["cpu_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="1G", help="uncompressed VCF size (default 1G)")
    parser.add_argument("--small", default="10M", help="size of the RSS baseline run (default 10M)")
    parser.add_argument("--repeat", type=int, default=5, help="repeats at 1 Gbit/s (default 5)")
    parser.add_argument("--repeat-slow", type=int, default=3, help="repeats at 100 Mbit/s (default 3)")
    parser.add_argument("--settings", default="all", help=f"all, or some of {[s.key for s in SETTINGS]}")
    args = parser.parse_args()
    _common.ensure_airflow_home()
    _common.print_machine()
    chosen = [s for s in SETTINGS if args.settings == "all" or s.key in args.settings.split(",")]
    rows = []
    with _common.sandbox() as box:  # for its certificate and credentials; the sink is the server
        small, big = files(args.small), files(args.size)
        for setting in chosen:
            baseline = run_setting(box, setting, small[(setting.kind, setting.sidecar)], 1)
            path = big[(setting.kind, setting.sidecar)]
            result = run_setting(
                box, setting, path, args.repeat if setting.mbit >= 1000 else args.repeat_slow
            )
            for client in ["curl", *setting.clients]:
                ratios = result["ratios"][client]
                median = statistics.median(ratios)
                peak = max(result["peaks"][client]) / 1024
                rows.append(
                    [
                        setting.label,
                        f"{setting.mbit} Mbit/s",
                        f"{path.stat().st_size / 1e6:.0f}",
                        client,
                        f"{statistics.median(result['seconds'][client]):.2f}",
                        f"{statistics.median(result['cpu'][client]):.2f}" if result["cpu"][client] else "",
                        f"{median:.3f} ({min(ratios):.3f}-{max(ratios):.3f})",
                        "" if client == "curl" or setting.goal is None else f">= {setting.goal}",
                        ""
                        if client == "curl" or setting.goal is None
                        else ("yes" if median >= setting.goal else "no"),
                        f"{peak:.0f}",
                        f"{peak - max(baseline['peaks'][client]) / 1024:+.1f}",
                        f"{result['loads'][0]} / {result['loads'][-1]}",
                    ]
                )
    print()
    print(
        _common.table(
            [
                "setting",
                "link",
                "file MB",
                "client",
                "seconds (median)",
                "client CPU s (median)",
                "curl time / client time: median (min-max)",
                "goal",
                "met",
                "peak RSS MB",
                f"RSS growth from {args.small}",
                "load before / after",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
