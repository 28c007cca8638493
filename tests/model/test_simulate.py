"""The simulator against the model: moments of a monoenergetic source, computed independently.

For a line at energy E, the expected mean and variance of every simulated quantity follow from
the distributions in docs/physics/response.md. Here they are computed without darkfit's
simulator: the quanta distributions are summed exactly with scipy (discretised normals,
beta-binomial, Poisson x binomial), and binomial thinning / Gaussian smearing / uniform drift
time are propagated with the laws of total expectation and variance. The simulated sample
(N events) must agree within 4.5 standard errors (false-failure rate ~1e-5 per comparison).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import darkfit  # noqa: F401  (float64)
from darkfit.detector import load_detector
from darkfit.model import quanta
from darkfit.model.simulate import simulate
from darkfit.model.sources import Source
from darkfit.physics.spectra import LineSpectrum

N_EVENTS = 200_000
Z_TOL = 4.5


def _line(energy: float, recoil: str) -> Source:
    return Source(f"line_{recoil}", LineSpectrum([energy], [1.0], recoil_type=recoil))


def _rounded_normal_pmf(mu, sd, lo, hi):
    """pmf of clip(round(Normal(mu, sd)), lo, hi) on lo..hi (vectorised over mu, sd rows)."""
    n = np.arange(lo, hi + 1)
    upper = stats.norm.cdf((n + 0.5 - mu) / sd)
    lower = stats.norm.cdf((n - 0.5 - mu) / sd)
    upper[..., -1] = 1.0
    lower[..., 0] = 0.0
    return n, upper - lower


def nest_quanta_moments(e_kev, recoil, field, density):
    """E and Var of (Nph, Ne) for the nest chain by exact summation over Nq and Ne.

    darkfit's yield functions give the mean quanta, Fano factor and, per Nq, the electron
    fraction and recombination width; the sums over the discretised normals are done here.
    """
    m = quanta.nest_total_quanta(np.array([e_kev]), recoil, field, density)
    mu_q, fano = float(m.n_quanta[0]), float(m.fano[0])
    sd_q = np.sqrt(fano * mu_q)
    nq, p_nq = _rounded_normal_pmf(mu_q, sd_q, 0, int(mu_q + 12 * sd_q + 10))
    keep = (p_nq > 1e-16) & (nq > 0)  # Nq = 0 gives Nph = Ne = 0
    nq, p_nq = nq[keep], p_nq[keep]
    rec = quanta.nest_recombination(nq.astype(float), recoil, field, density)
    e_ne = e_ne2 = e_nph = e_nph2 = 0.0
    for q, pq, f, om in zip(nq, p_nq, np.asarray(rec[0]), np.asarray(rec[1]), strict=True):
        sd_e = np.sqrt(f * (1 - f) * q + (om * q) ** 2)
        ne, p_ne = _rounded_normal_pmf(f * q, sd_e, 0, q)
        nph = q - ne
        e_ne += pq * np.sum(p_ne * ne)
        e_ne2 += pq * np.sum(p_ne * ne**2)
        e_nph += pq * np.sum(p_ne * nph)
        e_nph2 += pq * np.sum(p_ne * nph**2)
    return e_nph, e_nph2 - e_nph**2, e_ne, e_ne2 - e_ne**2


def flamedisx_quanta_moments(e_kev, recoil, field):
    """E and Var of (Nph, Ne) for flamedisx's default ER/NR chains by exact summation."""
    w = quanta.FLAMEDISX_WORK_KEV
    if recoil == "er":
        nq = np.floor(e_kev / w)
        # independent re-derivation of flamedisx's p_e (J. Aalbers' thesis Qy) and clamps
        eps = np.log10(w * nq / 5.0 + 1e-9)
        pe = np.clip((15 * eps**2 - 27.7 * eps + 32.5) * w, 1e-5, 1 - 1e-5)
        mean = np.clip(1 - pe, 0.011, 0.95)
        var = max(0.041 * (1 - np.exp(-nq / 123)), 0.005) ** 2
        var = min(var, max((mean - 1) ** 2 * mean / (2 - mean), mean**2 * (1 - mean) / (1 + mean)))
        k = mean * (1 - mean) / var - 1
        dist = stats.betabinom(int(nq), mean * k, (1 - mean) * k)
        e_nph, v_nph = dist.mean(), dist.var()
        return e_nph, v_nph, nq - e_nph, v_nph
    z = 54.0
    eps = 11.5 * e_kev * z ** (-7 / 3)
    g = 3 * eps**0.15 + 0.7 * eps**0.6 + eps
    mu = e_kev * 0.138 * g / (1 + 0.138 * g) / w
    qs = np.arange(0, int(mu + 15 * np.sqrt(mu) + 20))
    pq = stats.poisson.pmf(qs, mu)
    qsafe = np.maximum(qs, 1)
    nex_ni = 1.280 * field**-0.045 * (1 - np.exp(-273 * 0.9e-4 * qsafe))
    ni = qsafe / (1 + nex_ni)
    xi = 0.0141 * field**-0.062
    p = np.clip(ni * np.log1p(ni * xi) / (ni * xi) / qsafe, 1e-6, 1 - 1e-6)
    e_ne = np.sum(pq * qs * p)
    e_ne2 = np.sum(pq * (qs * p * (1 - p) + (qs * p) ** 2))
    e_nph = np.sum(pq * qs * (1 - p))
    e_nph2 = np.sum(pq * (qs * p * (1 - p) + (qs * (1 - p)) ** 2))
    return e_nph, e_nph2 - e_nph**2, e_ne, e_ne2 - e_ne**2


