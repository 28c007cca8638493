"""Classification metrics for ER/NR discrimination (labels: 1 = NR signal, 0 = ER background).

* ROC curve and AUC (scikit-learn).
* NR acceptance at a fixed ER rejection: the score threshold is set on the ER test scores so
  that at most a fraction 1 - rejection of them pass (score > threshold); the acceptance is
  the NR fraction above it. With N_ER test events the threshold rests on about
  N_ER (1 - rejection) events (20 for 10^5 events at 99.98%): the report gives that count and
  a bootstrap standard deviation.
* Accuracy, recall and precision at a decision threshold, for **equal ER and NR priors** (so
  they do not depend on the test-set mix): accuracy = (TPR + TNR) / 2, recall = TPR,
  precision = TPR / (TPR + FPR); the confusion matrix is given as counts and as rates per
  true class.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from darkfit._errors import bad_value
from darkfit.ml._validate import binary_labels

#: ER rejections at which the NR acceptance is reported: 99.5% ER discrimination at 50% NR
#: acceptance is the assumption of LZ's projected sensitivity (arXiv:1802.06039; from memory,
#: not re-checked here), and 30% NR acceptance at 99.98% ER rejection the DARWIN baseline
#: (arXiv:1606.07001; ml_methods.md A.3).
REJECTIONS = (0.995, 0.9998)


def _scores(labels, score):
    y = binary_labels(labels)
    s = np.asarray(score, dtype=np.float64)
    if s.shape != y.shape:
        raise bad_value("score", f"shape {s.shape}", f"shape {y.shape}, one score per event")
    if not np.isfinite(s).all():
        raise bad_value("score", "NaN/inf values", "finite scores")
    return y, s


def roc(labels, score) -> tuple[np.ndarray, np.ndarray]:
    """(ER acceptance = false-positive rate, NR acceptance = true-positive rate) arrays."""
    y, s = _scores(labels, score)
    fpr, tpr, _ = roc_curve(y, s)
    return fpr, tpr


def threshold_at_rejection(er_scores: np.ndarray, rejection: float) -> float:
    """Smallest threshold t with fraction(er_scores > t) <= 1 - rejection."""
    if not 0.0 < rejection < 1.0:
        raise bad_value("rejection", rejection, "a number in (0, 1)")
    s = np.sort(np.asarray(er_scores, dtype=np.float64))
    k = int(np.floor((1.0 - rejection) * s.size))  # ER events allowed above the threshold
    return float(s[s.size - 1 - k]) if k < s.size else float(s[0] - 1.0)


def acceptance_at_rejection(labels, score, rejection: float) -> tuple[float, float, int]:
    """(NR acceptance, threshold, number of ER events above it) at an ER rejection."""
    y, s = _scores(labels, score)
    thr = threshold_at_rejection(s[y == 0], rejection)
    return float(np.mean(s[y == 1] > thr)), thr, int(np.sum(s[y == 0] > thr))


def at_threshold(labels, score, threshold: float) -> dict:
    """Equal-prior accuracy, recall, precision and the confusion matrix at ``score > threshold``."""
    y, s = _scores(labels, score)
    pred = s > threshold
    tp = int(np.sum(pred & (y == 1)))
    fn = int(np.sum(~pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    tn = int(np.sum(~pred & (y == 0)))
    tpr, fpr = tp / (tp + fn), fp / (fp + tn)
    return {
        "threshold": float(threshold),
        "accuracy": 0.5 * (tpr + 1.0 - fpr),
        "recall": tpr,
        "precision": tpr / (tpr + fpr) if tpr + fpr > 0 else 0.0,
        "confusion_matrix": [[tn, fp], [fn, tp]],  # rows: true ER, NR; columns: predicted
        "confusion_rates": [[1.0 - fpr, fpr], [1.0 - tpr, tpr]],
        "er_rejection": 1.0 - fpr,
        "nr_acceptance": tpr,
    }


def report(
    labels, score, threshold: float, *, rejections=REJECTIONS, n_boot: int = 0, seed: int = 0
) -> dict:
    """AUC, the :func:`at_threshold` numbers and the NR acceptance at each ER rejection.

    ``n_boot`` > 0 adds a bootstrap standard deviation of each acceptance (ER and NR test
    events resampled separately).
    """
    y, s = _scores(labels, score)
    out = {
        "auc": float(roc_auc_score(y, s)),
        "n_er": int(np.sum(y == 0)),
        "n_nr": int(np.sum(y == 1)),
        **at_threshold(y, s, threshold),
    }
    rng = np.random.default_rng([seed, 5])
    er, nr = s[y == 0], s[y == 1]
    acc = {}
    for rej in rejections:
        a, thr, n_leak = acceptance_at_rejection(y, s, rej)
        entry = {"nr_acceptance": a, "threshold": thr, "er_events_above": n_leak}
        if n_boot > 0:
            boots = []
            for _ in range(n_boot):
                e = rng.choice(er, er.size)
                n = rng.choice(nr, nr.size)
                boots.append(np.mean(n > threshold_at_rejection(e, rej)))
            entry["nr_acceptance_std"] = float(np.std(boots, ddof=1))
        acc[f"{rej:g}"] = entry
    out["at_er_rejection"] = acc
    return out
