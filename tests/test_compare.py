"""Champion vs challenger comparison and gate, on real copies of the tiny ONNX bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from convo_outcomes.cli import app
from convo_outcomes.compare import (
    Gate,
    GateError,
    Side,
    compare_models,
    compare_outputs,
    evaluate_gate,
    paired_bootstrap,
    paired_scores,
)
from convo_outcomes.data import read_conversations
from convo_outcomes.labels import LabelSpec
from convo_outcomes.metrics import head_metrics
from convo_outcomes.runtime import Scorer
from tests.conftest import ROOT, make_archive

FIELDS = {"resolution": "resolution", "churn_risk": "churn_risk", "repeat_contact": "repeat_contact", "contact_cause": "cause", "effort": "effort"}
SAME_GATE = """
rules:
  - {head: "*", metric: macro_f1, max_drop: 0.01}
  - {head: "*", metric: accuracy, max_drop: 0.0}
  - {head: contact_cause, metric: macro_f1, min_gain: 0.0}
  - {head: "*", metric: ece, max_drop: 0.0}
  - {head: resolution, source: A, metric: accuracy, max_drop: 0.0}
  - {metric: speed_ratio, min: 0.2}
"""


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, tiny_model) -> Path:
    """make_archive's conversations in sources A and B, labelled with the tiny model's own predictions
    with a quarter replaced at random: the champion is good, a perturbed copy measurably worse."""
    d = tmp_path_factory.mktemp("cmp")
    raw = d / "raw.jsonl"
    make_archive(raw, 240, seed=11)
    convs = list(read_conversations([raw]))
    scorer = Scorer.load(tiny_model)
    preds = scorer.score(convs)
    rng = np.random.default_rng(3)
    out = d / "labelled.jsonl"
    with open(out, "w") as f:
        for i, (c, p) in enumerate(zip(convs, preds)):
            rec = c.to_json_dict()
            rec["meta"]["source"] = "A" if i % 3 else "B"
            rec["labels"] = {
                fld: p.heads[h].label if rng.random() > 0.25 else str(rng.choice(scorer.spec[h].classes)) for h, fld in FIELDS.items()
            }
            f.write(json.dumps(rec) + "\n")
    return out


def _copy_model(src: Path, dst: Path, head: str, edit, new_class: tuple[int, str] | None = None) -> Path:
    """A copy of a model folder with one head's classifier (weight, bias) rewritten by ``edit``; with
    ``new_class=(position, name)`` the class is also inserted into the head's label spec."""
    from convo_outcomes.export import write_manifest

    shutil.copytree(src, dst)
    model = onnx.load(dst / "heads.onnx")
    inits = {i.name: i for i in model.graph.initializer}
    wn, bn = f"model.classifier.{head}.weight", f"model.classifier.{head}.bias"
    w, b = edit(numpy_helper.to_array(inits[wn]).copy(), numpy_helper.to_array(inits[bn]).copy())
    inits[wn].CopyFrom(numpy_helper.from_array(w.astype(np.float32), wn))
    inits[bn].CopyFrom(numpy_helper.from_array(b.astype(np.float32), bn))
    for o in model.graph.output:
        if o.name == f"logits_{head}":
            o.type.tensor_type.shape.dim[1].dim_value = int(w.shape[0])
    onnx.save(model, dst / "heads.onnx")
    if new_class:
        pos, name = new_class
        cfg = json.loads((dst / "config.json").read_text())
        cfg["label_spec"]["heads"][head]["classes"].insert(pos, name)
        (dst / "config.json").write_text(json.dumps(cfg, indent=2))
        LabelSpec.from_dict(cfg["label_spec"]).save(dst / "label_spec.yaml")
    write_manifest(dst)
    return dst


def _run(args: list[str]):
    return CliRunner().invoke(app, args, catch_exceptions=False)


# --------------------------------------------------------------------------------- end to end


