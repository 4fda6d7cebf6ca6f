"""Fill an Airflow metadata DB with real DAG runs of the example DAGs, made against a running sandbox.

Run as a script in the environment of the ``AIRFLOW_HOME`` to fill (its DB migrated, its dags
folder ``dags_examples/``, ``AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT`` pointing at the sandbox)::

    python tests/ui/seed_runs.py WORK_DIR

It runs, with ``dag.test()``: ``example_fabric_panel`` once (genome annotated, report
approved), and one ``example_fabric_intake`` run over a landing folder holding a panel
sample, a trio and a sample whose annotation the sandbox fails. Every label, external ID,
accession, sample name and patient field is a sentinel from :data:`SENTINELS`: none of
them may ever show on the cases page. Writes ``WORK_DIR/seeded.json`` (DAG run states).
"""

from __future__ import annotations

import csv
import json
import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: PHI stand-ins put in every input: none may reach the page or its JSON.
SENTINELS = {
    "label": "PHISENTINEL-LABEL",
    "external_id": "PHISENTINEL-EXTID",
    "accession": "PHISENTINEL-ACCESSION",
    "sample": "PHISENTINEL-SAMPLE",
    "first_name": "PHISENTINEL-FIRSTNAME",
    "dob": "PHISENTINEL-DOB",
    "family": "PHISENTINEL-FAMILY",
}
INTAKE_DATE = "2026-01-05T10:00:00+00:00"


def write_inputs(work: Path) -> tuple[dict, dict]:
    """Synthetic VCFs, a landing folder and the two DAG runs' confs."""
    from airflow_provider_fabric.sandbox.lifecycle import FAIL_ANNOTATION_MARKER
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    s = SENTINELS
    panel = work / "panel"
    panel.mkdir(parents=True)
    write_vcf(panel / "proband.vcf.gz", 60, sample=s["sample"] + "-P", compression="gz", seed=1)
    (panel / "fields.json").write_text(json.dumps({"First Name": s["first_name"], "Patient DOB": s["dob"]}))
    (panel / "qc.json").write_text(json.dumps({"Total Reads": 1000, "Mean Coverage": 250.5}))
    panel_conf = {
        "project_name": "UI cases: panels",
        "vcf_path": str(panel / "proband.vcf.gz"),
        "genome_label": s["label"] + "-P",
        "genome_sex": "female",
        "external_id": s["external_id"] + "-P",
        "accession_id": s["accession"] + "-P",
        "panel_test_code": "HC-101",  # the sandbox catalogue's panel 101
        "patient_fields_path": str(panel / "fields.json"),
        "qc_data_path": str(panel / "qc.json"),
        "output_base": str(work / "exports"),
    }

    run = work / "landing" / "run-0001"
    run.mkdir(parents=True)
    people = [  # name, sex, family, relationship, affected, test, fails annotation
        ("single", "female", "", "", "", "panel:101", False),
        ("proband", "male", s["family"], "proband", "true", "family", False),
        ("mother", "female", s["family"], "mother", "false", "family", False),
        ("father", "male", s["family"], "father", "false", "family", False),
        ("failing", "male", "", "", "", "panel:101", True),
    ]
    with (run / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["file", "label", "sex", "external_id", "family_id", "relationship", "affected", "test"]
        )
        for number, (name, sex, family, relationship, affected, test, fails) in enumerate(people):
            write_vcf(
                run / f"{name}.vcf.gz",
                40,
                sample=f"{s['sample']}-{name}",
                compression="gz",
                seed=10 + number,
                source=FAIL_ANNOTATION_MARKER if fails else None,
            )
            writer.writerow(
                [
                    f"{name}.vcf.gz",
                    f"{s['label']}-{name}",
                    sex,
                    f"{s['external_id']}-{name}",
                    family,
                    relationship,
                    affected,
                    test,
                ]
            )
    intake_conf = {
        "landing_url": str(work / "landing"),
        "output_url": str(work / "intake-exports"),
        "accession_prefix": s["accession"] + "-",
    }
    return panel_conf, intake_conf


def main(work: Path) -> int:
    from datetime import datetime

    from airflow_provider_fabric.testing.dagbag import dag_bag

    panel_conf, intake_conf = write_inputs(work)
    bag = dag_bag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Starlette.*", category=UserWarning)
        panel = bag.get_dag("example_fabric_panel").test(run_conf=panel_conf)
        intake = bag.get_dag("example_fabric_intake").test(
            run_conf=intake_conf, logical_date=datetime.fromisoformat(INTAKE_DATE)
        )
    seeded = {
        "panel": {"run_id": panel.run_id, "state": str(panel.state)},
        "intake": {"run_id": intake.run_id, "state": str(intake.state)},
    }
    (work / "seeded.json").write_text(json.dumps(seeded))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
