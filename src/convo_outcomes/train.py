"""Fine-tuning: mixed real + generated data, masked multi-head loss, length-bucketed batches,
checkpoints that survive a killed session, early stopping, and per-head temperature calibration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .config import POOLINGS, RESUMABLE, TrainConfig, resume_differences
from .labels import LabelSpec
from .metrics import calibration_summary, evaluate_outputs, fit_temperature, softmax
from .model import OutcomeModel, StateCache, build_encoder, collate, predict_features, predict_logits, token_turns
from .render import EncodedConversation, Windower
from .schema import Conversation

logger = logging.getLogger(__name__)

IGNORE = -100


class TrainError(RuntimeError):
    """Training cannot proceed (no data, no labels for any head, corrupt checkpoint)."""


@dataclass
class Example:
    id: str
    source: str
    encoded: EncodedConversation
    targets: np.ndarray  # int64 [heads], -1 = unknown
    origin: str = ""  # the data source entry it came from (sampling weights are per entry)
    evidence: dict[int, list[int]] = field(default_factory=dict)  # head index -> turns known to decide its label


@dataclass
class Splits:
    train: list[Conversation] = field(default_factory=list)
    validation: list[Conversation] = field(default_factory=list)
    test: list[Conversation] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)  # conversation id -> source entry name


# ------------------------------------------------------------------------------------------- data


def synth_path(cfg: TrainConfig, cache_dir: Path) -> Path | None:
    """Generate (once, deterministically) the configured synthetic corpus and return its path."""
    s = cfg.data.synth
    if s.n <= 0:
        return None
    from .synth import SynthConfig, generate

    extra: dict[str, Any] = {} if s.long_share is None else {"long_share": s.long_share}
    tag = f"-long{s.long_share}" if s.long_share is not None else ""
    if s.industries is not None:
        extra["industries"] = tuple(s.industries)
        tag += "-" + "+".join(sorted(s.industries))
    if s.wide_requests:
        extra["wide_requests"] = float(s.wide_requests)
        tag += f"-wide{float(s.wide_requests)}"
    path = cache_dir / f"synth-n{s.n}-seed{s.seed}{tag}.jsonl"
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        generate(n=s.n, seed=s.seed, out=tmp, config=SynthConfig(**extra))
        tmp.rename(path)
    return path


def load_splits(cfg: TrainConfig, cache_dir: Path) -> Splits:
    from .data import read_conversations, split_of

    out = Splits()
    entries: list[tuple[str, Path, int | None, float]] = []
    for src in cfg.data.sources:
        p = Path(os.path.expandvars(src.path))
        if not p.exists():
            if cfg.data.optional_sources:
                logger.warning("data source %s not found; skipped (data.optional_sources is true)", p)
                continue
            raise TrainError(f"data source {p} not found")
        entries.append((src.name or p.stem, p, src.max_records, src.weight))
    sp = synth_path(cfg, cache_dir)
    if sp is not None:
        entries.append(("synthetic", sp, None, 1.0))
    for name, path, max_records, weight in entries:
        counts = {"train": 0, "validation": 0, "test": 0}
        for i, conv in enumerate(read_conversations([path])):
            if max_records is not None and i >= max_records:
                break
            part = split_of(conv, seed=cfg.data.split_seed, validation=cfg.data.validation, test=cfg.data.test)
            getattr(out, part).append(conv)
            out.origin[conv.id] = name
            counts[part] += 1
        out.sources.append({"name": name, "path": str(path), "weight": weight, **counts})
        logger.info("data %s: %s", name, counts)
    if not out.train:
        raise TrainError("no training records: check data.sources and data.synth.n")
    return out


VIEW_SUFFIX = "~customer-only"
REQUEST_SUFFIX = "~request"
VIEW_SUFFIXES = (VIEW_SUFFIX, REQUEST_SUFFIX)


def view_parent(view_id: str) -> str:
    """The id of the conversation a view was made from."""
    for suffix in VIEW_SUFFIXES:
        if view_id.endswith(suffix):
            return view_id[: -len(suffix)]
    return view_id


def _picked(seed: int, kind: str, conv_id: str, share: float) -> bool:
    """A stable pick by a hash of the id, so it does not depend on the order of the data or on resume."""
    salt = f"{seed}:{conv_id}" if kind == "customer-only" else f"{seed}:{kind}:{conv_id}"
    return hashlib.sha256(salt.encode()).digest()[0] / 256 < share


def customer_only_views(convs: Sequence[Conversation], share: float, seed: int) -> list[Conversation]:
    """The customer's turns alone, for a stable ``share`` of the conversations that have another side.

    Contact-center logs differ in what they keep: some sources hold only the customer's side. Without such
    views, "no agent turns" is a format that only single-message sources have, and a head learns it as a
    signal for their classes. A conversation is picked by a hash of its id and ``seed``, so the pick does
    not depend on the order of the data or on resume.
    """
    out: list[Conversation] = []
    if share <= 0:
        return out
    for conv in convs:
        if not _picked(seed, "customer-only", conv.id, share):
            continue
        kept = [t for t in conv.turns if t.speaker == "customer"]
        if len(kept) == len(conv.turns) or not any(not t.blank for t in kept):
            continue
        out.append(conv.model_copy(update={"id": conv.id + VIEW_SUFFIX, "turns": kept}))
    return out


def request_views(convs: Sequence[Conversation], share: float, seed: int, head: str = "contact_cause") -> list[Conversation]:
    """The customer turns that state the contact cause, alone, for a stable ``share`` of the conversations that mark them.

    Read from ``meta.evidence_turns[head]`` (turn indices; the generator writes them). A conversation that is
    already just those turns adds nothing and gets no view.
    """
    out: list[Conversation] = []
    if share <= 0:
        return out
    for conv in convs:
        evidence = getattr(conv.meta, "evidence_turns", None)
        marked = evidence.get(head) if isinstance(evidence, dict) else None
        if not marked or not _picked(seed, "request", conv.id, share):
            continue
        kept = [conv.turns[i] for i in sorted(set(marked)) if isinstance(i, int) and 0 <= i < len(conv.turns)
                and conv.turns[i].speaker == "customer" and not conv.turns[i].blank]
        if not kept or len(kept) == len(conv.turns):
            continue
        out.append(conv.model_copy(update={"id": conv.id + REQUEST_SUFFIX, "turns": kept}))
    return out


def mask_views(examples: Sequence[Example], spec: LabelSpec, heads: Sequence[str]) -> None:
    """On views keep only the labels of ``heads``; their turn indices moved, so no evidence."""
    unknown = [h for h in heads if h not in spec.head_names]
    if unknown:
        raise TrainError(f"data.augment.heads: {unknown} are not heads of the label spec; heads: {list(spec.head_names)}")
    drop = [j for j, h in enumerate(spec.head_names) if h not in heads]
    for e in examples:
        if e.id.endswith(VIEW_SUFFIXES):
            e.targets[drop] = -1
            e.evidence = {}


def make_examples(
    convs: Sequence[Conversation], spec: LabelSpec, windower: Windower, origin: dict[str, str] | None = None, chunk: int = 2048
) -> list[Example]:
    from tqdm.auto import tqdm

    out: list[Example] = []
    for s in tqdm(range(0, len(convs), chunk), desc="tokenize", unit="chunk", disable=None):
        part = convs[s : s + chunk]
        for conv, enc in zip(part, windower.encode_many([c.turns for c in part])):
            t = [spec[h].target(conv.labels) for h in spec.head_names]
            targets = np.array([-1 if v is None else v for v in t], dtype=np.int64)
            known = getattr(conv.meta, "evidence_turns", None) or {}
            evidence = {j: list(known[h]) for j, h in enumerate(spec.head_names) if targets[j] >= 0 and known.get(h)}
            out.append(Example(conv.id, conv.source, enc, targets, (origin or {}).get(conv.id, conv.source), evidence))
    return out


def length_batches(
    encoded: Sequence[EncodedConversation],
    max_tokens: int,
    max_conversations: int,
    shuffle_seed: int | None,
    chunk_factor: int = 64,
) -> list[np.ndarray]:
    """Batches of conversation indices with similar shapes; padded cost (windows x longest) <= max_tokens.

    With a seed: shuffle, sort within large chunks, shuffle batch order (randomness without padding waste).
    """
    n = len(encoded)
    order = np.arange(n)
    rng = np.random.default_rng(shuffle_seed) if shuffle_seed is not None else None
    if rng is not None:
        rng.shuffle(order)
    key = np.array([(e.n_windows * 1024 + max(e.lengths)) for e in encoded])
    chunk = max_conversations * chunk_factor
    batches: list[np.ndarray] = []
    for s in range(0, n, chunk):
        part = order[s : s + chunk]
        part = part[np.argsort(key[part], kind="stable")]
        cur: list[int] = []
        cur_w, cur_t = 0, 0
        for i in part:
            e = encoded[i]
            w, t = e.n_windows, max(e.lengths)
            if cur and ((cur_w + w) * max(cur_t, t) > max_tokens or len(cur) >= max_conversations):
                batches.append(np.array(cur))
                cur, cur_w, cur_t = [], 0, 0
            cur.append(int(i))
            cur_w += w
            cur_t = max(cur_t, t)
        if cur:
            batches.append(np.array(cur))
    if rng is not None:
        perm = rng.permutation(len(batches))
        batches = [batches[i] for i in perm]
    return batches


def epoch_sample(examples: Sequence[Example], weights: dict[str, float], seed: int) -> list[int]:
    """Indices for one epoch: sources with weight < 1 are subsampled, > 1 repeated (fresh draw per epoch)."""
    rng = random.Random(seed)
    by_src: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_src.setdefault(ex.origin or ex.source, []).append(i)
    out: list[int] = []
    for src, idx in sorted(by_src.items()):
        w = weights.get(src, 1.0)
        whole, frac = int(w), w - int(w)
        out.extend(idx * whole)
        if frac > 0:
            out.extend(rng.sample(idx, int(round(frac * len(idx)))))
    return out


def class_weights(examples: Sequence[Example], spec: LabelSpec, power: float) -> list[torch.Tensor]:
    """Per-head class weights (count^-power, normalised to mean 1 over seen classes) for imbalance."""
    targets = np.stack([e.targets for e in examples])
    out = []
    for j, h in enumerate(spec):
        col = targets[:, j]
        counts = np.bincount(col[col >= 0], minlength=h.num_classes).astype(np.float64)
        w = np.where(counts > 0, np.power(np.maximum(counts, 1), -power), 0.0)
        seen = w > 0
        if seen.any():
            w[seen] /= w[seen].mean()
        w[~seen] = 1.0
        out.append(torch.tensor(w, dtype=torch.float32))
    return out


# ------------------------------------------------------------------------------------------- loop


def masked_loss(
    logits: dict[str, torch.Tensor], targets: torch.Tensor, spec: LabelSpec, weights: list[torch.Tensor], head_weights: dict[str, float]
) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum of per-head cross-entropies over the records that carry that head's label."""
    total = logits[spec.head_names[0]].new_zeros(())
    parts: dict[str, float] = {}
    for j, name in enumerate(spec.head_names):
        y = targets[:, j]
        if not (y >= 0).any():
            continue
        loss = nn.functional.cross_entropy(logits[name], y.clamp_min(-1).masked_fill(y < 0, IGNORE), weight=weights[j], ignore_index=IGNORE)
        total = total + head_weights.get(name, 1.0) * loss
        parts[name] = float(loss.detach())
    return total, parts