def test_model_against_itself_zero_deltas_and_gate_passes(tmp_path, tiny_model, labelled):
    gate = tmp_path / "gate.yaml"
    gate.write_text(SAME_GATE)
    out = tmp_path / "cmp.json"
    res = _run(["compare", "--champion", str(tiny_model), "--challenger", str(tiny_model), "--data", str(labelled),
                "--split", "all", "--gate", str(gate), "--json", str(out), "--bootstrap", "300"])
    assert res.exit_code == 0, res.output
    assert "gate" in res.output and "PASSED" in res.output
    rep = json.loads(out.read_text())
    assert rep["passed"] is True and len(rep["gate"]) == 6 and all(r["passed"] for r in rep["gate"])
    assert rep["data"]["n"] == 240 and rep["data"]["sources"] == ["A", "B"]
    assert set(rep["heads"]) == set(FIELDS)
    for head, e in rep["heads"].items():
        assert e["status"] == "shared" and e["challenger_only_classes"] == {} and set(e["rows"]) == {"all", "A", "B"}
        assert e["rows"]["all"]["n"] == 240 and e["rows"]["A"]["n"] + e["rows"]["B"]["n"] == 240
        for row in e["rows"].values():
            for k in ("accuracy", "macro_f1"):
                assert row["delta"][k]["delta"] == 0.0 and row["delta"][k]["ci"] == [0.0, 0.0]
                assert row["delta"][k]["ci_excludes_0"] is False
            assert row["delta"]["ece"]["delta"] == 0.0 and row["delta"]["brier"]["delta"] == 0.0
            assert set(row["delta"]["per_class_f1"].values()) <= {0.0}
            assert row["champion"] == row["challenger"]
    # the compared numbers are the model's own metrics when nothing differs
    assert rep["heads"]["contact_cause"]["rows"]["all"]["champion"]["accuracy"] == rep["champion_metrics"]["heads"]["contact_cause"]["accuracy"]
    assert rep["heads"]["contact_cause"]["rows"]["all"]["champion"]["macro_f1"] == rep["champion_metrics"]["heads"]["contact_cause"]["macro_f1"]
    assert rep["speed"]["champion"] > 0 and rep["speed"]["challenger"] > 0
    assert rep["speed"]["ratio"] == pytest.approx(rep["speed"]["challenger"] / rep["speed"]["champion"], rel=1e-3)


def test_worse_challenger_fails_max_drop_with_exit_1(tmp_path, tiny_model, labelled):
    worse = _copy_model(tiny_model, tmp_path / "worse", "contact_cause", lambda w, b: (np.roll(w, 3, axis=0), np.roll(b, 3)))
    gate = tmp_path / "gate.yaml"
    gate.write_text("rules:\n  - {head: '*', metric: macro_f1, max_drop: 0.01}\n  - {head: resolution, metric: accuracy, max_drop: 0.0}\n")
    out = tmp_path / "cmp.json"
    res = _run(["compare", "--champion", str(tiny_model), "--challenger", str(worse), "--data", str(labelled),
                "--split", "all", "--gate", str(gate), "--json", str(out), "--bootstrap", "300"])
    assert res.exit_code == 1, res.output
    assert "FAILED" in res.output
    fail_line = next(line for line in res.output.splitlines() if line.strip().startswith("FAIL "))
    assert "rules[0]" in fail_line and "contact_cause" in fail_line
    rep = json.loads(out.read_text())
    r0, r1 = rep["gate"]
    assert r0["passed"] is False and r1["passed"] is True
    assert [c["target"] for c in r0["values"] if not c["passed"]] == ["contact_cause"]
    row = rep["heads"]["contact_cause"]["rows"]["all"]
    assert row["delta"]["macro_f1"]["delta"] < -0.01 and row["delta"]["accuracy"]["delta"] < 0
    assert row["delta"]["accuracy"]["ci_excludes_0"] is True and row["delta"]["accuracy"]["ci"][1] < 0
    # heads the edit did not touch: identical logits, so exactly zero
    for head in ("resolution", "churn_risk", "repeat_contact", "effort"):
        assert rep["heads"][head]["rows"]["all"]["delta"]["macro_f1"]["delta"] == 0.0


