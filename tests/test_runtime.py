"""The torch-free runtime on the checked-in tiny bundle: integrity, shapes, invariances, evidence."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convo_outcomes.runtime import ModelLoadError, Scorer, _length_groups

CONVS = [
    {"id": "a", "turns": [{"speaker": "customer", "text": "my card was charged twice"}, {"speaker": "agent", "text": "refunded"}]},
    {"id": "b", "turns": [{"speaker": "customer", "text": f"step {i} still broken"} for i in range(80)]},
    {"id": "c", "turns": [{"speaker": "customer", "text": "hi"}, {"speaker": "agent", "text": "   "}, {"speaker": "customer", "text": "cancel my plan"}]},
]


def assert_scores_without(folder: Path, modules: tuple[str, ...]) -> None:
    """Load and score ``folder`` in a fresh interpreter; fail if any of ``modules`` got imported."""
    code = (
        "import sys; from convo_outcomes.runtime import Scorer; "
        f"s = Scorer.load({str(folder)!r}); s.score([{{'id': 'x', 'turns': [{{'speaker': 'customer', 'text': 'refund please'}}]}}]); "
        f"bad = [m for m in {modules!r} if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_runtime_never_imports_torch(tiny_model: Path) -> None:
    assert_scores_without(tiny_model, ("torch", "transformers"))


def test_scores_are_distributions_with_valid_evidence(tiny_model: Path) -> None:
    scorer = Scorer.load(tiny_model)
    preds = scorer.score(CONVS)
    assert [p.id for p in preds] == ["a", "b", "c"]
    for conv, p in zip(CONVS, preds):
        assert p.model_version == scorer.version
        for h in scorer.head_names:
            r = p.heads[h]
            assert list(r.probs) == list(scorer.spec[h].classes)
            assert sum(r.probs.values()) == pytest.approx(1.0, abs=1e-5)
            assert r.label == max(r.probs, key=r.probs.get) and r.confidence == r.probs[r.label]
            assert r.evidence and all(0 <= t < len(conv["turns"]) for t in r.evidence)
            assert 1 not in r.evidence or conv["id"] != "c"  # a blank turn carries no tokens, so no evidence
    assert preds[1].n_windows > 1  # the long call is windowed, not truncated
    assert preds[1].windows_dropped == 0


def test_result_does_not_depend_on_batching_or_cache(tiny_model: Path) -> None:
    """Each window is its own encoder call by default, so a conversation scores the same bit for bit
    alone, beside others, under any token budget, and from the window cache."""
    together = Scorer.load(tiny_model, max_tokens=512).logits(CONVS)
    cached = Scorer.load(tiny_model, cache_bytes=1 << 20)
    for i, conv in enumerate(CONVS):
        alone = Scorer.load(tiny_model).logits([conv])
        for h in together:
            np.testing.assert_array_equal(together[h][i], alone[h][0])
    first = cached.logits(CONVS)
    second = cached.logits(CONVS[::-1])
    assert cached.cache is not None and cached.cache.hits >= sum(1 for _ in CONVS)
    for h in together:
        np.testing.assert_array_equal(first[h], together[h])
        np.testing.assert_array_equal(second[h][::-1], together[h])


def test_batched_windows_move_with_batch_mates_within_a_bound(tiny_model: Path) -> None:
    """``batch_windows``: dynamic int8 picks one activation scale per encoder call, so logits move with
    batch mates. Measured: at most 0.0064 on the tiny model with onnxruntime 1.32; a mix-up between
    conversations moves them by tenths. (On models/default probabilities moved by up to 0.26.)"""
    scorer = Scorer.load(tiny_model, max_tokens=512, batch_windows=True)
    together = scorer.logits(CONVS)
    isolated = Scorer.load(tiny_model).logits(CONVS)
    for i, conv in enumerate(CONVS):
        alone = scorer.logits([conv])
        for h in scorer.head_names:
            np.testing.assert_allclose(together[h][i], alone[h][0], atol=1e-2)
            np.testing.assert_allclose(together[h][i], isolated[h][i], atol=1e-2)


def test_corrupt_or_foreign_model_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "m"
    shutil.copytree(tiny_model, bad)
    data = bytearray((bad / "heads.onnx").read_bytes())
    data[-10] ^= 0xFF
    (bad / "heads.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"heads.onnx: sha256 differs"):
        Scorer.load(bad)
    (bad / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match=r"tokenizer.json: missing"):
        Scorer.load(bad)
    other = tmp_path / "other"
    shutil.copytree(tiny_model, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["render_version"] = "something-else"
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="config.json"):
        Scorer.load(other)  # manifest catches the edit first
    with pytest.raises(ModelLoadError, match="render"):
        Scorer.load(other, verify=False)
    with pytest.raises(ModelLoadError, match="no config.json"):
        Scorer.load(tmp_path)


def test_length_groups_cut_padding_and_respect_the_token_budget() -> None:
    # a 66-token chat beside a two-window call: 1x66 + 2x256 (578 padded tokens), not 3x256 (768)
    assert _length_groups([66, 256, 256], 8192) == [(0, 1), (1, 3)]
    # similar lengths stay in one run; every window lands in exactly one run, in order
    lengths = sorted([200, 210, 220, 230, 240, 250, 256, 256] * 5 + [10, 12, 30, 90])
    groups = _length_groups(lengths, 2048)
    assert groups[0][0] == 0 and groups[-1][1] == len(lengths)
    assert all(a[1] == b[0] for a, b in zip(groups, groups[1:]))
    for s, e in groups:
        padded = (e - s) * lengths[e - 1]
        assert padded <= 2048 or e - s == 1
        assert padded - sum(lengths[s:e]) < max(64, 0.25 * padded) or e - s == 1
    assert _length_groups([300], 100) == [(0, 1)]  # one window over the budget still runs, alone
    assert _length_groups([], 100) == []
