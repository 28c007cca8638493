"""Figure of mean photon and electron yields versus energy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from darkfit.plotting._style import plt, save


def plot_yields(
    columns: dict[str, np.ndarray], recoil: str, field: float, path: str | Path
) -> Path:
    """Plot photons/keV and electrons/keV against energy (columns as made by ``darkfit yields``)."""
    e = columns["energy_kev"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(e, columns["photons_per_kev"], label="photons / keV")
    ax.plot(e, columns["electrons_per_kev"], label="electrons / keV")
    ax.set_xscale("log")
    ax.set_xlabel(f"energy [{'keVnr' if recoil == 'nr' else 'keVee'}]")
    ax.set_ylabel("mean yield [quanta / keV]")
    ax.set_title(f"{recoil.upper()} yields, {field:g} V/cm")
    ax.legend()
    ax.grid(alpha=0.3)
    return save(fig, path)
