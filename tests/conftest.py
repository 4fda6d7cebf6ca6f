"""Test-wide set-up: a private AIRFLOW_HOME before Airflow is imported anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

if "AIRFLOW_HOME" not in os.environ:  # the test command sets one; keep ad-hoc runs safe too
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="fabric-airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# Airflow fixes its dags folder (the default DAG bundle) when first imported, and dag.test()
# only runs DAGs of a configured bundle: the example DAGs are the suite's dags folder,
# set here, before any test module can import Airflow.
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "dags_examples")
# Airflow's API server pulls in a Starlette version that warns on import; it is not ours.
warnings.filterwarnings("ignore", message=".*Starlette.*", category=UserWarning)


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated metadata DB in the session's private ``AIRFLOW_HOME``, for ``dag.test()`` (once)."""
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return os.environ["AIRFLOW_HOME"]
