#!/usr/bin/env bash
# Live Open WebUI check: installs open-webui 0.12.4 from PyPI into target/owui (with uv, without
# the local-embedding packages it does not need here: accelerate and sentence-transformers,
# which pull in torch) and mcpo into target/mcpo, then runs tests/live/openwebui_check.py
# against the given binary.
# Loopback only; Open WebUI runs offline against a fake model.
# Usage: tests/live/openwebui.sh <webhook-mcp binary>
set -euo pipefail
cd "$(dirname "$0")/../.."
BINARY=${1:?usage: tests/live/openwebui.sh <webhook-mcp binary>}
VERSION=0.12.4
VENV=target/owui
if [ ! -x "$VENV/bin/open-webui" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "uv==0.13.9"
  WHEELS=$(mktemp -d)
  "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    "open-webui==$VERSION" -d "$WHEELS"
  # Its pinned requirements, minus the two that only serve local embedding models.
  python3 - "$WHEELS"/open_webui-*.whl "$WHEELS/requirements.txt" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    lines = z.read(meta).decode().splitlines()
wanted = [l.removeprefix("Requires-Dist: ") for l in lines if l.startswith("Requires-Dist: ")]
wanted = [r for r in wanted if "extra ==" not in r
          and not r.startswith(("accelerate==", "sentence-transformers=="))]
open(out, "w").write("\n".join(wanted) + "\n")
PY
  "$VENV/bin/uv" pip install --python "$VENV/bin/python" --quiet -r "$WHEELS/requirements.txt"
  "$VENV/bin/uv" pip install --python "$VENV/bin/python" --quiet --no-deps "$WHEELS"/open_webui-*.whl
  rm -rf "$WHEELS"
fi
# mcpo, for the README's proxy route, in its own venv: 0.0.20 needs the 1.x MCP SDK and the
# FastAPI before 0.165, where Open WebUI pins mcp 2.3.0.
MCPO=target/mcpo
if [ ! -x "$MCPO/bin/mcpo" ]; then
  python3 -m venv "$MCPO"
  "$VENV/bin/uv" pip install --python "$MCPO/bin/python" --quiet \
    "mcpo==0.0.20" "mcp==1.30.0" "fastapi==0.136.3"
fi
"$VENV/bin/python" tests/live/openwebui_check.py "$BINARY" "$MCPO/bin/mcpo"
