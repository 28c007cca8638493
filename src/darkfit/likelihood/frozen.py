"""The unbinned likelihood with the S1 side frozen: fast fits of rates and S2-side parameters.

When the free parameters are rate multipliers and S2-side detector parameters (g2, extraction
efficiency, single-electron width, electron lifetime), each source's S1 factor contracted with
its quanta table is a constant of the fit (:mod:`darkfit.model.frozen_s1`). This object
evaluates it once at ``theta0`` and then costs only the S2 factors per call; it has the same
``log_likelihood`` as :class:`~darkfit.likelihood.unbinned.UnbinnedLikelihood` (equal to the
window truncation tolerance) as long as :meth:`covers` holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from darkfit.model import frozen_s1


def can_freeze(likelihood, free: Sequence[str]) -> bool:
    """True if no free parameter touches any source's S1 side or quanta table."""
    return all(frozen_s1.can_freeze(m, free) for m in likelihood.models.values())


@dataclass(frozen=True, eq=False)
class FrozenS1Likelihood:
    """``likelihood`` with every source's S1 side evaluated once at ``theta0``."""

    likelihood: Any
    theta0: Mapping[str, float]
    frozen: dict = field(init=False)

    def __post_init__(self):
        lik = self.likelihood
        th = {**lik.defaults(), **self.theta0}
        names = list(lik.models)
        models = [lik.models[n] for n in names]
        frozen = frozen_s1.freeze_sources(
            models,
            [lik._shape_theta(th, m) for m in models],
            lik.data,
            [lik.sizes[n] for n in names],
        )
        object.__setattr__(self, "frozen", dict(zip(names, frozen, strict=True)))

    def _s2_theta(self, theta: Mapping[str, Any], model) -> dict[str, Any]:
        fixed = set(frozen_s1.S1_PARAMETERS) | set(model.table_parameter_names())
        return {
            k: v for k, v in self.likelihood._shape_theta(theta, model).items() if k not in fixed
        }

    def expected_events(self, theta: Mapping[str, Any]) -> dict[str, Array]:
        lik = self.likelihood
        # Acc2(Ne) depends on the detector and the S2-side parameters, not on the source: one
        # computation, as far as the longest frozen factor goes, for all sources sharing them
        # (ER + NR, flamedisx preset: cold compilation of value + gradient 3.7 -> 2.3 s)
        models = [lik.models[s.name] for s in lik.sources]
        thetas = [self._s2_theta(theta, m) for m in models]
        keys = [
            (id(m.detector), m.margin, tuple((k, id(v)) for k, v in sorted(th.items())))
            for m, th in zip(models, thetas, strict=True)
        ]
        tables = [self.frozen[s.name].s1_table for s in lik.sources]
        acc2: dict = {}
        # longest factor first: the first source of each key computes Acc2 for all of them
        for i in sorted(range(len(models)), key=lambda i: -tables[i].shape[1]):
            if keys[i] not in acc2:
                acc2[keys[i]] = models[i].s2_acceptance(thetas[i], tables[i].shape[1] - 1)
        out = {}
        for s, m, th, key, table in zip(lik.sources, models, thetas, keys, tables, strict=True):
            p = m.roi_fraction(th, table, acc2[key])
            out[s.name] = (
                theta.get(f"{s.name}_rate", 1.0) * m.cells.total * lik.exposure_tonne_year * p
            )
        return out

    def log_likelihood(self, theta: Mapping[str, Any]) -> Array:
        lik = self.likelihood
        ll = -sum(self.expected_events(theta).values())
        if len(lik.data["s1"]):
            fv = lik.detector.fiducial
            vol = np.pi * fv.r_max_cm**2 * (fv.z_max_cm - fv.z_min_cm)  # [cm^3]
            models = [lik.models[s.name] for s in lik.sources]
            logfs = frozen_s1.log_densities(
                models,
                [self._s2_theta(theta, m) for m in models],
                lik.data,
                [self.frozen[s.name] for s in lik.sources],
            )
            cols = []
            for s, m, logf in zip(lik.sources, models, logfs, strict=True):
                lam = theta.get(f"{s.name}_rate", 1.0) * m.cells.total * lik.exposure_tonne_year
                cols.append(jnp.log(lam) + logf - np.log(vol))
            ll = ll + jnp.sum(jax.nn.logsumexp(jnp.stack(cols, axis=1), axis=1))
        for k, c in lik.constraints.items():
            ll = ll - c.nll(theta.get(k, lik.defaults()[k]))
        return ll

    def covers(self, theta: Mapping[str, Any]) -> bool:
        """True if ``theta`` is inside every source's frozen electron grid."""
        lik = self.likelihood
        return all(
            frozen_s1.covers(m, self._s2_theta(theta, m), lik.data, self.frozen[n])
            for n, m in lik.models.items()
        )


__all__ = ["FrozenS1Likelihood", "can_freeze"]
