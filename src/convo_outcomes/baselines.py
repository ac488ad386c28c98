"""Baselines trained and scored on the same splits as the fine-tuned model, so every claim is a comparison.

* ``tfidf_lr``: one word 1-2 gram TF-IDF over the rendered conversation, shared by all heads, and one
  class-balanced logistic regression per head. Answers "does the fine-tuned model beat bag-of-words?".
* ``frozen_lr``: the same per-head logistic regressions on mean-pooled embeddings of the *frozen* encoder
  (all windows of the conversation). Answers "does fine-tuning beat the pretrained encoder as is?".

Each head's regression sees only the training records that carry that head's label. A head with fewer
than two classes among its labelled training records cannot be fitted; it then predicts its training
prior with add-one smoothing (so no class gets probability 0), which is uniform when it had no labels.
``predict_proba`` always returns columns in the head's class order; classes never seen in training get
probability 0 for fitted heads.

Torch and transformers are imported only inside ``FrozenEncoderBaseline``.

``frozen_lr`` spends nearly all its time embedding (33 min for the default model's 25,000 training
records on 2 CPU cores), and the frozen encoder never changes, so with ``cache_dir`` its embeddings are
kept on disk, keyed by the encoder's files, the window settings and each conversation's exact token
windows: a second evaluation (another model, the same data) reads them back, and an interrupted one
keeps what it finished (written every ``CACHE_CHUNK`` conversations).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .labels import LabelSpec
from .metrics import evaluate_outputs
from .render import WindowConfig, Windower, pad_windows, render_text
from .schema import Conversation

logger = logging.getLogger(__name__)

BASELINES = ("tfidf_lr", "frozen_lr")
CACHE_CHUNK = 2048  # conversations embedded (and written to the cache) at a time
_CACHE_FORMAT = "frozen-mean-v1"  # bump when what an embedding means changes


def targets_from_conversations(spec: LabelSpec, conversations: Sequence[Conversation]) -> dict[str, np.ndarray]:
    """Per head, an int array of class indices with -1 where the record lacks that head's label."""
    out = {}
    for h in spec:
        idx = (h.target(c.labels) for c in conversations)
        out[h.name] = np.array([-1 if t is None else t for t in idx], dtype=np.int64)
    return out


class _PerHeadLR:
    """One class-balanced logistic regression per head on a shared feature matrix."""

    def __init__(self, spec: LabelSpec, C: float, max_iter: int) -> None:
        self.spec = spec
        self.C = C
        self.max_iter = max_iter
        self.models: dict[str, Any] = {}
        self.fallback: dict[str, np.ndarray] = {}  # head -> prior for heads that could not be fitted

    @property
    def unfitted_heads(self) -> list[str]:
        return sorted(self.fallback)

    def _fit_heads(self, X: Any, conversations: Sequence[Conversation]) -> None:
        from sklearn.linear_model import LogisticRegression

        targets = targets_from_conversations(self.spec, conversations)
        self.models, self.fallback = {}, {}
        for head in self.spec:
            y = targets[head.name]
            keep = np.flatnonzero(y >= 0)
            present = np.unique(y[keep])
            if len(present) < 2:
                counts = np.bincount(y[keep], minlength=head.num_classes).astype(np.float64)
                self.fallback[head.name] = (counts + 1.0) / (counts.sum() + head.num_classes)
                logger.info(
                    "head %s: %d labelled training records, %d class(es); predicting the smoothed prior",
                    head.name, len(keep), len(present),
                )
                continue
            t0 = time.perf_counter()
            lr = LogisticRegression(C=self.C, class_weight="balanced", max_iter=self.max_iter)
            lr.fit(X[keep], y[keep])
            self.models[head.name] = lr
            logger.info(
                "head %s: fitted on %d records, %d/%d classes present (%.1fs)",
                head.name, len(keep), len(present), head.num_classes, time.perf_counter() - t0,
            )

    def _predict_heads(self, X: Any, n: int) -> dict[str, np.ndarray]:
        out = {}
        for head in self.spec:
            if head.name in self.models:
                lr = self.models[head.name]
                p = np.zeros((n, head.num_classes), dtype=np.float64)
                if n:
                    p[:, lr.classes_.astype(int)] = lr.predict_proba(X)
                out[head.name] = p
            elif head.name in self.fallback:
                out[head.name] = np.tile(self.fallback[head.name], (n, 1))
            else:
                raise RuntimeError("baseline is not fitted; call fit() first")
        return out


