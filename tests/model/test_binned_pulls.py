"""The per-event differential rate, integrated over bins, against a 10^7-event Monte Carlo.

For ER (``flat_er``), NR (``neutrons``) and a 50 GeV WIMP in the ``lz`` preset, the density
f(s1, s2 | z) of :meth:`SourceRateModel.log_density` is integrated numerically over each bin
of an (s1, log s2, drift time) binning that covers the ROI: Gauss-Legendre nodes in s1 and in
ln s2 inside the bin, and in z (uniform over the fiducial height) inside each drift-time bin.
Without position maps f does not depend on r. Since f integrates to the ROI fraction,

    P(bin) = (1 / H) int_z int_bin f(s1, s2 | z) ds1 ds2 dz     (H the fiducial height)

is compared with the fraction of ALL simulated interactions (in and out of the ROI) that pass
the cuts and land in the bin. Checks per source:

* pulls (observed - expected) / sqrt(expected) in 2-D (s1 x log s2) and 3-D (s1 x log s2 x
  drift time) bins; Pearson chi2 over the tested bins plus the "everything else" category
  (multinomial with n + 1 categories: chi2 with n degrees of freedom), p > 0.01; mean pull
  within 4 / sqrt(n) of 0 and no pull beyond 5;
* integration error: the quadrature against the exact bin probabilities of
  :class:`darkfit.model.binned.BinnedRateModel` (normal CDFs, no quadrature in s1/s2), within
  0.5 statistical standard deviations in every tested bin;
* the quadrature summed over all bins (covering the ROI) against
  :meth:`SourceRateModel.roi_fraction`;
* the exact bin probabilities of :class:`BinnedRateModel` against the same Monte Carlo.

Bins are tested when their expected count (from the exact binned model) is large enough for
the Gaussian approximation (>= 100 in 3-D); the selection does not look at the observed
counts. Bins with at least 500 expected events in 2-D (the tested ones) get 4 (s1) x 3 (ln s2) x
3 (z per drift bin) nodes, bins with 1..500 get 3 x 3 x 2 and emptier bins 2 x 2 x 1 (these
only enter the ROI-fraction sum; measured effect on it ~ 1e-5 relative, docs/binned.md).
"""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import darkfit  # noqa: F401  (float64)
from darkfit.detector import load_detector
from darkfit.model.binned import BinnedRateModel
from darkfit.model.rate_model import SourceRateModel
from darkfit.model.simulate import simulate
from darkfit.model.sources import parse_source

DET = load_detector("lz")
N_MC = 10**7
N_CHUNKS = 10  # simulated in 10 independent chunks of 10^6 (bounded memory)
NODES = (4, 3, 3)  # Gauss-Legendre nodes per bin: s1, ln s2, z (per drift-time bin)
MEDIUM, COARSE = (3, 3, 2), (2, 2, 1)  # for bins with 1..500 / < 1 expected events
MIN_2D, MIN_3D = 500.0, 100.0  # expected counts for fine nodes / for a bin to be tested
N_DRIFT = 4


def _s2_edges(top_log10: float) -> np.ndarray:
    """0.12-decade S2 bins from the ROI's lower edge, one wide bin up to the ROI's upper edge."""
    lo = np.log10(DET.roi.s2_min)
    inner = 10 ** np.arange(lo, top_log10 + 1e-9, 0.12)
    return np.append(inner, DET.roi.s2_max)


CASES = {
    "er": ("flat_er", [3, 8, 15, 25, 35, 45, 55, 65, 80], _s2_edges(4.9)),
    "nr": ("neutrons", [3, 5, 7, 10, 15, 22, 30, 40, 55, 80], _s2_edges(4.5)),
    "wimp50": ("wimp:mass=50,sigma=1e-46", [3, 5, 7, 10, 14, 20, 30, 45, 80], _s2_edges(4.5)),
}


def _drift_edges() -> np.ndarray:
    fv, v = DET.fiducial, DET.drift_velocity_cm_us
    return np.linspace(-fv.z_max_cm / v, -fv.z_min_cm / v, N_DRIFT + 1)


