"""Benchmark: darkfit's unbinned likelihood (value + gradient) and a 4-parameter fit.

The model is flamedisx 2.1.0's default ER + NR sources (the ``flamedisx`` preset, comb spectra
of 1000 ER lines on 0-10 keV and 100 NR lines on 0.7-150 keV), the parameters two rate
multipliers, the electron lifetime and g2 — the configuration of
``benchmarks/flamedisx_reference.py bench``, so the two can be compared on the same events.

    python benchmarks/bench_likelihood.py --events EVENTS.parquet --sizes 1000,10000 [--fit]

EVENTS.parquet: any table with s1, s2, x, y, z (or drift_time); e.g. the one written by
``flamedisx_reference.py simulate``. Without --events, darkfit simulates them. Each size and
each path (``full``: every factor at every call; ``frozen``: the fits' path, S1 side computed
once; ``fit``: the 4-parameter fit from the defaults, with --fit and sizes <= 1000) runs in its
own subprocess, so peak resident memory and compilation are per size and path.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time


def run_size(path: str | None, size: int, which: str) -> dict:
    import darkfit  # noqa: I001  (first: it sets JAX flags read when jax is imported)

    import jax
    import numpy as np

    from darkfit.detector import load_detector
    from darkfit.events import read_events
    from darkfit.inference.fit import fit_likelihood
    from darkfit.likelihood.frozen import FrozenS1Likelihood
    from darkfit.likelihood.unbinned import INPUT_COLUMNS, UnbinnedLikelihood
    from darkfit.model.simulate import simulate
    from darkfit.model.sources import Source
    from darkfit.physics.spectra import LineSpectrum

    det = load_detector("flamedisx")
    er = Source("er", LineSpectrum(np.linspace(0, 10, 1000), np.ones(1000), recoil_type="er"))
    nr = Source("nr", LineSpectrum(np.linspace(0.7, 150, 100), np.ones(100), recoil_type="nr"))
    if path:  # the columns the likelihood can use (7 of the benchmark tables' 24)
        ev = read_events(path, columns=INPUT_COLUMNS)
    else:
        ev = simulate(det, [er, nr], n_events=[size, size // 20], seed=1)
    roi = det.roi
    ok = ev.s1.between(roi.s1_min, roi.s1_max) & ev.s2.between(roi.s2_min, roi.s2_max)
    ev = ev[ok].iloc[:size].reset_index(drop=True)
    t0 = time.perf_counter()
    lik = UnbinnedLikelihood(det, [er, nr], ev, 1.0)
    build = time.perf_counter() - t0
    theta = {"er_rate": 1.0, "nr_rate": 1.0, "electron_lifetime_us": 452.0, "g2": 19.2}
    versions = {"darkfit": darkfit.__version__, "jax": jax.__version__}
    dev = jax.devices()[0]
    versions["device"] = f"{dev.platform}: {dev.device_kind}"
    if which == "fit":  # its own process: nothing compiled or frozen before it
        bounds = {
            "er_rate": (0.01, 100),
            "nr_rate": (0.001, 1000),
            "electron_lifetime_us": (100, 800),
            "g2": (15, 25),
        }
        t0 = time.perf_counter()
        res = fit_likelihood(lik, list(theta), theta, bounds)
        return {
            "path": "fit",
            "size": len(ev),
            "build_s": build,
            "fit_s": time.perf_counter() - t0,  # S1 freeze, compilation and Newton steps
            "fit_valid": res.valid,
            "fit_nll": res.nll,
            "fit_values": res.values,
            "fit_iterations": res.n_iter,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            **_peak_device_memory(dev),
            "versions": versions,
        }
    t0 = time.perf_counter()
    if which == "frozen":  # S1 side once (rates, g2 and lifetime only touch the S2 side)
        fz = FrozenS1Likelihood(lik, theta)
        vg = jax.jit(jax.value_and_grad(lambda th: fz.log_likelihood(th)))
    else:
        vg = jax.jit(jax.value_and_grad(lambda th: lik.log_likelihood(th)))
    jax.block_until_ready(vg(theta))
    first = time.perf_counter() - t0
    calls = []
    for _ in range(3):
        t0 = time.perf_counter()
        jax.block_until_ready(vg(theta))
        calls.append(time.perf_counter() - t0)
    return {
        "path": which,
        "size": len(ev),
        "build_s": build,
        "first_call_s": first,  # frozen: includes computing the S1 side
        "steady_calls_s": calls,
        "median_steady_s": statistics.median(calls),
        "events_per_s": len(ev) / statistics.median(calls),
        "log_likelihood": float(vg(theta)[0]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **_peak_device_memory(dev),
        "versions": versions,
    }


def _peak_device_memory(dev) -> dict:
    """Peak memory the accelerator's allocator handed out (GPU); {} on CPU (see peak RSS)."""
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    return {"peak_device_mb": stats["peak_bytes_in_use"] / 2**20} if stats else {}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", default=None)
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--fit", action="store_true", help="also time the 4-parameter fit")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--path", default="full", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(run_size(args.events, args.one, args.path)))
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        fit = ("fit",) if args.fit and size <= 1000 else ()
        for which in ("full", "frozen", *fit):
            cmd = [sys.executable, __file__, "--one", str(size), "--path", which]
            cmd += ["--events", args.events] if args.events else []
            r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            results.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "fit_values"}, indent=None))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
