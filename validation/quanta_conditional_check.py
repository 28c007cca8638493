"""The quanta tables against the simulator's own quanta draws, at the 1e-5 level.

Model of the toy pull study (``validation/toy_pulls.py``: NEST quanta, ER 0.5-10 keV and NR
1-30 keV flat). For every simulated interaction (truth level: produced photons and electrons)
the residual N_e - E_model[N_e | N_q] uses the model's joint table P(N_ph, N_e) along the
anti-diagonal N_ph + N_e = N_q, so its spread is only the recombination fluctuation, not the
energy spectrum's: the mean residual tests P(N_e | N_q) ~10x more precisely than comparing
mean N_e. Also printed: <(residual)^2 / Var_model[N_e | N_q]> (1 if the widths agree) and the
mean N_q of the table against the simulation's, and a chi2 of the simulated N_q against the
table's P(N_q) in 40 bins of equal model probability (all seeds together).

    python validation/quanta_conditional_check.py --exposure 20000 --seeds 11,12 \\
        | tee docs/validation/quanta_conditional_check.txt
"""

from __future__ import annotations

import argparse

import numpy as np


def conditional_moments(table: np.ndarray):
    """(sum_ne P, E[N_e | N_q], Var[N_e | N_q]) per N_q of a table P(N_ph, N_e)."""
    n_ph, n_el = table.shape
    s0, s1, s2 = (np.zeros(n_ph + n_el - 1) for _ in range(3))
    ne = np.arange(n_el)
    for i in range(n_ph):
        s0[i : i + n_el] += table[i]
        s1[i : i + n_el] += table[i] * ne
        s2[i : i + n_el] += table[i] * ne**2
    pos = s0 > 0
    mean = np.where(pos, s1 / np.where(pos, s0, 1.0), np.nan)
    return s0, mean, np.where(pos, s2 / np.where(pos, s0, 1.0), np.nan) - mean**2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--exposure", type=float, default=20000.0, help="ER; NR gets 5x this")
    ap.add_argument("--seeds", default="11,12")
    a = ap.parse_args()
    from scipy import stats
    from toy_pulls import build

    from darkfit.model.simulate import simulate

    det, sources, plik = build(n_ref=300)
    for src in sources:
        table = np.asarray(plik.likelihood.models[src.name].quanta_table({}))  # P(N_ph, N_e)
        s0, mean, var = conditional_moments(table)
        all_nq = []
        for seed in (int(s) for s in a.seeds.split(",")):
            exposure = a.exposure * (1 if src.name == "er" else 5)
            ev = simulate(det, [src], exposure, seed=seed)
            nph, nel = ev.n_photons.to_numpy(), ev.n_electrons.to_numpy()
            ok = (nph < table.shape[0]) & (nel < table.shape[1])
            nph, nel = nph[ok], nel[ok]
            nq = nph + nel
            all_nq.append(nq)
            r = nel - mean[nq]
            z2 = r**2 / np.maximum(var[nq], 1e-12)
            nq_model = np.sum(s0 * np.arange(s0.size)) / s0.sum()
            print(
                f"{src.name} seed {seed}: {nq.size} interactions; "
                f"<N_e - E_model[N_e|N_q]> / <N_e> = {r.mean() / nel.mean():+.2e} "
                f"+- {r.std() / np.sqrt(r.size) / nel.mean():.1e}; "
                f"<r^2 / Var_model> = {z2.mean():.5f} +- {z2.std() / np.sqrt(z2.size):.5f}; "
                f"<N_q> model {nq_model:.4f}, simulation {nq.mean():.4f} "
                f"+- {nq.std() / np.sqrt(nq.size):.4f}",
                flush=True,
            )
        nq = np.concatenate(all_nq)
        p = s0 / s0.sum()
        cuts = np.searchsorted(np.cumsum(p), np.linspace(0, 1, 41)[1:-1])
        edges = np.unique(np.concatenate([[0], cuts, [p.size]]))
        obs = np.histogram(nq, bins=edges)[0]
        exp = np.add.reduceat(p, edges[:-1]) * nq.size
        chi2 = float(np.sum((obs - exp) ** 2 / exp))
        print(
            f"{src.name}: N_q histogram vs the table's P(N_q): chi2 {chi2:.1f} / {obs.size - 1}"
            f" (p = {stats.chi2.sf(chi2, obs.size - 1):.3g})",
            flush=True,
        )


if __name__ == "__main__":
    main()
