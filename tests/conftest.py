"""Test-wide set-up: a private AIRFLOW_HOME before Airflow is imported anywhere."""

from __future__ import annotations

import os
import tempfile
import warnings

if "AIRFLOW_HOME" not in os.environ:  # the test command sets one; keep ad-hoc runs safe too
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="fabric-airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# Airflow's API server pulls in a Starlette version that warns on import; it is not ours.
warnings.filterwarnings("ignore", message=".*Starlette.*", category=UserWarning)
