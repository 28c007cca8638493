"""k-nearest-neighbour mutual-information estimators (nats; divide by ln 2 for bits).

* :func:`mi_continuous` -- Kraskov, Stoegbauer, Grassberger, Phys. Rev. E 69, 066138 (2004),
  arXiv:cond-mat/0305641, estimator 1 (Eq. 8):
  I(X; Y) = psi(k) + psi(N) - < psi(n_x + 1) + psi(n_y + 1) >,
  with eps_i the max-norm distance of point i to its k-th neighbour in the joint space and
  n_x (n_y) the number of other points strictly closer than eps_i in X (Y).
* :func:`mi_continuous_discrete` -- its extension to a discrete Y (Ross, PLoS ONE 9, e87357
  (2014); the form used by LUX's ``lux_ml/mi.py``, ml_methods.md B.1):
  I(X; Y) = psi(N) + psi(k) - < psi(N_y) > - < psi(m_i) >,
  with d_i the distance of point i to its k-th neighbour *of the same class*, N_y the size of
  that class and m_i the number of points of any class within d_i (self excluded).

Both use max-norm k-d trees (scipy.spatial.cKDTree); ties are broken by a tiny seeded jitter
(1e-10 of each column's spread), as scikit-learn's ``mutual_info_classif`` does. Estimates
are biased for small N or strong dependence; compare MIs computed with equal N and k.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from darkfit._errors import bad_value


def _prepare(x, name: str, rng) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise bad_value(name, f"shape {a.shape}", "(n,) or (n, d)")
    if not np.isfinite(a).all():
        raise bad_value(name, "NaN/inf values", "finite numbers")
    spread = np.std(a, axis=0)
    return a + 1e-10 * np.where(spread > 0, spread, 1.0) * rng.standard_normal(a.shape)


def _check_k(k: int, n: int) -> None:
    if not 1 <= k < n:
        raise bad_value("k", k, f"an integer in [1, {n - 1}] (fewer neighbours than points)")


def mi_continuous(x, y, k: int = 3, seed: int = 0) -> float:
    """KSG estimator 1 of I(X; Y) for continuous X (n, d_x) and Y (n, d_y) [nats]."""
    rng = np.random.default_rng([seed, 11])
    x, y = _prepare(x, "x", rng), _prepare(y, "y", rng)
    n = x.shape[0]
    if y.shape[0] != n:
        raise bad_value("y", f"{y.shape[0]} rows", f"{n} rows, as x")
    _check_k(k, n)
    xy = np.hstack([x, y])
    eps = cKDTree(xy).query(xy, k=k + 1, p=np.inf)[0][:, -1]
    r = np.nextafter(eps, 0.0)  # strictly closer than eps
    nx = cKDTree(x).query_ball_point(x, r, p=np.inf, return_length=True) - 1
    ny = cKDTree(y).query_ball_point(y, r, p=np.inf, return_length=True) - 1
    return float(digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1)))


def mi_continuous_discrete(x, labels, k: int = 3, seed: int = 0) -> float:
    """I(X; Y) for continuous X (n, d) and a discrete label Y (n,) [nats] (Ross 2014)."""
    rng = np.random.default_rng([seed, 13])
    x = _prepare(x, "x", rng)
    y = np.asarray(labels)
    n = x.shape[0]
    if y.shape != (n,):
        raise bad_value("labels", f"shape {y.shape}", f"shape ({n},)")
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2:
        raise bad_value("labels", f"one class {classes.tolist()}", "at least two classes")
    _check_k(k, int(counts.min()))
    radius = np.empty(n)
    n_class = np.empty(n)
    for c, m in zip(classes, counts, strict=True):
        sel = y == c
        radius[sel] = cKDTree(x[sel]).query(x[sel], k=k + 1, p=np.inf)[0][:, -1]
        n_class[sel] = m
    m_i = cKDTree(x).query_ball_point(x, radius, p=np.inf, return_length=True) - 1
    return float(digamma(n) + digamma(k) - np.mean(digamma(n_class)) - np.mean(digamma(m_i)))


def to_bits(nats: float) -> float:
    """Convert nats to bits."""
    return float(nats) / float(np.log(2.0))
