"""Tiny-model training: configs load, loss falls, masking holds, save/load round-trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from convo_outcomes.config import ConfigError, TrainConfig, apply_overrides
from convo_outcomes.labels import LabelSpec
from convo_outcomes.model import OutcomeModel, build_encoder, collate, predict_logits
from convo_outcomes.render import Windower, WindowConfig
from convo_outcomes.schema import Conversation
from convo_outcomes.train import Example, class_weights, cpu_has_native_bf16, length_batches, masked_loss

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "training" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_config_loads(path: Path) -> None:
    cfg = TrainConfig.load(path)
    assert cfg.name == path.stem
    assert cfg.window.max_length >= 16


def test_config_errors_name_field_range_and_value() -> None:
    with pytest.raises(ConfigError, match=r"optim.epochs must be in \[1, 100\], found 0"):
        TrainConfig.load(CONFIGS[0], ["optim.epochs=0"])
    with pytest.raises(ConfigError, match=r"optim.bogus"):
        TrainConfig.load(CONFIGS[0], ["optim.bogus=1"])
    with pytest.raises(ConfigError, match=r"window.overlap"):
        TrainConfig.from_dict({"data": {"synth": {"n": 5}}, "window": {"max_length": 64, "overlap": 40}})


def test_synth_industries_are_validated_and_name_their_own_cache(tmp_path: Path) -> None:
    """A corpus from other industries is another file, so a cached default corpus is never reused for it."""
    from convo_outcomes.train import synth_path

    with pytest.raises(ConfigError, match=r"data.synth.industries must be null or a non-empty list of distinct names from .*found \['pizza'\]"):
        TrainConfig.load(CONFIGS[0], ["data.synth.industries=[pizza]"])
    plain = TrainConfig.load(CONFIGS[0], ["data.synth.n=12", "data.synth.seed=3"])
    mixed = TrainConfig.load(CONFIGS[0], ["data.synth.n=12", "data.synth.seed=3", "data.synth.industries=[insurance, retail]"])
    a, b = synth_path(plain, tmp_path), synth_path(mixed, tmp_path)
    assert a.name == "synth-n12-seed3.jsonl" and b.name == "synth-n12-seed3-insurance+retail.jsonl"
    industries = {json.loads(line)["meta"]["industry"] for line in b.read_text().splitlines()}
    assert industries <= {"insurance", "retail"} and len(b.read_text().splitlines()) == 12


def test_synth_wide_requests_are_validated_and_name_their_own_cache(tmp_path: Path) -> None:
    from convo_outcomes.train import synth_path

    with pytest.raises(ConfigError, match=r"data.synth.wide_requests must be null or in \[0, 1\], found 2"):
        TrainConfig.load(CONFIGS[0], ["data.synth.wide_requests=2"])
    wide = TrainConfig.load(CONFIGS[0], ["data.synth.n=12", "data.synth.seed=3", "data.synth.wide_requests=0.5"])
    off = TrainConfig.load(CONFIGS[0], ["data.synth.n=12", "data.synth.seed=3", "data.synth.wide_requests=0"])
    a, b = synth_path(wide, tmp_path), synth_path(off, tmp_path)
    assert a.name == "synth-n12-seed3-wide0.5.jsonl" and b.name == "synth-n12-seed3.jsonl"
    assert a.read_text() != b.read_text() and len(a.read_text().splitlines()) == 12


def test_bf16_auto_follows_the_cpu_flags(tmp_path: Path) -> None:
    assert TrainConfig.load(CONFIGS[0], ["optim.bf16=auto"]).optim.bf16 == "auto"
    with pytest.raises(ConfigError, match=r"optim.bf16 must be true, false or 'auto', found 'fast'"):
        TrainConfig.load(CONFIGS[0], ["optim.bf16=fast"])
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    assert cpu_has_native_bf16(info) is False
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n")
    assert cpu_has_native_bf16(info) is True
    assert cpu_has_native_bf16(tmp_path / "absent") is False
    assert cpu_has_native_bf16() is bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())  # this machine, as torch sees it


def test_overrides_parse_yaml_values() -> None:
    d = apply_overrides({"optim": {"epochs": 3}}, ["optim.epochs=1", "optim.bf16=true", "data.synth.n=50"])
    assert d == {"optim": {"epochs": 1, "bf16": True}, "data": {"synth": {"n": 50}}}


def _conversations() -> list[Conversation]:
    rng = np.random.default_rng(0)
    out = []
    causes = {"refund": "i want my money back for the blender", "account_access": "i cannot log in to my account"}
    for i in range(48):
        cause = "refund" if i % 2 else "account_access"
        resolved = i % 3 != 0
        turns = [
            {"speaker": "customer", "text": causes[cause] + " " + " ".join(rng.choice(["please", "today", "now", "thanks"], 3))},
            {"speaker": "agent", "text": "let me check that for you"},
            {"speaker": "customer", "text": "great that fixed it" if resolved else "that did not help at all"},
        ]
        out.append(
            Conversation.model_validate(
                {"id": f"c{i}", "turns": turns, "labels": {"cause": cause, "resolution": "resolved" if resolved else "unresolved"}, "meta": {"source": "t"}}
            )
        )
    return out


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    spec = LabelSpec.default()
    window = WindowConfig(max_length=32, overlap=4, max_windows=8)
    enc, tok = build_encoder("tiny", tiny_hidden=32, tiny_layers=1)
    model = OutcomeModel(enc, spec, window, dropout=0.0)
    windower = Windower.from_file(tok, window)
    convs = _conversations()
    encoded = windower.encode_many([c.turns for c in convs])
    examples = [
        Example(c.id, c.source, e, np.array([-1 if v is None else v for v in spec.targets(c.labels).values()]))
        for c, e in zip(convs, encoded)
    ]
    return spec, model, windower, examples, tok


def _train_steps(model, spec, examples, pad_id, steps=30):
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    cw = class_weights(examples, spec, 0.5)
    batch = collate([e.encoded for e in examples], pad_id)
    targets = torch.from_numpy(np.stack([e.targets for e in examples]))
    losses = []
    model.train()
    for _ in range(steps):
        logits, _ = model(**batch)
        loss, _ = masked_loss(logits, targets, spec, cw, {})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def test_loss_falls_and_unlabelled_heads_are_untouched(tiny) -> None:
    spec, model, windower, examples, _ = tiny
    before = {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith(("classifier.effort", "attn.effort"))}
    losses = _train_steps(model, spec, examples, windower.pad_id)
    assert losses[-1] < 0.5 * losses[0], losses
    # no record carries an effort label: masking means its head never receives a gradient
    for n, p in model.named_parameters():
        if n in before:
            assert torch.equal(p, before[n]), n


def test_masked_loss_ignores_unknown_targets(tiny) -> None:
    spec = tiny[0]
    logits = {h.name: torch.zeros(2, h.num_classes) for h in spec}
    targets = torch.full((2, len(spec.heads)), -1)
    total, parts = masked_loss(logits, targets, spec, [torch.ones(h.num_classes) for h in spec], {})
    assert parts == {} and float(total) == 0.0
    targets[0, spec.head_names.index("resolution")] = 0
    total, parts = masked_loss(logits, targets, spec, [torch.ones(h.num_classes) for h in spec], {})
    assert list(parts) == ["resolution"]
    assert float(total) == pytest.approx(np.log(3), rel=1e-5)


def test_save_load_round_trip(tiny, tmp_path: Path) -> None:
    spec, model, windower, examples, tok = tiny
    model.eval()
    model.temperatures.copy_(torch.tensor([1.5, 1.0, 2.0, 0.9, 1.1]))
    before = predict_logits(model, [e.encoded for e in examples], windower.pad_id)
    model.save(tmp_path / "m", tok)
    loaded = OutcomeModel.load(tmp_path / "m")
    after = predict_logits(loaded, [e.encoded for e in examples], windower.pad_id)
    for h in spec.head_names:
        np.testing.assert_allclose(before[h], after[h], atol=1e-5)
    assert loaded.temperatures.tolist() == pytest.approx([1.5, 1.0, 2.0, 0.9, 1.1])
    assert (tmp_path / "m" / "label_spec.yaml").exists() and (tmp_path / "m" / "tokenizer.json").exists()


def test_batches_are_independent_of_batching(tiny) -> None:
    """A conversation's prediction must not depend on what it is batched with (padding is masked)."""
    spec, model, windower, examples, _ = tiny
    model.eval()
    encoded = [e.encoded for e in examples]
    together = predict_logits(model, encoded, windower.pad_id, max_tokens=100_000)
    alone = predict_logits(model, encoded[:1], windower.pad_id)
    for h in spec.head_names:
        np.testing.assert_allclose(together[h][:1], alone[h], atol=1e-4)


