"""scripts/interpolate_encoder.py: the encoder moves to the stated point between two weight sets; heads stay."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from convo_outcomes.labels import LabelSpec
from convo_outcomes.model import WEIGHTS, OutcomeModel, build_encoder
from convo_outcomes.render import WindowConfig
from tests.test_report import load_script


def _checkpoint(folder: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    encoder, tok = build_encoder("tiny")
    OutcomeModel(encoder, LabelSpec.default(), WindowConfig(max_length=64, overlap=8, max_windows=4)).save(folder, tok)
    return folder


def test_encoder_is_interpolated_heads_kept_and_the_result_loads(tmp_path: Path) -> None:
    mod = load_script("interpolate_encoder")
    tuned, base = _checkpoint(tmp_path / "tuned", 1), _checkpoint(tmp_path / "base", 2)
    (tuned / "validation_metrics.json").write_text("{}")
    n = mod.interpolate(tuned, tmp_path / "mix", 0.25, str(base))
    a, b, mix = (load_file(str(p / WEIGHTS)) for p in (tuned, base, tmp_path / "mix"))
    enc = [k for k in a if k.startswith("encoder.") and a[k].dtype.is_floating_point]
    assert n == len([k for k in a if k.startswith("encoder.")]) and enc
    for k in enc:
        torch.testing.assert_close(mix[k], 0.25 * a[k] + 0.75 * b[k])
    heads = [k for k in a if not k.startswith("encoder.")]
    assert heads and all(torch.equal(mix[k], a[k]) for k in heads)
    assert any(not torch.equal(a[k], b[k]) for k in enc)  # the two ends differ, so the check above means something
    assert not (tmp_path / "mix" / "validation_metrics.json").exists()
    OutcomeModel.load(tmp_path / "mix")


def test_bad_alpha_existing_output_and_mismatched_base_are_refused(tmp_path: Path) -> None:
    mod = load_script("interpolate_encoder")
    tuned = _checkpoint(tmp_path / "tuned", 1)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\].*found 1.5"):
        mod.interpolate(tuned, tmp_path / "x", 1.5, str(tuned))
    with pytest.raises(FileExistsError):
        mod.interpolate(tuned, tuned, 0.5, str(tuned))
    torch.manual_seed(3)
    encoder, tok = build_encoder("tiny", tiny_hidden=48)
    OutcomeModel(encoder, LabelSpec.default(), WindowConfig(max_length=64, overlap=8, max_windows=4)).save(tmp_path / "wide", tok)
    with pytest.raises(ValueError, match="no same-shaped base tensor"):
        mod.interpolate(tuned, tmp_path / "y", 0.5, str(tmp_path / "wide"))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