def evidence_loss(attention: dict[str, torch.Tensor], examples: Sequence[Example], spec: LabelSpec) -> tuple[torch.Tensor, dict[str, float]]:
    """Attention supervision: -log(attention mass on the turns known to decide the label), per head,
    averaged over the records that know them (generated data records them in ``meta.evidence_turns``).

    What the runtime reports as evidence is this attention summed per turn, so this is what teaches
    evidence to point at the deciding turns."""
    first = next(iter(attention.values()))
    b, n_slot, length = first.shape
    turns = token_turns([e.encoded for e in examples], n_slot, length)
    total = first.new_zeros(())
    parts: dict[str, float] = {}
    for j, name in enumerate(spec.head_names):
        rows = [r for r, e in enumerate(examples) if j in e.evidence]
        if not rows:
            continue
        decisive = torch.stack([torch.isin(turns[r], torch.tensor(examples[r].evidence[j])) for r in rows])
        present = decisive.flatten(1).any(1)  # a deciding turn in a window dropped from a long call teaches nothing
        if not present.any():
            continue
        rows = [r for r, keep in zip(rows, present.tolist()) if keep]
        mass = (attention[name][rows].float() * decisive[present]).sum((1, 2))
        loss = -torch.log(mass.clamp_min(1e-6)).mean()
        total = total + loss
        parts[f"evidence_{name}"] = float(loss.detach())
    return total, parts


