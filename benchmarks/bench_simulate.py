"""Benchmark: simulation throughput of darkfit's event simulator.

Simulates 10^6 events (500k flat ER + 500k 50 GeV WIMP NR) with the ``lz`` preset, three
times after a warm-up call, and prints machine, versions, the first-call time (includes JIT
compilation) and the median steady-state time. Run:

    python benchmarks/bench_simulate.py [--events 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import jax
import numpy as np

import darkfit
from darkfit.detector import load_detector
from darkfit.model.simulate import simulate
from darkfit.model.sources import parse_source


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--detector", default="lz")
    args = ap.parse_args()
    det = load_detector(args.detector)
    sources = [parse_source("flat_er"), parse_source("wimp:mass=50,sigma=1e-47")]
    per_source = [args.events // 2, args.events - args.events // 2]

    t0 = time.perf_counter()
    df = simulate(det, sources, n_events=per_source, seed=0)
    first = time.perf_counter() - t0
    times = []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        df = simulate(det, sources, n_events=per_source, seed=i + 1)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores,"
        f" {platform.python_version()}, jax {jax.__version__}, numpy {np.__version__},"
        f" darkfit {darkfit.__version__}, backend {jax.default_backend()}"
    )
    print(
        f"events: {len(df)} ({args.detector}, flat_er + wimp 50 GeV),"
        f" in ROI: {int(df.in_roi.sum())}"
    )
    print(f"first call (incl. compile): {first:.2f} s")
    print(
        f"steady state: median {med:.2f} s over {args.repeats} runs "
        f"({', '.join(f'{t:.2f}' for t in times)}); {len(df) / med:.3g} events/s"
    )


if __name__ == "__main__":
    main()
