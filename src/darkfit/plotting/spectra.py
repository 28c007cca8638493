"""Figure of recoil spectra dR/dE."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from darkfit.plotting._style import plt, save


def plot_spectra(columns: dict[str, np.ndarray], path: str | Path) -> Path:
    """Plot dR/dE [events/(tonne year keV)] of each column against ``columns['energy_kev']``."""
    e = columns["energy_kev"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, rate in columns.items():
        if name != "energy_kev":
            ax.plot(e, rate, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("recoil energy [keV]")
    ax.set_ylabel("dR/dE [events / (tonne year keV)]")
    ax.legend()
    ax.grid(alpha=0.3)
    return save(fig, path)
