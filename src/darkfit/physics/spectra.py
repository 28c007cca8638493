"""Recoil-energy spectrum families: flat, lines, Gaussian, exponential, tabulated, callable.

Every spectrum is an immutable object with a recoil type (``"er"`` electronic or ``"nr"``
nuclear recoil), a support ``[e_min_kev, e_max_kev]`` and rates in
**events / (tonne year keV)** (differential) or **events / (tonne year)** (integrated).

- ``rate(e_kev)``: dR/dE, zero outside the support (line spectra have no density and raise).
- ``energy_grid(n, e_lo, e_hi)``: quadrature nodes [keV] and weights [events/(tonne year)]
  whose weights sum to the integrated rate over ``[e_lo, e_hi]`` intersected with the
  support (composite 8-point Gauss-Legendre, panels split at declared discontinuities;
  lines return their energies with the line rates as weights).
- ``total_rate()``: events / (tonne year) over the support.
- ``sample(key, n)``: energies [keV] drawn from the normalised spectrum.

The arithmetic of ``rate`` uses ``jax.numpy`` so it can be jit-compiled and differentiated
with respect to the energy; the parameters themselves are plain Python floats.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr, ndtri

from darkfit._errors import bad_value

RecoilType = Literal["er", "nr"]
RECOIL_TYPES: tuple[str, ...] = ("er", "nr")

#: Gauss-Legendre order used inside every quadrature panel.
GL_ORDER = 8
#: Default number of quadrature nodes for continuous spectra (32 panels x 8 nodes);
#: integrates the smooth families to < 1e-10 relative (tests/physics/test_spectra.py).
DEFAULT_NODES = 256
#: Number of cells of the piecewise-linear inverse CDF used to sample non-analytic spectra.
SAMPLING_CELLS = 4096


# ---------------------------------------------------------------- validation helpers
def _finite(field: str, value: Any, allowed: str = "a finite number") -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise bad_value(field, value, allowed) from None
    if not math.isfinite(x):
        raise bad_value(field, value, allowed)
    return x


def _nonneg(field: str, value: Any) -> float:
    x = _finite(field, value, "a finite number >= 0")
    if x < 0:
        raise bad_value(field, value, "a finite number >= 0")
    return x


def _positive(field: str, value: Any) -> float:
    x = _finite(field, value, "a finite number > 0")
    if x <= 0:
        raise bad_value(field, value, "a finite number > 0")
    return x


def _recoil(value: Any) -> str:
    if value not in RECOIL_TYPES:
        raise bad_value("recoil_type", value, f"one of {list(RECOIL_TYPES)}")
    return str(value)


def _support(e_min: Any, e_max: Any) -> tuple[float, float]:
    lo = _nonneg("e_min_kev", e_min)
    hi = _finite("e_max_kev", e_max, f"a finite number > e_min_kev = {lo}")
    if hi <= lo:
        raise bad_value("e_max_kev", e_max, f"a finite number > e_min_kev = {lo}")
    return lo, hi


def _set(obj: Any, **kw: Any) -> None:
    for k, v in kw.items():
        object.__setattr__(obj, k, v)


# ---------------------------------------------------------------- numerical kernels
def gauss_legendre_panels(
    e_lo: float, e_hi: float, n: int, breakpoints: Sequence[float] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes/weights on ``[e_lo, e_hi]`` [keV].

    About ``n`` nodes in panels of :data:`GL_ORDER`; panel edges include every breakpoint
    inside the interval, so integrands with steps or kinks there stay accurate.
    """
    edges = sorted({e_lo, e_hi, *(b for b in breakpoints if e_lo < b < e_hi)})
    lengths = np.diff(edges)
    n_panels = max(1, math.ceil(n / GL_ORDER))
    per_seg = np.maximum(1, np.round(n_panels * lengths / (e_hi - e_lo)).astype(int))
    x, w = np.polynomial.legendre.leggauss(GL_ORDER)
    nodes, weights = [], []
    for a, length, k in zip(edges[:-1], lengths, per_seg, strict=True):
        h = length / k
        left = a + h * np.arange(k)[:, None]
        nodes.append((left + 0.5 * h * (x + 1.0)).ravel())
        weights.append(np.broadcast_to(0.5 * h * w, (k, GL_ORDER)).ravel())
    return np.concatenate(nodes), np.concatenate(weights)


