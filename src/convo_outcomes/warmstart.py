"""Warm start: rebuild a trainable torch model from a shipped model folder or a training checkpoint.

A shipped folder holds only ONNX graphs (int8 encoder, fp32 heads), so its weights are read back from
the graph initializers: quantized matmul weights are dequantized (``(q - zero_point) x scale``, per
output channel) and transposed to torch's ``[out, in]``; every name is checked against the torch
model, so a graph this module does not understand fails loudly instead of training from noise.
Re-exporting an unchanged dequantized weight quantizes it back to the same int8 values, so heads that
are frozen during retraining keep their exact outputs.

Heads are then adapted to the new label spec: classes are matched by name (or through
``class_map`` for renamed and merged classes), a new class starts from a fresh row, and a new head
starts from fresh weights with its attention copied from ``init_attention_from`` when given.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .config import FIXED_WIDTH, POOLINGS, block_width
from .labels import LabelSpec
from .model import OUTCOME_CONFIG, WEIGHTS, OutcomeModel
from .render import WindowConfig

logger = logging.getLogger(__name__)

_MATMUL_OUT = re.compile(r"^/(?P<path>.+)/MatMul(?:_\d+)?_output_0")


class WarmStartError(ValueError):
    """The warm-start source cannot be read or does not fit the requested label spec."""


@dataclass
class WarmStart:
    """Weights of a previous model, keyed like :class:`OutcomeModel`'s state dict."""

    origin: str
    spec: LabelSpec
    window: WindowConfig
    encoder_config: dict[str, Any]
    state: dict[str, torch.Tensor]
    temperatures: dict[str, float]
    version: str | None = None
    name: str | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def pooling(self) -> tuple[str, ...]:
        return tuple(self.config.get("pooling_features", POOLINGS[0]))

    @property
    def ref(self) -> str:
        return f"{self.name or Path(self.origin).name}@{self.version or 'unversioned'}"


def load_warm_start(folder: str | Path) -> WarmStart:
    """Reads an exported model folder (``manifest.json``) or a torch checkpoint (``outcome_config.json``)."""
    folder = Path(folder)
    if (folder / "manifest.json").exists():
        return _from_bundle(folder)
    if (folder / OUTCOME_CONFIG).exists():
        return _from_checkpoint(folder)
    raise WarmStartError(f"model.init_from {str(folder)!r}: neither an exported model folder (manifest.json) nor a training checkpoint ({OUTCOME_CONFIG})")


def _from_checkpoint(folder: Path) -> WarmStart:
    from safetensors.torch import load_file

    cfg = json.loads((folder / OUTCOME_CONFIG).read_text())
    return WarmStart(
        origin=str(folder),
        spec=LabelSpec.from_dict(cfg["label_spec"], origin=str(folder)),
        window=WindowConfig(**cfg["window"]),
        encoder_config=json.loads((folder / "encoder" / "config.json").read_text()),
        state=load_file(str(folder / WEIGHTS)),
        temperatures=dict(cfg.get("temperatures", {})),
        version=cfg.get("version"),
        name=cfg.get("name"),
        config=cfg,
    )


