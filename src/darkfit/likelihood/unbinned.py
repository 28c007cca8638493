"""Extended unbinned likelihood over several sources.

    ln L(theta) = - sum_j mu_j(theta) + sum_i ln sum_j R_j(theta, x_i) + ln C(theta)

with R_j = m_j Lambda_j f_j(s1, s2 | position) / V the differential rate of source j
[events / (phd^2 cm^3)] (Lambda_j = spectrum rate x exposure, m_j its rate multiplier, V the
fiducial volume), mu_j = m_j Lambda_j P_ROI,j(theta) the exact expected count
(:class:`darkfit.model.rate_model.SourceRateModel`) and C the constraint terms
(Gaussian or log-normal). Parameters are rate multipliers ``<source>_rate`` and any shape
parameter of the sources (detector or yield parameters), shared by name across sources.

The object validates everything eagerly (events in the ROI, finite, parameter names, bounds);
the kernels it returns are pure and jit-compiled: value, gradient and Hessian.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax import Array

from darkfit._errors import DarkfitInputError, bad_value
from darkfit.detector import Detector
from darkfit.events import validate_events
from darkfit.model.diffrate import WindowSizes
from darkfit.model.rate_model import SourceRateModel
from darkfit.model.sources import Source

EVENT_COLUMNS = ("s1", "s2", "r", "z", "drift_time")
#: The columns of an events table the likelihood can use: positions as ``x, y`` or ``r`` and
#: ``z`` or ``drift_time`` (for :func:`darkfit.events.read_events`'s ``columns``).
INPUT_COLUMNS = (*EVENT_COLUMNS, "x", "y")


@dataclass(frozen=True)
class Constraint:
    """A constraint term on one parameter: Gaussian (``kind="normal"``) or log-normal.

    For ``normal``: -ln C = (x - mean)^2 / (2 sigma^2). For ``lognormal``:
    -ln C = (ln x - ln mean)^2 / (2 sigma^2) + ln x, sigma the relative width.
    """

    mean: float
    sigma: float
    kind: str = "normal"

    def __post_init__(self):
        if self.kind not in ("normal", "lognormal"):
            raise bad_value("constraint kind", self.kind, "'normal' or 'lognormal'")
        if not (np.isfinite(self.sigma) and self.sigma > 0):
            raise bad_value("constraint sigma", self.sigma, "a positive number")

    def nll(self, x: Array) -> Array:
        if self.kind == "normal":
            return 0.5 * ((x - self.mean) / self.sigma) ** 2
        lx = jnp.log(jnp.maximum(x, 1e-300))
        return 0.5 * ((lx - np.log(self.mean)) / self.sigma) ** 2 + lx


def check_events(events: pd.DataFrame, detector: Detector) -> pd.DataFrame:
    """Validate an events table for the likelihood: columns, finiteness, ROI, volume.

    Derives ``r`` from ``x, y`` and ``drift_time`` from ``z`` (or z from drift_time) when only
    one is present. Raises :class:`DarkfitInputError` naming the first bad event; never drops
    events silently.
    """
    df = events.copy()
    if "r" not in df and {"x", "y"} <= set(df.columns):
        df["r"] = np.hypot(df["x"], df["y"])
    if "drift_time" not in df and "z" in df:
        df["drift_time"] = -df["z"] / detector.drift_velocity_cm_us
    if "z" not in df and "drift_time" in df:
        df["z"] = -df["drift_time"] * detector.drift_velocity_cm_us
    validate_events(df, EVENT_COLUMNS)
    roi, fv = detector.roi, detector.fiducial
    checks = [
        ("s1", (df.s1 >= roi.s1_min) & (df.s1 <= roi.s1_max), f"[{roi.s1_min}, {roi.s1_max}] phd"),
        ("s2", (df.s2 >= roi.s2_min) & (df.s2 <= roi.s2_max), f"[{roi.s2_min}, {roi.s2_max}] phd"),
        ("r", df.r <= fv.r_max_cm * (1 + 1e-9), f"<= {fv.r_max_cm} cm (fiducial)"),
        (
            "z",
            (df.z >= fv.z_min_cm - 1e-9) & (df.z <= fv.z_max_cm + 1e-9),
            f"[{fv.z_min_cm}, {fv.z_max_cm}] cm (fiducial)",
        ),
    ]
    for col, ok, allowed in checks:
        bad = np.flatnonzero(~np.asarray(ok))
        if bad.size:
            i = int(bad[0])
            raise DarkfitInputError(
                f"event {i}: {col} = {df[col].iloc[i]!r} is outside the region of interest: "
                f"expected {allowed} ({bad.size} such events; select them out explicitly)"
            )
    return df


class SourceParameters:
    """Parameter names, defaults and checks shared by the likelihoods built from
    ``self.sources`` and their rate models ``self.models`` (rate multipliers
    ``<source>_rate`` first, then every model parameter once)."""

    def parameter_names(self) -> tuple[str, ...]:
        names = [f"{s.name}_rate" for s in self.sources]
        for m in self.models.values():
            names += [k for k in m.parameter_names() if k not in names]
        return tuple(names)

    def defaults(self) -> dict[str, float]:
        """Default value of every parameter. A name shared by several sources' models is one
        parameter (the detector's, or the yields of sources of one recoil type), so their
        defaults must agree; otherwise the first source's value would silently replace the
        others' (ER and NR NEST omega parameters once did: the NR model of every ER + NR fit
        ran with ER's recombination widths)."""
        out = {f"{s.name}_rate": 1.0 for s in self.sources}
        owner: dict[str, str] = {}
        for name, m in self.models.items():
            for k, v in m.defaults().items():
                if k not in out:
                    out[k], owner[k] = v, name
                elif out[k] != v:
                    raise bad_value(
                        f"parameter {k} (default {v} for source {name!r}, {out[k]} for "
                        f"{owner[k]!r})",
                        k,
                        "one default per parameter name: sources sharing a name share the "
                        "parameter",
                    )
        return out

    def _check_name(self, name: str) -> None:
        if name not in self.parameter_names():
            raise bad_value("parameter", name, f"one of {sorted(self.parameter_names())}")

    def check_parameters(self, theta: Mapping[str, Any]) -> None:
        """One-line error for unknown parameter names or non-finite values (friendly layer)."""
        for k, v in theta.items():
            self._check_name(k)
            if not np.isfinite(float(v)):
                raise bad_value(f"parameter {k}", v, "a finite number")
            if k.endswith("_rate") and float(v) < 0:
                raise bad_value(f"parameter {k}", v, "a rate multiplier >= 0")

    def nll(self, free: Sequence[str]):
        """Jittable -ln L as a function of a dict of parameters (validated names)."""
        for k in free:
            self._check_name(k)
        return lambda theta: -self.log_likelihood(theta)


@dataclass(frozen=True, eq=False)
class UnbinnedLikelihood(SourceParameters):
    """Extended unbinned likelihood of an events table under several sources.

    Args:
        detector: detector description.
        sources: the sources (distinct names).
        events: events table with s1, s2 and positions (x, y or r; z or drift_time).
        exposure_tonne_year: fiducial exposure [tonne year].
        constraints: optional {parameter: Constraint}.
        n_sigma: hidden-variable window half-width [standard deviations].
        event_groups: number of groups of events with their own static window lengths; more
            groups cost one compilation each and pay off for large event counts (10^4 events,
            flamedisx preset: 4 groups, 8.6 s instead of 10.7 s per value+gradient, first call
            32 s instead of 23 s).
    """

    detector: Detector
    sources: Sequence[Source]
    events: pd.DataFrame
    exposure_tonne_year: float
    constraints: Mapping[str, Constraint] = field(default_factory=dict)
    n_sigma: float = 7.0
    event_groups: int = 1
    models: dict = field(init=False)
    sizes: dict = field(init=False)
    data: dict = field(init=False)

    def __post_init__(self):
        if not (np.isfinite(self.exposure_tonne_year) and self.exposure_tonne_year > 0):
            raise bad_value(
                "exposure", self.exposure_tonne_year, "a positive number of tonne-years"
            )
        names = [s.name for s in self.sources]
        if not names or len(set(names)) != len(names):
            raise bad_value("sources", names, "at least one source, distinct names")
        df = check_events(self.events, self.detector)
        models = {
            s.name: SourceRateModel(self.detector, s, n_sigma=self.n_sigma) for s in self.sources
        }
        object.__setattr__(self, "models", models)
        defaults = self.defaults()
        sizes = {
            n: m.plan(defaults, df, self.event_groups) if len(df) else None
            for n, m in models.items()
        }
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "data", {c: np.asarray(df[c], dtype=float) for c in EVENT_COLUMNS})
        for k in self.constraints:
            self._check_name(k)

    # ------------------------------------------------------------------ kernels
    def _shape_theta(self, theta: Mapping[str, Any], model: SourceRateModel) -> dict[str, Any]:
        known = set(model.parameter_names())
        return {k: v for k, v in theta.items() if k in known}

    def expected_events(self, theta: Mapping[str, Any]) -> dict[str, Array]:
        """mu_j(theta) per source [events]."""
        out = {}
        for s in self.sources:
            m = self.models[s.name]
            mult = theta.get(f"{s.name}_rate", 1.0)
            out[s.name] = mult * m.expected_events(
                self._shape_theta(theta, m), self.exposure_tonne_year
            )
        return out

    def log_rates(self, theta: Mapping[str, Any], batch_size: int = 64) -> Array:
        """ln R_j(theta, x_i) per event and source, shape (n_events, n_sources)."""
        fv = self.detector.fiducial
        vol = np.pi * fv.r_max_cm**2 * (fv.z_max_cm - fv.z_min_cm)  # [cm^3]
        cols = []
        for s in self.sources:
            m = self.models[s.name]
            mult = theta.get(f"{s.name}_rate", 1.0)
            lam = mult * m.cells.total * self.exposure_tonne_year
            logf = m.log_density(
                self._shape_theta(theta, m), self.data, self.sizes[s.name], batch_size
            )
            cols.append(jnp.log(lam) + logf - np.log(vol))
        return jnp.stack(cols, axis=1)

    def log_likelihood(self, theta: Mapping[str, Any]) -> Array:
        """ln L(theta) (up to a theta-independent constant)."""
        mu = sum(self.expected_events(theta).values())
        ll = -mu
        if len(self.data["s1"]):
            ll = ll + jnp.sum(jax.nn.logsumexp(self.log_rates(theta), axis=1))
        for k, c in self.constraints.items():
            ll = ll - c.nll(theta.get(k, self.defaults()[k]))
        return ll


__all__ = ["Constraint", "UnbinnedLikelihood", "WindowSizes", "check_events"]
