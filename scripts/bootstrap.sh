#!/usr/bin/env bash
# Create (or bring up to date) a virtualenv holding exactly a locked set of packages.
#   scripts/bootstrap.sh                           .venv from requirements/test.txt (tests, demo, docs)
#   LOCK=floor VENV=.venv-floor scripts/bootstrap.sh   the lowest supported Airflow (requirements/floor.txt)
# The lock files pin every package and its hashes (`make lock` re-resolves them), so every clone,
# developer and CI machine gets the same versions. The package itself is installed editable on top.
# Compiles bytecode because PYTHONDONTWRITEBYTECODE is common on lab machines and would make every
# `import airflow` slow.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
lock="requirements/${LOCK:-test}.txt"
venv="${VENV:-.venv}"
python_bin="$(command -v python3.11 || command -v python3)"
uv_bin="$(scripts/uv.sh)"

if [ ! -x "$venv/bin/python" ]; then
  "$uv_bin" venv --quiet --python "$python_bin" "$venv"
fi
"$uv_bin" pip sync --quiet --compile-bytecode --require-hashes --python "$venv/bin/python" "$lock"
"$uv_bin" pip install --quiet --compile-bytecode --no-deps --python "$venv/bin/python" -e .
