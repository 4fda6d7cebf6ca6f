"""Helpers for the example-DAG tests: load and run a DAG, read its outputs and logs.

Imported by name (``from dagsupport import ...``): a test module importing from
``conftest`` would get whichever folder's conftest was imported first.
"""

from __future__ import annotations

import os
import warnings
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


def task_log_text(home: str) -> str:
    """Every task log file Airflow wrote under ``AIRFLOW_HOME/logs`` (dag.test mostly logs to stdout)."""
    text = []
    for path in Path(home, "logs").rglob("*"):
        if path.is_file():
            text.append(path.read_text(errors="replace"))
    return "\n".join(text)
