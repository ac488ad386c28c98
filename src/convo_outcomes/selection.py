"""What to label next: the conversations whose labels would teach the model most (uncertainty sampling).

Why uncertainty: a label on a conversation the model already scores confidently teaches it little;
one where the calibrated probabilities are split is where a human label moves the decision boundary.

How a conversation is scored, per chosen head (default: all heads), from calibrated probabilities:

* ``margin``: ``1 - (p1 - p2)`` with ``p1 >= p2`` the two largest probabilities (1 = a coin toss);
* ``entropy``: ``-sum p log p / log C`` (C classes; 1 = uniform).

The conversation's uncertainty is the maximum over the chosen heads, and the head that reaches it
"drives" the pick. Uncertainties are rounded to 6 decimals and ties are broken by a seeded hash of
the id, so the same inputs, model and seed give the same picks in the same order.

Diversity, kept deliberately simple: each pick falls in a bucket ``(driving head, predicted label of
that head)``, and no bucket takes more than ``per_bucket`` picks (default a quarter of ``n``) unless
the other buckets run out, when the best remaining candidates fill the list. Near-duplicates are
dropped: two conversations whose text is equal after lower-casing, collapsing whitespace and
replacing digits with 0 count as one (the first one read is kept), and an id is picked at most once.

Memory is bounded whatever the archive size: the input is streamed and scored in chunks, and only a
small entry (id, probabilities, uncertainty) is kept per candidate in one top-``n`` heap per bucket.
A second, cheap pass over the files (no scoring) fetches the picked records to write them out.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import itertools
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

logger = logging.getLogger(__name__)

STRATEGIES = ("margin", "entropy")
OUTPUT_SUFFIXES = (".jsonl", ".csv")


class SelectionError(ValueError):
    """Bad arguments for ``select`` (the message names the argument, what is allowed and what was seen)."""


def uncertainty(probs: np.ndarray, strategy: str = "margin") -> np.ndarray:
    """Per-row uncertainty in [0, 1] of a ``[n, C]`` probability matrix (1 = most uncertain)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise SelectionError(f"probs must be [n, C] with C >= 2, found shape {p.shape}")
    if strategy == "margin":
        top2 = np.sort(p, axis=1)[:, -2:]
        return np.clip(1.0 - (top2[:, 1] - top2[:, 0]), 0.0, 1.0)
    if strategy == "entropy":
        safe = np.clip(p, 1e-12, 1.0)
        h = -np.sum(np.where(p > 0, p * np.log(safe), 0.0), axis=1)
        return np.clip(h / math.log(p.shape[1]), 0.0, 1.0)
    raise SelectionError(f"strategy must be one of {list(STRATEGIES)}, found {strategy!r}")


_DIGITS = re.compile(r"\d")
_SPACE = re.compile(r"\s+")


def text_key(turns: Sequence[Any]) -> str:
    """Fingerprint that equal conversations share (case, spacing and numbers ignored)."""
    text = "\n".join(f"{t.speaker}: {t.text}" for t in turns)
    norm = _SPACE.sub(" ", _DIGITS.sub("0", text.lower())).strip()
    return hashlib.sha1(norm.encode()).hexdigest()[:16]


def render_text(turns: Sequence[Any]) -> str:
    """The conversation as a labeller reads it: ``customer: ...`` / ``agent: ...`` lines."""
    return "\n".join(f"{t.speaker}: {t.text}" for t in turns)


