"""Cluster policy of the e2e deployment (copied into its ``AIRFLOW_HOME/config``).

The trio's mapped uploads go to the workers' own queues in turn (map index 0 and 2 to
``worker-1``, 1 to ``worker-2``), so that one family's VCFs are uploaded from two machines
whatever the load: the test proves no upload relies on another's disk. Every other task
goes to the ``default`` queue that both workers serve.
"""

from __future__ import annotations

from typing import Any


def task_instance_mutation_hook(task_instance: Any) -> None:
    if (
        task_instance.dag_id == "example_fabric_trio"
        and task_instance.task_id == "upload_genomes"
        and task_instance.map_index is not None
        and task_instance.map_index >= 0
    ):
        task_instance.queue = f"worker-{task_instance.map_index % 2 + 1}"
