"""Sensitivity: fits, q~ and q0, Neyman limits and asymptotic bands against closed forms.

With identical signal and background densities the pooled likelihood reduces to a Poisson
counting experiment, whose MLE, test statistics and limits have closed forms (scipy).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from darkfit.inference.campaign import DaskExecutor
from darkfit.inference.event_pool import SIGMA_REF_CM2, synthetic_pool
from darkfit.inference.sensitivity import SensitivityConfig, run_sensitivity

Z90 = stats.norm.ppf(0.9)


def counting_pool(n=6000):
    """Background and WIMP pools with the same (flat) density: a counting experiment."""
    origin = np.repeat([0, 1], [n, n])
    log_p = np.zeros((2 * n, 2))
    # 1 t yr gives 1 background event per unit of `bkg`; the WIMP gives 10 events at sigma_ref
    return synthetic_pool({"flat_er": 1.0, "wimp_40gev": 10.0}, log_p, origin)


def counting_config(b: float, **kw):
    return SensitivityConfig(
        detector="xenon1t", masses=(40.0,), exposures=(b,), backgrounds=("flat_er",),
        bkg_uncertainty=0.0, **kw,
    )  # fmt: skip


def test_asymptotic_band_and_discovery_match_closed_forms(tmp_path):
    """Counting: q~_A(s) = 2 [s - b ln(1 + s/b)]; q0_A(s) = 2 [(s+b) ln(1 + s/b) - s]
    (arXiv:1007.1727 eq. 97); limits from eq. 89 and Z = sqrt(q0_A)."""
    b = 100.0
    tab = run_sensitivity(counting_config(b, method="asymptotic"), tmp_path,
                          pool=counting_pool())  # fmt: skip
    row = tab.iloc[0]

    def solve(f, target):
        return optimize.brentq(lambda s: f(s) - target, 1e-6, 1e4, xtol=1e-10)

    def q_lim(s):
        return 2 * (s - b * np.log1p(s / b))

    def q_disc(s):
        return 2 * ((s + b) * np.log1p(s / b) - s)

    for name, n_sig in (("median", 0), ("p1", 1), ("p2", 2), ("m1", -1)):
        ref = solve(q_lim, (Z90 + n_sig) ** 2)
        assert row[f"events_{name}"] == pytest.approx(ref, rel=1e-4)
    assert row["events_m2"] == 0.0  # Phi^-1(0.9) - 2 < 0: eq. 89 gives no positive limit
    # with an extra 10% background constraint the Asimov limit can only get weaker
    cfg = replace(counting_config(b, method="asymptotic"), bkg_uncertainty=0.1)
    loose = run_sensitivity(cfg, tmp_path / "c", pool=counting_pool()).iloc[0]
    assert loose["events_median"] > row["events_median"]
    for z in (3, 5):
        assert row[f"disc{z}_events"] == pytest.approx(solve(q_disc, z**2), rel=1e-4)
    k = 10.0 * b / SIGMA_REF_CM2  # events per cm^2 of this pool at this exposure
    assert row["sigma_median"] == pytest.approx(row["events_median"] / k)


@pytest.mark.parametrize("b", [3.0])
def test_neyman_band_matches_classical_poisson_limits(tmp_path, b):
    """Neyman with q~ in a counting experiment = the classical upper limit
    P(N <= n | s_up + b) = 0.1; its quantiles over N ~ Poisson(b) give the band."""
    cfg = counting_config(b, n_toys=600, toys_per_task=300, n_grid=16, seed=5)
    tab = run_sensitivity(cfg, tmp_path, pool=counting_pool())
    row = tab.iloc[0]

    def s_up(n):
        return optimize.brentq(lambda s: stats.poisson.cdf(n, s + b) - 0.1, 0.0, 100.0)

    for name, n_sig in (("median", 0), ("p1", 1)):
        n_q = stats.poisson.ppf(stats.norm.cdf(n_sig), b)
        assert row[f"events_{name}"] == pytest.approx(s_up(n_q), rel=0.08)
    assert row["n_failed_fits"] == 0 and row["n_limits_above_grid"] == 0
    assert row["n_toys_b"] == 600
    # toy-based discovery potential agrees with the asymptotic one within ~15%
    assert row["disc3_events"] == pytest.approx(
        row["events_median"] * 0 + _disc_asym(b, 3), rel=0.2
    )


def _disc_asym(b, z):
    return optimize.brentq(lambda s: 2 * ((s + b) * np.log1p(s / b) - s) - z**2, 1e-6, 1e4)


def test_no_sensitivity_mass_is_reported_not_inf(tmp_path):
    cfg = SensitivityConfig(
        detector="xenon1t",
        masses=(1.0, 40.0),
        exposures=(3.0,),
        backgrounds=("flat_er",),
        method="asymptotic",
        bkg_uncertainty=0,
    )
    tab = run_sensitivity(cfg, tmp_path, pool=counting_pool())  # fmt: skip
    assert list(tab["status"]) == ["no sensitivity", "ok"]
    csv = pd.read_csv(tmp_path / "sensitivity.csv", keep_default_na=False)
    assert csv.loc[0, "status"] == "no sensitivity" and csv.loc[0, "sigma_median"] == ""
    doc = json.loads((tmp_path / "sensitivity.json").read_text())
    assert doc["results"][0]["status"] == "no sensitivity"
    assert "sigma_median" not in doc["results"][0] or doc["results"][0]["sigma_median"] is None
    assert "Infinity" not in (tmp_path / "sensitivity.json").read_text()
    assert np.isfinite(tab.loc[1, "sigma_median"])


def test_sensitivity_campaign_on_dask_equals_in_process(tmp_path):
    cfg = counting_config(3.0, n_toys=40, toys_per_task=40, n_grid=3, seed=2)
    ref = run_sensitivity(cfg, tmp_path / "inproc", pool=counting_pool())
    ex = DaskExecutor(n_workers=2)
    try:
        tab = run_sensitivity(cfg, tmp_path / "dask", pool=counting_pool(), executor=ex)
    finally:
        ex.close()
    pd.testing.assert_frame_equal(tab, ref)