def test_challenger_with_extra_class_compared_on_shared_classes(tmp_path, tiny_model, labelled):
    # the new class goes first, so every old class changes index: only matching by name is right
    def add_row(w, b):
        return np.vstack([w[10:11], w]), np.concatenate([b[10:11] + 0.5, b])

    extra = _copy_model(tiny_model, tmp_path / "extra", "contact_cause", add_row, new_class=(0, "card_arrival"))
    data = tmp_path / "extra.jsonl"
    recs = [json.loads(line) for line in labelled.read_text().splitlines()]
    for i, r in enumerate(recs):
        if r["labels"]["cause"] == "cancellation" and i % 2 == 0:
            r["labels"]["cause"] = "card_arrival"
    data.write_text("".join(json.dumps(r) + "\n" for r in recs))
    gate = Gate.from_dict({"rules": [
        {"head": "contact_cause", "class": "card_arrival", "metric": "f1", "min": 0.0},
        {"head": "contact_cause", "class": "card_arrival", "metric": "f1", "max_drop": 0.5},
    ]})
    rep = compare_models(tiny_model, extra, [data], split="all", gate=gate, resamples=200).to_dict()

    convs = list(read_conversations([data]))
    a, b = Scorer.load(tiny_model), Scorer.load(extra)

    def cause_logits(scorer: Scorer) -> np.ndarray:
        # compare scores in chunks of 64; int8 activations are quantized per batch, so a near-tie can
        # flip under another batching: score the same chunks to check the bookkeeping exactly
        return np.concatenate([scorer.logits(convs[s : s + 64])["contact_cause"] for s in range(0, len(convs), 64)])

    name_a = np.array(a.spec["contact_cause"].classes)[cause_logits(a).argmax(1)]
    name_b = np.array(b.spec["contact_cause"].classes)[cause_logits(b).argmax(1)]
    gold = np.array([c.labels["cause"] for c in convs])
    shared = list(a.spec["contact_cause"].classes)
    keep = gold != "card_arrival"
    assert (name_b == "card_arrival").any() and (gold == "card_arrival").any()

    e = rep["heads"]["contact_cause"]
    assert e["shared_classes"] == shared and e["champion_only_classes"] == {}
    assert e["n_labelled"] == {"champion": int(keep.sum()), "challenger": 240}
    row = e["rows"]["all"]
    assert row["n"] == int(keep.sum())
    for side, pred in (("champion", name_a), ("challenger", name_b)):
        acc = float(np.mean(pred[keep] == gold[keep]))
        other = np.where(np.isin(pred, shared), pred, "__other__")
        labels = [c for c in shared if c in set(gold[keep]) | set(name_a[keep]) | set(name_b[keep])]
        mf1 = f1_score(gold[keep], other[keep], labels=labels, average="macro", zero_division=0)
        assert row[side]["accuracy"] == pytest.approx(acc, abs=6e-5)
        assert row[side]["macro_f1"] == pytest.approx(mf1, abs=6e-5)
    # the new class: the challenger's own F1 on every record labelled with it, no delta
    new_f1 = f1_score(gold, name_b, labels=["card_arrival"], average=None, zero_division=0)[0]
    assert e["challenger_only_classes"]["card_arrival"]["f1"] == pytest.approx(new_f1, abs=6e-5)
    assert e["challenger_only_classes"]["card_arrival"]["support"] == int((gold == "card_arrival").sum())
    assert "card_arrival" not in row["delta"]["per_class_f1"]
    r_min, r_drop = rep["gate"]
    assert r_min["passed"] is True and r_min["values"][0]["value"] == pytest.approx(new_f1, abs=6e-5)
    assert r_drop["passed"] is False and "no value" in r_drop["reason"]
    # other heads unchanged
    assert rep["heads"]["resolution"]["rows"]["all"]["delta"]["accuracy"]["delta"] == 0.0


def test_split_keeps_the_models_test_records_only(tiny_model, labelled):
    from convo_outcomes.data import split_of
    from convo_outcomes.metrics import _split_settings

    settings = _split_settings(Scorer.load(tiny_model).config)
    want = sum(split_of(c, **settings) == "test" for c in read_conversations([labelled]))
    assert 0 < want < 240
    rep = compare_models(tiny_model, tiny_model, [labelled], split="test", resamples=0).to_dict()
    assert rep["data"]["n"] == want and rep["gate"] is None and rep["passed"] is True
    assert rep["heads"]["effort"]["rows"]["all"]["delta"]["accuracy"] == {"delta": 0.0, "ci": None, "ci_excludes_0": False}


