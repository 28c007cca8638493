"""Per-event densities against mu: does each source's f integrate to its P(ROI)?

Model of the toy pull study (``validation/toy_pulls.py``). In an extended likelihood with
several sources, a rate-free fit of ONE source does not see a constant factor on its per-event
density f (the rate absorbs it), but a mixture does: the events shared between the sources are
split by lambda_j f_j, the counts by lambda_j P_j(ROI). This checks int_ROI f_k = P_k(ROI) by
importance sampling: n simulated in-ROI events of each source (a 50/50 mixture with density
q = (f_ER / P_ER + f_NR / P_NR) / 2 if the model is right) give E[f_k / q] = P_k(ROI); the
ratio printed should be 1 within its error. (The two ratios are anti-correlated: their
q-weighted average is 1 by construction.) The same, event by event with the truth: the model's
P(ER | x) must be the fraction of ER among events with that probability; printed as
sum(truth - P(ER | x)) over ranges of P(ER | x), each with its standard deviation.

History: before 5c5d5ec this gave 0.99746 +- 0.00060 (ER) and 1.00254 +- 0.00060 (NR), 4.2
sigma, at --n 1200000: the NR model ran with ER's recombination-width (omega) parameters when
both sources were in one likelihood (a shared parameter name).

    python validation/density_normalisation_check.py --n 1200000 \\
        | tee docs/validation/density_normalisation_check.txt
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400_000, help="in-ROI events per source")
    ap.add_argument("--seed", type=int, default=4242, help="simulation seed")
    a = ap.parse_args()
    import jax
    import pandas as pd
    from toy_pulls import build

    from darkfit.likelihood.unbinned import UnbinnedLikelihood
    from darkfit.model.simulate import simulate_source

    det, sources, _ = build(n_ref=300)
    evs = []
    for i, src in enumerate(sources):
        ev = simulate_source(det, src, int(a.n / 0.85), [a.seed, i])
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
    # the same test event by event, with the truth: P(ER | x) = f_ER/P_ER / (2 q) must be the
    # fraction of ER among events like x, in every range of P(ER | x)
    post = 0.5 * f["er"] / p_roi["er"] / q
    truth = np.repeat([1.0, 0.0], a.n)
    edges = [0, 0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.98, 1]
    print("P(ER | x) range: sum(truth - P(ER | x)) +- its standard deviation")
    for lo, hi in [(0, 1), *itertools.pairwise(edges)]:
        sel = (post >= lo) & ((post < hi) | (hi == 1))
        res, sd = (truth - post)[sel].sum(), np.sqrt((post * (1 - post))[sel].sum())
        print(f"  [{lo:.2f}, {hi:.2f}]: {res:8.1f} +- {sd:6.1f}  ({res / sd:+.1f} sigma)")


if __name__ == "__main__":
    main()
