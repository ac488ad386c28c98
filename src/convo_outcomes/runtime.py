"""Torch-free scoring with onnxruntime and tokenizers: what archive scoring and the service run.

Never imports torch or transformers (a test checks). A model folder is verified against its
manifest on load. Work is sorted by window length across the whole request so padding is minimal,
and window encodings can be reused through a bounded content-keyed cache (mid-call updates).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .labels import LabelSpec
from .lexical import LEXICAL_JSON, LexicalPrior
from .render import RENDER_VERSION, EncodedConversation, Windower, WindowConfig, pad_windows, render_text, window_key

logger = logging.getLogger(__name__)

ENCODER_OUTPUTS = ("score_max", "exp_sum", "weighted_sum", "state_sum", "token_scores")
MODEL_FORMAT = "convo-outcomes/onnx-model/1"


class ModelLoadError(RuntimeError):
    """A model folder is missing, corrupt, or was made for another renderer/format."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_manifest(folder: Path) -> dict[str, Any]:
    """Refuse a folder whose files do not match ``manifest.json`` (corrupt copy, edited file)."""
    mpath = folder / "manifest.json"
    if not mpath.exists():
        raise ModelLoadError(f"{folder}: no manifest.json; not an exported convo-outcomes model folder")
    manifest = json.loads(mpath.read_text())
    problems = []
    for name, info in manifest.get("files", {}).items():
        p = folder / name
        if not p.exists():
            problems.append(f"{name}: missing")
        elif p.stat().st_size != info["bytes"]:
            problems.append(f"{name}: {p.stat().st_size} bytes, manifest says {info['bytes']}")
        elif file_sha256(p) != info["sha256"]:
            problems.append(f"{name}: sha256 differs from the manifest")
    if problems:
        raise ModelLoadError(f"{folder}: model files do not match manifest.json: " + "; ".join(problems))
    return manifest


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class OnnxEncoder:
    def __init__(self, path: Path, threads: int | None = None):
        self.session = _session(path, threads)

    def run(self, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.session.run(list(ENCODER_OUTPUTS), {"input_ids": ids, "attention_mask": mask})
        return dict(zip(ENCODER_OUTPUTS, outs))


def _length_groups(lengths: Sequence[int], max_tokens: int, slack: float = 0.25, min_waste: int = 64) -> list[tuple[int, int]]:
    """Split ascending window lengths into runs ``[s, e)`` for one encoder call each.

    A run is padded to its longest window, so it ends when it would exceed ``max_tokens`` padded
    tokens, or when padding to the next window would waste more than ``slack`` of the run and at least
    ``min_waste`` tokens: windows of 66, 256 and 256 tokens (a short chat beside a long call) run as
    1x66 + 2x256 (578 tokens), not 3x256 (768). Runs of similar lengths stay together, since small runs
    use the cores less well."""
    out, s = [], 0
    while s < len(lengths):
        e, real = s + 1, lengths[s]
        while e < len(lengths):
            padded = (e - s + 1) * lengths[e]
            waste = padded - real - lengths[e]
            if padded > max_tokens or (waste > slack * padded and waste >= min_waste):
                break
            real += lengths[e]
            e += 1
        out.append((s, e))
        s = e
    return out


@dataclass
class WindowStats:
    """What the heads need from one encoded window (small: no token states are kept)."""

    score_max: np.ndarray  # [heads]
    exp_sum: np.ndarray  # [heads]
    weighted_sum: np.ndarray  # [heads, hidden]
    state_sum: np.ndarray  # [hidden]
    count: int
    token_scores: np.ndarray  # [heads, length]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.score_max, self.exp_sum, self.weighted_sum, self.state_sum, self.token_scores))


class WindowCache:
    """Bounded LRU of window statistics keyed by window content (thread-safe)."""

    def __init__(self, max_bytes: int = 256 << 20):
        self.max_bytes = max_bytes
        self._d: OrderedDict[str, WindowStats] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> WindowStats | None:
        with self._lock:
            v = self._d.get(key)
            if v is None:
                self.misses += 1
                return None
            self._d.move_to_end(key)
            self.hits += 1
            return v

    def put(self, key: str, value: WindowStats) -> None:
        with self._lock:
            if key in self._d:
                return
            self._d[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.max_bytes and self._d:
                _, old = self._d.popitem(last=False)
                self._bytes -= old.nbytes

    def __len__(self) -> int:
        return len(self._d)


@dataclass
class HeadResult:
    label: str
    probs: dict[str, float]
    confidence: float
    evidence: list[int]  # turn indices, most influential first
    evidence_weights: list[float]


@dataclass
class Prediction:
    id: str
    heads: dict[str, HeadResult]
    n_tokens: int
    n_windows: int
    windows_dropped: int
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model_version": self.model_version,
            "n_tokens": self.n_tokens,
            "n_windows": self.n_windows,
            "windows_dropped": self.windows_dropped,
            "heads": {
                h: {"label": r.label, "probs": r.probs, "confidence": r.confidence, "evidence": r.evidence, "evidence_weights": r.evidence_weights}
                for h, r in self.heads.items()
            },
        }


def _turns_of(conv: Any) -> Sequence[Any]:
    return conv["turns"] if isinstance(conv, Mapping) else conv.turns


def _id_of(conv: Any) -> str:
    return str(conv["id"] if isinstance(conv, Mapping) else conv.id)


@dataclass
class Scorer:
    folder: Path
    config: dict[str, Any]
    spec: LabelSpec
    windower: Windower
    encoder: OnnxEncoder
    heads_session: Any
    temperatures: dict[str, float]
    max_tokens: int = 8192
    evidence_k: int = 3
    cache: WindowCache | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    # Dynamic int8 picks one activation scale per encoder call, so a window encoded beside others gets
    # different states (runtime benchmark on models/default: probabilities moved by up to 0.42 and 9 of
    # 640 labels changed). By default each window is its own call, so a conversation's scores are a
    # function of its text alone; batch_windows=True shares calls (larger matmuls, which may pay on
    # other hosts; on 2 AVX2 cores it was not faster) and gives that up.
    batch_windows: bool = False
    # A blended model (``convo-outcomes blend``) mixes some heads with a lexical prior; ``temperatures``
    # are then the blend's for those heads and ``neural_temperatures`` the heads' own.
    lexical: LexicalPrior | None = None
    neural_temperatures: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        folder: str | Path,
        encoder_file: str = "encoder.onnx",
        verify: bool = True,
        threads: int | None = None,
        max_tokens: int = 8192,
        cache_bytes: int = 0,
        batch_windows: bool = False,
    ) -> "Scorer":
        folder = Path(folder)
        if not (folder / "config.json").exists():
            raise ModelLoadError(f"{folder}: no config.json; expected an exported model folder (convo-outcomes export)")
        if verify:
            verify_manifest(folder)
        config = json.loads((folder / "config.json").read_text())
        if config.get("format") != MODEL_FORMAT:
            raise ModelLoadError(f"{folder}: format {config.get('format')!r}, this runtime reads {MODEL_FORMAT!r}")
        if config.get("render_version") != RENDER_VERSION:
            raise ModelLoadError(f"{folder}: text rendered as {config.get('render_version')!r}; this runtime renders {RENDER_VERSION!r}")
        try:
            spec = LabelSpec.from_dict(config["label_spec"], origin=str(folder / "config.json"))
            windower = Windower.from_file(folder / "tokenizer.json", WindowConfig(**config["window"]))
            encoder = OnnxEncoder(folder / encoder_file, threads)
            heads = _session(folder / "heads.onnx", 1)
            lexical = LexicalPrior.load(folder) if (folder / LEXICAL_JSON).exists() else None
        except Exception as e:  # onnxruntime raises its own types; name the folder
            raise ModelLoadError(f"{folder}: could not load: {e}") from e
        neural = {h: float(t) for h, t in config["temperatures"].items()}
        temps = dict(neural)
        if lexical is not None:
            missing = sorted(set(lexical.heads) - set(spec.head_names))
            if missing:
                raise ModelLoadError(f"{folder}: {LEXICAL_JSON} blends heads {missing} that the label spec lacks ({spec.head_names})")
            temps.update({h: lh.temperature for h, lh in lexical.heads.items()})
        return cls(
            folder=folder,
            config=config,
            spec=spec,
            windower=windower,
            encoder=encoder,
            heads_session=heads,
            temperatures=temps,
            max_tokens=max_tokens,
            cache=WindowCache(cache_bytes) if cache_bytes else None,
            thresholds=dict(config.get("thresholds", {})),
            batch_windows=batch_windows,
            lexical=lexical,
            neural_temperatures=neural,
        )

    @property
    def version(self) -> str:
        return f"{self.config.get('name', self.folder.name)}@{self.config.get('version', '0')}"

    @property
    def head_names(self) -> list[str]:
        return self.spec.head_names

    # ------------------------------------------------------------------------------ encoding

    def window_stats(self, windows: Sequence[np.ndarray]) -> list[WindowStats]:
        """Encode windows (one per encoder call, or sorted by length in token-budget batches with
        ``batch_windows``); reuse cached ones."""
        out: list[WindowStats | None] = [None] * len(windows)
        keys: list[str | None] = [None] * len(windows)
        todo = []
        for i, w in enumerate(windows):
            if self.cache is not None:
                keys[i] = window_key(w)
                hit = self.cache.get(keys[i])
                if hit is not None:
                    out[i] = hit
                    continue
            todo.append(i)
        todo.sort(key=lambda i: len(windows[i]))
        pad = self.windower.pad_id
        lengths = [len(windows[i]) for i in todo]
        groups = _length_groups(lengths, self.max_tokens) if self.batch_windows else [(k, k + 1) for k in range(len(todo))]
        for s, e in groups:
            rows = todo[s:e]
            ids, mask = pad_windows([windows[i] for i in rows], pad)
            res = self.encoder.run(ids, mask)
            for j, i in enumerate(rows):
                n = len(windows[i])
                st = WindowStats(
                    res["score_max"][j].copy(),
                    res["exp_sum"][j].copy(),
                    res["weighted_sum"][j].copy(),
                    res["state_sum"][j].copy(),
                    n,
                    res["token_scores"][j, :, :n].copy(),
                )
                out[i] = st
                if self.cache is not None:
                    self.cache.put(keys[i], st)
        return out  # type: ignore[return-value]

    def _pool(self, stats: Sequence[WindowStats]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Attention over all windows ``[heads, hidden]``, mean ``[hidden]`` and mass ``[heads, 2]``
        (log-sum-exp of the scores over all tokens, log(1 + tokens)), merged exactly from per-window sums."""
        m = np.stack([s.score_max for s in stats])  # [w, heads]
        top = m.max(0)
        scale = np.exp(m - top)
        z = (np.stack([s.exp_sum for s in stats]) * scale).sum(0)
        pooled = (np.stack([s.weighted_sum for s in stats]) * scale[:, :, None]).sum(0) / np.maximum(z, 1e-30)[:, None]
        tokens = sum(s.count for s in stats)
        mean = np.stack([s.state_sum for s in stats]).sum(0) / max(tokens, 1)
        mass = np.stack([top + np.log(np.maximum(z, 1e-30)), np.full_like(top, np.log1p(tokens))], axis=-1)
        return pooled.astype(np.float32), mean.astype(np.float32), mass.astype(np.float32)

    def _forward(self, encoded: Sequence[EncodedConversation]) -> tuple[dict[str, np.ndarray], list[list[WindowStats]]]:
        windows = [w for e in encoded for w in e.input_ids]
        flat = self.window_stats(windows)
        per_conv, k = [], 0
        for e in encoded:
            per_conv.append(flat[k : k + e.n_windows])
            k += e.n_windows
        pooled = np.zeros((len(encoded), len(self.head_names), self.config["hidden_size"]), dtype=np.float32)
        mean = np.zeros((len(encoded), self.config["hidden_size"]), dtype=np.float32)
        feed = {"pooled": pooled, "mean": mean}
        features = self.config.get("pooling_features", ())
        if "end" in features:
            feed["end"] = end = np.zeros_like(pooled)
        mass = np.zeros((len(encoded), len(self.head_names), 2), dtype=np.float32)
        if "mass" in features:
            feed["mass"] = mass
        for i, st in enumerate(per_conv):
            pooled[i], mean[i], mass[i] = self._pool(st)
            if "end" in feed:  # the same attention over the last window only
                end[i] = st[-1].weighted_sum / np.maximum(st[-1].exp_sum, 1e-30)[:, None]
        outs = self.heads_session.run([f"logits_{h}" for h in self.head_names], feed) if encoded else []
        return {h: o for h, o in zip(self.head_names, outs)}, per_conv

    def logits(self, conversations: Sequence[Any]) -> dict[str, np.ndarray]:
        """Uncalibrated logits per head (softmax at ``temperatures`` gives the probabilities); what the
        parity check and evaluation compare. A blended head's are its mix with the lexical prior."""
        if not conversations:
            return {h: np.zeros((0, self.spec[h].num_classes), np.float32) for h in self.head_names}
        encoded = self.windower.encode_many([_turns_of(c) for c in conversations])
        return self._blend(self._forward(encoded)[0], conversations)

    def _blend(self, logits: dict[str, np.ndarray], conversations: Sequence[Any]) -> dict[str, np.ndarray]:
        if self.lexical is None or not self.lexical.heads:
            return logits
        return self.lexical.blend(logits, self.neural_temperatures, [render_text(_turns_of(c)) for c in conversations])

    # ------------------------------------------------------------------------------- scoring

    def probabilities(self, logits: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for h in self.head_names:
            z = logits[h] / self.temperatures.get(h, 1.0)
            z = z - z.max(axis=1, keepdims=True)
            p = np.exp(z)
            out[h] = p / p.sum(axis=1, keepdims=True)
        return out

    def _label(self, head: str, p: np.ndarray) -> int:
        spec = self.spec[head]
        t = self.thresholds.get(head)
        if spec.type == "binary" and t is not None:
            return int(p[1] >= t)
        return int(p.argmax())

    def _evidence(self, stats: Sequence[WindowStats], token_turns: Sequence[np.ndarray], head_idx: int) -> tuple[list[int], list[float]]:
        scores = [s.token_scores[head_idx] for s in stats]
        top = max(float(s.max()) for s in scores)
        mass: dict[int, float] = {}
        total = 0.0
        for sc, turns in zip(scores, token_turns):
            a = np.exp(sc - top)
            total += float(a.sum())
            valid = turns >= 0
            if valid.any():
                sums = np.bincount(turns[valid], weights=a[valid])
                for t in np.nonzero(sums)[0]:
                    mass[int(t)] = mass.get(int(t), 0.0) + float(sums[t])
        ranked = sorted(mass.items(), key=lambda kv: -kv[1])[: self.evidence_k]
        return [t for t, _ in ranked], [round(w / max(total, 1e-30), 4) for _, w in ranked]

    def score(self, conversations: Sequence[Any]) -> list[Prediction]:
        """Calibrated probabilities, label, confidence and evidence turns per head and conversation."""
        return self.score_with_logits(conversations)[0]

    def score_with_logits(self, conversations: Sequence[Any]) -> tuple[list[Prediction], dict[str, np.ndarray]]:
        """Predictions plus the raw logits behind them (evaluation needs both from one pass)."""
        if not conversations:
            return [], {h: np.zeros((0, self.spec[h].num_classes), np.float32) for h in self.head_names}
        encoded = self.windower.encode_many([_turns_of(c) for c in conversations])
        logits, per_conv = self._forward(encoded)
        logits = self._blend(logits, conversations)
        probs = self.probabilities(logits)
        version = self.version
        out = []
        for i, conv in enumerate(conversations):
            heads = {}
            for j, h in enumerate(self.head_names):
                p = probs[h][i]
                k = self._label(h, p)
                ev, ew = self._evidence(per_conv[i], encoded[i].token_turns, j)
                heads[h] = HeadResult(
                    label=self.spec[h].classes[k],
                    probs={c: round(float(v), 6) for c, v in zip(self.spec[h].classes, p)},
                    confidence=round(float(p[k]), 6),
                    evidence=ev,
                    evidence_weights=ew,
                )
            e = encoded[i]
            out.append(Prediction(_id_of(conv), heads, e.n_tokens, e.n_windows, e.windows_dropped, version))
        return out, logits


def score_iter(scorer: Scorer, conversations: Iterable[Any], batch_size: int = 64) -> Iterable[Prediction]:
    """Stream predictions in input order, scoring ``batch_size`` conversations at a time."""
    batch: list[Any] = []
    for c in conversations:
        batch.append(c)
        if len(batch) >= batch_size:
            yield from scorer.score(batch)
            batch = []
    if batch:
        yield from scorer.score(batch)