def expected_observables(det, e_nph, v_nph, e_ne, v_ne):
    """Means and variances of detected quanta, S1 and S2 for uniform positions in the FV."""
    g1, d, spe = det.g1, det.double_pe_fraction, det.pe_resolution
    div = 1 + d if det.s1_units == "phd" else 1.0
    e_det = g1 * e_nph
    v_det = g1 * (1 - g1) * e_nph + g1**2 * v_nph
    e_pe = (1 + d) * e_det
    v_pe = d * (1 - d) * e_det + (1 + d) ** 2 * v_det
    e_s1 = e_pe / div
    v_s1 = (spe**2 * e_pe + v_pe) / div**2
    # electron survival p(t) = eps exp(-t/tau), t uniform over the fiducial drift times
    fv, tau, eps = det.fiducial, det.electron_lifetime_us, det.extraction_efficiency
    t1, t2 = -fv.z_max_cm / det.drift_velocity_cm_us, -fv.z_min_cm / det.drift_velocity_cm_us
    ep = eps * tau / (t2 - t1) * (np.exp(-t1 / tau) - np.exp(-t2 / tau))
    ep2 = eps**2 * tau / (2 * (t2 - t1)) * (np.exp(-2 * t1 / tau) - np.exp(-2 * t2 / tau))
    e_ne2 = v_ne + e_ne**2
    e_ext = e_ne * ep
    v_ext = e_ne * ep - e_ne * ep2 + e_ne2 * ep2 - e_ext**2
    gain, w = det.se_gain, det.se_width
    e_s2 = gain * e_ext
    v_s2 = w**2 * e_ext + gain**2 * v_ext
    return {
        "n_photons": (e_nph, v_nph),
        "n_electrons": (e_ne, v_ne),
        "n_photons_detected": (e_det, v_det),
        "n_photoelectrons": (e_pe, v_pe),
        "n_electrons_detected": (e_ext, v_ext),
        "s1": (e_s1, v_s1),
        "s2": (e_s2, v_s2),
    }