def _set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _optimizer(model: OutcomeModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    enc, heads = [], []
    for n, p in model.named_parameters():
        if p.requires_grad:
            (enc if n.startswith("encoder.") else heads).append(p)
    groups = [{"params": enc, "lr": cfg.optim.lr_encoder}, {"params": heads, "lr": cfg.optim.lr_heads}]
    return torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=cfg.optim.weight_decay)


def _schedule(opt: torch.optim.Optimizer, total: int, warmup: int) -> torch.optim.lr_scheduler.LambdaLR:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(opt, f)


def cpu_has_native_bf16(cpuinfo: str | Path | None = None) -> bool:
    """Whether bf16 matmuls are fast here: oneDNN's bf16 kernels need AVX512 (BW/VL/DQ) or AVX512-BF16/AMX.

    Without them autocast falls back to a slow path (measured on an AVX2-only host: one core busy,
    far slower than fp32). Asks torch (``_is_mkldnn_bf16_supported``); a ``cpuinfo`` file (or torch
    lacking that check) is read for the CPU flags instead; no such file (macOS, Windows) means False.
    """
    if cpuinfo is None:
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            cpuinfo = "/proc/cpuinfo"
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return any(f in flags for f in ("avx512bw", "avx512_bf16", "amx_bf16"))


def validation_score(model: OutcomeModel, examples: Sequence[Example], pad_id: int) -> tuple[float, dict[str, Any], dict[str, np.ndarray]]:
    """Mean macro-F1 over heads that have validation labels (what early stopping watches)."""
    logits = predict_logits(model, [e.encoded for e in examples], pad_id)
    targets = np.stack([e.targets for e in examples])
    spec = model.spec
    report = evaluate_outputs(
        spec,
        {h: targets[:, j] for j, h in enumerate(spec.head_names)},
        {h: softmax(logits[h]) for h in spec.head_names},
        [e.source for e in examples],
    )
    f1s = [m["macro_f1"] for m in report["heads"].values()]
    return (float(np.mean(f1s)) if f1s else 0.0), report, logits


@dataclass
class TrainResult:
    output_dir: Path
    final_dir: Path
    steps: int
    epochs_done: int
    best_score: float
    minutes: float
    validation: dict[str, Any]
    calibration: dict[str, Any]