def _mc_counts(source, s1e, s2e, te, seed: int) -> np.ndarray:
    """Counts of simulated in-ROI events per (s1, s2, drift time) bin, out of N_MC."""
    counts = np.zeros((s1e.size - 1, s2e.size - 1, te.size - 1))
    for i in range(N_CHUNKS):
        df = simulate(DET, [source], n_events=N_MC // N_CHUNKS, seed=seed * 1000 + i)
        r = df[df.in_roi]
        h, _ = np.histogramdd(np.column_stack([r.s1, r.s2, r.drift_time]), bins=(s1e, s2e, te))
        assert h.sum() == len(r)  # the binning covers the ROI and the fiducial drift range
        counts += h
    return counts


def _gl(lo, hi, n):
    x, w = np.polynomial.legendre.leggauss(n)
    return lo[..., None] + (x + 1) * (hi - lo)[..., None] / 2, w * (hi - lo)[..., None] / 2


def _quadrature_points(s1e, s2e, te, bins2d, k1, k2, kz):
    """Nodes (s1, s2, z) and weights of each listed (s1, s2) bin x every drift-time bin.

    Returns arrays shaped (bins, k1, k2, drift bins, kz); weights include 1 / H.
    """
    v, fv = DET.drift_velocity_cm_us, DET.fiducial
    i, j = bins2d[:, 0], bins2d[:, 1]
    x1, w1 = _gl(s1e[i], s1e[i + 1], k1)
    u, wu = _gl(np.log(s2e[j]), np.log(s2e[j + 1]), k2)  # ds2 = s2 d(ln s2)
    x2, w2 = np.exp(u), wu * np.exp(u)
    z, wz = _gl(-te[1:] * v, -te[:-1] * v, kz)
    wz = wz / (fv.z_max_cm - fv.z_min_cm)
    shape = (len(i), k1, k2, te.size - 1, kz)
    s1 = np.broadcast_to(x1[:, :, None, None, None], shape)
    s2 = np.broadcast_to(x2[:, None, :, None, None], shape)
    zz = np.broadcast_to(z[None, None, None], shape)
    w = w1[:, :, None, None, None] * w2[:, None, :, None, None] * wz[None, None, None]
    return s1, s2, zz, w


def density_quadrature(model, s1e, s2e, te, groups) -> np.ndarray:
    """P(bin) from the density by quadrature; ``groups`` = [(bins2d, (k1, k2, kz)), ...].

    All points go through one jitted log_density call. Returns (n1, n2, n_drift).
    """
    pts = [_quadrature_points(s1e, s2e, te, b, *k) for b, k in groups]
    s1 = np.concatenate([p[0].ravel() for p in pts])
    s2 = np.concatenate([p[1].ravel() for p in pts])
    z = np.concatenate([p[2].ravel() for p in pts])
    ev = pd.DataFrame(
        {"s1": s1, "s2": s2, "r": 0.0, "z": z, "drift_time": -z / DET.drift_velocity_cm_us}
    )
    plan = model.plan({}, ev, 4)
    f = np.exp(np.asarray(jax.jit(lambda th: model.log_density(th, ev, plan))({})))
    out = np.zeros((s1e.size - 1, s2e.size - 1, te.size - 1))
    start = 0
    for (b, _), p in zip(groups, pts, strict=True):
        n = p[0].size
        fw = (f[start : start + n].reshape(p[3].shape) * p[3]).sum(axis=(1, 2, 4))
        out[b[:, 0], b[:, 1]] = fw
        start += n
    return out


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    name = request.param
    spec, s1e, s2e = CASES[name]
    s1e = np.asarray(s1e, dtype=float)
    te = _drift_edges()
    source = parse_source(spec)
    model = SourceRateModel(DET, source)
    assert DET.s1_map is None and DET.s2_map is None  # f does not depend on r
    exact = np.asarray(jax.jit(BinnedRateModel(model, s1e, s2e, te).bin_fractions)({}))
    expect_2d = N_MC * exact.sum(axis=2)
    fine = expect_2d >= MIN_2D
    groups = [
        (np.argwhere(fine), NODES),
        (np.argwhere(~fine & (expect_2d >= 1)), MEDIUM),
        (np.argwhere(expect_2d < 1), COARSE),
    ]
    quad = density_quadrature(model, s1e, s2e, te, groups)
    counts = _mc_counts(source, s1e, s2e, te, seed=11)
    return {
        "name": name,
        "exact": exact,
        "quad": quad,
        "counts": counts,
        "fine": fine,
        "roi_fraction": float(model.roi_fraction({})),
    }


def _pull_summary(obs: np.ndarray, expect: np.ndarray, n_total: float) -> dict:
    """Pulls of the tested bins and Pearson chi2 including the rest category (ndf = bins)."""
    pulls = (obs - expect) / np.sqrt(expect)
    rest_o, rest_e = n_total - obs.sum(), n_total - expect.sum()
    chi2 = float(np.sum(pulls**2) + (rest_o - rest_e) ** 2 / rest_e)
    ndf = obs.size
    return {
        "pulls": pulls,
        "chi2": chi2,
        "ndf": ndf,
        "p": float(stats.chi2.sf(chi2, ndf)),
        "mean": float(pulls.mean()),
        "std": float(pulls.std(ddof=1)),
    }


def _check(summary: dict, label: str) -> None:
    s = summary
    msg = (
        f"{label}: chi2/ndf = {s['chi2']:.1f}/{s['ndf']}, p = {s['p']:.3f}, "
        f"pull mean {s['mean']:+.3f} std {s['std']:.3f}, max |pull| "
        f"{np.max(np.abs(s['pulls'])):.2f}"
    )
    print(msg)
    assert s["p"] > 0.01, msg
    assert abs(s["mean"]) < 4 / np.sqrt(s["ndf"]), msg
    assert np.max(np.abs(s["pulls"])) < 5, msg


def _tested_3d(c):
    return c["fine"][:, :, None] & (N_MC * c["exact"] >= MIN_3D)


@pytest.mark.slow
def test_density_pulls_2d(case):
    sel = case["fine"]
    s = _pull_summary(case["counts"].sum(2)[sel], N_MC * case["quad"].sum(2)[sel], N_MC)
    _check(s, f"{case['name']} density, s1 x log s2")


@pytest.mark.slow
def test_density_pulls_3d(case):
    sel = _tested_3d(case)
    s = _pull_summary(case["counts"][sel], N_MC * case["quad"][sel], N_MC)
    _check(s, f"{case['name']} density, s1 x log s2 x drift time")


@pytest.mark.slow
def test_exact_bins_pulls_3d(case):
    """The analytic bin expectations of BinnedRateModel against the same Monte Carlo."""
    sel = _tested_3d(case)
    s = _pull_summary(case["counts"][sel], N_MC * case["exact"][sel], N_MC)
    _check(s, f"{case['name']} exact bins, s1 x log s2 x drift time")


@pytest.mark.slow
def test_integration_error_is_small(case):
    """Quadrature of the density vs the exact bin probabilities: << statistical error."""
    sel = _tested_3d(case)
    q, a = case["quad"][sel], case["exact"][sel]
    dev = (q - a) * N_MC / np.sqrt(N_MC * a)
    print(f"{case['name']}: max |quad - exact| = {np.max(np.abs(dev)):.3f} sigma_stat")
    assert np.max(np.abs(dev)) < 0.5
    assert np.mean(dev**2) < 0.02


@pytest.mark.slow
def test_density_sums_to_roi_fraction(case):
    total = case["quad"].sum()
    print(f"{case['name']}: sum of bins {total:.7f}, roi_fraction {case['roi_fraction']:.7f}")
    assert total == pytest.approx(case["roi_fraction"], rel=2e-4)


def _refinement_report() -> None:  # pragma: no cover  (a measurement, not a test)
    """Print how much more nodes move the tested bins, in statistical standard deviations.

    Run: ``python tests/model/test_binned_pulls.py`` (about a minute per source).
    """
    te = _drift_edges()
    for name, (spec, s1e, s2e) in CASES.items():
        s1e = np.asarray(s1e, dtype=float)
        model = SourceRateModel(DET, parse_source(spec))
        exact = np.asarray(jax.jit(BinnedRateModel(model, s1e, s2e, te).bin_fractions)({}))
        fine = N_MC * exact.sum(axis=2) >= MIN_2D
        bins = np.argwhere(fine)
        q0 = density_quadrature(model, s1e, s2e, te, [(bins, NODES)])
        q1 = density_quadrature(model, s1e, s2e, te, [(bins, (5, 4, 4))])
        sel = fine[:, :, None] & (N_MC * exact >= MIN_3D)
        sigma = np.sqrt(N_MC * exact[sel]) / N_MC
        d_ref = np.abs(q1[sel] - q0[sel]) / sigma
        d_exact = np.abs(q1[sel] - exact[sel]) / sigma
        print(
            f"{name}: {sel.sum()} bins; |(5,4,4) - {NODES}| max {d_ref.max():.3f}, "
            f"rms {np.sqrt(np.mean(d_ref**2)):.3f} sigma_stat; |(5,4,4) - exact| max "
            f"{d_exact.max():.3f} sigma_stat"
        )


if __name__ == "__main__":
    _refinement_report()
