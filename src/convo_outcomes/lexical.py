"""A lexical prior blended with the encoder's heads.

Word 1-2 gram TF-IDF and one logistic regression per head, fitted on the model's own training split, then
mixed with the calibrated head in log space with a weight chosen on validation:

    blended = (1 - w) * log softmax(logits / T) + w * log(p_lexical + 1e-9), probabilities softmax(blended / T_blend)

Why: the encoder reads what a call means, bag-of-words reads which words it uses, and the two err on
different calls; on held-out data the mix was right more often than either alone (README, "Lexical blend").
The fitted vectoriser and regressions are stored as plain arrays (``lexical.json`` and ``lexical.npz``), so
the runtime applies them with numpy alone: no scikit-learn, no torch. Fitting (``fit_blend``) needs the
``train`` extra and imports scikit-learn lazily.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

LEXICAL_FORMAT = "convo-outcomes/lexical/2"  # 2: coefficients stored int8 with one float32 scale per row
LEXICAL_JSON = "lexical.json"
LEXICAL_ARRAYS = "lexical.npz"
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's default, which the vectoriser was fitted with
FLOOR = 1e-9  # added to lexical probabilities: a class the regression never saw gets log(1e-9), not -inf
WEIGHT_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # never 1.0: the encoder always has a say
_TOKEN = re.compile(TOKEN_PATTERN)


class BlendError(ValueError):
    """Blending was asked of a model or data that cannot give it (names what and why)."""


@dataclass
class LexicalHead:
    """One head's regression: ``classes`` are the spec's class indices it was fitted on (in its column order)."""

    classes: np.ndarray  # int64 [k]
    coef: np.ndarray  # float32 [k, features], or [1, features] for a binary regression
    intercept: np.ndarray  # float32 [k] or [1]
    weight: float
    temperature: float


@dataclass
class LexicalPrior:
    vocabulary: list[str]
    idf: np.ndarray  # float32 [features]
    heads: dict[str, LexicalHead]
    num_classes: dict[str, int]
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {t: i for i, t in enumerate(self.vocabulary)}
        n = len(self.vocabulary)
        if self.idf.shape != (n,):
            raise BlendError(f"{LEXICAL_ARRAYS}: idf has shape {self.idf.shape}, expected ({n},) for {n} vocabulary terms")
        for h, lh in self.heads.items():
            if lh.coef.ndim != 2 or lh.coef.shape[1] != n:
                raise BlendError(f"{LEXICAL_ARRAYS}: head {h!r} coef has shape {lh.coef.shape}, expected (k, {n})")
            if not 0.0 < lh.weight < 1.0:
                raise BlendError(f"{LEXICAL_JSON}: head {h!r} weight must be in (0, 1), got {lh.weight}")
            if not lh.temperature > 0:
                raise BlendError(f"{LEXICAL_JSON}: head {h!r} temperature must be > 0, got {lh.temperature}")

    @classmethod
    def from_tfidf(cls, tfidf: Any, spec: Any, heads: Mapping[str, tuple[float, float]], info: Mapping[str, Any] | None = None) -> "LexicalPrior":
        """The arrays of a fitted ``baselines.TfidfBaseline``; ``heads`` maps each blended head to (weight, temperature)."""
        vocab = [t for t, _ in sorted(tfidf.vectorizer.vocabulary_.items(), key=lambda kv: kv[1])]
        fitted = {}
        for h, (w, t) in heads.items():
            lr = tfidf.models[h]
            fitted[h] = LexicalHead(lr.classes_.astype(np.int64), lr.coef_.astype(np.float32), lr.intercept_.astype(np.float32), float(w), float(t))
        return cls(vocab, tfidf.vectorizer.idf_.astype(np.float32), fitted, {h: spec[h].num_classes for h in heads}, dict(info or {}))

    def quantized(self) -> "LexicalPrior":
        """The prior as it is stored: each coefficient row as int8 times one float32 scale (max |row| / 127).

        Why: float32 coefficients made ``lexical.npz`` 4.5 MB per model, int8 0.57 MB; on the default model's
        held-out records 6 of 16,500 head labels changed. ``fit_blend`` chooses weights on this quantized prior,
        so what is measured is what ships; quantizing twice gives the same coefficients.
        """
        heads = {}
        for h, lh in self.heads.items():
            q, scale = _int8_rows(lh.coef)
            heads[h] = LexicalHead(lh.classes, q.astype(np.float32) * scale, lh.intercept, lh.weight, lh.temperature)
        return LexicalPrior(self.vocabulary, self.idf, heads, dict(self.num_classes), dict(self.info))

    # ---------------------------------------------------------------------------- features

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and values of one text's TF-IDF row (sublinear tf, l2-normalised), exactly
        as scikit-learn's ``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)`` computes it."""
        tokens = _TOKEN.findall(text.lower())
        grams = tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]
        counts = Counter(i for i in map(self._index.get, grams) if i is not None)
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        cols = np.fromiter(counts.keys(), np.int64, len(counts))
        tf = np.fromiter(counts.values(), np.float32, len(counts))
        vals = (np.log(tf) + 1.0) * self.idf[cols]
        return cols, (vals / np.sqrt(np.dot(vals, vals))).astype(np.float32)

    def log_probs(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """log(p + 1e-9) per blended head, over all of the head's classes."""
        rows = [self.features(t) for t in texts]
        out = {}
        for h, lh in self.heads.items():
            z = np.stack([lh.coef[:, c] @ v for c, v in rows]) + lh.intercept if rows else np.zeros((0, len(lh.intercept)), np.float32)
            if lh.coef.shape[0] == 1:  # binary regression: p(class 1) = sigmoid(z)
                p1 = 1.0 / (1.0 + np.exp(-z[:, 0].astype(np.float64)))
                fitted = np.stack([1.0 - p1, p1], axis=1)
            else:
                z = z.astype(np.float64) - z.max(axis=1, keepdims=True)
                fitted = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            p = np.zeros((len(texts), self.num_classes[h]))
            p[:, lh.classes] = fitted
            out[h] = np.log(p + FLOOR)
        return out

    def blend(self, logits: Mapping[str, np.ndarray], temperatures: Mapping[str, float], texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The heads' logits with each blended head replaced by its mix; the others are returned as they came."""
        out = dict(logits)
        if not self.heads:
            return out
        lex = self.log_probs(texts)
        for h, lh in self.heads.items():
            out[h] = mix(logits[h], temperatures.get(h, 1.0), lex[h], lh.weight).astype(np.float32)
        return out

    # ------------------------------------------------------------------------------- files

    def save(self, folder: Path) -> None:
        arrays: dict[str, np.ndarray] = {"idf": self.idf.astype(np.float32)}
        heads = {}
        for h, lh in self.heads.items():
            arrays[f"{h}.coef"], arrays[f"{h}.scale"] = _int8_rows(lh.coef)
            arrays[f"{h}.intercept"] = lh.intercept.astype(np.float32)
            arrays[f"{h}.classes"] = lh.classes.astype(np.int64)
            heads[h] = {"weight": lh.weight, "temperature": lh.temperature}
        np.savez_compressed(folder / LEXICAL_ARRAYS, **arrays)
        doc = {
            "format": LEXICAL_FORMAT,
            "token_pattern": TOKEN_PATTERN,
            "lowercase": True,
            "ngram_range": [1, 2],
            "sublinear_tf": True,
            "norm": "l2",
            "coef_storage": "int8 per row, times the row's float32 scale",
            "floor": FLOOR,
            "num_classes": self.num_classes,
            "heads": heads,
            "info": self.info,
            "vocabulary": self.vocabulary,
        }
        (folder / LEXICAL_JSON).write_text(json.dumps(doc, ensure_ascii=False))

    @classmethod
    def load(cls, folder: Path) -> "LexicalPrior":
        doc = json.loads((folder / LEXICAL_JSON).read_text())
        if doc.get("format") != LEXICAL_FORMAT:
            raise BlendError(f"{folder / LEXICAL_JSON}: format {doc.get('format')!r}, this runtime reads {LEXICAL_FORMAT!r}")
        if doc.get("token_pattern") != TOKEN_PATTERN or doc.get("ngram_range") != [1, 2]:
            raise BlendError(f"{folder / LEXICAL_JSON}: fitted with token pattern {doc.get('token_pattern')!r} and "
                             f"n-grams {doc.get('ngram_range')}; this runtime computes {TOKEN_PATTERN!r} and [1, 2]")
        with np.load(folder / LEXICAL_ARRAYS, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        heads = {
            h: LexicalHead(arrays[f"{h}.classes"], arrays[f"{h}.coef"].astype(np.float32) * arrays[f"{h}.scale"],
                           arrays[f"{h}.intercept"], float(m["weight"]), float(m["temperature"]))
            for h, m in doc["heads"].items()
        }
        return cls(list(doc["vocabulary"]), arrays["idf"], heads, {h: int(k) for h, k in doc["num_classes"].items()}, doc.get("info", {}))


def _int8_rows(coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per row: (int8 [k, f], float32 scale [k, 1]); an all-zero row gets scale 1."""
    scale = (np.abs(coef).max(axis=1, keepdims=True) / 127.0).astype(np.float32)
    scale[scale == 0] = 1.0
    return np.clip(np.round(coef / scale), -127, 127).astype(np.int8), scale


# ---------------------------------------------------------------------------------- the mix


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def mix(logits: np.ndarray, temperature: float, lexical_log_probs: np.ndarray, weight: float) -> np.ndarray:
    return (1.0 - weight) * log_softmax(np.asarray(logits) / temperature) + weight * lexical_log_probs


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises negative log-likelihood (golden-section search on log T in [0.05, 20])."""
    idx = np.arange(len(y))

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / math.exp(log_t))[idx, y].mean())

    lo, hi = math.log(0.05), math.log(20.0)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return round(math.exp((lo + hi) / 2), 6)


def mean_source_macro_f1(y: np.ndarray, pred: np.ndarray, sources: Sequence[str]) -> float:
    """Mean over sources of macro-F1 (over classes in gold or prediction), what early stopping also watches."""
    from sklearn.metrics import f1_score

    src = np.asarray(sources)
    scores = [f1_score(y[src == s], pred[src == s], average="macro", zero_division=0) for s in sorted(set(src.tolist()))]
    return float(np.mean(scores)) if scores else float("nan")


def _ece(p: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    conf, right = p.max(1), (p.argmax(1) == y)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        s = (conf > lo) & (conf <= hi)
        if s.any():
            total += s.mean() * abs(right[s].mean() - conf[s].mean())
    return round(float(total), 5)


# --------------------------------------------------------------------------------- fitting

LONG_TOKENS = 2000  # the issue's long calls (metrics.length_slices uses the same cut)
MIN_LONG_CALLS = 50


def _chunked_logits(scorer: Any, convs: Sequence[Any], desc: str, chunk: int = 256) -> dict[str, np.ndarray]:
    """The model's logits with a progress bar (a few minutes for a few thousand calls on 2 cores)."""
    from tqdm.auto import tqdm

    parts: dict[str, list[np.ndarray]] = {}
    for s in tqdm(range(0, len(convs), chunk), desc=desc, unit="chunk", disable=None):
        for h, v in scorer.logits(convs[s : s + chunk]).items():
            parts.setdefault(h, []).append(v)
    return {h: np.concatenate(v) for h, v in parts.items()}


def _long_end(scorer: Any, convs: Sequence[Any]) -> np.ndarray:
    """Calls over 2,000 tokens whose deciding turns are in the last 10% (generated calls record where)."""
    if not convs:
        return np.zeros(0, bool)
    tokens = np.array([scorer.windower.encode(c.turns).n_tokens for c in convs])
    ends = np.array([(c.meta.model_dump().get("story") or {}).get("evidence_position") == "end" for c in convs])
    return (tokens > LONG_TOKENS) & ends


def _long_call_guard(
    logits: np.ndarray, temperature: float, lexical: np.ndarray, y: np.ndarray, long_end: np.ndarray, grid: Sequence[float],
    min_calls: int = MIN_LONG_CALLS,
) -> tuple[list[int] | None, list[bool]]:
    """Which weights keep long calls right: bag-of-words has no notion of where a turn is, and a long call
    whose outcome is decided in its last turns reads, word for word, like its first hour (the realtime model
    blended without this guard fell from 0.963 to 0.906 resolution accuracy on such calls). A weight is allowed
    when the blend is right on at least as many validation calls over 2,000 tokens decided at the end as the
    encoder alone. With fewer than ``min_calls`` such calls the check cannot be trusted (with 23, a weight
    that kept all 23 lost 2 of 107 on held-out long calls), so only weight 0 is allowed; ``min_calls=0``
    turns the guard off, for data without long calls."""
    if min_calls <= 0:
        return None, [True] * len(grid)
    if long_end.sum() < min_calls:
        return None, [w == 0.0 for w in grid]
    right = [int((mix(logits[long_end], temperature, lexical[long_end], w).argmax(1) == y[long_end]).sum()) for w in grid]
    base = right[list(grid).index(0.0)]
    return right, [r >= base for r in right]


@dataclass
class BlendResult:
    output: Path
    weights: dict[str, float]  # every head with validation labels; 0.0 = left as it was
    temperatures: dict[str, float]
    validation: dict[str, dict[str, Any]]  # per head: the curve over the grid, chosen weight, ECE before/after
    train_n: int
    validation_n: int
    features: int
    minutes: float


def fit_blend(
    model: str | Path,
    data: Sequence[str | Path],
    output: str | Path,
    version: str | None = None,
    max_features: int = 50_000,
    heads: Sequence[str] | None = None,
    grid: Sequence[float] = WEIGHT_GRID,
    min_long_calls: int = MIN_LONG_CALLS,
    guard_data: Sequence[str | Path] = (),
) -> BlendResult:
    """Fit the lexical prior on the train split of ``data`` (by the model's own split settings), choose each
    head's weight on the validation split (mean macro-F1 over sources; ties go to the smaller weight), fit its
    temperature there, and write ``model`` plus the prior to ``output`` as a new version.

    A head whose best weight is 0 is left exactly as it was. ``min_long_calls``: see ``_long_call_guard``;
    ``guard_data``: more labelled calls for that guard alone (every record of these files, none of which may be
    in the training split; e.g. generated long calls from a seed nothing trained on), when validation has too
    few long calls to check. Refuses a model that is already blended, an
    existing ``output``, data without train or validation records, and unknown heads.
    """
    from .baselines import TfidfBaseline, targets_from_conversations
    from .data import read_conversations, split_of
    from .export import write_card, write_manifest
    from .metrics import _split_settings
    from .render import render_text
    from .runtime import Scorer

    t0 = time.perf_counter()
    src, out = Path(model), Path(output)
    if out.exists():
        raise BlendError(f"output {out} exists; choose a new folder (a model version is never overwritten)")
    if (src / LEXICAL_JSON).exists():
        raise BlendError(f"{src} is already blended ({LEXICAL_JSON}); blend its parent instead")
    if not max_features >= 1:
        raise BlendError(f"max_features must be >= 1, got {max_features}")
    if any(not 0.0 <= w < 1.0 for w in grid) or 0.0 not in grid:
        raise BlendError(f"grid weights must be in [0, 1) and include 0 (the encoder alone), got {list(grid)}")
    scorer = Scorer.load(src)
    spec = scorer.spec
    wanted = list(heads) if heads else spec.head_names
    unknown = sorted(set(wanted) - set(spec.head_names))
    if unknown:
        raise BlendError(f"heads {unknown} are not in {src}'s label spec; it has {spec.head_names}")
    settings = _split_settings(scorer.config)
    records = list(read_conversations([Path(d) for d in data]))
    train = [c for c in records if split_of(c, **settings) == "train"]
    val = [c for c in records if split_of(c, **settings) == "validation"]
    if not train or not val:
        raise BlendError(f"{[str(d) for d in data]}: {len(train)} train and {len(val)} validation records under the model's "
                         f"split {settings}; the blend needs both (pass the files the model was trained on)")
    guard = list(read_conversations([Path(d) for d in guard_data])) if guard_data else []
    seen = {c.id for c in train} & {c.id for c in guard}
    if seen:
        raise BlendError(f"guard data {[str(d) for d in guard_data]}: {len(seen)} records are in the training split "
                         f"(e.g. {sorted(seen)[:3]}); the guard must check calls the prior was not fitted on")
    logger.info("lexical prior: fitting on %d training records (max %d features)", len(train), max_features)
    tf = TfidfBaseline(spec, max_features=max_features).fit(train)
    logger.info("lexical prior: scoring %d validation records with the model", len(val))
    logits = _chunked_logits(scorer, val, "blend: validation")
    targets = targets_from_conversations(spec, val)
    texts = [render_text(c.turns) for c in val]
    long_end = _long_end(scorer, val)
    sources = [c.source for c in val]
    g_long = [c for c, is_long in zip(guard, _long_end(scorer, guard)) if is_long]
    if guard:
        logger.info("long-call guard: %d of %d guard records are long calls decided at the end", len(g_long), len(guard))
    g_logits = _chunked_logits(scorer, g_long, "blend: guard calls") if g_long else {}
    g_targets = targets_from_conversations(spec, g_long) if g_long else {}
    g_texts = [render_text(c.turns) for c in g_long]
    fitted: dict[str, tuple[float, float]] = {}
    report: dict[str, dict[str, Any]] = {}
    weights: dict[str, float] = {}
    temps: dict[str, float] = {}
    for h in wanted:
        lr = tf.models.get(h)
        y = targets[h]
        keep = np.flatnonzero(y >= 0)
        if lr is None or len(keep) == 0:
            report[h] = {"weight": 0.0, "why": "no regression (fewer than 2 classes in training)" if lr is None else "no validation labels"}
            continue
        probe = LexicalPrior.from_tfidf(tf, spec, {h: (0.5, 1.0)}).quantized()  # choose on what will ship
        lex = probe.log_probs([texts[i] for i in keep])[h]
        t_model = scorer.temperatures.get(h, 1.0)
        lg, yk, sk = logits[h][keep], y[keep], [sources[i] for i in keep]
        curve = [mean_source_macro_f1(yk, mix(lg, t_model, lex, w).argmax(1), sk) for w in grid]
        g_keep = np.flatnonzero(g_targets[h] >= 0) if g_long else np.zeros(0, np.int64)
        if len(g_keep):  # validation's long calls and the guard data's, together
            g_lex = probe.log_probs([g_texts[i] for i in g_keep])[h]
            vl = long_end[keep]
            long_right, allowed = _long_call_guard(
                np.concatenate([lg[vl], g_logits[h][g_keep]]), t_model, np.concatenate([lex[vl], g_lex]),
                np.concatenate([yk[vl], g_targets[h][g_keep]]), np.ones(int(vl.sum()) + len(g_keep), bool), grid, min_long_calls)
        else:
            long_right, allowed = _long_call_guard(lg, t_model, lex, yk, long_end[keep], grid, min_long_calls)
        best = max(c for c, ok in zip(curve, allowed) if ok)
        w = float(grid[next(i for i, c in enumerate(curve) if c == best and allowed[i])])
        before = np.exp(log_softmax(lg / t_model))
        entry: dict[str, Any] = {"n": int(len(keep)), "grid": list(grid), "mean_source_macro_f1": [round(c, 5) for c in curve],
                                 "weight": w, "ece_before": _ece(before, yk), "long_end_right": long_right, "allowed": allowed}
        weights[h] = w
        if w > 0:
            blended = mix(lg, t_model, lex, w)
            t = fit_temperature(blended, yk)
            fitted[h] = (w, t)
            temps[h] = t
            entry.update(temperature=t, ece_after=_ece(np.exp(log_softmax(blended / t)), yk))
        report[h] = entry
        logger.info("head %s: weight %.1f (validation mean macro-F1 %.4f -> %.4f); long calls decided at the end right by weight: %s",
                    h, w, curve[0], best, long_right if long_right is not None else
                    ("not checked (guard off)" if min_long_calls <= 0 else f"too few to check (under {min_long_calls}): not blended"))
    if not fitted:
        why = "; ".join(f"{h}: " + (v.get("why") or ("too few long calls decided at the end to check" if v.get("long_end_right") is None and min_long_calls > 0
                                                      else "the encoder alone scored best")) for h, v in report.items())
        raise BlendError(f"no head is blended, so no new version was written ({why}); see --min-long-calls")
    info = {
        "fitted_on": {"records": len(train), "files": [str(d) for d in data], "split": settings},
        "chosen_on": {"records": len(val), "long_end_calls": int(long_end.sum()), "min_long_calls": min_long_calls,
                      "guard_data": {"files": [str(d) for d in guard_data], "records": len(guard), "long_end_calls": len(g_long)},
                      "rule": "max mean-over-sources macro-F1 on validation, ties to the smaller weight, among weights that are right on "
                              "at least as many long calls decided at the end as the encoder alone; with fewer such calls than "
                              "min_long_calls, weight 0 (min_long_calls 0: no guard)"},
        "max_features": max_features,
        "features": len(tf.vectorizer.vocabulary_),
        "solver": {"C": tf.C, "class_weight": "balanced"},
        "validation": report,
    }
    prior = LexicalPrior.from_tfidf(tf, spec, fitted, info).quantized()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("manifest.json", "metrics.json", "README.md"))
    prior.save(tmp)
    config = json.loads((tmp / "config.json").read_text())
    config["parent"] = f"{config.get('name', src.name)}@{config.get('version', '0')}"
    if version:
        config["version"] = version
    config["lexical"] = {"weights": {h: w for h, (w, _) in fitted.items()}, "temperatures": temps,
                         "features": len(prior.vocabulary), "fitted_on_records": len(train), "files": [LEXICAL_JSON, LEXICAL_ARRAYS],
                         "min_long_calls": min_long_calls, "validation": report}
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    write_manifest(tmp)
    write_card(tmp)
    tmp.rename(out)
    minutes = (time.perf_counter() - t0) / 60
    logger.info("blended model written to %s in %.1f min: weights %s", out, minutes, weights)
    return BlendResult(out, weights, temps, report, len(train), len(val), len(prior.vocabulary), round(minutes, 2))
