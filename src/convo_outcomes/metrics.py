"""Evaluation metrics per head and per source, calibration (temperature scaling) and report tables.

Torch-free on purpose (numpy + scikit-learn only): the trainer, the baselines, the torch-free runtime
and the report all score predictions with the same code, so numbers are comparable across systems.

Conventions, so that every number in a report means one thing:

* ``targets[head]`` is an int array of class indices with ``-1`` for "unknown"; unknown records are
  excluded from that head's metrics (a record may carry some heads' labels and not others).
* ``macro_f1`` averages F1 over the head's classes that occur in ``y_true`` **or** in the predictions.
  Classes that never occur in either are left out (they would add an arbitrary 0 or 1), while a class
  the model predicts but that never occurs still counts, with F1 0, so spurious predictions are
  penalised. ``per_class_f1`` lists exactly the classes that entered the average. ``macro_f1_gold``
  averages only over the classes that occur in ``y_true``: on a slice that holds a few of a head's
  classes (one source's test split), one stray prediction of an absent class moves ``macro_f1`` by
  1/(classes + 1) of its range, and ``macro_f1_gold`` not at all (accuracy and the true class's recall
  still count it).
* ``auc``: binary heads, ROC-AUC of the positive class (``classes[1]``); multiclass and ordinal heads,
  the macro average of one-vs-rest ROC-AUC over the classes present in ``y_true``. ``None`` when
  undefined (fewer than two classes present).
* ``ece``: top-label expected calibration error with equal-width confidence bins ``(lo, hi]``;
  ``ece_ci95`` is its 95% percentile bootstrap interval (``ECE_RESAMPLES`` resamples of the records).
  On a few hundred records ECE moves by several points between resamples, and a resample's ECE is
  biased upwards (fewer records per bin), so the interval leans high: a slice whose lower bound is
  over a target is over it, one whose interval straddles it cannot be told apart from it.
* ``brier``: multiclass Brier score, the mean over records of ``sum_c (p_c - onehot_c)^2`` (range [0, 2]);
  binary heads use the same formula, which is twice the one-column binary Brier score.
* ``vs_baselines`` (with baselines): this model's macro-F1 minus each baseline's on the same records,
  with a 95% paired bootstrap interval (``BOOTSTRAP`` resamples of the records; both are scored on
  each resample, with ``compare``'s resampling). Each macro-F1 there follows the rule above, so
  ``diff`` is the difference of the two reported macro-F1s. A difference whose interval contains 0
  is within what the test records can tell apart.
* Every value is a plain Python ``int``/``float`` (or ``None``), floats rounded to 4 decimals, so
  reports are JSON-serialisable as they are.

No ``evaluate`` (Hugging Face) module is wrapped: loading one needs the hub; these are plain
scikit-learn metrics and ``evaluate_outputs`` is the single entry point.
"""

from __future__ import annotations

import logging
import math
import platform
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score

from .labels import HeadSpec, LabelSpec

logger = logging.getLogger(__name__)

N_BINS = 15
_EPS = 1e-12
T_MIN, T_MAX = 0.05, 20.0
MIN_SEGMENT_N = 20  # fewer labelled records than this in a segment value: too noisy to report
SEGMENTS = ("channel", "industry", "language")  # Meta fields reported under "by_segment"
BOOTSTRAP = 2000  # resamples behind each vs_baselines interval
ECE_RESAMPLES = 1000  # resamples behind each ece_ci95
_MAX_CELLS = 2_000_000  # resampled record indices held at once (resamples x records), ~16 MB of int64


