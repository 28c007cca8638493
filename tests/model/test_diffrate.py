"""Per-event differential rate: normalisation, batch independence, truncation, gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import darkfit  # noqa: F401  (float64)
from darkfit.detector import load_detector
from darkfit.model import diffrate
from darkfit.model.rate_model import SourceRateModel
from darkfit.model.simulate import simulate
from darkfit.model.sources import Source
from darkfit.physics.spectra import FlatSpectrum, LineSpectrum

BIG = 1 << 30


def _thin_slice(det, z=-50.0, r=10.0):
    """The detector with a fiducial volume shrunk to a thin shell around (r, z)."""
    return det.with_updates(fiducial={"r_max_cm": r, "z_min_cm": z - 0.01, "z_max_cm": z + 0.01})


@pytest.mark.parametrize(
    ("preset", "source"),
    [
        ("flamedisx", Source("er", FlatSpectrum(1.0, 0.0, 10.0, "er"))),
        ("lz", Source("nr", FlatSpectrum(1.0, 1.0, 40.0, "nr"))),
    ],
)
def test_density_integrates_to_roi_fraction(preset, source):
    """int int f(s1, s2 | x) ds1 ds2 over the ROI = P(ROI | x), computed independently."""
    det = _thin_slice(load_detector(preset))
    m = SourceRateModel(det, source)
    roi = det.roi
    s1 = np.linspace(roi.s1_min, roi.s1_max, 137)
    s2 = np.geomspace(roi.s2_min, roi.s2_max, 360)
    g1, g2 = np.meshgrid(s1, s2, indexing="ij")
    z = -50.0
    ev = pd.DataFrame(
        {
            "s1": g1.ravel(),
            "s2": g2.ravel(),
            "r": 10.0,
            "z": z,
            "drift_time": -z / det.drift_velocity_cm_us,
        }
    )
    sizes = m.window_sizes({}, ev)
    f = np.exp(np.asarray(jax.jit(lambda th: m.log_density(th, ev, sizes))({})))
    integral = np.trapezoid(np.trapezoid(f.reshape(g1.shape), s2, axis=1), s1)
    p_roi = float(jax.jit(m.roi_fraction)({}))
    # grid-integration error of the trapezoid over 137 x 360 points, not model error
    assert integral == pytest.approx(p_roi, rel=2e-3)


@pytest.fixture(scope="module")
def fd_events():
    det = load_detector("flamedisx")
    src = Source("er", FlatSpectrum(1.0, 0.0, 10.0, "er"))
    df = simulate(det, [src], n_events=6000, seed=4)
    return det, src, df[df.in_roi].iloc[:1000].reset_index(drop=True)


def test_batch_independence(fd_events):
    det, src, ev = fd_events
    m = SourceRateModel(det, src)
    ref_sizes = m.window_sizes({}, ev)
    full = np.asarray(m.log_density({}, ev, ref_sizes, batch_size=1000))
    for bs in (1, 7):
        sub = ev.iloc[:50]
        got = np.asarray(m.log_density({}, sub, ref_sizes, batch_size=bs))
        np.testing.assert_allclose(got, full[:50], rtol=1e-10, atol=0)
    # other events in the batch: a subset gets its own (smaller) static windows
    sub = ev.iloc[::37].reset_index(drop=True)
    own = np.asarray(m.log_density({}, sub, m.window_sizes({}, sub), batch_size=7))
    np.testing.assert_allclose(own, full[::37], rtol=1e-10, atol=0)


def test_stepped_electron_sum_matches_exact(fd_events):
    det, src, ev = fd_events
    stepped = SourceRateModel(det, src)
    exact = SourceRateModel(det, src, caps=diffrate.WindowSizes(BIG, BIG, BIG, BIG, BIG))
    a = np.asarray(stepped.log_density({}, ev, stepped.window_sizes({}, ev)))
    b = np.asarray(exact.log_density({}, ev, exact.window_sizes({}, ev)))
    assert np.all(np.isfinite(a))
    d = np.abs(a - b)
    assert np.median(d) < 1e-10
    assert d.max() < 1e-5  # events next to the 10 keV end point of the spectrum


def test_detected_photon_sum_branches_agree(fd_events, monkeypatch):
    """The Toeplitz sum over n_det (unit step) equals the element-by-element binomial matrix
    (the branch taken when some event's n_det grid is stepped), value and g1 gradient; and a
    capped n_det (stepped grids) still gives finite densities close to the exact ones."""
    det, src, ev = fd_events
    ev = ev.iloc[:300].reset_index(drop=True)
    m = SourceRateModel(det, src)
    sizes = m.window_sizes({}, ev)

    def value_and_g1_grad():
        f = jax.jit(jax.value_and_grad(lambda g1: m.log_density({"g1": g1}, ev, sizes).sum()))
        return f(det.g1)

    fast_v, fast_g = value_and_g1_grad()
    monkeypatch.setattr(diffrate, "unit_det_step", lambda win, sizes: jnp.bool_(False))
    slow_v, slow_g = value_and_g1_grad()
    assert float(fast_v) == pytest.approx(float(slow_v), rel=1e-12)
    assert float(fast_g) == pytest.approx(float(slow_g), rel=1e-9)
    monkeypatch.undo()
    capped = SourceRateModel(det, src, caps=sizes._replace(n_det=sizes.n_det // 3, n_el=BIG))
    got = np.asarray(capped.log_density({}, ev, capped.window_sizes({}, ev)))
    exact = SourceRateModel(det, src, caps=diffrate.WindowSizes(BIG, BIG, BIG, BIG, BIG))
    ref = np.asarray(exact.log_density({}, ev, exact.window_sizes({}, ev)))
    assert not bool(
        diffrate.unit_det_step(capped._windows_now({}, ev), capped.window_sizes({}, ev))
    )
    assert np.all(np.isfinite(got))
    assert np.median(np.abs(got - ref)) < 1e-8  # measured 1e-11 (max 8e-6): trapezoid steps


def test_windows_wide_enough(fd_events):
    """n_sigma = 7 against n_sigma = 10: truncation below 1e-6 (measured max 5e-7)."""
    det, src, ev = fd_events
    ev = ev.iloc[:200]
    a = SourceRateModel(det, src)
    b = SourceRateModel(det, src, n_sigma=10.0)
    da = np.asarray(a.log_density({}, ev, a.window_sizes({}, ev)))
    db = np.asarray(b.log_density({}, ev, b.window_sizes({}, ev)))
    assert np.max(np.abs(da - db)) < 1e-6
    assert np.median(np.abs(da - db)) < 1e-8


def test_line_source_and_gradients():
    det = load_detector("lz")
    src = Source("line", LineSpectrum([8.0], [1.0], recoil_type="er"))
    m = SourceRateModel(det, src)
    df = simulate(det, [src], n_events=400, seed=2)
    ev = df[df.in_roi].iloc[:50].reset_index(drop=True)
    sizes = m.window_sizes({}, ev)

    def total(th):
        return m.log_density(th, ev, sizes).sum()

    th = {"g1": det.g1, "g2": det.g2, "electron_lifetime_us": det.electron_lifetime_us}
    g = jax.grad(total)(th)
    for k, v in th.items():
        h = 1e-5 * v
        fd = (total({**th, k: v + h}) - total({**th, k: v - h})) / (2 * h)
        assert np.isfinite(g[k])
        assert float(g[k]) == pytest.approx(float(fd), rel=1e-4, abs=1e-6)


def test_grouped_plan_equals_single_batch(fd_events):
    det, src, ev = fd_events
    m = SourceRateModel(det, src)
    single = np.asarray(m.log_density({}, ev, m.window_sizes({}, ev)))
    plan = m.plan({}, ev, n_buckets=4)
    assert len(plan.groups) == 4
    widths = [sizes.n_ph for _, sizes in plan.groups]
    assert widths == sorted(widths)  # groups ordered by photon-window length
    grouped = np.asarray(m.log_density({}, ev, plan))
    np.testing.assert_allclose(grouped, single, rtol=1e-10, atol=0)


@pytest.mark.parametrize("dense", [True, False])
def test_all_events_table_contraction_equals_per_event(dense, monkeypatch):
    """The one-GEMM contraction (and its row-by-row fallback for large tables) equals the
    per-event slice contraction, including events whose S1 window starts inside the table."""
    import jax.numpy as jnp

    rng = np.random.default_rng(7)
    n_el_tab, n_ph_tab, n = 300, 200, 9
    table_t = jnp.asarray(rng.random((n_el_tab, n_ph_tab)))
    sizes = diffrate.WindowSizes(n_pe=4, n_det=4, n_ph=50, n_ext=4, n_el=16)
    a = jnp.asarray(rng.random((n, sizes.n_ph)))
    ph_lo = rng.integers(0, n_ph_tab, n).astype(float)
    el_lo = rng.integers(0, n_el_tab - 20, n).astype(float)
    el_hi = el_lo + rng.integers(5, 60, n)  # some windows stepped (h > 1), some past the table
    zeros = jnp.zeros(n)
    win = diffrate.Windows(
        (zeros, zeros), (zeros, zeros), (ph_lo, ph_lo + 40), (zeros, zeros), (el_lo, el_hi)
    )
    i0 = jnp.minimum(ph_lo, n_ph_tab - sizes.n_ph)
    monkeypatch.setattr(diffrate, "DENSE_TABLE_EL_MAX", 10_000 if dense else 10)
    got = diffrate.contract_table_all(table_t, a, i0, win, sizes)
    for i in range(n):
        wi = jax.tree_util.tree_map(lambda x, i=i: x[i], win)
        ref = diffrate.contract_table(table_t, a[i], i0[i], wi, sizes)
        np.testing.assert_allclose(got[i], ref, rtol=1e-12, atol=0)
        assert np.any(np.asarray(ref) > 0)


@pytest.mark.parametrize("rule", ["s2_sum", "s2_dot"])
def test_s2_factor_derivatives_equal_autodiff_of_the_plain_sum(rule):
    """The hand-written derivatives of the S2 factor (diffrate._s2_sum, and diffrate._s2_dot
    with the S1-side factor c contracted inside it) equal automatic differentiation of the
    plain sum over extracted electrons, to second order, in the electron survival, S2 gain,
    single-electron width and S2 (and the gradient agrees with central finite differences)."""
    from jax.scipy.stats import norm

    from darkfit.model._counting import log_binom_matrix, log_factorial_table

    lf = log_factorial_table(400)
    nel = jnp.arange(60.0, 188.0)  # produced electrons
    n_ext = jnp.arange(40.0, 116.0)  # extracted electrons
    log_h = jnp.where(n_ext < 110, 0.0, -jnp.inf)  # the last points outside the window
    c = jnp.asarray(np.random.default_rng(0).uniform(0.5, 1.5, nel.size))
    x0 = np.array([0.62, 19.0, 5.0, 1500.0])  # p, G [phd], sigma_SE [phd], s2 [phd]
    e_max = float(jnp.max(norm.logpdf(x0[3], n_ext * x0[1], x0[2] * jnp.sqrt(n_ext))))

    def ours(x):
        if rule == "s2_dot":
            return jnp.log(diffrate._s2_dot(c, *x, e_max, nel, n_ext, log_h, lf))
        return jnp.log(c @ diffrate._s2_sum(*x, e_max, nel, n_ext, log_h, lf))

    def plain(x):
        p, g, w, s2 = x
        v = jnp.exp(norm.logpdf(s2, n_ext * g, w * jnp.sqrt(n_ext)) + log_h - e_max)
        return jnp.log(c @ (jnp.exp(log_binom_matrix(nel, n_ext, p, lf)) @ v))

    x = jnp.asarray(x0)
    assert float(ours(x)) == pytest.approx(float(plain(x)), rel=1e-14)
    g_ours, g_plain = np.asarray(jax.grad(ours)(x)), np.asarray(jax.grad(plain)(x))
    np.testing.assert_allclose(g_ours, g_plain, rtol=1e-10)
    np.testing.assert_allclose(
        np.asarray(jax.hessian(ours)(x)), np.asarray(jax.hessian(plain)(x)), rtol=1e-8, atol=1e-12
    )
    step = np.array([1e-6, 1e-5, 1e-5, 1e-3])
    fd = [
        (float(ours(x0 + s)) - float(ours(x0 - s))) / (2 * s[i])
        for i, s in enumerate(np.diag(step))
    ]
    np.testing.assert_allclose(g_ours, fd, rtol=1e-6)