def test_long_conversation_is_read_whole(tiny) -> None:
    """The last turn of a long call lands in a window; nothing is cut at max_length."""
    tok = tiny[4]
    turns = [{"speaker": "agent", "text": f"step {i} of the troubleshooting guide"} for i in range(60)]
    turns.append({"speaker": "customer", "text": "it works now thank you"})
    enc = Windower.from_file(tok, WindowConfig(max_length=32, overlap=4, max_windows=64)).encode(turns)
    assert enc.n_windows > 5 and enc.windows_dropped == 0
    assert enc.token_turns[-1].max() == len(turns) - 1
    covered = set(np.concatenate(enc.token_turns).tolist()) - {-1}
    assert covered == set(range(len(turns)))
    assert all(len(w) <= 32 for w in enc.input_ids)


def test_window_cap_keeps_start_and_end(tiny) -> None:
    """Past max_windows, overlap goes first, then the middle: the ending (resolution) is always kept."""
    windower, tok = tiny[2], tiny[4]
    turns = [{"speaker": "agent", "text": f"step {i} of the troubleshooting guide"} for i in range(60)]
    turns.append({"speaker": "customer", "text": "it works now thank you"})
    enc = windower.encode(turns)  # max_windows=8
    assert enc.n_windows == 8 and enc.windows_dropped > 0
    assert enc.token_turns[0][1] == 0
    assert enc.token_turns[-1].max() == len(turns) - 1


