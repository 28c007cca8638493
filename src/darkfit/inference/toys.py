"""Toy generators for the two reference models of the rate-multiplier fits.

API summary (names are stable)::

    counting_model(b, b_rel_sigma=0.0) -> (RateModel, templates)   # one bin: [signal, bkg]
    binned_toys(rng, templates, x_true, n_toys, constraint_sigma=None) -> RateData
    sample_centres(rng, x_true, constraint_sigma, n_toys) -> (n_toys, n_src)
    draw_pool_indices(rng, pool_origin, expected, n_toys, n_max=None) -> PoolDraw
    pool_toys(rng, pool_log_p, pool_origin, expected, n_toys, *, n_max=None,
              x_true=None, constraint_sigma=None) -> (RateData, counts)
    padded_length(n) -> int            # 2^k or 1.5 * 2^k >= n (limits recompilations)

Frequentist toys fluctuate the data *and* the global observables: the centre c_k of each
Gaussian constraint is drawn as N(x_true_k, sigma_k) (the auxiliary measurement that the
constraint stands for), as in the procedure of the LHC Higgs combination
(ATL-PHYS-PUB-2011-11). Fixed multipliers (sigma = 0) keep c = x_true.

Rate-only unbinned toys ("pool" toys): source j contributes n_j ~ Poisson(expected_j) events,
drawn without replacement from that source's pool rows, whose ln p (under every source) were
computed once. Within one call the toys use *disjoint* pool events as long as the pool is
large enough (consecutive slices of a random permutation); when more events are needed the
permutation is repeated (a fresh one each time), so events are shared between toys -- keep
pools larger than n_toys * expected_j for independent toys (``PoolDraw.reuse`` reports the
ratio). A toy straddling two permutations may, rarely, hold one event twice.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from darkfit._errors import DarkfitInputError, bad_value
from darkfit.inference.rate_fit import RateData, RateModel, binned_data, binned_model, unbinned_data


def padded_length(n: int, minimum: int = 8) -> int:
    """Smallest 2^k or 1.5 * 2^k >= max(n, minimum) (few distinct shapes to compile)."""
    n = max(int(n), minimum)
    k = int(np.ceil(np.log2(n)))
    return int(1.5 * 2 ** (k - 1)) if 1.5 * 2 ** (k - 1) >= n else 2**k


def counting_model(b: float, b_rel_sigma: float = 0.0) -> tuple[RateModel, np.ndarray]:
    """One-bin counting experiment n ~ Poisson(s + b theta) with the signal multiplier equal
    to s [events] (poi 0) and the background multiplier theta constrained by a Gaussian
    auxiliary measurement of relative width ``b_rel_sigma`` (0: known background)."""
    if not (np.isfinite(b) and b > 0):
        raise bad_value("b", b, "an expected background > 0 events")
    if not (np.isfinite(b_rel_sigma) and b_rel_sigma >= 0):
        raise bad_value("b_rel_sigma", b_rel_sigma, "a relative width >= 0")
    templates = np.array([[1.0, float(b)]])
    return binned_model(templates, poi=0, constraint_sigma=[np.inf, b_rel_sigma]), templates


def sample_centres(rng: np.random.Generator, x_true, constraint_sigma, n_toys: int) -> np.ndarray:
    """Global observables (n_toys, n_src): N(x_true, sigma) where 0 < sigma < inf, else x_true."""
    x = np.asarray(x_true, dtype=float)
    s = np.asarray(constraint_sigma, dtype=float)
    con = np.isfinite(s) & (s > 0)
    c = np.tile(x, (n_toys, 1))
    c[:, con] = rng.normal(x[con], s[con], size=(n_toys, int(con.sum())))
    return c


def binned_toys(
    rng: np.random.Generator, templates, x_true, n_toys: int, constraint_sigma=None
) -> RateData:
    """Binned toys: n_b ~ Poisson(sum_j T_bj x_j), global observables per :func:`sample_centres`."""
    t = np.asarray(templates, dtype=float)
    x = np.asarray(x_true, dtype=float)
    lam = t @ x
    if not np.all(np.isfinite(lam) & (lam >= 0)):
        raise bad_value("bin expectations", lam.tolist(), "finite values >= 0")
    s = np.full(x.size, np.inf) if constraint_sigma is None else constraint_sigma
    counts = rng.poisson(lam, size=(n_toys, lam.size)).astype(float)
    return binned_data(t, counts, sample_centres(rng, x, s, n_toys))


class PoolDraw(NamedTuple):
    """Pool rows of every toy: ``index`` (n_toys, n_max) (-1: padding), ``counts`` (n_toys,
    n_src) events per source, ``reuse`` (n_src,) events drawn / pool size per source."""

    index: np.ndarray
    counts: np.ndarray
    reuse: np.ndarray


def draw_pool_indices(
    rng: np.random.Generator, pool_origin, expected, n_toys: int, n_max: int | None = None
) -> PoolDraw:
    """Poisson counts per source and, for each toy, that many distinct pool rows of the
    source (consecutive slices of random permutations; see the module docstring)."""
    origin = np.asarray(pool_origin, dtype=np.int64)
    mu = np.asarray(expected, dtype=float)
    if not np.all(np.isfinite(mu) & (mu >= 0)):
        raise bad_value("expected counts", mu.tolist(), "finite values >= 0")
    counts = rng.poisson(mu, size=(n_toys, mu.size))
    rows_all, toy_all, reuse = [], [], np.zeros(mu.size)
    for j in range(mu.size):
        rows = np.flatnonzero(origin == j)
        need = int(counts[:, j].sum())
        if need and not rows.size:
            raise DarkfitInputError(f"source {j} has expected {mu[j]:g} events but no pool rows")
        if not need:
            continue
        reuse[j] = need / rows.size
        n_perm = -(-need // rows.size)
        stream = np.concatenate([rng.permutation(rows) for _ in range(n_perm)])[:need]
        rows_all.append(stream)
        toy_all.append(np.repeat(np.arange(n_toys), counts[:, j]))
    total = counts.sum(axis=1)
    n_pad = padded_length(int(total.max(initial=0))) if n_max is None else int(n_max)
    if total.max(initial=0) > n_pad:
        raise bad_value("n_max", n_max, f">= the largest toy ({int(total.max())} events)")
    index = np.full((n_toys, n_pad), -1, dtype=np.int64)
    if rows_all:
        rows, toy = np.concatenate(rows_all), np.concatenate(toy_all)
        order = np.argsort(toy, kind="stable")
        rows, toy = rows[order], toy[order]
        pos = np.arange(toy.size) - (np.cumsum(total) - total)[toy]
        index[toy, pos] = rows
    return PoolDraw(index, counts, reuse)


def pool_toys(
    rng: np.random.Generator,
    pool_log_p,
    pool_origin,
    expected,
    n_toys: int,
    *,
    n_max: int | None = None,
    x_true=None,
    constraint_sigma=None,
) -> tuple[RateData, np.ndarray]:
    """Rate-only unbinned toys from a pool: ``pool_log_p`` (P, n_src) ln p of every pool event
    under every source, ``pool_origin`` (P,) the source each was simulated from, ``expected``
    (n_src,) the true expected counts. Global observables: :func:`sample_centres` around
    ``x_true`` (default 1) with ``constraint_sigma`` (default: none constrained).
    Returns the data and the per-source counts (n_toys, n_src)."""
    lp = np.asarray(pool_log_p, dtype=float)
    draw = draw_pool_indices(rng, pool_origin, expected, n_toys, n_max)
    mask = draw.index >= 0
    log_p = np.where(mask[..., None], lp[np.maximum(draw.index, 0)], 0.0)
    j = lp.shape[1]
    x = np.ones(j) if x_true is None else np.asarray(x_true, dtype=float)
    s = np.full(j, np.inf) if constraint_sigma is None else constraint_sigma
    return unbinned_data(log_p, mask, sample_centres(rng, x, s, n_toys)), draw.counts


__all__ = [
    "PoolDraw",
    "binned_toys",
    "counting_model",
    "draw_pool_indices",
    "padded_length",
    "pool_toys",
    "sample_centres",
]
