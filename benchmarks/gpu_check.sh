#!/usr/bin/env bash
# The device check: on a machine with a CUDA GPU (and no internet), the test suite with every
# Session on the GPU, each test file's failures printed as the file ends, so a run cut short
# keeps what it found; then the GPU benchmarks (attribution against Captum, feature
# visualization against Lucent), all within BUDGET_S seconds (default 480: the tests get the
# first two thirds, the benchmarks the rest).
#
#   make test-gpu                                   # from a checkout set up by make
#   PYTHON=python3 bash benchmarks/gpu_check.sh     # on a GPU image with the dependencies installed
#   NEUROBLOCKS_DEVICE=cpu BUDGET_S=120 bash benchmarks/gpu_check.sh   # a dry run of the script itself
#
# Left out: the browser, notebook and installed-wheel tests (they need Chromium and a Jupyter
# server). The whole log is kept in $LOGS (default test-artifacts/gpu-check/).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
BUDGET=${BUDGET_S:-480}
LOGS=${LOGS:-test-artifacts/gpu-check}
export PYTHONUNBUFFERED=1 NEUROBLOCKS_DEVICE=${NEUROBLOCKS_DEVICE:-cuda}
mkdir -p "$LOGS"
start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }

if [[ $NEUROBLOCKS_DEVICE == cuda* ]]; then
  "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else f"no CUDA GPU seen by torch {torch.__version__}")' || exit 2
fi
"$PY" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__, "on", torch.cuda.get_device_name() if torch.cuda.is_available() else "the CPU")'

# One pytest process (no start-up per file), each file's failures printed as it ends
# (--file-reports), so a run cut at its share of the budget keeps what it found.
tests_budget=$((BUDGET * 2 / 3 - $(elapsed)))
timeout "$tests_budget" "$PY" -m pytest -q -rfE -p no:cacheprovider --file-reports --device "$NEUROBLOCKS_DEVICE" \
  --ignore=tests/browser --ignore=tests/test_notebooks.py --ignore=tests/test_installed_package.py tests 2>&1 | tee "$LOGS/tests.log" |
  grep -E --line-buffered '^(test_\S+ done:|  (FAILED|ERROR) |FAILED |ERROR |[0-9]+ (passed|failed)|suite cost|peak memory)'
status=${PIPESTATUS[0]}
((status == 124)) && echo "tests cut at ${tests_budget} s (the files above are complete)"

run_benchmark() {
  local left=$((BUDGET - $(elapsed)))
  if ((left < 30)); then
    echo "not run (out of time): $*"
    return
  fi
  timeout "$left" "$PY" "$@" --device "$NEUROBLOCKS_DEVICE" 2>&1 | tail -n 12 || echo "failed or cut: $*"
}
echo "--- benchmarks [$(elapsed) s]"
run_benchmark benchmarks/attribution.py --model googlenet
run_benchmark benchmarks/featurevis.py --model googlenet --channels 64 --size 128 --steps 128 --one-at-a-time 4
echo "device check done in $(elapsed) s of $BUDGET"
((status == 0 || status == 5))
