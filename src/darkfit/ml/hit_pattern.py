"""S2 hit pattern on a hexagonal top PMT array, rendered as a small image; position smearing.

* :func:`hex_array`: PMT centres on a hexagonal grid whose pitch puts the detector's top-PMT
  count (:data:`darkfit.ml.pulse_config.TOP_PMTS`) inside the TPC radius.
* :func:`light_response`: fraction of the top-array S2 light seen by each PMT for a point
  source at (x, y): the small-disk solid angle eta ~ h / (h^2 + d^2)^{3/2} (ml_methods.md F.4)
  plus a uniform (reflected) share; h and the share are assumptions of
  :mod:`~darkfit.ml.pulse_config`.
* :func:`hit_patterns`: Poisson PMT counts with mean A_top * eta, rendered onto an
  ``image_size`` x ``image_size`` grid by bilinear splatting of each PMT's counts (area
  preserving: the image sums to the PMT total).
* :func:`reconstructed_xy`: the event position smeared with NEST's resolution
  sigma_R = sqrt(kappa^2 / A_top + flat^2) (LZ_WS2024.hh, NEST.cpp), the stand-in for a
  position fit in the engineered features.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from darkfit.ml import pulse_config as pc
from darkfit.ml.pulse_config import PulseConfig


def hex_array(radius_cm: float, n_pmts: int) -> np.ndarray:
    """The ``n_pmts`` innermost points (n, 2) [cm] of a hexagonal grid of :func:`hex_pitch_cm`."""
    pitch = pc.hex_pitch_cm(radius_cm, n_pmts)
    m = int(np.ceil(radius_cm / pitch)) + 2
    i, j = np.meshgrid(np.arange(-m, m + 1), np.arange(-m, m + 1), indexing="ij")
    x = pitch * (i + 0.5 * j)
    y = pitch * (np.sqrt(3.0) / 2.0) * j
    pts = np.stack([x.ravel(), y.ravel()], axis=1)
    # the n innermost grid points (ties ordered by angle, so the choice is deterministic)
    r = np.round(np.hypot(pts[:, 0], pts[:, 1]), 9)
    order = np.lexsort((np.arctan2(pts[:, 1], pts[:, 0]), r))
    return pts[order[:n_pmts]]


def light_response(x_cm: np.ndarray, y_cm: np.ndarray, pmts: np.ndarray) -> np.ndarray:
    """Share of the top-array light per PMT (n_events, n_pmts); rows sum to 1."""
    h = pc.LRF_HEIGHT_CM
    d2 = (x_cm[:, None] - pmts[None, :, 0]) ** 2 + (y_cm[:, None] - pmts[None, :, 1]) ** 2
    eta = h / (h * h + d2) ** 1.5
    eta /= eta.sum(axis=1, keepdims=True)
    u = pc.LRF_UNIFORM_FRACTION
    return (1.0 - u) * eta + u / pmts.shape[0]


def splat_matrix(pmts: np.ndarray, radius_cm: float, size: int) -> sp.csr_matrix:
    """Sparse (size*size, n_pmts) matrix spreading each PMT onto its 4 nearest pixels."""
    edge = 2.0 * radius_cm / size
    fx = (pmts[:, 0] + radius_cm) / edge - 0.5
    fy = (pmts[:, 1] + radius_cm) / edge - 0.5
    rows, cols, vals = [], [], []
    ix0, iy0 = np.floor(fx).astype(int), np.floor(fy).astype(int)
    for dx in (0, 1):
        for dy in (0, 1):
            ix, iy = ix0 + dx, iy0 + dy
            w = (1 - np.abs(fx - ix)) * (1 - np.abs(fy - iy))
            ok = (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size) & (w > 0)
            rows.append((iy * size + ix)[ok])
            cols.append(np.arange(pmts.shape[0])[ok])
            vals.append(w[ok])
    m = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(size * size, pmts.shape[0]),
    )
    # PMTs near the edge may lose weight outside the grid: renormalise each column to 1
    colsum = np.asarray(m.sum(axis=0)).ravel()
    return (m @ sp.diags(1.0 / colsum)).tocsr()


def hit_patterns(
    rng: np.random.Generator,
    x_cm: np.ndarray,
    y_cm: np.ndarray,
    top_area: np.ndarray,
    cfg: PulseConfig,
    *,
    chunk_events: int = 4096,
) -> np.ndarray:
    """S2 top-array hit-pattern images (n, size, size) [phd per pixel], float32."""
    pmts = hex_array(cfg.radius_cm, cfg.n_top_pmts)
    size = cfg.image_size
    splat = splat_matrix(pmts, cfg.radius_cm, size)
    n = np.size(x_cm)
    out = np.empty((n, size, size), dtype=np.float32)
    for lo in range(0, n, chunk_events):
        hi = min(lo + chunk_events, n)
        eta = light_response(np.asarray(x_cm[lo:hi]), np.asarray(y_cm[lo:hi]), pmts)
        mu = np.maximum(np.asarray(top_area[lo:hi], dtype=np.float64), 0.0)[:, None] * eta
        counts = rng.poisson(mu).astype(np.float64)
        out[lo:hi] = (splat @ counts.T).T.reshape(hi - lo, size, size)
    return out


def reconstructed_xy(
    rng: np.random.Generator, x_cm: np.ndarray, y_cm: np.ndarray, top_area: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positions smeared with sigma_R = sqrt(kappa^2 / A_top + flat^2) (NEST GetS2 / LZ_WS2024).

    As in NEST, the displacement is |N(0, sigma_R)| in a uniformly random direction.
    """
    a = np.maximum(np.asarray(top_area, dtype=np.float64), 1.0)
    sigma = np.sqrt(pc.POS_RES_KAPPA_CM**2 / a + pc.POS_RES_FLAT_CM**2)
    d = np.abs(sigma * rng.standard_normal(a.size))
    phi = rng.uniform(0.0, 2.0 * np.pi, a.size)
    return np.asarray(x_cm) + d * np.cos(phi), np.asarray(y_cm) + d * np.sin(phi)
