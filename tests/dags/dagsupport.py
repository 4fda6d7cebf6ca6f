"""Helpers for the example-DAG tests: load and run a DAG, read its outputs and logs.

Imported by name (``from dagsupport import ...``): a test module importing from
``conftest`` would get whichever folder's conftest was imported first.
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "dags_examples"
CONN_ENV = "AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT"
DEFERRABLE_ENV = "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"
POKE_ENV = "FABRIC_EXAMPLE_POKE_INTERVAL"


def load_dag(dag_id: str, *, deferrable: bool) -> Any:
    """Parse the examples with sensors defaulting to ``deferrable`` and return one DAG.

    Sets ``[operators] default_deferrable`` in the environment; :func:`run_dag` restores it.
    """
    from airflow_provider_fabric.testing.dagbag import dag_bag

    os.environ[DEFERRABLE_ENV] = str(deferrable)
    bag = dag_bag(DAGS_FOLDER)
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"{dag_id} not found in {DAGS_FOLDER}"
    return dag


def run_dag(dag_id: str, conf: dict[str, Any], *, deferrable: bool) -> Any:
    """Run an example DAG to the end with ``dag.test()`` (sensors in the given mode); return its DagRun."""
    before = os.environ.get(DEFERRABLE_ENV)
    try:
        dag = load_dag(dag_id, deferrable=deferrable)
        sensors = [task for task in dag.tasks if type(task).__name__.endswith("Sensor")]
        assert all(task.deferrable is deferrable for task in sensors)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Starlette.*", category=UserWarning)
            return dag.test(run_conf=conf)
    finally:
        if before is None:
            os.environ.pop(DEFERRABLE_ENV, None)
        else:
            os.environ[DEFERRABLE_ENV] = before


def task_states(run: Any) -> dict[str, list[str]]:
    """``task_id -> [state of each (mapped) instance]``."""
    states: dict[str, list[str]] = {}
    for ti in run.get_task_instances():
        states.setdefault(ti.task_id, []).append(str(ti.state))
    return states


def read_vcf_keys(path: Path | str) -> list[tuple[str, int, str, str]]:
    """``(chrom without chr, pos, ref, alt)`` of every record of a (possibly gzipped) VCF."""
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    keys = []
    with opener(path, "rt") as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            chrom, pos, _, ref, alt = line.split("\t")[:5]
            keys.append((chrom.removeprefix("chr"), int(pos), ref, alt))
    return keys


def panel_conf(folder: Path, phi: Callable[[str], str]) -> dict[str, Any]:
    """The panel example's conf for one proband, its inputs written under ``folder/inputs``.

    The VCF's sample column, the label, external and accession IDs and the patient fields are
    ``phi(what)`` values (PHI sentinels); exports go to ``folder/exports``.
    """
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    inputs = folder / "inputs"
    inputs.mkdir()
    vcf = write_vcf(inputs / "proband.vcf.gz", 150, sample=phi("SAMPLE"), compression="gz")
    fields = {"First Name": phi("FIRSTNAME"), "Last Name": phi("LASTNAME"), "Patient DOB": phi("DOB")}
    (inputs / "fields.json").write_text(json.dumps({**fields, "Indication for Testing": "Synthetic test"}))
    (inputs / "qc.json").write_text(json.dumps({"Total Reads": 1000, "Mean Coverage": 250.5}))
    return {
        "project_name": "DAG tests: panels",  # shared by every run: found by name, never duplicated
        "vcf_path": str(vcf),
        "genome_label": phi("LABEL"),
        "genome_sex": "female",
        "external_id": phi("EXTID"),
        "accession_id": phi("ACCESSION"),
        "panel_test_code": "HC-101",  # the sandbox catalogue's panel 101
        "patient_fields_path": f"file://{inputs / 'fields.json'}",
        "qc_data_path": str(inputs / "qc.json"),
        "output_base": f"file://{folder / 'exports'}",
    }


def trio_conf(folder: Path, phi: Callable[[str], str]) -> tuple[dict[str, Any], list[Path]]:
    """The trio example's conf: three VCFs named after ``phi("FAMILY")`` and a manifest, in ``folder/family``.

    Labels and external IDs in the manifest are ``phi("LABEL")``/``phi("EXTID")`` plus the role;
    exports go to ``folder/exports``.

    :return: the conf, and the VCFs (proband, mother, father).
    """
    from airflow_provider_fabric.testing.vcfgen import write_family

    family = folder / "family"
    paths = write_family(family, phi("FAMILY"), n_records=120, compression="gz", seed=5)
    proband, mother, father = paths
    rows = [  # not proband-first on purpose: the DAG must still put the proband first
        ("mother", mother.name, "female", "false"),
        ("proband", str(proband), "male", "true"),  # an absolute path works too
        ("father", f"file://{father}", "male", "false"),
    ]
    with (family / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["role", "vcf_path", "genome_label", "genome_sex", "external_id", "affected"])
        for role, path, sex, affected in rows:
            writer.writerow([role, path, phi("LABEL") + role, sex, phi("EXTID") + role, affected])
    conf = {
        "project_name": "DAG tests: families",
        "manifest_path": f"file://{family / 'manifest.csv'}",
        "accession_id": phi("ACCESSION") + "FAM",
        "output_base": str(folder / "exports"),
    }
    return conf, list(paths)


def task_log_text(home: str) -> str:
    """Every task log file Airflow wrote under ``AIRFLOW_HOME/logs`` (dag.test mostly logs to stdout)."""
    text = []
    for path in Path(home, "logs").rglob("*"):
        if path.is_file():
            text.append(path.read_text(errors="replace"))
    return "\n".join(text)
