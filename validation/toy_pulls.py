"""Toy study of the unbinned fit: pulls of two rates, g2 and a NEST NR yield parameter.

Each toy is a Poisson dataset simulated by darkfit's own simulator at the true parameters
(the model's defaults: rate multipliers 1, detector g2, NEST alpha), fitted with the JAX
Newton fit (exact autodiff Hessian, errors from its inverse). For an unbiased, efficient
estimator the pulls
(fit - truth) / error are N(0, 1): mean 0 +- 0.1 and width 1 +- 0.1 is the issue's criterion
(the statistical uncertainty of each with 100 toys is 0.1 and 0.07). On the first
``--minos`` toys the Hessian errors are compared with iminuit MINOS intervals on the same
likelihood.

    python validation/toy_pulls.py --toys 100 --minos 5 --out docs/validation/toy_pulls.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np


def build(n_ref: int = 3000, seed: int = 1000):
    from darkfit.detector import load_detector
    from darkfit.likelihood.padded import PaddedLikelihood
    from darkfit.likelihood.unbinned import UnbinnedLikelihood
    from darkfit.model.simulate import simulate
    from darkfit.model.sources import Source
    from darkfit.physics.spectra import FlatSpectrum

    # the flamedisx geometry/response with NEST quanta; a long electron lifetime keeps the
    # quanta tables small (fast toys), the physics of the test does not depend on it
    det = load_detector("flamedisx").with_updates(quanta_model="nest", electron_lifetime_us=2000.0)
    sources = [
        Source("er", FlatSpectrum(32.0, 0.5, 10.0, "er")),
        Source("nr", FlatSpectrum(100.0 / 29.0, 1.0, 30.0, "nr")),
    ]
    ref = simulate(det, sources, n_events=[n_ref, n_ref // 2], seed=seed)
    ref = ref[ref.in_roi].reset_index(drop=True)
    lik = UnbinnedLikelihood(det, sources, ref, 1.0)
    return det, sources, PaddedLikelihood(lik, n_max=600)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toys", type=int, default=100)
    ap.add_argument("--minos", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--free",
        default="er_rate,nr_rate,g2,alpha",
        help="free parameters (alpha is the NEST NR yield parameter; with it free the NR quanta"
        " table is recomputed and differentiated at every step: ~6 s per toy fit on 2 cores,"
        " several times the cost without it)",
    )
    a = ap.parse_args()
    import jax
    from rich.progress import track

    import darkfit
    from darkfit.inference.fit import fit, fit_minuit
    from darkfit.model.simulate import simulate

    det, sources, plik = build()
    lik = plik.likelihood
    truth = lik.defaults()
    free = a.free.split(",")
    bounds = {
        "er_rate": (0.2, 5.0),
        "nr_rate": (0.05, 10.0),
        "g2": (0.7 * truth["g2"], 1.3 * truth["g2"]),
        "alpha": (0.5 * truth["alpha"], 1.5 * truth["alpha"]),
    }
    start = {k: truth[k] for k in free}
    rows, minos_rows, t0 = [], [], time.perf_counter()
    datasets = {}
    for i in track(range(a.toys), description="toy fits"):
        toy = simulate(det, sources, 1.0, seed=a.seed + i)
        data, mask = plik.pad(toy[toy.in_roi])
        t_fit = time.perf_counter()
        states = plik.s1_states(truth, data)  # S1 side once per toy (g1 is not free)
        res = fit(plik.nll_s1_frozen, start, free, bounds, args=(data, mask, states))
        print(f"toy {i}: {time.perf_counter() - t_fit:.1f} s, {res.n_iter} iterations", flush=True)
        rows.append(
            {
                "toy": i,
                "n_events": int(mask.sum()),
                "valid": res.valid,
                "fit_s": time.perf_counter() - t_fit,
                **{f"{k}_fit": res.values[k] for k in free},
                **{f"{k}_err": res.errors[k] for k in free},
                **{f"{k}_pull": (res.values[k] - truth[k]) / res.errors[k] for k in free},
            }
        )
        if i < a.minos:
            datasets[i] = (data, mask, states, res)
        if a.out:  # checkpoint: partial results survive an interrupted study
            with open(a.out + ".partial", "w") as fh:
                json.dump(rows, fh)
    for i, (data, mask, states, res) in datasets.items():
        m = fit_minuit(
            plik.nll_s1_frozen, start, free, bounds, args=(data, mask, states), minos=True
        )
        minos_rows.append(
            {
                "toy": i,
                **{f"{k}_hesse": res.errors[k] for k in free},
                **{f"{k}_minos": list(m.minos[k]) for k in free},
            }
        )
        print(f"MINOS toy {i}: {minos_rows[-1]}", flush=True)
    wall = time.perf_counter() - t0
    valid = [r for r in rows if r["valid"]]
    summary = {"toys": a.toys, "valid": len(valid), "wall_s": wall}
    for k in free:
        p = np.array([r[f"{k}_pull"] for r in valid])
        summary[k] = {
            "pull_mean": float(p.mean()),
            "pull_mean_err": float(p.std(ddof=1) / np.sqrt(p.size)),
            "pull_width": float(p.std(ddof=1)),
            "pull_width_err": float(p.std(ddof=1) / np.sqrt(2 * (p.size - 1))),
        }
    for r in minos_rows:
        r["max_rel_diff"] = max(
            abs((abs(lo) + hi) / 2 / r[f"{k}_hesse"] - 1)
            for k in free
            for lo, hi in [r[f"{k}_minos"]]
        )
    out = {
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "versions": {"darkfit": darkfit.__version__, "jax": jax.__version__},
        "summary": summary,
        "minos": minos_rows,
        "toys": rows,
    }
    print(json.dumps({"summary": summary, "minos": minos_rows}, indent=1))
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
