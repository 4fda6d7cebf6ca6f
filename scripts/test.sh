#!/usr/bin/env bash
# The test command: environment from nothing, then lint, types and the whole suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
EXTRAS=test scripts/bootstrap.sh
scripts/system_deps.sh chromium fonts-dejavu-core  # the browser test of the "Fabric Genomics" page (tests/ui)

AIRFLOW_HOME="$(mktemp -d -t fabric-airflow-home-XXXXXX)"
export AIRFLOW_HOME
export AIRFLOW__CORE__LOAD_EXAMPLES=False
trap 'rm -rf "$AIRFLOW_HOME"' EXIT

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
