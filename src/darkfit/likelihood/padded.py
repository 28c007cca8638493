"""The unbinned likelihood as one compiled function of (theta, dataset): for toy studies.

:class:`PaddedLikelihood` fixes the static window lengths from a reference sample and pads
every dataset to ``n_max`` events with a mask, so fits of many toy datasets (through
:func:`darkfit.inference.fit.fit` with ``args=(data, mask)``) share one compilation. Each
dataset is validated like :class:`~darkfit.likelihood.unbinned.UnbinnedLikelihood`'s events and
checked to fit the static windows (an error, never a silent truncation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax import Array

from darkfit._errors import DarkfitInputError
from darkfit.likelihood.unbinned import EVENT_COLUMNS, UnbinnedLikelihood, check_events
from darkfit.model import frozen_s1


@dataclass(frozen=True, eq=False)
class PaddedLikelihood:
    """``likelihood`` (built on a large reference sample) for datasets of up to ``n_max``
    events."""

    likelihood: UnbinnedLikelihood
    n_max: int
    sizes: dict = field(init=False)
    _jit: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        lik = self.likelihood
        th = lik.defaults()
        sizes = {
            n: m.window_sizes(lik._shape_theta(th, m), lik.data) for n, m in lik.models.items()
        }
        object.__setattr__(self, "sizes", sizes)

    def pad(self, events: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """(columns padded to n_max, mask) for a dataset; validates it like the likelihood."""
        lik = self.likelihood
        df = check_events(events, lik.detector)
        n = len(df)
        if n > self.n_max:
            raise DarkfitInputError(f"dataset has {n} events, more than n_max = {self.n_max}")
        th = lik.defaults()
        for name, m in lik.models.items():
            need = m.window_sizes(lik._shape_theta(th, m), df) if n else None
            have = self.sizes[name]
            if need is not None and any(a > b for a, b in zip(need, have, strict=True)):
                raise DarkfitInputError(
                    f"dataset needs wider hidden-variable windows for source {name!r} ({need}) "
                    f"than the reference sample ({have}); build the likelihood on a wider sample"
                )
        data = {}
        for c in EVENT_COLUMNS:
            x = np.asarray(df[c], dtype=float)
            fill = x[0] if n else float(lik.data[c][0])  # any valid event; masked out
            data[c] = np.concatenate([x, np.full(self.n_max - n, fill)])
        return data, np.arange(self.n_max) < n

    def log_likelihood(self, theta: Mapping[str, Any], data: dict, mask: Array) -> Array:
        """ln L(theta) of the padded dataset (masked events contribute nothing)."""
        lik = self.likelihood
        fv = lik.detector.fiducial
        vol = np.pi * fv.r_max_cm**2 * (fv.z_max_cm - fv.z_min_cm)  # [cm^3]
        ll = -sum(lik.expected_events(theta).values())
        cols = []
        for s in lik.sources:
            m = lik.models[s.name]
            lam = theta.get(f"{s.name}_rate", 1.0) * m.cells.total * lik.exposure_tonne_year
            logf = m.log_density(lik._shape_theta(theta, m), data, self.sizes[s.name])
            cols.append(jnp.log(lam) + logf - np.log(vol))
        per_event = jax.nn.logsumexp(jnp.stack(cols, axis=1), axis=1)
        ll = ll + jnp.sum(jnp.where(mask, per_event, 0.0))
        for k, c in lik.constraints.items():
            ll = ll - c.nll(theta.get(k, lik.defaults()[k]))
        return ll

    def s1_states(self, theta0: Mapping[str, Any], data: dict) -> dict:
        """Every source's S1 state of a padded dataset at ``theta0`` (one compilation)."""
        lik = self.likelihood
        th = {k: float(v) for k, v in {**lik.defaults(), **theta0}.items()}
        if "states" not in self._jit:
            self._jit["states"] = jax.jit(
                lambda th, d: {
                    n: frozen_s1.s1_state(m, lik._shape_theta(th, m), d, self.sizes[n])
                    for n, m in lik.models.items()
                }
            )
        return self._jit["states"](th, data)

    def nll_s1_frozen(self, theta: Mapping[str, Any], data: dict, mask: Array, states) -> Array:
        """-ln L with the S1 side taken from ``states`` (:meth:`s1_states`): rates, S2-side and
        quanta-table (yield) parameters may float, S1-response parameters may not."""
        lik = self.likelihood
        fv = lik.detector.fiducial
        vol = np.pi * fv.r_max_cm**2 * (fv.z_max_cm - fv.z_min_cm)  # [cm^3]
        ll, cols = 0.0, []
        for s in lik.sources:
            m = lik.models[s.name]
            shape = {
                k: v
                for k, v in lik._shape_theta(theta, m).items()
                if k not in frozen_s1.S1_PARAMETERS
            }
            lam = theta.get(f"{s.name}_rate", 1.0) * m.cells.total * lik.exposure_tonne_year
            ll = ll - lam * frozen_s1.roi_fraction_from_state(m, shape, states[s.name])
            logf = frozen_s1.log_density_from_state(
                m, shape, data, states[s.name], self.sizes[s.name]
            )
            cols.append(jnp.log(lam) + logf - np.log(vol))
        per_event = jax.nn.logsumexp(jnp.stack(cols, axis=1), axis=1)
        ll = ll + jnp.sum(jnp.where(mask, per_event, 0.0))
        for k, c in lik.constraints.items():
            ll = ll - c.nll(theta.get(k, lik.defaults()[k]))
        return -ll

    def nll(self, theta: Mapping[str, Any], data: dict, mask: Array) -> Array:
        """-ln L, the function to pass to ``fit(..., args=(data, mask))``."""
        return -self.log_likelihood(theta, data, mask)


__all__ = ["PaddedLikelihood"]