def test_length_batches_respect_budget(tiny) -> None:
    encoded = [e.encoded for e in tiny[3]]
    batches = length_batches(encoded, max_tokens=200, max_conversations=8, shuffle_seed=3)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(encoded)))
    for b in batches:
        cost = sum(encoded[i].n_windows for i in b) * max(max(encoded[i].lengths) for i in b)
        assert cost <= 200 or len(b) == 1


def test_data_hash_follows_bytes_and_split_not_location(tmp_path: Path) -> None:
    from convo_outcomes.train import _data_hash

    a, b = tmp_path / "run-a" / "synth.jsonl", tmp_path / "run-b" / "synth.jsonl"
    for p in (a, b):
        p.parent.mkdir()
        p.write_text('{"id": "1"}\n')
    split = {"name": "synthetic", "train": 1, "validation": 0, "test": 0}
    assert _data_hash([{**split, "path": str(a)}]) == _data_hash([{**split, "path": str(b)}])
    b.write_text('{"id": "2"}\n')
    assert _data_hash([{**split, "path": str(a)}]) != _data_hash([{**split, "path": str(b)}])
    assert _data_hash([{**split, "path": str(a)}]) != _data_hash([{**split, "train": 0, "test": 1, "path": str(a)}])


def test_customer_only_views_are_stable_and_keep_only_the_customers_turns() -> None:
    from convo_outcomes.train import VIEW_SUFFIX, customer_only_views

    convs = _conversations()
    alone = Conversation.model_validate({"id": "solo", "turns": [{"speaker": "customer", "text": "refund please"}], "meta": {"source": "t"}})
    all_views = customer_only_views(convs + [alone], 1.0, seed=0)
    assert [v.id for v in all_views] == [c.id + VIEW_SUFFIX for c in convs]  # nothing to drop in "solo": no view
    assert all(t.speaker == "customer" for v in all_views for t in v.turns)
    assert [t.text for t in all_views[3].turns] == [convs[3].turns[0].text, convs[3].turns[2].text]
    assert all_views[3].labels == convs[3].labels
    assert customer_only_views(convs, 0.0, seed=0) == []
    half = {v.id for v in customer_only_views(convs, 0.5, seed=0)}
    assert 10 < len(half) < 38
    assert half == {v.id for v in customer_only_views(list(reversed(convs)), 0.5, seed=0)}  # order does not matter
    assert half != {v.id for v in customer_only_views(convs, 0.5, seed=1)}


