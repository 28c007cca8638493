"""Shared, session-scoped simulated datasets for the ML tests (kept small: 2-core CI budget)."""

from __future__ import annotations

import pytest

import darkfit  # noqa: F401  (float64)
from darkfit.detector import load_detector
from darkfit.ml.datasets import simulate_dataset, split


@pytest.fixture(scope="session", autouse=True)
def _one_openmp_thread():
    """scikit-learn's gradient boosting spins OpenMP threads; on a shared 2-core machine
    under load that oversubscription slows a fit by 10-50x, so the ML tests use one thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture(scope="session")
def lz():
    return load_detector("lz")


@pytest.fixture(scope="session")
def darwin():
    return load_detector("darwin")


@pytest.fixture(scope="session")
def lz_data(lz):
    """(train, test) of 1200 in-ROI events per class (flat ER vs 50 GeV WIMP), LZ."""
    return split(simulate_dataset(lz, 1200, seed=11), 0.5, seed=11)


@pytest.fixture(scope="session")
def darwin_data(darwin):
    """(train, test) of 800 in-ROI events per class, DARWIN."""
    return split(simulate_dataset(darwin, 800, seed=12), 0.5, seed=12)