def _initializers(path: Path) -> tuple[Any, dict[str, np.ndarray]]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    return model.graph, {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _dequantize(inits: Mapping[str, np.ndarray], base: str) -> np.ndarray:
    q = inits[base + "_quantized"].astype(np.float32)
    zp = inits[base + "_zero_point"].astype(np.float32)
    scale = inits[base + "_scale"].astype(np.float32)
    if scale.ndim == 1 and q.ndim == 2:  # per output channel: axis 1 of a [in, out] matmul weight
        return (q - zp[None, :]) * scale[None, :]
    return (q - zp) * scale


def _from_bundle(folder: Path) -> WarmStart:
    from .runtime import verify_manifest

    verify_manifest(folder)
    cfg = json.loads((folder / "config.json").read_text())
    spec = LabelSpec.from_dict(cfg["label_spec"], origin=str(folder))
    state: dict[str, torch.Tensor] = {}
    graph, inits = _initializers(folder / cfg.get("encoder", {}).get("file", "encoder.onnx"))
    used: set[str] = set()
    score_w = score_b = None
    # matmul weights: named after the module that owns them in the node output names
    for node in graph.node:
        if node.op_type not in ("MatMulInteger", "MatMul"):
            continue
        m = _MATMUL_OUT.match(node.output[0])
        weight = node.input[1]
        if not m:
            continue
        if node.op_type == "MatMulInteger":
            if not weight.endswith("_quantized") or weight not in inits:
                continue
            base = weight[: -len("_quantized")]
            w = _dequantize(inits, base)
            used.update({weight, base + "_scale", base + "_zero_point"})
        elif weight in inits:
            w = inits[weight]
            used.add(weight)
        else:
            continue
        path = m.group("path").replace("/", ".")
        if path == "score":
            score_w = w.T
        else:
            state[f"{path}.weight"] = torch.from_numpy(np.ascontiguousarray(w.T))
    # everything else is stored under its torch name, prefixed by the export wrapper's "model."
    for name, arr in inits.items():
        if name in used or any(name == b + sfx and b + "_quantized" in inits for sfx in ("_scale", "_zero_point") for b in (name.rsplit("_", 2)[0], name.rsplit("_", 1)[0])):
            continue
        if name == "score.bias":
            score_b = arr
        elif name.endswith("_quantized"):
            base = name[: -len("_quantized")]
            state[base.removeprefix("model.")] = torch.from_numpy(_dequantize(inits, base))
        elif name.startswith("model."):
            state[name.removeprefix("model.")] = torch.from_numpy(arr.copy())
    if score_w is None or score_b is None:
        raise WarmStartError(f"{folder}: encoder graph has no attention score weights; not a convo-outcomes export")
    for i, h in enumerate(spec.head_names):
        state[f"attn.{h}.weight"] = torch.from_numpy(np.ascontiguousarray(score_w[i : i + 1]))
        state[f"attn.{h}.bias"] = torch.from_numpy(score_b[i : i + 1].copy())
    _, head_inits = _initializers(folder / "heads.onnx")
    for name, arr in head_inits.items():
        if name.startswith("model.classifier."):
            state[name.removeprefix("model.")] = torch.from_numpy(arr.copy())
    return WarmStart(
        origin=str(folder),
        spec=spec,
        window=WindowConfig(**cfg["window"]),
        encoder_config=cfg["encoder_config"],
        state=state,
        temperatures=dict(cfg.get("temperatures", {})),
        version=cfg.get("version"),
        name=cfg.get("name"),
        config=cfg,
    )


_LAYER = re.compile(r"^encoder\.encoder\.layer\.(\d+)\.")


def keep_layers(warm: WarmStart, layers: Sequence[int]) -> WarmStart:
    """The warm start with only ``layers`` of its encoder, renumbered in order (layer dropping).

    A student initialised from chosen layers of a fine-tuned teacher starts far closer to it than one
    from the base weights; the rest of the model (embeddings, heads) is copied unchanged.
    """
    n = int(warm.encoder_config.get("num_hidden_layers", 0))
    bad = [i for i in layers if not 0 <= i < n]
    if bad:
        raise WarmStartError(f"model.keep_layers: {bad} are not layers of {warm.ref}, which has {n} (0..{n - 1})")
    new_index = {old: new for new, old in enumerate(layers)}
    state: dict[str, torch.Tensor] = {}
    for k, v in warm.state.items():
        m = _LAYER.match(k)
        if m is None:
            state[k] = v
        elif int(m.group(1)) in new_index:
            state[f"encoder.encoder.layer.{new_index[int(m.group(1))]}.{k[m.end():]}"] = v
    enc_cfg = dict(warm.encoder_config, num_hidden_layers=len(layers))
    config = dict(warm.config, encoder_lineage={"from": warm.ref, "layers": list(layers), "of": n})
    logger.info("layer dropping: kept encoder layers %s of %d from %s", list(layers), n, warm.ref)
    return dataclasses.replace(warm, encoder_config=enc_cfg, state=state, config=config)


def build_encoder_from(warm: WarmStart, attn_implementation: str = "sdpa") -> torch.nn.Module:
    from transformers import BertConfig, BertModel

    enc_cfg = BertConfig.from_dict({k: v for k, v in warm.encoder_config.items() if k not in ("architectures",)})
    enc_cfg._attn_implementation = attn_implementation
    return BertModel(enc_cfg, add_pooling_layer=False)


def torch_model_from(folder: str | Path, attn_implementation: str = "sdpa") -> OutcomeModel:
    """The model in ``folder`` (exported or checkpoint) as a torch :class:`OutcomeModel`, weights as they are.

    For a shipped int8 model these are its dequantized weights: a torch peer computing what the runtime
    computes (up to int8 activation rounding), for benchmarks and comparisons when no checkpoint is kept.
    """
    warm = load_warm_start(folder)
    model = OutcomeModel(build_encoder_from(warm, attn_implementation), warm.spec, warm.window, pooling=warm.pooling)
    apply_warm_start(model, warm)
    return model.eval()


@dataclass
class WarmReport:
    """What was copied, so a model card can say what the new version inherited."""

    source: str
    copied_heads: list[str]
    new_heads: list[str]
    new_classes: dict[str, list[str]]
    mapped_classes: dict[str, dict[str, list[str]]]
    dropped_heads: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "copied_heads": self.copied_heads,
            "new_heads": self.new_heads,
            "new_classes": self.new_classes,
            "mapped_classes": self.mapped_classes,
            "dropped_heads": self.dropped_heads,
        }


