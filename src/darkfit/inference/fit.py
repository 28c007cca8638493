"""Bounded maximum-likelihood fits: a JAX-native damped Newton method, and iminuit as a check.

:func:`fit` minimises ``nll(theta)`` (a function of a parameter dict) over the ``free``
parameters inside box bounds, using the exact gradient and Hessian from JAX: each step solves
(H + lambda D) dx = -g (Levenberg-Marquardt damping, D = diag(H)) over the parameters not held
at a bound by their gradient (projected Newton, D. P. Bertsekas, SIAM J. Control Optim. 20
(1982) 221), clips to the bounds and is accepted only if the NLL decreases. Convergence
follows MINUIT's criterion: the estimated distance to minimum EDM = g^T H^-1 g / 2 (over the
parameters not held) below ``tol`` (F. James, MINUIT reference manual, CERN D506).
Uncertainties and correlations come from the inverse Hessian at the minimum.

:func:`fit_minuit` runs the same problem through iminuit's MIGRAD/HESSE (and optionally MINOS)
with the JAX gradient, for cross-checks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from darkfit._errors import bad_value


@dataclass(frozen=True)
class FitResult:
    """Result of a fit.

    Attributes:
        values: best-fit value of every parameter (free and fixed).
        errors: 1-sigma errors of the free parameters from the inverse Hessian.
        covariance: covariance matrix of the free parameters (order of ``free``).
        free: names of the free parameters.
        nll: NLL at the minimum.
        edm: estimated distance to minimum.
        valid: converged (EDM below tolerance, finite, positive-definite Hessian).
        n_iter: Newton iterations.
        message: why the fit stopped.
        minos: optional asymmetric errors {name: (lower, upper)} from iminuit.
    """

    values: dict[str, float]
    errors: dict[str, float]
    covariance: np.ndarray
    free: tuple[str, ...]
    nll: float
    edm: float
    valid: bool
    n_iter: int
    message: str
    minos: dict[str, tuple[float, float]] = field(default_factory=dict)

    def correlation(self) -> np.ndarray:
        """Correlation matrix of the free parameters."""
        d = np.sqrt(np.diag(self.covariance))
        return self.covariance / np.outer(d, d)


def _check(start: Mapping[str, float], free: Sequence[str], bounds: Mapping[str, tuple]):
    for name in free:
        if name not in start:
            raise bad_value("free parameter", name, f"one of {sorted(start)}")
        lo, hi = bounds.get(name, (-np.inf, np.inf))
        if not lo <= start[name] <= hi:
            raise bad_value(f"start value of {name}", start[name], f"a value in [{lo}, {hi}]")


def _at_bound(g, x, lo, hi) -> np.ndarray:
    """Parameters held at a bound by a gradient pushing outwards (the active set)."""
    return ((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0))


def _edm(g, h, x, lo, hi) -> float:
    """Estimated distance to minimum g^T H^-1 g / 2 over the parameters not held at a bound
    (the Newton step of the others, with the held ones fixed)."""
    f = ~_at_bound(g, x, lo, hi)
    if not f.any():
        return 0.0
    try:
        return 0.5 * float(g[f] @ np.linalg.solve(h[np.ix_(f, f)], g[f]))
    except np.linalg.LinAlgError:
        return np.inf


def _as_function_of_vector(nll: Callable, free: tuple[str, ...], fixed_names: tuple[str, ...]):
    """``nll`` as f(x, fixed, *args) of the free and fixed parameter vectors."""

    def f(x, fixed, *args):
        return nll(
            {**dict(zip(fixed_names, fixed, strict=True)), **dict(zip(free, x, strict=True))}, *args
        )

    return f


@functools.lru_cache(maxsize=8)
def _compiled(nll: Callable, free: tuple[str, ...], fixed_names: tuple[str, ...]):
    """Jitted value+gradient of ``nll`` in the free parameters (for iminuit), cached so
    repeated fits (toys: same ``nll``, other ``args``) compile once."""
    return jax.jit(jax.value_and_grad(_as_function_of_vector(nll, free, fixed_names)))


@functools.lru_cache(maxsize=8)
def _compiled_vgh(nll: Callable, free: tuple[str, ...], fixed_names: tuple[str, ...]):
    """Jitted (value, gradient, Hessian) of ``nll`` from ONE trace (forward-over-reverse, the
    value and gradient carried as the forward pass's auxiliary output): the Newton fit needs
    all three at every accepted point, and tracing the likelihood twice (value+gradient, then
    Hessian) cost seconds on large likelihoods. Cached like :func:`_compiled`."""
    f = _as_function_of_vector(nll, free, fixed_names)

    def grad_aux(x, fixed, *args):
        v, g = jax.value_and_grad(f)(x, fixed, *args)
        return g, (v, g)

    def vgh(x, fixed, *args):
        h, (v, g) = jax.jacfwd(grad_aux, has_aux=True)(x, fixed, *args)
        return v, g, h

    return jax.jit(vgh)


def fit(
    nll: Callable[..., jax.Array],
    start: Mapping[str, float],
    free: Sequence[str],
    bounds: Mapping[str, tuple[float, float]] | None = None,
    *,
    args: tuple = (),
    tol: float = 1e-6,
    max_iter: int = 100,
    region: Callable[[dict[str, float]], bool] | None = None,
) -> FitResult:
    """Minimise ``nll(theta, *args)`` over ``free`` starting at ``start`` (a dict of all
    parameters); ``args`` are extra arrays (e.g. a toy dataset) passed through unchanged.

    Value, gradient and Hessian come from one compiled call per trial point. With a NEST yield
    parameter free the Hessian differentiates through the quanta table: measured on the toy
    pull study (validation/toy_pulls.py, ~350 events padded to 600, two rates, g2 and NEST
    alpha; 2 cores) a fit takes 6 s after the first, 22 s for the first including compilation
    (at 860a40a; 15-19 s and 65 s before the classic CPU emitters and the per-Nq quanta-table
    parameters, when one call cost 5.4 s against 1.3 s for value + gradient).

    ``region``: optional test of a parameter point (dict of all parameters) where ``nll`` is
    valid: a trial step that leaves it is shortened (damped) until it stays inside, and after
    :data:`PRESSED_STEPS` such steps in a row the fit stops with message ``"left the
    region"`` (the frozen-S1 likelihood is exact only inside its frozen electron grids;
    :func:`fit_likelihood` re-freezes there and continues).

    ``bounds`` maps parameter names to (low, high); missing means unbounded. Compiled functions
    are cached per (``nll``, free names, fixed names): fits of many datasets passed as ``args``
    with the same shapes compile once.
    """
    bounds = dict(bounds or {})
    _check(start, free, bounds)
    free = tuple(free)
    fixed = {k: float(v) for k, v in start.items() if k not in free}
    lo = np.array([bounds.get(k, (-np.inf, np.inf))[0] for k in free], dtype=float)
    hi = np.array([bounds.get(k, (-np.inf, np.inf))[1] for k in free], dtype=float)
    names = tuple(fixed)
    fixed_vals = np.array([fixed[k] for k in names], dtype=float)
    vgh_c = _compiled_vgh(nll, free, names)

    def vgh(x):
        return tuple(np.asarray(a) for a in vgh_c(x, fixed_vals, *args))

    # damped Newton: each trial step is nearly always accepted, and the next step needs the
    # Hessian at the accepted point, so every trial point gets value, gradient and Hessian
    x = np.array([float(start[k]) for k in free])
    val, g, h = vgh(x)
    lam, edm, message, it, n_pressed = 1e-3, np.inf, "max_iter reached", 0, 0
    for it in range(1, max_iter + 1):  # noqa: B007  (it is reported in the result)
        diag = np.maximum(np.abs(np.diag(h)), 1e-12)
        # projected Newton: parameters held at a bound stay there and the step of the others
        # solves their own block (a full step clipped afterwards moves the others as if the
        # held one could cross its bound, and never converges; e.g. a rate fitted to 0)
        f = ~_at_bound(g, x, lo, hi)
        pressed = False
        while True:
            step = np.zeros_like(x)
            try:
                hf = h[np.ix_(f, f)] + lam * np.diag(diag[f])
                step[f] = np.linalg.solve(hf, -g[f])
            except np.linalg.LinAlgError:
                step[f] = -g[f] / diag[f]
            x_new = np.clip(x + step, lo, hi)
            trial = {**fixed, **{k: float(v) for k, v in zip(free, x_new, strict=True)}}
            if region is not None and not region(trial):
                pressed = True  # shorten the step (no evaluation outside the region)
            else:
                v_new, g_new, h_new = vgh(x_new)
                if np.isfinite(v_new) and v_new <= val + 1e-12 * abs(val):
                    lam = max(lam / 10, 1e-9)
                    break
            lam *= 10
            if lam > 1e12:
                message = "no decreasing step (line search failed)"
                break
        if lam > 1e12:
            break
        x, val, g, h = x_new, v_new, g_new, h_new
        edm = _edm(g, h, x, lo, hi)
        n_pressed = n_pressed + 1 if pressed else 0
        if n_pressed == PRESSED_STEPS:
            message = "left the region"
            break
        if 0 <= edm < tol:
            message = "converged"
            break
    return _result(x, val, h, edm, it, message, free, fixed)


#: Consecutive steps shortened to stay inside ``region`` before :func:`fit` stops there.
PRESSED_STEPS = 3


def _result(x, val, h, edm, it, message, free, fixed) -> FitResult:
    try:
        cov = np.linalg.inv(h)
        pos_def = bool(np.all(np.linalg.eigvalsh(0.5 * (h + h.T)) > 0))
    except np.linalg.LinAlgError:
        cov, pos_def = np.full_like(h, np.nan), False
    errors = {
        k: float(np.sqrt(cov[i, i])) if cov[i, i] > 0 else float("nan") for i, k in enumerate(free)
    }
    valid = message == "converged" and pos_def and bool(np.isfinite(val))
    return FitResult(
        {**fixed, **{k: float(v) for k, v in zip(free, x, strict=True)}},
        errors,
        cov,
        free,
        float(val),
        float(edm),
        valid,
        it,
        message,
    )


def fit_minuit(
    nll: Callable[..., jax.Array],
    start: Mapping[str, float],
    free: Sequence[str],
    bounds: Mapping[str, tuple[float, float]] | None = None,
    *,
    args: tuple = (),
    minos: bool | Sequence[str] = False,
) -> FitResult:
    """The same fit through iminuit MIGRAD + HESSE (+ MINOS), with the JAX gradient (compiled
    functions shared with :func:`fit`). ``minos``: True for every free parameter, or a list of
    names (MINOS costs tens of gradient calls per parameter and side)."""
    from iminuit import Minuit

    bounds = dict(bounds or {})
    _check(start, free, bounds)
    free = tuple(free)
    fixed = {k: float(v) for k, v in start.items() if k not in free}
    names = tuple(fixed)
    vg_c = _compiled(nll, free, names)
    fixed_vals = np.array([fixed[k] for k in names], dtype=float)
    cache: dict = {}

    def vg(x):
        key = tuple(np.asarray(x, dtype=float))
        if key not in cache:  # MIGRAD asks for the value and the gradient at the same points
            cache.clear()
            v, g = vg_c(jnp.asarray(x, dtype=float), fixed_vals, *args)
            cache[key] = (float(v), np.asarray(g))
        return cache[key]

    m = Minuit(
        lambda x: vg(x)[0],
        np.array([start[k] for k in free]),
        grad=lambda x: vg(x)[1],
        name=free,
    )
    m.errordef = Minuit.LIKELIHOOD
    for k in free:
        if k in bounds:
            m.limits[k] = bounds[k]
    m.migrad()
    m.hesse()
    me = {}
    if minos:
        which = list(free) if minos is True else [str(k) for k in minos]
        for k in which:
            if k not in free:
                raise bad_value("minos parameter", k, f"one of the free parameters {free}")
        m.minos(*which)
        me = {k: (float(m.merrors[k].lower), float(m.merrors[k].upper)) for k in which}
    return FitResult(
        {**fixed, **{k: float(m.values[k]) for k in free}},
        {k: float(m.errors[k]) for k in free},
        np.asarray(m.covariance),
        free,
        float(m.fval),
        float(m.fmin.edm),
        bool(m.valid),
        int(m.nfcn),
        str(m.fmin),
        me,
    )


def default_bounds(defaults: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    """Rate multipliers in [0, 1000]; other positive parameters within x0.5..x1.5 of default."""
    out = {}
    for k, v in defaults.items():
        if k.endswith("_rate"):
            out[k] = (0.0, 1000.0)
        elif v > 0:
            out[k] = (0.5 * v, 1.5 * v)
    return out


def fit_likelihood(likelihood, free: Sequence[str], start=None, bounds=None, **kw) -> FitResult:
    """Fit a likelihood object (e.g. :class:`~darkfit.likelihood.unbinned.UnbinnedLikelihood`).

    ``start`` defaults to the likelihood's defaults, ``bounds`` to :func:`default_bounds`.
    Unknown names, non-finite values and starts outside the bounds give one-line errors.
    """
    theta0 = {**likelihood.defaults(), **(start or {})}
    likelihood.check_parameters(theta0)
    for k in free:
        if k not in theta0:
            raise bad_value("free parameter", k, f"one of {sorted(theta0)}")
    b = {**default_bounds(likelihood.defaults()), **(bounds or {})}
    start_free = {k: theta0[k] for k in free}
    fixed = {k: v for k, v in (start or {}).items() if k not in free}
    start = {**fixed, **start_free}
    from darkfit.likelihood.frozen import FrozenS1Likelihood, can_freeze
    from darkfit.likelihood.unbinned import UnbinnedLikelihood

    if not (isinstance(likelihood, UnbinnedLikelihood) and can_freeze(likelihood, free)):
        return fit(lambda theta: -likelihood.log_likelihood(theta), start, free, b, **kw)
    # rates and S2-side parameters only: evaluate the S1 side once, and re-centre it after a
    # step that had to be shortened to stay inside the frozen electron grids (outside them
    # the frozen likelihood is not the model's: a fit from a distant start wandered there for
    # 100 steps before this)
    for _ in range(MAX_REFREEZE):
        frozen = FrozenS1Likelihood(likelihood, theta0)
        res = fit(
            lambda theta, f=frozen: -f.log_likelihood(theta),
            start,
            free,
            b,
            region=frozen.covers,
            **kw,
        )
        if res.message != "left the region" and frozen.covers(res.values):
            return res
        theta0 = {**theta0, **{k: res.values[k] for k in free}}
        start = {**start, **{k: res.values[k] for k in free}}
    return res


#: Re-centrings of the frozen S1 side before a fit gives up on covering its minimum.
MAX_REFREEZE = 8
