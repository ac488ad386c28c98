"""The lexical blend: numpy TF-IDF parity with scikit-learn, and a blended version of the tiny bundle
that the torch-free runtime loads and scores exactly as the formula says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convo_outcomes.baselines import TfidfBaseline
from convo_outcomes.data import read_conversations, split_of
from convo_outcomes.labels import LabelSpec
from convo_outcomes.lexical import LEXICAL_ARRAYS, LEXICAL_JSON, WEIGHT_GRID, BlendError, LexicalHead, LexicalPrior, _long_call_guard, fit_blend, mix
from convo_outcomes.metrics import _split_settings
from convo_outcomes.render import render_text
from convo_outcomes.runtime import ModelLoadError, Scorer
from convo_outcomes.synth import generate

from .test_runtime import assert_scores_without

SPEC = LabelSpec.default()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lex") / "synth.jsonl"
    generate(400, 7, path)
    return path


@pytest.fixture(scope="module")
def blended(tiny_model: Path, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("blend") / "tiny-blend"
    r = subprocess.run(
        [sys.executable, "-m", "convo_outcomes.cli", "blend", "--model", str(tiny_model), "--data", str(corpus),
         "--output", str(out), "--version", "9.9.9", "--max-features", "3000", "--min-long-calls", "0"],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wrote" in r.stdout and "weight" in r.stdout
    return out


def test_numpy_prior_reproduces_scikit_learn(corpus: Path) -> None:
    convs = list(read_conversations([corpus]))
    tf = TfidfBaseline(SPEC, max_features=2000).fit(convs[:300])
    prior = LexicalPrior.from_tfidf(tf, SPEC, {h: (0.5, 1.0) for h in tf.models})
    texts = [render_text(c.turns) for c in convs[300:]] + ["", "x", "Ünïcode CAFÉ naïve 42 refund refund refund", "the the the"]
    mine = prior.log_probs(texts)
    X = tf.vectorizer.transform(texts)
    assert {len(lr.classes_) for lr in tf.models.values()} >= {2, 3}  # a binary and a multiclass regression
    for h, lr in tf.models.items():
        want = np.zeros((len(texts), SPEC[h].num_classes))
        want[:, lr.classes_] = lr.predict_proba(X)
        np.testing.assert_allclose(np.exp(mine[h]), want + 1e-9, atol=1e-5, err_msg=h)
    cols, vals = prior.features("refund refund my order")
    assert np.isclose(np.linalg.norm(vals), 1.0) and len(set(cols.tolist())) == len(cols)


def test_blended_version_scores_exactly_the_mix(tiny_model: Path, corpus: Path, blended: Path) -> None:
    parent, child = Scorer.load(tiny_model), Scorer.load(blended)  # load verifies the new manifest
    config = json.loads((blended / "config.json").read_text())
    assert config["version"] == "9.9.9" and config["parent"] == parent.version
    weights = config["lexical"]["weights"]
    assert weights, "the tiny encoder should lose to bag-of-words somewhere and blend at least one head"
    assert set(weights) == set(child.lexical.heads) and all(0 < w < 1 for w in weights.values())
    # independently: the parent's logits, scikit-learn's probabilities on the same training split, the formula
    settings = _split_settings(parent.config)
    records = list(read_conversations([corpus]))
    train = [c for c in records if split_of(c, **settings) == "train"]
    test = [c for c in records if split_of(c, **settings) == "test"]
    tf = TfidfBaseline(SPEC, max_features=3000).fit(train)
    sk = tf.predict_proba(test)
    stored = LexicalPrior.from_tfidf(tf, SPEC, {h: (w, 1.0) for h, w in weights.items()}).quantized()
    lex = stored.log_probs([render_text(c.turns) for c in test])
    base, got = parent.logits(test), child.logits(test)
    for h in SPEC.head_names:
        if h in weights:
            want = mix(base[h], parent.temperatures[h], lex[h], weights[h])
            np.testing.assert_allclose(got[h], want, atol=2e-4, err_msg=h)
            # int8 storage moves the prior's probabilities a little, never far, from scikit-learn's
            assert np.abs(np.exp(lex[h]) - sk[h]).max() < 0.05, h
            assert child.temperatures[h] == config["lexical"]["temperatures"][h]
        else:
            np.testing.assert_array_equal(got[h], base[h])
            assert child.temperatures[h] == parent.temperatures[h]
    for p, lg in zip(child.score(test[:5]), range(5)):
        for h in weights:
            z = got[h][lg] / child.temperatures[h]
            want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
            np.testing.assert_allclose(list(p.heads[h].probs.values()), want, atol=1e-5)
    # the weight chosen is the best allowed one on the validation curve it reports, ties to the smaller
    for h, v in config["lexical"]["validation"].items():
        if "mean_source_macro_f1" in v:
            curve = [c if ok else -1.0 for c, ok in zip(v["mean_source_macro_f1"], v["allowed"])]
            assert v["weight"] == v["grid"][curve.index(max(curve))]
    card = (blended / "README.md").read_text()
    assert "## Lexical blend" in card and all(f"| {h} |" in card for h in weights)


def test_card_says_the_blend_was_added_since_the_parent(tiny_model: Path, blended: Path, tmp_path: Path) -> None:
    from convo_outcomes.export import write_card

    copy = tmp_path / "m"
    shutil.copytree(blended, copy)
    card = write_card(copy, parent=tiny_model).read_text()
    assert "**Lexical blend.** added" in card
    Scorer.load(copy)  # the manifest was rewritten with the card


def test_blended_model_runs_without_torch_or_scikit_learn(blended: Path) -> None:
    assert_scores_without(blended, ("torch", "transformers", "sklearn", "scipy"))


def test_blend_refuses_what_it_cannot_do(tiny_model: Path, corpus: Path, blended: Path, tmp_path: Path) -> None:
    with pytest.raises(BlendError, match="exists"):
        fit_blend(tiny_model, [corpus], blended)
    with pytest.raises(BlendError, match="already blended"):
        fit_blend(blended, [corpus], tmp_path / "twice")
    with pytest.raises(BlendError, match=r"heads \['sentiment'\] are not in"):
        fit_blend(tiny_model, [corpus], tmp_path / "x", heads=["sentiment"])
    one = tmp_path / "one.jsonl"
    one.write_text(corpus.read_text().splitlines()[0] + "\n")
    with pytest.raises(BlendError, match="train and .* validation records"):
        fit_blend(tiny_model, [one], tmp_path / "y")
    assert not (tmp_path / "y").exists() and not (tmp_path / "x").exists()


def test_a_damaged_prior_is_refused_with_its_file_named(blended: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(blended, copy)
    with np.load(copy / LEXICAL_ARRAYS) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["idf"] = arrays["idf"][:-1]
    np.savez_compressed(copy / LEXICAL_ARRAYS, **arrays)
    with pytest.raises(ModelLoadError, match="lexical.npz"):  # the manifest no longer matches
        Scorer.load(copy)
    with pytest.raises(ModelLoadError, match="idf has shape"):  # and unverified, the arrays themselves
        Scorer.load(copy, verify=False)
    doc = json.loads((blended / LEXICAL_JSON).read_text())
    assert doc["format"].startswith("convo-outcomes/lexical/")
    with pytest.raises(BlendError, match="weight must be in"):
        LexicalPrior(["a"], np.ones(1, np.float32), {"churn_risk": LexicalHead(np.arange(2), np.ones((1, 1), np.float32), np.zeros(1, np.float32), 1.0, 1.0)}, {"churn_risk": 2})


def test_long_call_guard_forbids_weights_that_lose_calls_decided_at_the_end() -> None:
    """The encoder gets the 60 long calls right, bag-of-words gets them wrong: only small weights keep them."""
    rng = np.random.default_rng(0)
    n, long_n = 100, 60
    y = rng.integers(0, 3, n)
    logits = np.eye(3)[y] * 2.0  # the encoder: right everywhere, not very sure
    wrong = (y + 1) % 3
    lexical = np.log(np.eye(3)[wrong] * 0.98 + 0.01)  # the prior: sure and wrong everywhere
    long_end = np.arange(n) < long_n
    right, allowed = _long_call_guard(logits, 1.0, lexical, y, long_end, WEIGHT_GRID)
    assert right[0] == long_n and allowed[0]
    assert allowed == [r >= long_n for r in right] and not all(allowed)
    assert allowed[: allowed.index(False)] == [True] * allowed.index(False)  # a prefix of small weights
    few = np.arange(n) < 49  # too few to vouch for any weight: the encoder alone
    assert _long_call_guard(logits, 1.0, lexical, y, few, WEIGHT_GRID) == (None, [w == 0.0 for w in WEIGHT_GRID])
    assert _long_call_guard(logits, 1.0, lexical, y, few, WEIGHT_GRID, min_calls=0) == (None, [True] * len(WEIGHT_GRID))


def test_without_enough_long_calls_nothing_is_blended(tiny_model: Path, corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(BlendError, match="no head is blended.*too few long calls"):
        fit_blend(tiny_model, [corpus], tmp_path / "guarded", max_features=3000)
    assert not (tmp_path / "guarded").exists() and not (tmp_path / "guarded.tmp").exists()


def test_warm_start_from_a_blended_model_takes_the_heads_own_temperatures(tiny_model: Path, blended: Path) -> None:
    """The prior is not carried into a retrained child; what is carried must be the encoder's heads as they were."""
    from convo_outcomes.warmstart import torch_model_from

    child, parent = torch_model_from(blended), torch_model_from(tiny_model)
    np.testing.assert_array_equal(child.temperatures.numpy(), parent.temperatures.numpy())
    assert child.temperatures.tolist() != [Scorer.load(blended).temperatures[h] for h in child.head_names]


