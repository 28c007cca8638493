"""Does the 4-parameter fit of the flamedisx benchmark reach the true minimum?

The benchmark fit (benchmarks/bench_likelihood.py --fit: 1000 events of flamedisx's default
ER + NR sources, rates, electron lifetime and g2 free) starts at the model's defaults. Here
the same fit is started from two distant points, and the likelihood is also minimised by
iminuit's MIGRAD (same frozen-S1 likelihood, JAX gradient): all must agree on the minimum.

    python validation/fit_minimum_check.py --events /work/fd-run/mix10000.parquet
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", required=True, help="flamedisx-simulated events (Parquet)")
    ap.add_argument("--n", type=int, default=1000)
    a = ap.parse_args()
    import pandas as pd

    import darkfit  # noqa: F401  (float64, compilation cache)
    from darkfit.detector import load_detector
    from darkfit.inference.fit import fit_likelihood, fit_minuit
    from darkfit.likelihood.frozen import FrozenS1Likelihood
    from darkfit.likelihood.unbinned import UnbinnedLikelihood
    from darkfit.model.sources import Source
    from darkfit.physics.spectra import LineSpectrum

    det = load_detector("flamedisx")
    # flamedisx's default sources: ER 1000 lines on 0-10 keV, NR 100 lines on 0.7-150 keV
    er = Source("er", LineSpectrum(np.linspace(0, 10, 1000), np.ones(1000), recoil_type="er"))
    nr = Source("nr", LineSpectrum(np.linspace(0.7, 150, 100), np.ones(100), recoil_type="nr"))
    ev = pd.read_parquet(a.events)
    roi = det.roi
    ok = ev.s1.between(roi.s1_min, roi.s1_max) & ev.s2.between(roi.s2_min, roi.s2_max)
    ev = ev[ok].iloc[: a.n].reset_index(drop=True)
    lik = UnbinnedLikelihood(det, [er, nr], ev, 1.0)
    free = ["er_rate", "nr_rate", "electron_lifetime_us", "g2"]
    bounds = {
        "er_rate": (0.01, 100),
        "nr_rate": (0.001, 1000),
        "electron_lifetime_us": (100, 800),
        "g2": (15, 25),
    }
    starts = [
        {"er_rate": 1.0, "nr_rate": 1.0, "electron_lifetime_us": 452.0, "g2": 19.2},
        {"er_rate": 0.5, "nr_rate": 5.0, "electron_lifetime_us": 650.0, "g2": 22.0},
        {"er_rate": 2.0, "nr_rate": 0.3, "electron_lifetime_us": 300.0, "g2": 17.0},
    ]
    results = []
    for start in starts:
        t0 = time.perf_counter()
        r = fit_likelihood(lik, free, start, bounds)
        results.append(r)
        print(f"Newton from {start}: {time.perf_counter() - t0:.1f} s, valid {r.valid},")
        print(f"  NLL {r.nll:.6f}, { ({k: round(r.values[k], 5) for k in free}) }")
    fz = FrozenS1Likelihood(lik, results[0].values)
    t0 = time.perf_counter()
    m = fit_minuit(lambda th: -fz.log_likelihood(th), starts[0], free, bounds)
    print(f"MIGRAD from the defaults: {time.perf_counter() - t0:.1f} s, valid {m.valid},")
    print(f"  NLL {m.nll:.6f}, { ({k: round(m.values[k], 5) for k in free}) }")
    print(f"  MIGRAD's minimum inside the frozen electron grids: {fz.covers(m.values)}")
    spread = max(r.nll for r in results) - min(r.nll for r in results)
    diff = m.nll - results[0].nll
    print(f"Newton NLL spread over starts {spread:.2e}; MIGRAD - Newton {diff:.2e}")


if __name__ == "__main__":
    main()