def _tiebreak(seed: int, conv_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{conv_id}".encode()).digest()[:8], "big")


@dataclass
class Candidate:
    """What is kept of a scored conversation until the end (no text: the records are re-read)."""

    id: str
    uncertainty: float
    head: str  # the head whose uncertainty is the maximum
    heads: dict[str, dict[str, Any]]  # head -> {label, probs, uncertainty}
    text_key: str
    tiebreak: int

    @property
    def bucket(self) -> str:
        return f"{self.head}={self.heads[self.head]['label']}"

    def order(self) -> tuple[float, int]:
        """Larger is better: higher uncertainty, then smaller seeded hash."""
        return (self.uncertainty, -self.tiebreak)


@dataclass
class Pick:
    rank: int
    candidate: Candidate
    record: dict[str, Any]  # the conversation as read (id, turns, labels, meta)
    text: str

    def selection(self, strategy: str, model_version: str) -> dict[str, Any]:
        c = self.candidate
        return {
            "rank": self.rank,
            "uncertainty": c.uncertainty,
            "strategy": strategy,
            "head": c.head,
            "bucket": c.bucket,
            "heads": c.heads,
            "model_version": model_version,
        }


@dataclass
class SelectionResult:
    picks: list[Pick]
    output: Path
    strategy: str
    heads: list[str]
    per_bucket: int
    n_read: int = 0
    n_excluded: int = 0
    n_duplicates: int = 0
    model_version: str = ""
    buckets: dict[str, int] = field(default_factory=dict)

    def to_text(self) -> str:
        u = [p.candidate.uncertainty for p in self.picks]
        lines = [
            f"read {self.n_read} conversations, skipped {self.n_excluded} already labelled and {self.n_duplicates} near-duplicates",
            f"picked {len(self.picks)} by {self.strategy} over {', '.join(self.heads)} (at most {self.per_bucket} per bucket unless the others run out)",
        ]
        if u:
            lines.append(f"uncertainty {u[0]:.4f} (rank 1) .. {u[-1]:.4f} (rank {len(u)})")
        lines += [f"  {b}: {k}" for b, k in sorted(self.buckets.items(), key=lambda kv: (-kv[1], kv[0]))]
        lines.append(f"wrote {self.output}")
        return "\n".join(lines)


def read_ids(paths: Iterable[str | Path]) -> set[str]:
    """Ids in files of records (JSONL, CSV with an ``id`` column, Parquet, or plain text one id a line).

    JSONL lines are only parsed for ``id`` (not validated), so a labelling tool's export or an earlier
    ``select`` output works as it is.
    """
    ids: set[str] = set()
    for path in map(Path, paths):
        if not path.exists():
            raise SelectionError(f"--exclude {path}: no such file")
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".json", ".ndjson"):
            with path.open() as f:
                for i, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise SelectionError(f"--exclude {path}:{i}: not JSON ({e.msg})") from e
                    if isinstance(rec, dict) and rec.get("id") is not None:
                        ids.add(str(rec["id"]))
        elif suffix == ".csv":
            with path.open(newline="") as f:
                reader = csv.DictReader(f)
                if "id" not in (reader.fieldnames or []):
                    raise SelectionError(f"--exclude {path}: no 'id' column (columns: {reader.fieldnames})")
                ids.update(str(r["id"]) for r in reader if r["id"])
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            ids.update(str(v) for v in pq.read_table(path, columns=["id"]).column("id").to_pylist() if v is not None)
        elif suffix == ".txt":
            ids.update(line.strip() for line in path.open() if line.strip())
        else:
            raise SelectionError(f"--exclude {path}: expected .jsonl, .csv, .parquet or .txt, found {suffix or 'no suffix'!r}")
    return ids


class _Buckets:
    """One bounded min-heap per bucket (worst candidate on top), with duplicate checks inside a bucket."""

    def __init__(self, size: int):
        self.size = size
        self.heaps: dict[str, list[tuple[tuple[float, int], int, Candidate]]] = {}
        self.keys: dict[str, set[tuple[str, str]]] = {}
        self._count = itertools.count()
        self.duplicates = 0

    def offer(self, c: Candidate) -> None:
        b = c.bucket
        heap = self.heaps.setdefault(b, [])
        seen = self.keys.setdefault(b, set())
        if ("text", c.text_key) in seen or ("id", c.id) in seen:
            self.duplicates += 1
            return
        item = (c.order(), next(self._count), c)
        if len(heap) < self.size:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            out = heapq.heappushpop(heap, item)[2]
            seen.discard(("text", out.text_key))
            seen.discard(("id", out.id))
        else:
            return
        seen.update((("text", c.text_key), ("id", c.id)))

    def ranked(self) -> list[Candidate]:
        return sorted((it[2] for h in self.heaps.values() for it in h), key=lambda c: c.order(), reverse=True)


def choose(candidates: Sequence[Candidate], n: int, per_bucket: int) -> list[Candidate]:
    """Top ``n`` of ranked candidates, at most ``per_bucket`` per bucket, then filled past the cap.

    A candidate whose id or text fingerprint is already chosen is never chosen again. The result is in
    choice order (capped picks first); callers rank it by uncertainty.
    """
    chosen: list[Candidate] = []
    taken: set[tuple[str, str]] = set()
    counts: dict[str, int] = {}
    for capped in (True, False):
        for c in candidates:
            if len(chosen) >= n:
                return chosen
            if ("id", c.id) in taken or ("text", c.text_key) in taken:
                continue
            if capped and counts.get(c.bucket, 0) >= per_bucket:
                continue
            chosen.append(c)
            taken.update((("id", c.id), ("text", c.text_key)))
            counts[c.bucket] = counts.get(c.bucket, 0) + 1
    return chosen


