"""Benchmark: batched toy fits with two shape parameters (g2, NEST alpha) floating.

Model: the flamedisx detector geometry with NEST quanta (electron lifetime 2000 us, as in
``validation/toy_pulls.py``), three sources -- flat ER background (rate constrained to 10%),
radiogenic neutrons scaled up to ~20 events per toy (free) and a 50 GeV WIMP (signal,
>= 0) -- 0.6 tonne-years, ~100 events per toy. Shape parameters: g2 (Gaussian constraint,
3% of g2, a typical calibration uncertainty -- our assumption) and the NEST NR total-yield
parameter alpha (constraint width 1.0: NEST v2 quotes alpha = 11.0 +2.0/-0.5, Szydagis et al.
arXiv:2211.10726; symmetrised to its smaller side x 2 -- our assumption).

Steps, one run, printed and written as JSON:

1. build the morphed pool (:func:`darkfit.inference.morphing.build_morphed_pool`): exact
   densities at the 3^2 anchors, timed;
2. interpolation error of the quadratic against the exact model at off-anchor points;
3. batched fits of ``--toys`` toys (signal free; compile excluded, reported), fits/s;
4. the same toys' morphed NLL minimised one by one with iminuit MIGRAD (jitted NLL and
   gradient): fits/s and agreement;
5. ``--exact-toys`` toys fitted with the exact model (``UnbinnedLikelihood``, same events,
   same constraints, JAX Newton fit): the morphed fit's error on each fitted parameter in
   units of its Hessian error.

    python benchmarks/bench_shape_toys.py [--pool 1000] [--toys 2048] [--iminuit-toys 50]
        [--exact-toys 3] [--out docs/validation/shape_toys.json]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import time

SOURCES = {"er": "flat_er", "nr": "neutrons:scale=5000", "wimp": "wimp:mass=50"}
EXPOSURE = 0.6  # tonne-years
TRUTH = {"er": 1.0, "nr": 1.0, "wimp": 0.1}  # multipliers (WIMP: 1e-46 cm^2)
ER_SIGMA = 0.1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=1000)
    ap.add_argument("--toys", type=int, default=2048)
    ap.add_argument("--iminuit-toys", type=int, default=50)
    ap.add_argument("--exact-toys", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--pool-cache",
        default=None,
        help="pickle of the morphed pool: loaded if present (its build time is the one stored),"
        " written after a build",
    )
    args = ap.parse_args()

    import iminuit
    import jax
    import numpy as np
    from iminuit import Minuit

    import darkfit
    from darkfit.detector import load_detector
    from darkfit.inference.morphing import (
        build_morphed_pool,
        fit_morphed,
        morphed_nll,
        morphing_error,
    )

    det = load_detector("flamedisx").with_updates(quanta_model="nest", electron_lifetime_us=2000.0)
    shapes = {"g2": 0.03 * det.g2, "alpha": 1.0}
    res: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}",
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "iminuit": iminuit.__version__,
            "darkfit": darkfit.__version__,
        },
        "sources": SOURCES,
        "exposure_tonne_year": EXPOSURE,
        "shapes_sigma": shapes,
    }
    if args.pool_cache and os.path.exists(args.pool_cache):
        with open(args.pool_cache, "rb") as fh:
            mp, res["pool_build_s"] = pickle.load(fh)
        res["pool_loaded_from"] = args.pool_cache
    else:
        t0 = time.perf_counter()
        mp = build_morphed_pool(det, SOURCES, shapes, args.pool, seed=args.seed, show_progress=True)
        res["pool_build_s"] = time.perf_counter() - t0
        if args.pool_cache:
            with open(args.pool_cache, "wb") as fh:
                pickle.dump((mp, res["pool_build_s"]), fh)
    res["pool_events"] = len(mp.events)
    res["anchor_residual_max"] = dict(zip(mp.labels, mp.anchor_residual.tolist(), strict=True))
    print(f"pool: {len(mp.events)} events, built in {res['pool_build_s']:.0f} s")

    rng = np.random.default_rng(args.seed)
    sub = rng.choice(len(mp.events), size=min(300, len(mp.events)), replace=False)
    res["morphing_error"] = {}
    for u in ([0.7, 0.0], [0.0, 0.7], [0.7, -1.1], [-2.0, 2.0]):
        e = morphing_error(mp, det, u, sub)
        a = np.abs(e["log_total"])
        res["morphing_error"][str(u)] = {
            "log_total_abs_p50": float(np.median(a)),
            "log_total_abs_p99": float(np.percentile(a, 99)),
            "log_total_abs_max": float(a.max()),
            "log_mu": dict(zip(mp.labels, e["log_mu"].tolist(), strict=True)),
        }
        print(f"morphing error at u={u}: {res['morphing_error'][str(u)]}")

    truth = np.array([TRUTH[k] for k in mp.labels])
    mu = mp.mu_per_tyr([0.0, 0.0]) * EXPOSURE * truth
    res["toy_means"] = dict(zip(mp.labels, mu.tolist(), strict=True))
    toys = mp.pool.draw(rng, mu, args.toys)
    # global observables fluctuated as in a real campaign
    c = np.ones((args.toys, 3))
    c[:, mp.labels.index("er")] = rng.normal(1.0, ER_SIGMA, args.toys)
    a_obs = rng.normal(0.0, 1.0, (args.toys, 2))
    kw = dict(poi="wimp", rate_sigma={"er": ER_SIGMA}, rate_centres=c, shape_centres=a_obs)
    t0 = time.perf_counter()
    fit_morphed(mp, toys, EXPOSURE, **kw)
    res["batched_compile_and_first_s"] = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        fit = fit_morphed(mp, toys, EXPOSURE, **kw)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    res["batched"] = {
        "toys": args.toys,
        "median_s": med,
        "fits_per_s": args.toys / med,
        "failed": fit.n_failed,
        "n_iter_median": float(np.median(fit.n_iter)),
        "n_iter_max": int(fit.n_iter.max()),
    }
    print(f"batched: {res['batched']}")

    m_toys = min(args.iminuit_toys, args.toys)
    dn, dz, valid = [], [], 0
    f, g = morphed_nll(mp, toys, EXPOSURE, 0, {"er": ER_SIGMA}, c[0], a_obs[0])
    f(np.r_[c[0], a_obs[0]]), g(np.r_[c[0], a_obs[0]])  # compile once, outside the timing
    t0 = time.perf_counter()
    for t in range(m_toys):
        f, g = morphed_nll(mp, toys, EXPOSURE, t, {"er": ER_SIGMA}, c[t], a_obs[t])
        m = Minuit(as_numpy(f, float), np.r_[c[t], a_obs[t]], grad=as_numpy(g, np.asarray))
        m.errordef = Minuit.LIKELIHOOD
        m.limits = [(0, None)] * 3 + [(-3, 3)] * 2
        m.migrad()
        valid += m.valid
        dn.append(m.fval - fit.nll[t, 0])
        dz.append(np.abs(np.array(m.values) - np.r_[fit.x[t, 0], fit.u[t, 0]]).max())
    wall = time.perf_counter() - t0
    res["iminuit"] = {
        "toys": m_toys,
        "wall_s": wall,
        "fits_per_s": m_toys / wall,
        "valid": valid,
        "nll_minuit_minus_darkfit_range": [float(min(dn)), float(max(dn))],
        "max_abs_param_diff": float(max(dz)),
    }
    res["ratio_batched_over_iminuit"] = res["batched"]["fits_per_s"] / res["iminuit"]["fits_per_s"]
    print(f"iminuit: {res['iminuit']}; ratio {res['ratio_batched_over_iminuit']:.1f}x")

    res["exact"] = exact_comparison(det, mp, toys, args.exact_toys)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1, default=float)
    print(json.dumps({k: v for k, v in res.items() if k != "exact"}, indent=1, default=float))


def as_numpy(fn, convert):
    """A one-argument numpy wrapper of a jitted function (what iminuit introspects)."""
    import numpy as np

    return lambda z: convert(fn(np.asarray(z)))


def exact_comparison(det, mp, toys, n_toys: int) -> list[dict]:
    """How far is the morphed best fit from the exact one? For the first toys (nominal global
    observables): the exact likelihood's gradient g at the morphed best fit (frozen-S1 path,
    as in ``validation/toy_pulls.py``) and the morphed NLL's Hessian H there give the Newton
    step to the exact minimum, dz = -H^-1 g (accurate when dz is small); reported per
    parameter in units of its error sqrt((H^-1)_kk). (A full exact fit with alpha floating
    needed > 20 GB for the Hessian on this pool's windows and was OOM-killed.)"""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from darkfit.inference.event_pool import Toys, make_source
    from darkfit.inference.morphing import fit_morphed, morphed_nll
    from darkfit.likelihood.padded import PaddedLikelihood
    from darkfit.likelihood.unbinned import Constraint, UnbinnedLikelihood

    sources = [make_source(SOURCES[k], k) for k in mp.labels]
    cons = {
        "er_rate": Constraint(1.0, ER_SIGMA),
        **{k: Constraint(float(mp.nominal[i]), float(mp.sigma[i])) for i, k in enumerate(mp.names)},
    }
    # window sizes from the whole pool: they cover every toy's events
    lik = UnbinnedLikelihood(det, sources, mp.events, EXPOSURE, constraints=cons)
    plik = PaddedLikelihood(lik, n_max=toys.mask.shape[1])
    first = Toys(*(v[:n_toys] for v in toys))
    morph = fit_morphed(mp, first, EXPOSURE, poi="wimp", rate_sigma={"er": ER_SIGMA})
    free = [f"{k}_rate" for k in mp.labels] + list(mp.names)
    truth = lik.defaults()
    scale = np.r_[np.ones(len(mp.labels)), mp.sigma]  # z = (m, u) -> parameter units
    shift = np.r_[np.zeros(len(mp.labels)), mp.nominal]

    def exact_nll(z, data, mask, states):
        th = {**truth, **dict(zip(free, z * scale + shift, strict=True))}
        return plik.nll_s1_frozen(th, data, mask, states)

    exact_vg = jax.jit(jax.value_and_grad(exact_nll))
    out = []
    for t in range(n_toys):
        ev = mp.events.iloc[toys.index[t][toys.mask[t]]].reset_index(drop=True)
        data, mask = plik.pad(ev)
        z = np.r_[morph.x[t, 0], morph.u[t, 0]]
        f, _ = morphed_nll(mp, first, EXPOSURE, t, {"er": ER_SIGMA})
        t0 = time.perf_counter()
        states = plik.s1_states(truth, data)
        _, g = exact_vg(jnp.asarray(z), data, mask, states)
        g = np.asarray(g)
        h = np.asarray(jax.hessian(f)(jnp.asarray(z)))
        at_bound = z[: len(mp.labels)] <= 0.0  # a rate on its bound (signal 0) is held
        keep = np.r_[~at_bound, np.ones(len(mp.names), bool)]
        cov = np.zeros_like(h)
        cov[np.ix_(keep, keep)] = np.linalg.inv(h[np.ix_(keep, keep)])
        dz = -cov @ g
        err = np.sqrt(np.diag(cov))
        row = {
            "toy": t,
            "n_events": len(ev),
            "exact_grad_s": time.perf_counter() - t0,
            "morphed_fit": dict(zip(free, (z * scale + shift).tolist(), strict=True)),
            "shift_in_sigma": {k: float(dz[i] / err[i]) for i, k in enumerate(free) if keep[i]},
        }
        print(f"exact toy {t}: {row}", flush=True)
        out.append(row)
    return out


if __name__ == "__main__":
    main()