def test_cli_usage_errors_exit_2(tmp_path, tiny_model, labelled):
    bad = tmp_path / "gate.yaml"
    bad.write_text("rules:\n  - {head: '*', metric: macro_f2, max_drop: 0.01}\n")
    res = _run(["compare", "--champion", str(tiny_model), "--challenger", str(tiny_model), "--data", str(labelled), "--gate", str(bad)])
    assert res.exit_code == 2 and "rules[0].metric" in res.output and "macro_f2" in res.output
    res = _run(["compare", "--champion", str(tmp_path / "nope"), "--challenger", str(tiny_model), "--data", str(labelled), "--split", "all"])
    assert res.exit_code == 2 and "nope" in res.output
    res = _run(["compare", "--champion", str(tiny_model), "--challenger", str(tiny_model), "--data", str(labelled), "--split", "train"])
    assert res.exit_code == 2 and "split" in res.output


# ---------------------------------------------------------------------------------- bootstrap


def _hand_made(n: int = 60, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    a = np.where(rng.random(n) < 0.7, y, rng.integers(0, k, n))
    b = np.where(rng.random(n) < 0.5, y, rng.integers(0, k + 1, n))  # b also predicts an outside class (k)
    return y, a, b


def test_bootstrap_point_delta_ci_and_determinism():
    y, a, b = _hand_made()
    got = paired_bootstrap(y, a, b, 3, resamples=1000, seed=5)
    assert got["accuracy"]["delta"] == pytest.approx(np.mean(b == y) - np.mean(a == y), abs=6e-5)
    labels = sorted(set(y) | (set(a) | set(b)) - {3})
    mf = lambda p: f1_score(y, p, labels=labels, average="macro", zero_division=0)  # noqa: E731
    assert got["macro_f1"]["delta"] == pytest.approx(mf(b) - mf(a), abs=6e-5)
    for k in ("accuracy", "macro_f1"):
        lo, hi = got[k]["ci"]
        assert lo < got[k]["delta"] < hi
    assert paired_bootstrap(y, a, b, 3, resamples=1000, seed=5) == got
    same = paired_bootstrap(y, a, a, 3, resamples=200, seed=1)
    assert same["accuracy"]["delta"] == 0.0 and same["macro_f1"]["ci"] == [0.0, 0.0]


def test_vectorised_resample_scores_match_sklearn():
    y, a, b = _hand_made(n=50, k=4, seed=2)
    idx = np.random.default_rng(9).integers(0, len(y), size=(6, len(y)))
    got = paired_scores(y, a, b, 4, idx)
    own = paired_scores(y, a, b, 4, idx, own_classes=True)
    for r in range(len(idx)):
        yy, aa, bb = y[idx[r]], a[idx[r]], b[idx[r]]
        labels = sorted((set(yy) | set(aa) | set(bb)) - {4})
        for key, p in (("a", aa), ("b", bb)):
            assert got[f"accuracy_{key}"][r] == pytest.approx(np.mean(p == yy))
            assert got[f"macro_f1_{key}"][r] == pytest.approx(f1_score(yy, p, labels=labels, average="macro", zero_division=0))
            mine = sorted((set(yy) | set(p)) - {4})  # each model's own classes, as an evaluation report counts them
            assert own[f"macro_f1_{key}"][r] == pytest.approx(f1_score(yy, p, labels=mine, average="macro", zero_division=0))


def test_bootstrap_in_memory_bounded_chunks_gives_the_same_interval(monkeypatch):
    """Resamples are drawn in chunks of at most ``_MAX_CELLS`` indices (memory stays flat for millions
    of records); the chunk size must not change the result. Its speed is a benchmark matter, not a test's."""
    import convo_outcomes.compare as compare

    rng = np.random.default_rng(0)
    y = rng.integers(0, 17, 5000)
    a, b = np.where(rng.random(5000) < 0.6, y, 3), np.where(rng.random(5000) < 0.62, y, 5)
    whole = paired_bootstrap(y, a, b, 17, resamples=300, seed=0)
    monkeypatch.setattr(compare, "_MAX_CELLS", 5000 * 7)  # 7 resamples per chunk, the last one short
    assert paired_bootstrap(y, a, b, 17, resamples=300, seed=0) == whole
    assert whole["macro_f1"]["ci"][0] < whole["macro_f1"]["delta"] < whole["macro_f1"]["ci"][1]


# ------------------------------------------------------------------------------ heads, gate file


def _spec(heads: dict) -> LabelSpec:
    return LabelSpec.from_dict({"heads": {h: {"type": "multiclass" if len(c) > 2 else "binary", "classes": c, "sources": [h]} for h, c in heads.items()}})


def test_head_only_in_challenger_reported_without_delta():
    rng = np.random.default_rng(0)
    n = 80
    spec_a = _spec({"cause": ["a", "b", "c"]})
    spec_b = _spec({"cause": ["a", "b", "c"], "complaint": ["no", "yes"]})
    labels = [{"cause": str(rng.choice(["a", "b", "c"])), "complaint": str(rng.choice(["no", "yes"]))} for _ in range(n)]
    pa = rng.dirichlet(np.ones(3), n)
    probs_b = {"cause": pa, "complaint": rng.dirichlet(np.ones(2), n)}
    rep = compare_outputs(Side(spec_a, {"cause": pa}), Side(spec_b, probs_b), labels, ["s"] * n, resamples=100)
    assert rep["heads"]["cause"]["rows"]["all"]["delta"]["macro_f1"]["delta"] == 0.0
    comp = rep["heads"]["complaint"]
    assert comp["status"] == "challenger_only" and "rows" not in comp
    y = np.array([spec_b["complaint"].classes.index(x["complaint"]) for x in labels])
    assert comp["metrics"] == head_metrics(spec_b["complaint"], y, probs_b["complaint"])
    gate = Gate.from_dict({"rules": [
        {"head": "*", "metric": "macro_f1", "max_drop": 0.0},
        {"head": "complaint", "metric": "macro_f1", "max_drop": 0.01},
        {"head": "complaint", "metric": "accuracy", "min": 0.0},
        {"head": "*", "source": "elsewhere", "metric": "accuracy", "max_drop": 0.0},
    ]})
    r = evaluate_gate(gate, rep)
    assert [x.passed for x in r] == [True, False, True, False]
    assert [c["target"] for c in r[0].values] == ["cause"]  # "*" with a delta: shared heads only
    assert "no value" in r[1].reason and "matched nothing" in r[3].reason


@pytest.mark.parametrize(
    "text, expected",
    [
        ("rules:\n  - {head: x, metric: f2, max_drop: 0.01}\n", "rules[0].metric"),
        ("rules:\n  - {head: x, metric: f1, min: 0.8}\n", "rules[0].class is required"),
        ("rules:\n  - {metric: speed_ratio, min: 0.8}\n  - {head: x, metric: ece, maxdrop: 0.01}\n", "rules[1] has unknown fields ['maxdrop']"),
        ("rules:\n  - {head: x, metric: ece, max_drop: lots}\n", "rules[0].max_drop must be a finite number"),
        ("rules:\n  - {head: x, metric: ece, max_drop: -0.1}\n", "rules[0].max_drop must be >= 0"),
        ("rules:\n  - {head: x, metric: accuracy}\n", "rules[0]: needs at least one of"),
        ("rules:\n  - {head: x, metric: speed_ratio, min: 0.8}\n", "rules[0].head does not apply to metric speed_ratio"),
        ("rules:\n  - {metric: accuracy, min: 0.8}\n", "rules[0].head is required"),
        ("rules: []\n", "'rules' must be a non-empty list"),
        ("rules: [\n", "not valid YAML"),
    ],
)
def test_bad_gate_yaml_names_the_field(tmp_path, text, expected):
    path = tmp_path / "gate.yaml"
    path.write_text(text)
    with pytest.raises(GateError) as e:
        Gate.load(path)
    assert expected in str(e.value) and str(path) in str(e.value)


def test_shipped_gate_loads():
    gate = Gate.load(ROOT / "training" / "gates" / "default.yaml")
    assert {r.metric for r in gate.rules} >= {"macro_f1", "speed_ratio"}


def test_own_classes_scores_each_model_as_its_report_does():
    """A class only model b predicts (2, absent from gold) drags a's macro-F1 down under the shared rule,
    not under its own; b's is the same either way."""
    y, a, b = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])
    idx = np.arange(4)[None, :]
    shared, own = paired_scores(y, a, b, 3, idx), paired_scores(y, a, b, 3, idx, own_classes=True)
    assert shared["macro_f1_a"][0] == pytest.approx(2 / 3) and own["macro_f1_a"][0] == pytest.approx(1.0)
    assert shared["macro_f1_b"][0] == own["macro_f1_b"][0] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert paired_bootstrap(y, a, b, 3, resamples=50, own_classes=True)["macro_f1"]["delta"] == pytest.approx((2 / 3 + 1) / 3 - 1, abs=1e-4)
