#!/usr/bin/env bash
# The GPU check: budgeted entries, one JSON rewritten after every entry (what each entry measures, caps and the
# budget rule: benchmarks/gpu_check.py). From the repository root:
#
#   bash benchmarks/gpu_check.sh --profile recam --budget 300          # ~5 min on one H100/H200
#   bash benchmarks/gpu_check.sh --profile render,encode --budget 300  # EGL on the NVIDIA driver, NVENC vs libx264
#   bash benchmarks/gpu_check.sh --dry-run --budget 60                 # every entry, tiny, on the CPU (CI / tests)
#
# JSON: benchmarks/results/gpu_check_<profiles>.json (--out to change). Python: $PYTHON, else .venv (scripts/
# setup.sh, or setup.sh --offline DIR on a node without an index), else python3. The whole run is also bounded
# from outside (budget + 120 s, then SIGTERM, SIGKILL 15 s later): a hung kernel cannot hold the node, and the
# JSON keeps every finished entry.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && PY=.venv/bin/python
budget=300
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[i]}" = "--budget" ] && [ $((i + 1)) -lt ${#args[@]} ] && budget=${args[i + 1]}
done
[[ $budget =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "gpu_check.sh: --budget: expected seconds, got '$budget'" >&2; exit 2; }
if [[ " $* " != *" --dry-run "* ]]; then
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
fi
hard=$(( ${budget%.*} + 120 ))
exec timeout --signal=TERM --kill-after=15 "$hard" "$PY" benchmarks/gpu_check.py "$@"
