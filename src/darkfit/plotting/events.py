"""Figure of a simulated or measured events table: log10(S2) versus S1, and positions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from darkfit.plotting._style import plt, save


def plot_events(df: pd.DataFrame, path: str | Path, max_points: int = 20_000) -> Path:
    """Scatter log10(s2) vs s1 per source (events in the ROI) and r^2 vs z."""
    sel = df[df["in_roi"]] if "in_roi" in df else df
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    groups = sel.groupby("source", observed=True) if "source" in sel else [("events", sel)]
    for name, g in groups:
        g = g.iloc[:max_points]
        ax1.scatter(g["s1"], np.log10(np.maximum(g["s2"], 1e-3)), s=6, alpha=0.6, label=str(name))
        if {"r", "z"} <= set(g.columns):
            ax2.scatter(g["r"] ** 2, g["z"], s=6, alpha=0.6, label=str(name))
    ax1.set_xlabel("S1 [phd]")
    ax1.set_ylabel("log10(S2 / phd)")
    ax1.legend(markerscale=4)
    ax1.set_title(f"{len(sel)} events in ROI")
    ax2.set_xlabel("r$^2$ [cm$^2$]")
    ax2.set_ylabel("z [cm]")
    return save(fig, path)
