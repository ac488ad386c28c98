"""Export a trained checkpoint to a self-describing ONNX model folder, then prove it matches torch.

Two graphs, because window encodings are what mid-call updates reuse:

* ``encoder.onnx`` (int8 by default): windows ``[windows, tokens]`` in; per window the statistics each
  head's attention pooling needs: ``score_max`` and ``exp_sum`` ``[windows, heads]``, ``weighted_sum``
  ``[windows, heads, hidden]`` (sum of exp(score - max) x token state), ``state_sum`` ``[windows, hidden]``
  and ``token_scores`` ``[windows, heads, tokens]`` (for evidence). Windows of a conversation are merged
  exactly with a log-sum-exp in numpy, so the result equals attention over all tokens at once.
* ``heads.onnx`` (fp32, tiny): ``pooled`` ``[conversations, heads, hidden]`` and ``mean``
  ``[conversations, hidden]`` in (plus ``end`` ``[conversations, heads, hidden]``, the attention over the
  last window, for models pooled ``[attention, end, mean]``; and ``mass`` ``[conversations, heads, 2]``,
  each head's log-sum-exp of its scores over the call and log(1 + tokens), for models pooled with
  ``mass``); one output per head, ``logits_<head>`` ``[conversations, classes]``.

The export ends with a parity check on the same batch: fp32 max abs difference per output (<= 1e-4),
int8 top-label agreement per head, and per-head metric change on validation data (<= 1 point). All
failures are listed, then one :class:`ParityError` is raised.
"""

from __future__ import annotations

import json
import re
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .config import block_width, flatten
from .labels import LabelSpec
from .model import MASK_FILL, OutcomeModel, collate
from .render import RENDER_VERSION, pad_windows
from .runtime import file_sha256

logger = logging.getLogger(__name__)

OPSET = 17
HEADS_INPUTS = {"attention": "pooled", "end": "end", "mean": "mean", "mass": "mass"}  # pooling feature -> heads.onnx input
ENCODER_OUTPUTS = ["score_max", "exp_sum", "weighted_sum", "state_sum", "token_scores"]
MODEL_FORMAT = "convo-outcomes/onnx-model/1"
MIN_JUDGED = 100  # labelled validation records a head needs before its int8 metric change can fail the export


class ExportError(RuntimeError):
    """The export could not be produced."""


class ParityError(ExportError):
    """The exported model does not match torch; ``failures`` lists every check that failed."""

    def __init__(self, failures: list[str], report: dict[str, Any]):
        self.failures = failures
        self.report = report
        super().__init__("parity check failed:\n  - " + "\n  - ".join(failures))


class _EncoderGraph(nn.Module):
    def __init__(self, model: OutcomeModel):
        super().__init__()
        self.model = model
        hidden = model.encoder.config.hidden_size
        w = torch.stack([model.attn[h].weight.reshape(hidden) for h in model.head_names])  # [heads, hidden]
        b = torch.stack([model.attn[h].bias.reshape(()) for h in model.head_names])
        self.score = nn.Linear(hidden, len(model.head_names))
        with torch.no_grad():
            self.score.weight.copy_(w)
            self.score.bias.copy_(b)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        states = self.model.encode(input_ids, attention_mask)  # [N, T, H]
        m = attention_mask.to(states.dtype)
        scores = self.score(states).transpose(1, 2)  # [N, heads, T]
        scores = scores.masked_fill(m.unsqueeze(1) == 0, MASK_FILL)
        smax = scores.max(dim=-1).values  # [N, heads]
        e = torch.exp(scores - smax.unsqueeze(-1)) * m.unsqueeze(1)
        return smax, e.sum(-1), torch.bmm(e, states), (states * m.unsqueeze(-1)).sum(1), scores


class _HeadsGraph(nn.Module):
    def __init__(self, model: OutcomeModel):
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor):
        """Inputs in the model's pooling order, named by ``HEADS_INPUTS`` (per head ``[B, heads, H]``, mean ``[B, H]``)."""
        named = dict(zip(self.model.pooling, inputs))
        return tuple(
            self.model.classifier[h](torch.cat([named[k] if k == "mean" else named[k][:, i] for k in self.model.pooling], dim=-1))
            for i, h in enumerate(self.model.head_names)
        )


@dataclass
class ExportResult:
    output: Path
    parity: dict[str, Any]
    files: dict[str, int] = field(default_factory=dict)


