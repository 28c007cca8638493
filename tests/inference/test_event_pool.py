"""Event pools: normalisation of the pooled densities, caching, toy draws."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats

from darkfit._errors import DarkfitInputError
from darkfit.detector import load_detector
from darkfit.inference.event_pool import (
    build_pool,
    canonical_spec,
    default_label,
    padded_length,
    source_acceptance,
    synthetic_pool,
)

#: A small real pool shared by the tests (built once per session through the content cache).
REAL = dict(sources=["wimp:mass=50", "wimp:mass=200"], size=150, seed=3, n_buckets=1)


def real_pool(tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "darkfit_pool_cache"
    return build_pool(load_detector("flamedisx"), cache_dir=cache, **REAL), cache


def test_real_pool_densities_are_normalised_over_roi_and_volume(tmp_path_factory):
    """E_k[p_j / p_k] = int p_j = 1 over the ROI for events simulated from source k.

    Independent of the density code: the events come from the simulation, the expectation is
    the normalisation integral. Tolerance: 4 standard errors of the sample mean.
    """
    pool, _ = real_pool(tmp_path_factory)
    assert pool.labels == ("wimp_50gev", "wimp_200gev")
    assert np.array_equal(pool.n_per_source, [150, 150])
    for k in range(2):
        rows = pool.log_p[pool.origin == k]
        w = np.exp(rows[:, 1 - k] - rows[:, k])
        assert abs(w.mean() - 1) < 4 * w.std() / np.sqrt(w.size) + 1e-3
    # mu is linear in the cross-section: a 50 GeV WIMP at 1e-45 cm^2 in 1 t yr
    acc = source_acceptance(load_detector("flamedisx"), "wimp:mass=50")
    assert pool.mu_per_tyr[0] == pytest.approx(acc.total_rate * acc.roi_fraction)


def test_pool_cache_reloads_without_recomputing(tmp_path_factory):
    pool, cache = real_pool(tmp_path_factory)
    assert len(list(cache.glob("pool_*.parquet"))) >= 2
    t0 = time.perf_counter()
    again, _ = real_pool(tmp_path_factory)
    assert time.perf_counter() - t0 < 30  # no simulation or density evaluation (loose bound)
    np.testing.assert_array_equal(again.log_p, pool.log_p)
    np.testing.assert_array_equal(again.origin, pool.origin)


def test_sub_threshold_wimp_has_no_events_above_threshold(tmp_path):
    det = load_detector("flamedisx")
    acc = source_acceptance(det, "wimp:mass=1")  # recoils below 0.1 keVnr: zero rate
    assert not acc.detectable
    with pytest.raises(DarkfitInputError, match="no sensitivity"):
        build_pool(det, ["wimp:mass=1"], 10)


def test_specs_and_labels():
    assert canonical_spec("wimp: mass=40, sigma=1e-47") == "wimp:mass=40"
    assert default_label("wimp:mass=12.5") == "wimp_12p5gev"
    assert default_label("flat_er:rate=20") == "flat_er"
    with pytest.raises(DarkfitInputError, match="mass"):
        canonical_spec("wimp:sigma=1e-47")


def make_synthetic(n=(400, 300)):
    rng = np.random.default_rng(0)
    origin = np.repeat([0, 1], n)
    log_p = rng.normal(size=(sum(n), 2))
    return synthetic_pool({"bkg": 20.0, "sig": 5.0}, log_p, origin)


def test_toys_draw_poisson_counts_without_replacement_from_the_right_source():
    pool = make_synthetic()
    toys = pool.draw(np.random.default_rng(1), [20.0, 5.0], 2000)
    assert toys.log_p.shape[:2] == toys.mask.shape and toys.mask.shape[1] == padded_length(
        int(toys.counts.sum(1).max())
    )
    assert np.array_equal(toys.mask.sum(1), toys.counts.sum(1))
    for t in range(50):
        idx = toys.index[t][toys.mask[t]]
        assert len(set(idx)) == idx.size  # without replacement
        assert np.array_equal(np.bincount(pool.origin[idx], minlength=2), toys.counts[t])
        np.testing.assert_array_equal(toys.log_p[t][toys.mask[t]], pool.log_p[idx])
    assert np.all(toys.log_p[~toys.mask] == 0)
    # Poisson means and variances (5 sigma of their sampling errors)
    for j, mu in enumerate((20.0, 5.0)):
        c = toys.counts[:, j]
        assert abs(c.mean() - mu) < 5 * np.sqrt(mu / c.size)
        assert abs(c.var() / mu - 1) < 5 * np.sqrt(2 / c.size)
    # every pool event is equally likely: uniform use of the background pool (chi-square)
    used = np.bincount(toys.index[toys.mask], minlength=700)[:400]
    chi2 = np.sum((used - used.mean()) ** 2 / used.mean())
    assert stats.chi2.sf(chi2, 399) > 1e-4


def test_toys_refuse_a_pool_smaller_than_a_toy_and_bad_means():
    pool = make_synthetic((30, 30))
    with pytest.raises(DarkfitInputError, match="larger pool"):
        pool.draw(np.random.default_rng(0), [40.0, 1.0], 10)
    with pytest.raises(DarkfitInputError, match="toy means"):
        pool.draw(np.random.default_rng(0), [np.nan, 1.0], 10)
    empty = pool.draw(np.random.default_rng(0), [0.0, 0.0], 3)
    assert not empty.mask.any() and empty.log_p.shape == (3, 8, 2)


def test_subset_keeps_events_and_columns_of_the_chosen_sources():
    pool = make_synthetic()
    sub = pool.subset(["sig"])
    assert sub.labels == ("sig",) and sub.log_p.shape == (300, 1)
    np.testing.assert_array_equal(sub.log_p[:, 0], pool.log_p[pool.origin == 1, 1])
    assert pool.pool_ratio(np.array([40.0, 3.0])) == pytest.approx([0.1, 0.01])


def test_padded_length_is_small_and_sufficient():
    for n in range(0, 5000, 7):
        m = padded_length(n)
        assert m >= n and m <= max(8, 1.5 * n + 2)