def assert_moments(df, expected):
    for col, (mu, var) in expected.items():
        x = df[col].to_numpy(dtype=float)
        n = x.size
        m, v = x.mean(), x.var(ddof=1)
        m4 = np.mean((x - m) ** 4)
        se_mean = np.sqrt(var / n)
        se_var = np.sqrt(max(m4 - v**2, 1e-30) / n)
        assert abs(m - mu) < Z_TOL * se_mean, f"{col}: mean {m:.6g} vs {mu:.6g} (se {se_mean:.3g})"
        assert abs(v - var) < Z_TOL * se_var, f"{col}: var {v:.6g} vs {var:.6g} (se {se_var:.3g})"


CASES = [
    ("lz", "nr", 5.0),
    ("lz", "nr", 30.0),
    ("lz", "er", 2.0),
    ("lz", "er", 10.0),
    ("xenonnt", "er", 5.0),
    ("darwin", "nr", 10.0),
]


@pytest.mark.parametrize(("preset", "recoil", "energy"), CASES)
def test_nest_chain_moments(preset, recoil, energy):
    det = load_detector(preset)
    assert det.quanta_model == "nest"
    df = simulate(det, [_line(energy, recoil)], n_events=N_EVENTS, seed=11)
    expected = expected_observables(
        det, *nest_quanta_moments(energy, recoil, det.drift_field_v_cm, det.liquid_density_g_cm3)
    )
    assert_moments(df, expected)


@pytest.mark.parametrize(
    ("recoil", "energy"), [("er", 3.0), ("er", 8.0), ("nr", 10.0), ("nr", 40.0)]
)
def test_flamedisx_chain_moments(recoil, energy):
    det = load_detector("flamedisx")
    assert det.quanta_model == "flamedisx"
    df = simulate(det, [_line(energy, recoil)], n_events=N_EVENTS, seed=5)
    expected = expected_observables(
        det, *flamedisx_quanta_moments(energy, recoil, det.drift_field_v_cm)
    )
    assert_moments(df, expected)


def test_positions_uniform_in_fiducial_volume():
    det = load_detector("lz")
    fv = det.fiducial
    df = simulate(det, [_line(10.0, "er")], n_events=50_000, seed=3)
    assert df.r.max() <= fv.r_max_cm and df.z.min() >= fv.z_min_cm and df.z.max() <= fv.z_max_cm
    np.testing.assert_allclose(df.r, np.hypot(df.x, df.y), rtol=1e-12)
    np.testing.assert_allclose(df.drift_time, -df.z / det.drift_velocity_cm_us, rtol=1e-12)
    # r^2 and z uniform: Kolmogorov-Smirnov against the uniform distribution
    assert stats.kstest(df.r**2 / fv.r_max_cm**2, "uniform").pvalue > 1e-4
    span = fv.z_max_cm - fv.z_min_cm
    assert stats.kstest((df.z - fv.z_min_cm) / span, "uniform").pvalue > 1e-4


def test_same_seed_same_events_and_flags():
    det = load_detector("lz")
    src = [_line(10.0, "er"), _line(20.0, "nr")]
    a = simulate(det, src, n_events=1000, seed=42)
    b = simulate(det, src, n_events=1000, seed=42)
    c = simulate(det, src, n_events=1000, seed=43)
    assert a.equals(b)
    assert not np.array_equal(a.s1.to_numpy(), c.s1.to_numpy())
    roi = det.roi
    flags = (
        (a.n_photons_detected >= det.s1_coincidence)
        & a.s1.between(roi.s1_min, roi.s1_max)
        & a.s2.between(roi.s2_min, roi.s2_max)
    )
    assert (a.in_roi == flags).all()
    assert len(a) == 2000  # no event dropped


def test_exposure_gives_poisson_counts():
    det = load_detector("lz")
    src = Source("line", LineSpectrum([10.0], [250.0], recoil_type="er"))
    counts = [len(simulate(det, [src], 2.0, seed=s)) for s in range(40)]
    # mean 500 per dataset; 40 datasets: sample mean within 4.5 sigma of 500
    assert abs(np.mean(counts) - 500) < 4.5 * np.sqrt(500 / 40)
