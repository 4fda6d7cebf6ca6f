"""#4 DAG parse cost: what importing every public operator and sensor adds to a DAG file.

Each sample is a fresh interpreter that first does ``from airflow.sdk import
BaseOperator`` (the baseline every DAG file pays) and then imports, in the same
process, one of:

* ``nothing``     — the baseline alone (the added cost is then pure noise: a control);
* ``fabric``      — every module of ``airflow_provider_fabric.operators`` and ``.sensors``
                    (all public operators and sensors, whatever exists in the tree);
* ``http``        — ``airflow.providers.http.operators.http`` (the generic HTTP provider);
* ``fabric@REF``  — with ``--ref REF``: the same as ``fabric``, from the package as it is at git
                    ``REF`` (``git archive`` into ``benchmarks/.data/``), for a before/after in one run.

The added cost is measured inside the process with ``perf_counter`` around the
second import; samples of the three kinds are interleaved and the medians compared.
Both trees are byte-compiled first (``compileall``), as an installed package is (pip compiles
on install): with ``PYTHONDONTWRITEBYTECODE`` set, as on this machine, a source tree would
otherwise be compiled again by every child, and the figure would grow with the lines of source,
docstrings included. ``--from-source`` skips that to measure the compile too.

``--python`` runs every child with another interpreter, e.g. a venv without the
``openlineage`` extra (the "heavy" column lists ``openlineage`` if an import pulled it in).
The HTTP provider is not a dependency of this project: when it is not importable
from the venv it is installed (``pip install --target``, no dependencies resolved
against Airflow) into ``benchmarks/.data/http-provider`` and put on that child's
``PYTHONPATH`` only.

    .venv/bin/python benchmarks/bench_imports.py [--runs 30] [--ref main] [--python OTHER_PYTHON]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile

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
if kind.startswith("fabric"):
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
                "airflow_provider_fabric.vcf", "airflow_provider_fabric.storage",
                "airflow_provider_fabric.lineage", "openlineage", "airflow.providers.openlineage.extractors")
    if m in new
)
print(json.dumps({"base": t1 - t0, "added": t2 - t1, "modules": len(new), "heavy": heavy, "names": names}))
"""


def http_importable(env: dict[str, str], python: str) -> bool:
    probe = [python, "-c", "import airflow.providers.http.operators.http"]
    return subprocess.run(probe, env=env, capture_output=True).returncode == 0


def http_env(base: dict[str, str], python: str) -> dict[str, str] | None:
    if http_importable(base, python):
        return base
    env = dict(base)
    env["PYTHONPATH"] = os.pathsep.join([str(HTTP_DIR), env.get("PYTHONPATH", "")])
    if not http_importable(env, python):
        print(f"# installing the HTTP provider into {HTTP_DIR} (for this benchmark only)", flush=True)
        cmd = ["python3", "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps"]
        cmd += ["--target", str(HTTP_DIR), *HTTP_PACKAGES]
        if subprocess.run(cmd).returncode != 0 or not http_importable(env, python):
            print("# the HTTP provider could not be installed: its column is skipped")
            return None
    return env


def ref_env(base: dict[str, str], ref: str) -> dict[str, str]:
    """An environment whose ``airflow_provider_fabric`` is the package as it is at git ``ref``."""
    sha = subprocess.run(
        ["git", "-C", str(_common.ROOT), "rev-parse", "--short", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    folder = _common.data_dir() / f"package-at-{sha}"
    if not folder.exists():
        archive = folder.with_suffix(".tar")
        with archive.open("wb") as handle:
            cmd = ["git", "-C", str(_common.ROOT), "archive", sha, "airflow_provider_fabric"]
            subprocess.run(cmd, stdout=handle, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
        archive.unlink()
    env = dict(base)
    env["PYTHONPATH"] = os.pathsep.join([str(folder), base.get("PYTHONPATH", "")])
    return env


def byte_compile(env: dict[str, str], python: str) -> None:
    """Write the ``.pyc`` files of the package the children of ``env`` import, as pip does on install."""
    code = "import airflow_provider_fabric, os; print(os.path.dirname(airflow_provider_fabric.__file__))"
    done = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, check=True)
    package = done.stdout.strip().splitlines()[-1]
    subprocess.run([python, "-m", "compileall", "-q", package], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30, help="fresh processes per kind (default 30)")
    parser.add_argument("--ref", help="also import the package as it is at this git ref (fabric@REF)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of every child")
    parser.add_argument("--from-source", action="store_true", help="no .pyc files: count compiling too")
    args = parser.parse_args()
    _common.ensure_airflow_home()
    _common.print_machine()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_common.ROOT), env.get("PYTHONPATH", "")]))
    envs: dict[str, dict[str, str]] = {"nothing": env, "fabric": env}
    if args.ref:
        envs[f"fabric@{args.ref}"] = ref_env(env, args.ref)
    henv = http_env(env, args.python)
    if henv is not None:
        envs["http"] = henv
    samples: dict[str, list[float]] = {kind: [] for kind in envs}
    base: dict[str, list[float]] = {kind: [] for kind in envs}
    last: dict[str, dict] = {}
    print(f"# children run {args.python}; package byte-compiled first: {not args.from_source}")
    if not args.from_source:
        for kind in envs:
            if kind.startswith("fabric"):
                byte_compile(envs[kind], args.python)
    for kind in envs:  # warm the page cache and .pyc files once, unmeasured
        _common.run_child([args.python, "-c", CHILD, kind], env=envs[kind])
    for _ in range(args.runs):
        for kind, kind_env in envs.items():
            result = _common.run_child([args.python, "-c", CHILD, kind], env=kind_env)
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
    if args.ref:
        before = _common.median(samples[f"fabric@{args.ref}"]) - _common.median(samples["nothing"])
        verdict.append(
            f"fabric@{args.ref}: {before * 1000:.1f} ms; this tree / {args.ref} = {fabric / before:.2f}"
        )
    if "http" in samples:
        http = _common.median(samples["http"]) - _common.median(samples["nothing"])
        verdict.append(f"http provider: {http * 1000:.1f} ms; fabric/http = {fabric / http:.2f} (goal < 1)")
    print()
    print("\n".join(verdict))


if __name__ == "__main__":
    main()
