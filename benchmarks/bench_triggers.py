"""#5 Waiting at scale: ``--triggers`` report-status triggers in one asyncio loop, against the sandbox.

``--triggers`` clinical reports (default 1,000) are created with no genome, so they
stay ``WAITING``. Then, in this process, one asyncio loop runs one
``FabricClinicalReportStatusTrigger`` per report (``poke_interval=--interval``, the
triggerer's way: each trigger's ``run()`` iterated as a task). After a ramp-up (every
trigger's first look, then up to one interval more: see "Where the window opens") the
script measures, over ``--windows`` intervals:

* memory per trigger: growth of this process's RSS (``VmRSS``) from before the
  triggers started to the steady state, divided by their number;
* requests per trigger per interval (goal: exactly one): the sandbox's own request log
  (``GET /reports/{id}``) over the window, divided by triggers x intervals, and the
  min-max of looks per trigger; the window starts only once every trigger has made its
  first look (when the first looks came is reported too);
* event-loop lag: a probe task sleeps 50 ms in a loop and records how late it wakes
  (median, p99, max over the window).

Where the window opens. A trigger waits 0.5-1.0 x ``poke_interval`` (a fixed point
per report ID) before its first look, then looks once per interval, so its looks keep
the phase of its first one. The ramp-up polls the sandbox's log every 0.5 s and notes
when each report was first looked at (``a`` = earliest, ``b`` = latest, seconds after
start); after every trigger has looked once, the window opens in the middle of the
look-free part of the interval, at ``(a + b) / 2 + interval / 2`` plus whole
intervals (about 1.25 intervals after start with the spread, half an interval after
the start-up burst without it). Looks then stay away from the window's edges, so each
trigger's count over ``--windows`` intervals is exact rather than off by one at an edge.
(Before the spread landed, every first look came at start and the window opened half an
interval after the last one.)

The comparison is the poke-mode sensor: each one is a task process holding a worker
slot for the whole wait. One ``FabricClinicalReportStatusSensor`` is run in poke mode
in a fresh process (``poke()`` every interval, ``--windows`` times) and its peak RSS
taken with GNU time; 1,000 of them hold 1,000 worker slots and about 1,000 x that
memory (a lower bound: Airflow 3 adds a supervisor process per running task).

    .venv/bin/python benchmarks/bench_triggers.py [--triggers 1000] [--interval 10] [--windows 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import _common

SENSOR_CHILD = r"""
import json, sys, time
from airflow_provider_fabric.sensors.fabric import FabricClinicalReportStatusSensor
from airflow_provider_fabric.triggers.fabric import StatusLog
report, interval, looks = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
sensor = FabricClinicalReportStatusSensor(task_id="wait", report_id=report, poke_interval=interval)
sensor._deadline = None
sensor._status_log = StatusLog(sensor.kind, sensor.log)
sensor._prepare({})
done = []
for _ in range(looks):
    done.append(sensor.poke({}))
    time.sleep(interval)
