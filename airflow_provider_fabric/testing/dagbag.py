"""Load DAG files the way Airflow's DAG processor does, on every Airflow version the package supports."""

from __future__ import annotations

import os
from typing import Any


def dag_bag(dag_folder: str | os.PathLike[str], **kwargs: Any) -> Any:
    """A ``DagBag`` of ``dag_folder`` (Airflow moved the class in 3.3; older versions keep the old path).

    :param dag_folder: the folder (or file) to parse.
    :param kwargs: more ``DagBag`` arguments (``include_examples``...).
    """
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.3
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]
    return DagBag(dag_folder=str(dag_folder), **kwargs)
