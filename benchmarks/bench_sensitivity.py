"""Wall time of a full Neyman sensitivity curve: local processes vs a Dask LocalCluster.

The toy campaign (fits of rate multipliers on pooled events) is what is timed; the per-event
densities come from a synthetic pool so that pool building (a separate, cached cost, see
docs/sensitivity.md) does not enter. The synthetic model: observable x in [0, 1]; background
A flat (mu_A events), background B falling as 2 (1 - x) (mu_B), and per WIMP mass a signal
whose density (k + 1) x^k peaks at x = 1 more sharply for heavier masses (k = 1 + log10 m).

Usage::

    python benchmarks/bench_sensitivity.py --masses 10 --toys 1000 --executors local,dask

Prints the machine, versions, the configuration and the wall time per executor, and checks
that every executor gives identical tables (deterministic per-task seeds).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_pool(masses, mu_a=60.0, mu_b=30.0, n_pool=10000, seed=0):
    from darkfit.inference.event_pool import default_label, synthetic_pool

    rng = np.random.default_rng(seed)
    xs = [rng.random(n_pool), 1 - np.sqrt(1 - rng.random(n_pool))]
    ks = [1.0 + np.log10(m) for m in masses]
    xs += [rng.random(n_pool) ** (1 / (k + 1)) for k in ks]
    x = np.concatenate(xs)
    cols = [np.zeros_like(x), np.log(2 * (1 - x) + 1e-300)]
    cols += [np.log(k + 1) + k * np.log(x) for k in ks]
    origin = np.repeat(np.arange(len(xs)), n_pool)
    mu = {"flat_er": mu_a, "solar_nu_er": mu_b}
    mu |= {default_label(f"wimp:mass={m:g}"): 1e46 * 1e-45 * 20 for m in masses}
    return synthetic_pool(mu, np.stack(cols, 1), origin)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--masses", type=int, default=10, help="number of WIMP masses")
    ap.add_argument("--toys", type=int, default=1000, help="toys per tested signal strength")
    ap.add_argument("--grid", type=int, default=12, help="tested signal strengths per mass")
    ap.add_argument("--toys-per-task", type=int, default=250)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--executors", default="local,dask")
    args = ap.parse_args()

    import jax

    import darkfit
    from darkfit.inference.campaign import make_executor
    from darkfit.inference.sensitivity import SensitivityConfig, run_sensitivity

    masses = tuple(float(m) for m in np.geomspace(10, 1000, args.masses).round(1))
    pool = synthetic_pool(masses)
    cfg = SensitivityConfig(
        detector="xenon1t", masses=masses, exposures=(1.0,),
        backgrounds=("flat_er", "solar_nu_er"), n_toys=args.toys, toys_per_task=args.toys_per_task,
        n_grid=args.grid, bkg_uncertainty=0.1,
    )  # fmt: skip
    n_fits = args.masses * args.toys * (args.grid * 3 + (args.grid + 2))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}")
    print(f"versions: Python {platform.python_version()}, jax {jax.__version__}, "
          f"numpy {np.__version__}, darkfit {darkfit.__version__}")  # fmt: skip
    print(f"curve: {args.masses} masses, {args.grid} tested s, {args.toys} toys each "
          f"(+{args.toys} background-only), ~{n_fits:.3g} fits")  # fmt: skip
    tables = {}
    for kind in args.executors.split(","):
        out = Path(tempfile.mkdtemp(prefix=f"bench_sens_{kind}_"))
        ex = make_executor(kind, n_workers=args.workers)
        try:
            t0 = time.perf_counter()
            tables[kind] = run_sensitivity(cfg, out, pool=pool, executor=ex, show_progress=True)
            dt = time.perf_counter() - t0
        finally:
            ex.close()
            shutil.rmtree(out, ignore_errors=True)
        print(f"{kind:>9}: {dt:8.1f} s wall ({args.workers} workers)")
    ref = next(iter(tables.values()))
    same = all(t.equals(ref) for t in tables.values())
    print(f"identical tables across executors: {same}")
    print(ref[["mass_gev", "sigma_median", "sigma_m1", "sigma_p1", "disc3_sigma"]].to_string())


if __name__ == "__main__":
    main()