def apply_warm_start(
    model: OutcomeModel,
    warm: WarmStart,
    class_map: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    init_attention_from: Mapping[str, str] | None = None,
) -> WarmReport:
    """Copy the encoder whole and each head class by class into ``model`` (built for the new spec).

    ``class_map`` = {head: {new_class: [old classes]}}: a rename lists one old class, a merge several
    (their rows are averaged). ``init_attention_from`` = {new_head: old_head}.
    """
    class_map = class_map or {}
    init_attention_from = init_attention_from or {}
    own = model.state_dict()
    enc = {k: v for k, v in warm.state.items() if k.startswith("encoder.")}
    missing = [k for k in own if k.startswith("encoder.") and k not in enc and not k.startswith("encoder.pooler")]
    if missing:
        raise WarmStartError(f"{warm.origin}: encoder weights missing for {missing[:5]} (and {max(0, len(missing) - 5)} more)")
    for k, v in enc.items():
        if k not in own:
            continue
        if tuple(own[k].shape) != tuple(v.shape):
            raise WarmStartError(f"{warm.origin}: {k} has shape {tuple(v.shape)}, the model expects {tuple(own[k].shape)}")
        own[k] = v.to(own[k].dtype)
    for head, mapping in class_map.items():
        if head not in model.spec.head_names:
            raise WarmStartError(f"model.class_map: head {head!r} is not in the new label spec; heads: {model.spec.head_names}")
        if head not in warm.spec.head_names:
            raise WarmStartError(f"model.class_map: head {head!r} is not in {warm.ref}; its heads: {warm.spec.head_names}")
        for new, olds in mapping.items():
            if new not in model.spec[head].classes:
                raise WarmStartError(f"model.class_map.{head}: {new!r} is not a class of the new spec; classes: {list(model.spec[head].classes)}")
            bad = [o for o in olds if o not in warm.spec[head].classes]
            if bad:
                raise WarmStartError(f"model.class_map.{head}.{new}: {bad} not classes of {warm.ref}; its classes: {list(warm.spec[head].classes)}")
    report = WarmReport(warm.ref, [], [], {}, {}, [h for h in warm.spec.head_names if h not in model.spec.head_names])
    for head in model.spec:
        name = head.name
        src_head = name if name in warm.spec.head_names else None
        attn_src = src_head or init_attention_from.get(name)
        if attn_src:
            if attn_src not in warm.spec.head_names:
                raise WarmStartError(f"model.init_attention_from.{name}: {attn_src!r} is not a head of {warm.ref}")
            own[f"attn.{name}.weight"] = warm.state[f"attn.{attn_src}.weight"].clone()
            own[f"attn.{name}.bias"] = warm.state[f"attn.{attn_src}.bias"].clone()
        if src_head is None:
            report.new_heads.append(name)
            continue
        old_classes = list(warm.spec[src_head].classes)
        w_old = _feature_blocks(warm.state[f"classifier.{src_head}.weight"], warm.pooling, model.pooling)
        b_old = warm.state[f"classifier.{src_head}.bias"]
        w_new, b_new = own[f"classifier.{name}.weight"].clone(), own[f"classifier.{name}.bias"].clone()
        mapping = {c: list(v) for c, v in class_map.get(name, {}).items()}
        new_classes = []
        for i, cls in enumerate(head.classes):
            sources = mapping.get(cls) or ([cls] if cls in old_classes else [])
            if not sources:
                new_classes.append(cls)
                # a fresh class starts neutral: the mean bias, small weights (so it does not steal at once)
                w_new[i] = w_new[i] * 0.1
                b_new[i] = b_old.mean() - 2.0
                continue
            idx = [old_classes.index(s) for s in sources]
            w_new[i] = w_old[idx].mean(0)
            b_new[i] = torch.logsumexp(b_old[idx], 0) if len(idx) > 1 else b_old[idx[0]]
        own[f"classifier.{name}.weight"], own[f"classifier.{name}.bias"] = w_new, b_new
        report.copied_heads.append(name)
        if new_classes:
            report.new_classes[name] = new_classes
        if mapping:
            report.mapped_classes[name] = mapping
    temps = model.temperatures.clone()
    for i, h in enumerate(model.spec.head_names):
        if h in warm.temperatures and h in report.copied_heads and h not in report.new_classes:
            temps[i] = float(warm.temperatures[h])
    own["temperatures"] = temps
    model.load_state_dict(own)
    logger.info(
        "warm start from %s: copied heads %s, new heads %s, new classes %s", warm.ref, report.copied_heads, report.new_heads, report.new_classes
    )
    return report


