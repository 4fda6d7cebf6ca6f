#!/usr/bin/env bash
# `make e2e`: the provider on a distributed Airflow, end to end, and its UI in a real browser.
# Installs what is missing (Debian: postgresql, redis-server, chromium; PyPI: the test extras), then
# tests/e2e starts PostgreSQL, Redis, a moto S3 server, fabric-sandbox, and Airflow's api-server,
# scheduler, dag-processor, triggerer and two Celery workers (each by PID), runs the scenario of
# docs/distributed.md through Airflow, checks it, drives the UI in chromium, and stops everything.
# Output (logs, screenshots, summary.json): ./e2e-output/ (E2E_OUTPUT=DIR moves it). Extra arguments
# go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

echo "== system packages"
scripts/system_deps.sh postgresql redis-server chromium fonts-dejavu-core
echo "== environment (.venv)"
scripts/bootstrap.sh

export E2E_OUTPUT="${E2E_OUTPUT:-$root/e2e-output}"
AIRFLOW_HOME="$(mktemp -d -t fabric-e2e-harness-XXXXXX)"  # the test process's own; the deployment has its own
export AIRFLOW_HOME
export AIRFLOW__CORE__LOAD_EXAMPLES=False

cleanup() {
  # The harness stops what it started; if pytest itself died, end what is left of this run (by PID).
  if [ -f "$E2E_OUTPUT/run-dir" ]; then
    .venv/bin/python - "$(cat "$E2E_OUTPUT/run-dir")" <<'PY'
import shutil, sys
sys.path.insert(0, "tests/e2e")
from deployment import sweep
left = sweep(sys.argv[1])
if left:
    print(f"e2e: ended {len(left)} leftover process(es): {left}")
shutil.rmtree(sys.argv[1], ignore_errors=True)
PY
  fi
  rm -rf "$AIRFLOW_HOME"
}
trap cleanup EXIT

echo "== e2e (outputs in $E2E_OUTPUT)"
started=$(date +%s)
.venv/bin/pytest tests/e2e -p no:cacheprovider --timeout 1500 -rA "$@"
echo "== e2e passed in $(( $(date +%s) - started )) s"
