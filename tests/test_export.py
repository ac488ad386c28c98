"""Export: named dynamic axes, one output per head, manifest, parity report, typed failure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from convo_outcomes.export import ParityError, export_model
from convo_outcomes.labels import LabelSpec
from convo_outcomes.model import OutcomeModel, build_encoder
from convo_outcomes.render import WindowConfig
from convo_outcomes.runtime import Scorer, verify_manifest
from convo_outcomes.schema import Conversation

CONVS = [
    Conversation.model_validate({"id": f"x{i}", "turns": [{"speaker": "customer", "text": f"order {i} never arrived " * (i + 1)}, {"speaker": "agent", "text": "sorry about that"}]})
    for i in range(12)
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    enc, tok = build_encoder("tiny", tiny_hidden=32, tiny_layers=1, attn_implementation="eager")
    model = OutcomeModel(enc, LabelSpec.default(), WindowConfig(max_length=32, overlap=4, max_windows=16))
    model.temperatures.copy_(torch.tensor([1.2, 1.0, 1.0, 0.8, 1.0]))
    folder = tmp_path_factory.mktemp("ck") / "final"
    model.save(folder, tok)
    return folder


def test_export_writes_a_self_describing_folder(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    result = export_model(checkpoint, out, quantize="int8", parity_sample=CONVS, validation=None)
    for name in ("encoder.onnx", "heads.onnx", "tokenizer.json", "label_spec.yaml", "config.json", "manifest.json", "README.md", "parity.json"):
        assert (out / name).exists(), name
    assert not (out / "encoder.fp32.onnx").exists()
    verify_manifest(out)
    heads = onnx.load(str(out / "heads.onnx"))
    spec = LabelSpec.default()
    assert [o.name for o in heads.graph.output] == [f"logits_{h}" for h in spec.head_names]
    enc = onnx.load(str(out / "encoder.onnx"))
    dims = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in enc.graph.input}
    assert dims == {"input_ids": ["windows", "tokens"], "attention_mask": ["windows", "tokens"]}
    assert enc.opset_import[0].version >= 17
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["temperatures"]["resolution"] == pytest.approx(1.2) and cfg["window"]["max_length"] == 32
    assert cfg["heads"] == spec.head_names and cfg["render_version"]
    # one FFN output projection per layer stays fp32 (the tiny encoder has 1 layer)
    assert len(cfg["encoder"]["kept_fp32"]) == 1 and "output/dense" in cfg["encoder"]["kept_fp32"][0]
    # parity: every output listed, fp32 within tolerance, int8 agreement reported per head
    diffs = result.parity["fp32_max_abs_diff"]
    assert set(diffs) >= {f"logits_{h}" for h in spec.head_names} | {"weighted_sum", "token_scores"}
    assert max(v for k, v in diffs.items() if k.startswith("logits_")) <= 1e-4
    assert set(result.parity["int8_top_label_agreement"]) == set(spec.head_names)
    scorer = Scorer.load(out)
    assert len(scorer.score(CONVS)) == len(CONVS)


def test_fp32_export_matches_torch(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "fp32"
    export_model(checkpoint, out, quantize="none", parity_sample=CONVS)
    model = OutcomeModel.load(checkpoint)
    from convo_outcomes.model import predict_logits
    from convo_outcomes.render import Windower

    w = Windower.from_file(checkpoint / "tokenizer.json", model.window)
    ref = predict_logits(model, w.encode_many([c.turns for c in CONVS]), w.pad_id)
    got = Scorer.load(out).logits(CONVS)
    for h in ref:
        np.testing.assert_allclose(got[h], ref[h], atol=1e-4)


def test_parity_failures_are_all_listed_then_raised(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ParityError) as err:
        export_model(checkpoint, tmp_path / "bad", quantize="none", parity_sample=CONVS, fp32_tolerance=0.0)
    failing = [f for f in err.value.failures if f.startswith("fp32 logits_")]
    assert len(failing) >= 3 and "max abs diff" in failing[0]
    assert not (tmp_path / "bad").exists()  # nothing half-written is left as a model folder


def test_end_pooling_exports_and_matches_torch_on_multi_window_calls(tmp_path: Path) -> None:
    torch.manual_seed(2)
    enc, tok = build_encoder("tiny", tiny_hidden=32, tiny_layers=1, attn_implementation="eager")
    model = OutcomeModel(enc, LabelSpec.default(), WindowConfig(max_length=32, overlap=4, max_windows=16), pooling=["attention", "end", "mean"])
    with torch.no_grad():  # make the end block matter: fresh heads would read it with small random weights only
        for lin in model.classifier.values():
            lin.weight.mul_(20.0)
    ck = model.save(tmp_path / "ck", tok)
    assert json.loads((ck / "outcome_config.json").read_text())["pooling_features"] == ["attention", "end", "mean"]
    convs = CONVS[:6] + [
        Conversation.model_validate({"id": f"long{i}", "turns": [{"speaker": "customer", "text": f"my router {i} keeps dropping " * (8 + 3 * i)}, {"speaker": "agent", "text": "that is fixed now"}]})
        for i in range(4)
    ]
    out = tmp_path / "m"
    export_model(ck, out, quantize="none", parity_sample=convs)
    heads = onnx.load(str(out / "heads.onnx"))
    assert [i.name for i in heads.graph.input] == ["pooled", "end", "mean"]
    assert json.loads((out / "config.json").read_text())["pooling_features"] == ["attention", "end", "mean"]
    from convo_outcomes.model import predict_logits
    from convo_outcomes.render import Windower

    w = Windower.from_file(ck / "tokenizer.json", model.window)
    encoded = w.encode_many([c.turns for c in convs])
    assert max(e.n_windows for e in encoded) >= 4  # the end vector differs from the call-wide one only here
    ref = predict_logits(OutcomeModel.load(ck), encoded, w.pad_id)
    got = Scorer.load(out).logits(convs)
    for h in ref:
        np.testing.assert_allclose(got[h], ref[h], atol=1e-4)
