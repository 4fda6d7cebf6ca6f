"""#2 Pre-upload work: what validation and the checksum pass cost before an upload.

On one generated VCF (default 1 GiB uncompressed; plain and gzip), in this process,
interleaved ``--repeat`` times, page cache warm:

* ``read``       — read the file in 1 MiB blocks, nothing else (the floor of any pass); once
  warm (page cache) and once cold (this file's pages dropped with ``posix_fadvise``);
* ``stdlib``     — read + ``hashlib.md5``: the stdlib floor of the checksum pass;
* ``validate``   — ``FabricUploadGenomeOperator._inspect``: header + 1,000 records
  (``inspect_vcf`` through ``storage.open_source``), exactly as the operator runs it; warm and cold;
* ``checksum``   — ``airflow_provider_fabric.upload.upload_checksum``: the MD5 pass the
  operator makes before sending when no MD5 is declared (since issue #18 the gzip/bzip2
  completeness proof runs inside the upload stream instead, see ``bench_upload_link.py``);
* ``upload``     — ``FabricHook.upload_genome`` of the same file to the sandbox (once) and
  to the bare HTTPS sink of ``bench_upload.py`` (median of ``--repeat``).

Goals: validation <= 1% of ``read``; checksum pass at stdlib (hashlib) speed.

    .venv/bin/python benchmarks/bench_preupload.py [--size 1G] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import _common


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def evict(path: Path) -> None:
    """Drop this file's pages from the page cache (``POSIX_FADV_DONTNEED``), so the next read is cold."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def cold(fn: Callable[[], object], path: Path) -> Callable[[], object]:
    def run() -> object:
        evict(path)
        return fn()

    return run


def read_only(path: Path) -> None:
    with open(path, "rb") as handle:
        while handle.read(1 << 20):
            pass


def stdlib_pass(path: Path) -> None:
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            md5.update(chunk)
    md5.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="1G", help="uncompressed VCF size (default 1G)")
    parser.add_argument("--compressions", default="plain,gz", help="plain and/or gz (default both)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each pass (default 3)")
    parser.add_argument("--no-sandbox-upload", action="store_true", help="skip the (slow) sandbox upload")
    args = parser.parse_args()
    _common.ensure_airflow_home()
    _common.print_machine()
    logging.disable(logging.INFO)  # the operator's progress lines are not what is measured

    from bench_upload import Sink

    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator
    from airflow_provider_fabric.storage import as_path
    from airflow_provider_fabric.testing.vcfgen import parse_size, write_vcf
    from airflow_provider_fabric.upload import upload_checksum

    rows = []
    with _common.sandbox() as box:
        project = _common.create_project(box)
        sink = Sink(box)
        try:
            for comp in [c.strip() for c in args.compressions.split(",") if c.strip()]:
                gz = comp == "gz"
                path = _common.data_dir() / f"preupload-{args.size}.vcf{'.gz' if gz else ''}"
                write_vcf(path, target_bytes=parse_size(args.size), compression="gz" if gz else None)
                operator = FabricUploadGenomeOperator(
                    task_id="measure",
                    project_id=project,
                    vcf_path=str(path),
                    genome_label="b",
                    genome_sex="male",
                )
                opath = as_path(str(path))
                passes: dict[str, Callable[[], object]] = {
                    "read": lambda p=path: read_only(p),
                    "stdlib": lambda p=path: stdlib_pass(p),
                    "validate": lambda o=operator, q=opath: o._inspect(q),
                    "checksum": lambda q=opath: upload_checksum(q),
                }
                passes["cold read"] = cold(passes["read"], path)
                passes["cold validate"] = cold(passes["validate"], path)
                times: dict[str, list[float]] = {name: [] for name in passes}
                for _ in range(args.repeat):
                    for name, fn in passes.items():
                        if not name.startswith("cold"):
                            read_only(path)  # warm the page cache
                        times[name].append(timed(fn))

                sink_hook = FabricHook()
                sink_hook.__dict__["settings"] = _sink_settings(sink_hook, sink)
                upload_sink = _common.median(
                    [
                        timed(
                            lambda h=sink_hook, p=path: h.upload_genome(
                                0, p, genome_label="b", genome_sex="male"
                            )
                        )
                        for _ in range(args.repeat)
                    ]
                )
                upload_box = float("nan")
                if not args.no_sandbox_upload:
                    hook = FabricHook()
                    started = time.perf_counter()
                    genome = hook.upload_genome(project, path, genome_label="b", genome_sex="male")
                    upload_box = time.perf_counter() - started
                    box.admin("DELETE", f"/genomes/{genome['genome_id']}")
                m = {name: _common.median(values) for name, values in times.items()}
                size_mb = path.stat().st_size / 1e6
                rows.append(
                    [
                        comp,
                        f"{size_mb:.0f}",
                        f"{size_mb / m['cold read']:.0f} / {size_mb / m['read']:.0f}",
                        f"{m['cold validate'] / m['cold read']:.2%} / {m['validate'] / m['read']:.0%}",
                        f"{m['checksum'] / m['stdlib']:.3f}",
                        f"{size_mb / m['checksum']:.0f}",
                        f"{(m['validate'] + m['checksum']) / upload_sink:.2f}",
                        f"{(m['validate'] + m['checksum']) / upload_box:.3f}",
                    ]
                )
                print(f"# {comp}: " + ", ".join(f"{k} {v:.2f}s" for k, v in m.items()), end="")
                print(f", upload sink {upload_sink:.2f}s, upload sandbox {upload_box:.2f}s", flush=True)
                path.unlink()
        finally:
            sink.stop()
    print()
    print(
        _common.table(
            [
                "comp",
                "file MB",
                "read MB/s cold / warm",
                "validation / read, cold / warm (goal <= 1%)",
                "checksum pass / stdlib floor (goal ~1)",
                "checksum MB/s",
                "(validate+checksum) / upload to sink",
                "(validate+checksum) / upload to sandbox",
            ],
            rows,
        )
    )


def _sink_settings(hook: object, sink: object) -> object:
    """The sandbox connection's settings with the sink's URL (same CA, same credentials)."""
    from dataclasses import replace

    settings = hook.settings  # type: ignore[attr-defined]
    return replace(settings, base_url=sink.url)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