def test_request_views_keep_only_the_customer_turns_that_state_the_cause() -> None:
    from convo_outcomes.train import REQUEST_SUFFIX, VIEW_SUFFIX, customer_only_views, request_views, view_parent

    convs = [c.model_copy(update={"meta": c.meta.model_copy(update={"evidence_turns": {"contact_cause": [0, 1], "resolution": [2]}})})
             for c in _conversations()]
    unmarked = _conversations()[0].model_copy(update={"id": "plain"})  # no evidence turns: a public record
    views = request_views(convs + [unmarked], 1.0, seed=0)
    assert [v.id for v in views] == [c.id + REQUEST_SUFFIX for c in convs]
    # turn 1 is the agent's: only the customer's statement of the cause is kept
    assert all([t.text for t in v.turns] == [c.turns[0].text] for v, c in zip(views, convs))
    assert views[5].labels == convs[5].labels and view_parent(views[5].id) == convs[5].id == view_parent(convs[5].id + VIEW_SUFFIX)
    assert request_views(convs, 0.0, seed=0) == []
    half = {v.id for v in request_views(convs, 0.5, seed=0)}
    assert 10 < len(half) < 38 and half == {v.id for v in request_views(list(reversed(convs)), 0.5, seed=0)}
    # picked independently of the customer-only views, so the two do not always land on the same conversations
    assert {view_parent(i) for i in half} != {view_parent(v.id) for v in customer_only_views(convs, 0.5, seed=0)}
    alone = convs[0].model_copy(update={"id": "alone", "turns": convs[0].turns[:1]})
    assert request_views([alone], 1.0, seed=0) == []  # already just the request: nothing to add
    with pytest.raises(ConfigError, match=r"data.augment.request_only must be in \[0, 1\], found 1.5"):
        TrainConfig.load(CONFIGS[0], ["data.augment.request_only=1.5"])


def test_views_train_only_the_heads_whose_labels_survive(tiny) -> None:
    from convo_outcomes.train import VIEW_SUFFIX, TrainError, mask_views

    spec, _, windower, examples, _ = tiny
    view = Example(examples[0].id + VIEW_SUFFIX, "t", examples[0].encoded, examples[0].targets.copy(), evidence={0: [2]})
    plain = Example(examples[1].id, "t", examples[1].encoded, examples[1].targets.copy(), evidence={0: [2]})
    assert view.targets[spec.head_names.index("resolution")] >= 0 and view.targets[spec.head_names.index("contact_cause")] >= 0
    mask_views([view, plain], spec, ["contact_cause"])
    assert [h for j, h in enumerate(spec.head_names) if view.targets[j] >= 0] == ["contact_cause"]
    assert view.evidence == {}
    assert np.array_equal(plain.targets, examples[1].targets) and plain.evidence == {0: [2]}
    with pytest.raises(TrainError, match=r"data.augment.heads: \['cause'\] are not heads of the label spec"):
        mask_views([view], spec, ["cause"])
    with pytest.raises(ConfigError, match=r"data.augment.customer_only must be in \[0, 1\], found 1.5"):
        TrainConfig.load(CONFIGS[0], ["data.augment.customer_only=1.5"])
    with pytest.raises(ConfigError, match=r"data.augment.bogus"):
        TrainConfig.load(CONFIGS[0], ["data.augment.bogus=1"])


def _tiny_run(tmp_path: Path, name: str, data: dict, optim: dict) -> TrainConfig:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(c.model_dump_json(exclude_none=True) + "\n" for c in _conversations()))
    return TrainConfig.from_dict(
        {
            "seed": 3,
            "output_dir": str(tmp_path / name),
            "data": {"sources": [{"path": str(path), "name": "t"}], **data},
            "model": {"base": "tiny", "tiny_layers": 1},
            "window": {"max_length": 32, "overlap": 4, "max_windows": 4},
            "optim": {"epochs": 1, "max_conversations": 4, **optim},
        }
    )


