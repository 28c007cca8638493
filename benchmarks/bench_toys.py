"""Benchmark: batched (vmapped) toy fits of rate multipliers vs a one-by-one iminuit loop.

The rate-only unbinned model of :mod:`darkfit.inference.rate_fit`: 3 sources on a 1-D
observable in [0, 10] (Gaussian signal, flat background constrained to 10%, rising-linear
background free), ~100 events per toy (expected 8 + 60 + 30), toys drawn from a pool
(:func:`darkfit.inference.toys.pool_toys`). Every toy gets an unconditional fit (signal >= 0,
both backgrounds floating). The same toys are fitted by

* darkfit: :func:`~darkfit.inference.rate_fit.fit_rates` (one jitted, vmapped batch; compile
  time reported separately and excluded from the rate);
* iminuit: MIGRAD per toy on a numpy NLL with its analytic gradient (the usual loop).

    python benchmarks/bench_toys.py [--toys 4096] [--iminuit-toys 200] [--repeats 5]

Prints the machine, versions, median wall times and toy fits per second of each, their
ratio, and the largest difference between the two fits' NLL and multipliers.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toys", type=int, default=4096)
    ap.add_argument("--iminuit-toys", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import iminuit
    import jax
    import numpy as np
    from iminuit import Minuit
    from scipy import stats

    import darkfit
    from darkfit.inference.rate_fit import RateModel, fit_rates
    from darkfit.inference.toys import pool_toys

    rng = np.random.default_rng(args.seed)
    n_pool = 200_000
    x = np.r_[
        rng.normal(5, 0.5, n_pool), rng.uniform(0, 10, n_pool), 10 * np.sqrt(rng.random(n_pool))
    ]
    pool = np.column_stack(
        [stats.norm.logpdf(x, 5, 0.5), np.full(x.size, -np.log(10)), np.log(x / 50)]
    )
    origin = np.repeat([0, 1, 2], n_pool)
    mu = np.array([8.0, 60.0, 30.0])
    sigma = np.array([np.inf, 0.1, np.inf])
    model = RateModel(mu, poi=0, constraint_sigma=sigma)
    data, counts = pool_toys(
        rng, pool, origin, mu, args.toys, n_max=192, x_true=[1, 1, 1], constraint_sigma=sigma
    )

    t0 = time.perf_counter()
    fit = fit_rates(model, data)
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        fit = fit_rates(model, data)
        times.append(time.perf_counter() - t0)
    t_batch = statistics.median(times)

    def one(t):
        p = np.exp(data.log_p[t][data.weights[t] > 0]) * mu
        c = data.centres[t, 1]

        def nll(m):
            return m @ mu - np.sum(np.log(p @ m)) + 0.5 * ((m[1] - c) / 0.1) ** 2

        def grad(m):
            g = mu - p.T @ (1.0 / (p @ m))
            g[1] += (m[1] - c) / 0.01
            return g

        mn = Minuit(nll, np.ones(3), grad=grad)
        mn.errordef = Minuit.LIKELIHOOD
        mn.limits = [(0, None)] * 3
        mn.migrad()
        return np.array(mn.values), mn.fval, mn.valid

    n_im = min(args.iminuit_toys, args.toys)
    im_times, res = [], []
    for _ in range(max(1, args.repeats // 2)):
        t0 = time.perf_counter()
        res = [one(t) for t in range(n_im)]
        im_times.append(time.perf_counter() - t0)
    t_im = statistics.median(im_times)
    dx = max(np.max(np.abs(r[0] - fit.x[t])) for t, r in enumerate(res))
    diff = np.array([r[1] - fit.nll[t] for t, r in enumerate(res)])  # iminuit - darkfit

    rate_batch = args.toys / t_batch
    rate_im = n_im / t_im
    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
          f"affinity={len(os.sched_getaffinity(0))} load={os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"python {platform.python_version()}  darkfit {darkfit.__version__}  "
          f"jax {jax.__version__} ({jax.default_backend()})  iminuit {iminuit.__version__}  "
          f"numpy {np.__version__}")  # fmt: skip
    print(
        f"toys: {args.toys}, events/toy mean {counts.sum(1).mean():.1f} (padded to "
        f"{data.log_p.shape[1]}), sources 3, free: signal, 2 backgrounds (1 constrained)"
    )
    print(
        f"darkfit batched: compile+first {compile_s:.2f} s; median {t_batch:.3f} s over "
        f"{args.repeats} -> {rate_batch:,.0f} fits/s; failed {fit.n_failed}; "
        f"iterations median {np.median(fit.n_iter):.0f}, max {fit.n_iter.max()}"
    )
    print(
        f"iminuit loop ({n_im} toys): median {t_im:.3f} s -> {rate_im:,.0f} fits/s; "
        f"invalid {sum(not r[2] for r in res)}"
    )
    print(f"ratio batched / iminuit: {rate_batch / rate_im:.1f}x")
    print(f"agreement on the iminuit toys (MIGRAD default tolerance): max |dx| {dx:.2e}; "
          f"NLL_iminuit - NLL_darkfit in [{diff.min():.2e}, {diff.max():.2e}] "
          f"(> 0: darkfit found the lower minimum)")  # fmt: skip


if __name__ == "__main__":
    main()
