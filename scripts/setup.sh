#!/usr/bin/env bash
# Idempotent set-up: a .venv with PyTorch and this project (+ test extras).
# PyTorch: if the venv has none, installs ${TORCH_SPEC:-torch==2.13.0} (the CPU build on CPU-only machines
# configured like ours; on GPU nodes install your CUDA build first, e.g. TORCH_SPEC="torch==2.13.0").
#
# Offline (GPU nodes without a package index): bash scripts/setup.sh --offline DIR
#   DIR is a wheelhouse of scripts/wheelhouse.sh (profile recam, render or encode). Makes ${VENV:-.venv} with
#   --system-site-packages over ${PYTHON:-python3} (the image's Python that has torch; reused when it exists),
#   installs DIR/requirements.txt from DIR only (--no-index; torch and numpy pinned to the versions already
#   there: never replaced) and this project without its dependency list (--no-deps), then stops: nothing else
#   (asset cache, apt) is attempted. Exit 2 when DIR is not a wheelhouse or the Python has no torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ "${1:-}" = "--offline" ]; then
  wh=${2:-}
  [ -n "$wh" ] && [ -f "$wh/requirements.txt" ] && [ -f "$wh/PROFILE" ] || {
    echo "setup.sh --offline: '${wh}' is not a wheelhouse (expected DIR/requirements.txt and DIR/PROFILE written by" \
         "scripts/wheelhouse.sh)" >&2; exit 2; }
  wh=$(cd "$wh" && pwd)
  venv=${VENV:-.venv}
  [ -x "$venv/bin/python" ] || "$PY" -m venv --system-site-packages "$venv"
  # versions from the installed metadata (importing torch takes seconds; nothing here needs it)
  vers='import importlib.metadata as m; print("torch==" + m.version("torch")); print("numpy==" + m.version("numpy"))'
  pins=$(mktemp)
  "$venv/bin/python" -c "$vers" > "$pins" 2>/dev/null || {
    echo "setup.sh --offline: $venv/bin/python (over $PY) has no torch and numpy installed; run it with PYTHON set to" \
         "the Python of your CUDA PyTorch image" >&2; exit 2; }
  "$venv/bin/python" -m pip install -q --no-compile --no-index --find-links "$wh" -c "$pins" -r "$wh/requirements.txt"
  "$venv/bin/python" -m pip install -q --no-compile --no-index --find-links "$wh" --no-deps -e .
  [ "$("$venv/bin/python" -c "$vers")" = "$(cat "$pins")" ] || {
    echo "setup.sh --offline: torch/numpy changed: $(cat "$pins" | tr '\n' ' ')" >&2; exit 1; }
  rm -f "$pins"
  echo "offline install of profile $(cat "$wh/PROFILE") into $venv done"
  exit 0
fi
# Debian packages, when this runs as root with apt, in one background job (apt holds the dpkg lock: one apt-get at
# a time) while pip installs: first the CMU motion capture (assimp-testmodels ships CMU BVH takes; the asset build
# below waits for it), then Chromium + chromedriver for the studio browser tests (recam studio / synth studio,
# headless through selenium; mostly download and unpacking, overlapping the asset build; waited for at the end).
# Never fatal: without the clips the catalog lists them as unavailable and keeps the procedural motions; without a
# browser the browser tests are skipped.
apt_try() {  # apt_try PKG...: install, refreshing the package lists once if that fails
  timeout 600 apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || { timeout 300 apt-get update -qq >/dev/null 2>&1 \
         && timeout 600 apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; }
}
apt_bg= mocap_done=$(mktemp -u)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (
    if [ ! -d /usr/share/assimp/models/BVH ]; then
      apt_try assimp-testmodels || echo "note: assimp-testmodels (CMU mocap clips) not installed; see synth assets list" >&2
    fi
    touch "$mocap_done"
    if ! command -v chromedriver >/dev/null 2>&1; then
      apt_try chromium chromium-driver \
        || echo "note: chromium / chromium-driver not installed; the studio browser tests will be skipped" >&2
    fi
  ) &
  apt_bg=$!
fi
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
# the asset build reads the CMU clips: wait for that part of the apt job
while [ -n "$apt_bg" ] && [ ! -e "$mocap_done" ] && kill -0 "$apt_bg" 2>/dev/null; do sleep 1; done
rm -f "$mocap_done"
# Asset cache: CC0 HDRI skies from npm's @pmndrs/assets (~5 s), the anny body bank (anny builds its model data once,
# ~95 s, kept beside the cache; then ~15 s for 24 bodies), CMU clips; a no-op when up to date. Never fatal: assets
# that cannot be built are listed as unavailable (`synth assets list`) and the built-in catalog stays in use.
.venv/bin/synth assets build || echo "warning: synth assets build failed; rendering uses the built-in catalog" >&2
# the background apt job (Chromium) ends before set-up does
[ -z "$apt_bg" ] || wait "$apt_bg" || true
