"""WiSE-FT-style weight interpolation: a checkpoint's encoder moved back towards the base encoder.

    python scripts/interpolate_encoder.py runs/NAME/final runs/NAME-a075 --alpha 0.75 [--base minilm|FOLDER]

Every encoder tensor becomes ``alpha x fine-tuned + (1 - alpha) x base``; the heads (attention and
classifier rows) and temperatures are the checkpoint's own. Weight-space ensembles of a fine-tuned
model with its pretrained start (Wortsman et al., CVPR 2022) are reported to hold up better on
shifted data; this is how that was tried on the whole-source hold-out (README, "Unseen sources").
The output is a training checkpoint folder that ``convo-outcomes evaluate`` and ``export`` read.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch


def base_state(base: str) -> dict[str, torch.Tensor]:
    """The base encoder's tensors, keyed like :class:`OutcomeModel`'s state dict."""
    from convo_outcomes.model import WEIGHTS, build_encoder

    if Path(base).is_dir():  # another checkpoint: its encoder
        from safetensors.torch import load_file

        return {k: v for k, v in load_file(str(Path(base) / WEIGHTS)).items() if k.startswith("encoder.")}
    encoder, _ = build_encoder(base)
    return {"encoder." + k: v for k, v in encoder.state_dict().items()}


def interpolate(checkpoint: Path, out: Path, alpha: float, base: str = "minilm") -> int:
    """Writes the interpolated checkpoint to ``out``; returns how many encoder tensors moved."""
    from safetensors.torch import load_file, save_file

    from convo_outcomes.model import WEIGHTS

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] (1 = the checkpoint unchanged), found {alpha}")
    if out.exists():
        raise FileExistsError(f"{out} exists: choose a new folder")
    state = load_file(str(checkpoint / WEIGHTS))
    ref = base_state(base)
    encoder_keys = [k for k in state if k.startswith("encoder.") and not k.startswith("encoder.pooler")]
    missing = [k for k in encoder_keys if k not in ref or ref[k].shape != state[k].shape]
    if missing:
        raise ValueError(f"{checkpoint}: {len(missing)} encoder tensors have no same-shaped base tensor in {base!r}, e.g. {missing[:3]}")
    for k in encoder_keys:
        if state[k].dtype.is_floating_point:
            state[k] = (alpha * state[k] + (1.0 - alpha) * ref[k].to(state[k].dtype)).contiguous()
    shutil.copytree(checkpoint, out)
    (out / "validation_metrics.json").unlink(missing_ok=True)  # measured on the un-interpolated model
    save_file(state, str(out / WEIGHTS))
    return len(encoder_keys)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--alpha", type=float, required=True, help="weight of the fine-tuned encoder (1 = unchanged, 0 = the base)")
    ap.add_argument("--base", default="minilm", help="model.base name or a checkpoint folder whose encoder is the other end")
    args = ap.parse_args(argv)
    n = interpolate(args.checkpoint, args.out, args.alpha, args.base)
    sys.stderr.write(f"{n} encoder tensors at alpha {args.alpha} -> {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
