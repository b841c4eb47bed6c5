#!/usr/bin/env bash
# recam's GPU check: one command on a CUDA machine, random weights at the real shapes, one JSON, non-zero exit on
# any failure (what each entry measures: benchmarks/gpu_check.py). From the repository root:
#
#   bash benchmarks/gpu_check.sh --out gpu_check.json          # ~30-40 min on one H100/H200 (14B inference: most)
#   bash benchmarks/gpu_check.sh --skip-14b --infer-steps 10   # a shorter pass
#   bash benchmarks/gpu_check.sh --dry-run --out /tmp/g.json   # the same code paths, tiny, on the CPU (CI / tests)
#
# Uses .venv if present (bash scripts/setup.sh; for DeepSpeed: .venv/bin/pip install -e ".[gpu]").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
if [[ " $* " != *" --dry-run "* ]]; then
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
fi
exec "$PY" benchmarks/gpu_check.py "$@"
