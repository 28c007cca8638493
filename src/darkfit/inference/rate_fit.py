"""Batched maximum-likelihood fits of rate multipliers with fixed per-event densities.

API summary (names are stable; other modules build on them)::

    RateModel(mu, poi=-1, constraint_sigma=None, poi_lower=0.0, poi_upper=inf)   # validated
    RateData(log_p, weights, support, centres)        # arrays, one row per toy
    unbinned_data(log_p, weights, centres=None) -> RateData   # weights: bool mask or floats
    binned_model(templates, poi=-1, ...) -> RateModel           # templates (n_bins, n_src)
    binned_data(templates, counts, centres=None) -> RateData    # counts (n_toys, n_bins)
    concat_data([RateData, ...]) -> RateData                    # stack toys, pad events
    fit_rates(model, data, poi_value=None) -> RateFit           # unconditional / conditional
    fit_configurations(model, data, [None, v1, ...]) -> RateFit (n_toys, K)  # several at once
    profile_scan(model, data, tested, poi_lower=None) -> ProfileScan   # hat + K fixed-poi fits
    nll_values(model, data, x) -> (n_toys,) NLL at given multipliers
    fit_kernel(...)                                              # the pure, jitted JAX kernel

The model (extended unbinned likelihood with Gaussian constraints; "rate-only": the per-event
densities are fixed, only the source multipliers m_j float)::

    NLL(m) = sum_j m_j mu_j - sum_i w_i ln( sum_j m_j mu_j p_ij )
             + sum_k (m_k - c_k)^2 / (2 sigma_k^2)

p_ij: normalised density of event i under source j (given as ln p, shape (n_toys, n_max,
n_src), padded), w_i: event weights (1 for an event, 0 for padding, any value >= 0 for
weighted Asimov data), mu_j: nominal expected counts, c_k: the global observable (auxiliary
measurement) of constrained multiplier k, one per toy (fluctuated in toys, 1 for data).
Data-only constants (ln n_b! for binned data, the constraints' normalisation) are left out:
they cancel in every test statistic. A binned Poisson model is the same formula with bins as
"events", w_b = n_b, p_bj = T_bj / mu_j (template T, mu_j = sum_b T_bj), which is how
:func:`binned_model` / :func:`binned_data` reuse the kernel.

Multipliers: each non-signal multiplier has ``constraint_sigma`` inf (free, unconstrained),
0 (fixed at its centre) or > 0 (Gaussian constraint); all are >= 0. The signal multiplier
(parameter of interest, index ``poi``) lies in [poi_lower, poi_upper]. Choice, documented:
``poi_lower = 0`` by default (q~_mu, q0 of arXiv:1007.1727 eqs. 12 and 16 need exactly this
bounded estimator); ``poi_lower = -inf`` lets the signal go negative as long as the model stays
a valid Poisson process *where it is probed*: the total rate at every event with weight > 0
must stay > 0, every supported bin's expectation >= 0 and the total expectation >= 0 (for
unbinned data the density between the observed events is not checked, as in RooFit). The
unbounded estimator is what q_mu and t_mu (eqs. 8, 14) need for their asymptotic laws.

Minimiser: the NLL is convex in m (a linear rate inside -ln, plus quadratic constraints), so a
projected Newton method (Bertsekas, SIAM J. Control Optim. 20 (1982) 221) with the exact
gradient and Hessian converges from any feasible start: variables at a bound whose gradient
points outwards are held, the Newton system is solved for the rest, the step is projected on
the box and halved until the NLL decreases (the decrease is computed as a difference with
log1p, so it stays accurate when the NLL itself is large; a ratio test first shortens steps
that would cross a rate-positivity boundary). Limitation: with a negative-allowed signal the
minimum can lie *on* such a boundary (an empty bin, or no events at all, wants a vanishing
expectation); the fit then approaches it geometrically but is flagged ``converged=False``
(the KKT test only knows box bounds). For unbinned data this happens when a deficit sits
where no event probes the density (e.g. no event near a signal peak): the fit then lowers
the total expectation towards 0 -- q_mu / t_mu (negative signal) are therefore reliable for
binned data and for unbinned data with events throughout the signal region; q~_mu and q0
(signal >= 0) have no such issue. Stops when the Newton decrement
g^T H^-1 g / 2 (MINUIT's EDM; F. James, MINUIT reference manual, CERN D506) is below ``tol``.
One ``lax.while_loop`` per fit, vmapped over toys and fit configurations: a batch costs the
iterations of its slowest member (a handful; the loop is capped at ``max_iter``). Toys that do
not converge are refitted from a different start; those that still fail keep
``converged = False`` and are counted in ``RateFit.n_failed`` -- never dropped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from darkfit._errors import DarkfitInputError, bad_value

#: Default stopping tolerance on the Newton decrement / EDM (NLL units).
TOL = 1e-12
#: Newton iterations per attempt (a convex rate fit needs ~5-15); the retry gets 4x more.
MAX_ITER = 60
#: Step halvings tried per Newton iteration.
N_HALVINGS = 30


@dataclass(frozen=True)
class RateModel:
    """Nominal expectations and parameter ranges of a rate-multiplier fit (validated).

    Attributes:
        mu: (n_src,) expected events of each source at multiplier 1 [events], > 0.
        poi: index of the signal multiplier (parameter of interest); negative counts from
            the end.
        constraint_sigma: (n_src,) Gaussian width of each multiplier's constraint: inf = free,
            0 = fixed at its centre, > 0 = constrained; ignored for the poi (always free).
            Default: every multiplier free.
        poi_lower, poi_upper: range of the signal multiplier (see the module docstring).
    """

    mu: np.ndarray
    poi: int = -1
    constraint_sigma: np.ndarray | None = None
    poi_lower: float = 0.0
    poi_upper: float = np.inf

    def __post_init__(self):
        mu = np.asarray(self.mu, dtype=float).reshape(-1)
        if mu.size == 0 or not np.all(np.isfinite(mu) & (mu > 0)):
            raise bad_value("mu", mu.tolist(), "finite expected counts > 0, one per source")
        if not -mu.size <= int(self.poi) < mu.size:
            raise bad_value("poi", self.poi, f"a source index in [-{mu.size}, {mu.size})")
        poi = int(self.poi) % mu.size
        sig = np.full(mu.size, np.inf) if self.constraint_sigma is None else self.constraint_sigma
        sig = np.array(sig, dtype=float).reshape(-1)
        if sig.shape != mu.shape or np.any(np.isnan(sig) | (sig < 0)):
            raise bad_value("constraint_sigma", sig.tolist(), f"{mu.size} widths >= 0 (inf: free)")
        sig[poi] = np.inf
        lo, hi = float(self.poi_lower), float(self.poi_upper)
        if np.isnan(lo) or np.isnan(hi) or not lo < hi:
            raise bad_value("poi range", (lo, hi), "poi_lower < poi_upper")
        for k, v in dict(mu=mu, poi=poi, constraint_sigma=sig, poi_lower=lo, poi_upper=hi).items():
            object.__setattr__(self, k, v)

    @property
    def n_src(self) -> int:
        return len(self.mu)

    def replace(self, **changes) -> RateModel:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def binned_model(templates, poi: int = -1, constraint_sigma=None, **kw) -> RateModel:
    """A :class:`RateModel` for binned Poisson data: ``templates`` (n_bins, n_src) are the
    expected counts per bin of each source at multiplier 1; mu_j = sum_b templates[b, j]."""
    t = _templates(templates)
    return RateModel(t.sum(axis=0), poi, constraint_sigma, **kw)


class RateData(NamedTuple):
    """Toy datasets in the kernel's form (one row per toy).

    Attributes:
        log_p: (n_toys, n_max, n_src) ln p_ij (padding rows: any finite value).
        weights: (n_toys, n_max) w_i >= 0 (0: padding).
        support: (n_toys, n_max) rows where the model's rate must stay >= 0 (events; bins).
        centres: (n_toys, n_src) global observables c_k of the constraints.
    """

    log_p: np.ndarray
    weights: np.ndarray
    support: np.ndarray
    centres: np.ndarray

    @property
    def n_toys(self) -> int:
        return self.weights.shape[0]

    def n_events(self) -> np.ndarray:
        """Sum of the weights of every toy (the event count for unweighted data)."""
        return self.weights.sum(axis=1)


def _centres(centres, n_toys: int, n_src: int) -> np.ndarray:
    if centres is None:
        return np.ones((n_toys, n_src))
    c = np.asarray(centres, dtype=float)
    if c.ndim == 1:
        c = np.broadcast_to(c, (n_toys, c.size))
    if c.shape != (n_toys, n_src) or not np.all(np.isfinite(c)):
        raise bad_value(
            "centres", f"array of shape {c.shape}", f"finite, shape ({n_toys}, {n_src})"
        )
    return np.array(c)


def unbinned_data(log_p, weights, centres=None) -> RateData:
    """Validate padded per-event data. ``weights``: bool mask or floats >= 0, (n_toys, n_max).

    A single dataset may be given as log_p (n, n_src) and weights (n,). NaN anywhere, +inf
    log densities, negative weights, or an event with zero density under every source give
    a one-line :class:`~darkfit._errors.DarkfitInputError`.
    """
    lp = np.asarray(log_p, dtype=float)
    w = np.asarray(weights)
    if lp.ndim == 2 and w.ndim == 1:
        lp, w = lp[None], w[None]
    w = w.astype(float)
    if lp.ndim != 3 or w.shape != lp.shape[:2]:
        raise bad_value("log_p / weights shapes", (lp.shape, w.shape), "(T, n, J) and (T, n)")
    if np.isnan(lp).any():
        t, i, j = np.argwhere(np.isnan(lp))[0]
        raise DarkfitInputError(f"log_p[{t}, {i}, {j}] is NaN: every ln density must be a number")
    if np.isposinf(lp).any():
        raise bad_value("log_p", "+inf", "finite log densities or -inf (zero density)")
    if not np.all(np.isfinite(w) & (w >= 0)):
        raise bad_value("weights", "negative or non-finite", "weights >= 0 (0: padding)")
    dead = (w > 0) & np.all(np.isneginf(lp), axis=2)
    if dead.any():
        t, i = np.argwhere(dead)[0]
        raise DarkfitInputError(
            f"event {i} of toy {t} has zero density under every source: it cannot be fitted"
        )
    return RateData(lp, w, w > 0, _centres(centres, w.shape[0], lp.shape[2]))


def _templates(templates) -> np.ndarray:
    t = np.asarray(templates, dtype=float)
    if t.ndim != 2 or not np.all(np.isfinite(t) & (t >= 0)) or np.any(t.sum(axis=0) <= 0):
        raise bad_value("templates", f"array of shape {t.shape}", "(n_bins, n_src) counts >= 0")
    return t


def binned_data(templates, counts, centres=None) -> RateData:
    """Binned toys (n_toys, n_bins) (or one dataset (n_bins,)) in the kernel's form."""
    t = _templates(templates)
    n = np.asarray(counts, dtype=float)
    n = n[None] if n.ndim == 1 else n
    if n.ndim != 2 or n.shape[1] != t.shape[0]:
        raise bad_value("counts shape", n.shape, f"(n_toys, {t.shape[0]})")
    if np.isnan(n).any():
        raise DarkfitInputError("counts contain NaN: every bin needs a count")
    if not np.all(np.isfinite(n) & (n >= 0)):
        raise bad_value("counts", "negative or infinite", "counts >= 0")
    empty = t.sum(axis=1) == 0
    if np.any(n[:, empty] > 0):
        raise DarkfitInputError("a bin with zero expectation under every source has counts")
    with np.errstate(divide="ignore"):
        lp = np.log(t / t.sum(axis=0))
    lp = np.where(empty[:, None], 0.0, lp)
    log_p = np.broadcast_to(lp, (n.shape[0], *lp.shape))
    support = np.broadcast_to(~empty, n.shape)
    return RateData(log_p, n, support, _centres(centres, n.shape[0], t.shape[1]))


