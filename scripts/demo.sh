#!/usr/bin/env bash
# The main job (`make demo`): the example clinical DAGs end to end against a local fabric-sandbox.
# From a fresh clone: builds .venv, makes a throw-away AIRFLOW_HOME whose dags_folder is
# dags_examples/, migrates its database, then scripts/demo.py generates synthetic VCFs, starts the
# sandbox, runs the DAGs with dag.test() and prints a summary. Outputs land in ./demo-output/.
# Extra arguments go to scripts/demo.py (--fail-annotation, --records N); DEMO_OUTPUT=DIR moves the output.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

echo "== environment (.venv)"
scripts/bootstrap.sh

AIRFLOW_HOME="$(mktemp -d -t fabric-demo-airflow-XXXXXX)"
export AIRFLOW_HOME
export AIRFLOW__CORE__DAGS_FOLDER="$root/dags_examples"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False

output="${DEMO_OUTPUT:-$root/demo-output}"

cleanup() {
  # Leave nothing running: the driver stops the sandbox, but not if it was killed itself.
  local pid_file="$output/sandbox/pid"
  if [ -f "$pid_file" ]; then
    local pid
    pid="$(cat "$pid_file")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
  fi
  rm -rf "$AIRFLOW_HOME"
}
trap cleanup EXIT

echo "== airflow db migrate (AIRFLOW_HOME=$AIRFLOW_HOME)"
.venv/bin/airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || {
  cat "$AIRFLOW_HOME/db-migrate.log"
  exit 1
}

echo "== demo"
.venv/bin/python scripts/demo.py --output "$output" "$@"
