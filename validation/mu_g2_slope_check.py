"""The g2 slope of mu (P(ROI) per source) against the simulator, by common random numbers.

Model of the toy pull study (``validation/toy_pulls.py``: flamedisx geometry and response,
NEST quanta, ER 0.5-10 keV and NR 1-30 keV flat). Each source is simulated with the same seeds
at g2 -+ 2% (the same random numbers: only the S2 scale changes, so the difference counts
only the events that cross an S2 ROI edge), and the change of the ROI fraction is compared
with the model's exact P(ROI) and its autodiff derivative. A fit's g2 would be biased by
N (error of d ln P / d g2) / (Fisher information of g2).

    python validation/mu_g2_slope_check.py --n 800000 | tee docs/validation/mu_g2_slope_check.txt
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=800_000, help="events per source and g2 point")
    a = ap.parse_args()
    import jax
    from toy_pulls import build

    from darkfit.model.rate_model import SourceRateModel
    from darkfit.model.simulate import simulate_source

    det, sources, _ = build(n_ref=300)
    g0, d = det.g2, 0.02 * det.g2
    for src in sources:
        m = SourceRateModel(det, src)
        frac = {}
        for g in (g0 - d, g0 + d):
            dg = det.with_updates(se_gain=g / det.extraction_efficiency)
            k = sum(
                int(simulate_source(dg, src, a.n // 4, [777, seed]).in_roi.sum())
                for seed in range(4)
            )
            frac[g] = k / a.n
        p0 = float(m.roi_fraction({"g2": g0}))
        grad = float(jax.grad(lambda g, m=m: m.roi_fraction({"g2": g}))(g0))
        slope_mc = (frac[g0 + d] - frac[g0 - d]) / (2 * d)
        # CRN: the difference is made of the events that cross an edge (one way each)
        err = np.sqrt(max(abs(frac[g0 + d] - frac[g0 - d]) * a.n, 1.0)) / a.n / (2 * d)
        print(
            f"{src.name}: P(ROI) model {p0:.6f}, simulation at g2 -+ 2% "
            f"{frac[g0 - d]:.6f} {frac[g0 + d]:.6f} (+- {np.sqrt(p0 * (1 - p0) / a.n):.6f})\n"
            f"{src.name}: d ln P(ROI) / d g2 [1/phd]: model {grad / p0:.4e}, "
            f"simulation {slope_mc / p0:.4e} +- {err / p0:.1e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