def train(cfg: TrainConfig, resume: bool = False, output_dir: str | Path | None = None) -> TrainResult:
    """Train per config; with ``resume`` continue from ``<output_dir>/checkpoint`` at the same step."""
    from tqdm.auto import tqdm

    out = Path(output_dir or cfg.output_dir)
    ckpt_dir = out / "checkpoint"
    if out.exists() and not resume and (ckpt_dir / "state.pt").exists():
        raise TrainError(f"{out} already holds a checkpoint: pass --resume to continue, or choose another output_dir")
    if resume and (ckpt_dir / "state.pt").exists() and (out / "train_config.json").exists():
        differ = resume_differences(json.loads((out / "train_config.json").read_text()), cfg.to_dict())
        if differ:
            raise TrainError(
                f"{out}: --resume with settings that differ from the run's train_config.json (only "
                f"{', '.join(RESUMABLE)} may change): " + "; ".join(differ)
                + ". Pass the run's own overrides again, or start a new output_dir."
            )
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    _set_seed(cfg.seed)
    if cfg.optim.threads:
        torch.set_num_threads(cfg.optim.threads)

    warm = warm_report = None
    if cfg.model.init_from:
        from .warmstart import apply_warm_start, build_encoder_from, keep_layers, load_warm_start

        warm = load_warm_start(cfg.model.init_from)
        if cfg.model.keep_layers:
            warm = keep_layers(warm, cfg.model.keep_layers)
        if warm.window != cfg.window:
            logger.warning("window %s differs from the warm-start model's %s; the encoder was tuned on the latter", cfg.window, warm.window)
        spec = LabelSpec.load(cfg.label_spec) if cfg.label_spec else warm.spec
        encoder, tok_file = build_encoder_from(warm, cfg.model.attn_implementation), Path(warm.origin) / "tokenizer.json"
    else:
        spec = LabelSpec.load(cfg.label_spec) if cfg.label_spec else LabelSpec.default()
        encoder, tok_file = build_encoder(
            cfg.model.base, tiny_hidden=cfg.model.tiny_hidden, tiny_layers=cfg.model.tiny_layers, attn_implementation=cfg.model.attn_implementation
        )
    pooling = cfg.model.pooling or (warm.pooling if warm is not None else POOLINGS[0])
    model = OutcomeModel(encoder, spec, cfg.window, dropout=cfg.model.dropout, pooling=pooling)
    if warm is not None:
        warm_report = apply_warm_start(model, warm, cfg.model.class_map, cfg.model.init_attention_from)
    frozen = _freeze(model, cfg, warm_report)
    solver = _solver(cfg, model)
    if cfg.optim.freeze_encoder and cfg.optim.state_cache_gb:
        states_from = _frozen_states_graph(cfg, warm)
        model.state_cache = StateCache(int(cfg.optim.state_cache_gb * (1 << 30)), onnx_encoder=states_from)
        logger.info("frozen encoder: token states from %s, kept up to %.1f GB", states_from or "the torch encoder", cfg.optim.state_cache_gb)
    windower = Windower.from_file(tok_file, cfg.window)

    splits = load_splits(cfg, out / "cache")
    train_windower = windower
    if cfg.optim.train_max_windows and cfg.optim.train_max_windows < cfg.window.max_windows:
        # cheaper long calls in training: start and end windows kept (the ending is where resolution lives)
        train_windower = Windower(windower.tokenizer, dataclasses.replace(cfg.window, max_windows=cfg.optim.train_max_windows))
    aug = cfg.data.augment
    views = customer_only_views(splits.train, aug.customer_only, aug.seed)
    requests = request_views(splits.train, aug.request_only, aug.seed)
    for v in views + requests:
        splits.origin[v.id] = splits.origin[view_parent(v.id)]
    train_ex = make_examples(splits.train + views + requests, spec, train_windower, splits.origin)
    kept = {VIEW_SUFFIX: 0, REQUEST_SUFFIX: 0}
    if aug.customer_only or aug.request_only:  # the heads are checked only when views are asked for: a spec may lack the defaults
        mask_views(train_ex, spec, aug.heads)
        kept = {sfx: sum(e.id.endswith(sfx) and bool((e.targets >= 0).any()) for e in train_ex) for sfx in kept}
        train_ex = [e for e in train_ex if not e.id.endswith(VIEW_SUFFIXES) or (e.targets >= 0).any()]
        logger.info("customer-only views: %d, request views: %d, of %d training conversations (%d and %d carry a label of %s)",
                    len(views), len(requests), len(splits.train), kept[VIEW_SUFFIX], kept[REQUEST_SUFFIX], aug.heads)
    val_ex = make_examples(splits.validation, spec, windower, splits.origin)
    labelled = {h: int(sum(e.targets[j] >= 0 for e in train_ex)) for j, h in enumerate(spec.head_names)}
    logger.info("training records %d, validation %d; labelled per head %s", len(train_ex), len(val_ex), labelled)
    if not any(labelled.values()):
        raise TrainError(f"no training record carries a label for any head; label fields read: {spec.label_fields()}")
    priors = class_prior_shifts(spec, train_ex, cfg.optim.class_priors, frozen)  # checked before any training
    data_hash = _data_hash(splits.sources)
    augmented = None
    if aug.customer_only or aug.request_only:
        augmented = {"customer_only_views": kept[VIEW_SUFFIX], "heads": list(aug.heads)}
        if aug.request_only:
            augmented["request_views"] = kept[REQUEST_SUFFIX]
    (out / "data_sources.json").write_text(
        json.dumps({"sources": splits.sources, "labelled_per_head": labelled, "data_hash": data_hash, "augmented": augmented}, indent=2)
    )

    weights_by_src = {s["name"]: s["weight"] for s in splits.sources}
    cw = class_weights(train_ex, spec, cfg.optim.class_weight_power)
    steps_per_epoch = len(
        length_batches([train_ex[i].encoded for i in epoch_sample(train_ex, weights_by_src, cfg.seed)], cfg.optim.max_tokens, cfg.optim.max_conversations, cfg.seed)
    )
    total_steps = cfg.optim.max_steps or steps_per_epoch * cfg.optim.epochs
    logger.info("%d batches per epoch, %d steps in total", steps_per_epoch, total_steps)
    opt = _optimizer(model, cfg)
    sched = _schedule(opt, total_steps, int(cfg.optim.warmup_ratio * total_steps))

    state = {"epoch": 0, "batch_in_epoch": 0, "step": 0, "best": -1.0, "bad_epochs": 0, "elapsed": 0.0, "history": []}
    if resume and (ckpt_dir / "state.pt").exists():
        saved = torch.load(ckpt_dir / "state.pt", weights_only=False)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        state = saved["state"]
        torch.set_rng_state(saved["torch_rng"])
        logger.info("resumed at epoch %d batch %d (step %d)", state["epoch"], state["batch_in_epoch"], state["step"])

    def save_checkpoint() -> None:
        tmp = out / "checkpoint.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        torch.save(
            {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "state": state, "torch_rng": torch.get_rng_state()},
            tmp / "state.pt",
        )
        if ckpt_dir.exists():
            shutil.rmtree(ckpt_dir)
        tmp.rename(ckpt_dir)

    pad_id = windower.pad_id
    started = time.monotonic() - state["elapsed"]
    last_ckpt = time.monotonic()
    budget_s = cfg.optim.max_minutes * 60 if cfg.optim.max_minutes else math.inf
    stop = False
    best_val_logits = None  # validation logits of the weights in out/best, when this process computed them
    bf16 = cfg.optim.bf16 is True or (cfg.optim.bf16 == "auto" and cpu_has_native_bf16())
    if cfg.optim.bf16 == "auto":
        logger.info("optim.bf16 auto: %s (native bf16 on this CPU: %s)", "on" if bf16 else "off", cpu_has_native_bf16())
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else torch.autocast("cpu", enabled=False)
    if solver == "lbfgs" and state["epoch"] < cfg.optim.epochs:
        fit = fit_rows_lbfgs(model, train_ex, frozen, cfg, pad_id)
        score, _, best_val_logits = validation_score(model, val_ex, pad_id) if val_ex else (0.0, {}, None)
        state["elapsed"] = time.monotonic() - started
        state["history"].append({"solver": "lbfgs", **fit, "val_mean_macro_f1": round(score, 4), "minutes": round(state["elapsed"] / 60, 1)})
        logger.info("lbfgs fit of classifier rows: loss %.4f -> %.4f in %d iterations; validation mean macro-F1 %.4f", fit["loss_start"], fit["loss_end"], fit["iterations"], score)
        state["best"], state["epoch"] = score, cfg.optim.epochs
        model.save(out / "best", tok_file)
    while state["epoch"] < cfg.optim.epochs and not stop:
        epoch = state["epoch"]
        sample = epoch_sample(train_ex, weights_by_src, cfg.seed + epoch)
        batches = length_batches([train_ex[i].encoded for i in sample], cfg.optim.max_tokens, cfg.optim.max_conversations, cfg.seed + epoch)
        model.train()
        if cfg.optim.freeze_encoder:
            model.encoder.eval()  # frozen features: no dropout noise either
        bar = tqdm(total=len(batches), initial=state["batch_in_epoch"], desc=f"epoch {epoch + 1}/{cfg.optim.epochs}", unit="batch", disable=None)
        for b in range(state["batch_in_epoch"], len(batches)):
            idx = [sample[i] for i in batches[b]]
            batch = collate([train_ex[i].encoded for i in idx], pad_id)
            targets = torch.from_numpy(np.stack([train_ex[i].targets for i in idx]))
            with autocast:
                logits, attention = model(**batch)
            loss, parts = masked_loss(logits, targets, spec, cw, cfg.optim.head_weights)
            if cfg.optim.evidence_weight:
                ev, ev_parts = evidence_loss(attention, [train_ex[i] for i in idx], spec)
                loss = loss + cfg.optim.evidence_weight * ev
                parts.update(ev_parts)
            opt.zero_grad(set_to_none=True)
            if loss.requires_grad:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.max_grad_norm)
                opt.step()
                frozen.restore()
            sched.step()
            state["step"] += 1
            state["batch_in_epoch"] = b + 1
            state["elapsed"] = time.monotonic() - started
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}", step=state["step"])
            bar.update(1)
            if state["step"] % 50 == 0:
                logger.info("step %d loss %.4f %s", state["step"], float(loss.detach()), {k: round(v, 3) for k, v in parts.items()})
            if time.monotonic() - last_ckpt > cfg.optim.checkpoint_minutes * 60:
                save_checkpoint()
                last_ckpt = time.monotonic()
            last_step = min(cfg.optim.max_steps or math.inf, cfg.optim.stop_after_steps or math.inf)
            if state["elapsed"] > budget_s or state["step"] >= last_step:
                stop = True
                break
        bar.close()
        epoch_done = state["batch_in_epoch"] >= len(batches)
        score, report, logits = validation_score(model, val_ex, pad_id) if val_ex else (0.0, {}, None)
        state["history"].append({"epoch": epoch + 1, "complete": epoch_done, "step": state["step"], "val_mean_macro_f1": round(score, 4), "minutes": round(state["elapsed"] / 60, 1)})
        logger.info("epoch %d%s: validation mean macro-F1 %.4f", epoch + 1, "" if epoch_done else " (partial)", score)
        if score > state["best"]:
            state["best"], state["bad_epochs"] = score, 0
            model.save(out / "best", tok_file)
            best_val_logits = logits
        else:
            state["bad_epochs"] += 1
        if epoch_done:
            state["epoch"] += 1
            state["batch_in_epoch"] = 0
        save_checkpoint()
        last_ckpt = time.monotonic()
        if state["bad_epochs"] >= cfg.optim.patience:
            logger.info("early stopping: no improvement for %d epochs", state["bad_epochs"])
            break

    if model.state_cache is not None:
        c = model.state_cache
        logger.info("frozen-encoder state cache: %d windows encoded, %d reused, %.2f GB", c.misses, c.hits, c.bytes / (1 << 30))
    best = OutcomeModel.load(out / "best") if (out / "best").exists() else model
    best.state_cache = model.state_cache  # the same frozen encoder: its kept states serve calibration too
    apply_class_prior_shifts(best, priors)
    if best_val_logits is not None and not priors:
        val_logits = best_val_logits  # the saved best model's own validation logits: no second pass
    else:
        val_logits = predict_logits(best, [e.encoded for e in val_ex], pad_id) if val_ex else {}
    calib = calibrate(best, val_ex, pad_id, logits=val_logits, frozen_heads=frozen.frozen_heads + list(frozen.rows))
    val_report = _report(best, val_ex, val_logits) if val_ex else {}
    final = out / "final"
    best.save(
        final,
        tok_file,
        extra={
            "training": {
                "config": cfg.to_dict(),
                "data_sources": splits.sources,
                "labelled_per_head": labelled,
                "augmented": augmented,
                "history": state["history"],
                "steps": state["step"],
                "minutes": round(state["elapsed"] / 60, 1),
                "versions": _versions(),
                "data_hash": data_hash,
                "warm_start": warm_report.to_dict() if warm_report else None,
                "frozen": frozen.describe(),
                "solver": solver,
                "class_priors": priors,
            },
            "parent": warm.ref if warm else None,
            "calibration": calib,
            "encoder_lineage": warm.config.get("encoder_lineage") if warm else None,
        },
    )
    (final / "validation_metrics.json").write_text(json.dumps(val_report, indent=2))
    return TrainResult(out, final, state["step"], state["epoch"], state["best"], state["elapsed"] / 60, val_report, calib)


