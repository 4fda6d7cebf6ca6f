#!/usr/bin/env python
"""The long fault-injection soak (not run in CI): the fault suite over many more seeds.

Runs ``tests/reliability/test_faults.py`` (full panel and trio DAG runs against a real
fabric-sandbox with 503s, 429s, dropped connections and latency, faults before and after the
server acts) for a range of seeds, in a private ``AIRFLOW_HOME``, and prints a summary::

    .venv/bin/python scripts/soak.py                 # seeds 21-520 (500 runs)
    .venv/bin/python scripts/soak.py --seeds 1-2000 --exitfirst

Every run must succeed (faults cost task retries, never the run), with every scripted fault
fired, exactly one project, genome and report per name/sample/accession and byte-exact exports.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    """Run the soak and return pytest's exit code.

    :param argv: command-line arguments (``sys.argv[1:]`` when ``None``).
    """
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="21-520", help="seed ranges, e.g. 21-520 or 1-10,40-50")
    parser.add_argument("--exitfirst", action="store_true", help="stop at the first failing run")
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="fabric-soak-airflow-home-")
    env = dict(
        os.environ, AIRFLOW_HOME=home, FABRIC_FAULT_SEEDS=args.seeds, AIRFLOW__CORE__LOAD_EXAMPLES="False"
    )
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/reliability/test_faults.py",
        "-q",
        "-rfE",
        "-p",
        "no:cacheprovider",
    ]
    if args.exitfirst:
        command.append("-x")
    started = time.monotonic()
    print(f"soak: seeds {args.seeds}, AIRFLOW_HOME={home}", flush=True)
    code = subprocess.call(command, cwd=ROOT, env=env)  # noqa: S603 - our own interpreter and tests
    print(f"soak: pytest exited {code} after {time.monotonic() - started:.0f} s", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