def _r(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return None
    return round(x, 4)


def _check(y: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(np.int64).reshape(-1)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != y.shape[0]:
        raise ValueError(f"probs must be [n, num_classes] with n={y.shape[0]}, found shape {probs.shape}")
    return y, probs


# ------------------------------------------------------------------------------------ basic metrics


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> float:
    """Top-label ECE: sum over bins of (bin share) * |accuracy - mean confidence|."""
    bins = reliability_bins(probs, y, n_bins)
    n = sum(b["count"] for b in bins)
    if n == 0:
        return float("nan")
    return float(sum(b["count"] / n * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]))


def ece_interval(probs: np.ndarray, y: np.ndarray, resamples: int = ECE_RESAMPLES, seed: int = 0, n_bins: int = N_BINS) -> tuple[float, float] | None:
    """95% percentile bootstrap interval of :func:`expected_calibration_error` (None without records)."""
    y, probs = _check(y, probs)
    n = len(y)
    if n == 0:
        return None
    conf, correct, bins = _top_label_bins(probs, y, n_bins)
    eces = [_resampled_ece(conf, correct, bins, idx, n_bins) for idx in resample_indices(n, resamples, seed)]
    lo, hi = np.percentile(np.concatenate(eces), [2.5, 97.5])
    return float(lo), float(hi)


def resample_indices(n: int, resamples: int, seed: int | Sequence[int] = 0, max_cells: int | None = None):
    """Bootstrap resamples of ``n`` records as ``[b, n]`` index chunks of at most ``max_cells`` indices
    (so memory stays bounded on big test sets); the same seed gives the same resamples."""
    rng = np.random.default_rng(seed)
    chunk = max(1, (max_cells or _MAX_CELLS) // n)
    for start in range(0, resamples, chunk):
        yield rng.integers(0, n, size=(min(chunk, resamples - start), n))


def _top_label_bins(probs: np.ndarray, y: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    conf = probs.max(axis=1) if len(y) else np.zeros(0)
    correct = (probs.argmax(axis=1) == y) if len(y) else np.zeros(0, dtype=bool)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return conf, correct, np.clip(np.searchsorted(edges[1:-1], conf, side="left"), 0, n_bins - 1)


def _resampled_ece(conf: np.ndarray, correct: np.ndarray, bins: np.ndarray, idx: np.ndarray, n_bins: int) -> np.ndarray:
    """ECE of each row of ``idx`` (a resample of record indices), all rows at once: per bin,
    |sum correct - sum confidence| over the resample's records, summed and divided by its size."""
    r, n = idx.shape
    cell = (np.arange(r)[:, None] * n_bins + bins[idx]).ravel()
    hit = np.bincount(cell, weights=correct[idx].ravel().astype(np.float64), minlength=r * n_bins)
    cf = np.bincount(cell, weights=conf[idx].ravel(), minlength=r * n_bins)
    return np.abs(hit - cf).reshape(r, n_bins).sum(axis=1) / n


def brier_score(probs: np.ndarray, y: np.ndarray) -> float:
    """Multiclass Brier: mean over records of the squared distance to the one-hot target."""
    y, probs = _check(y, probs)
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(y)), y] = 1.0
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def negative_log_likelihood(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean -log p(true class), probabilities clipped at 1e-12 so one confident miss stays finite."""
    y, probs = _check(y, probs)
    return float(np.mean(-np.log(np.clip(probs[np.arange(len(y)), y], _EPS, 1.0))))


def reliability_bins(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> list[dict[str, Any]]:
    """Equal-width top-label confidence bins ``(lo, hi]`` (the first also holds 0) for reliability plots.

    Each bin: ``lo``, ``hi``, ``confidence`` (mean top probability), ``accuracy`` (share whose argmax is
    right) and ``count``; empty bins have ``None`` confidence and accuracy.
    """
    y, probs = _check(y, probs)
    conf, correct, idx = _top_label_bins(probs, y, n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    out = []
    for b in range(n_bins):
        m = idx == b
        c = int(m.sum())
        out.append(
            {
                "lo": float(edges[b]),
                "hi": float(edges[b + 1]),
                "confidence": float(conf[m].mean()) if c else None,
                "accuracy": float(correct[m].mean()) if c else None,
                "count": c,
            }
        )
    return out


def _auc(head: HeadSpec, y: np.ndarray, probs: np.ndarray) -> float | None:
    present = sorted(set(y.tolist()))
    if len(present) < 2:
        return None
    if head.type == "binary":
        return float(roc_auc_score(y == 1, probs[:, 1]))
    scores = [float(roc_auc_score(y == c, probs[:, c])) for c in present]
    return float(np.mean(scores))


def head_metrics(head: HeadSpec, y_true: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """All metrics of one head over labelled records (records with ``y_true == -1`` are dropped)."""
    y, probs = _check(y_true, probs)
    if probs.shape[1] != head.num_classes:
        raise ValueError(
            f"head {head.name!r}: probs have {probs.shape[1]} columns, the head has {head.num_classes} classes"
        )
    keep = y >= 0
    y, probs = y[keep], probs[keep]
    if np.any(y >= head.num_classes):
        raise ValueError(f"head {head.name!r}: target index out of range [0, {head.num_classes})")
    n = int(len(y))
    support = {c: int(np.sum(y == i)) for i, c in enumerate(head.classes)}
    if n == 0:
        return {"n": 0, "accuracy": None, "macro_f1": None, "macro_f1_gold": None, "per_class_f1": {}, "auc": None, "ece": None, "ece_ci95": None,
                "brier": None, "nll": None, "confusion": [[0] * head.num_classes for _ in head.classes],
                "support": support, **({"mae": None} if head.type == "ordinal" else {})}
    pred = probs.argmax(axis=1)
    labels = sorted(set(y.tolist()) | set(pred.tolist()))
    f1s = f1_score(y, pred, labels=labels, average=None, zero_division=0)
    out: dict[str, Any] = {
        "n": n,
        "accuracy": _r(np.mean(pred == y)),
        "macro_f1": _r(np.mean(f1s)),
        "macro_f1_gold": _r(np.mean([f for c, f in zip(labels, f1s) if support[head.classes[c]]])),
        "per_class_f1": {head.classes[c]: _r(f) for c, f in zip(labels, f1s)},
        "auc": _r(_auc(head, y, probs)),
        "ece": _r(expected_calibration_error(probs, y)),
        "ece_ci95": [_r(v) for v in ece_interval(probs, y)],  # type: ignore[union-attr]
        "brier": _r(brier_score(probs, y)),
        "nll": _r(negative_log_likelihood(probs, y)),
        "confusion": confusion_matrix(y, pred, labels=list(range(head.num_classes))).astype(int).tolist(),
        "support": support,
    }
    if head.type == "ordinal":
        out["mae"] = _r(np.mean(np.abs(pred - y)))
    return out


def evaluate_outputs(
    spec: LabelSpec,
    targets: Mapping[str, np.ndarray],
    probs: Mapping[str, np.ndarray],
    sources: Sequence[str],
    segments: Mapping[str, Sequence[str | None]] | None = None,
    min_segment_n: int = MIN_SEGMENT_N,
) -> dict[str, Any]:
    """Metrics per head overall and per head within each source.

    Returns ``{"heads": {HEAD: metrics}, "by_source": {SOURCE: {HEAD: metrics}}}``; a head (or a
    source's head) with no labelled records is omitted rather than reported with empty numbers.
    With ``segments`` (e.g. ``{"channel": [...one value or None per record...]}``) the report also has
    ``"by_segment": {SEGMENT: {VALUE: {HEAD: metrics}}}``: records without a value are left out, and
    a value's head with fewer than ``min_segment_n`` labelled records is omitted (too few to read).
    """
    src = np.asarray([str(s) for s in sources], dtype=object)
    heads: dict[str, Any] = {}
    by_source: dict[str, dict[str, Any]] = {}
    for head in spec:
        if head.name not in targets or head.name not in probs:
            continue
        y = np.asarray(targets[head.name]).astype(np.int64).reshape(-1)
        p = np.asarray(probs[head.name], dtype=np.float64)
        if len(y) != len(src) or len(p) != len(src):
            raise ValueError(
                f"head {head.name!r}: {len(y)} targets and {len(p)} probability rows for {len(src)} sources"
            )
        if not np.any(y >= 0):
            continue
        heads[head.name] = head_metrics(head, y, p)
        for s in sorted(set(src[y >= 0].tolist())):
            m = src == s
            by_source.setdefault(s, {})[head.name] = head_metrics(head, y[m], p[m])
    report: dict[str, Any] = {"heads": heads, "by_source": dict(sorted(by_source.items()))}
    if segments is not None:
        report["by_segment"] = segment_metrics(spec, targets, probs, segments, min_segment_n)
    return report


def compare_with_baselines(
    spec: LabelSpec,
    targets: Mapping[str, np.ndarray],
    probs: Mapping[str, np.ndarray],
    baseline_probs: Mapping[str, Mapping[str, np.ndarray]],
    sources: Sequence[str],
    resamples: int = BOOTSTRAP,
) -> dict[str, Any]:
    """``{BASELINE: {"heads": {HEAD: d}, "by_source": {SOURCE: {HEAD: d}}}}``: this model minus the
    baseline on the same labelled records, with ``compare.paired_bootstrap``'s 95% interval.

    ``d``: ``n``, ``model`` and ``baseline`` (macro-F1 as ``head_metrics`` computes it, each over the
    classes the records hold or it predicts), ``diff``, ``ci95``, ``ci_excludes_0``, and
    ``accuracy_diff``. A few records decide small differences; the interval says how few."""
    from .compare import paired_bootstrap  # compare imports this module

    src = np.asarray([str(s) for s in sources], dtype=object)

    def entry(y: np.ndarray, a: np.ndarray, b: np.ndarray, n_classes: int) -> dict[str, Any]:
        boot = paired_bootstrap(y, b, a, n_classes, resamples=resamples, seed=0, own_classes=True)  # delta = model (a) - baseline (b)
        f1, acc = boot["macro_f1"], boot["accuracy"]
        return {"n": int(len(y)), "model": _r(f1["b"]), "baseline": _r(f1["a"]), "diff": f1["delta"], "ci95": f1["ci"],
                "ci_excludes_0": f1["ci_excludes_0"], "accuracy_diff": acc["delta"]}

    out: dict[str, Any] = {}
    for name, bprobs in baseline_probs.items():
        heads: dict[str, Any] = {}
        by_source: dict[str, dict[str, Any]] = {}
        for head in spec:
            if head.name not in bprobs or head.name not in targets:
                continue
            y = np.asarray(targets[head.name]).astype(np.int64)
            keep = y >= 0
            if not keep.any():
                continue
            a, b = np.asarray(probs[head.name]).argmax(1), np.asarray(bprobs[head.name]).argmax(1)
            heads[head.name] = entry(y[keep], a[keep], b[keep], head.num_classes)
            for s in sorted(set(src[keep].tolist())):
                m = keep & (src == s)
                by_source.setdefault(s, {})[head.name] = entry(y[m], a[m], b[m], head.num_classes)
        out[name] = {"heads": heads, "by_source": dict(sorted(by_source.items()))}
    return out


def segment_metrics(
    spec: LabelSpec,
    targets: Mapping[str, np.ndarray],
    probs: Mapping[str, np.ndarray],
    segments: Mapping[str, Sequence[str | None]],
    min_n: int = MIN_SEGMENT_N,
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{SEGMENT: {VALUE: {HEAD: metrics}}}``, like ``by_source`` but for meta fields such as channel.

    Missing values (None or "") are skipped; a (value, head) with fewer than ``min_n`` labelled records
    is omitted, and a value with no head left is omitted too, so every number shown rests on >= min_n.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for seg, values in segments.items():
        vals = np.asarray([None if v in (None, "") else str(v) for v in values], dtype=object)
        per_value: dict[str, dict[str, Any]] = {}
        for value in sorted({v for v in vals.tolist() if v is not None}):
            m = vals == value
            for head in spec:
                if head.name not in targets or head.name not in probs:
                    continue
                y = np.asarray(targets[head.name]).astype(np.int64).reshape(-1)
                if len(y) != len(vals):
                    raise ValueError(f"segment {seg!r}: {len(vals)} values for {len(y)} records of head {head.name!r}")
                if int(np.sum(y[m] >= 0)) < min_n:
                    continue
                per_value.setdefault(value, {})[head.name] = head_metrics(head, y[m], np.asarray(probs[head.name], dtype=np.float64)[m])
        out[seg] = per_value
    return out


# ------------------------------------------------------------------------------ temperature scaling


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row softmax of ``logits / temperature``, numerically stable."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _nll_at(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse - z[np.arange(len(y)), y]))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising held-out NLL, searched over log-temperature in [0.05, 20].

    NLL is convex in 1/T, hence unimodal in log T, so a bounded scalar search finds the optimum.
    Records with ``y == -1`` are ignored; with no labelled records the temperature is 1.
    """
    from scipy.optimize import minimize_scalar

    y, logits = _check(y, logits)
    keep = y >= 0
    y, logits = y[keep], logits[keep]
    if len(y) == 0:
        logger.warning("fit_temperature: no labelled records; keeping temperature 1.0")
        return 1.0
    res = minimize_scalar(
        lambda lt: _nll_at(logits, y, math.exp(lt)),
        bounds=(math.log(T_MIN), math.log(T_MAX)),
        method="bounded",
        options={"xatol": 1e-5},
    )
    t = float(math.exp(res.x))
    logger.debug("fitted temperature %.4f (NLL %.4f -> %.4f)", t, _nll_at(logits, y, 1.0), float(res.fun))
    return t


def calibration_summary(logits: np.ndarray, y: np.ndarray, temperature: float) -> dict[str, Any]:
    """ECE, Brier and NLL before (T=1) and after temperature scaling, on labelled records."""
    y, logits = _check(y, logits)
    keep = y >= 0
    y, logits = y[keep], logits[keep]

    def _m(t: float) -> dict[str, float | None]:
        p = softmax(logits, t)
        return {
            "ece": _r(expected_calibration_error(p, y)),
            "brier": _r(brier_score(p, y)),
            "nll": _r(negative_log_likelihood(p, y)),
        }

    return {"n": int(len(y)), "temperature": _r(temperature), "before": _m(1.0), "after": _m(temperature)}


# ----------------------------------------------------------------------------------------- tables


def _fmt(v: Any, width: int) -> str:
    if v is None:
        s = "-"
    elif isinstance(v, float):
        s = f"{v:.4f}"
    else:
        s = str(v)
    return s.rjust(width)


def _rows(report: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(head, source, metrics) in head order; source "all" first, then each source."""
    rows = []
    for head, m in report.get("heads", {}).items():
        rows.append((head, "all", m))
        for src, hm in report.get("by_source", {}).items():
            if head in hm:
                rows.append((head, src, hm[head]))
    return rows


def format_report(report: Mapping[str, Any], title: str = "") -> str:
    """Fixed-width text table of an ``evaluate_outputs`` report: one row per head x source."""
    cols = [("n", 7), ("accuracy", 9), ("macro_f1", 9), ("auc", 7), ("ece", 7), ("brier", 7)]
    names = {"macro_f1": "macro-F1", "auc": "AUC", "ece": "ECE", "brier": "Brier"}
    rows = _rows(report)
    hw = max([len("head")] + [len(r[0]) for r in rows])
    sw = max([len("source")] + [len(r[1]) for r in rows])
    header = "head".ljust(hw) + "  " + "source".ljust(sw) + "".join(
        "  " + names.get(c, c).rjust(w) for c, w in cols
    )
    lines = ([title, "=" * max(len(title), len(header))] if title else []) + [header, "-" * len(header)]
    if not rows:
        lines.append("(no labelled records)")
    for head, src, m in rows:
        lines.append(
            head.ljust(hw) + "  " + src.ljust(sw) + "".join("  " + _fmt(m.get(c), w) for c, w in cols)
        )
    return "\n".join(lines)


def compare_table(reports: Mapping[str, Mapping[str, Any]], differences: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """Markdown table of macro-F1 and accuracy per head x source, one column pair per named system.

    Rows are the union over systems (a system missing a row shows "-"); ``n`` is taken from the first
    system that has the row (all systems are meant to be scored on the same test set). With
    ``differences`` (a report's ``vs_baselines``) one more column per baseline: the difference and
    its 95% interval.
    """
    systems = list(reports)
    order: list[tuple[str, str]] = []
    cells: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for name in systems:
        for head, src, m in _rows(reports[name]):
            if (head, src) not in cells:
                order.append((head, src))
                cells[(head, src)] = {}
            cells[(head, src)][name] = m
    diffs = dict(differences or {})
    header = ["head", "source", "n"] + [f"{s} {k}" for s in systems for k in ("macro-F1", "acc")] + [f"vs {b} [95%]" for b in diffs]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|"]
    for key in order:
        got = cells[key]
        n = next(m["n"] for m in got.values())
        vals = [key[0], key[1], str(n)]
        for s in systems:
            m = got.get(s)
            vals += [_fmt(m.get("macro_f1") if m else None, 0), _fmt(m.get("accuracy") if m else None, 0)]
        for d in diffs.values():
            e = (d.get("heads", {}) if key[1] == "all" else d.get("by_source", {}).get(key[1], {})).get(key[0]) or {}
            vals.append("-" if e.get("diff") is None else f"{e['diff']:+.4f} [{e['ci95'][0]:+.4f}, {e['ci95'][1]:+.4f}]")
        lines.append("| " + " | ".join(vals) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- model evaluation


def model_logits(model_path: str | Path, conversations: Sequence[Any]) -> tuple[dict[str, np.ndarray], dict[str, float], LabelSpec, dict[str, Any]]:
    """Raw logits, temperatures, spec and config of an exported ONNX folder or a torch checkpoint folder."""
    path = Path(model_path)
    if (path / "manifest.json").exists():
        from .runtime import Scorer

        scorer = Scorer.load(path)
        return scorer.logits(conversations), scorer.temperatures, scorer.spec, scorer.config
    if (path / "outcome_config.json").exists():
        import json

        from .model import OutcomeModel, predict_logits
        from .render import Windower

        model = OutcomeModel.load(path)
        windower = Windower.from_file(path / "tokenizer.json", model.window)
        encoded = windower.encode_many([c.turns for c in conversations])
        temps = dict(zip(model.head_names, model.temperatures.tolist()))
        config = json.loads((path / "outcome_config.json").read_text())
        return predict_logits(model, encoded, windower.pad_id, progress=True), temps, model.spec, config
    raise FileNotFoundError(f"{path}: neither an exported model folder (manifest.json) nor a training checkpoint (outcome_config.json)")


INT8_CPU_FLAGS = ("avx2", "avx512_vnni", "avx_vnni", "amx_int8")


def scoring_host(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, Any]:
    """What an int8 model's scores depend on besides the model: onnxruntime's version and the CPU's int8 instructions.

    onnxruntime picks int8 matmul kernels by CPU, and the same int8 model labels a few records differently on
    another host (0.7.0, AVX2 alone vs AVX-512 VNNI: 2 of 164 STAR resolution records); the likely cause is that
    AVX2 without VNNI sums u8 x s8 products through 16-bit lanes that can saturate, while VNNI and AMX sum exactly. ``cpu_int8`` is None
    where no cpuinfo file exists (macOS, Windows).
    """
    try:
        import onnxruntime

        ort_version: str | None = onnxruntime.__version__
    except ImportError:
        ort_version = None
    try:
        flags = set()
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
        cpu_int8: list[str] | None = [f for f in INT8_CPU_FLAGS if f in flags]
    except OSError:
        cpu_int8 = None
    return {"onnxruntime": ort_version, "machine": platform.machine(), "cpu_int8": cpu_int8}


def _split_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    data = (config.get("training") or {}).get("config", {}).get("data", {})
    return {"seed": data.get("split_seed", 0), "validation": data.get("validation", 0.1), "test": data.get("test", 0.1)}


def load_eval_data(paths: Sequence[str | Path], split: str | None, settings: Mapping[str, Any]) -> list[Any]:
    """Conversations from ``paths``; with ``split`` only those the model's split assigns to it."""
    from .data import read_conversations, split_of

    out = []
    for conv in read_conversations(list(paths)):
        if split in (None, "all") or split_of(conv, **settings) == split:
            out.append(conv)
    return out


def evaluate_model(
    model: str | Path,
    data: Sequence[str | Path],
    split: str | None = None,
    baselines: Sequence[str] = (),
    train_data: Sequence[str | Path] = (),
    encoder_dir: str | Path | None = None,
    heldout_data: Sequence[str | Path] = (),
    baseline_cache: str | Path | None = None,
) -> dict[str, Any]:
    """Per-head and per-source metrics of a model on ``data`` (optionally only its held-out ``split``),
    with uncalibrated ECE/Brier beside the calibrated ones and, when asked, baselines trained on the
    ``train`` split of ``train_data`` and scored on exactly the same records. ``heldout_data`` files
    are used whole (e.g. generated test sets from a seed the model never saw). ``baseline_cache``
    keeps the frozen encoder's embeddings between runs (see ``baselines``)."""
    from .data import split_of

    _, _, _, config = model_logits(model, [])
    settings = _split_settings(config)
    onnx_model = (Path(model) / "manifest.json").exists()
    convs = (load_eval_data(data, split, settings) if data else []) + (load_eval_data(heldout_data, None, settings) if heldout_data else [])
    if not convs:
        raise ValueError(f"no records to evaluate in {[str(d) for d in [*data, *heldout_data]]} (split {split!r})")
    predictions = None
    if onnx_model:
        from .runtime import Scorer

        scorer = Scorer.load(model)
        predictions, logits = _score_in_chunks(scorer, convs)
        temps, spec = scorer.temperatures, scorer.spec
    else:
        logits, temps, spec, config = model_logits(model, convs)
    targets = {h.name: np.array([-1 if (t := h.target(c.labels)) is None else t for c in convs]) for h in spec}
    sources = [c.source for c in convs]
    segments = {seg: [getattr(c.meta, seg, None) for c in convs] for seg in SEGMENTS}
    report = evaluate_outputs(spec, targets, {h: softmax(logits[h], temps.get(h, 1.0)) for h in spec.head_names}, sources, segments=segments)
    raw = evaluate_outputs(spec, targets, {h: softmax(logits[h]) for h in spec.head_names}, sources)
    report["uncalibrated"] = {h: {"ece": m["ece"], "brier": m["brier"]} for h, m in raw["heads"].items()}
    report["slices"] = length_slices(spec, convs, targets, {h: softmax(logits[h], temps.get(h, 1.0)) for h in spec.head_names}, predictions)
    if predictions is not None:
        report["evidence"] = evidence_hits(spec, convs, predictions)
    report["model"] = {"path": str(model), "name": config.get("name"), "version": config.get("version"), "temperatures": temps}
    report["host"] = scoring_host()
    report["data"] = {
        "paths": [str(d) for d in data],
        "split": split or "all",
        "split_settings": settings,
        "heldout_paths": [str(d) for d in heldout_data],
        "n": len(convs),
    }
    if baselines:
        from .baselines import run_baselines
        from .data import read_conversations

        train = [c for c in read_conversations(list(train_data)) if split_of(c, **settings) == "train"]
        if not train:
            raise ValueError("baselines need training records: pass --train with the model's training files")
        baseline_probs: dict[str, dict[str, np.ndarray]] = {}
        report["baselines"] = run_baselines(
            spec, train, convs, Path(encoder_dir) if encoder_dir else None, which=baselines, probs_out=baseline_probs, cache_dir=baseline_cache
        )
        report["baselines_train_n"] = len(train)
        model_probs = {h: softmax(logits[h], temps.get(h, 1.0)) for h in spec.head_names}
        report["vs_baselines"] = compare_with_baselines(spec, targets, model_probs, baseline_probs, sources)
    return report


def _score_in_chunks(scorer: Any, convs: Sequence[Any], chunk: int = 256) -> tuple[list[Any], dict[str, np.ndarray]]:
    from tqdm.auto import tqdm

    preds: list[Any] = []
    parts: dict[str, list[np.ndarray]] = {}
    for s in tqdm(range(0, len(convs), chunk), desc="score", unit="chunk", disable=None):
        p, lg = scorer.score_with_logits(convs[s : s + chunk])
        preds += p
        for h, v in lg.items():
            parts.setdefault(h, []).append(v)
    return preds, {h: np.concatenate(v) for h, v in parts.items()}


LONG_TOKENS = 2000
SHORT_TOKENS = 512


def length_slices(
    spec: LabelSpec, convs: Sequence[Any], targets: Mapping[str, np.ndarray], probs: Mapping[str, np.ndarray], predictions: Sequence[Any] | None
) -> dict[str, Any]:
    """Metrics on short calls vs long calls whose decisive evidence is only at the end.

    "long_end": more than 2,000 tokens and ``meta.story.evidence_position == "end"`` (generated calls
    whose resolution evidence lies only in the last 10% of turns); "short": at most 512 tokens.
    Token counts come from the model's own windowing when predictions are available, else from a
    whitespace count (x1.3, the measured WordPiece ratio on generated calls).
    """
    if predictions is not None:
        tokens = np.array([p.n_tokens for p in predictions])
    else:
        tokens = np.array([int(1.3 * sum(len(t.text.split()) for t in c.turns)) for c in convs])
    end = np.array([((c.meta.model_dump().get("story") or {}).get("evidence_position") == "end") for c in convs])
    groups = {"short": tokens <= SHORT_TOKENS, "long_end": (tokens > LONG_TOKENS) & end, "long_all": tokens > LONG_TOKENS}
    out: dict[str, Any] = {}
    for name, mask in groups.items():
        if not mask.any():
            continue
        out[name] = {"n": int(mask.sum()), "heads": {}}
        for h in spec:
            y = np.asarray(targets[h.name])[mask]
            if (y >= 0).sum() == 0:
                continue
            out[name]["heads"][h.name] = head_metrics(h, y, np.asarray(probs[h.name])[mask])
    return out


def evidence_hits(spec: LabelSpec, convs: Sequence[Any], predictions: Sequence[Any]) -> dict[str, Any]:
    """How often the reported evidence turns include a turn known to decide the label.

    Uses ``meta.evidence_turns`` (generated data records which turns decide each head). A hit means
    at least one of the (up to 3) evidence turns is a decisive turn; reported per head and by where
    the evidence sits in the conversation (``meta.story.evidence_position``).
    """
    label_of = {"resolution": "resolution", "churn_risk": "churn_risk", "repeat_contact": "repeat_contact", "contact_cause": "contact_cause", "effort": "effort"}
    out: dict[str, Any] = {}
    for h in spec:
        key = label_of.get(h.name, h.name)
        hits = total = 0
        by_pos: dict[str, list[int]] = {}
        for c, p in zip(convs, predictions):
            meta = c.meta.model_dump()
            decisive = (meta.get("evidence_turns") or {}).get(key)
            if not decisive:
                continue
            hit = int(bool(set(p.heads[h.name].evidence) & set(decisive)))
            hits += hit
            total += 1
            pos = str((meta.get("story") or {}).get("evidence_position", "unknown"))
            by_pos.setdefault(pos, []).append(hit)
        if total:
            out[h.name] = {
                "n": total,
                "hit_rate": round(hits / total, 4),
                "by_position": {k: {"n": len(v), "hit_rate": round(sum(v) / len(v), 4)} for k, v in sorted(by_pos.items())},
            }
    return out