def _frozen_states_graph(cfg: TrainConfig, warm: Any) -> Path | None:
    """The exported encoder graph whose states a frozen encoder's heads train on, if any.

    ``optim.frozen_states: auto`` takes the warm-start model's own ``encoder.onnx`` when it is an exported
    folder: that (int8) graph is what the runtime runs, so heads fitted to its states keep their metrics
    after export; heads fitted to the dequantized fp32 encoder can lose more than the parity check allows."""
    mode = cfg.optim.frozen_states
    bundle = warm is not None and (Path(warm.origin) / "manifest.json").exists()
    if mode == "onnx" and not bundle:
        raise TrainError("optim.frozen_states=onnx needs model.init_from to be an exported model folder (with encoder.onnx)")
    if bundle and cfg.model.keep_layers:  # the folder's graph has every layer: its states are not this encoder's
        if mode == "onnx":
            raise TrainError("optim.frozen_states=onnx cannot be used with model.keep_layers: the exported graph runs all of its layers")
        return None
    if mode == "torch" or not bundle:
        return None
    return Path(warm.origin) / warm.config.get("encoder", {}).get("file", "encoder.onnx")


def _solver(cfg: TrainConfig, model: OutcomeModel) -> str:
    """``lbfgs`` needs fixed features: nothing but classifier rows may learn."""
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    rows_only = cfg.optim.freeze_encoder and all(n.startswith("classifier.") for n in trainable)
    if cfg.optim.solver == "lbfgs" and not rows_only:
        others = sorted({n.split(".")[0] + "." + n.split(".")[1] for n in trainable if not n.startswith("classifier.")})
        raise TrainError(
            "optim.solver=lbfgs fits classifier rows on fixed features: it needs optim.freeze_encoder=true and every "
            f"trained head's attention frozen (optim.train_only_new=true); trainable besides the classifiers: {others}"
        )
    if cfg.optim.solver == "auto":
        return "lbfgs" if rows_only else "adamw"
    return cfg.optim.solver


