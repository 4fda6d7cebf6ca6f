"""Test-wide set-up: a private AIRFLOW_HOME before Airflow is imported anywhere."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

if "AIRFLOW_HOME" not in os.environ:  # the test command sets one; keep ad-hoc runs safe too
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="fabric-airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# Airflow fixes its dags folder (the default DAG bundle) when first imported, and dag.test()
# only runs DAGs of a configured bundle: the example DAGs are the suite's dags folder,
# set here, before any test module can import Airflow.
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "dags_examples")
# Airflow's API server pulls in a Starlette version that warns on import; it is not ours.
warnings.filterwarnings("ignore", message=".*Starlette.*", category=UserWarning)
