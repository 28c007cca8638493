"""Each source's (s1, s2) distribution in the pull-study model, at the likelihood's defaults,
against 10^7 simulated events: a chi2 per source.

The density of a source in a likelihood with several sources is evaluated at the parameters
that likelihood passes (its ``defaults()``, what every fit starts from), not at the model's
own: a check that caught the NR model running with ER's recombination widths (parameters of
the same name; fixed in 5c5d5ec: NR chi2 2834 / 116 before, ~126 / 116 after). Model bin
contents: int f(s1, s2 | z) over each bin by Simpson's rule (``--per-bin`` intervals per bin
and axis), averaged over z by Gauss-Legendre (``--z-nodes``), divided by P(ROI); bins with
more than 20 expected events enter the chi2. Prints the pull map of each source.

    python validation/source_shape_check.py --n 10000000 \\
        | tee docs/validation/source_shape_check.txt
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

S1_EDGES = np.array([2, 3, 4, 6, 9, 12, 15, 18, 21, 25, 30, 35, 40, 45, 50, 60, 70.0])  # phd
N_S2_BINS = 24  # log-spaced over the S2 ROI


def model_bins(det, sources, per_bin: int, z_nodes: int) -> dict[str, np.ndarray]:
    """{source: expected fraction of its in-ROI events per (s1, s2) bin} at lik.defaults()."""
    import jax
    import pandas as pd
    from scipy.integrate import simpson

    from darkfit.likelihood.unbinned import UnbinnedLikelihood
    from darkfit.model import acceptance

    roi = det.roi
    u_edges = np.linspace(np.log(roi.s2_min), np.log(roi.s2_max), N_S2_BINS + 1)
    s1g = np.concatenate(
        [np.linspace(a, b, per_bin + 1)[:-1] for a, b in itertools.pairwise(S1_EDGES)]
        + [S1_EDGES[-1:]]
    )
    ug = np.linspace(u_edges[0], u_edges[-1], N_S2_BINS * per_bin + 1)
    zn, wn = acceptance.gauss_legendre(det.fiducial.z_min_cm, det.fiducial.z_max_cm, z_nodes)
    s1m, um = np.meshgrid(s1g, ug, indexing="ij")
    # every z node's grid in one table: one likelihood, one evaluation per source
    grid = pd.DataFrame(
        {
            "s1": np.tile(s1m.ravel(), z_nodes),
            "s2": np.tile(np.exp(um.ravel()), z_nodes),
            "x": 0.0,
            "y": 0.0,
            "z": np.repeat(zn, s1m.size),
        }
    )
    lik = UnbinnedLikelihood(det, sources, grid, 1.0)
    theta = lik.defaults()
    out = {}
    for s in sources:
        m = lik.models[s.name]
        t = lik._shape_theta(theta, m)
        logf = jax.jit(lambda t, m=m: m.log_density(t, lik.data, lik.sizes[m.source.name]))(t)
        f = np.exp(np.asarray(logf)).reshape(z_nodes, *s1m.shape)
        f = np.tensordot(wn, f, axes=1) * np.exp(um)  # z average; ds2 = s2 du
        bins = np.zeros((len(S1_EDGES) - 1, N_S2_BINS))
        for i in range(bins.shape[0]):
            a = slice(i * per_bin, (i + 1) * per_bin + 1)
            for j in range(N_S2_BINS):
                b = slice(j * per_bin, (j + 1) * per_bin + 1)
                bins[i, j] = simpson(simpson(f[a, b], x=ug[b], axis=1), x=s1g[a])
        out[s.name] = bins / float(m.roi_fraction(t))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000_000, help="simulated events per source")
    ap.add_argument("--per-bin", type=int, default=8, help="Simpson intervals per bin and axis")
    ap.add_argument("--z-nodes", type=int, default=16)
    a = ap.parse_args()
    from scipy.stats import chi2
    from toy_pulls import build

    from darkfit.model.simulate import simulate_source

    det, sources, _ = build(n_ref=300)
    expected = model_bins(det, sources, a.per_bin, a.z_nodes)
    s2_edges = np.exp(np.linspace(np.log(det.roi.s2_min), np.log(det.roi.s2_max), N_S2_BINS + 1))
    chunk = 2_000_000
    for i, s in enumerate(sources):
        h, n_roi = np.zeros_like(expected[s.name]), 0
        for k in range(max(1, a.n // chunk)):
            ev = simulate_source(det, s, min(a.n, chunk), [777, i, k])
            ev = ev[ev.in_roi]
            n_roi += len(ev)
            h += np.histogram2d(ev.s1, ev.s2, [S1_EDGES, s2_edges])[0]
        exp = expected[s.name] * n_roi
        used = exp > 20
        pull = np.where(used, (h - exp) / np.sqrt(np.where(used, exp, 1.0)), np.nan)
        x2 = float(np.nansum(pull**2))
        print(f"{s.name}: chi2 {x2:.1f} / {used.sum()} bins, p = {chi2.sf(x2, used.sum()):.3g}")
        print("  pulls; rows: S1 from [phd]; columns: S2 from [phd]:")
        print("        " + " ".join(f"{e:5.0f}" for e in s2_edges[:-1]))
        for row, e in zip(pull, S1_EDGES, strict=False):
            cells = " ".join("    ." if np.isnan(x) else f"{x:5.1f}" for x in row)
            print(f"  {e:5.0f} {cells}", flush=True)


if __name__ == "__main__":
    main()