def sample_piecewise_linear(key: jax.Array, n: int, x: jax.Array, y: jax.Array) -> jax.Array:
    """Draw ``n`` values from the density that is linear between knots ``(x_i, y_i)``.

    Exact inverse CDF: inside a cell the CDF is quadratic and is inverted in closed form.
    """
    x = jnp.asarray(x, dtype=jnp.float64)
    y = jnp.clip(jnp.asarray(y, dtype=jnp.float64), 0.0)
    h = jnp.diff(x)
    mass = 0.5 * (y[:-1] + y[1:]) * h
    cdf = jnp.concatenate([jnp.zeros(1), jnp.cumsum(mass)])
    u = jax.random.uniform(key, (n,), dtype=jnp.float64) * cdf[-1]
    i = jnp.clip(jnp.searchsorted(cdf, u, side="right") - 1, 0, h.size - 1)
    r = u - cdf[i]
    slope = (y[i + 1] - y[i]) / h[i]
    disc = jnp.sqrt(jnp.clip(y[i] ** 2 + 2.0 * slope * r, 0.0))
    denom = y[i] + disc
    t = jnp.where(denom > 0, 2.0 * r / jnp.where(denom > 0, denom, 1.0), 0.5 * h[i])
    return x[i] + jnp.clip(t, 0.0, h[i])


def _restrict(lo: float, hi: float, e_lo: float | None, e_hi: float | None):
    a = lo if e_lo is None else max(lo, float(e_lo))
    b = hi if e_hi is None else min(hi, float(e_hi))
    return (a, b) if b > a else None


_EMPTY = (jnp.zeros(0), jnp.zeros(0))