def fit_rows_lbfgs(model: OutcomeModel, examples: Sequence[Example], frozen: "Frozen", cfg: TrainConfig, pad_id: int) -> dict[str, Any]:
    """Fit the learnable classifier rows to convergence on features computed once (a convex problem).

    Per head: mean cross-entropy over the records carrying its label, times ``optim.head_weights``, plus
    ``optim.head_l2`` x the squared norm of the learned rows. Inherited rows get zero gradient, so
    L-BFGS never moves them (and ``frozen.restore`` makes that exact)."""
    spec = model.spec
    feats = predict_features(model, [e.encoded for e in examples], pad_id, max_tokens=cfg.optim.max_tokens, progress=True)
    targets = np.stack([e.targets for e in examples])
    data: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    for j, h in enumerate(spec.head_names):
        keep = targets[:, j] >= 0
        if not model.classifier[h].weight.requires_grad or not keep.any():
            continue
        free = torch.ones(spec[h].num_classes, dtype=torch.bool)
        free[frozen.rows.get(h, [])] = False
        data[h] = (torch.from_numpy(feats[h][keep]), torch.from_numpy(targets[keep, j]).long(), free)
    if not data:
        raise TrainError("optim.solver=lbfgs: no trained head has labelled training records")
    params = [p for h in data for p in (model.classifier[h].weight, model.classifier[h].bias)]
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=1000, tolerance_grad=1e-7, tolerance_change=1e-10, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=False)
        loss = params[0].new_zeros(())
        for h, (x, y, free) in data.items():
            lin = model.classifier[h]
            ce = nn.functional.cross_entropy(x @ lin.weight.T + lin.bias, y)
            loss = loss + cfg.optim.head_weights.get(h, 1.0) * ce + cfg.optim.head_l2 * (lin.weight[free] ** 2).sum()
        loss.backward()
        for h, (_, _, free) in data.items():
            model.classifier[h].weight.grad[~free] = 0
            model.classifier[h].bias.grad[~free] = 0
        return loss

    start = closure().item()
    opt.step(closure)
    frozen.restore()
    end = closure().item()
    return {
        "loss_start": round(start, 6),
        "loss_end": round(end, 6),
        "iterations": int(opt.state[params[0]].get("n_iter", 0)),
        "records": {h: int(len(y)) for h, (_, y, _) in data.items()},
    }


