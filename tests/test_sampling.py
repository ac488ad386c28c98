"""Per-source sampling weights: subsample below 1, repeat above 1, fresh draw per epoch."""

from __future__ import annotations

import numpy as np

from convo_outcomes.render import EncodedConversation
from convo_outcomes.train import Example, epoch_sample


def _ex(origin: str, i: int) -> Example:
    enc = EncodedConversation([np.array([101, 5, 102])], [np.array([-1, 0, -1])], n_tokens=1)
    return Example(f"{origin}{i}", "meta-source", enc, np.array([-1]), origin)


def test_weights_are_per_data_source_entry() -> None:
    examples = [_ex("a", i) for i in range(100)] + [_ex("b", i) for i in range(50)]
    picked = epoch_sample(examples, {"a": 0.5, "b": 2.0}, seed=1)
    n_a = sum(1 for i in picked if examples[i].origin == "a")
    n_b = sum(1 for i in picked if examples[i].origin == "b")
    assert (n_a, n_b) == (50, 100)
    assert len({i for i in picked if examples[i].origin == "a"}) == 50  # without replacement
    other = epoch_sample(examples, {"a": 0.5, "b": 2.0}, seed=2)
    assert set(i for i in picked if i < 100) != set(i for i in other if i < 100)
    assert epoch_sample(examples, {"a": 0.5, "b": 2.0}, seed=1) == picked