# ---------------------------------------------------------------- base classes
class Spectrum(abc.ABC):
    """Recoil-energy spectrum in events / (tonne year keV); see the module docstring."""

    recoil_type: str
    name: str
    e_min_kev: float  # support [keV]
    e_max_kev: float
    #: True for delta-function lines (no density: ``rate`` raises, use ``energy_grid``).
    is_discrete: ClassVar[bool] = False

    @abc.abstractmethod
    def rate(self, e_kev: Any) -> jax.Array:
        """dR/dE [events/(tonne year keV)] at ``e_kev`` [keV]; 0 outside the support."""

    @abc.abstractmethod
    def energy_grid(
        self, n: int | None = None, e_lo: float | None = None, e_hi: float | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """(energies [keV], weights [events/(tonne year)]) discretising the spectrum."""

    @abc.abstractmethod
    def sample(self, key: jax.Array, n: int) -> jax.Array:
        """``n`` energies [keV] drawn from the normalised spectrum."""

    @abc.abstractmethod
    def scaled(self, factor: float) -> Spectrum:
        """The same spectrum with every rate multiplied by ``factor`` (>= 0)."""

    def total_rate(self) -> float:
        """Integrated rate over the support [events/(tonne year)]."""
        return float(jnp.sum(self.energy_grid()[1]))


class ContinuousSpectrum(Spectrum):
    """Spectrum with a density; subclasses define ``_density`` (no support mask)."""

    def _breakpoints(self) -> tuple[float, ...]:
        return ()

    @abc.abstractmethod
    def _density(self, e: jax.Array) -> jax.Array: ...

    def rate(self, e_kev: Any) -> jax.Array:
        e = jnp.asarray(e_kev, dtype=jnp.float64)
        inside = (e >= self.e_min_kev) & (e <= self.e_max_kev)
        safe = jnp.clip(e, self.e_min_kev, self.e_max_kev)
        return jnp.where(inside, self._density(safe), 0.0)

    def energy_grid(self, n=None, e_lo=None, e_hi=None):
        rng = _restrict(self.e_min_kev, self.e_max_kev, e_lo, e_hi)
        if rng is None:
            return _EMPTY
        nodes, w = gauss_legendre_panels(*rng, n or DEFAULT_NODES, self._breakpoints())
        nodes = jnp.asarray(nodes)
        return nodes, jnp.asarray(w) * self._density(nodes)

    def _sampling_knots(self) -> jax.Array:
        knots = np.linspace(self.e_min_kev, self.e_max_kev, SAMPLING_CELLS + 1)
        return jnp.asarray(np.union1d(knots, list(self._breakpoints())))

    def sample(self, key, n):
        x = self._sampling_knots()
        return sample_piecewise_linear(key, n, x, self._density(x))


# ---------------------------------------------------------------- families
@dataclasses.dataclass(frozen=True, eq=False)
class FlatSpectrum(ContinuousSpectrum):
    """dR/dE = ``rate_per_kev`` [events/(tonne year keV)] on ``[e_min_kev, e_max_kev]``."""

    rate_per_kev: float
    e_min_kev: float
    e_max_kev: float
    recoil_type: str = "er"
    name: str = "flat"

    def __post_init__(self):
        lo, hi = _support(self.e_min_kev, self.e_max_kev)
        _set(self, e_min_kev=lo, e_max_kev=hi, recoil_type=_recoil(self.recoil_type))
        _set(self, rate_per_kev=_nonneg("rate_per_kev", self.rate_per_kev))

    def _density(self, e):
        return jnp.full(jnp.shape(e), self.rate_per_kev)

    def total_rate(self) -> float:
        return self.rate_per_kev * (self.e_max_kev - self.e_min_kev)

    def sample(self, key, n):
        return jax.random.uniform(key, (n,), minval=self.e_min_kev, maxval=self.e_max_kev)

    def scaled(self, factor):
        return dataclasses.replace(self, rate_per_kev=self.rate_per_kev * _nonneg("scale", factor))


@dataclasses.dataclass(frozen=True, eq=False)
class ExponentialSpectrum(ContinuousSpectrum):
    """dR/dE = A exp(-E / ``decay_kev``), A set so the support integrates to ``integrated_rate``.

    ``integrated_rate`` is in events / (tonne year) over ``[e_min_kev, e_max_kev]``.
    """

    integrated_rate: float
    decay_kev: float
    e_min_kev: float
    e_max_kev: float
    recoil_type: str = "nr"
    name: str = "exponential"

    def __post_init__(self):
        lo, hi = _support(self.e_min_kev, self.e_max_kev)
        _set(self, e_min_kev=lo, e_max_kev=hi, recoil_type=_recoil(self.recoil_type))
        _set(self, integrated_rate=_nonneg("integrated_rate", self.integrated_rate))
        _set(self, decay_kev=_positive("decay_kev", self.decay_kev))

    def _norm(self) -> float:  # integral of exp(-(E - e_min)/d) over the support
        d = self.decay_kev
        return d * -math.expm1(-(self.e_max_kev - self.e_min_kev) / d)

    def _density(self, e):
        return self.integrated_rate / self._norm() * jnp.exp(-(e - self.e_min_kev) / self.decay_kev)

    def total_rate(self) -> float:
        return self.integrated_rate

    def sample(self, key, n):
        u = jax.random.uniform(key, (n,), dtype=jnp.float64)
        span = self.e_max_kev - self.e_min_kev
        return self.e_min_kev - self.decay_kev * jnp.log1p(u * jnp.expm1(-span / self.decay_kev))

    def scaled(self, factor):
        return dataclasses.replace(
            self, integrated_rate=self.integrated_rate * _nonneg("scale", factor)
        )


@dataclasses.dataclass(frozen=True, eq=False)
class GaussianSpectrum(ContinuousSpectrum):
    """Normal peak (``mean_kev``, ``sigma_kev``) truncated to the support.

    ``integrated_rate`` [events/(tonne year)] is the integral over the support; the default support
    is ``[max(0, mean - 8 sigma), mean + 8 sigma]``.
    """

    integrated_rate: float
    mean_kev: float
    sigma_kev: float
    recoil_type: str = "er"
    name: str = "gaussian"
    e_min_kev: float | None = None  # type: ignore[assignment]
    e_max_kev: float | None = None  # type: ignore[assignment]

    def __post_init__(self):
        mu = _nonneg("mean_kev", self.mean_kev)
        sig = _positive("sigma_kev", self.sigma_kev)
        lo = max(0.0, mu - 8 * sig) if self.e_min_kev is None else self.e_min_kev
        hi = mu + 8 * sig if self.e_max_kev is None else self.e_max_kev
        lo, hi = _support(lo, hi)
        _set(self, mean_kev=mu, sigma_kev=sig, e_min_kev=lo, e_max_kev=hi)
        _set(self, recoil_type=_recoil(self.recoil_type))
        _set(self, integrated_rate=_nonneg("integrated_rate", self.integrated_rate))

    def _mass(self) -> float:
        za = (self.e_min_kev - self.mean_kev) / self.sigma_kev
        zb = (self.e_max_kev - self.mean_kev) / self.sigma_kev
        return float(ndtr(zb) - ndtr(za))

    def _density(self, e):
        z = (e - self.mean_kev) / self.sigma_kev
        pdf = jnp.exp(-0.5 * z**2) / (self.sigma_kev * math.sqrt(2 * math.pi))
        return self.integrated_rate * pdf / self._mass()

    def total_rate(self) -> float:
        return self.integrated_rate

    def sample(self, key, n):
        za = ndtr((self.e_min_kev - self.mean_kev) / self.sigma_kev)
        zb = ndtr((self.e_max_kev - self.mean_kev) / self.sigma_kev)
        u = jax.random.uniform(key, (n,), dtype=jnp.float64, minval=za, maxval=zb)
        e = self.mean_kev + self.sigma_kev * ndtri(u)
        return jnp.clip(e, self.e_min_kev, self.e_max_kev)

    def scaled(self, factor):
        return dataclasses.replace(
            self, integrated_rate=self.integrated_rate * _nonneg("scale", factor)
        )


@dataclasses.dataclass(frozen=True, eq=False)
class LineSpectrum(Spectrum):
    """Monoenergetic lines: ``energies_kev`` [keV] with ``rates`` [events/(tonne year)] each.

    Lines have no density: :meth:`rate` raises ``TypeError``; use :meth:`energy_grid`,
    whose nodes are the line energies and whose weights are the line rates.
    """

    energies_kev: tuple[float, ...]
    rates: tuple[float, ...]
    recoil_type: str = "er"
    name: str = "lines"
    is_discrete: ClassVar[bool] = True

    def __post_init__(self):
        e = tuple(np.atleast_1d(np.asarray(self.energies_kev, dtype=object)).tolist())
        r = tuple(np.atleast_1d(np.asarray(self.rates, dtype=object)).tolist())
        if len(e) == 0 or len(e) != len(r):
            raise bad_value("rates", self.rates, f"one rate per line energy ({len(e)} lines)")
        e = tuple(_nonneg(f"energies_kev[{i}]", x) for i, x in enumerate(e))
        r = tuple(_nonneg(f"rates[{i}]", x) for i, x in enumerate(r))
        _set(self, energies_kev=e, rates=r, recoil_type=_recoil(self.recoil_type))

    @property
    def e_min_kev(self) -> float:  # type: ignore[override]
        return min(self.energies_kev)

    @property
    def e_max_kev(self) -> float:  # type: ignore[override]
        return max(self.energies_kev)

    def rate(self, e_kev):
        raise TypeError(f"{self.name!r} is a line spectrum (no density): use energy_grid()")

    def energy_grid(self, n=None, e_lo=None, e_hi=None):
        e, r = np.asarray(self.energies_kev), np.asarray(self.rates)
        keep = np.ones(e.shape, bool)
        if e_lo is not None:
            keep &= e >= e_lo
        if e_hi is not None:
            keep &= e <= e_hi
        return jnp.asarray(e[keep]), jnp.asarray(r[keep])

    def total_rate(self) -> float:
        return float(sum(self.rates))

    def sample(self, key, n):
        p = jnp.asarray(self.rates) / sum(self.rates)
        idx = jax.random.choice(key, len(self.rates), (n,), p=p)
        return jnp.asarray(self.energies_kev)[idx]

    def scaled(self, factor):
        f = _nonneg("scale", factor)
        return dataclasses.replace(self, rates=tuple(f * r for r in self.rates))


@dataclasses.dataclass(frozen=True, eq=False)
class TabulatedSpectrum(ContinuousSpectrum):
    """dR/dE linearly interpolated between tabulated points (zero outside the table).

    ``energies_kev`` strictly increasing, >= 0 [keV]; ``rates`` >= 0
    [events/(tonne year keV)]. The default ``energy_grid`` integrates the interpolant
    exactly (2-point Gauss-Legendre per table interval); ``n`` switches to panels.
    """

    energies_kev: Any
    rates: Any
    recoil_type: str = "er"
    name: str = "tabulated"

    def __post_init__(self):
        try:
            e = np.asarray(self.energies_kev, dtype=np.float64).ravel()
            r = np.asarray(self.rates, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise bad_value("energies_kev/rates", "non-numeric", "numeric arrays") from None
        if e.size < 2 or e.size != r.size:
            raise bad_value("rates", f"{r.size} values", f"2 or more, one per energy ({e.size})")
        for field, arr in (("energies_kev", e), ("rates", r)):
            bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
            if bad.size:
                i = int(bad[0])
                raise bad_value(f"{field}[{i}]", float(arr[i]), "a finite number >= 0")
        steps = np.flatnonzero(np.diff(e) <= 0)
        if steps.size:
            i = int(steps[0]) + 1
            raise bad_value(
                f"energies_kev[{i}]", float(e[i]), f"strictly > {e[i - 1]} (increasing)"
            )
        e.setflags(write=False)
        r.setflags(write=False)
        _set(self, energies_kev=e, rates=r, recoil_type=_recoil(self.recoil_type))

    @classmethod
    def from_csv(
        cls, path: str | Path, recoil_type: RecoilType = "er", name: str | None = None
    ) -> TabulatedSpectrum:
        """Read columns ``energy_kev`` [keV] and ``rate`` [events/(tonne year keV)]."""
        import pandas as pd

        try:
            df = pd.read_csv(path)
        except (OSError, ValueError) as err:
            msg = f"a readable CSV file ({type(err).__name__})"
            raise bad_value("csv path", str(path), msg) from None
        for col in ("energy_kev", "rate"):
            if col not in df.columns:
                raise bad_value(f"{path} columns", list(df.columns), "columns energy_kev,rate")
            vals = pd.to_numeric(df[col], errors="coerce")
            if vals.isna().any():
                i = int(np.flatnonzero(vals.isna().to_numpy())[0])
                raise bad_value(f"{path} {col}[{i}]", df[col].iloc[i], "a number")
        return cls(
            df["energy_kev"].to_numpy(float),
            df["rate"].to_numpy(float),
            recoil_type,
            name or Path(path).stem,
        )

    @property
    def e_min_kev(self) -> float:  # type: ignore[override]
        return float(self.energies_kev[0])

    @property
    def e_max_kev(self) -> float:  # type: ignore[override]
        return float(self.energies_kev[-1])

    def _density(self, e):
        return jnp.interp(e, jnp.asarray(self.energies_kev), jnp.asarray(self.rates))

    def energy_grid(self, n=None, e_lo=None, e_hi=None):
        if n is not None:
            return super().energy_grid(n, e_lo, e_hi)
        rng = _restrict(self.e_min_kev, self.e_max_kev, e_lo, e_hi)
        if rng is None:
            return _EMPTY
        e = self.energies_kev
        edges = np.concatenate([[rng[0]], e[(e > rng[0]) & (e < rng[1])], [rng[1]]])
        mid, half = 0.5 * (edges[1:] + edges[:-1]), 0.5 * np.diff(edges)
        off = half / math.sqrt(3.0)  # 2-point Gauss-Legendre: exact for linear pieces
        nodes = jnp.asarray(np.stack([mid - off, mid + off], 1).ravel())
        return nodes, jnp.asarray(np.repeat(half, 2)) * self._density(nodes)

    def _sampling_knots(self):
        return jnp.asarray(self.energies_kev)

    def scaled(self, factor):
        return dataclasses.replace(self, rates=self.rates * _nonneg("scale", factor))


@dataclasses.dataclass(frozen=True, eq=False)
class FunctionSpectrum(ContinuousSpectrum):
    """Wrap a pure, jit-compatible ``fn(e_kev) -> dR/dE`` [events/(tonne year keV)].

    ``breakpoints`` [keV] mark steps or kinks of ``fn`` (panel edges of the quadrature);
    ``scale`` multiplies ``fn``. E.g. a WIMP spectrum:
    ``FunctionSpectrum(lambda e: dr_de_si(e, 50.0, 1e-47), 0.0, 100.0, "nr", "wimp")``.
    """

    fn: Callable[[jax.Array], jax.Array]
    e_min_kev: float
    e_max_kev: float
    recoil_type: str = "nr"
    name: str = "function"
    breakpoints: tuple[float, ...] = ()
    scale: float = 1.0

    def __post_init__(self):
        if not callable(self.fn):
            raise bad_value("fn", self.fn, "a callable fn(e_kev) -> dR/dE")
        lo, hi = _support(self.e_min_kev, self.e_max_kev)
        bps = tuple(sorted(_finite("breakpoints", b) for b in self.breakpoints))
        _set(self, e_min_kev=lo, e_max_kev=hi, recoil_type=_recoil(self.recoil_type))
        _set(self, breakpoints=bps, scale=_nonneg("scale", self.scale))
        _set(self, _jit_fn=jax.jit(self.fn))

    def _breakpoints(self):
        return self.breakpoints

    def _density(self, e):
        return self.scale * jnp.asarray(self._jit_fn(e), dtype=jnp.float64)

    def scaled(self, factor):
        return dataclasses.replace(self, scale=self.scale * _nonneg("scale", factor))


def spectrum_from_callable(
    fn: Callable[[jax.Array], jax.Array],
    e_min_kev: float,
    e_max_kev: float,
    recoil_type: RecoilType,
    name: str = "function",
    breakpoints: Sequence[float] = (),
) -> FunctionSpectrum:
    """Build a :class:`FunctionSpectrum` from ``fn(e_kev)`` [events/(tonne year keV)]."""
    return FunctionSpectrum(fn, e_min_kev, e_max_kev, recoil_type, name, tuple(breakpoints))


@dataclasses.dataclass(frozen=True, eq=False)
class SumSpectrum(Spectrum):
    """Sum of spectra of one recoil type (e.g. several lines plus a continuum)."""

    components: tuple[Spectrum, ...]
    name: str = "sum"

    def __post_init__(self):
        comps = tuple(self.components)
        if not comps or not all(isinstance(c, Spectrum) for c in comps):
            raise bad_value("components", self.components, "a non-empty sequence of Spectrum")
        kinds = sorted({c.recoil_type for c in comps})
        if len(kinds) != 1:
            raise bad_value("components recoil types", kinds, "a single recoil type")
        _set(self, components=comps, recoil_type=kinds[0])

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return any(c.is_discrete for c in self.components)

    @property
    def e_min_kev(self) -> float:  # type: ignore[override]
        return min(c.e_min_kev for c in self.components)

    @property
    def e_max_kev(self) -> float:  # type: ignore[override]
        return max(c.e_max_kev for c in self.components)

    def rate(self, e_kev):
        if self.is_discrete:
            raise TypeError(f"{self.name!r} contains lines (no density): use energy_grid()")
        return sum(c.rate(e_kev) for c in self.components)

    def energy_grid(self, n=None, e_lo=None, e_hi=None):
        grids = [c.energy_grid(n, e_lo, e_hi) for c in self.components]
        return jnp.concatenate([g[0] for g in grids]), jnp.concatenate([g[1] for g in grids])

    def total_rate(self) -> float:
        return float(sum(c.total_rate() for c in self.components))

    def sample(self, key, n):
        totals = jnp.asarray([c.total_rate() for c in self.components])
        k_pick, *keys = jax.random.split(key, len(self.components) + 1)
        pick = jax.random.choice(k_pick, len(self.components), (n,), p=totals / totals.sum())
        draws = jnp.stack([c.sample(k, n) for c, k in zip(self.components, keys, strict=True)])
        return draws[pick, jnp.arange(n)]

    def scaled(self, factor):
        return SumSpectrum(tuple(c.scaled(factor) for c in self.components), self.name)
