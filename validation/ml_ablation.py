"""Where the waveform network's gain over the BDT at 99.98% ER rejection comes from (lz).

Trains, on the held-out split of ``validation/ml_classify_table.py`` (same seeds: 20000
in-ROI events per class, half for training, + 90000 extra ER test events), the network with
its S1 or S2 waveform replaced by a single spike of the same area, BDTs on raw, pulse-shape
and log-ratio features, and MLPs on raw and log-ratio features; prints the NR acceptance at
99.5% / 99.98% ER rejection of each (the table in docs/ml.md). About 10 min on 2 cores.

    python validation/ml_ablation.py
"""

from __future__ import annotations

from dataclasses import replace


def main() -> None:
    import numpy as np
    from threadpoolctl import threadpool_limits

    from darkfit.detector import load_detector
    from darkfit.ml import metrics, pipeline
    from darkfit.ml.classifiers import BDTClassifier
    from darkfit.ml.compression import CompressionModel
    from darkfit.ml.datasets import simulate_dataset, split
    from darkfit.ml.networks import NetworkClassifier

    threadpool_limits(limits=1, user_api="openmp")
    det = load_detector("lz")
    train, test = split(simulate_dataset(det, 20000, 0), 0.5, 0)
    extra = simulate_dataset(det, 1, 10_000, n_er=90000)
    test = pipeline._concat(test, extra.subset(extra.labels == 0))
    for d in (train, test):
        d.features["log10_s1"] = np.log10(d.features["s1"])

    def show(name, score):
        r = metrics.report(test.labels, score, 0.0)
        acc = {k: f"{100 * v['nr_acceptance']:.1f}%" for k, v in r["at_er_rejection"].items()}
        print(f"{name:70s} AUC {r['auc']:.4f}  {acc}", flush=True)

    def spike(w):
        out = np.zeros_like(w)
        out[:, 2] = w.sum(axis=1)
        return out

    for name, f in (
        ("network, full inputs", lambda d: d),
        ("network, S1 waveform -> spike", lambda d: replace(d, s1_waveforms=spike(d.s1_waveforms))),
        ("network, S2 waveform -> spike", lambda d: replace(d, s2_waveforms=spike(d.s2_waveforms))),
    ):
        net = NetworkClassifier("lz", seed=0).fit(f(train), epochs=15, show_progress=False)
        show(name, net.score(f(test)))
    raw = ("s1", "s2", "r", "z")
    shape = ("s1_prompt_fraction", "s1_rms_ns", "s1_rise_ns")
    logs = ("log10_s1", "log10_s2_s1", "drift_time", "r")
    for feats in (raw, (*raw, shape[0]), (*raw, *shape), logs):
        show(f"BDT {feats}", BDTClassifier("lz", feats).fit(train.features, train.labels)
             .score(test.features))  # fmt: skip
    idx = np.random.default_rng(0).permutation(len(train))
    a, b = idx[:15000], idx[15000:]
    for feats in (raw, logs):
        m = CompressionModel("lz", feats, hidden=(32, 16), seed=0)
        m.fit(train.features.iloc[a], train.labels[a], train.features.iloc[b], train.labels[b],
              epochs=40, mi_fraction=0.995, patience=6, show_progress=False)  # fmt: skip
        show(f"MLP (32, 16) {feats}", m.logit(test.features))


if __name__ == "__main__":
    main()
