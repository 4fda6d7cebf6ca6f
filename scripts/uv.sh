#!/usr/bin/env bash
# Print the path of uv, the installer every environment of this project is built with.
# A uv already on PATH is used; otherwise the pinned release is installed from PyPI into .tools/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV_VERSION="0.13.9"

if command -v uv >/dev/null 2>&1; then
  command -v uv
  exit 0
fi
if [ ! -x "$root/.tools/bin/uv" ] || [ "$("$root/.tools/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  python_bin="$(command -v python3.11 || command -v python3)"
  "$python_bin" -m venv "$root/.tools"
  "$root/.tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" >&2
fi
echo "$root/.tools/bin/uv"