class TfidfBaseline(_PerHeadLR):
    """Word 1-2 gram TF-IDF (sublinear tf) on the rendered conversation + per-head logistic regression."""

    name = "tfidf_lr"

    def __init__(self, spec: LabelSpec, max_features: int = 200_000, C: float = 4.0, max_iter: int = 2000) -> None:
        super().__init__(spec, C=C, max_iter=max_iter)
        self.max_features = max_features
        self.vectorizer: Any = None

    def fit(self, conversations: Sequence[Conversation]) -> "TfidfBaseline":
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [render_text(c.turns) for c in conversations]
        self.vectorizer = TfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, max_features=self.max_features, dtype=np.float32
        )
        X = self.vectorizer.fit_transform(texts).tocsr()
        logger.info("tfidf: %d conversations, %d features", X.shape[0], X.shape[1])
        self._fit_heads(X, conversations)
        return self

    def predict_proba(self, conversations: Sequence[Conversation]) -> dict[str, np.ndarray]:
        if self.vectorizer is None:
            raise RuntimeError("TfidfBaseline is not fitted; call fit() first")
        X = self.vectorizer.transform([render_text(c.turns) for c in conversations]) if conversations else None
        return self._predict_heads(X, len(conversations))


class FrozenEncoderBaseline(_PerHeadLR):
    """Mean-pooled frozen-encoder embeddings (over all windows) + per-head logistic regression.

    Embeddings are standardised (mean/std of the training embeddings) before the regressions, which
    keeps lbfgs well conditioned; the encoder itself is never updated.
    """

    name = "frozen_lr"

    def __init__(
        self,
        spec: LabelSpec,
        encoder_dir: Path,
        window: WindowConfig = WindowConfig(max_length=256, overlap=32),
        batch_size: int = 32,
        C: float = 1.0,
        max_iter: int = 2000,
        device: str | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__(spec, C=C, max_iter=max_iter)
        self.encoder_dir = Path(encoder_dir)
        self.window = window
        self.batch_size = batch_size
        self.device = device
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.cache_hits = 0  # conversations read from the cache by the last embed() call
        self._cache: dict[str, np.ndarray] | None = None
        self._folder: Path | None = None
        self._model: Any = None
        self._windower: Windower | None = None
        self._mean: np.ndarray | None = None
        self._std: np.ndarray | None = None

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModel

        self._windows()
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model = AutoModel.from_pretrained(str(self.encoder_dir), local_files_only=True).to(device).eval()
        self.device = device

    def _windows(self) -> Windower:
        if self._windower is None:
            tok = self.encoder_dir / "tokenizer.json"
            if not tok.is_file():
                raise FileNotFoundError(f"{tok} not found; the encoder folder needs a tokenizers tokenizer.json")
            self._windower = Windower.from_file(tok, self.window)
        return self._windower

    def embed(self, conversations: Sequence[Conversation]) -> np.ndarray:
        """``[n, hidden]`` float32: mean of the last hidden state over every token of every window."""
        encs = self._windows().encode_many([c.turns for c in conversations])
        dropped = sum(e.windows_dropped for e in encs)
        if dropped:
            logger.warning("embed: %d windows dropped from over-long conversations", dropped)
        if self.cache_dir is None:
            self.cache_hits = 0
            return self._embed_windows(encs)
        keys = [_window_key(e) for e in encs]
        cache = self._load_cache()
        todo = sorted({k: i for i, k in enumerate(keys) if k not in cache}.values())  # each missing one once
        self.cache_hits = sum(1 for k in keys if k in cache)
        if self.cache_hits:
            logger.info("embed: %d of %d conversations from the cache %s", self.cache_hits, len(keys), self._cache_folder())
        for start in range(0, len(todo), CACHE_CHUNK):
            part = todo[start : start + CACHE_CHUNK]
            vecs = self._embed_windows([encs[i] for i in part])
            self._write_shard([keys[i] for i in part], vecs)
            cache.update((keys[i], v) for i, v in zip(part, vecs))
        if not keys:
            return self._embed_windows([])
        return np.stack([cache[k] for k in keys]).astype(np.float32)

    def _embed_windows(self, encs: Sequence[Any]) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        self._load()
        assert self._windower is not None
        windows, owner = [], []
        for i, e in enumerate(encs):
            windows.extend(e.input_ids)
            owner.extend([i] * e.n_windows)
        hidden = int(self._model.config.hidden_size)
        sums = np.zeros((len(encs), hidden), dtype=np.float64)
        counts = np.zeros(len(encs), dtype=np.float64)
        order = sorted(range(len(windows)), key=lambda k: len(windows[k]))  # similar lengths pad little
        owner_arr = np.asarray(owner, dtype=np.int64)
        bar = tqdm(total=len(windows), unit="win", desc="embed", disable=not sys.stderr.isatty())
        with torch.no_grad():
            for b in range(0, len(order), self.batch_size):
                idx = order[b : b + self.batch_size]
                ids, mask = pad_windows([windows[k] for k in idx], self._windower.pad_id)
                ids_t = torch.from_numpy(ids).to(self.device)
                mask_t = torch.from_numpy(mask).to(self.device)
                h = self._model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
                m = mask_t.unsqueeze(-1).to(h.dtype)
                win_sum = (h * m).sum(dim=1).float().cpu().numpy()
                np.add.at(sums, owner_arr[idx], win_sum)
                np.add.at(counts, owner_arr[idx], mask.sum(axis=1))
                bar.update(len(idx))
        bar.close()
        return (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)

    def _cache_folder(self) -> Path:
        """One folder per (encoder files, window settings): a different encoder never reads these."""
        assert self.cache_dir is not None
        if self._folder is not None:
            return self._folder
        h = hashlib.sha256(_CACHE_FORMAT.encode())
        for name in ("config.json", "tokenizer.json", "model.safetensors", "pytorch_model.bin"):
            f = self.encoder_dir / name
            if f.is_file():
                h.update(name.encode())
                with f.open("rb") as fh:
                    for block in iter(lambda: fh.read(1 << 22), b""):
                        h.update(block)
        w = self.window
        h.update(f"{w.max_length}/{w.overlap}/{w.max_windows}".encode())
        self._folder = self.cache_dir / h.hexdigest()[:20]
        return self._folder

    def _load_cache(self) -> dict[str, np.ndarray]:
        if self._cache is None:
            self._cache = {}
            folder = self._cache_folder()
            for shard in sorted(folder.glob("[!.]*.npz")) if folder.is_dir() else []:  # not a writer's temporary file
                try:
                    with np.load(shard) as z:
                        self._cache.update(zip(z["keys"].tolist(), z["vectors"]))
                except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:  # unreadable: recompute, never fail
                    logger.warning("embed: cache shard %s unreadable (%s); ignoring it", shard, e)
        return self._cache

    def _write_shard(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        folder = self._cache_folder()
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:20]
        tmp = folder / f".{name}.{os.getpid()}.tmp.npz"
        np.savez(tmp, keys=np.asarray(keys), vectors=np.asarray(vectors, dtype=np.float32))
        os.replace(tmp, folder / f"{name}.npz")  # readers never see half a shard

    def fit(self, conversations: Sequence[Conversation]) -> "FrozenEncoderBaseline":
        X = self.embed(conversations)
        self._mean = X.mean(axis=0)
        self._std = X.std(axis=0) + 1e-6
        self._fit_heads((X - self._mean) / self._std, conversations)
        return self

    def predict_proba(self, conversations: Sequence[Conversation]) -> dict[str, np.ndarray]:
        if self._mean is None:
            raise RuntimeError("FrozenEncoderBaseline is not fitted; call fit() first")
        X = self.embed(conversations)
        return self._predict_heads((X - self._mean) / self._std, len(conversations))


def _window_key(enc: Any) -> str:
    """The conversation as the encoder sees it: its exact token windows."""
    h = hashlib.sha256()
    for w in enc.input_ids:
        h.update(np.asarray(w, dtype=np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()


def run_baselines(
    spec: LabelSpec,
    train: Sequence[Conversation],
    test: Sequence[Conversation],
    encoder_dir: Path | None,
    which: Sequence[str] = BASELINES,
    probs_out: dict[str, dict[str, np.ndarray]] | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, dict]:
    """Fit each named baseline on ``train`` and return its ``evaluate_outputs`` report on ``test``
    (``probs_out``, when given, receives each baseline's probabilities for paired comparisons).

    ``frozen_lr`` needs ``encoder_dir``; without one it is skipped (logged), not an error, so the
    torch-free TF-IDF baseline can run alone. ``cache_dir`` keeps its embeddings between runs.
    """
    unknown = sorted(set(which) - set(BASELINES))
    if unknown:
        raise ValueError(f"unknown baselines {unknown}; expected some of {list(BASELINES)}")
    targets = targets_from_conversations(spec, test)
    sources = [c.source for c in test]
    reports: dict[str, dict] = {}
    for name in which:
        if name == "frozen_lr" and encoder_dir is None:
            logger.warning("frozen_lr skipped: no encoder_dir given")
            continue
        t0 = time.perf_counter()
        model: TfidfBaseline | FrozenEncoderBaseline
        model = TfidfBaseline(spec) if name == "tfidf_lr" else FrozenEncoderBaseline(spec, Path(encoder_dir), cache_dir=cache_dir)
        model.fit(train)
        probs = model.predict_proba(test)
        reports[name] = evaluate_outputs(spec, targets, probs, sources)
        if probs_out is not None:
            probs_out[name] = probs
        logger.info("baseline %s: fitted and scored in %.1fs", name, time.perf_counter() - t0)
    return reports
