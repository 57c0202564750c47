# Sourced by scripts/local and scripts/test: everything they need, installed by themselves.
# Puts a pinned uv on PATH (from PyPI, into .cache/uv) and syncs .venv from uv.lock.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV_VERSION=0.13.9
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  if [ ! -x .cache/uv/bin/uv ]; then
    python3 -m venv .cache/uv
    .cache/uv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  export PATH="$PWD/.cache/uv/bin:$PATH"
fi
uv sync --frozen --quiet
