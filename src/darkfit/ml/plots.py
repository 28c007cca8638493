"""Figures of the ML module (matplotlib, Agg backend via :mod:`darkfit.plotting._style`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from darkfit.plotting._style import plt, save


def plot_roc(curves: dict, path: str | Path, points: dict | None = None) -> Path:
    """NR acceptance vs ER acceptance (log x) per classifier; ``points``: {name: (fpr, tpr)}."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, (fpr, tpr) in curves.items():
        ok = fpr > 0
        ax.plot(fpr[ok], tpr[ok], label=name)
    for name, (fpr, tpr) in (points or {}).items():
        ax.plot([fpr], [tpr], "k*", ms=10, label=name)
    for rej in (0.995, 0.9998):
        ax.axvline(1 - rej, color="0.6", ls=":", lw=1)
        ax.text(1 - rej, 0.02, f" {100 * rej:g}% ER rej.", rotation=90, color="0.4", fontsize=8)
    ax.set(
        xscale="log", xlim=(1e-5, 1), ylim=(0, 1.01), xlabel="ER acceptance", ylabel="NR acceptance"
    )
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return save(fig, path)


def plot_scores(scores: dict, labels: np.ndarray, path: str | Path) -> Path:
    """Score histograms of ER and NR test events, one panel per classifier."""
    fig, axes = plt.subplots(1, len(scores), figsize=(4 * len(scores), 3.4), squeeze=False)
    for ax, (name, s) in zip(axes[0], scores.items(), strict=True):
        lo, hi = np.percentile(s, [0.05, 99.95])
        bins = np.linspace(lo, hi, 60)
        for c, lab, col in ((0, "ER", "C0"), (1, "NR", "C3")):
            ax.hist(s[labels == c], bins=bins, histtype="step", density=True, color=col, label=lab)
        ax.set(yscale="log", xlabel=f"{name} score", ylabel="density")
        ax.legend(fontsize=8)
    return save(fig, path)


def plot_event_example(ds, path: str | Path, cfg) -> Path:
    """S1 waveform, S2 waveform and hit pattern of one ER and one NR event of similar S1."""
    er = np.flatnonzero(ds.labels == 0)
    nr = np.flatnonzero(ds.labels == 1)
    s1 = ds.features["s1"].to_numpy()
    i_nr = nr[np.argmin(np.abs(s1[nr] - 20.0))]
    i_er = er[np.argmin(np.abs(s1[er] - s1[i_nr]))]
    fig, axes = plt.subplots(2, 3, figsize=(11, 6))
    for row, (i, lab) in enumerate(((i_er, "ER"), (i_nr, "NR"))):
        f = ds.features.iloc[i]
        t1 = np.arange(ds.s1_waveforms.shape[1]) * cfg.s1_dt_ns
        axes[row, 0].step(t1, ds.s1_waveforms[i], where="post")
        axes[row, 0].set(
            xlabel="time [ns]",
            ylabel="phd / 10 ns",
            title=f"{lab} S1 = {f.s1:.1f} phd, prompt {f.s1_prompt_fraction:.2f}",
        )
        t2 = np.arange(ds.s2_waveforms.shape[1]) * cfg.s2_dt_ns * 1e-3
        axes[row, 1].step(t2, ds.s2_waveforms[i], where="post", color="C1")
        axes[row, 1].set(
            xlabel="time [us]",
            ylabel="phd / 100 ns",
            title=f"S2 = {f.s2:.0f} phd, drift {f.drift_time:.0f} us",
        )
        im = axes[row, 2].imshow(
            ds.patterns[i],
            origin="lower",
            cmap="viridis",
            extent=[-cfg.radius_cm, cfg.radius_cm] * 2,
        )
        axes[row, 2].set(
            xlabel="x [cm]", ylabel="y [cm]", title=f"S2 top pattern, r = {f.r:.0f} cm"
        )
        fig.colorbar(im, ax=axes[row, 2], label="phd")
    return save(fig, path)


def plot_templates(
    templates: dict, edges: np.ndarray, path: str | Path, history=None, mi_ref=None
) -> Path:
    """Score templates (normalised histograms of u) and, optionally, the MI history."""
    n = 2 if history else 1
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 4), squeeze=False)
    ax = axes[0, 0]
    for name, h in templates.items():
        ax.stairs(h, edges, label=name)
    ax.set(yscale="log", xlabel="uniformised NN score u", ylabel="fraction per bin")
    ax.legend(fontsize=8)
    if history:
        ax = axes[0, 1]
        ep = [h["epoch"] + 1 for h in history]
        ax.plot(ep, [h["mi"] for h in history], "o-", label="MI(score; label)")
        if mi_ref is not None:
            ax.axhline(mi_ref, color="k", ls="--", label="MI(inputs; label)")
        ax.set(xlabel="epoch", ylabel="MI [nats]")
        ax.legend(fontsize=8)
    return save(fig, path)


def plot_electrode(eff, rejection: dict, widths: dict, path: str | Path) -> Path:
    """Rejection factor vs signal efficiency, and the S2 width distributions per kind."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, rej in rejection.items():
        axes[0].plot(eff, rej, label=name)
    axes[0].set(yscale="log", xlabel="bulk S2-only efficiency", ylabel="electrode rejection factor")
    axes[0].axvline(0.6, color="0.6", ls=":")
    axes[0].legend(fontsize=8)
    allw = np.concatenate(list(widths.values()))
    bins = np.linspace(0, np.percentile(allw, 99.5), 60)
    for name, w in widths.items():
        axes[1].hist(w, bins=bins, histtype="step", density=True, label=name)
    axes[1].set(xlabel="S2 RMS width [us]", ylabel="density")
    axes[1].legend(fontsize=8)
    return save(fig, path)


def plot_limit_comparison(lim_explicit, lim_nn, path: str | Path, title: str = "") -> Path:
    """Per-toy upper limits of the two analyses: histograms and a toy-by-toy scatter."""
    a, b = np.asarray(lim_explicit, float), np.asarray(lim_nn, float)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    hi = np.percentile(np.r_[a, b], 99.5)
    bins = np.linspace(0.0, hi, 40)
    for x, lab, col in ((a, "explicit likelihood", "C0"), (b, "NN-1D (binned score)", "C3")):
        axes[0].hist(x, bins=bins, histtype="step", color=col, label=lab)
        axes[0].axvline(np.median(x), color=col, ls="--", lw=1)
    axes[0].set(xlabel="90% CL upper limit [signal events]", ylabel="toys", title=title)
    axes[0].legend(fontsize=8)
    axes[1].plot(a, b, ".", ms=3, alpha=0.6)
    axes[1].plot([0, hi], [0, hi], "k:", lw=1)
    axes[1].set(
        xlim=(0, hi), ylim=(0, hi), xlabel="explicit limit [events]", ylabel="NN-1D limit [events]"
    )
    return save(fig, path)