def _feature_blocks(w: torch.Tensor, old: Sequence[str], new: Sequence[str]) -> torch.Tensor:
    """Classifier weights laid out for the new pooling: blocks matched by name, a new block (e.g. ``end``
    or ``mass``) starts at zero so the warm-started model computes exactly what its parent did."""
    if tuple(old) == tuple(new):
        return w
    vectors = [b for b in old if b not in FIXED_WIDTH]
    hidden = (w.shape[1] - sum(FIXED_WIDTH.get(b, 0) for b in old)) // len(vectors)
    blocks, at = {}, 0
    for name in old:
        blocks[name] = w[:, at : at + block_width(name, hidden)]
        at += block_width(name, hidden)
    return torch.cat([blocks[n] if n in blocks else w.new_zeros(w.shape[0], block_width(n, hidden)) for n in new], dim=1)


def frozen_rows(model: OutcomeModel, report: WarmReport) -> dict[str, list[int]]:
    """Classifier rows of classes inherited unchanged (for ``optim.train_only_new``)."""
    out: dict[str, list[int]] = {}
    for name in report.copied_heads:
        new = set(report.new_classes.get(name, [])) | set(report.mapped_classes.get(name, {}))
        rows = [i for i, c in enumerate(model.spec[name].classes) if c not in new]
        out[name] = rows
    return out