def class_prior_shifts(spec: LabelSpec, examples: Sequence[Example], priors: dict[str, dict[str, float]], frozen: "Frozen") -> dict[str, dict[str, Any]]:
    """Bias shift per ``optim.class_priors`` entry: log(expected share / share in the training labels)."""
    if not priors:
        return {}
    targets = np.stack([e.targets for e in examples]) if examples else np.zeros((0, len(spec.head_names)), dtype=np.int64)
    out: dict[str, dict[str, Any]] = {}
    for head, shares in priors.items():
        if head not in spec.head_names:
            raise TrainError(f"optim.class_priors.{head}: not a head of the label spec; heads: {spec.head_names}")
        j, classes = spec.head_names.index(head), spec[head].classes
        col = targets[:, j]
        for c, share in shares.items():
            if c not in classes:
                raise TrainError(f"optim.class_priors.{head}.{c}: not a class of {head}; classes: {classes}")
            k = classes.index(c)
            if head in frozen.frozen_heads or k in frozen.rows.get(head, []):
                raise TrainError(f"optim.class_priors.{head}.{c}: its classifier row is frozen (inherited from the parent); only learned rows can take a prior")
            n, labelled = int((col == k).sum()), int((col >= 0).sum())
            if n == 0:
                raise TrainError(f"optim.class_priors.{head}.{c}: no training record carries this class, so its training share is unknown")
            out.setdefault(head, {})[c] = {"share": float(share), "train_share": round(n / labelled, 6), "bias_shift": round(math.log(share * labelled / n), 6)}
    return out


@torch.no_grad()
def apply_class_prior_shifts(model: OutcomeModel, shifts: dict[str, dict[str, Any]]) -> None:
    for head, per_class in shifts.items():
        for c, s in per_class.items():
            model.classifier[head].bias[model.spec[head].classes.index(c)] += s["bias_shift"]


def _report(model: OutcomeModel, examples: Sequence[Example], logits: dict[str, np.ndarray]) -> dict[str, Any]:
    """Validation metrics with the model's (calibrated) temperatures applied."""
    targets = np.stack([e.targets for e in examples])
    temps = dict(zip(model.head_names, model.temperatures.tolist()))
    return evaluate_outputs(
        model.spec,
        {h: targets[:, j] for j, h in enumerate(model.head_names)},
        {h: softmax(logits[h], temps[h]) for h in model.head_names},
        [e.source for e in examples],
    )


