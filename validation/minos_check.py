"""Hessian errors of the Newton fit against iminuit MINOS intervals, on toys of the pull study.

Same model and toys as ``validation/toy_pulls.py`` (same seeds). Part 1: on ``--toys`` toys,
the fit of the two rates and g2 (NR yield alpha fixed at its true value; cheap, S1 frozen) with
Hessian errors from :func:`darkfit.inference.fit.fit`, and MINOS on all three through iminuit.
Part 2: on toy 0, the four-parameter fit (alpha free) with MINOS on alpha only (MINOS costs
~100 gradient calls per side there). The criterion: where the profile is near-parabolic
(MINOS asymmetry |hi - |lo|| / (hi + |lo|) < 0.1) the Hessian error is within 10% of the
MINOS half-width (hi + |lo|) / 2.

    python validation/minos_check.py --toys 20 --out docs/validation/minos_check.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def compare(res, mres, names):
    out = {}
    for k in names:
        lo, hi = mres.minos[k]
        half = (hi - lo) / 2
        out[k] = {
            "hesse": res.errors[k],
            "minos": [lo, hi],
            "asymmetry": abs(hi + lo) / (hi - lo),
            "hesse_over_minos": res.errors[k] / half,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toys", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-alpha", action="store_true", help="skip part 2")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    from rich.progress import track
    from toy_pulls import build

    from darkfit.inference.fit import fit, fit_minuit
    from darkfit.model.simulate import simulate

    det, sources, plik = build()
    truth = plik.likelihood.defaults()
    bounds = {
        "er_rate": (0.2, 5.0),
        "nr_rate": (0.05, 10.0),
        "g2": (0.7 * truth["g2"], 1.3 * truth["g2"]),
        "alpha": (0.5 * truth["alpha"], 1.5 * truth["alpha"]),
    }
    rows = []
    free3 = ["er_rate", "nr_rate", "g2"]
    start = {**{k: truth[k] for k in free3}, "alpha": truth["alpha"]}
    first = None
    for i in track(range(a.toys), description="MINOS toys"):
        toy = simulate(det, sources, 1.0, seed=a.seed + i)
        data, mask = plik.pad(toy[toy.in_roi])
        states = plik.s1_states(truth, data)
        args = (data, mask, states)
        first = first or args
        res = fit(plik.nll_s1_frozen, start, free3, bounds, args=args)
        mres = fit_minuit(plik.nll_s1_frozen, start, free3, bounds, args=args, minos=True)
        rows.append({"toy": i, "valid": res.valid and mres.valid, **compare(res, mres, free3)})
    summary = {"toys": a.toys}
    for k in free3:
        ok = [r[k] for r in rows if r["valid"] and r[k]["asymmetry"] < 0.1]
        ratios = [r["hesse_over_minos"] for r in ok]
        summary[k] = {
            "near_parabolic": len(ok),
            "max_rel_diff": max(abs(x - 1) for x in ratios) if ratios else None,
        }
    alpha = None
    if not a.no_alpha:
        free4 = [*free3, "alpha"]
        t0 = time.perf_counter()
        res = fit(plik.nll_s1_frozen, start, free4, bounds, args=first)
        mres = fit_minuit(plik.nll_s1_frozen, start, free4, bounds, args=first, minos=["alpha"])
        alpha = {"toy": 0, "wall_s": time.perf_counter() - t0, **compare(res, mres, ["alpha"])}
    out = {"summary": summary, "alpha_free_toy0": alpha, "toys": rows}
    print(json.dumps({"summary": summary, "alpha_free_toy0": alpha}, indent=1))
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
