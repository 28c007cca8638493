"""The joint quanta table equals P(Nq) P(Ne | Nq) evaluated element by element."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import darkfit  # noqa: F401  (float64)
from darkfit.model._counting import log_factorial_table
from darkfit.model.quanta_table import electron_pmf, joint_quanta_table


@pytest.mark.parametrize(
    ("model", "recoil_type"),
    [("nest", "er"), ("nest", "nr"), ("flamedisx", "er"), ("flamedisx", "nr")],
)
def test_table_equals_elementwise_product(model, recoil_type):
    """The table evaluates P(Ne | Nq)'s parameters once per Nq and gathers them; the result is
    the same function as evaluating them at every (Nph, Ne), value and derivative in the field."""
    n_ph, n_el = 140, 90
    lf = log_factorial_table(n_ph + n_el + 10)
    p_nq = np.random.default_rng(5).uniform(size=n_ph + n_el + 1)
    kw = dict(model=model, recoil_type=recoil_type, density_g_cm3=2.862)

    def table(field):
        return joint_quanta_table(p_nq, n_ph, n_el, lf, field_v_cm=field, **kw)

    def elementwise(field):
        nph = np.arange(n_ph + 1.0)[:, None]
        nel = np.arange(n_el + 1.0)[None, :]
        nq = nph + nel
        return p_nq[nq.astype(int)] * electron_pmf(nel, nq, lf, field_v_cm=field, **kw)

    a, b = np.asarray(table(193.0)), np.asarray(elementwise(193.0))
    assert a.shape == (n_ph + 1, n_el + 1) and np.all(np.isfinite(a))
    assert b.max() > 0.1  # not a table of zeros
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15 * b.max())
    w = np.random.default_rng(6).uniform(size=a.shape)
    ga = jax.grad(lambda f: (w * table(f)).sum())(193.0)
    gb = jax.grad(lambda f: (w * elementwise(f)).sum())(193.0)
    # finite also for NEST ER at Nq = 0 (its Fano factor's sqrt(Nq F) gave 0/0 = NaN before)
    assert np.isfinite(float(ga))
    assert float(ga) == pytest.approx(float(gb), rel=1e-10)
