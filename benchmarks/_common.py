"""Shared helpers of the benchmark scripts: machine facts, sandbox, subprocess peak RSS, tables.

Every figure the scripts report is a ratio to a baseline measured in the same
run, side by side (interleaved), against the same sandbox: absolute times on a
shared 2-core machine are noise. Nothing here asserts a timing.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / ".data"
PYTHON = sys.executable


def ensure_airflow_home() -> str:
    """Point ``AIRFLOW_HOME`` at a temporary directory (inherited by every child process)."""
    if not os.environ.get("AIRFLOW_HOME") or os.environ.get("AIRFLOW_HOME") == str(Path.home() / "airflow"):
        os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="fabric-bench-airflow-")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return os.environ["AIRFLOW_HOME"]


def data_dir() -> Path:
    DATA.mkdir(parents=True, exist_ok=True)
    return DATA


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, str]:
    """The facts RESULTS.md records about the machine a run happened on."""
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    except OSError:
        pass
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ""
    with suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    versions = []
    for dist in (
        "apache-airflow",
        "apache-airflow-task-sdk",
        "requests",
        "urllib3",
        "tenacity",
        "uvicorn",
        "isal",
    ):
        with suppress(metadata.PackageNotFoundError):
            versions.append(f"{dist} {metadata.version(dist)}")
    curl = ""
    if shutil.which("curl"):
        curl = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "load (1/5/15 min)": load,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "packages": ", ".join(versions),
        "curl": curl,
    }


def print_machine() -> None:
    for key, value in machine().items():
        print(f"# {key}: {value}")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (pastes straight into RESULTS.md)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class ChildResult:
    """What a measured child process printed (its last JSON line) and its own peak RSS."""

    returncode: int
    peak_rss_kb: int
    data: dict[str, Any]
    stderr: str


TIME = shutil.which("time", path="/usr/bin:/bin")


def run_child(cmd: Sequence[str], *, env: dict[str, str] | None = None) -> ChildResult:
    """Run ``cmd`` in a fresh process; return its exit code, own peak RSS and last JSON line.

    The peak RSS comes from GNU ``/usr/bin/time -f %M``, which forks the client
    from a tiny process. (``os.wait4`` on a child forked straight from this
    Python process would report at least *this* process's RSS: Linux carries the
    pre-``exec`` high-water mark into ``ru_maxrss``.) Without GNU time,
    ``wait4`` is the fallback and the figure is an upper bound.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile() as rss,
    ):
        full = [TIME, "-f", "%M", "-o", rss.name, *cmd] if TIME else list(cmd)
        proc = subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        errors = err.read().decode(errors="replace")
        peak = int(usage.ru_maxrss)
        if TIME:
            lines = Path(rss.name).read_text().split()
            peak = int(lines[-1]) if lines and lines[-1].isdigit() else peak
    data: dict[str, Any] = {}
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            data = json.loads(line)
            break
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} exited {proc.returncode}:\n{errors[-2000:]}\n{text[-1000:]}")
    return ChildResult(proc.returncode, peak, data, errors)


@contextmanager
def sandbox(**kwargs: Any) -> Iterator[Any]:
    """A fresh ``fabric-sandbox`` (real HTTPS server) in a temporary data directory."""
    from airflow_provider_fabric.sandbox.process import SandboxProcess

    ensure_airflow_home()
    root = Path(tempfile.mkdtemp(prefix="fabric-bench-sandbox-", dir=os.environ.get("BENCH_TMP")))
    kwargs.setdefault("annotation_seconds", 0.1)
    kwargs.setdefault("report_seconds", 0.1)
    box = SandboxProcess(root, **kwargs)
    try:
        with box:
            os.environ["AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT"] = box.conn_json()
            yield box
    finally:
        shutil.rmtree(root, ignore_errors=True)


def child_env(box: Any) -> dict[str, str]:
    """Environment for a measured child: the sandbox connection and a temporary AIRFLOW_HOME."""
    env = dict(os.environ)
    env["AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT"] = box.conn_json()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def create_project(box: Any, name: str = "bench") -> int:
    from airflow_provider_fabric.hooks.fabric import FabricHook

    hook = FabricHook()
    try:
        return int(hook.create_project(name)["id"])
    finally:
        hook.close()
