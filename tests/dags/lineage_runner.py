"""Run one example DAG to the end with ``dag.test()`` in this process, for ``test_dag_lineage.py``.

``python lineage_runner.py DAG_ID '<conf json>'`` prints ``STATES <json>``: the run's state and
each task's states. The OpenLineage provider reads its settings once per process, when Airflow
loads its plugins, so a lineage run gets a process of its own, with the ``[openlineage]``
environment the test gives it.
"""

from __future__ import annotations

import json
import sys

from dagsupport import run_dag, task_states


def main() -> None:
    run = run_dag(sys.argv[1], json.loads(sys.argv[2]), deferrable=False)
    print("STATES " + json.dumps({"run": str(run.state), "tasks": task_states(run)}), flush=True)


if __name__ == "__main__":
    main()
