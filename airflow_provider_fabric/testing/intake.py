"""Demo landing areas for the scheduled intake: synthetic VCFs and a manifest, no PHI.

From a shell (prints the run folder)::

    python -m airflow_provider_fabric.testing.intake /tmp/intake/landing run-0001 [--no-bad]
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from airflow_provider_fabric.intake.manifest import FIELDS, ManifestFormat

__all__ = ["build_demo_landing", "main"]


def build_demo_landing(landing: str, run: str, *, bad: bool = True, records: int = 40, seed: int = 0) -> str:
    """Write a demo run folder: synthetic VCFs and a manifest (a panel sample, a trio, a bad VCF).

    Add a second run later (another ``run`` name) to see the next scheduled run take in only
    the new samples. No real patient data: labels and IDs are derived from ``run``
    (``LAB-RUN0001-panel``; the trio's family is ``FAM-RUN0001``).

    :param landing: the landing folder (local path).
    :param run: the run folder's name, e.g. ``run-0001``.
    :param bad: include a GRCh38 VCF (a panel sample), which fails only its own upload.
    :param records: variants per VCF.
    :param seed: seed of the generated variants.
    :return: the run folder's path.
    """
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    folder = Path(landing, run)
    folder.mkdir(parents=True, exist_ok=True)
    tag = run.upper().replace("-", "")
    rows = [  # name, sex, family, relationship, affected, test, build
        ("panel", "female", "", "", "", "panel:101", "GRCh37"),
        ("proband", "male", f"FAM-{tag}", "proband", "true", "family", "GRCh37"),
        ("mother", "female", f"FAM-{tag}", "mother", "false", "family", "GRCh37"),
        ("father", "male", f"FAM-{tag}", "father", "false", "family", "GRCh37"),
    ]
    if bad:
        rows.append(("grch38", "male", "", "", "", "panel:101", "GRCh38"))
    with (folder / ManifestFormat().file_name).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for number, (name, sex, family, relationship, affected, test, build) in enumerate(rows):
            file = f"{name}.vcf.gz"
            write_vcf(
                folder / file,
                records,
                sample=f"{tag}-{name}",
                compression="gz",
                build=build,
                seed=seed + number,
            )
            writer.writerow(
                [file, f"{tag}-{name}", sex, f"LAB-{tag}-{name}", family, relationship, affected, test]
            )
    return str(folder)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``LANDING RUN [--no-bad]``; prints the run folder.

    :param argv: the arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description="Write a demo run folder into an intake landing area.")
    parser.add_argument("landing", help="the landing folder (local path)")
    parser.add_argument("run", help="the run folder's name, e.g. run-0001")
    parser.add_argument("--no-bad", action="store_true", help="leave out the GRCh38 VCF")
    args = parser.parse_args(argv)
    print(build_demo_landing(args.landing, args.run, bad=not args.no_bad))
    return 0


if __name__ == "__main__":
    sys.exit(main())
