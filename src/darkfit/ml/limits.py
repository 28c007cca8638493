"""NN-1D versus the explicit likelihood: upper limits on the same toy datasets, timed.

The comparison of LUX's likelihood compression (arXiv:2201.05734; ml_methods.md B.1): a
:class:`~darkfit.ml.compression.CompressionModel` maps (r, z, s1, s2) to one score, the score
is uniformised and binned, and the binned Poisson likelihood in that one variable replaces
the explicit unbinned likelihood in (s1, s2 | position). Both analyses fit the same toys:

1. **Pool.** ``n_pool`` in-ROI events of the background (and of the signal) are simulated
   once (:func:`darkfit.inference.event_pool.simulate_pool_events`); the explicit analysis
   evaluates the exact normalised density of every pool event under every source
   (:func:`~darkfit.inference.event_pool.event_log_densities`), the NN analysis scores them.
2. **NN.** Independent simulated events train the network (50%/25% train/validation of
   ``n_train`` per source, MI stopping rule) and fill the templates (``n_template`` per
   source). r and z are the true positions, as in the explicit likelihood: both analyses see
   the same observables.
3. **Toys.** Background-only datasets draw Poisson(mu_b) events from the pool
   (:meth:`~darkfit.inference.event_pool.EventPool.draw`). Per toy and analysis the rate fit
   of :mod:`darkfit.inference.rate_fit` (background multiplier free, signal >= 0) gives the
   q~_s curve (arXiv:1007.1727 eq. 16) on a grid of signal counts, and the 90% CL limit is
   its crossing of Phi^-1(0.9)^2 (the asymptotic observed limit of
   :func:`darkfit.inference.sensitivity.observed_limit`, linear interpolation).

Wall times are measured per stage; the explicit analysis's setup is the density evaluation
of the analysed events, the NN's is training plus templates plus scoring.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from darkfit._errors import bad_value
from darkfit.detector import Detector
from darkfit.ml.compression import COMPRESSION_FEATURES, CompressionModel, score_templates
from darkfit.ml.mutual_info import mi_continuous_discrete


@dataclass(frozen=True)
class NN1DConfig:
    """Sizes and settings of :func:`compare_limits` (event counts are in-ROI events).

    Attributes:
        background, signal: source specs (``darkfit.inference.event_pool`` syntax).
        exposure_tonne_year: exposure of the toys [tonne year].
        n_toys: background-only toys (the issue asks for >= 200).
        n_pool: background pool size (keep >> mu_b: toys share pool events).
        n_train: simulated events per source for training + validation (50% / 25%).
        n_template: simulated events per source for the score templates.
        bins: number of equal bins of the uniformised score on [0, 1].
        features: compression inputs.
        epochs, mi_fraction, patience: training limits and the MI stopping rule
            (:meth:`~darkfit.ml.compression.CompressionModel.fit`).
        cl: confidence level of the limits.
        seed: seed of every random step.
    """

    background: str = "flat_er"
    signal: str = "wimp:mass=50"
    exposure_tonne_year: float = 3.0
    n_toys: int = 300
    n_pool: int = 6000
    n_train: int = 80000
    n_template: int = 400_000
    bins: int = 50
    features: tuple[str, ...] = COMPRESSION_FEATURES
    epochs: int = 60
    mi_fraction: float = 0.995
    patience: int = 5
    cl: float = 0.9
    seed: int = 0

    def __post_init__(self):
        for name in ("n_toys", "n_pool", "n_train", "n_template", "bins", "epochs"):
            if int(getattr(self, name)) < 1:
                raise bad_value(name, getattr(self, name), "a positive integer")
        if not self.exposure_tonne_year > 0:
            raise bad_value("exposure_tonne_year", self.exposure_tonne_year, "a number > 0")
        if not 0.0 < self.cl < 1.0:
            raise bad_value("cl", self.cl, "a number in (0, 1)")


def toy_limits(
    model, data, grid: np.ndarray, cl: float, batch: int = 100
) -> tuple[np.ndarray, int]:
    """Asymptotic upper limits on the signal count of every toy [events], and the number of
    (toy, tested value) fits that did not converge (flagged by the rate fit, kept).

    q~_s (arXiv:1007.1727 eq. 16) on ``grid`` from :func:`~darkfit.inference.rate_fit.
    profile_scan` (signal >= 0), crossing q~_s = Phi^-1(cl)^2 by linear interpolation
    (:func:`darkfit.inference.neyman.crossing`, q~_0 = 0 at s = 0 prepended).
    """
    from darkfit.inference.neyman import crossing
    from darkfit.inference.rate_fit import RateData
    from darkfit.inference.test_statistics import scan_statistic

    crit = stats.norm.ppf(cl) ** 2
    out, failed = [], 0
    n = data.n_toys
    for lo in range(0, n, batch):
        part = RateData(*(a[lo : lo + batch] for a in data))
        scan = scan_statistic(model, part, grid, "q_tilde")
        failed += scan.n_failed
        out.append(crossing(grid, scan.q - crit, -crit).limits)
    return np.concatenate(out), failed


def _in_roi(detector: Detector, spec: str, n: int, seed: int, roi_fraction: float):
    from darkfit.inference.event_pool import simulate_pool_events

    return simulate_pool_events(detector, spec, n, seed, roi_fraction)


def compare_limits(
    detector: Detector,
    config: NN1DConfig = NN1DConfig(),
    *,
    cache_dir: str | None = None,
    show_progress: bool = True,
) -> dict:
    """Median 90% CL limits of the explicit and the NN-1D likelihood on the same toys.

    Returns a dict with per-toy limits of both analyses, their medians and quantiles, the
    mutual-information numbers of the compression, and wall times per stage [s].
    """
    from darkfit.inference.event_pool import (
        EventPool,
        canonical_spec,
        event_log_densities,
        source_acceptance,
    )
    from darkfit.inference.rate_fit import (
        RateModel,
        binned_data,
        binned_model,
        unbinned_data,
    )

    cfg = config
    specs = {"bkg": canonical_spec(cfg.background), "signal": canonical_spec(cfg.signal)}
    acc = {k: source_acceptance(detector, s, cache_dir) for k, s in specs.items()}
    mu_b = acc["bkg"].mu_per_tyr * cfg.exposure_tonne_year
    if 3 * mu_b > cfg.n_pool:
        raise bad_value("n_pool", cfg.n_pool, f">> mu_b = {mu_b:.1f} (at least 3 mu_b)")
    times: dict[str, float] = {}

    # ---- explicit analysis: densities of the pool events -------------------------------
    pool_ev = _in_roi(detector, specs["bkg"], cfg.n_pool, cfg.seed, acc["bkg"].roi_fraction)
    cached = None
    if cache_dir is not None:
        from darkfit.inference.event_pool import _hash, detector_fingerprint

        key = _hash(detector_fingerprint(detector), specs["bkg"], specs["signal"], cfg.n_pool,
                    cfg.seed, "ml_nn1d")  # fmt: skip
        cached = Path(cache_dir) / f"ml_nn1d_densities_{key}.npz"
    if cached is not None and cached.is_file():
        with np.load(cached) as f:  # the densities and the time their evaluation took
            log_p, times["explicit_densities"] = f["log_p"], float(f["seconds"])
    else:
        t0 = time.perf_counter()
        log_p = event_log_densities(
            detector, specs, pool_ev, cache_dir=cache_dir, show_progress=show_progress
        )
        times["explicit_densities"] = time.perf_counter() - t0
        if cached is not None:
            np.savez(cached, log_p=log_p, seconds=times["explicit_densities"])
    times["explicit_per_event"] = times["explicit_densities"] / cfg.n_pool

    # ---- NN analysis: train, templates, score the pool -----------------------------------
    t0 = time.perf_counter()
    sim = {
        k: _in_roi(detector, s, cfg.n_train, cfg.seed + 101 + i, acc[k].roi_fraction)
        for i, (k, s) in enumerate(specs.items())
    }
    times["nn_simulate_training"] = time.perf_counter() - t0
    half, quarter = cfg.n_train // 2, cfg.n_train // 4
    train = pd.concat([sim["bkg"][:half], sim["signal"][:half]], ignore_index=True)
    val = pd.concat(
        [sim["bkg"][half : half + quarter], sim["signal"][half : half + quarter]],
        ignore_index=True,
    )
    y_tr = np.r_[np.zeros(half, int), np.ones(half, int)]
    y_va = np.r_[np.zeros(quarter, int), np.ones(quarter, int)]
    t0 = time.perf_counter()
    model = CompressionModel(detector.name, tuple(cfg.features), seed=cfg.seed)
    model.fit(
        train,
        y_tr,
        val,
        y_va,
        epochs=cfg.epochs,
        mi_fraction=cfg.mi_fraction,
        patience=cfg.patience,
        show_progress=show_progress,
    )
    times["nn_training"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tmpl_ev = {
        k: _in_roi(detector, s, cfg.n_template, cfg.seed + 201 + i, acc[k].roi_fraction)
        for i, (k, s) in enumerate(specs.items())
    }
    times["nn_simulate_templates"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    shapes = score_templates(model, tmpl_ev, cfg.bins)
    times["nn_templates"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    u_pool = model.transform(pool_ev)
    times["nn_scoring"] = time.perf_counter() - t0
    times["nn_per_event"] = times["nn_scoring"] / cfg.n_pool
    # MI kept by the score on events the stopping rule never saw (the template events)
    m = min(10_000, cfg.n_template)
    test = pd.concat([tmpl_ev["bkg"][:m], tmpl_ev["signal"][:m]], ignore_index=True)
    y_te = np.r_[np.zeros(m, int), np.ones(m, int)]
    mi_score_test = mi_continuous_discrete(model.logit(test), y_te, seed=cfg.seed)
    mi_knn_test = mi_continuous_discrete(
        (test[list(cfg.features)].to_numpy() - model.mean) / model.std, y_te, seed=cfg.seed
    )

    # ---- the same toys for both ----------------------------------------------------------
    pool = EventPool(
        ("bkg", "signal"),
        (specs["bkg"], specs["signal"]),
        np.zeros(cfg.n_pool, dtype=np.int64),
        log_p,
        np.array([acc["bkg"].mu_per_tyr, acc["signal"].mu_per_tyr]),
        {"detector": detector.name},
    )
    rng = np.random.default_rng([cfg.seed, 2201])
    toys = pool.draw(rng, [mu_b, 0.0], cfg.n_toys)
    sigma_free = np.array([np.inf, np.inf])
    # signal multiplier = signal events (mu_signal = 1 at multiplier 1)
    explicit_model = RateModel(np.array([mu_b, 1.0]), poi=1, constraint_sigma=sigma_free)
    explicit_data = unbinned_data(toys.log_p, toys.mask)
    edges = np.linspace(0.0, 1.0, cfg.bins + 1)
    counts = np.zeros((cfg.n_toys, cfg.bins))
    for t in range(cfg.n_toys):
        idx = toys.index[t][toys.mask[t]]
        counts[t] = np.histogram(u_pool[idx], bins=edges)[0]
    # bins no simulated event of a source filled are 0 for it (no floor: the rate fit handles
    # empty bins and a signal bound shared with them; tests/inference/test_rate_fit.py)
    templates = np.stack([mu_b * shapes["bkg"], shapes["signal"]], axis=1)
    nn_model = binned_model(templates, poi=1, constraint_sigma=sigma_free)
    nn_data = binned_data(templates, counts)
    grid = np.geomspace(0.2, 200.0, 48)
    # warm-up compilations are excluded from the fit timings
    toy_limits(explicit_model, unbinned_data(toys.log_p[:2], toys.mask[:2]), grid, cfg.cl)
    toy_limits(nn_model, binned_data(templates, counts[:2]), grid, cfg.cl)
    t0 = time.perf_counter()
    lim_explicit, fail_e = toy_limits(explicit_model, explicit_data, grid, cfg.cl)
    times["explicit_fits"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lim_nn, fail_n = toy_limits(nn_model, nn_data, grid, cfg.cl)
    times["nn_fits"] = time.perf_counter() - t0
    times["explicit_total"] = times["explicit_densities"] + times["explicit_fits"]
    times["nn_total"] = sum(
        times[k]
        for k in (
            "nn_simulate_training",
            "nn_training",
            "nn_simulate_templates",
            "nn_templates",
            "nn_scoring",
            "nn_fits",
        )
    )
    med_e, med_n = float(np.median(lim_explicit)), float(np.median(lim_nn))
    quant = [stats.norm.cdf(k) for k in (-2, -1, 0, 1, 2)]
    return {
        "detector": detector.name,
        "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "mu_background": mu_b,
        "signal_events_per_multiplier": 1.0,
        "signal_mu_per_tyr_at_1e-45": acc["signal"].mu_per_tyr,
        "median_limit_explicit": med_e,
        "median_limit_nn": med_n,
        "median_ratio_nn_over_explicit": med_n / med_e,
        "median_of_per_toy_ratio": float(np.median(lim_nn / lim_explicit)),
        "band_explicit": np.quantile(lim_explicit, quant).tolist(),
        "band_nn": np.quantile(lim_nn, quant).tolist(),
        "median_limit_stat_error": _median_error(lim_explicit),
        "failed_fits": {"explicit": fail_e, "nn": fail_n},
        "limits_at_grid_edge": int(np.sum((lim_explicit >= grid[-1]) | (lim_nn >= grid[-1]))),
        "mi_inputs_nats": model.mi_inputs,
        "mi_inputs_knn_nats": model.mi_inputs_knn,
        "mi_inputs_bdt_nats": model.mi_inputs_bdt,
        "mi_score_nats": model.mi_score,
        "mi_ratio": model.mi_ratio,
        "mi_score_test_nats": mi_score_test,
        "mi_inputs_knn_test_nats": mi_knn_test,
        "stop_reason": model.stop_reason,
        "epochs_trained": len(model.history),
        "times_s": times,
        "wall_time_ratio_explicit_over_nn": times["explicit_total"] / times["nn_total"],
        "fit_time_ratio_explicit_over_nn": times["explicit_fits"] / times["nn_fits"],
        "limits_explicit": lim_explicit.tolist(),
        "limits_nn": lim_nn.tolist(),
        "templates": {k: v.tolist() for k, v in shapes.items()},
        "bin_edges": edges.tolist(),
        "model": model,
    }


def _median_error(x: np.ndarray) -> float:
    """Standard error of a sample median, sqrt(pi/2) * sd / sqrt(n) for a normal-like sample
    (asymptotic variance 1 / (4 n f(m)^2))."""
    x = np.asarray(x, float)
    return float(np.sqrt(np.pi / 2) * np.std(x, ddof=1) / np.sqrt(x.size))
