"""How a conversation becomes model input: speaker-marked turns cut into token windows.

Torch-free on purpose: the trainer, the baselines and the onnxruntime scorer must render and window
text identically, and the model folder records ``RENDER_VERSION`` so a mismatch is detectable.

Long conversations are read whole. Turns are tokenised one by one (each prefixed with its speaker
marker), concatenated, and cut into windows of ``max_length`` tokens (including [CLS]/[SEP]) that
overlap by ``overlap`` tokens. Every token keeps the index of the turn it came from, which is what
evidence (the turns that drove a label) is reported in. Nothing is truncated unless a conversation
needs more than ``max_windows`` windows; then the overlap is dropped first, and if that is still too
many, windows are kept from the start and the end (the ending is where resolution lives) and the
number dropped is reported.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

RENDER_VERSION = "speaker-turns-v1"

SPEAKER_MARKERS = {"customer": "customer:", "agent": "agent:", "bot": "bot:", "system": "system:"}


@dataclass(frozen=True)
class WindowConfig:
    max_length: int = 256
    overlap: int = 32
    max_windows: int = 64

    def __post_init__(self) -> None:
        if not 16 <= self.max_length <= 512:
            raise ValueError(f"window.max_length must be in [16, 512], found {self.max_length}")
        if not 0 <= self.overlap <= (self.max_length - 2) // 2:
            raise ValueError(
                f"window.overlap must be in [0, {(self.max_length - 2) // 2}] for max_length "
                f"{self.max_length}, found {self.overlap}"
            )
        if not 1 <= self.max_windows <= 4096:
            raise ValueError(f"window.max_windows must be in [1, 4096], found {self.max_windows}")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _turn_parts(turn: Any) -> tuple[str, str]:
    if isinstance(turn, Mapping):
        return str(turn["speaker"]), str(turn["text"])
    return str(turn.speaker), str(turn.text)


def render_turn(turn: Any) -> str:
    """A blank turn renders as nothing (no marker either), so it adds no tokens but keeps its index."""
    speaker, text = _turn_parts(turn)
    words = " ".join(text.split())
    return f"{SPEAKER_MARKERS.get(speaker, speaker + ':')} {words}" if words else ""


def render_text(turns: Sequence[Any]) -> str:
    """The whole conversation as one string (for text baselines and debugging)."""
    return "\n".join(r for r in (render_turn(t) for t in turns) if r)


@dataclass
class EncodedConversation:
    """Token windows of one conversation; rows are unpadded."""

    input_ids: list[np.ndarray]  # each int64 [length]
    token_turns: list[np.ndarray]  # each int32 [length]; -1 for [CLS]/[SEP]
    n_tokens: int  # content tokens before windowing
    windows_dropped: int = 0

    @property
    def n_windows(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> list[int]:
        return [len(w) for w in self.input_ids]


@dataclass
class Windower:
    """Tokenises and windows conversations with a ``tokenizers.Tokenizer`` (no transformers needed)."""

    tokenizer: Any
    config: WindowConfig = field(default_factory=WindowConfig)

    def __post_init__(self) -> None:
        vocab = self.tokenizer.get_vocab()
        try:
            self.cls_id = vocab["[CLS]"]
            self.sep_id = vocab["[SEP]"]
            self.pad_id = vocab["[PAD]"]
        except KeyError as e:
            raise ValueError(f"tokenizer lacks special token {e}; expected a BERT-style WordPiece vocab") from e
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    @classmethod
    def from_file(cls, path: str | Path, config: WindowConfig | None = None) -> "Windower":
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(path)), config or WindowConfig())

    def encode_many(self, conversations: Iterable[Sequence[Any]]) -> list[EncodedConversation]:
        """Windows for many conversations (each a sequence of turns); one tokenizer call for all turns."""
        convs = [list(c) for c in conversations]
        texts = [render_turn(t) for c in convs for t in c]
        encs = self.tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []
        out, k = [], 0
        for c in convs:
            ids = [encs[k + i].ids for i in range(len(c))]
            k += len(c)
            out.append(self._windows(ids))
        return out

    def encode(self, turns: Sequence[Any]) -> EncodedConversation:
        return self.encode_many([turns])[0]

    def _windows(self, turn_ids: list[list[int]]) -> EncodedConversation:
        cfg = self.config
        flat = np.fromiter((t for ids in turn_ids for t in ids), dtype=np.int64)
        owner = np.repeat(np.arange(len(turn_ids), dtype=np.int32), [len(ids) for ids in turn_ids])
        n = len(flat)
        content = cfg.max_length - 2
        starts = _window_starts(n, content, cfg.overlap)
        dropped = 0
        if len(starts) > cfg.max_windows:
            starts = _window_starts(n, content, 0)
            if len(starts) > cfg.max_windows:
                head = (cfg.max_windows + 1) // 2
                tail = cfg.max_windows - head
                dropped = len(starts) - cfg.max_windows
                starts = starts[:head] + (starts[-tail:] if tail else [])
        ids_out, turns_out = [], []
        for s in starts:
            e = min(s + content, n)
            ids_out.append(np.concatenate(([self.cls_id], flat[s:e], [self.sep_id])).astype(np.int64))
            turns_out.append(np.concatenate(([-1], owner[s:e], [-1])).astype(np.int32))
        return EncodedConversation(ids_out, turns_out, n_tokens=n, windows_dropped=dropped)


def _window_starts(n: int, content: int, overlap: int) -> list[int]:
    if n <= content:
        return [0]
    step = content - overlap
    starts = list(range(0, n - content, step))
    starts.append(n - content)  # last window ends exactly at the end of the conversation
    return starts


def pad_windows(windows: Sequence[np.ndarray], pad_id: int, length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stack unpadded windows into ``[N, T]`` ids and mask, padding to the longest (dynamic padding)."""
    t = length or max(len(w) for w in windows)
    ids = np.full((len(windows), t), pad_id, dtype=np.int64)
    mask = np.zeros((len(windows), t), dtype=np.int64)
    for i, w in enumerate(windows):
        ids[i, : len(w)] = w
        mask[i, : len(w)] = 1
    return ids, mask


def window_key(ids: np.ndarray) -> str:
    """Content key of a window, for caches that reuse encodings across requests."""
    return hashlib.blake2b(np.ascontiguousarray(ids, dtype=np.int64).tobytes(), digest_size=16).hexdigest()
