#!/usr/bin/env bash
# The GPU fast path's numbers in one command (README "GPU fast path"; `make bench-gpu` runs this).
# Needs only a Python with torch (CUDA), numpy and pyyaml: no venv, no ROS, no network. Wheels
# put in .whl/ (torchao for the FP8 rows) are unpacked into .whl/site and put on PYTHONPATH;
# a wheel is a zip, so this needs no pip and no index.
#   bash scripts/bench_gpu.sh [OUT_DIR] [bench/gpu.py arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${GPU_PYTHON:-python3}
OUT=${1:-runs/bench_gpu}
shift || true
if compgen -G ".whl/*.whl" >/dev/null; then
  for wheel in .whl/*.whl; do
    "$PYTHON" -m zipfile -e "$wheel" .whl/site
  done
  export PYTHONPATH=".whl/site${PYTHONPATH:+:$PYTHONPATH}"
fi
exec "$PYTHON" bench/gpu.py --out "$OUT" "$@"