def calibrate(
    model: OutcomeModel, val_ex: Sequence[Example], pad_id: int, logits: dict[str, np.ndarray] | None = None, frozen_heads: Sequence[str] = ()
) -> dict[str, Any]:
    """Fit one temperature per head on validation logits; store them in the model's buffer.

    Heads in ``frozen_heads`` (frozen during retraining, or with their inherited classes frozen) keep
    their inherited temperature, so their probabilities stay exactly those of the parent model."""
    if not val_ex:
        return {}
    logits = logits if logits is not None else predict_logits(model, [e.encoded for e in val_ex], pad_id)
    targets = np.stack([e.targets for e in val_ex])
    temps, summary = [], {}
    for j, h in enumerate(model.head_names):
        if h in frozen_heads:
            t = float(model.temperatures[j])
            temps.append(t)
            summary[h] = {"n": int((targets[:, j] >= 0).sum()), "temperature": round(t, 4), "note": "frozen head: inherited temperature"}
            continue
        keep = targets[:, j] >= 0
        if keep.sum() < 20 or len(np.unique(targets[keep, j])) < 2:
            t = float(model.temperatures[j])  # 1.0 for a fresh model, the parent's after a warm start
            temps.append(t)
            summary[h] = {"n": int(keep.sum()), "temperature": round(t, 4), "note": "too few validation labels; temperature unchanged"}
            continue
        t = fit_temperature(logits[h][keep], targets[keep, j])
        temps.append(t)
        summary[h] = {"n": int(keep.sum()), "temperature": round(t, 4), **calibration_summary(logits[h][keep], targets[keep, j], t)}
    model.temperatures.copy_(torch.tensor(temps))
    return summary


class Frozen:
    """Parameters that must not move: requires_grad off for whole parts, and inherited classifier
    rows restored after every optimizer step (AdamW's weight decay would move them otherwise)."""

    def __init__(self, model: OutcomeModel, rows: dict[str, list[int]], frozen_heads: list[str], encoder: bool):
        self.model, self.frozen_heads, self.encoder = model, frozen_heads, encoder
        self.rows = {h: r for h, r in rows.items() if r and h not in frozen_heads}
        self.saved = {
            h: (model.classifier[h].weight.detach()[r].clone(), model.classifier[h].bias.detach()[r].clone()) for h, r in self.rows.items()
        }

    @torch.no_grad()
    def restore(self) -> None:
        for h, (w, b) in self.saved.items():
            idx = torch.tensor(self.rows[h])
            self.model.classifier[h].weight[idx] = w
            self.model.classifier[h].bias[idx] = b

    def describe(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder,
            "heads": self.frozen_heads,
            "inherited_rows": {h: [self.model.spec[h].classes[i] for i in r] for h, r in self.rows.items()},
        }


def _freeze(model: OutcomeModel, cfg: TrainConfig, warm_report: Any) -> Frozen:
    o = cfg.optim
    # a frozen base encoder is allowed (heads on its states: a probe, and the first stage of LP-FT);
    # heads and rows can only be kept when there is a model to keep them from
    if (o.train_heads or o.train_only_new) and warm_report is None:
        raise TrainError("optim.train_heads / optim.train_only_new need model.init_from (nothing to keep otherwise)")
    unknown = [h for h in o.train_heads or [] if h not in model.head_names]
    if unknown:
        raise TrainError(f"optim.train_heads: {unknown} are not heads of the label spec; heads: {model.head_names}")
    if o.freeze_encoder:
        for p in model.encoder.parameters():
            p.requires_grad_(False)
    frozen_heads = [h for h in model.head_names if o.train_heads is not None and h not in o.train_heads]
    for h in frozen_heads:
        for p in (*model.attn[h].parameters(), *model.classifier[h].parameters()):
            p.requires_grad_(False)
    rows: dict[str, list[int]] = {}
    if o.train_only_new:
        from .warmstart import frozen_rows

        rows = frozen_rows(model, warm_report)
        for h in rows:  # the attention is shared by old and new classes: keep it too
            if h not in frozen_heads:
                for p in model.attn[h].parameters():
                    p.requires_grad_(False)
    if not any(p.requires_grad for p in model.parameters()):
        raise TrainError("every parameter is frozen: check optim.freeze_encoder and optim.train_heads")
    return Frozen(model, rows, frozen_heads, o.freeze_encoder)


def _data_hash(sources: Sequence[dict[str, Any]]) -> str:
    """One hash for the training data: each file's bytes, plus how it was split and sampled.

    Not where the file lies: the same generated corpus cached under two run folders (or a source
    moved) is the same data, and ``models list`` should show it as such."""
    import hashlib

    from .runtime import file_sha256

    h = hashlib.sha256()
    for s in sources:
        s.setdefault("sha256", file_sha256(Path(s["path"])))
        h.update(json.dumps({k: v for k, v in s.items() if k != "path"}, sort_keys=True).encode())
    return "sha256:" + h.hexdigest()


def _versions() -> dict[str, str]:
    import transformers

    from . import __version__

    return {"convo_outcomes": __version__, "torch": torch.__version__, "transformers": transformers.__version__}
