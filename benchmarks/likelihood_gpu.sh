#!/bin/bash
# darkfit's likelihood benchmark on a GPU (issue 3's "add GPU numbers"): the frozen and full
# paths at 10^3, 10^4, 10^5 events and the 4-parameter fit, each in its own process, first
# with an empty compilation cache, then the frozen path and the fit again with it filled.
#
#   bash benchmarks/likelihood_gpu.sh EVENTS_DIR OUT_DIR
#
# EVENTS_DIR holds mix10000.parquet (for 10^3 and 10^4: its first events in the ROI) and
# mix100000.parquet (docs/benchmarks.md says how they were made); one JSON line per process
# goes to OUT_DIR/gpu.jsonl, stderr to OUT_DIR/gpu.err. PY (default python3) is the
# interpreter; run from the repository root.
set -u
EV=$1; OUT=$2; PY=${PY:-python3}; mkdir -p "$OUT"
export DARKFIT_CACHE_DIR=${DARKFIT_CACHE_DIR:-/tmp/darkfit-gpu-cache}
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1  # peak memory = what is used
rm -rf "$DARKFIT_CACHE_DIR"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
$PY -c "import darkfit, jax, platform; print(platform.python_version(), jax.__version__, jax.devices())"
one() {  # size path pass
  f=mix10000; [ "$1" -gt 10000 ] && f=mix100000
  if r=$(timeout ${TMO:-300} $PY benchmarks/bench_likelihood.py --one "$1" --path "$2" \
      --events "$EV/$f.parquet" 2>>"$OUT/gpu.err"); then
    echo "{\"pass\": \"$3\", \"result\": $r}" | tee -a "$OUT/gpu.jsonl"
  else
    echo "FAILED $1 $2 $3" | tee -a "$OUT/gpu.jsonl"; tail -5 "$OUT/gpu.err"
  fi
}
for spec in "1000 frozen" "10000 frozen" "100000 frozen" "1000 fit" "1000 full" "10000 full" \
    "100000 full" "10000 fit"; do
  one $spec compile
done
for spec in "1000 frozen" "1000 fit" "10000 frozen" "100000 frozen"; do
  one $spec cached
done
