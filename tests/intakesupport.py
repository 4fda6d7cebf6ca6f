"""Manifests for the intake tests: rows of PHI stand-ins (``PHI-...``) in the default columns.

Imported by name (``from intakesupport import ...``): ``tests/`` is on the path.
"""

from __future__ import annotations

import csv
from pathlib import Path

from airflow_provider_fabric.intake import FIELDS

PANEL_ROW = {
    "file": "a.vcf",
    "label": "PHI-L1",
    "sex": "Female",
    "external_id": "PHI-E1",
    "test": "panel:102",
}


def family_row(person: str, relationship: str, sex: str = "female", **fields: str) -> dict[str, str]:
    return {
        "file": f"{person}.vcf.gz",
        "label": f"PHI-{person}",
        "sex": sex,
        "external_id": f"PHI-EXT-{person}",
        "family_id": "PHI-FAM",
        "relationship": relationship,
        "affected": "true" if relationship == "proband" else "false",
        "test": "family",
        **fields,
    }


def write_manifest(folder: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = FIELDS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in columns})
    return folder / "manifest.csv"
