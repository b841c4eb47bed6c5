#!/usr/bin/env bash
# Idempotent set-up: a .venv with PyTorch and this project (+ test extras).
# PyTorch: if the venv has none, installs ${TORCH_SPEC:-torch==2.13.0} (the CPU build on CPU-only machines
# configured like ours; on GPU nodes install your CUDA build first, e.g. TORCH_SPEC="torch==2.13.0").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -c "import torch" 2>/dev/null || pip install -q "${TORCH_SPEC:-torch==2.13.0}"
stamp=.venv/.synth-recam-installed
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  pip install -q -e ".[test]"
  echo "$want" > "$stamp"
fi
# CMU motion capture (Debian's assimp-testmodels ships CMU BVH takes): installed when this runs as root with apt;
# never fatal (without it the catalog lists the mocap clips as unavailable and keeps the procedural motions).
if [ ! -d /usr/share/assimp/models/BVH ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (timeout 300 apt-get install -y -qq --no-install-recommends assimp-testmodels >/dev/null 2>&1 \
    || { timeout 300 apt-get update -qq >/dev/null 2>&1 \
         && timeout 300 apt-get install -y -qq --no-install-recommends assimp-testmodels >/dev/null 2>&1; }) \
    || echo "note: assimp-testmodels (CMU mocap clips) not installed; see synth assets list" >&2
fi
# Asset cache: CC0 HDRI skies from npm's @pmndrs/assets (~5 s), the anny body bank (anny builds its model data once,
# ~95 s, kept beside the cache; then ~15 s for 24 bodies), CMU clips; a no-op when up to date. Never fatal: assets
# that cannot be built are listed as unavailable (`synth assets list`) and the built-in catalog stays in use.
.venv/bin/synth assets build || echo "warning: synth assets build failed; rendering uses the built-in catalog" >&2
# Browser for the studio tests (recam studio / synth studio, headless through selenium): Debian's chromium and
# chromedriver, installed when this runs as root with apt; never fatal (without them the browser tests are skipped).
if ! command -v chromedriver >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (timeout 600 apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1 \
    || { timeout 300 apt-get update -qq >/dev/null 2>&1 \
         && timeout 600 apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1; }) \
    || echo "note: chromium / chromium-driver not installed; the studio browser tests will be skipped" >&2
fi
