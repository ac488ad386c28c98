"""Per-segment metrics and the model card's version and 'Changes since the parent' sections."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convo_outcomes.cli import app
from convo_outcomes.config import flatten
from convo_outcomes.export import changes_since_parent, render_model_card, write_card
from convo_outcomes.labels import LabelSpec
from convo_outcomes.metrics import evaluate_model, evaluate_outputs, head_metrics, segment_metrics
from convo_outcomes.runtime import verify_manifest

SPEC = LabelSpec.default()
CHURN = SPEC["churn_risk"]


def _segment_example():
    """60 records: chat 25 (20 right), voice 25 (all right), email 5, no channel 5."""
    y = np.array([1] * 25 + [0] * 25 + [1] * 5 + [0] * 5)
    right1, wrong1, right0 = [0.2, 0.8], [0.9, 0.1], [0.7, 0.3]
    p = np.array([right1] * 20 + [wrong1] * 5 + [right0] * 25 + [right1] * 5 + [right0] * 5)
    channel = ["chat"] * 25 + ["voice"] * 25 + ["email"] * 5 + [None] * 5
    language = ["en"] * 30 + ["de"] * 30
    y_res = np.full(60, -1)
    y_res[25:50] = 0  # resolution labelled on the voice records only
    p_res = np.tile([0.6, 0.3, 0.1], (60, 1))
    targets = {"churn_risk": y, "resolution": y_res}
    probs = {"churn_risk": p, "resolution": p_res}
    return targets, probs, {"channel": channel, "industry": [None] * 60, "language": language}


def test_by_segment_by_hand() -> None:
    targets, probs, segments = _segment_example()
    rep = evaluate_outputs(SPEC, targets, probs, ["s"] * 60, segments=segments)
    seg = rep["by_segment"]
    assert set(rep) == {"heads", "by_source", "by_segment"}
    # email has 5 labelled records (< 20): left out; records without a channel: left out
    assert set(seg["channel"]) == {"chat", "voice"}
    assert seg["channel"]["chat"]["churn_risk"]["n"] == 25
    assert seg["channel"]["chat"]["churn_risk"]["accuracy"] == 0.8  # 20 of 25 right
    assert seg["channel"]["voice"]["churn_risk"]["accuracy"] == 1.0
    # resolution: 25 labelled voice records, 0 on chat -> only under voice
    assert "resolution" not in seg["channel"]["chat"] and seg["channel"]["voice"]["resolution"]["n"] == 25
    assert seg["industry"] == {}
    # language en = records 0..29: 25 chat (20 right) + 5 voice (right) -> 25 / 30
    assert seg["language"]["en"]["churn_risk"]["n"] == 30 and seg["language"]["en"]["churn_risk"]["accuracy"] == round(25 / 30, 4)
    # de: 20 voice records (resolution labelled, 20 >= 20) and 10 more
    assert seg["language"]["de"]["resolution"]["n"] == 20
    assert seg["channel"]["chat"]["churn_risk"] == head_metrics(CHURN, targets["churn_risk"][:25], probs["churn_risk"][:25])
    # a lower floor brings email back
    assert segment_metrics(SPEC, targets, probs, segments, min_n=5)["channel"]["email"]["churn_risk"]["n"] == 5
    json.dumps(rep)


def test_evaluate_model_reports_segments(tiny_model: Path, tmp_path: Path) -> None:
    src = tmp_path / "labelled.jsonl"
    with src.open("w") as f:
        for i in range(45):
            f.write(json.dumps({
                "id": f"r{i}",
                "turns": [{"speaker": "customer", "text": f"my order {i} is late, cancel it"}, {"speaker": "agent", "text": "done"}],
                "labels": {"churn_risk": "at_risk" if i % 3 else "not_at_risk"},
                "meta": {"source": "t", "channel": "chat" if i < 25 else "voice", "industry": "retail" if i < 10 else None},
            }) + "\n")
    rep = evaluate_model(tiny_model, [src])
    seg = rep["by_segment"]
    assert {v: h["churn_risk"]["n"] for v, h in seg["channel"].items()} == {"chat": 25, "voice": 20}
    assert seg["industry"] == {} and seg["language"] == {}  # 10 retail records < 20; no language at all
    assert set(rep["heads"]) == {"churn_risk"} and set(seg["channel"]["chat"]) == {"churn_risk"}
    import onnxruntime

    assert rep["host"]["onnxruntime"] == onnxruntime.__version__ and rep["host"]["machine"]


def test_scoring_host_reads_the_int8_flags_and_the_card_says_where(tmp_path: Path, configs) -> None:
    """int8 scores differ between CPUs (AVX2 alone saturates), so a report and its card say where they were measured."""
    from convo_outcomes.metrics import scoring_host

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni\n")
    assert scoring_host(info)["cpu_int8"] == ["avx2", "avx512_vnni"]
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2\n")
    assert scoring_host(info)["cpu_int8"] == []
    assert scoring_host(tmp_path / "missing")["cpu_int8"] is None
    _, child = configs
    metrics = {**CHILD_METRICS, "host": {"onnxruntime": "1.32.0", "machine": "x86_64", "cpu_int8": ["avx2"]}}
    card = render_model_card(child, metrics, None)
    assert "Scored with onnxruntime 1.32.0 on x86_64, a CPU with int8 instructions avx2; int8 scores can differ" in card
    assert "Scored with onnxruntime" not in render_model_card(child, CHILD_METRICS, None)


# ---------------------------------------------------------------------------------------------- card


@pytest.fixture()
def configs(tiny_model: Path) -> tuple[dict, dict]:
    parent = json.loads((tiny_model / "config.json").read_text())
    child = copy.deepcopy(parent)
    child.update(version="0.2.0", parent="tiny_model@0.1.0", data_hash="sha256:abc123")
    heads = child["label_spec"]["heads"]
    heads["contact_cause"]["classes"] = [c for c in heads["contact_cause"]["classes"] if c != "other"] + ["warranty"]
    heads["complaint"] = {"type": "binary", "classes": ["no", "yes"], "description": "", "sources": [{"field": "complaint"}]}
    del heads["effort"]
    child["temperatures"] = {**{h: 1.0 for h in heads}}
    child["training"]["config"]["optim"]["lr_heads"] = 0.001
    child["training"]["config"]["data"]["sources"] = ["mine.jsonl"]
    return parent, child


def _m(acc: float, f1: float, n: int = 100) -> dict:
    return {"n": n, "accuracy": acc, "macro_f1": f1, "auc": None, "ece": 0.05}


PARENT_METRICS = {
    "heads": {"resolution": _m(0.8, 0.7), "effort": _m(0.6, 0.5)},
    "by_source": {"synthetic": {"resolution": _m(0.82, 0.72, 60)}},
    "data": {"paths": ["test.jsonl"], "split": "test", "heldout_paths": [], "n": 100},
}
CHILD_METRICS = {
    "heads": {"resolution": _m(0.79, 0.75), "complaint": _m(0.9, 0.85, 40)},
    "by_source": {"synthetic": {"resolution": _m(0.8, 0.7, 60)}},
    "by_segment": {"channel": {"chat": {"resolution": _m(0.81, 0.74, 30)}}, "industry": {}, "language": {}},
    "data": {"paths": ["test.jsonl"], "split": "test", "heldout_paths": [], "n": 100},
}


def test_changes_since_parent_structure(configs) -> None:
    parent, child = configs
    ch = changes_since_parent(child, CHILD_METRICS, parent, PARENT_METRICS)
    assert ch["parent"] == "tiny_model@0.1.0" == ch["declared_parent"]
    assert ch["heads_added"] == ["complaint"] and ch["heads_removed"] == ["effort"]
    assert ch["classes"] == {"contact_cause": {"added": ["warranty"], "removed": ["other"]}}
    assert {r["key"]: (r["old"], r["new"]) for r in ch["training_config"]} == {
        "optim.lr_heads": (0.005, 0.001),
        "data.sources": ([], ["mine.jsonl"]),
    }
    rows = {(r["head"], r["source"]): r for r in ch["metrics"]}
    assert rows[("resolution", "all")]["delta_macro_f1"] == 0.05 and rows[("resolution", "all")]["delta_accuracy"] == -0.01
    assert rows[("resolution", "synthetic")]["delta_macro_f1"] == -0.02
    assert rows[("complaint", "all")]["parent_macro_f1"] is None and rows[("complaint", "all")]["delta_macro_f1"] is None
    assert rows[("effort", "all")]["macro_f1"] is None and rows[("effort", "all")]["parent_macro_f1"] == 0.5
    assert ch["same_data"] is True
    other = dict(PARENT_METRICS, data={**PARENT_METRICS["data"], "split": "validation"})
    assert changes_since_parent(child, CHILD_METRICS, parent, other)["same_data"] is False


def test_config_diff_names_the_field_inside_a_list_of_sources() -> None:
    old = {"data": {"sources": [{"path": "star.jsonl", "weight": 1.0}, {"path": "b.jsonl", "weight": 1.0}]}, "model": {"pooling": ["attention"]}}
    new = {"data": {"sources": [{"path": "star.jsonl", "weight": 3.0}, {"path": "b.jsonl", "weight": 1.0}]}, "model": {"pooling": ["attention", "end"]}}
    a, b = flatten(old), flatten(new)
    assert {k for k in a if a[k] != b.get(k)} == {"data.sources[0].weight", "model.pooling"}
    assert flatten({"data": {"sources": []}}) == {"data.sources": []}


def test_card_shows_version_segments_and_changes(configs) -> None:
    parent, child = configs
    card = render_model_card(child, CHILD_METRICS, None, parent, PARENT_METRICS)
    assert "- version: `0.2.0`" in card and "- parent: `tiny_model@0.1.0`" in card and "`sha256:abc123`" in card
    assert "## Changes since the parent (tiny_model@0.1.0)" in card
    assert "- head added: `complaint`" in card and "- head removed: `effort`" in card
    assert "- `contact_cause`: class added `warranty`" in card and "- `contact_cause`: class removed `other`" in card
    assert "| `optim.lr_heads` | 0.005 | 0.001 |" in card
    assert "| resolution | all | 100 | 0.700 | 0.750 | +0.050 | 0.800 | 0.790 | -0.010 |" in card
    assert "| resolution | synthetic | 60 | 0.720 | 0.700 | -0.020 |" in card
    assert "| complaint | all | 40 | - | 0.850 | - |" in card
    assert "Caution" not in card
    assert "## Metrics by segment" in card and "| channel | chat | resolution | 30 | 0.810 | 0.740 | 0.050 |" in card
    # without a parent folder: lineage only, with the command that adds the comparison
    plain = render_model_card(child, CHILD_METRICS, None)
    assert "Changes since the parent" not in plain and "--parent PARENT_FOLDER" in plain
    # parent without metrics: spec and config changes still listed
    no_metrics = render_model_card(child, CHILD_METRICS, None, parent, None)
    assert "head added: `complaint`" in no_metrics and "the parent folder has no metrics.json" in no_metrics
    # a card without by_segment has no segment table (older metrics.json files)
    assert "Metrics by segment" not in render_model_card(parent, PARENT_METRICS, None)


def test_write_card_with_parent_folder_and_cli(tiny_model: Path, tmp_path: Path, configs) -> None:
    _, child_cfg = configs
    parent, child = tmp_path / "parent", tmp_path / "child"
    shutil.copytree(tiny_model, parent)
    shutil.copytree(tiny_model, child)
    (child / "config.json").write_text(json.dumps(child_cfg))
    (parent / "metrics.json").write_text(json.dumps(PARENT_METRICS))
    readme = write_card(child, CHILD_METRICS, parent=parent)
    text = readme.read_text()
    assert "head added: `complaint`" in text and "| resolution | all | 100 | 0.700 | 0.750 | +0.050 |" in text
    verify_manifest(child)  # the card and metrics.json are in the manifest
    assert json.loads((child / "metrics.json").read_text()) == CHILD_METRICS
    runner = CliRunner()
    res = runner.invoke(app, ["card", str(child), "--parent", str(parent)])
    assert res.exit_code == 0, res.output
    assert (child / "README.md").read_text() == text  # metrics.json reused, same card
    bad = runner.invoke(app, ["card", str(child), "--parent", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "no config.json" in bad.output


def test_card_shows_an_lbfgs_fit_and_class_priors(configs) -> None:
    _, child = configs
    child["training"]["history"] = [{"solver": "lbfgs", "loss_start": 6.11, "loss_end": 0.0338, "iterations": 56, "records": {"contact_cause": 150}, "val_mean_macro_f1": 0.83, "minutes": 0.2}]
    child["training"]["class_priors"] = {"contact_cause": {"warranty": {"share": 0.02, "train_share": 0.46, "bias_shift": -3.135494}}}
    card = render_model_card(child, CHILD_METRICS, None)
    assert "- L-BFGS fit of the learned classifier rows on fixed features (records per head {'contact_cause': 150}): loss 6.11 -> 0.0338 in 56 iterations" in card
    assert "- class prior `contact_cause/warranty`: 46.0% of the training labels, expected 2.0% in scored data (optim.class_priors); bias shifted by -3.135" in card


def test_card_shows_baseline_differences_with_their_interval(configs) -> None:
    _, child = configs
    metrics = copy.deepcopy(CHILD_METRICS)
    base = {"heads": {"resolution": _m(0.8, 0.77), "complaint": _m(0.9, 0.80, 40)}, "by_source": {"synthetic": {"resolution": _m(0.8, 0.69, 60)}}}
    metrics["baselines"] = {"tfidf_lr": base}
    metrics["vs_baselines"] = {"tfidf_lr": {
        "heads": {"resolution": {"n": 100, "diff": -0.02, "ci95": [-0.05, 0.01]},
                  "complaint": {"n": 40, "diff": 0.05, "ci95": [0.01, 0.09]}},
        "by_source": {"synthetic": {"resolution": {"n": 60, "diff": 0.01, "ci95": [-0.02, 0.04]}}},
    }}
    card = render_model_card(child, metrics, None)
    assert "| resolution | all | 0.750 | 0.770 | -0.020 [-0.050, +0.010] |" in card
    assert "| complaint | all | 0.850 | 0.800 | +0.050 [+0.010, +0.090] |" in card
    assert "- resolution on all: 0.750 vs tfidf_lr 0.770 (difference -0.020 [-0.050, +0.010]: within what these records can tell apart)" in card
    metrics["vs_baselines"]["tfidf_lr"]["heads"]["resolution"]["ci95"] = [-0.05, -0.01]
    assert "beyond what these records can tell apart" in render_model_card(child, metrics, None)
    del metrics["vs_baselines"]  # reports made before the comparison existed still render
    old = render_model_card(child, metrics, None)
    assert "| resolution | all | 0.750 | 0.770 |\n" in old and "- resolution on all: 0.750 vs tfidf_lr 0.770\n" in old


def test_card_shows_ece_with_its_interval_when_the_report_has_one(configs) -> None:
    parent, child = configs
    with_ci = copy.deepcopy(CHILD_METRICS)
    with_ci["heads"]["resolution"]["ece_ci95"] = [0.031, 0.088]
    with_ci["by_source"]["synthetic"]["resolution"]["ece_ci95"] = [0.02, 0.071]
    card = render_model_card(child, with_ci, None)
    assert "| head | source | n | accuracy | macro-F1 | AUC | ECE [95%] |" in card
    assert "| resolution | all | 100 | 0.790 | 0.750 | - | 0.050 [0.031, 0.088] |" in card
    assert "| resolution | synthetic | 60 | 0.800 | 0.700 | - | 0.050 [0.020, 0.071] |" in card
    assert "| complaint | all | 40 | 0.900 | 0.850 | - | 0.050 |" in card  # a head without one shows the number alone
    assert "lower bound over 0.05" in card
    older = render_model_card(child, CHILD_METRICS, None)  # reports written before intervals existed
    assert "| head | source | n | accuracy | macro-F1 | AUC | ECE |" in older and "lower bound over 0.05" not in older


def test_card_names_heads_whose_temperature_was_inherited(configs) -> None:
    _, child = configs
    child["calibration"] = {
        "resolution": {"n": 40, "temperature": 1.35, "note": "frozen head: inherited temperature"},
        "contact_cause": {"n": 50, "temperature": 1.56, "before": {"ece": 0.024, "brier": 0.07}, "after": {"ece": 0.011, "brier": 0.07}},
    }
    card = render_model_card(child, CHILD_METRICS, None)
    assert "| resolution | 40 | 1.350 | - | - | - | - |" in card
    assert "| contact_cause | 50 | 1.560 | 0.024 | 0.011 | 0.070 | 0.070 |" in card
    assert "Not refitted (frozen in this run, temperature inherited from the parent): `resolution`." in card
    del child["calibration"]["resolution"]
    assert "Not refitted" not in render_model_card(child, CHILD_METRICS, None)


def test_card_counts_customer_only_views(configs) -> None:
    _, child = configs
    child["training"]["labelled_per_head"] = {"resolution": 90, "contact_cause": 130}
    child["training"]["augmented"] = {"customer_only_views": 40, "heads": ["contact_cause", "churn_risk"]}
    card = render_model_card(child, CHILD_METRICS, None)
    assert "Of them, 40 are customer-only views (a conversation's customer turns alone, `data.augment`), labelled for contact_cause, churn_risk only." in card
    child["training"]["augmented"] = {"customer_only_views": 40, "request_views": 25, "heads": ["contact_cause"]}
    assert ("40 are customer-only views (a conversation's customer turns alone, `data.augment`) and 25 request views "
            "(only the customer turns that state the contact cause), labelled for contact_cause only.") in render_model_card(child, CHILD_METRICS, None)
    child["training"]["augmented"] = None
    assert "customer-only views" not in render_model_card(child, CHILD_METRICS, None)


def test_card_names_the_generated_corpus_industries(configs) -> None:
    _, child = configs
    child["training"]["config"]["data"]["synth"] = {"n": 300, "seed": 4, "industries": ["retail", "insurance"]}
    card = render_model_card(child, CHILD_METRICS, None)
    assert "Generated corpus: 300 conversations, seed 4, industries: retail, insurance." in card
    child["training"]["config"]["data"]["synth"] = {"n": 300, "seed": 4, "industries": None}
    assert "seed 4, industries: the generator's default six (retail," in render_model_card(child, CHILD_METRICS, None)
    child["training"]["config"]["data"]["synth"] = {"n": 300, "seed": 4, "industries": None, "wide_requests": 0.5}
    assert "subscription_software); 50% of opening requests in cross-industry wording." in render_model_card(child, CHILD_METRICS, None)
    child["training"]["config"]["data"]["synth"] = {"n": 0, "seed": 4}
    assert "Generated corpus" not in render_model_card(child, CHILD_METRICS, None)


def test_card_cautions_when_parent_and_child_were_scored_on_different_hosts(configs) -> None:
    parent, child = configs
    vnni = {"onnxruntime": "1.32.0", "machine": "x86_64", "cpu_int8": ["avx2", "avx512_vnni"]}
    avx2 = dict(vnni, cpu_int8=["avx2"])
    same = render_model_card(child, dict(CHILD_METRICS, host=vnni), None, parent, dict(PARENT_METRICS, host=vnni))
    assert "host" not in same.split("**Held-out metrics**")[1].split("|")[0]
    other = render_model_card(child, dict(CHILD_METRICS, host=vnni), None, parent, dict(PARENT_METRICS, host=avx2))
    assert "Caution: the parent's host (int8 CPU flags ['avx2']" in other
    unknown = render_model_card(child, dict(CHILD_METRICS, host=vnni), None, parent, PARENT_METRICS)
    assert "Caution: the parent's host (not recorded in its report)" in unknown


def _labelled(path: Path, source: str, n: int = 24) -> Path:
    causes = ["refund", "order_status", "order_change"]
    path.write_text("".join(json.dumps({
        "id": f"{source}-{i}",
        "turns": [{"speaker": "customer", "text": f"please {causes[i % 3].replace('_', ' ')} for order {i}"}],
        "labels": {"cause": causes[i % 3]},
        "meta": {"source": source},
    }) + "\n" for i in range(n)))
    return path


def test_card_shows_sources_it_never_trained_on_and_keeps_them(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    outside_file = _labelled(tmp_path / "outside.jsonl", "elsewhere")
    train_file = _labelled(tmp_path / "train.jsonl", "synthetic", 60)
    held = evaluate_model(folder, [train_file])
    outside = evaluate_model(folder, [], heldout_data=[outside_file], baselines=["tfidf_lr"], train_data=[train_file])
    text = write_card(folder, held, outside=outside).read_text()
    m, b = outside["by_source"]["elsewhere"]["contact_cause"], outside["baselines"]["tfidf_lr"]["by_source"]["elsewhere"]["contact_cause"]
    d = outside["vs_baselines"]["tfidf_lr"]["by_source"]["elsewhere"]["contact_cause"]
    section = text.split("## Sources it never trained on")[1].split("\n## ")[0]
    assert (f"| contact_cause | elsewhere | 24 | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['macro_f1_gold']:.3f} | "
            f"{m['ece']:.3f} | {b['accuracy']:.3f} | {d['diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}] |") in section
    assert "| contact_cause | all outside | 24 |" in section
    assert f"on 24 records from sources outside its training data it reached contact_cause accuracy {m['accuracy']:.2f} with ECE {m['ece']:.3f}" in text
    kept = json.loads((folder / "metrics.json").read_text())
    assert kept["outside"]["by_source"] == outside["by_source"] and kept["heads"] == held["heads"]
    verify_manifest(folder)
    # regenerating the card from the folder alone keeps the section (metrics.json carries it)
    res = CliRunner().invoke(app, ["card", str(folder)])
    assert res.exit_code == 0, res.output
    assert (folder / "README.md").read_text() == text


def test_an_outside_report_on_a_trained_source_or_without_metrics_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    (folder / "metrics.json").unlink(missing_ok=True)
    seen = evaluate_model(folder, [], heldout_data=[_labelled(tmp_path / "seen.jsonl", "Synthetic")])
    elsewhere = evaluate_model(folder, [], heldout_data=[_labelled(tmp_path / "o.jsonl", "elsewhere")])
    before = (folder / "README.md").read_text()
    (tmp_path / "seen.json").write_text(json.dumps(seen))
    (tmp_path / "elsewhere.json").write_text(json.dumps(elsewhere))
    runner = CliRunner()
    res = runner.invoke(app, ["card", str(folder), "--outside", str(tmp_path / "elsewhere.json")])
    assert res.exit_code == 2 and "needs held-out metrics first" in res.output
    (tmp_path / "held.json").write_text(json.dumps(elsewhere))
    res = runner.invoke(app, ["card", str(folder), "--metrics", str(tmp_path / "held.json"), "--outside", str(tmp_path / "seen.json")])
    assert res.exit_code == 2 and "source 'Synthetic' is one the model trained on" in res.output
    assert (folder / "README.md").read_text() == before and not (folder / "metrics.json").exists()
    # without an outside report the card says that transfer was not measured
    fresh = write_card(folder, elsewhere).read_text()
    assert "**Sources it never saw** were not measured for this model" in fresh and "## Sources it never trained on" not in fresh