def test_guard_data_checks_long_calls_validation_lacks(tiny_model: Path, corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(BlendError, match="in the training split"):
        fit_blend(tiny_model, [corpus], tmp_path / "a", max_features=3000, guard_data=[corpus])
    longs = tmp_path / "long.jsonl"
    from convo_outcomes.synth import SynthConfig

    generate(30, 8, longs, SynthConfig(long_share=0.45))
    result = fit_blend(tiny_model, [corpus], tmp_path / "b", max_features=3000, min_long_calls=5, guard_data=[longs])
    info = Scorer.load(result.output).lexical.info["chosen_on"]
    assert info["guard_data"]["records"] == 30 and info["guard_data"]["long_end_calls"] >= 1
    checked = [v for v in result.validation.values() if "long_end_right" in v]
    assert checked and all(v["long_end_right"] is not None for v in checked)
    assert all(v["allowed"] == [r >= v["long_end_right"][0] for r in v["long_end_right"]] for v in checked)


def test_prior_is_stored_int8_and_loads_exactly_as_quantized(corpus: Path, tmp_path: Path) -> None:
    convs = list(read_conversations([corpus]))
    tf = TfidfBaseline(SPEC, max_features=2000).fit(convs[:300])
    exact = LexicalPrior.from_tfidf(tf, SPEC, {h: (0.5, 1.0) for h in tf.models})
    q = exact.quantized()
    for h in q.heads:
        np.testing.assert_array_equal(q.quantized().heads[h].coef, q.heads[h].coef)  # quantizing twice changes nothing
        row_max = np.abs(exact.heads[h].coef).max(axis=1, keepdims=True)
        assert np.all(np.abs(q.heads[h].coef - exact.heads[h].coef) <= row_max / 254 + 1e-6)  # half a step at most
    q.save(tmp_path)
    with np.load(tmp_path / LEXICAL_ARRAYS) as z:
        assert all(z[f"{h}.coef"].dtype == np.int8 for h in q.heads)
    back = LexicalPrior.load(tmp_path)
    for h in q.heads:
        np.testing.assert_array_equal(back.heads[h].coef, q.heads[h].coef)
