"""Audit the resolved environment's packages for known vulnerabilities with pip-audit.

Run by the test command. Fails on any known vulnerability that is not listed
in ``ACCEPTED`` with its reason. When the machine cannot reach a vulnerability
database (an offline or locked-down CI), pip-audit audits nothing: this says
so in one line, with the count, instead of reporting a clean result it never
checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from importlib.metadata import distributions

#: Seconds per request to the vulnerability service, and for the whole audit: a slow or
#: unreachable service must not hold the test command for long.
REQUEST_TIMEOUT = 10
TOTAL_TIMEOUT = 300

#: Known vulnerabilities accepted on purpose: ``{"ID": "why it does not apply"}``.
ACCEPTED: dict[str, str] = {}


def installed_pins() -> list[str]:
    """``name==version`` of every installed distribution but this project (not on the index)."""
    return sorted(
        {
            f"{d.metadata['Name']}=={d.version}"
            for d in distributions()
            if d.metadata["Name"] and d.metadata["Name"] != "airflow-provider-fabric-genomics"
        }
    )


def run_pip_audit(pins: list[str]) -> dict:
    """pip-audit's JSON report for these pins (raises TimeoutExpired or ValueError)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
        requirements.write("\n".join(pins) + "\n")
        requirements.flush()
        audit = subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-m", "pip_audit", "-r", requirements.name, "--no-deps", "--disable-pip"]
            + ["--format", "json", "--progress-spinner", "off", "--timeout", str(REQUEST_TIMEOUT)],
            capture_output=True,
            text=True,
            timeout=TOTAL_TIMEOUT,
        )
    return json.loads(audit.stdout)


def main() -> int:
    pins = installed_pins()
    try:
        report = run_pip_audit(pins)
    except subprocess.TimeoutExpired:
        print(f"pip-audit: no answer from the vulnerability service within {TOTAL_TIMEOUT} s: not audited")
        return 0
    except ValueError:
        print("pip-audit: could not run (no JSON report)")
        return 1
    packages = report.get("dependencies", [])
    audited = [p for p in packages if "skip_reason" not in p]
    found = [
        (p["name"], p["version"], v["id"])
        for p in audited
        for v in p.get("vulns", [])
        if v["id"] not in ACCEPTED
    ]
    for name, version, vuln in found:
        print(f"pip-audit: {name} {version}: {vuln}")
    if not audited:
        print(
            f"pip-audit: no vulnerability database reachable from this machine: 0 of {len(packages)} "
            "packages audited (not a clean result; run where the database is reachable)"
        )
    else:
        print(
            f"pip-audit: {len(audited)} of {len(packages)} packages audited, {len(found)} unaccepted findings"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
