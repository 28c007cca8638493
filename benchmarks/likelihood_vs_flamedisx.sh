#!/usr/bin/env bash
# One run, same machine: darkfit's likelihood benchmark, then flamedisx 2.1.0's, on the same
# events (flamedisx's own simulation of its default ER + NR sources). Usage:
#   benchmarks/likelihood_vs_flamedisx.sh EVENTS.parquet OUTDIR [SIZES]
# Needs: darkfit installed in $DARKFIT_PY (default .venv/bin/python) and flamedisx in
# $FLAMEDISX_PY (default /work/fd-venv/bin/python) with $FLAMEDISX_WORKDIR holding resource_cache/.
set -euo pipefail
events=$1; out=$2; sizes=${3:-1000,10000}
py=${DARKFIT_PY:-.venv/bin/python}; fdpy=${FLAMEDISX_PY:-/work/fd-venv/bin/python}
mkdir -p "$out"
{ date -u; uname -m; nproc; uptime; } > "$out/machine.txt"
"$py" benchmarks/bench_likelihood.py --events "$events" --sizes "$sizes" --fit \
  --out "$out/darkfit.json" | tee "$out/darkfit.log"
uptime >> "$out/machine.txt"
"$fdpy" benchmarks/flamedisx_reference.py --workdir "${FLAMEDISX_WORKDIR:-/work/fd-run}" bench \
  --events "$events" --sizes "$sizes" --no-bestfit --out "$out/flamedisx.json" \
  | tee "$out/flamedisx.log"
{ date -u; uptime; } >> "$out/machine.txt"
