"""Profile-likelihood test statistics of Cowan, Cranmer, Gross, Vitells (arXiv:1007.1727).

API summary (names are stable)::

    t_mu(nll_mu, nll_hat)                                    # eq. (8)
    t_tilde_mu(nll_mu, nll_hat, poi_hat, nll_zero=None)      # eq. (11)
    q0(nll_zero, nll_hat, poi_hat)                           # eq. (12)
    q_mu(nll_mu, nll_hat, poi_hat, mu)                       # eq. (14)
    q_tilde_mu(nll_mu, nll_hat, poi_hat, mu, nll_zero=None)  # eq. (16)
    STATISTICS = ("q0", "q_mu", "q_tilde", "t_mu", "t_tilde")
    scan_statistic(model, data, tested, statistic="q_tilde") -> StatScan   # fits + statistic
    statistic_from_scan(scan, statistic) -> (q (T, K), ok (T, K))
    poi_lower_for(statistic) -> 0.0 (q0, q_tilde, t_tilde) or -inf (q_mu, t_mu)

Arguments are negative log-likelihoods (NLL = -ln L), so -2 ln lambda(mu) = 2 [NLL(mu,
theta_hathat(mu)) - NLL(mu_hat, theta_hat)]: ``nll_mu`` from the fit with the signal fixed at
``mu``, ``nll_hat`` from the unconditional fit, ``nll_zero`` from the fit with the signal
fixed at 0; ``poi_hat`` is the unconditional estimate. All functions broadcast (numpy or JAX
arrays) and clip the tiny negative values a finite fit tolerance can leave to 0.

Which unconditional fit: q0, q~_mu and t~_mu are defined with mu_hat >= 0 handled through
``nll_zero`` (eqs. 10, 12, 16); a fit with the signal bounded below by 0 gives exactly the same
numbers (its NLL *is* NLL(0) when the unbounded mu_hat < 0), so :func:`scan_statistic` uses
``poi_lower = 0`` for them. q_mu and t_mu (eqs. 8, 14) need the unbounded estimator: there the
signal may go negative (``poi_lower = -inf``, down to where the rates stay positive, see
:mod:`.rate_fit`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from darkfit._errors import bad_value
from darkfit.inference.rate_fit import ProfileScan, RateData, RateModel, profile_scan

#: Names accepted by :func:`scan_statistic`.
STATISTICS = ("q0", "q_mu", "q_tilde", "t_mu", "t_tilde")


def _twice(a, b):
    return np.maximum(2.0 * (np.asarray(a) - np.asarray(b)), 0.0)


def t_mu(nll_mu, nll_hat):
    """t_mu = -2 ln lambda(mu), arXiv:1007.1727 eq. (8) (two-sided, mu_hat unbounded)."""
    return _twice(nll_mu, nll_hat)


def t_tilde_mu(nll_mu, nll_hat, poi_hat, nll_zero=None):
    """t~_mu = -2 ln lambda~(mu), eqs. (10)-(11): the denominator is the fit at mu = 0 when
    mu_hat < 0 (``nll_zero``; not needed if ``nll_hat`` comes from a fit with mu >= 0)."""
    den = nll_hat if nll_zero is None else np.where(np.asarray(poi_hat) < 0, nll_zero, nll_hat)
    return _twice(nll_mu, den)


def q0(nll_zero, nll_hat, poi_hat):
    """Discovery statistic q0 = -2 ln lambda(0) for mu_hat >= 0, else 0: eq. (12)."""
    return np.where(np.asarray(poi_hat) >= 0, _twice(nll_zero, nll_hat), 0.0)


def q_mu(nll_mu, nll_hat, poi_hat, mu):
    """One-sided upper-limit statistic q_mu = -2 ln lambda(mu) for mu_hat <= mu, else 0:
    eq. (14) (mu_hat unbounded)."""
    return np.where(np.asarray(poi_hat) <= np.asarray(mu), _twice(nll_mu, nll_hat), 0.0)


def q_tilde_mu(nll_mu, nll_hat, poi_hat, mu, nll_zero=None):
    """Upper-limit statistic q~_mu, eq. (16): -2 ln [L(mu)/L(0)] for mu_hat < 0,
    -2 ln [L(mu)/L(mu_hat)] for 0 <= mu_hat <= mu, 0 for mu_hat > mu. Without ``nll_zero``,
    ``nll_hat`` must come from a fit with mu_hat >= 0 (then the two are identical)."""
    den = nll_hat if nll_zero is None else np.where(np.asarray(poi_hat) < 0, nll_zero, nll_hat)
    return np.where(np.asarray(poi_hat) <= np.asarray(mu), _twice(nll_mu, den), 0.0)


class StatScan(NamedTuple):
    """A test statistic on a grid: ``q`` (n_toys, K) at the ``tested`` signal multipliers (K,),
    ``ok`` (n_toys, K) both fits converged, ``poi_hat`` (n_toys,), and the fits (``scan``)."""

    statistic: str
    tested: np.ndarray
    q: np.ndarray
    ok: np.ndarray
    poi_hat: np.ndarray
    scan: ProfileScan

    @property
    def n_failed(self) -> int:
        """Toy x tested-value entries whose fits did not converge (flagged, kept)."""
        return int((~self.ok).sum())


def poi_lower_for(statistic: str) -> float:
    """Lower bound of the signal in the unconditional fit that ``statistic`` needs."""
    if statistic not in STATISTICS:
        raise bad_value("statistic", statistic, f"one of {STATISTICS}")
    return -np.inf if statistic in ("q_mu", "t_mu") else 0.0


def statistic_from_scan(scan: ProfileScan, statistic: str) -> tuple[np.ndarray, np.ndarray]:
    """The statistic (n_toys, K) and fit flags (n_toys, K) from a
    :func:`~.rate_fit.profile_scan` whose ``poi_lower`` is the one the statistic needs
    (0 for q0, q~_mu, t~_mu; -inf for q_mu, t_mu; checked)."""
    want = poi_lower_for(statistic)
    if scan.poi_lower != want:
        raise bad_value("scan poi_lower", scan.poi_lower, f"{want} for {statistic}")
    nh, ph = scan.hat.nll[:, None], scan.poi_hat[:, None]
    nll = scan.cond.nll
    if statistic == "q0":
        q = q0(nll, nh, ph)
    elif statistic in ("q_mu", "q_tilde"):
        q = q_mu(nll, nh, ph, scan.tested[None, :])  # eq. 16 == eq. 14 with the bounded fit
    else:
        q = t_mu(nll, nh)  # eq. 11 == eq. 8 with the bounded fit
    return q, scan.cond.converged & scan.hat.converged[:, None]


def scan_statistic(
    model: RateModel, data: RateData, tested, statistic: str = "q_tilde", **fit_kw
) -> StatScan:
    """Fit every toy unconditionally and at each ``tested`` signal multiplier (K,) and return
    the statistic (n_toys, K). For ``"q0"`` pass ``tested=[0.0]``."""
    scan = profile_scan(model, data, tested, poi_lower=poi_lower_for(statistic), **fit_kw)
    q, ok = statistic_from_scan(scan, statistic)
    return StatScan(statistic, scan.tested, q, ok, scan.poi_hat, scan)


__all__ = [
    "STATISTICS",
    "StatScan",
    "poi_lower_for",
    "q0",
    "q_mu",
    "q_tilde_mu",
    "scan_statistic",
    "statistic_from_scan",
    "t_mu",
    "t_tilde_mu",
]
