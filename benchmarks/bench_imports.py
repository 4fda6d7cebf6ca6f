"""#4 DAG parse cost: what importing every public operator and sensor adds to a DAG file.

Each sample is a fresh interpreter that first does ``from airflow.sdk import
BaseOperator`` (the baseline every DAG file pays) and then imports, in the same
process, one of:

* ``nothing``     — the baseline alone (the added cost is then pure noise: a control);
* ``fabric``      — every module of ``airflow_provider_fabric.operators`` and ``.sensors``
                    (all public operators and sensors, whatever exists in the tree);
* ``http``        — ``airflow.providers.http.operators.http`` (the generic HTTP provider).

The added cost is measured inside the process with ``perf_counter`` around the
second import; samples of the three kinds are interleaved and the medians compared.
The HTTP provider is not a dependency of this project: when it is not importable
from the venv it is installed (``pip install --target``, no dependencies resolved
against Airflow) into ``benchmarks/.data/http-provider`` and put on that child's
``PYTHONPATH`` only.

    .venv/bin/python benchmarks/bench_imports.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import _common

HTTP_DIR = _common.DATA / "http-provider"
HTTP_PACKAGES = [
    "apache-airflow-providers-http",
    "requests-toolbelt",
    "aiohttp",
    "multidict",
    "yarl",
    "frozenlist",
    "aiosignal",
    "aiohappyeyeballs",
    "propcache",
]

CHILD = r"""
import importlib, json, pkgutil, sys, time
kind = sys.argv[1]
t0 = time.perf_counter()
from airflow.sdk import BaseOperator  # noqa: F401
t1 = time.perf_counter()
before = set(sys.modules)
names = []
if kind == "fabric":
    for package in ("airflow_provider_fabric.operators", "airflow_provider_fabric.sensors"):
        try:
            pkg = importlib.import_module(package)
        except ModuleNotFoundError:
            continue
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                names.append(f"{package}.{info.name}")
    for name in names:
        importlib.import_module(name)
elif kind == "http":
    from airflow.providers.http.operators.http import HttpOperator  # noqa: F401
t2 = time.perf_counter()
new = set(sys.modules) - before
heavy = sorted(
    m for m in ("requests", "tenacity", "aiohttp", "httpx", "fastapi", "uvicorn",
                "airflow_provider_fabric.hooks.fabric", "airflow_provider_fabric.sandbox",
                "airflow_provider_fabric.vcf", "airflow_provider_fabric.storage")
    if m in new
)
print(json.dumps({"base": t1 - t0, "added": t2 - t1, "modules": len(new), "heavy": heavy, "names": names}))
"""


def http_importable(env: dict[str, str]) -> bool:
    probe = [sys.executable, "-c", "import airflow.providers.http.operators.http"]
    return subprocess.run(probe, env=env, capture_output=True).returncode == 0


def http_env(base: dict[str, str]) -> dict[str, str] | None:
    if http_importable(base):
        return base
    env = dict(base)
    env["PYTHONPATH"] = os.pathsep.join([str(HTTP_DIR), env.get("PYTHONPATH", "")])
    if not http_importable(env):
        print(f"# installing the HTTP provider into {HTTP_DIR} (for this benchmark only)", flush=True)
        cmd = ["python3", "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps"]
        cmd += ["--target", str(HTTP_DIR), *HTTP_PACKAGES]
        if subprocess.run(cmd).returncode != 0 or not http_importable(env):
            print("# the HTTP provider could not be installed: its column is skipped")
            return None
    return env


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30, help="fresh processes per kind (default 30)")
    args = parser.parse_args()
    _common.ensure_airflow_home()
    _common.print_machine()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_common.ROOT), env.get("PYTHONPATH", "")]))
    envs: dict[str, dict[str, str]] = {"nothing": env, "fabric": env}
    henv = http_env(env)
    if henv is not None:
        envs["http"] = henv
    samples: dict[str, list[float]] = {kind: [] for kind in envs}
    base: dict[str, list[float]] = {kind: [] for kind in envs}
    last: dict[str, dict] = {}
    for kind in envs:  # warm the page cache and .pyc files once, unmeasured
        _common.run_child([sys.executable, "-c", CHILD, kind], env=envs[kind])
    for _ in range(args.runs):
        for kind, kind_env in envs.items():
            result = _common.run_child([sys.executable, "-c", CHILD, kind], env=kind_env)
            samples[kind].append(result.data["added"])
            base[kind].append(result.data["base"])
            last[kind] = result.data
    baseline = _common.median([b for values in base.values() for b in values])
    rows = []
    for kind in envs:
        added = _common.median(samples[kind])
        rows.append(
            [
                kind,
                f"{added * 1000:.1f}",
                f"{added / baseline:.3f}",
                last[kind]["modules"],
                ", ".join(last[kind]["heavy"]) or "-",
            ]
        )
    print()
    print(f"baseline `from airflow.sdk import BaseOperator`: {baseline * 1000:.0f} ms median of {args.runs}")
    print(f"fabric modules imported: {', '.join(last['fabric']['names']) or '(none found)'}")
    print()
    print(
        _common.table(
            ["import after BaseOperator", "added ms (median)", "ratio to baseline", "new modules", "heavy"],
            rows,
        )
    )
    fabric = _common.median(samples["fabric"]) - _common.median(samples["nothing"])
    verdict = [f"fabric added cost (minus control): {fabric * 1000:.1f} ms (goal <= 50 ms)"]
    if "http" in samples:
        http = _common.median(samples["http"]) - _common.median(samples["nothing"])
        verdict.append(f"http provider: {http * 1000:.1f} ms; fabric/http = {fabric / http:.2f} (goal < 1)")
    print()
    print("\n".join(verdict))


if __name__ == "__main__":
    main()
