"""#6 Per-call overhead: the hook's GET against a bare ``requests.Session().get`` of the same URL.

Both clients run in this one process against one sandbox, over kept-alive HTTPS
connections, with basic auth and the sandbox CA. Calls are interleaved in small
blocks (hook, bare, hook, bare...) so both see the same machine load. Two endpoints:

* ``GET /genomes/{id}`` — ``FabricHook.get_genome`` (path check, retry wrapper,
  typed errors, JSON parsing, timestamps to aware datetimes) vs ``session.get(url).json()``;
* ``GET /projects/{id}/genomes`` with ``external_id``, ``limit``, ``offset`` — the hook
  sends them in ``X-fg-safe-params`` (``hook.request(...).json()`` plus timestamp
  conversion), the bare client in the URL.

Reported: median wall time per call and median client CPU per call
(``time.process_time``, this process only, so the server's share is excluded),
each as a ratio hook / bare. Goal: wall ratio <= 1.1.

    .venv/bin/python benchmarks/bench_call_overhead.py [--calls 600] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from typing import Any

import _common


def measure(fn: Any, n: int) -> tuple[float, float]:
    """Wall and CPU seconds per call over ``n`` calls."""
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - w0) / n, (time.process_time() - c0) / n


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=600, help="calls per client per endpoint (default 600)")
    parser.add_argument("--block", type=int, default=20, help="calls per interleaved block (default 20)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the hook's calls")
    args = parser.parse_args()
    _common.ensure_airflow_home()
    _common.print_machine()

    import requests

    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    with _common.sandbox() as box:
        project = _common.create_project(box)
        hook = FabricHook()
        small = write_vcf(_common.data_dir() / "overhead.vcf", 200)
        genome = hook.upload_genome(
            project, small, genome_label="bench", genome_sex="female", external_id="X1"
        )
        genome_id = genome.get("genome_id", genome.get("id"))
        small.unlink()

        bare = requests.Session()
        bare.auth = (box.login, box.secret)
        ca = box.ca_path  # per request: REQUESTS_CA_BUNDLE in the environment would override session.verify
        base = box.url.rstrip("/")
        list_params = {"external_id": "X1", "limit": 100, "offset": 0}

        def hook_get() -> Any:
            return hook.get_genome(genome_id)

        def bare_get() -> Any:
            response = bare.get(f"{base}/genomes/{genome_id}", timeout=60, verify=ca)
            response.raise_for_status()
            return response.json()

        def hook_list() -> Any:
            return hook._get(f"/projects/{project}/genomes", list_params)

        def bare_list() -> Any:
            response = bare.get(
                f"{base}/projects/{project}/genomes", params=list_params, timeout=60, verify=ca
            )
            response.raise_for_status()
            return response.json()

        assert hook_get()["id"] == bare_get()["id"]  # same object through both clients
        assert len(hook_list()["objects"]) == len(bare_list()["objects"]) == 1

        pairs = {
            "GET /genomes/{id}": (hook_get, bare_get),
            "GET /projects/{id}/genomes +params": (hook_list, bare_list),
        }
        rows = []
        for label, (hook_fn, bare_fn) in pairs.items():
            measure(hook_fn, args.block)  # warm both connections
            measure(bare_fn, args.block)
            stats: dict[str, list[tuple[float, float]]] = {"hook": [], "bare": []}
            for i in range(max(1, args.calls // args.block)):
                order = [("hook", hook_fn), ("bare", bare_fn)]
                if i % 2:
                    order.reverse()
                for name, fn in order:
                    stats[name].append(measure(fn, args.block))
            hw = _common.median([w for w, _ in stats["hook"]])
            bw = _common.median([w for w, _ in stats["bare"]])
            hc = _common.median([c for _, c in stats["hook"]])
            bc = _common.median([c for _, c in stats["bare"]])
            rows.append([label, f"{hw / bw:.3f}", f"{hc / bc:.3f}", f"{(hc - bc) * 1e6:.0f}"])
        print()
        print(
            _common.table(
                ["endpoint", "wall ratio hook/bare (goal <= 1.1)", "client CPU ratio", "extra CPU µs/call"],
                rows,
            )
        )
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(200):
                hook_list()
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
            print(out.getvalue())
        hook.close()
        bare.close()


if __name__ == "__main__":
    main()
