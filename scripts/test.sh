#!/usr/bin/env bash
# The test command: environments from the lock files, then lint, types, docs, the whole suite on the
# current Airflow, and the example DAGs end to end on the lowest supported Airflow (the floor).
# Arguments go to the main pytest run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh
scripts/system_deps.sh chromium fonts-dejavu-core  # the browser test of the "Fabric Genomics" page (tests/ui)

AIRFLOW_HOME="$(mktemp -d -t fabric-airflow-home-XXXXXX)"
floor_home="$(mktemp -d -t fabric-floor-airflow-home-XXXXXX)"
export AIRFLOW_HOME
export AIRFLOW__CORE__LOAD_EXAMPLES=False
trap 'rm -rf "$AIRFLOW_HOME" "$floor_home"' EXIT

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy airflow_provider_fabric
echo "== bandit"
.venv/bin/bandit -q -c pyproject.toml -r airflow_provider_fabric
echo "== pip-audit"
.venv/bin/python scripts/audit.py
echo "== docs (warnings are errors)"
.venv/bin/sphinx-build -q -W --keep-going -b html docs docs/_build/html
echo "== pytest"
.venv/bin/pytest "$@"

floor="$(sed -n 's/^apache-airflow==\([^ ]*\).*/\1/p' requirements/floor.txt)"
echo "== example DAGs on the Airflow floor ($floor, .venv-floor)"
LOCK=floor VENV=.venv-floor scripts/bootstrap.sh
AIRFLOW_HOME="$floor_home" .venv-floor/bin/pytest tests/dags -p no:cacheprovider
echo "== e2e: distributed Airflow (Celery, PostgreSQL, Redis, S3) and the UI in chromium"
bash scripts/e2e.sh
