"""Per-event densities against mu: does each source's f integrate to its P(ROI)?

Model of the toy pull study (``validation/toy_pulls.py``). In an extended likelihood with
several sources, a rate-free fit of ONE source does not see a constant factor on its per-event
density f (the rate absorbs it), but a mixture does: the events shared between the sources are
split by lambda_j f_j, the counts by lambda_j P_j(ROI). This checks int_ROI f_k = P_k(ROI) by
importance sampling: n simulated in-ROI events of each source (a 50/50 mixture with density
q = (f_ER / P_ER + f_NR / P_NR) / 2 if the model is right) give E[f_k / q] = P_k(ROI); the
ratio printed should be 1 within its error. (The two ratios are anti-correlated: their
q-weighted average is 1 by construction.)

    python validation/density_normalisation_check.py --n 1200000 \\
        | tee docs/validation/density_normalisation_check.txt
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400_000, help="in-ROI events per source")
    a = ap.parse_args()
    import jax
    import pandas as pd
    from toy_pulls import build

    from darkfit.likelihood.unbinned import UnbinnedLikelihood
    from darkfit.model.simulate import simulate_source

    det, sources, _ = build(n_ref=300)
    evs = []
    for i, src in enumerate(sources):
        ev = simulate_source(det, src, int(a.n / 0.85), [4242, i])
        evs.append(ev[ev.in_roi].iloc[: a.n])
        assert len(evs[-1]) == a.n
    lik = UnbinnedLikelihood(det, sources, pd.concat(evs, ignore_index=True), 1.0)
    th = lik.defaults()
    f, p_roi = {}, {}
    for s in sources:
        m = lik.models[s.name]
        t = lik._shape_theta(th, m)
        p_roi[s.name] = float(m.roi_fraction(t))
        logf = jax.jit(lambda t, m=m, s=s: m.log_density(t, lik.data, lik.sizes[s.name]))(t)
        f[s.name] = np.exp(np.asarray(logf))
    q = sum(0.5 * f[k] / p_roi[k] for k in f)
    for k in f:
        w = f[k] / q
        err = w.std() / np.sqrt(w.size)
        print(
            f"{k}: P(ROI) of mu {p_roi[k]:.6f}; E[f/q] {w.mean():.6f} +- {err:.6f}; "
            f"ratio {w.mean() / p_roi[k]:.5f} +- {err / p_roi[k]:.5f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
