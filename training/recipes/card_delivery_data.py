"""Data for the retraining example: 200 "labelled" conversations and a held-out set.

A labeller is simulated with BANKING77's fine-grained intents: card_arrival and card_delivery_estimate
become the new cause card_delivery. The 200 (90 of the new class; 110 others: its two neighbouring classes, order_status and
card_service, then every source) come
from the default model's training split (records a user would label); the held-out set is the test split of every shared source (never trained on by
either model) plus generated test conversations.
Usage: python card_delivery_data.py SHARED_DIR OUT_DIR [SYNTH_TEST [SYNTH_TRAIN]]
"""

import json
import random
import sys
from pathlib import Path

from convo_outcomes.data import read_conversations, split_of

NEW, INTENTS = "card_delivery", {"card_arrival", "card_delivery_estimate"}
SPLIT = {"seed": 0, "validation": 0.1, "test": 0.1}  # the default model's split (training/configs/default.yaml)


def relabel(conv):
    labels = dict(conv.labels)
    if labels.get("cause_source") in INTENTS:
        labels["cause"] = NEW
    return conv.model_copy(update={"labels": labels})


def main(shared: Path, out: Path, synth_test: Path | None, synth_train: Path | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    bank = [relabel(c) for c in read_conversations([shared / "banking77.jsonl"])]
    train = [c for c in bank if split_of(c, **SPLIT) == "train"]
    new = [c for c in train if c.labels["cause"] == NEW]
    near = [c for c in train if c.labels["cause"] == "order_status"]  # where these intents used to go
    cards = [c for c in train if c.labels["cause"] == "card_service"]  # ordering a card is not waiting for one
    rest = [c for c in train if c.labels["cause"] not in (NEW, "order_status", "card_service")]
    # the other side of the line comes from everywhere the model reads, not only BANKING77: a new
    # class trained on one source's negatives fires on conversations that look like no source it saw
    others = []
    for name, k in (("multidogo", 15), ("star", 10)):
        pool = [c for c in read_conversations([shared / f"{name}.jsonl"]) if split_of(c, **SPLIT) == "train"]
        others += rng.sample(pool, k)
    if synth_train and synth_train.exists():
        pool = [c for c in read_conversations([synth_train]) if split_of(c, **SPLIT) == "train"]
        others += rng.sample(pool, 10)
    picked = rng.sample(new, 90) + rng.sample(near, 30) + rng.sample(cards, 30) + rng.sample(rest, 15) + others
    picked += rng.sample([c for c in rest if c not in picked], 200 - len(picked))
    rng.shuffle(picked)
    with open(out / "labelled.jsonl", "w") as f:
        for c in picked:
            f.write(c.model_dump_json(exclude_none=True) + "\n")
    n = 0
    with open(out / "heldout.jsonl", "w") as f:
        for name in ("banking77", "multidogo", "star"):
            for c in read_conversations([shared / f"{name}.jsonl"]):
                if split_of(c, **SPLIT) == "test":
                    f.write((relabel(c) if name == "banking77" else c).model_dump_json(exclude_none=True) + "\n")
                    n += 1
        if synth_test and synth_test.exists():
            for i, c in enumerate(read_conversations([synth_test])):
                if i >= 300:
                    break
                f.write(c.model_dump_json(exclude_none=True) + "\n")
                n += 1
    print(f"labelled: {len(picked)} ({sum(c.labels.get('cause') == NEW for c in picked)} {NEW}); held-out: {n}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None, Path(sys.argv[4]) if len(sys.argv) > 4 else None)