def test_stop_after_steps_stops_on_the_schedule_of_max_steps(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from convo_outcomes.train import train

    replay = train(_tiny_run(tmp_path, "replay", {}, {"max_steps": 8, "stop_after_steps": 3}))
    short = train(_tiny_run(tmp_path, "short", {}, {"max_steps": 3}))
    assert replay.steps == short.steps == 3
    a, b = load_file(Path(replay.final_dir) / "model.safetensors"), load_file(Path(short.final_dir) / "model.safetensors")
    # same data, seed and steps; only the learning rate schedule differs (annealed over 8 steps, not 3)
    assert any(not torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ConfigError, match=r"optim.stop_after_steps must be > 0 or null, found 0"):
        TrainConfig.load(CONFIGS[0], ["optim.stop_after_steps=0"])


def test_training_with_views_records_them(tmp_path: Path) -> None:
    from convo_outcomes.train import train

    result = train(_tiny_run(tmp_path, "run", {"augment": {"customer_only": 1.0}}, {"max_steps": 2}))
    info = json.loads((tmp_path / "run" / "data_sources.json").read_text())
    n_train = info["sources"][0]["train"]
    assert info["augmented"] == {"customer_only_views": n_train, "heads": ["contact_cause"]}
    # every training record and its view carry a cause; only the originals carry resolution
    assert info["labelled_per_head"]["contact_cause"] == 2 * n_train
    assert info["labelled_per_head"]["resolution"] == n_train
    saved = json.loads((Path(result.final_dir) / "outcome_config.json").read_text())
    assert saved["training"]["augmented"] == info["augmented"]  # what export copies into the model folder and card


def test_training_with_request_views_counts_them(tmp_path: Path) -> None:
    from convo_outcomes.train import train

    cfg = _tiny_run(tmp_path, "run", {"augment": {"request_only": 1.0}}, {"max_steps": 1})
    marked = [c.model_copy(update={"meta": c.meta.model_copy(update={"evidence_turns": {"contact_cause": [0]}})}) for c in _conversations()]
    (tmp_path / "d.jsonl").write_text("".join(c.model_dump_json(exclude_none=True) + "\n" for c in marked))
    train(cfg)
    info = json.loads((tmp_path / "run" / "data_sources.json").read_text())
    n_train = info["sources"][0]["train"]
    assert info["augmented"] == {"customer_only_views": 0, "heads": ["contact_cause"], "request_views": n_train}
    assert info["labelled_per_head"]["contact_cause"] == 2 * n_train and info["labelled_per_head"]["resolution"] == n_train


def test_resume_continues_the_same_run_and_refuses_different_settings(tmp_path: Path) -> None:
    from convo_outcomes.train import TrainError, train

    whole = train(_tiny_run(tmp_path, "whole", {}, {"max_steps": 6}))
    first = train(_tiny_run(tmp_path, "split", {}, {"max_steps": 6, "stop_after_steps": 3}))
    assert first.steps == 3
    with pytest.raises(TrainError) as err:
        train(_tiny_run(tmp_path, "split", {"augment": {"customer_only": 0.5}}, {"max_steps": 6}), resume=True)
    assert "data.augment.customer_only: the run has 0.0, now 0.5" in str(err.value)
    assert "stop_after_steps: the run" not in str(err.value)  # how long a run goes may change on resume
    # a run started before a setting existed resumes when the setting is at its default, not when it is not
    saved_path = tmp_path / "split" / "train_config.json"
    saved = json.loads(saved_path.read_text())
    del saved["optim"]["evidence_weight"]
    saved_path.write_text(json.dumps(saved))
    with pytest.raises(TrainError, match=r"optim.evidence_weight: the run has '\(unset\)', now 0.7"):
        train(_tiny_run(tmp_path, "split", {}, {"max_steps": 6, "evidence_weight": 0.7}), resume=True)
    resumed = train(_tiny_run(tmp_path, "split", {}, {"max_steps": 6}), resume=True)
    assert resumed.steps == whole.steps == 6
    # the last weights (final/ holds the best by validation, which the stop's extra validation may change)
    a = torch.load(tmp_path / "whole" / "checkpoint" / "state.pt", weights_only=False)
    b = torch.load(tmp_path / "split" / "checkpoint" / "state.pt", weights_only=False)
    assert a["state"]["step"] == b["state"]["step"] == 6
    assert all(torch.allclose(a["model"][k], b["model"][k], atol=1e-6) for k in a["model"])  # no batch lost or repeated
