"""Metrics on hand-made examples whose values are worked out in the comments."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from convo_outcomes.labels import LabelSpec
from convo_outcomes.metrics import (
    brier_score,
    calibration_summary,
    compare_table,
    evaluate_outputs,
    expected_calibration_error,
    fit_temperature,
    format_report,
    head_metrics,
    negative_log_likelihood,
    compare_with_baselines,
    ece_interval,
    reliability_bins,
    resample_indices,
    softmax,
)

SPEC = LabelSpec.default()
RES = SPEC["resolution"]  # multiclass: resolved, unresolved, escalated
CHURN = SPEC["churn_risk"]  # binary: not_at_risk, at_risk
EFFORT = SPEC["effort"]  # ordinal: low, medium, high

# Five labelled records and one unknown (-1) that must be ignored everywhere.
Y = np.array([0, 0, 1, 1, 2, -1])
P = np.array(
    [
        [0.80, 0.10, 0.10],  # pred 0, right, conf 0.80
        [0.40, 0.45, 0.15],  # pred 1, wrong, conf 0.45
        [0.20, 0.70, 0.10],  # pred 1, right, conf 0.70
        [0.10, 0.30, 0.60],  # pred 2, wrong, conf 0.60
        [0.10, 0.10, 0.80],  # pred 2, right, conf 0.80
        [1.00, 0.00, 0.00],  # unknown target: excluded
    ]
)


def test_head_metrics_hand_computed():
    m = head_metrics(RES, Y, P)
    assert m["n"] == 5
    # accuracy: 3 right of 5
    assert m["accuracy"] == 0.6
    # F1 resolved: TP1 FP0 FN1 -> P1 R.5 -> 2/3; unresolved: TP1 FP1 FN1 -> .5; escalated: TP1 FP1 FN0 -> 2/3
    # macro = (2/3 + 1/2 + 2/3) / 3 = 11/18
    assert m["macro_f1"] == round(11 / 18, 4)
    assert m["per_class_f1"] == {"resolved": 0.6667, "unresolved": 0.5, "escalated": 0.6667}
    # rows = true class, columns = predicted class
    assert m["confusion"] == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["support"] == {"resolved": 2, "unresolved": 2, "escalated": 1}
    # Brier per record: .04+.01+.01=.06; .36+.2025+.0225=.585; .04+.09+.01=.14; .01+.49+.36=.86; .06
    # mean = 1.705 / 5 = 0.341
    assert m["brier"] == 0.341
    assert m["nll"] == round(-np.mean(np.log([0.8, 0.4, 0.7, 0.3, 0.8])), 4)
    assert m["ece"] == round(expected_calibration_error(P[:5], Y[:5], n_bins=15), 4)
    assert 0.0 < m["auc"] <= 1.0
    assert "mae" not in m
    json.dumps(m)  # plain Python types only


def test_ece_two_bins_by_hand():
    # bin (0, .5]: record 2 alone, acc 0, conf .45 -> gap .45
    # bin (.5, 1]: 4 records, acc 3/4, conf (.8+.7+.6+.8)/4 = .725 -> gap .025
    # ECE = 1/5 * .45 + 4/5 * .025 = .11
    assert expected_calibration_error(P[:5], Y[:5], n_bins=2) == pytest.approx(0.11)
    bins = reliability_bins(P[:5], Y[:5], n_bins=2)
    assert [b["count"] for b in bins] == [1, 4]
    assert bins[1]["confidence"] == pytest.approx(0.725) and bins[1]["accuracy"] == pytest.approx(0.75)
    assert bins[0]["lo"] == 0.0 and bins[0]["hi"] == 0.5 and bins[1]["hi"] == 1.0
    assert brier_score(P[:5], Y[:5]) == pytest.approx(0.341)


def test_ece_interval_is_the_spread_of_ece_over_resamples(monkeypatch):
    import convo_outcomes.metrics as metrics

    rng = np.random.default_rng(3)
    n = 300
    probs = rng.dirichlet([1.0, 1.0, 1.0], n)
    y = np.where(rng.random(n) < probs.max(1), probs.argmax(1), rng.integers(0, 3, n))
    # every resample's ECE, computed all at once, equals the plain ECE of that resample
    idx = next(resample_indices(n, 20, seed=1))
    conf, correct, bins = metrics._top_label_bins(probs, y, 15)
    fast = metrics._resampled_ece(conf, correct, bins, idx, 15)
    slow = [expected_calibration_error(probs[i], y[i]) for i in idx]
    assert np.allclose(fast, slow)
    # and the interval is the 2.5 and 97.5 percentiles of those ECEs, whatever the chunk size
    lo, hi = ece_interval(probs, y, resamples=200, seed=5)
    every = np.concatenate([metrics._resampled_ece(conf, correct, bins, i, 15) for i in resample_indices(n, 200, seed=5)])
    assert (lo, hi) == tuple(np.percentile(every, [2.5, 97.5]))
    assert ece_interval(probs, y, resamples=200, seed=5) == (lo, hi)  # deterministic for a seed
    monkeypatch.setattr(metrics, "_MAX_CELLS", n * 7)  # 7 resamples per chunk, the last one short
    assert ece_interval(probs, y, resamples=200, seed=5) == (lo, hi)


def test_ece_interval_by_hand():
    # always right with confidence 1: every resample has ECE 0
    sure = np.array([[1.0, 0.0]] * 50)
    assert ece_interval(sure, np.zeros(50, dtype=int)) == (0.0, 0.0)
    # confidence 1, right on half: a resample's ECE is its share of wrong records (binomial around 0.5)
    y = np.array([0, 1] * 200)
    lo, hi = ece_interval(np.array([[1.0, 0.0]] * 400), y)
    assert expected_calibration_error(np.array([[1.0, 0.0]] * 400), y) == pytest.approx(0.5)
    half_width = 1.96 * math.sqrt(0.25 / 400)  # 0.049
    assert lo == pytest.approx(0.5 - half_width, abs=0.012) and hi == pytest.approx(0.5 + half_width, abs=0.012)
    assert ece_interval(np.zeros((0, 2)), np.zeros(0, dtype=int)) is None
    m = head_metrics(RES, Y, P)
    assert len(m["ece_ci95"]) == 2 and m["ece_ci95"][0] <= m["ece_ci95"][1]
    assert head_metrics(RES, np.array([-1]), P[:1])["ece_ci95"] is None


def test_binary_auc_by_hand():
    # positives score .35 and .8, negatives .1 and .4: pairs ranked right 3 of 4 -> AUC .75
    y = np.array([0, 0, 1, 1])
    p1 = np.array([0.1, 0.4, 0.35, 0.8])
    m = head_metrics(CHURN, y, np.stack([1 - p1, p1], axis=1))
    assert m["auc"] == 0.75
    # one class only -> AUC undefined
    assert head_metrics(CHURN, np.array([1, 1]), np.array([[0.2, 0.8], [0.6, 0.4]]))["auc"] is None


def test_macro_f1_counts_predicted_but_absent_classes():
    # y has only class 0; class 1 is predicted once: F1(0) = 2*1*.5/1.5 = 2/3, F1(1) = 0 -> macro 1/3.
    m = head_metrics(CHURN, np.array([0, 0]), np.array([[0.9, 0.1], [0.3, 0.7]]))
    assert m["macro_f1"] == 0.3333
    assert m["per_class_f1"] == {"not_at_risk": 0.6667, "at_risk": 0.0}
    assert m["macro_f1_gold"] == 0.6667  # only the class in gold: its F1 still pays for the stray prediction


def test_macro_f1_gold_averages_the_gold_classes_only():
    # gold 0,0,1,1; predicted 0,2,1,1 -> F1(0)=2/3, F1(1)=1, F1(2)=0: macro over {0,1,2} 5/9, over gold {0,1} 5/6
    m = head_metrics(RES, np.array([0, 0, 1, 1]), np.eye(3)[[0, 2, 1, 1]] * 0.8 + 0.2 / 3)
    assert (m["macro_f1"], m["macro_f1_gold"]) == (0.5556, 0.8333)


def test_ordinal_mae():
    # argmax = [2, 1, 0] vs truth [0, 1, 2] -> |2|+0+|2| = 4 / 3
    probs = np.array([[0.1, 0.2, 0.7], [0.2, 0.6, 0.2], [0.5, 0.3, 0.2]])
    m = head_metrics(EFFORT, np.array([0, 1, 2]), probs)
    assert m["mae"] == 1.3333
    assert m["accuracy"] == 0.3333


def test_evaluate_outputs_masks_unknown_and_splits_by_source():
    n = 6
    targets = {
        "resolution": Y,
        "churn_risk": np.array([-1, -1, 0, 1, 1, -1]),
        "effort": np.full(n, -1),  # no labels: omitted
    }
    churn_p = np.array([[0.5, 0.5], [0.5, 0.5], [0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    probs = {"resolution": P, "churn_risk": churn_p, "effort": np.full((n, 3), 1 / 3)}
    sources = ["A", "A", "A", "B", "B", "B"]
    rep = evaluate_outputs(SPEC, targets, probs, sources)
    assert set(rep) == {"heads", "by_source"}
    assert set(rep["heads"]) == {"resolution", "churn_risk"}
    assert rep["heads"]["resolution"]["n"] == 5
    assert rep["heads"]["churn_risk"]["n"] == 3 and rep["heads"]["churn_risk"]["accuracy"] == 0.6667
    # source A: resolution records 0,1,2 (2 right); churn record 2 only
    assert rep["by_source"]["A"]["resolution"]["n"] == 3
    assert rep["by_source"]["A"]["resolution"]["accuracy"] == 0.6667
    assert rep["by_source"]["A"]["churn_risk"]["n"] == 1
    # source B: resolution records 3,4 (record 5 unknown); churn records 3 (right), 4 (wrong)
    assert rep["by_source"]["B"]["resolution"]["n"] == 2
    assert rep["by_source"]["B"]["churn_risk"]["accuracy"] == 0.5
    json.dumps(rep)

    text = format_report(rep, title="test")
    assert "resolution" in text and "churn_risk" in text and "macro-F1" in text and "ECE" in text
    assert len(text.splitlines()) == 2 + 2 + 3 + 3  # title+rule, header+rule, 3 rows per head

    table = compare_table({"fine-tuned": rep, "tfidf_lr": {"heads": {"resolution": rep["heads"]["resolution"]}}})
    lines = table.splitlines()
    assert lines[0].startswith("| head | source | n | fine-tuned macro-F1 | fine-tuned acc | tfidf_lr macro-F1")
    assert any(line.startswith("| resolution | all | 5 | 0.6111 | 0.6000 | 0.6111 | 0.6000 |") for line in lines)
    assert any(line.startswith("| churn_risk | B | 2 |") and line.endswith("| - | - |") for line in lines)
    vs = {"tfidf_lr": {"heads": {"resolution": {"n": 5, "diff": 0.0, "ci95": [-0.25, 0.3]}}, "by_source": {}}}
    lines = compare_table({"fine-tuned": rep, "tfidf_lr": {"heads": {"resolution": rep["heads"]["resolution"]}}}, vs).splitlines()
    assert lines[0].endswith("| tfidf_lr acc | vs tfidf_lr [95%] |")
    assert any(line.startswith("| resolution | all | 5 |") and line.endswith("| +0.0000 [-0.2500, +0.3000] |") for line in lines)
    assert any(line.startswith("| churn_risk | B | 2 |") and line.endswith("| - | - | - |") for line in lines)


def _synthetic(n=4000, c=4, scale=3.0, true_t=2.0, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, scale, size=(n, c))
    p = softmax(logits, true_t)
    y = np.array([rng.choice(c, p=row) for row in p])
    return logits, y


def test_softmax_rows_sum_to_one_and_temperature_flattens():
    z = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
    p = softmax(z)
    assert np.allclose(p.sum(axis=1), 1.0) and np.all(np.isfinite(p))
    assert softmax(z, 4.0)[0].max() < p[0].max()


def test_fit_temperature_recovers_known_temperature():
    logits, y = _synthetic()
    t = fit_temperature(logits, y)
    assert t == pytest.approx(2.0, rel=0.10)
    # unknown targets are ignored
    assert fit_temperature(np.vstack([logits, logits[:5]]), np.concatenate([y, -np.ones(5, int)])) == pytest.approx(t)


def test_temperature_scaling_reduces_ece_on_overconfident_logits():
    logits, y = _synthetic(seed=1)  # labels drawn at T=2: raw logits are over-confident
    t = fit_temperature(logits, y)
    s = calibration_summary(logits, y, t)
    assert s["after"]["ece"] < s["before"]["ece"]
    assert s["after"]["nll"] < s["before"]["nll"]
    assert s["before"]["nll"] == round(negative_log_likelihood(softmax(logits), y), 4)
    json.dumps(s)


def test_shape_errors_are_explicit():
    with pytest.raises(ValueError, match="3 classes"):
        head_metrics(RES, np.array([0, 1]), np.array([[0.5, 0.5], [0.5, 0.5]]))
    assert math.isnan(expected_calibration_error(np.zeros((0, 3)), np.zeros(0, int)))


def test_compare_with_baselines_by_hand() -> None:
    y = np.array([0, 1] * 50)
    right = np.eye(3)[y]
    base = y.copy()
    base[:20] = 1 - base[:20]  # wrong on 20 records, 10 of each class: F1 0.8 for both classes
    targets = {"resolution": np.concatenate([y, [-1, -1]])}  # two unlabelled records are left out
    probs = {"resolution": np.concatenate([right, np.eye(3)[[2, 2]]])}
    baselines = {"same": probs, "worse": {"resolution": np.concatenate([np.eye(3)[base], np.eye(3)[[0, 0]]])}}
    sources = ["A"] * 50 + ["B"] * 52
    vs = compare_with_baselines(SPEC, targets, probs, baselines, sources, resamples=500)
    same = vs["same"]["heads"]["resolution"]
    assert same == {"n": 100, "model": 1.0, "baseline": 1.0, "diff": 0.0, "ci95": [0.0, 0.0], "ci_excludes_0": False, "accuracy_diff": 0.0}
    worse = vs["worse"]["heads"]["resolution"]
    assert (worse["model"], worse["baseline"], worse["diff"], worse["accuracy_diff"]) == (1.0, 0.8, 0.2, 0.2)
    assert 0 < worse["ci95"][0] < 0.2 < worse["ci95"][1] and worse["ci_excludes_0"]
    # per source: A holds all 20 baseline errors (of 50), B none (its 2 unlabelled records are left out)
    a, b = vs["worse"]["by_source"]["A"]["resolution"], vs["worse"]["by_source"]["B"]["resolution"]
    assert (a["n"], a["accuracy_diff"]) == (50, 0.4) and (b["n"], b["diff"], b["ci95"]) == (50, 0.0, [0.0, 0.0])