print(json.dumps({"looks": looks, "done": any(bool(d) for d in done)}))
"""


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def create_reports(n: int, project: int) -> list[int]:
    from airflow_provider_fabric.hooks.fabric import FabricHook

    hook = FabricHook()
    try:
        return [
            int(hook.create_panel_report(panel_id=101, project_id=project, accession_id=f"BENCH-{i}")["id"])
            for i in range(n)
        ]
    finally:
        hook.close()


async def lag_probe(samples: list[float], stop: asyncio.Event, step: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        await asyncio.sleep(step)
        samples.append(loop.time() - started - step)


async def run_triggers(box: Any, reports: list[int], interval: float, windows: int) -> dict[str, Any]:
    from airflow_provider_fabric.triggers.fabric import FabricClinicalReportStatusTrigger

    events: list[Any] = []

    async def drive(trigger: Any) -> None:
        async for event in trigger.run():
            events.append(event)
            return

    # Warm one trigger's imports and code paths so they do not count as per-trigger memory.
    warm = FabricClinicalReportStatusTrigger(reports[0], poke_interval=interval, deadline=time.time() + 0.5)
    await drive(warm)
    events.clear()
    before = rss_kb()
    triggers = [FabricClinicalReportStatusTrigger(r, poke_interval=interval) for r in reports]
    tasks = [asyncio.create_task(drive(t)) for t in triggers]
    # Ramp-up: wait until every trigger has made its first look (TLS contexts and connections are
    # made then), noting when each came; then open the window mid-way through the look-free part
    # of the interval (see the module docstring), so it holds only steady-state looks.
    box.requests_seen(clear=True)
    first_seen: dict[str, float] = {}
    ramp_started = time.monotonic()
    while len(first_seen) < len(reports) and time.monotonic() - ramp_started < 600:
        await asyncio.sleep(0.5)
        seen_now = await asyncio.to_thread(box.requests_seen, True)
        now = time.monotonic() - ramp_started
        for r in seen_now:
            if r.get("method") == "GET":
                first_seen.setdefault(str(r.get("url", "")), now)
    all_started = time.monotonic() - ramp_started
    first_a, first_b = min(first_seen.values()), max(first_seen.values())
    open_at = (first_a + first_b) / 2 + interval / 2
    while open_at < all_started + 0.5:
        open_at += interval
    await asyncio.sleep(open_at - (time.monotonic() - ramp_started))
    box.requests_seen(clear=True)
    lags: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(lag_probe(lags, stop))
    rss_samples = []
    window_start = time.monotonic()
    for _ in range(windows):
        await asyncio.sleep(interval)
        rss_samples.append(rss_kb())
    elapsed = time.monotonic() - window_start
    seen = box.requests_seen(clear=True)
    stop.set()
    await probe
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    looks = [r for r in seen if r.get("method") == "GET" and "/reports/" in str(r.get("url", ""))]
    per_report: dict[str, int] = {}
    for r in looks:
        per_report[str(r["url"])] = per_report.get(str(r["url"]), 0) + 1
    counts = [per_report.get(f"/reports/{rid}", 0) for rid in reports]
    lags.sort()
    return {
        "triggers": len(triggers),
        "rss_before_mb": before / 1024,
        "rss_steady_mb": statistics.median(rss_samples) / 1024,
        "kb_per_trigger": (statistics.median(rss_samples) - before) / len(triggers),
        "requests": len(looks),
        "intervals": elapsed / interval,
        "per_trigger_per_interval": len(looks) / len(triggers) / (elapsed / interval),
        "lag_median_ms": statistics.median(lags) * 1000 if lags else float("nan"),
        "lag_p99_ms": lags[int(len(lags) * 0.99) - 1] * 1000 if lags else float("nan"),
        "lag_max_ms": lags[-1] * 1000 if lags else float("nan"),
        "early_events": len(events),
        "seconds_until_all_looked_once": all_started,
        "first_looks_seconds_first_last": [first_a, first_b],
        "window_opened_seconds": open_at,
        "looks_per_trigger_min_max": [min(counts), max(counts)],
        "sample_request": seen[0] if seen else None,
    }


def run_child_mode(job_file: Path) -> None:
    """Run one mode's triggers in this fresh process and print its result as JSON."""
    from airflow_provider_fabric.sandbox.process import SandboxProcess

    job = json.loads(job_file.read_text())
    box = SandboxProcess(job_file.parent, login=job["sandbox"]["login"], secret=job["sandbox"]["secret"])
    box.info = {"url": job["sandbox"]["url"], "ca_path": job["sandbox"]["ca_path"]}
    os.environ["AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT"] = json.dumps(job["conn"])
    if job["mode"] == "production-shared":
        # Was the what-if for the fix (one SSLContext per CA bundle in the process); the hook now
        # shares one per bundle file itself, so this is a control that should match 'production'.
        # Patches the async hook's context factory in this process only.
        import functools

        from airflow_provider_fabric.hooks import fabric_async

        fabric_async._make_ssl_context = functools.lru_cache(maxsize=None)(  # type: ignore[assignment]
            fabric_async._make_ssl_context
        )
    result = asyncio.run(run_triggers(box, job["reports"], job["interval"], job["windows"]))
    print(json.dumps(result, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--triggers", type=int, default=1000, help="concurrent triggers (default 1000)")
    parser.add_argument("--interval", type=float, default=10.0, help="poke interval in seconds (default 10)")
    parser.add_argument("--windows", type=int, default=3, help="intervals measured (default 3)")
    parser.add_argument(
        "--ca",
        default="sandbox,production,production-shared",
        help="CA bundles to verify with: 'sandbox' (its one CA), 'production' (certifi's bundle plus "
        "the sandbox CA, as large as the default verify=True loads), 'production-shared' (the same, with "
        "one SSLContext cached for all triggers: was a what-if for the fix; since the hook shares one "
        "context per bundle file itself, a control that should match 'production') (default: all three)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _common.ensure_airflow_home()
    logging.disable(logging.WARNING)
    if args.child:
        run_child_mode(Path(args.child))
        return
    _common.print_machine()

    results: dict[str, dict[str, Any]] = {}
    with _common.sandbox(record_requests=True) as box:
        project = _common.create_project(box)
        started = time.monotonic()
        reports = create_reports(args.triggers, project)
        print(f"# created {len(reports)} reports in {time.monotonic() - started:.1f} s", flush=True)
        for mode in [m.strip() for m in args.ca.split(",") if m.strip()]:
            conn = json.loads(box.conn_json())
            if mode.startswith("production"):
                import certifi

                bundle = _common.data_dir() / "production-ca.pem"
                bundle.write_bytes(Path(certifi.where()).read_bytes() + Path(box.ca_path).read_bytes())
                conn["extra"]["verify"] = str(bundle)
            # Each mode in a fresh process, so no mode reuses memory another one freed.
            job = {
                "mode": mode,
                "conn": conn,
                "sandbox": {"url": box.url, "ca_path": box.ca_path, "login": box.login, "secret": box.secret},
                "reports": reports,
                "interval": args.interval,
                "windows": args.windows,
            }
            job_file = _common.data_dir() / "triggers-job.json"
            job_file.write_text(json.dumps(job))
            child = _common.run_child(
                [sys.executable, str(Path(__file__).resolve()), "--child", str(job_file)]
            )
            job_file.unlink()
            results[mode] = child.data
            print(f"# {mode}: " + json.dumps(results[mode], default=str), flush=True)
        os.environ["AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT"] = box.conn_json()
        sensor = _common.run_child(
            [sys.executable, "-c", SENSOR_CHILD, str(reports[0]), str(args.interval), str(args.windows)],
            env=_common.child_env(box),
        )
    (_common.DATA / "production-ca.pem").unlink(missing_ok=True)
    sensor_mb = sensor.peak_rss_kb / 1024
    n = args.triggers
    rows = [["worker slots held", *(0 for _ in results), n]]
    rows.append(
        [
            "memory",
            *(
                f"{n * r['kb_per_trigger'] / 1024:.0f} MB ({r['kb_per_trigger']:.0f} kB/trigger)"
                for r in results.values()
            ),
            f">= {n * sensor_mb / 1024:.1f} GB ({sensor_mb:.0f} MB/process)",
        ]
    )
    rows.append(
        [
            "requests per wait per interval (goal 1)",
            *(f"{r['per_trigger_per_interval']:.3f}" for r in results.values()),
            "1 (one poke per interval)",
        ]
    )
    rows.append(
        [
            "looks per trigger in the window, min-max",
            *(
                f"{r['looks_per_trigger_min_max'][0]}-{r['looks_per_trigger_min_max'][1]}"
                for r in results.values()
            ),
            f"{args.windows} (one poke per interval)",
        ]
    )
    rows.append(
        [
            "first looks, seconds after start: earliest - latest (0.5-1.0 interval by design)",
            *(
                f"{r['first_looks_seconds_first_last'][0]:.1f} - {r['first_looks_seconds_first_last'][1]:.1f}"
                for r in results.values()
            ),
            "n/a (one process each)",
        ]
    )
    rows.append(
        [
            "event-loop lag median / p99 / max ms",
            *(
                f"{r['lag_median_ms']:.1f} / {r['lag_p99_ms']:.1f} / {r['lag_max_ms']:.1f}"
                for r in results.values()
            ),
            "n/a (one process each)",
        ]
    )
    print()
    headers = [
        "measure",
        *(f"{n} triggers, one loop, CA: {mode}" for mode in results),
        f"{n} poke-mode sensors",
    ]
    print(_common.table(headers, rows))
    print()
    for mode, r in results.items():
        print(
            f"{mode}: memory ratio sensors / triggers {sensor_mb * 1024 / max(r['kb_per_trigger'], 1):.0f}x; "
            f"{r['requests']} requests over {r['intervals']:.2f} intervals"
        )


if __name__ == "__main__":
    main()