def _chunks(it: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


def _check_args(n: int, strategy: str, output: Path, per_bucket: int | None, chunk_size: int) -> None:
    if n < 1:
        raise SelectionError(f"--n must be >= 1, found {n}")
    if strategy not in STRATEGIES:
        raise SelectionError(f"--strategy must be one of {list(STRATEGIES)}, found {strategy!r}")
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise SelectionError(f"--out must end in {' or '.join(OUTPUT_SUFFIXES)}, found {output.name!r}")
    if per_bucket is not None and per_bucket < 1:
        raise SelectionError(f"--per-bucket must be >= 1, found {per_bucket}")
    if chunk_size < 1:
        raise SelectionError(f"chunk_size must be >= 1, found {chunk_size}")


def select(
    model: str | Path | Any,
    data: Sequence[str | Path],
    n: int,
    output: str | Path,
    heads: Sequence[str] = (),
    strategy: str = "margin",
    exclude: Sequence[str | Path] = (),
    seed: int = 0,
    per_bucket: int | None = None,
    chunk_size: int = 64,
    input_format: str | None = None,
) -> SelectionResult:
    """Pick the ``n`` most uncertain conversations in ``data`` and write them to ``output`` (.jsonl/.csv).

    ``model`` is an exported model folder or a loaded :class:`~convo_outcomes.runtime.Scorer`.
    """
    from .data import read_conversations
    from .runtime import Scorer

    output = Path(output)
    _check_args(n, strategy, output, per_bucket, chunk_size)
    scorer = model if isinstance(model, Scorer) else Scorer.load(model)
    unknown = [h for h in heads if h not in scorer.head_names]
    if unknown:
        raise SelectionError(f"--head {', '.join(unknown)}: not a head of {scorer.version}; heads: {', '.join(scorer.head_names)}")
    chosen_heads = list(dict.fromkeys(heads)) or list(scorer.head_names)
    cap = per_bucket or max(1, math.ceil(n / 4))
    skip = read_ids(exclude) if exclude else set()
    paths = [Path(p) for p in data]
    if not paths:
        raise SelectionError("--data: pass at least one file of conversations")

    buckets = _Buckets(n)
    n_read = n_excluded = 0
    for k, chunk in enumerate(_chunks(iter(read_conversations(paths, input_format=input_format)), chunk_size), 1):
        n_read += len(chunk)
        if k % 50 == 0:
            logger.info("select: %d conversations read", n_read)
        todo = [c for c in chunk if c.id not in skip]
        n_excluded += len(chunk) - len(todo)
        if not todo:
            continue
        preds = scorer.score(todo)
        per_head = {}
        for h in chosen_heads:
            classes = scorer.spec[h].classes
            probs = np.array([[p.heads[h].probs[c] for c in classes] for p in preds])
            per_head[h] = uncertainty(probs, strategy)
        for i, (conv, pred) in enumerate(zip(todo, preds)):
            us = {h: round(float(per_head[h][i]), 6) for h in chosen_heads}
            driver = max(chosen_heads, key=lambda h: us[h])  # first head in spec order on ties
            info = {
                h: {"label": r.label, "probs": r.probs, **({"uncertainty": us[h]} if h in us else {})}
                for h, r in pred.heads.items()
            }
            buckets.offer(Candidate(conv.id, us[driver], driver, info, text_key(conv.turns), _tiebreak(seed, conv.id)))
    picked = sorted(choose(buckets.ranked(), n, cap), key=lambda c: c.order(), reverse=True)  # rank 1 = most uncertain

    # second pass, no scoring: fetch the picked records (the one with the scored text, should an id repeat)
    want = {c.id: c for c in picked}
    records: dict[str, Any] = {}
    for conv in read_conversations(paths, input_format=input_format):
        if conv.id in want and conv.id not in records and text_key(conv.turns) == want[conv.id].text_key:
            records[conv.id] = conv
            if len(records) == len(want):
                break
    picks = [Pick(r, c, records[c.id].to_json_dict(), render_text(records[c.id].turns)) for r, c in enumerate(picked, 1)]
    write_picks(picks, output, strategy, scorer.version, list(scorer.head_names))
    counts: dict[str, int] = {}
    for p in picks:
        counts[p.candidate.bucket] = counts.get(p.candidate.bucket, 0) + 1
    result = SelectionResult(
        picks, output, strategy, chosen_heads, cap, n_read, n_excluded, buckets.duplicates, scorer.version, counts
    )
    logger.info("select: picked %d of %d conversations into %s", len(picks), n_read, output)
    return result


def write_picks(picks: Sequence[Pick], output: Path, strategy: str, model_version: str, head_names: Sequence[str]) -> None:
    """JSONL: the record plus ``selection``; CSV: one flat row per pick with the text rendered."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".partial")
    if output.suffix.lower() == ".jsonl":
        with tmp.open("w") as f:
            for p in picks:
                f.write(json.dumps({**p.record, "selection": p.selection(strategy, model_version)}, ensure_ascii=False) + "\n")
    else:
        with tmp.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "rank", "uncertainty", "head", *[f"pred_{h}" for h in head_names], "conversation"])
            for p in picks:
                c = p.candidate
                w.writerow([c.id, p.rank, f"{c.uncertainty:.6f}", c.head, *[c.heads[h]["label"] for h in head_names], p.text])
    tmp.replace(output)
