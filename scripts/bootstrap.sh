#!/usr/bin/env bash
# Create (or update) the project's virtualenv in .venv from nothing but python3.
# Uses uv from PyPI for speed; compiles bytecode because PYTHONDONTWRITEBYTECODE
# is common on lab machines and would make every `import airflow` slow.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python_bin="$(command -v python3.11 || command -v python3)"

uv_bin="$(command -v uv || true)"
if [ -z "$uv_bin" ]; then
  if [ ! -x .tools/bin/uv ]; then
    "$python_bin" -m venv .tools
    .tools/bin/python -m pip install --quiet --disable-pip-version-check uv
  fi
  uv_bin="$root/.tools/bin/uv"
fi

if [ ! -x .venv/bin/python ]; then
  "$uv_bin" venv --quiet --python "$python_bin" .venv
fi
"$uv_bin" pip install --quiet --compile-bytecode --python .venv/bin/python -e ".[${EXTRAS:-test}]"
