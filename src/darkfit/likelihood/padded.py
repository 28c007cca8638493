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


@dataclass(frozen=True, eq=False)
class PaddedLikelihood:
    """``likelihood`` (built on a large reference sample) for datasets of up to ``n_max``
    events."""

    likelihood: UnbinnedLikelihood
    n_max: int
    sizes: dict = field(init=False)

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

    def nll(self, theta: Mapping[str, Any], data: dict, mask: Array) -> Array:
        """-ln L, the function to pass to ``fit(..., args=(data, mask))``."""
        return -self.log_likelihood(theta, data, mask)


__all__ = ["PaddedLikelihood"]
