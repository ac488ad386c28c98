from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL = ROOT / "tests" / "assets" / "tiny_model"
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """A checked-in tiny exported bundle (rebuild: training/recipes/tiny_bundle.sh)."""
    assert (TINY_MODEL / "manifest.json").exists(), f"missing test bundle {TINY_MODEL}"
    return TINY_MODEL


def make_archive(path: Path, n: int, seed: int = 0, bad_every: int = 0) -> tuple[int, int]:
    """A small JSONL archive of simple conversations, with a broken line every ``bad_every`` records."""
    rng = random.Random(seed)
    words = "refund order card login bill charge cancel plan flight hotel parcel router".split()
    good = bad = 0
    with open(path, "w") as f:
        for i in range(n):
            if bad_every and i % bad_every == bad_every - 1:
                f.write('{"id": "bad-%d", "turns": [{"speaker": "caller", "text": "x"}]}\n' % i)
                bad += 1
                continue
            turns = [
                {"speaker": rng.choice(["customer", "agent"]), "text": " ".join(rng.choices(words, k=rng.randint(3, 40)))}
                for _ in range(rng.randint(1, 12))
            ]
            f.write(json.dumps({"id": f"c-{i}", "turns": turns, "meta": {"source": "test", "customer_id": f"u{i % 97}"}}) + "\n")
            good += 1
    return good, bad
