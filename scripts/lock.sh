#!/usr/bin/env bash
# `make lock`: re-resolve the locked environments after a dependency change, keeping every pin that
# still fits; `make lock UPGRADE=1` takes the newest releases instead. Commit requirements/*.txt.
#   requirements/test.txt   pyproject.toml with the `test` extra (the current Airflow): tests, demo, docs
#   requirements/floor.txt  pyproject.toml with its `openlineage` extra and requirements/floor.in, at
#                           the lowest versions the declared ranges allow (lowest-direct): the floor
#                           the package claims, lineage included
# Every package is pinned with its hashes, for Python 3.11 on any platform.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
uv_bin="$(scripts/uv.sh)"
upgrade=()
if [ -n "${UPGRADE:-}" ]; then
  upgrade=(--upgrade)
fi
compile() {
  "$uv_bin" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
    --custom-compile-command "make lock" "${upgrade[@]}" "$@"
}
compile pyproject.toml --extra test -o requirements/test.txt
compile pyproject.toml requirements/floor.in --extra openlineage --resolution lowest-direct -o requirements/floor.txt
