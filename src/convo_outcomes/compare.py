"""Champion vs challenger: metric deltas with paired bootstrap intervals, speed, and a YAML gate.

What retraining in CI/CD needs: one command that scores the same held-out records with both models
and decides, from rules written down in advance, whether the challenger may replace the champion.

How models whose heads or classes differ are compared (the challenger may add a head, add a class,
rename or merge classes):

* A **shared head** (same name in both) is compared on the records whose gold label, read through
  each model's own label spec, is the *same class name* in both and a class both models know.
  Classes are matched by name, never by index. Records whose gold class only one model knows (e.g.
  the challenger's new class) or that the two specs map to different names are left out of the
  comparison and counted (``n_labelled`` per side vs ``n``).
* Predictions are each model's own argmax over all its classes: a record of a shared class that the
  challenger files under its new class is a miss, so a new class that steals from old ones shows up
  as a drop on the shared classes.
* ``macro_f1`` of the comparison averages per-class F1 over the shared classes that occur in the gold
  labels or in either model's predictions on those records, the same set for both models (so it can
  differ slightly from ``evaluate``'s number, which uses one model's predictions only).
* Classes and heads that only one model has are reported separately from that model's own metrics
  (``evaluate_outputs`` on all its labelled records, calibrated with its own temperatures), with no
  delta: e.g. the challenger's new class F1, or a new head's metrics.

Deltas are challenger minus champion. ``accuracy`` and ``macro_f1`` deltas carry a paired bootstrap
95% interval: records are resampled with replacement and the *same* resampled indices score both
models, so the interval reflects the difference between the models rather than the noise of the
test set; the per-resample counts are vectorised with ``np.bincount``. ECE, Brier and per-class F1
deltas are point estimates.

Gate semantics (see ``GateRule``): ``max_drop``/``min_gain`` judge the **point estimate** of the
delta (what a reviewer reads in the table); each check also reports its CI and whether the CI
excludes 0, so a pass or failure that is within noise is visible. ``min``/``max`` judge the
challenger's own value.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from .labels import HeadSpec, LabelSpec
from .metrics import _r, _split_settings, brier_score, evaluate_outputs, expected_calibration_error, resample_indices, softmax

logger = logging.getLogger(__name__)

SPLITS = ("test", "validation", "all")
HIGHER_IS_BETTER = ("macro_f1", "accuracy", "f1")
LOWER_IS_BETTER = ("ece", "brier")
METRICS = HIGHER_IS_BETTER + LOWER_IS_BETTER + ("speed_ratio",)
RULE_FIELDS = ("name", "head", "class", "source", "metric", "min", "max", "max_drop", "min_gain")
_BOUNDS = ("min", "max", "max_drop", "min_gain")
_MAX_CELLS = 2_000_000  # resampled indices held at once (resamples x records), ~16 MB of int64


class CompareError(ValueError):
    """Inputs that cannot be compared: unknown split, no records, bad resample count."""


class GateError(ValueError):
    """A gate file is malformed; the message names the rule and the field."""


# ------------------------------------------------------------------------------------------ gate


def _number(where: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GateError(f"{where}.{key} must be a finite number, found {value!r}")
    return float(value)


@dataclass(frozen=True)
class GateRule:
    """One gate condition.

    ``metric``: macro_f1, accuracy, f1 (needs ``class``), ece, brier (lower is better) or speed_ratio
    (challenger conversations/s over champion's; no head, class or source). ``head``: a head name or
    ``"*"`` (every head the rule applies to: shared heads for ``max_drop``/``min_gain``, the
    challenger's heads for ``min``/``max``). ``source``: restrict to one ``meta.source``.
    Bounds (at least one): ``min``/``max`` on the challenger's own value; ``max_drop`` (>= 0): the
    challenger may be worse than the champion by at most this much; ``min_gain``: it must be better
    by at least this much (0: better or equal). For ece/brier "worse" means higher. A named head
    or class that cannot be measured fails the rule rather than passing silently.
    """

    metric: str
    head: str | None = None
    cls: str | None = None
    source: str | None = None
    min: float | None = None
    max: float | None = None
    max_drop: float | None = None
    min_gain: float | None = None
    name: str = ""
    index: int = 0

    def __post_init__(self) -> None:
        where = f"rules[{self.index}]"
        if self.metric not in METRICS:
            raise GateError(f"{where}.metric must be one of {list(METRICS)}, found {self.metric!r}")
        for key in ("head", "cls", "source", "name"):
            v = getattr(self, key)
            if v is not None and not isinstance(v, str):
                raise GateError(f"{where}.{'class' if key == 'cls' else key} must be a string, found {v!r}")
        for key in _BOUNDS:
            _number(where, key, getattr(self, key))
        if all(getattr(self, k) is None for k in _BOUNDS):
            raise GateError(f"{where}: needs at least one of {list(_BOUNDS)}, found none")
        if self.max_drop is not None and self.max_drop < 0:
            raise GateError(f"{where}.max_drop must be >= 0, found {self.max_drop!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise GateError(f"{where}: min {self.min} is above max {self.max}")
        if self.metric == "speed_ratio":
            for key in ("head", "cls", "source", "max_drop", "min_gain"):
                if getattr(self, key) is not None:
                    shown = "class" if key == "cls" else key
                    raise GateError(f"{where}.{shown} does not apply to metric speed_ratio (use min/max), found {getattr(self, key)!r}")
            return
        if not self.head:
            raise GateError(f"{where}.head is required for metric {self.metric!r} (a head name or \"*\")")
        if self.metric == "f1":
            if not self.cls:
                raise GateError(f"{where}.class is required for metric 'f1' (the class whose F1 is judged)")
            if self.head == "*":
                raise GateError(f"{where}.head must name one head for metric 'f1' (class {self.cls!r}), found \"*\"")
        elif self.cls is not None:
            raise GateError(f"{where}.class only applies to metric 'f1', found class {self.cls!r} with metric {self.metric!r}")

    @property
    def bounds(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in _BOUNDS if getattr(self, k) is not None}

    def describe(self) -> str:
        parts = [f"rules[{self.index}]" + (f" {self.name!r}" if self.name else "")]
        if self.head is not None:
            parts.append(f"head={self.head}")
        if self.cls is not None:
            parts.append(f"class={self.cls}")
        if self.source is not None:
            parts.append(f"source={self.source}")
        parts.append(f"metric={self.metric}")
        parts += [f"{k}={v:g}" for k, v in self.bounds.items()]
        return " ".join(parts)


@dataclass(frozen=True)
class Gate:
    rules: tuple[GateRule, ...]
    origin: str = "<dict>"

    @classmethod
    def from_dict(cls, data: Any, origin: str = "<dict>") -> "Gate":
        try:
            if not isinstance(data, Mapping) or "rules" not in data:
                raise GateError("expected a mapping with a 'rules' list")
            unknown = sorted(set(data) - {"rules"})
            if unknown:
                raise GateError(f"unknown top-level fields {unknown}; expected only 'rules'")
            raw = data["rules"]
            if not isinstance(raw, list) or not raw:
                raise GateError(f"'rules' must be a non-empty list, found {raw!r}")
            rules = []
            for i, r in enumerate(raw):
                if not isinstance(r, Mapping):
                    raise GateError(f"rules[{i}] must be a mapping, found {r!r}")
                bad = sorted(str(k) for k in set(r) - set(RULE_FIELDS))
                if bad:
                    raise GateError(f"rules[{i}] has unknown fields {bad}; allowed: {list(RULE_FIELDS)}")
                if "metric" not in r:
                    raise GateError(f"rules[{i}].metric is required; one of {list(METRICS)}")
                kw = {("cls" if k == "class" else k): v for k, v in r.items()}
                kw["name"] = kw.get("name") or ""
                rules.append(GateRule(index=i, **kw))
        except GateError as e:
            raise GateError(f"{origin}: {e}") from None
        return cls(rules=tuple(rules), origin=origin)

    @classmethod
    def load(cls, path: str | Path) -> "Gate":
        path = Path(path)
        if not path.is_file():
            raise GateError(f"{path}: gate file not found")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise GateError(f"{path}: not valid YAML: {e}") from e
        return cls.from_dict(data, origin=str(path))


# -------------------------------------------------------------------------------- paired bootstrap


def _counts(y: np.ndarray, pred: np.ndarray, n_classes: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-resample true positives, gold counts and prediction counts, ``[resamples, n_classes + 1]``.

    Column ``n_classes`` collects predictions of classes outside the compared set; gold never lands
    there, so they count only as misses.
    """
    b = idx.shape[0]
    width = n_classes + 1
    offs = (np.arange(b, dtype=np.int64) * width)[:, None]
    yy, pp = y[idx], pred[idx]
    gk = (offs + yy).ravel()
    gold = np.bincount(gk, minlength=b * width).reshape(b, width)
    pc = np.bincount((offs + pp).ravel(), minlength=b * width).reshape(b, width)
    tp = np.bincount(gk, weights=(yy == pp).ravel().astype(np.float64), minlength=b * width).reshape(b, width)
    return tp, gold, pc


def _f1(tp: np.ndarray, gold: np.ndarray, pc: np.ndarray) -> np.ndarray:
    den = gold + pc
    return np.divide(2.0 * tp, den, out=np.zeros(tp.shape, dtype=np.float64), where=den > 0)


def paired_scores(
    y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, n_classes: int, idx: np.ndarray, own_classes: bool = False
) -> dict[str, np.ndarray]:
    """Accuracy and macro-F1 of two models on each row of resampled record indices ``idx``.

    ``y`` holds class indices in ``[0, n_classes)``; predictions may also be ``n_classes`` (a class
    outside the compared set). Macro-F1 averages over the classes present in the resample's gold
    labels or in either model's predictions, the same classes for both models; with ``own_classes``,
    over the gold classes and the model's own predictions (``metrics.head_metrics``'s rule, so the
    point values are the ones an evaluation report shows).
    """
    m = idx.shape[1]
    tpa, gold, pca = _counts(y, pred_a, n_classes, idx)
    tpb, _, pcb = _counts(y, pred_b, n_classes, idx)

    def macro(tp: np.ndarray, pc: np.ndarray, present: np.ndarray) -> np.ndarray:
        present = present[:, :n_classes].astype(np.float64)
        return (_f1(tp, gold, pc)[:, :n_classes] * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1.0)

    shared = (gold + pca + pcb) > 0
    return {
        "accuracy_a": tpa.sum(axis=1) / m,
        "accuracy_b": tpb.sum(axis=1) / m,
        "macro_f1_a": macro(tpa, pca, (gold + pca) > 0 if own_classes else shared),
        "macro_f1_b": macro(tpb, pcb, (gold + pcb) > 0 if own_classes else shared),
    }


def paired_bootstrap(
    y: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    n_classes: int,
    resamples: int = 1000,
    seed: int | Sequence[int] = 0,
    level: float = 0.95,
    own_classes: bool = False,
) -> dict[str, dict[str, Any]]:
    """Point delta (b - a) and percentile CI for accuracy and macro-F1, same resamples for both models.

    Deterministic for a seed. With ``resamples == 0`` the CI is ``None``. ``own_classes``: see ``paired_scores``.
    """
    y, pred_a, pred_b = (np.asarray(v, dtype=np.int64).reshape(-1) for v in (y, pred_a, pred_b))
    m = len(y)
    if m == 0:
        raise CompareError("paired_bootstrap: no records")
    point = paired_scores(y, pred_a, pred_b, n_classes, np.arange(m)[None, :], own_classes)
    out: dict[str, dict[str, Any]] = {}
    deltas: dict[str, list[np.ndarray]] = {"accuracy": [], "macro_f1": []}
    for idx in resample_indices(m, resamples, seed, _MAX_CELLS):
        s = paired_scores(y, pred_a, pred_b, n_classes, idx, own_classes)
        for k in deltas:
            deltas[k].append(s[f"{k}_b"] - s[f"{k}_a"])
    alpha = (1.0 - level) / 2.0
    for k in deltas:
        a, b = float(point[f"{k}_a"][0]), float(point[f"{k}_b"][0])
        ci = None
        if resamples:
            d = np.concatenate(deltas[k])
            lo, hi = np.quantile(d, [alpha, 1.0 - alpha])
            ci = [_r(lo), _r(hi)]
        out[k] = {
            "a": a,
            "b": b,
            "delta": _r(b - a),
            "ci": ci,
            "ci_excludes_0": bool(ci is not None and (ci[0] > 0 or ci[1] < 0)),
        }
    return out


# ------------------------------------------------------------------------------------- comparing


@dataclass
class Side:
    """One model's calibrated probabilities on the shared records (plus timing, when scored here)."""

    spec: LabelSpec
    probs: dict[str, np.ndarray]
    path: str = ""
    version: str = ""
    seconds: float = 0.0

    def gold(self, head: HeadSpec, labels: Sequence[Mapping[str, Any]]) -> list[str | None]:
        out = []
        for lab in labels:
            t = head.target(lab)
            out.append(None if t is None else head.classes[t])
        return out


def _seed(seed: int, head: str, source: str) -> list[int]:
    """Per (head, source) stream: results do not depend on which other heads or sources exist."""
    return [int(seed), zlib.crc32(head.encode()), zlib.crc32(source.encode())]


def _row(
    ha: HeadSpec, hb: HeadSpec, shared: list[str], gold: np.ndarray, pa: np.ndarray, pb: np.ndarray,
    resamples: int, seed: list[int],
) -> dict[str, Any]:
    """Both models on one record subset: shared-class accuracy/macro-F1 with CIs, ECE/Brier, per-class F1."""
    pos = {c: i for i, c in enumerate(shared)}
    C = len(shared)
    y = np.array([pos[g] for g in gold], dtype=np.int64)
    pred_a = np.array([pos.get(ha.classes[k], C) for k in pa.argmax(axis=1)], dtype=np.int64)
    pred_b = np.array([pos.get(hb.classes[k], C) for k in pb.argmax(axis=1)], dtype=np.int64)
    boot = paired_bootstrap(y, pred_a, pred_b, C, resamples=resamples, seed=seed)
    idx = np.arange(len(y))[None, :]
    tpa, g, pca = _counts(y, pred_a, C, idx)
    tpb, _, pcb = _counts(y, pred_b, C, idx)
    present = [c for i, c in enumerate(shared) if g[0, i] + pca[0, i] + pcb[0, i] > 0]
    f1a, f1b = _f1(tpa, g, pca)[0], _f1(tpb, g, pcb)[0]
    side = {}
    for key, h, p, f1 in (("champion", ha, pa, f1a), ("challenger", hb, pb, f1b)):
        own_y = np.array([h.index(c) for c in gold], dtype=np.int64)  # each model's own class index
        side[key] = {
            "accuracy": _r(boot["accuracy"]["a" if key == "champion" else "b"]),
            "macro_f1": _r(boot["macro_f1"]["a" if key == "champion" else "b"]),
            "ece": _r(expected_calibration_error(p, own_y)),
            "brier": _r(brier_score(p, own_y)),
            "per_class_f1": {c: _r(f1[pos[c]]) for c in present},
        }
    ch, cl = side["champion"], side["challenger"]
    delta: dict[str, Any] = {k: {kk: boot[k][kk] for kk in ("delta", "ci", "ci_excludes_0")} for k in ("accuracy", "macro_f1")}
    for k in ("ece", "brier"):
        delta[k] = {"delta": None if ch[k] is None or cl[k] is None else _r(cl[k] - ch[k]), "ci": None, "ci_excludes_0": False}
    delta["per_class_f1"] = {c: _r(f1b[pos[c]] - f1a[pos[c]]) for c in present}
    return {"n": int(len(y)), "champion": ch, "challenger": cl, "delta": delta}


def compare_outputs(
    champion: Side,
    challenger: Side,
    labels: Sequence[Mapping[str, Any]],
    sources: Sequence[str],
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Per-head comparison of two models' calibrated probabilities on the same records.

    Returns ``{"heads": {HEAD: ...}, "champion_metrics": ..., "challenger_metrics": ...}``. A shared
    head has ``status: "shared"``, the class sets (``shared_classes``, ``champion_only_classes``,
    ``challenger_only_classes`` with that model's own F1 and support) and ``rows`` per source
    (``"all"`` first) from ``_row``; a head only one model has gets ``status`` ``champion_only`` or
    ``challenger_only`` and that model's own metrics, no delta (see the module docstring).
    """
    if resamples < 0:
        raise CompareError(f"resamples must be >= 0, found {resamples}")
    src = np.asarray([str(s) for s in sources], dtype=object)
    own = {}
    for key, side in (("champion", champion), ("challenger", challenger)):
        targets = {h.name: np.array([-1 if (t := h.target(lab)) is None else t for lab in labels], dtype=np.int64) for h in side.spec}
        own[key] = evaluate_outputs(side.spec, targets, side.probs, list(src))
    heads: dict[str, Any] = {}
    names = champion.spec.head_names + [h for h in challenger.spec.head_names if h not in champion.spec.head_names]
    for name in names:
        in_a, in_b = name in champion.spec.head_names, name in challenger.spec.head_names
        if not (in_a and in_b):
            key = "champion" if in_a else "challenger"
            heads[name] = {
                "status": f"{key}_only",
                "metrics": own[key]["heads"].get(name),
                "by_source": {s: m[name] for s, m in own[key]["by_source"].items() if name in m},
            }
            continue
        ha, hb = champion.spec[name], challenger.spec[name]
        shared = [c for c in ha.classes if c in hb.classes]
        ga, gb = champion.gold(ha, labels), challenger.gold(hb, labels)
        keep = np.array([a is not None and a == b and a in hb.classes for a, b in zip(ga, gb)], dtype=bool)
        mismatched = sum(1 for a, b in zip(ga, gb) if a is not None and b is not None and a != b)

        def only(key: str, h: HeadSpec, other: HeadSpec) -> dict[str, Any]:
            m = own[key]["heads"].get(name) or {}
            return {c: {"f1": (m.get("per_class_f1") or {}).get(c), "support": (m.get("support") or {}).get(c, 0)} for c in h.classes if c not in other.classes}

        entry: dict[str, Any] = {
            "status": "shared",
            "shared_classes": shared,
            "champion_only_classes": only("champion", ha, hb),
            "challenger_only_classes": only("challenger", hb, ha),
            "n_labelled": {"champion": sum(g is not None for g in ga), "challenger": sum(g is not None for g in gb)},
            "n_label_mismatch": mismatched,
            "rows": {},
        }
        if mismatched:
            logger.warning("head %s: %d records get different gold classes from the two label specs; left out", name, mismatched)
        if keep.any():
            gold = np.array(ga, dtype=object)
            pa, pb = np.asarray(champion.probs[name]), np.asarray(challenger.probs[name])
            entry["rows"]["all"] = _row(ha, hb, shared, gold[keep], pa[keep], pb[keep], resamples, _seed(seed, name, "all"))
            for s in sorted(set(src[keep].tolist())):
                m = keep & (src == s)
                entry["rows"][s] = _row(ha, hb, shared, gold[m], pa[m], pb[m], resamples, _seed(seed, name, s))
        heads[name] = entry
    return {"heads": heads, "champion_metrics": own["champion"], "challenger_metrics": own["challenger"]}


# ------------------------------------------------------------------------------------ gate checks


@dataclass
class RuleResult:
    rule: str
    index: int
    passed: bool
    threshold: dict[str, float]
    values: list[dict[str, Any]]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "index": self.index, "passed": self.passed, "threshold": self.threshold, "values": self.values, "reason": self.reason}


def _check(rule: GateRule, label: str, value: float | None, bounds: Mapping[str, float], delta: Mapping[str, Any] | None) -> dict[str, Any]:
    """One (head, source) check of some of a rule's bounds; ``delta`` given for max_drop/min_gain."""
    out: dict[str, Any] = {"target": label, "value": value}
    if delta is not None:
        out.update(ci=delta.get("ci"), ci_excludes_0=delta.get("ci_excludes_0", False))
    if value is None:
        out.update(passed=False, why=f"{label}: no value (no labelled records, or not in both models)")
        return out
    fails = []
    lower_better = rule.metric in LOWER_IS_BETTER
    for k, t in bounds.items():
        if k == "min" and value < t:
            fails.append(f"{value:.4f} < min {t:g}")
        elif k == "max" and value > t:
            fails.append(f"{value:.4f} > max {t:g}")
        elif k in ("max_drop", "min_gain"):
            gain = -value if lower_better else value
            if k == "max_drop" and gain < -t:
                fails.append(f"worse by {-gain:.4f} > max_drop {t:g}")
            if k == "min_gain" and gain < t:
                fails.append(f"gain {gain:.4f} < min_gain {t:g}")
    ci = out.get("ci")
    shown = f"{label} delta {value:+.4f}" if delta is not None else f"{label} {value:.4f}"
    if ci:
        shown += f" [CI {ci[0]:+.4f}, {ci[1]:+.4f}{', excludes 0' if out['ci_excludes_0'] else ''}]"
    out.update(passed=not fails, why=shown + (": " + "; ".join(fails) if fails else ""))
    return out


def evaluate_gate(gate: Gate, comparison: Mapping[str, Any]) -> list[RuleResult]:
    """Judge every rule against a ``compare_outputs`` result extended with ``speed``."""
    results = []
    heads = comparison["heads"]
    cl = comparison["challenger_metrics"]
    for rule in gate.rules:
        checks: list[dict[str, Any]] = []
        rel = {k: v for k, v in rule.bounds.items() if k in ("max_drop", "min_gain")}
        absb = {k: v for k, v in rule.bounds.items() if k in ("min", "max")}
        src = rule.source or "all"
        if rule.metric == "speed_ratio":
            checks.append(_check(rule, "speed_ratio", (comparison.get("speed") or {}).get("ratio"), absb, None))
        else:
            if rel:
                names = [h for h, e in heads.items() if e["status"] == "shared" and src in e["rows"]] if rule.head == "*" else [rule.head]
                for h in names:
                    row = (heads.get(h) or {}).get("rows", {}).get(src)
                    label = f"{h}" + (f"/{src}" if rule.source else "") + (f"[{rule.cls}]" if rule.cls else "")
                    if row is None:
                        checks.append(_check(rule, label, None, rel, {}))
                        continue
                    if rule.metric == "f1":
                        d = {"delta": row["delta"]["per_class_f1"].get(rule.cls), "ci": None, "ci_excludes_0": False}
                    else:
                        d = row["delta"][rule.metric]
                    checks.append(_check(rule, label, d["delta"], rel, d))
            if absb:
                table = cl["heads"] if rule.source is None else cl["by_source"].get(rule.source, {})
                names = [h for h in table] if rule.head == "*" else [rule.head]
                for h in names:
                    m = table.get(h)
                    label = f"{h}" + (f"/{src}" if rule.source else "") + (f"[{rule.cls}]" if rule.cls else "")
                    v = None if m is None else (m.get("per_class_f1", {}).get(rule.cls) if rule.metric == "f1" else m.get(rule.metric))
                    checks.append(_check(rule, label, v, absb, None))
        if not checks:
            results.append(RuleResult(rule.describe(), rule.index, False, rule.bounds, [], f"matched nothing: no head with labelled records{' in source ' + rule.source if rule.source else ''}"))
            continue
        failed = [c for c in checks if not c["passed"]]
        if failed:
            reason = failed[0]["why"] + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else "")
        elif len(checks) == 1:
            reason = checks[0]["why"]
        else:
            reason = f"all {len(checks)} checks pass; closest: {_closest(rule, checks)['why']}"
        results.append(RuleResult(rule.describe(), rule.index, not failed, rule.bounds, checks, reason))
    return results


def _closest(rule: GateRule, checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The passing check nearest its bound: lowest value for min/gain rules, highest for max rules."""
    if set(rule.bounds) == {"max"} or (rule.metric in LOWER_IS_BETTER and set(rule.bounds) <= {"max_drop", "min_gain"}):
        sign = -1.0
    else:
        sign = 1.0
    return min(checks, key=lambda c: sign * c["value"])


# ---------------------------------------------------------------------------------------- models


@dataclass
class Comparison:
    """What ``compare_models`` returns: the JSON-able report, the gate results and the verdict."""

    report: dict[str, Any]
    gate: list[RuleResult] | None = None

    @property
    def passed(self) -> bool:
        """True without a gate; with one, True when every rule passes."""
        return self.gate is None or all(r.passed for r in self.gate)

    def to_dict(self) -> dict[str, Any]:
        return {**self.report, "gate": None if self.gate is None else [r.to_dict() for r in self.gate], "passed": self.passed}

    def to_text(self) -> str:
        return format_comparison(self.to_dict())


def _load_records(paths: Sequence[str | Path], split: str, settings: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Records in ``split`` for every model's own split settings (none was trained on them)."""
    from .data import read_conversations, split_of

    out = []
    for conv in read_conversations(list(paths)):
        if split == "all" or all(split_of(conv, **s) == split for s in settings):
            out.append(conv)
    return out


def _score(scorers: Sequence[Any], convs: Sequence[Any], chunk: int = 64) -> tuple[list[dict[str, np.ndarray]], list[float]]:
    """Raw logits from each scorer and its scoring seconds. Small chunks alternate between the models,
    in alternating order, so that changes in machine load fall on both alike (never concurrently:
    each uses all its threads)."""
    for s in scorers:  # warm-up: first-run allocations are not part of throughput
        s.logits(list(convs[:chunk]))
    parts: list[dict[str, list[np.ndarray]]] = [{} for _ in scorers]
    secs = [0.0] * len(scorers)
    for k, start in enumerate(range(0, len(convs), chunk)):
        batch = list(convs[start : start + chunk])
        order = list(enumerate(scorers))
        for i, s in order if k % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            lg = s.logits(batch)
            secs[i] += time.perf_counter() - t0
            for h, v in lg.items():
                parts[i].setdefault(h, []).append(v)
    return [{h: np.concatenate(v) for h, v in p.items()} for p in parts], secs


def compare_models(
    champion: str | Path,
    challenger: str | Path,
    data: Sequence[str | Path],
    split: str = "test",
    gate: Gate | str | Path | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> Comparison:
    """Score ``data`` with both exported models and compare them; judge ``gate`` when given.

    ``split`` other than ``all`` keeps only the records both models' split settings assign to it.
    Speed is conversations/s of ``Scorer.logits`` (tokenising, encoding, heads) on these records,
    models loaded with default threads and run one after the other; ``ratio`` is challenger over
    champion. Raises ``CompareError``, ``GateError``, ``ModelLoadError`` or ``DataError``.
    """
    from .runtime import Scorer

    if split not in SPLITS:
        raise CompareError(f"split must be one of {list(SPLITS)}, found {split!r}")
    if resamples < 0:
        raise CompareError(f"bootstrap resamples must be >= 0, found {resamples}")
    if not data:
        raise CompareError("no --data files given")
    if gate is not None and not isinstance(gate, Gate):
        gate = Gate.load(gate)  # before scoring: a typo in the gate should not cost a scoring run
    sa, sb = Scorer.load(champion), Scorer.load(challenger)
    settings = [_split_settings(sa.config), _split_settings(sb.config)]
    if settings[0] != settings[1]:
        logger.warning("the models split data differently (%s vs %s); using records in %r for both", settings[0], settings[1], split)
    convs = _load_records(data, split, settings)
    if not convs:
        raise CompareError(f"no records in {[str(d) for d in data]} for split {split!r}")
    logger.info("scoring %d conversations with %s and %s", len(convs), sa.version, sb.version)
    (la, lb), (ta, tb) = _score([sa, sb], convs)
    sides = []
    for s, lg, t in ((sa, la, ta), (sb, lb, tb)):
        probs = {h: softmax(lg[h], s.temperatures.get(h, 1.0)) for h in s.head_names}
        sides.append(Side(spec=s.spec, probs=probs, path=str(s.folder), version=s.version, seconds=t))
    t0 = time.perf_counter()
    result = compare_outputs(sides[0], sides[1], [c.labels for c in convs], [c.source for c in convs], resamples=resamples, seed=seed)
    logger.info("compared in %.2f s (%d bootstrap resamples)", time.perf_counter() - t0, resamples)
    n = len(convs)
    cps = [n / max(sd.seconds, 1e-9) for sd in sides]
    result["models"] = {
        key: {"path": sd.path, "version": sd.version, "seconds": round(sd.seconds, 3), "conversations_per_s": round(c, 2)}
        for key, sd, c in zip(("champion", "challenger"), sides, cps)
    }
    result["speed"] = {"champion": round(cps[0], 2), "challenger": round(cps[1], 2), "ratio": _r(cps[1] / cps[0])}
    result["data"] = {"paths": [str(d) for d in data], "split": split, "n": n, "sources": sorted({c.source for c in convs})}
    result["bootstrap"] = {"resamples": resamples, "seed": seed, "level": 0.95, "paired": True}
    results = evaluate_gate(gate, result) if gate is not None else None
    if gate is not None:
        result["gate_file"] = gate.origin
    return Comparison(report=result, gate=results)


# ------------------------------------------------------------------------------------------ text


def _v(x: Any, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def format_comparison(rep: Mapping[str, Any]) -> str:
    """Table (head, source, n, metric, champion, challenger, delta, 95% CI), then extras and gate."""
    lines = []
    models = rep.get("models", {})
    for key in ("champion", "challenger"):
        m = models.get(key)
        if m:
            lines.append(f"{key:<10} {m['version']} ({m['path']}): {m['conversations_per_s']:.1f} conversations/s")
    if rep.get("speed"):
        lines.append(f"speed ratio (challenger/champion): {_v(rep['speed']['ratio'])}")
    if rep.get("data"):
        d = rep["data"]
        lines.append(f"data: {d['n']} conversations (split {d['split']}) from {', '.join(d['paths'])}")
    if rep.get("bootstrap"):
        lines.append(f"95% CI: paired bootstrap, {rep['bootstrap']['resamples']} resamples, seed {rep['bootstrap']['seed']}")
    lines.append("")
    rows = []
    for head, e in rep["heads"].items():
        if e["status"] != "shared":
            continue
        for src, r in e["rows"].items():
            for metric in ("macro_f1", "accuracy", "ece", "brier"):
                d = r["delta"][metric]
                ci = d.get("ci")
                rows.append([head, src, str(r["n"]), metric, _v(r["champion"][metric]), _v(r["challenger"][metric]),
                             _v(d["delta"], signed=True), f"[{ci[0]:+.4f}, {ci[1]:+.4f}]{'*' if d['ci_excludes_0'] else ''}" if ci else ""])
    header = ["head", "source", "n", "metric", "champion", "challenger", "delta", "95% CI"]
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    lines += [fmt(header), "-" * len(fmt(header))]
    prev = None
    for r in rows:
        shown = list(r)
        if prev == (r[0], r[1]):
            shown[0] = shown[1] = shown[2] = ""
        prev = (r[0], r[1])
        lines.append(fmt(shown).rstrip())
    if not rows:
        lines.append("(no shared head with labelled records)")
    lines.append("* CI excludes 0; macro-F1/accuracy over the classes both models share")
    for head, e in rep["heads"].items():
        if e["status"] == "shared":
            for key in ("challenger", "champion"):
                for c, v in e[f"{key}_only_classes"].items():
                    lines.append(f"{head}: class {c!r} only in the {key}: F1 {_v(v['f1'])} (support {v['support']}; no delta)")
            nl = e["n_labelled"]
            n = e["rows"].get("all", {}).get("n", 0)
            if n < max(nl.values()):
                lines.append(f"{head}: compared on {n} records; labelled champion {nl['champion']}, challenger {nl['challenger']}")
        else:
            who = e["status"].split("_")[0]
            m = e.get("metrics") or {}
            lines.append(f"{head}: head only in the {who}: n {m.get('n', 0)}, macro-F1 {_v(m.get('macro_f1'))}, accuracy {_v(m.get('accuracy'))}, ECE {_v(m.get('ece'))} (no delta)")
    gate = rep.get("gate")
    if gate is not None:
        lines += ["", f"gate {rep.get('gate_file', '')}: {'PASSED' if rep['passed'] else 'FAILED'}"]
        for r in gate:
            lines.append(f"  {'PASS' if r['passed'] else 'FAIL'}  {r['rule']}: {r['reason']}")
    return "\n".join(lines)
