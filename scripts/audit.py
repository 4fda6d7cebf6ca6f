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

#: Known vulnerabilities accepted on purpose: ``{"ID": "why it does not apply"}``.
ACCEPTED: dict[str, str] = {}


def main() -> int:
    # Every installed distribution but this project (which is not on the index).
    pins = sorted(
        {
            f"{d.metadata['Name']}=={d.version}"
            for d in distributions()
            if d.metadata["Name"] and d.metadata["Name"] != "airflow-provider-fabric-genomics"
        }
    )
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
        requirements.write("\n".join(pins) + "\n")
        requirements.flush()
        audit = subprocess.run(  # noqa: S603 - our own interpreter
            [
                sys.executable,
                "-m",
                "pip_audit",
                "-r",
                requirements.name,
                "--no-deps",
                "--disable-pip",
                "--format",
                "json",
                "--progress-spinner",
                "off",
            ],
            capture_output=True,
            text=True,
        )
    try:
        report = json.loads(audit.stdout)
    except ValueError:
        print(f"pip-audit: could not run ({audit.stderr.strip().splitlines()[-1:] or 'no output'})")
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
