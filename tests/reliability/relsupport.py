"""Helpers shared by the reliability tests (imported by module name; tests dirs hold no packages)."""

from __future__ import annotations

import json
import os
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "dags_examples"
DEFERRABLE_ENV = "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"
# Small waits so that retried requests cost milliseconds, not seconds.
FAST_RETRY_EXTRA = {
    "retry_limit": 10,
    "retry_initial_wait": 0.02,
    "retry_max_wait": 0.2,
    "retry_max_total": 60,
}


def conn_json(sandbox: Any, **extra: Any) -> str:
    """The sandbox's connection as JSON with fast retries (and ``extra`` overrides; ``None`` drops a key)."""
    conn = json.loads(sandbox.conn_json())
    merged = {**conn["extra"], **FAST_RETRY_EXTRA, **extra}
    conn["extra"] = {key: value for key, value in merged.items() if value is not None}
    return json.dumps(conn)


def load_example(dag_id: str, *, deferrable: bool = False) -> Any:
    """Parse the example DAGs (sensors defaulting to ``deferrable``) and return one of them."""
    from airflow_provider_fabric.testing.dagbag import dag_bag

    before = os.environ.get(DEFERRABLE_ENV)
    os.environ[DEFERRABLE_ENV] = str(deferrable)  # read when the operators are built, i.e. while parsing
    try:
        bag = dag_bag(DAGS_FOLDER)
    finally:
        if before is None:
            os.environ.pop(DEFERRABLE_ENV, None)
        else:
            os.environ[DEFERRABLE_ENV] = before
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    assert dag is not None, dag_id
    return dag


def run_dag(dag: Any, conf: dict[str, Any], *, retries: int | None = None) -> Any:
    """``dag.test()`` the DAG; with ``retries``, every task gets that many immediate Airflow retries."""
    if retries is not None:
        for task in dag.tasks:
            task.retries = retries
            task.retry_delay = timedelta(0)
            task.retry_exponential_backoff = False
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Starlette.*", category=UserWarning)
        return dag.test(run_conf=conf)


def task_states(run: Any) -> dict[str, list[str]]:
    """``task_id -> [state of each (mapped) instance]``."""
    states: dict[str, list[str]] = {}
    for ti in run.get_task_instances():
        states.setdefault(ti.task_id, []).append(str(ti.state))
    return states


def failed_tasks(run: Any) -> dict[str, list[str]]:
    return {task: s for task, s in task_states(run).items() if set(s) != {"success"}}


def log_text(home: str | os.PathLike[str]) -> str:
    """Every file Airflow wrote under ``AIRFLOW_HOME/logs``."""
    return "\n".join(
        path.read_text(errors="replace") for path in Path(home, "logs").rglob("*") if path.is_file()
    )


def one(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [item for item in items if all(item.get(key) == value for key, value in match.items())]
    assert len(found) == 1, f"expected exactly one object with {match}, found {len(found)}"
    return found[0]