def concat_data(parts: list[RateData]) -> RateData:
    """Stack datasets along the toy axis, padding the event axis to the longest (weight 0)."""
    n = max(p.log_p.shape[1] for p in parts)

    def pad(a, fill):
        width = [(0, 0), (0, n - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
        return np.pad(a, width, constant_values=fill)

    return RateData(
        np.concatenate([pad(p.log_p, 0.0) for p in parts]),
        np.concatenate([pad(p.weights, 0.0) for p in parts]),
        np.concatenate([pad(p.support, False) for p in parts]),
        np.concatenate([p.centres for p in parts]),
    )


class RateFit(NamedTuple):
    """Fit results, batch shape ``(n_toys,)`` or ``(n_toys, K)``.

    Attributes:
        x: (..., n_src) best-fit multipliers (x[..., poi] is the signal).
        nll: (...) NLL at the minimum (module docstring; constants dropped).
        converged: (...) EDM below tolerance at a feasible point.
        edm: (...) final Newton decrement g^T H^-1 g / 2.
        n_iter: (...) Newton iterations of the attempt that was kept.
        n_failed: fits that did not converge even after the retry (never dropped).
    """

    x: np.ndarray
    nll: np.ndarray
    converged: np.ndarray
    edm: np.ndarray
    n_iter: np.ndarray
    n_failed: int


# ---------------------------------------------------------------------- kernel
def _prepare(log_p, w, support, mu):
    """Scaled rates a_ij = exp(ln p_ij + ln mu_j - M_i) and offsets M_i (log-sum-exp guard)."""
    lg = log_p + jnp.log(mu)
    m = jnp.max(lg, axis=-1)
    m = jnp.where(support & jnp.isfinite(m), m, 0.0)
    a = jnp.where(support[:, None], jnp.exp(lg - m[:, None]), 0.0)
    return a, m


def _feasible(r, nu, w, support):
    return jnp.all(jnp.where(w > 0, r > 0, True) & jnp.where(support, r >= 0, True)) & (nu >= 0)


def _nll(x, a, m, w, support, mu, c, iv):
    r = a @ x
    nu = jnp.dot(x, mu)
    logr = jnp.log(jnp.where((w > 0) & (r > 0), r, 1.0)) + m
    f = nu - jnp.sum(w * logr) + 0.5 * jnp.sum(iv * (x - c) ** 2)
    return jnp.where(_feasible(r, nu, w, support), f, jnp.inf)


def _fit_one(a, m, w, support, mu, c, iv, lo, hi, free, x0, max_iter, tol):
    """Projected Newton for one toy and one configuration (free mask, bounds, start)."""
    n_src = mu.shape[0]
    eye = jnp.eye(n_src)

    def newton_direction(x):
        r = jnp.where(w > 0, a @ x, 1.0)
        q = w / r
        g = mu - a.T @ q + iv * (x - c)
        h = (a * (q / r)[:, None]).T @ a + jnp.diag(iv)
        act = free & (((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0)))
        ina = free & ~act
        hr = jnp.where(ina[:, None] & ina[None, :], h, eye)
        # tiny Levenberg term: keeps a singular block (a source no event can come from)
        # solvable; its huge step is then cut by the bounds
        hr = hr + jnp.diag(1e-12 * jnp.abs(jnp.diag(hr)) + 1e-30 * (1.0 + mu**2))
        gr = jnp.where(ina, g, 0.0)
        d = -_solve_spd(hr, gr)
        return d, -0.5 * jnp.dot(gr, d)

    def decrease(x, step):
        """NLL(x + step) - NLL(x), accurate when both are large (log1p of rate ratios)."""
        r, dr = a @ x, a @ step
        xn = x + step
        rn, nun = r + dr, jnp.dot(xn, mu)
        ok = _feasible(rn, nun, w, support)
        rs = jnp.where(w > 0, r, 1.0)
        ratio = jnp.where((w > 0) & ok, dr / rs, 0.0)
        dlog = jnp.sum(w * jnp.log1p(jnp.maximum(ratio, -1.0 + 1e-300)))
        dcon = 0.5 * jnp.sum(iv * step * (2.0 * (x - c) + step))
        return jnp.where(ok, jnp.dot(step, mu) - dlog + dcon, jnp.inf)

    def line_search(x, d):
        # backtracking along the projection arc clip(x + alpha d, lo, hi) - x. Ratio test on
        # the rates (reachable with a negative signal, or where a bin is empty under every
        # source but the signal): an event row (w > 0) must keep a rate > 0, so alpha starts
        # at 99% of the way to its zero; a row that only needs rate >= 0 (an empty bin) may
        # reach zero exactly. With 99% there too, a signal whose bound coincides with such a
        # bin's zero crept towards the bound by a factor 100 per iteration and never reached
        # it (seen as unconverged NN-1D template fits, ml/limits.py)
        dd = jnp.where(free, d, 0.0)
        r, dr = a @ x, a @ dd
        strict = (w > 0) & (dr < 0)
        weak = support & (w <= 0) & (dr < 0)
        a_strict = jnp.min(jnp.where(strict, -r / jnp.where(strict, dr, -1.0), jnp.inf))
        a_weak = jnp.min(jnp.where(weak, -r / jnp.where(weak, dr, -1.0), jnp.inf))
        nu, dnu = jnp.dot(x, mu), jnp.dot(dd, mu)
        a_nu = jnp.where(dnu < 0, -nu / jnp.where(dnu < 0, dnu, -1.0), jnp.inf)
        alpha0 = jnp.minimum(jnp.minimum(1.0, 0.99 * a_strict), jnp.minimum(a_weak, a_nu))

        def cond(s):
            k, _, delta = s
            return (delta >= 0) & (k < N_HALVINGS)

        def body(s):
            k, _, _ = s
            step = jnp.clip(x + alpha0 * 0.5**k * d, lo, hi) - x
            step = jnp.where(free, step, 0.0)
            return k + 1, step, decrease(x, step)

        init = (jnp.int32(0), jnp.zeros_like(x), jnp.asarray(jnp.inf, x.dtype))
        _, step, delta = jax.lax.while_loop(cond, body, init)
        return step, delta < 0

    def cond(s):
        _, it, done, _ = s
        return (~done) & (it < max_iter)

    def body(s):
        x, it, _, _ = s
        d, edm = newton_direction(x)
        small = edm < tol
        step, ok = line_search(x, d)
        take = ok & ~small
        return jnp.where(take, x + step, x), it + 1, small | ~ok, edm

    x0 = _feasible_start(jnp.clip(x0, lo, hi), a, w, support, mu, free)
    init = (x0, jnp.int32(0), jnp.asarray(False), jnp.asarray(jnp.inf, x0.dtype))
    # the loop stops when the EDM at the current point is small (no step is then taken), on
    # a failed line search (no step either) or at max_iter (then edm, from before the last
    # step, is >= tol: flagged)
    x, it, _, edm = jax.lax.while_loop(cond, body, init)
    f = _nll(x, a, m, w, support, mu, c, iv)
    return x, f, (edm < tol) & jnp.isfinite(f), edm, it


def _solve_spd(h, g):
    """Solve h x = g for a small symmetric positive-definite h by an unrolled LDL^T
    factorisation (n_src is static and small; compiles much faster than a batched LU)."""
    n = h.shape[0]
    low = [[None] * n for _ in range(n)]
    diag = [None] * n
    for i in range(n):
        for j in range(i):
            s = h[i, j] - sum(low[i][k] * low[j][k] * diag[k] for k in range(j))
            low[i][j] = s / diag[j]
        di = h[i, i] - sum(low[i][k] ** 2 * diag[k] for k in range(i))
        diag[i] = jnp.maximum(di, 1e-300)
    y = []
    for i in range(n):
        y.append(g[i] - sum(low[i][k] * y[k] for k in range(i)))
    x = [None] * n
    for i in reversed(range(n)):
        x[i] = y[i] / diag[i] - sum(low[k][i] * x[k] for k in range(i + 1, n))
    return jnp.stack(x)


def _feasible_start(x0, a, w, support, mu, free):
    """Scale the free multipliers up until every rate is positive (needed when a fixed
    negative signal would make the start infeasible; a no-op for feasible starts)."""
    fixed_part, free_part = a @ jnp.where(free, 0.0, x0), a @ jnp.where(free, x0, 0.0)
    need = jnp.where(
        (w > 0) & (free_part > 0), -fixed_part / jnp.where(free_part > 0, free_part, 1.0), 0.0
    )
    nu_fix, nu_free = jnp.dot(jnp.where(free, 0.0, x0), mu), jnp.dot(jnp.where(free, x0, 0.0), mu)
    need_nu = jnp.where(nu_free > 0, -nu_fix / jnp.where(nu_free > 0, nu_free, 1.0), 0.0)
    lam = jnp.maximum(jnp.maximum(jnp.max(need, initial=0.0), need_nu), 0.0)
    return jnp.where(lam >= 1.0, jnp.where(free, 2.0 * lam * x0, x0), x0)


@jax.jit
def fit_kernel(log_p, w, support, centres, mu, iv, lo, hi, free, x0, max_iter, tol):
    """Fit every toy in every configuration (pure JAX; vmapped twice, jitted once per shape).

    Shapes: log_p (T, n, J); w, support (T, n); centres (T, J); mu, iv (J,) (iv = 1/sigma^2,
    0 for unconstrained); lo, hi, free (K, J) per configuration; x0 (T, K, J) starts.
    Returns x (T, K, J), nll (T, K), converged (T, K), edm (T, K), n_iter (T, K).
    """

    def per_toy(lp, wt, sup, c, x0s):
        a, m = _prepare(lp, wt, sup, mu)
        inner = jax.vmap(_fit_one, in_axes=(None,) * 7 + (0, 0, 0, 0, None, None))
        return inner(a, m, wt, sup, mu, c, iv, lo, hi, free, x0s, max_iter, tol)

    return jax.vmap(per_toy)(log_p, w, support, centres, x0)


@jax.jit
def _nll_batch(log_p, w, support, centres, mu, iv, x):
    def one(lp, wt, sup, c, xx):
        a, m = _prepare(lp, wt, sup, mu)
        return _nll(xx, a, m, wt, sup, mu, c, iv)

    return jax.vmap(one)(log_p, w, support, centres, x)


# ---------------------------------------------------------------------- friendly layer
def _inv_var(model: RateModel) -> np.ndarray:
    s = model.constraint_sigma
    return np.where(np.isfinite(s) & (s > 0), 1.0 / np.where(s > 0, s, 1.0) ** 2, 0.0)


def _configs(model: RateModel, poi_values, poi_lower):
    """Bounds and free masks (K, J) for the unconditional fit (None) and fixed-poi values."""
    j, p = model.n_src, model.poi
    lo = np.zeros((len(poi_values), j))
    hi = np.full((len(poi_values), j), np.inf)
    free = np.tile(np.asarray(model.constraint_sigma) != 0, (len(poi_values), 1))
    for k, v in enumerate(poi_values):
        if v is None:
            lo[k, p], hi[k, p], free[k, p] = poi_lower, model.poi_upper, True
        else:
            lo[k, p], hi[k, p], free[k, p] = -np.inf, np.inf, False
    return lo, hi, free


def _starts(model: RateModel, data: RateData, fixed_poi: np.ndarray, lo, alt: bool):
    """Starts (T, K, J): nuisances at their centres, the poi from the event excess, all free
    multipliers strictly inside the feasible region (``alt``: backgrounds scaled to the event
    count and the poi one Poisson sigma higher, for the retry)."""
    t, j, p = data.n_toys, model.n_src, model.poi
    k = fixed_poi.shape[1]
    c = np.maximum(data.centres, 1e-3)
    x0 = np.array(np.broadcast_to(c[:, None, :], (t, k, j)))
    x0[:, :, ~np.isfinite(model.constraint_sigma)] = 1.0
    n = data.n_events()
    bkg = np.delete(x0[:, 0, :] * model.mu, p, axis=1).sum(axis=1)
    excess = n - bkg
    if alt:
        free_bkg = model.constraint_sigma != 0
        free_bkg[p] = False
        x0[:, :, free_bkg] *= ((n + 1.0) / (bkg + 1.0))[:, None, None]
        excess = excess + np.sqrt(n + 1.0)
    # the poi starts >= 0.1 expected events above its lower bound (all rates > 0 there)
    floor = np.where(np.isfinite(lo[:, p]), lo[:, p], 0.0) + 0.1 / model.mu[p]
    guess = np.minimum(np.maximum(excess[:, None] / model.mu[p], floor[None, :]), model.poi_upper)
    guess = np.where(np.isfinite(guess), guess, floor[None, :])
    x0[:, :, p] = np.where(np.isnan(fixed_poi), guess, fixed_poi)
    return x0


def fit_configurations(
    model: RateModel,
    data: RateData,
    poi_values: list,
    poi_lower: float | None = None,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
) -> RateFit:
    """Fit every toy in K configurations in one batched call: ``poi_values[k]`` is None
    (unconditional, signal in [poi_lower, poi_upper]) or the fixed signal multiplier (a scalar
    or one value per toy). Returns a :class:`RateFit` of batch shape (n_toys, K)."""
    poi_lower = model.poi_lower if poi_lower is None else float(poi_lower)
    if data.log_p.shape[2] != model.n_src:
        raise bad_value("sources in log_p", data.log_p.shape[2], f"{model.n_src} (len(mu))")
    t = data.n_toys
    lo, hi, free = _configs(model, poi_values, poi_lower)
    fixed = np.full((t, len(poi_values)), np.nan)
    for k, v in enumerate(poi_values):
        if v is not None:
            fixed[:, k] = np.broadcast_to(np.asarray(v, dtype=float), (t,))
            if not np.all(np.isfinite(fixed[:, k])):
                raise bad_value("poi_value", v, "finite signal multipliers")
    cfg = (model.mu, _inv_var(model), lo, hi, free)
    x0 = _starts(model, data, fixed, lo, alt=False)
    out = _fit_chunked(data, cfg, x0, max_iter, tol)
    rows = np.flatnonzero(~out[2].all(axis=1))
    if rows.size:  # retry failures from another start (converged fits restart at their minimum)
        sub = RateData(*(a[rows] for a in data))
        bad = ~out[2][rows]
        alt = _starts(model, sub, fixed[rows], lo, alt=True)
        x1 = np.where(bad[..., None], alt, out[0][rows])
        # padded to the first pass's shape: no new compilation
        again = _fit_chunked(sub, cfg, x1, 4 * max_iter, tol, min(CHUNK, _pow2(data.n_toys)))
        take = bad & (again[2] | (again[1] < out[1][rows]))
        for o, g in zip(out, again, strict=True):
            o[rows] = np.where(take.reshape(take.shape + (1,) * (o.ndim - 2)), g, o[rows])
    x, nll, conv, edm, n_iter = out
    return RateFit(x, nll, conv, edm, n_iter, int((~conv).sum()))


#: Toys per kernel call; smaller batches are padded to a power of two and the number of
#: configurations K too, so that few shapes are compiled (each compilation takes seconds).
CHUNK = 1024


def _pow2(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


def _fit_chunked(data: RateData, cfg, x0: np.ndarray, max_iter: int, tol: float, pad_to: int = 1):
    """Run :func:`fit_kernel` over chunks of toys with padded (bucketed) shapes."""
    mu, iv, lo, hi, free = cfg
    t, k = x0.shape[:2]
    kp = _pow2(k)
    pad_k = np.r_[np.arange(k), np.full(kp - k, k - 1)]
    lo, hi, free, x0 = lo[pad_k], hi[pad_k], free[pad_k], x0[:, pad_k]
    consts = [jnp.asarray(v) for v in (mu, iv, lo, hi, free)]
    parts = []
    for start in range(0, t, CHUNK):
        idx = np.arange(start, min(start + CHUNK, t))
        idx = np.r_[idx, np.full(max(_pow2(idx.size), pad_to) - idx.size, idx[-1])]
        arrays = [jnp.asarray(a[idx]) for a in data] + consts + [jnp.asarray(x0[idx])]
        res = fit_kernel(*arrays, max_iter, tol)
        n_real = min(CHUNK, t - start)
        parts.append([np.array(v)[:n_real, :k] for v in res])
    return [np.concatenate(p) for p in zip(*parts, strict=True)]


def fit_rates(
    model: RateModel,
    data: RateData,
    poi_value=None,
    *,
    poi_lower: float | None = None,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
) -> RateFit:
    """Fit every toy: unconditional (``poi_value=None``; signal in [poi_lower, poi_upper],
    ``poi_lower`` defaults to the model's) or conditional (signal fixed at ``poi_value``, a
    scalar or one value per toy). Returns a :class:`RateFit` of batch shape (n_toys,)."""
    lower = model.poi_lower if poi_lower is None else float(poi_lower)
    res = fit_configurations(model, data, [poi_value], lower, max_iter, tol)
    return RateFit(*(v[:, 0] for v in res[:5]), res.n_failed)


class ProfileScan(NamedTuple):
    """Unconditional fit ``hat`` (n_toys,) and conditional fits ``cond`` (n_toys, K) at the
    ``tested`` signal multipliers (K,); ``poi_lower`` is the bound used for ``hat`` and
    ``poi`` the signal's index."""

    tested: np.ndarray
    hat: RateFit
    cond: RateFit
    poi_lower: float
    poi: int

    @property
    def poi_hat(self) -> np.ndarray:
        """Unconditional signal estimates (n_toys,)."""
        return self.hat.x[:, self.poi]


def profile_scan(
    model: RateModel,
    data: RateData,
    tested,
    *,
    poi_lower: float | None = None,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
) -> ProfileScan:
    """The fits every profile-likelihood test statistic needs, in one batched call."""
    tested = np.atleast_1d(np.asarray(tested, dtype=float))
    if tested.ndim != 1 or not np.all(np.isfinite(tested)):
        raise bad_value("tested signal values", tested.tolist(), "a 1-D array of finite numbers")
    lower = model.poi_lower if poi_lower is None else float(poi_lower)
    res = fit_configurations(model, data, [None, *tested], lower, max_iter, tol)
    hat = RateFit(*(v[:, 0] for v in res[:5]), int((~res.converged[:, 0]).sum()))
    cond = RateFit(*(v[:, 1:] for v in res[:5]), int((~res.converged[:, 1:]).sum()))
    return ProfileScan(tested, hat, cond, lower, model.poi)


def nll_values(model: RateModel, data: RateData, x) -> np.ndarray:
    """NLL (n_toys,) of every toy at multipliers ``x`` ((n_src,) or (n_toys, n_src))."""
    x = np.broadcast_to(np.asarray(x, dtype=float), (data.n_toys, model.n_src))
    args = (data.log_p, data.weights, data.support, data.centres, model.mu, _inv_var(model), x)
    return np.array(_nll_batch(*(jnp.asarray(a) for a in args)))


__all__ = [
    "RateData",
    "RateFit",
    "RateModel",
    "binned_data",
    "binned_model",
    "concat_data",
    "fit_configurations",
    "fit_kernel",
    "fit_rates",
    "nll_values",
    "profile_scan",
    "unbinned_data",
]
