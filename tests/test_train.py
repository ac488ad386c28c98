"""Tiny-model training: configs load, loss falls, masking holds, save/load round-trips."""

from __future__ import annotations

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