def write_manifest(folder: Path) -> dict[str, Any]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {"files": {str(p.relative_to(folder)): {"sha256": file_sha256(p), "bytes": p.stat().st_size} for p in files}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def export_onnx(model: OutcomeModel, folder: Path, sample_ids: np.ndarray, sample_mask: np.ndarray) -> None:
    """fp32 encoder and heads graphs with named dynamic axes."""
    model.eval()
    enc = _EncoderGraph(model).eval()
    ids, mask = torch.from_numpy(sample_ids), torch.from_numpy(sample_mask)
    with torch.no_grad():
        torch.onnx.export(
            enc,
            (ids, mask),
            str(folder / "encoder.fp32.onnx"),
            input_names=["input_ids", "attention_mask"],
            output_names=ENCODER_OUTPUTS,
            dynamic_axes={
                "input_ids": {0: "windows", 1: "tokens"},
                "attention_mask": {0: "windows", 1: "tokens"},
                "score_max": {0: "windows"},
                "exp_sum": {0: "windows"},
                "weighted_sum": {0: "windows"},
                "state_sum": {0: "windows"},
                "token_scores": {0: "windows", 2: "tokens"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
        heads = _HeadsGraph(model).eval()
        hidden = model.encoder.config.hidden_size
        n_heads = len(model.head_names)
        outputs = [f"logits_{h}" for h in model.head_names]
        names = [HEADS_INPUTS[k] for k in model.pooling]
        torch.onnx.export(
            heads,
            tuple(torch.zeros(2, hidden) if k == "mean" else torch.zeros(2, n_heads, block_width(k, hidden)) for k in model.pooling),
            str(folder / "heads.onnx"),
            input_names=names,
            output_names=outputs,
            dynamic_axes={**{n: {0: "conversations"} for n in names}, **{o: {0: "conversations"} for o in outputs}},
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_encoder(src: Path, dst: Path, per_channel: bool = True, keep_fp32: Sequence[str] = ("ffn_output",)) -> list[str]:
    """Dynamic int8 quantization; nodes whose names match ``keep_fp32`` patterns stay fp32.

    ``ffn_output`` keeps each layer's FFN down-projection (``output.dense``, inputs with the widest
    activation range) in fp32, which measured best for top-label agreement on MiniLM.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src)).graph
    excluded = []
    for node in graph.node:
        if node.op_type not in ("MatMul", "Gemm"):
            continue
        name = node.name + " " + " ".join(node.input)
        ffn_out = re.search(r"layer[./](\d+)[./]output[./]dense", name) and "attention" not in name
        if "ffn_output" in keep_fp32 and ffn_out:
            excluded.append(node.name)
        elif "score" in keep_fp32 and "score" in name:
            excluded.append(node.name)
    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel, nodes_to_exclude=excluded,
        extra_options={"MatMulConstBOnly": True},
    )
    return excluded


def export_model(
    checkpoint: str | Path,
    output: str | Path,
    quantize: str = "int8",
    validation: Sequence[Any] | None = None,
    parity_sample: Sequence[Any] | None = None,
    name: str | None = None,
    fp32_tolerance: float = 1e-4,
    metric_tolerance: float = 0.01,
    keep_fp32: Sequence[str] = ("ffn_output",),
    per_channel: bool = True,
    extra_files: dict[str, Path] | None = None,
    version: str | None = None,
    parent: str | None = None,
) -> ExportResult:
    """Export ``checkpoint`` (a torch model folder from training) to ``output`` and check parity.

    ``validation`` (conversations with labels) drives the metric-change check; ``parity_sample``
    (conversations) the per-output differences; both default to a built-in sample when omitted.
    ``version`` and ``parent`` (``name@version`` of the model this one was trained from) land in
    config.json with the training-data hash, so the registry can tell versions apart.
    """
    from .runtime import OnnxEncoder, Scorer

    if version is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}", version):
        raise ExportError(f"version {version!r}: expected letters, digits, '.', '_', '+', '-' (e.g. 0.2.0)")
    if parent is not None and not re.fullmatch(r"[^@\s/]+@[^@\s/]+", parent):
        raise ExportError(f"parent {parent!r}: expected NAME@VERSION of an exported model (e.g. default@0.1.0)")
    checkpoint, output = Path(checkpoint), Path(output)
    model = OutcomeModel.load(checkpoint, attn_implementation="eager")
    from .render import Windower

    windower = Windower.from_file(checkpoint / "tokenizer.json", model.window)
    convs = list(parity_sample or validation or _builtin_sample())[:64]
    encoded = windower.encode_many([c.turns for c in convs])
    windows = [w for e in encoded for w in e.input_ids]
    ids, mask = pad_windows(windows[:8], windower.pad_id)
    tmp = output.with_name(output.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    t0 = time.monotonic()
    export_onnx(model, tmp, ids, mask)
    excluded: list[str] = []
    if quantize == "int8":
        excluded = quantize_encoder(tmp / "encoder.fp32.onnx", tmp / "encoder.onnx", per_channel=per_channel, keep_fp32=keep_fp32)
    elif quantize == "none":
        shutil.copy(tmp / "encoder.fp32.onnx", tmp / "encoder.onnx")
    else:
        raise ExportError(f"quantize must be 'int8' or 'none', found {quantize!r}")
    logger.info("exported in %.1f s (%d matmuls kept fp32)", time.monotonic() - t0, len(excluded))

    shutil.copy(checkpoint / "tokenizer.json", tmp / "tokenizer.json")
    model.spec.save(tmp / "label_spec.yaml")
    src_cfg = json.loads((checkpoint / "outcome_config.json").read_text())
    config = {
        "format": MODEL_FORMAT,
        "name": name or output.name,
        "version": version or src_cfg.get("version", "0.1.0"),
        "parent": parent or src_cfg.get("parent"),  # a warm-started checkpoint records its parent
        "data_hash": src_cfg.get("training", {}).get("data_hash"),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "render_version": RENDER_VERSION,
        "window": model.window.to_dict(),
        "heads": model.head_names,
        "label_spec": model.spec.to_dict(),
        "temperatures": src_cfg["temperatures"],
        "thresholds": src_cfg.get("thresholds", {}),
        "pooling": src_cfg.get("pooling"),
        "pooling_features": list(model.pooling),
        "hidden_size": model.encoder.config.hidden_size,
        "encoder": {"file": "encoder.onnx", "quantization": quantize, "per_channel": per_channel, "kept_fp32": excluded},
        "training": src_cfg.get("training", {}),
        "calibration": src_cfg.get("calibration", {}),
        "encoder_config": json.loads((checkpoint / "encoder" / "config.json").read_text()),
        "encoder_lineage": src_cfg.get("encoder_lineage"),  # layers kept from a larger model (model.keep_layers)
    }
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    for dst_name, path in (extra_files or {}).items():
        shutil.copy(path, tmp / dst_name)

    # parity: torch vs fp32 ONNX (per output), torch vs int8 (agreement, metric change)
    report: dict[str, Any] = {"fp32_max_abs_diff": {}, "int8_top_label_agreement": {}, "int8_metric_change": {}}
    failures: list[str] = []
    torch_logits = _torch_logits(model, encoded, windower.pad_id)
    fp32 = Scorer.load(tmp, encoder_file="encoder.fp32.onnx", verify=False, threads=None)
    fp32_logits = fp32.logits(convs)
    for h in model.head_names:
        d = float(np.abs(torch_logits[h] - fp32_logits[h]).max())
        report["fp32_max_abs_diff"][f"logits_{h}"] = d
        if d > fp32_tolerance:
            failures.append(f"fp32 logits_{h}: max abs diff {d:.2e} > {fp32_tolerance:.0e}")
    enc_direct = OnnxEncoder(tmp / "encoder.fp32.onnx", threads=None)
    onnx_stats = enc_direct.run(ids, mask)
    with torch.no_grad():
        ref = _EncoderGraph(model)(torch.from_numpy(ids), torch.from_numpy(mask))
    for out_name, t in zip(ENCODER_OUTPUTS, ref):
        d = float(np.abs(t.numpy() - onnx_stats[out_name]).max())
        scale = float(np.abs(t.numpy()).max()) or 1.0
        report["fp32_max_abs_diff"][out_name] = d
        if d > fp32_tolerance * max(1.0, scale):
            failures.append(f"fp32 {out_name}: max abs diff {d:.2e} > {fp32_tolerance:.0e} x scale {scale:.1f}")
    if quantize == "int8":
        q = Scorer.load(tmp, verify=False, threads=None)
        q_logits = q.logits(convs)
        for h in model.head_names:
            agree = float((q_logits[h].argmax(1) == torch_logits[h].argmax(1)).mean())
            report["int8_top_label_agreement"][h] = round(agree, 4)
        if validation:
            report["int8_metric_change"] = _metric_change(model, windower, q, list(validation), metric_tolerance, failures)
    (tmp / "parity.json").write_text(json.dumps(report, indent=2))
    if failures:
        raise ParityError(failures, report)
    if quantize == "int8":
        (tmp / "encoder.fp32.onnx").unlink()
    (tmp / "README.md").write_text(render_model_card(config, None, report))
    write_manifest(tmp)
    if output.exists():
        shutil.rmtree(output)
    tmp.rename(output)
    sizes = {p.name: p.stat().st_size for p in output.iterdir() if p.is_file()}
    return ExportResult(output, report, sizes)


def _torch_logits(model: OutcomeModel, encoded, pad_id: int) -> dict[str, np.ndarray]:
    with torch.no_grad():
        logits, _ = model(**collate(encoded, pad_id))
    return {h: v.numpy() for h, v in logits.items()}


def _metric_change(model, windower, scorer, validation, tolerance, failures) -> dict[str, Any]:
    from .metrics import evaluate_outputs, softmax
    from .model import predict_logits

    spec: LabelSpec = model.spec
    encoded = windower.encode_many([c.turns for c in validation])
    t_logits = predict_logits(model, encoded, windower.pad_id)
    q_logits = scorer.logits(validation)
    targets = {h.name: np.array([-1 if (v := h.target(c.labels)) is None else v for c in validation]) for h in spec}
    sources = [c.source for c in validation]
    temps = dict(zip(model.head_names, model.temperatures.tolist()))
    rt = evaluate_outputs(spec, targets, {h: softmax(t_logits[h], temps[h]) for h in spec.head_names}, sources)
    rq = evaluate_outputs(spec, targets, {h: softmax(q_logits[h], temps[h]) for h in spec.head_names}, sources)
    out = {}
    for h, m in rt["heads"].items():
        delta = rq["heads"][h]["macro_f1"] - m["macro_f1"]
        acc = rq["heads"][h]["accuracy"] - m["accuracy"]
        out[h] = {"n": m["n"], "torch_macro_f1": m["macro_f1"], "int8_macro_f1": rq["heads"][h]["macro_f1"], "macro_f1_change": round(delta, 4), "accuracy_change": round(acc, 4)}
        if m["n"] < MIN_JUDGED:
            out[h]["note"] = f"fewer than {MIN_JUDGED} labelled records: reported, not judged (one flip moves macro-F1 by more than a point)"
        elif delta < -tolerance:
            failures.append(f"int8 {h}: macro-F1 {m['macro_f1']:.4f} -> {rq['heads'][h]['macro_f1']:.4f} (change {delta:+.4f} < -{tolerance})")
    return out


def _builtin_sample() -> list[Any]:
    from .schema import Conversation

    texts = [
        [("customer", "hi i was charged twice for my subscription this month"), ("agent", "i can see the duplicate charge and have refunded it"), ("customer", "great thanks that solves it")],
        [("customer", "my internet keeps dropping every evening"), ("agent", "let me run a line test"), ("customer", "this is the third time i call about this, i am thinking of switching")],
        [("customer", "i want to close my account"), ("agent", "i am sorry to hear that, may i ask why"), ("customer", "the fees are too high")],
    ]
    return [Conversation.model_validate({"id": f"s{i}", "turns": [{"speaker": s, "text": t} for s, t in turns]}) for i, turns in enumerate(texts)]


# ------------------------------------------------------------------------------------ model card

_LICENCES = {
    "STAR": "MIT (RasaHQ/STAR)",
    "MultiDoGO": "CDLA-Permissive-1.0 (awslabs/multi-domain-goal-oriented-dialogues-dataset)",
    "BANKING77": "CC BY 4.0 (PolyAI-LDN/task-specific-datasets)",
    "synthetic": "generated by convo_outcomes.synth (no third-party text)",
}


def _host_note(host: Mapping[str, Any] | None) -> str:
    """Where the figures were measured: int8 scores differ slightly between CPUs (see metrics.scoring_host)."""
    if not host:
        return ""
    cpu = host.get("cpu_int8")
    where = ("a CPU with int8 instructions " + ", ".join(cpu)) if cpu else ("a CPU without AVX2, VNNI or AMX" if cpu == [] else "a CPU of unknown flags")
    return (f" Scored with onnxruntime {host.get('onnxruntime')} on {host.get('machine')}, {where}; int8 scores can differ "
            "on a CPU with other int8 instructions (AVX2 alone sums through 16-bit lanes that can saturate).")


def _f(v: Any) -> str:
    return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def _has_ece_ci(metrics: Mapping[str, Any]) -> bool:
    return any(m.get("ece_ci95") for m in metrics.get("heads", {}).values())


def _ece(m: Mapping[str, Any]) -> str:
    ci = m.get("ece_ci95")
    return _f(m.get("ece")) + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _ref(config: dict[str, Any]) -> str:
    return f"{config.get('name')}@{config.get('version')}"


def _delta(new: Any, old: Any) -> float | None:
    return round(new - old, 4) if isinstance(new, (int, float)) and isinstance(old, (int, float)) else None


def _encoder_line(config: dict[str, Any]) -> str:
    enc = config.get("encoder_config", {})
    line = f"Encoder: {enc.get('num_hidden_layers', '?')} layers, hidden {enc.get('hidden_size', config.get('hidden_size'))}"
    lin = config.get("encoder_lineage")
    if lin:
        line += f"; layers {lin['layers']} of the {lin['of']} of {lin['from']}'s encoder (layer dropping, then trained further)"
    return line + "."


def changes_since_parent(
    config: dict[str, Any], metrics: dict[str, Any] | None, parent_config: dict[str, Any], parent_metrics: dict[str, Any] | None
) -> dict[str, Any]:
    """What differs from the parent: label spec (heads, classes), training config, metrics per head x source.

    Metric deltas are ``this - parent`` of macro-F1 and accuracy over the union of (head, source) rows;
    a row one side lacks (a new head) has ``None`` there and no delta. ``same_data`` says whether both
    reports were computed on the same files and split (otherwise the deltas compare different records).
    """
    heads = config.get("label_spec", {}).get("heads", {})
    old_heads = parent_config.get("label_spec", {}).get("heads", {})
    classes = {}
    for h in heads:
        if h in old_heads:
            new_c, old_c = list(heads[h].get("classes", [])), list(old_heads[h].get("classes", []))
            added, removed = [c for c in new_c if c not in old_c], [c for c in old_c if c not in new_c]
            if added or removed:
                classes[h] = {"added": added, "removed": removed}
    new_cfg = flatten((config.get("training") or {}).get("config", {}))
    old_cfg = flatten((parent_config.get("training") or {}).get("config", {}))
    training = [
        {"key": k, "old": old_cfg.get(k), "new": new_cfg.get(k)}
        for k in sorted(set(new_cfg) | set(old_cfg))
        if new_cfg.get(k) != old_cfg.get(k) or (k in new_cfg) != (k in old_cfg)
    ]
    rows = []
    if metrics and parent_metrics:
        def tables(m: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
            return [("all", m.get("heads", {}))] + sorted(m.get("by_source", {}).items())

        new_t, old_t = dict(tables(metrics)), dict(tables(parent_metrics))
        order = list(dict.fromkeys([*heads, *old_heads, *(h for t in (*new_t.values(), *old_t.values()) for h in t)]))
        for src in ["all"] + sorted((set(new_t) | set(old_t)) - {"all"}):
            for h in order:
                m, o = new_t.get(src, {}).get(h), old_t.get(src, {}).get(h)
                if m is None and o is None:
                    continue
                row: dict[str, Any] = {"head": h, "source": src, "n": (m or o).get("n"), "parent_n": o.get("n") if o else None}
                for k in ("macro_f1", "accuracy"):
                    row[f"parent_{k}"] = o.get(k) if o else None
                    row[k] = m.get(k) if m else None
                    row[f"delta_{k}"] = _delta(row[k], row[f"parent_{k}"])
                rows.append(row)
    data_of = lambda m: {k: (m or {}).get("data", {}).get(k) for k in ("paths", "split", "heldout_paths", "n")}  # noqa: E731
    return {
        "parent": _ref(parent_config),
        "declared_parent": config.get("parent"),
        "heads_added": [h for h in heads if h not in old_heads],
        "heads_removed": [h for h in old_heads if h not in heads],
        "classes": classes,
        "training_config": training,
        "metrics": rows,
        "same_data": bool(metrics and parent_metrics) and data_of(metrics) == data_of(parent_metrics),
        "hosts": [(parent_metrics or {}).get("host"), (metrics or {}).get("host")],
        "lexical": [bool(parent_config.get("lexical")), bool(config.get("lexical"))],
    }


def _short(v: Any, width: int = 60) -> str:
    s = "(unset)" if v is None else json.dumps(v) if not isinstance(v, str) else v
    return s if len(s) <= width else s[: width - 3] + "..."


def _pick(report: dict[str, Any], src: str, head: str) -> dict[str, Any]:
    """One head's entry of an ``evaluate_outputs``-shaped report, overall (``src == "all"``) or for a source."""
    return (report.get("heads", {}) if src == "all" else report.get("by_source", {}).get(src, {})).get(head, {})


def _interval(d: dict[str, Any]) -> str:
    if d.get("diff") is None:
        return "-"
    lo, hi = d["ci95"]
    return f"{d['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def _signed(v: float | None) -> str:
    return "-" if v is None else f"{v:+.3f}"


OUTSIDE_KEYS = ("heads", "by_source", "baselines", "baselines_train_n", "vs_baselines", "data", "host")


def outside_report(config: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an evaluate report on sources the model never trained on that its card keeps.

    Refuses a report with a source the model trained on: figures on a seen source would read as transfer."""
    trained = {str(d.get("name", "")).lower() for d in config.get("training", {}).get("data_sources", [])}
    seen = sorted(src for src in report.get("by_source", {}) if src.lower() in trained)
    if seen:
        raise ExportError(f"outside report: source {seen[0]!r} is one the model trained on; expected only sources "
                          f"outside {sorted(trained)}")
    if not report.get("by_source"):
        raise ExportError("outside report: no by_source figures; expected an evaluate --json report")
    return {k: report[k] for k in OUTSIDE_KEYS if k in report}


def _outside_lines(outside: Mapping[str, Any]) -> list[str]:
    base = list(outside.get("baselines") or {})
    vs = outside.get("vs_baselines") or {}
    lines = [
        "",
        "## Sources it never trained on",
        "From `convo-outcomes evaluate` on labelled records from sources outside the training data (none of their"
        " records, nor any from the same source, was trained on)." + _host_note(outside.get("host")),
        "`macro-F1 (gold)` averages over the classes the source has; plain macro-F1 also counts, at F1 0, every class"
        " the model predicts that the source lacks."
        + (f" Baselines fitted on the model's {outside['baselines_train_n']:,} training records." if outside.get("baselines_train_n") else ""),
        "",
        "| head | source | n | accuracy | macro-F1 | macro-F1 (gold) | ECE |" + "".join(f" {n} accuracy | vs {n} (macro-F1) [95%] |" for n in base),
        "|---|---|---|---|---|---|---|" + "---|---|" * len(base),
    ]
    for src, heads in [("all", outside.get("heads", {}))] + list(outside.get("by_source", {}).items()):
        for h, m in heads.items():
            row = [src if src != "all" else "all outside", str(m["n"]), _f(m["accuracy"]), _f(m["macro_f1"]), _f(m.get("macro_f1_gold")), _f(m.get("ece"))]
            for n in base:
                row += [_f(_pick(outside["baselines"][n], src, h).get("accuracy")), _interval(_pick(vs.get(n, {}), src, h))]
            lines.append(f"| {h} | " + " | ".join(row) + " |")
    return lines


def _outside_limitation(outside: Mapping[str, Any] | None) -> list[str]:
    if not outside:
        return ["- **Sources it never saw** were not measured for this model: expect lower accuracy than the held-out"
                " table shows, and retrain on your labels."]
    parts = [f"{h} accuracy {m['accuracy']:.2f} with ECE {_f(m.get('ece'))}" for h, m in outside.get("heads", {}).items()]
    return ["- **Sources it never saw**: the held-out table measures sources the model trained on; on "
            f"{outside.get('data', {}).get('n', '?')} records from sources outside its training data it reached "
            + ", ".join(parts) + " (see 'Sources it never trained on'). Calibration is fitted on its own sources and does"
            " not carry over; retrain on your labels before trusting its probabilities on a new source."]


def _changes_lines(ch: dict[str, Any], have_metrics: bool) -> list[str]:
    lines = ["", f"## Changes since the parent ({ch['parent']})"]
    if ch["declared_parent"] and ch["declared_parent"] != ch["parent"]:
        lines.append(f"Note: this model declares parent {ch['declared_parent']}, but was compared with {ch['parent']}.")
    lines += ["", "**Label spec.**"]
    spec_changes = [f"- head added: `{h}`" for h in ch["heads_added"]] + [f"- head removed: `{h}`" for h in ch["heads_removed"]]
    for h, c in ch["classes"].items():
        spec_changes += [f"- `{h}`: class added `{x}`" for x in c["added"]] + [f"- `{h}`: class removed `{x}`" for x in c["removed"]]
    lines += spec_changes or ["- no change"]
    lines += ["", "**Training config** (dotted keys, parent → this model)."]
    if ch["training_config"]:
        lines += ["", "| key | parent | this model |", "|---|---|---|"]
        lines += [f"| `{r['key']}` | {_short(r['old'])} | {_short(r['new'])} |" for r in ch["training_config"]]
    else:
        lines.append("- no change")
    if ch.get("lexical") and ch["lexical"][0] != ch["lexical"][1]:
        lines += ["", "**Lexical blend.** " + ("added: the same encoder and heads, mixed with a lexical prior (see Lexical blend)." if ch["lexical"][1]
                                              else "removed: this model is the encoder and heads alone.")]
    lines += ["", "**Held-out metrics** (this model - parent)."]
    if not ch["metrics"]:
        lines.append("- not compared: " + ("the parent folder has no metrics.json" if have_metrics else "this model has no metrics yet"))
        return lines
    if not ch["same_data"]:
        lines.append("Caution: the two reports were computed on different data (files, split or n), so deltas compare different records.")
    old_host, new_host = ch.get("hosts") or (None, None)
    if new_host and old_host != new_host:
        where = (f"int8 CPU flags {old_host.get('cpu_int8')}, onnxruntime {old_host.get('onnxruntime')}" if old_host
                 else "not recorded in its report")
        lines.append(f"Caution: the parent's host ({where}) is not this model's (int8 CPU flags {new_host.get('cpu_int8')}, "
                     f"onnxruntime {new_host.get('onnxruntime')}); int8 scores shift slightly with the CPU, so small deltas may be the host.")
    lines += ["", "| head | source | n | parent macro-F1 | macro-F1 | Δ macro-F1 | parent acc | acc | Δ acc |", "|---|---|---|---|---|---|---|---|---|"]
    for r in ch["metrics"]:
        lines.append(
            f"| {r['head']} | {r['source']} | {_f(r['n'])} | {_f(r['parent_macro_f1'])} | {_f(r['macro_f1'])} | {_signed(r['delta_macro_f1'])} "
            f"| {_f(r['parent_accuracy'])} | {_f(r['accuracy'])} | {_signed(r['delta_accuracy'])} |"
        )
    return lines


def _segment_lines(metrics: dict[str, Any]) -> list[str]:
    segs = {s: v for s, v in (metrics.get("by_segment") or {}).items() if v}
    if not segs:
        return []
    lines = [
        "",
        "## Metrics by segment",
        "Per `meta.channel`, `meta.industry` and `meta.language`; records without the field are left out, and a",
        "segment value's head with fewer than 20 labelled records is not shown.",
        "",
        "| segment | value | head | n | accuracy | macro-F1 | ECE |",
        "|---|---|---|---|---|---|---|",
    ]
    for seg, values in segs.items():
        for value, heads in values.items():
            for h, m in heads.items():
                lines.append(f"| {seg} | {value} | {h} | {m['n']} | {_f(m['accuracy'])} | {_f(m['macro_f1'])} | {_f(m.get('ece'))} |")
    return lines


def _lineage_lines(config: dict[str, Any], compared: bool) -> list[str]:
    data_hash = config.get("data_hash") or (config.get("training") or {}).get("data_hash")
    parent = config.get("parent")
    lines = [
        "",
        "## Version",
        f"- version: `{config.get('version')}`",
        f"- parent: `{parent}`" if parent else "- parent: none (trained from the base encoder or no parent recorded)",
        f"- training-data hash: `{data_hash}`" if data_hash else "- training-data hash: not recorded",
    ]
    if config.get("exported_at"):
        lines.append(f"- exported at: {config['exported_at']}")
    if parent and not compared:
        lines.append("- what changed since the parent: run `convo-outcomes card MODEL --parent PARENT_FOLDER`")
    return lines


def _blend_lines(lex: dict[str, Any] | None) -> list[str]:
    if not lex:
        return []
    lines = [
        "",
        "## Lexical blend (`convo-outcomes blend`)",
        f"Some heads are mixed with a word 1-2 gram TF-IDF + logistic regression prior ({lex.get('features')} features, fitted on the",
        f"{lex.get('fitted_on_records')} training-split records of the model's own training files; `lexical.json`, `lexical.npz`):",
        "(1 - w) x log softmax(logits / T) + w x log p_lexical, then a temperature of its own. Weights were chosen on the validation",
        "split (mean macro-F1 over sources), among the weights that keep at least as many long calls decided at the end right",
        "(over 2,000 tokens, deciding turns in the last 10%) as the encoder alone (with fewer such validation calls than",
        f"{lex.get('min_long_calls', 50)}, a head is not blended); a head with weight 0 is the encoder's alone.",
        "Evidence turns come from the encoder's attention only.",
        "",
        "| head | weight | blend T | validation mean macro-F1, w = 0 | at the weight | long calls right, w = 0 / at the weight | ECE before | ECE after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for h, v in lex.get("validation", {}).items():
        curve, grid, right = v.get("mean_source_macro_f1") or [], v.get("grid") or [], v.get("long_end_right")
        at = grid.index(v["weight"]) if v.get("weight") in grid else None
        chosen = curve[at] if curve and at is not None else None
        long_cell = f"{right[grid.index(0.0)]} / {right[at]}" if right and at is not None and 0.0 in grid else "-"
        lines.append(
            f"| {h} | {_f(v.get('weight'))} | {_f(v.get('temperature'))} | {_f(curve[0] if curve else None)} | "
            f"{_f(chosen)} | {long_cell} | {_f(v.get('ece_before'))} | {_f(v.get('ece_after'))} |"
        )
    return lines


def render_model_card(
    config: dict[str, Any],
    metrics: dict[str, Any] | None,
    parity: dict[str, Any] | None,
    parent_config: dict[str, Any] | None = None,
    parent_metrics: dict[str, Any] | None = None,
) -> str:
    """A model card from what the folder knows: data, heads, calibration, parity and held-out metrics,
    and, given the parent's config (and metrics), what changed since the parent."""
    training = config.get("training", {})
    cfg = training.get("config", {})
    lines = [
        f"# {config.get('name')} ({config.get('version')})",
        "",
        "Multi-head conversation-outcome model from convo-outcomes: one MiniLM-style encoder, one head per",
        "outcome, calibrated probabilities with evidence turns. Generated by `convo-outcomes export`/`card`;",
        "do not edit by hand.",
    ]
    lines += _lineage_lines(config, parent_config is not None)
    if parent_config is not None:
        lines += _changes_lines(changes_since_parent(config, metrics, parent_config, parent_metrics), bool(metrics))
    lines += [
        "",
        "## Intended use",
        "Tag contact-center conversations (chat and call transcripts, English) with resolution, churn risk,",
        "repeat contact, contact cause and customer effort, to measure outcomes across an archive and to",
        "route individual conversations to people. Not for decisions about a customer without human review:",
        "low-confidence outputs should abstain, and the churn head is a proxy (see Limitations).",
        "",
        "## Heads",
        "| head | type | classes | temperature (the head's own) |",
        "|---|---|---|---|",
    ]
    for h, spec in config["label_spec"]["heads"].items():
        lines.append(f"| {h} | {spec['type']} | {', '.join(spec['classes'])} | {_f(config['temperatures'].get(h))} |")
    w = config["window"]
    lines += [
        "",
        "## How text is read",
        f"Render version `{config['render_version']}`: each turn is prefixed with its speaker (`customer:`, `agent:`, ...),",
        f"turns are concatenated and cut into windows of {w['max_length']} tokens overlapping by {w['overlap']}; every",
        f"window is encoded and each head attends over all tokens of all windows (up to {w['max_windows']} windows,",
        "beyond which the middle is dropped and reported). The whole call is read; the ending is never cut.",
        f"Each head reads: {' + '.join(config.get('pooling_features', ['attention', 'mean']))}"
        + (" (end: the same attention over the last window only, i.e. the call's final tokens)" if "end" in config.get("pooling_features", []) else "")
        + (" (mass: the log-sum-exp of the head's attention scores over the call, a soft log-count of what it attends to,"
           " and log(1 + tokens); attention and mean are averages and cannot count events)" if "mass" in config.get("pooling_features", []) else "")
        + ".",
        _encoder_line(config),
        f"Encoder graph quantization: {config['encoder']['quantization']} (per-channel: {config['encoder'].get('per_channel')},",
        f"matmuls kept fp32: {', '.join(f'`{k}`' for k in config['encoder'].get('kept_fp32', [])) or 'none'}).",
        "",
        "## Training data",
        "| source | licence | train | validation | test (held out) |",
        "|---|---|---|---|---|",
    ]
    for s in training.get("data_sources", []):
        lines.append(f"| {s['name']} | {_LICENCES.get(s['name'], 'see source')} | {s['train']} | {s['validation']} | {s['test']} |")
    synth_cfg = (cfg or {}).get("data", {}).get("synth") or {}
    if synth_cfg.get("n"):
        inds = synth_cfg.get("industries")
        lines += ["", f"Generated corpus: {synth_cfg['n']} conversations, seed {synth_cfg.get('seed')}, industries: "
                  + (", ".join(inds) if inds else "the generator's default six (retail, telecom, travel_mobility, banking, utilities, subscription_software)")
                  + (f"; {synth_cfg['wide_requests']:.0%} of opening requests in cross-industry wording" if synth_cfg.get("wide_requests") else "") + "."]
    lab = training.get("labelled_per_head", {})
    if lab:
        lines += ["", "Training records carrying each head's label: " + ", ".join(f"{h} {n}" for h, n in lab.items()) + "."]
    aug = training.get("augmented")
    if aug:
        lines.append(
            f"Of them, {aug['customer_only_views']} are customer-only views (a conversation's customer turns alone, "
            f"`data.augment`)"
            + (f" and {aug['request_views']} request views (only the customer turns that state the contact cause)" if aug.get("request_views") else "")
            + f", labelled for {', '.join(aug['heads'])} only."
        )
    if cfg:
        lines += [
            "",
            (f"Warm start from `{cfg['model']['init_from']}`" + (f" ({training['warm_start']['source']})" if training.get("warm_start", {}).get("source") else "")
             + (" (encoder frozen)" if cfg.get("optim", {}).get("freeze_encoder") else "")
             if cfg.get("model", {}).get("init_from") else f"Base encoder: `{cfg.get('model', {}).get('base')}`")
            + f"; {training.get('steps')} steps in {training.get('minutes')} min; "
            f"split seed {cfg.get('data', {}).get('split_seed')} (split by customer id, else conversation id).",
            f"Rebuild: `convo-outcomes train --config training/configs/{cfg.get('name', 'default')}.yaml`.",
        ]
        for h in training.get("history", []):
            if h.get("solver") == "lbfgs":
                lines.append(
                    f"- L-BFGS fit of the learned classifier rows on fixed features (records per head {h.get('records')}): loss "
                    f"{h.get('loss_start')} -> {h.get('loss_end')} in {h.get('iterations')} iterations; validation mean macro-F1 {h['val_mean_macro_f1']}"
                )
                continue
            lines.append(
                f"- validation after step {h['step']} ({'complete' if h.get('complete') else 'partial'} epoch {h['epoch']}, "
                f"{h.get('minutes')} min): mean macro-F1 {h['val_mean_macro_f1']}"
            )
        for head, per_class in (training.get("class_priors") or {}).items():
            for c, pr in per_class.items():
                lines.append(
                    f"- class prior `{head}/{c}`: {pr['train_share']:.1%} of the training labels, expected {pr['share']:.1%} in "
                    f"scored data (optim.class_priors); bias shifted by {pr['bias_shift']:+.3f}"
                )
        if config.get("notes"):
            lines += ["", str(config["notes"])]
    calib = config.get("calibration", {})
    if calib:
        lines += ["", "## Calibration (validation split, temperature scaling)", "| head | n | T | ECE before | ECE after | Brier before | Brier after |", "|---|---|---|---|---|---|---|"]
        for h, c in calib.items():
            b, a = c.get("before", {}), c.get("after", {})
            lines.append(f"| {h} | {c.get('n')} | {_f(c.get('temperature'))} | {_f(b.get('ece'))} | {_f(a.get('ece'))} | {_f(b.get('brier'))} | {_f(a.get('brier'))} |")
        kept = [h for h, c in calib.items() if c.get("note")]
        if kept:
            # A head frozen in a warm start keeps its parent's temperature; its before/after lives in the parent's card.
            lines += ["", "Not refitted (frozen in this run, temperature inherited from the parent): " + ", ".join(f"`{h}`" for h in kept) + "."]
    lines += _blend_lines(config.get("lexical"))
    if metrics:
        lines += [
            "",
            "## Held-out metrics",
            f"From `convo-outcomes evaluate` on records the model never trained on ({metrics.get('data', {}).get('split', 'all')} split)."
            + _host_note(metrics.get("host")),
            "",
            "| head | source | n | accuracy | macro-F1 | AUC | " + ("ECE [95%]" if _has_ece_ci(metrics) else "ECE") + " |",
            "|---|---|---|---|---|---|---|",
        ]
        for h, m in metrics.get("heads", {}).items():
            lines.append(f"| {h} | all | {m['n']} | {_f(m['accuracy'])} | {_f(m['macro_f1'])} | {_f(m.get('auc'))} | {_ece(m)} |")
        for src, heads in metrics.get("by_source", {}).items():
            for h, m in heads.items():
                lines.append(f"| {h} | {src} | {m['n']} | {_f(m['accuracy'])} | {_f(m['macro_f1'])} | {_f(m.get('auc'))} | {_ece(m)} |")
        if _has_ece_ci(metrics):
            lines += [
                "",
                "ECE's interval is the 2.5-97.5 percentile over 1,000 bootstrap resamples of the records; a resample's"
                " ECE leans high (fewer records per bin), so a lower bound over 0.05 means over it, and an interval that"
                " straddles 0.05 cannot be told apart from it on these records.",
            ]
        if metrics.get("baselines"):
            vs = metrics.get("vs_baselines") or {}
            diff_cols = [n for n in metrics["baselines"] if n in vs]
            lines += [
                "",
                "Baselines trained on the same training split, scored on the same records (macro-F1; the difference is"
                " this model minus the baseline, with a 95% paired bootstrap interval over the records):",
                "",
                "| head | source | this model | " + " | ".join(metrics["baselines"]) + "".join(f" | vs {n}" for n in diff_cols) + " |",
                "|---|---|---|" + "---|" * (len(metrics["baselines"]) + len(diff_cols)),
            ]
            for src, heads in [("all", metrics["heads"])] + list(metrics.get("by_source", {}).items()):
                for h, m in heads.items():
                    row = [
                        _f((b["heads"] if src == "all" else b["by_source"].get(src, {})).get(h, {}).get("macro_f1"))
                        for b in metrics["baselines"].values()
                    ]
                    row += [_interval(_pick(vs[n], src, h)) for n in diff_cols]
                    lines.append(f"| {h} | {src} | {_f(m['macro_f1'])} | " + " | ".join(row) + " |")
    if metrics and metrics.get("baselines"):
        worse = []
        vs = metrics.get("vs_baselines") or {}
        for src, heads in [("all", metrics["heads"])] + list(metrics.get("by_source", {}).items()):
            for h, m in heads.items():
                for name, b in metrics["baselines"].items():
                    bm = _pick(b, src, h).get("macro_f1")
                    if bm is not None and bm > m["macro_f1"]:
                        d = _pick(vs.get(name, {}), src, h)
                        tell = ""
                        if d.get("ci95"):
                            inside = d["ci95"][0] <= 0 <= d["ci95"][1]
                            tell = f" (difference {_interval(d)}: {'within' if inside else 'beyond'} what these records can tell apart)"
                        worse.append(f"{h} on {src}: {m['macro_f1']:.3f} vs {name} {bm:.3f}{tell}")
        lines += ["", "## Where a baseline is better", ""]
        lines += [f"- {w}" for w in worse] if worse else ["None: this model matches or beats every baseline on every head and source."]
    if metrics and metrics.get("outside"):
        lines += _outside_lines(metrics["outside"])
    if metrics:
        lines += _segment_lines(metrics)
    if metrics and metrics.get("slices"):
        lines += ["", "## Long calls (accuracy by length)", "| slice | n | " + " | ".join(config["heads"]) + " |", "|---|---|" + "---|" * len(config["heads"])]
        for name, sl in metrics["slices"].items():
            lines.append(f"| {name} | {sl['n']} | " + " | ".join(_f(sl["heads"].get(h, {}).get("accuracy")) for h in config["heads"]) + " |")
        lines.append("short: <= 512 tokens; long_end: > 2,000 tokens with the resolution evidence only in the last 10% of turns (generated).")
    if metrics and metrics.get("evidence"):
        lines += ["", "## Evidence", "Share of generated conversations whose reported evidence turns (up to 3) include a turn known to decide the label:", ""]
        lines += [f"- {h}: {e['hit_rate']:.1%} of {e['n']}" for h, e in metrics["evidence"].items()]
    if parity:
        lines += ["", "## Export parity (ONNX vs torch)", "fp32 max abs difference per output: " + ", ".join(f"{k} {v:.1e}" for k, v in parity.get("fp32_max_abs_diff", {}).items()) + "."]
        if parity.get("int8_top_label_agreement"):
            lines.append("int8 top-label agreement with torch: " + ", ".join(f"{k} {v:.3f}" for k, v in parity["int8_top_label_agreement"].items()) + ".")
        if parity.get("int8_metric_change"):
            lines.append("int8 macro-F1 change on validation: " + ", ".join(f"{k} {v['macro_f1_change']:+.4f}" for k, v in parity["int8_metric_change"].items()) + ".")
    lines += [
        "",
        "## Limitations",
        "- **Churn risk is a proxy.** No public data set has churn outcomes. On public data this head is trained",
        "  and measured on explicit cancellation intent (`aux_cancellation_intent`); on generated data on story-based",
        "  churn risk. Treat it as 'the customer signals leaving', not as a churn forecast.",
        "- **Effort and repeat contact have no public labels**: they are trained and measured on generated",
        "  conversations only; expect lower accuracy on real traffic until retrained on your labels.",
        "- **Resolution** on public data comes from STAR (resolved/unresolved as answered by the customer); it has no",
        "  escalated class, which comes from generated data only.",
        *_outside_limitation((metrics or {}).get("outside")),
        "- Public sources are role-played (Wizard-of-Oz, crowd workers) and short; long calls are generated.",
        "  English only. Dynamic int8 quantization scales activations per batch, so a conversation's",
        "  probabilities can differ in the 4th decimal depending on what it was batched with.",
        "",
        "## Versions",
        "```",
        json.dumps(training.get("versions", {}), indent=1),
        "```",
    ]
    return "\n".join(lines) + "\n"


def write_card(
    folder: str | Path,
    metrics: dict[str, Any] | None = None,
    parent: str | Path | None = None,
    outside: dict[str, Any] | None = None,
) -> Path:
    """(Re)write README.md and metrics.json of an exported folder, then its manifest.

    ``parent``: the parent's exported folder; its config.json (and metrics.json, if any) feed the
    card's "Changes since the parent" section. ``outside``: an evaluate report on sources the model never
    trained on, kept in metrics.json under "outside" for the card's "Sources it never trained on".
    """
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    parent_config = parent_metrics = None
    if parent is not None:
        parent = Path(parent)
        if not (parent / "config.json").exists():
            raise ExportError(f"parent {parent}: no config.json; expected an exported model folder")
        parent_config = json.loads((parent / "config.json").read_text())
        if (parent / "metrics.json").exists():
            parent_metrics = json.loads((parent / "metrics.json").read_text())
    if metrics is None and (folder / "metrics.json").exists():
        metrics = json.loads((folder / "metrics.json").read_text())
        rewrite = outside is not None
    else:
        rewrite = metrics is not None
    if outside is not None:
        if metrics is None:
            raise ExportError(f"{folder}: an outside report needs held-out metrics first (--metrics, or a metrics.json in the folder)")
        metrics = {**metrics, "outside": outside_report(config, outside)}
    if rewrite:
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    parity = json.loads((folder / "parity.json").read_text()) if (folder / "parity.json").exists() else None
    (folder / "README.md").write_text(render_model_card(config, metrics, parity, parent_config, parent_metrics))
    write_manifest(folder)
    return folder / "README.md"
