"""scripts/outside_tinyintent.py: the outside cause test set is mapped, counted and checked, never guessed."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import yaml

from convo_outcomes.schema import Conversation
from tests.test_report import load_script

ROOT = Path(__file__).resolve().parents[1]


def _script():
    return load_script("outside_tinyintent")


def _sdist(member: str, rows: list[dict]) -> bytes:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode() + b"\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_labels_map_onto_the_default_spec_and_unmapped_ones_are_counted() -> None:
    mod = _script()
    rows = [{"text": "where is my order", "label": "track_order"}, {"text": "tell me a joke", "label": "oos"},
            {"text": "I want to buy this laptop", "label": "buy"}, {"text": "sell my bike", "label": "sell"},
            {"text": "cancel my order", "label": "cancel_order"}, {"text": "I want a refund", "label": "refund"},
            {"text": "rent a car for the weekend", "label": "rent"}]
    records, skipped = mod.records(_sdist(mod.MEMBER, rows))
    assert [r["labels"]["cause"] for r in records] == [
        "order_status", "new_purchase_or_booking", "order_change", "refund", "new_purchase_or_booking"]
    assert dict(skipped) == {"oos": 1, "sell": 1}
    assert len({r["id"] for r in records}) == len(records)
    classes = yaml.safe_load((ROOT / "models" / "default" / "label_spec.yaml").read_text())["heads"]["contact_cause"]["classes"]
    assert set(mod.CAUSE.values()) <= set(classes)
    for r in records:
        conv = Conversation.model_validate(r)
        assert conv.turns[0].speaker == "customer" and r["meta"]["source"] == "tinyintent"


def test_an_archive_that_is_not_the_pinned_sdist_is_refused(tmp_path: Path) -> None:
    mod = _script()
    fake = tmp_path / "tinyintent-0.1.1.tar.gz"
    fake.write_bytes(_sdist(mod.MEMBER, [{"text": "I want a refund", "label": "refund"}]))
    with pytest.raises(SystemExit, match="not tinyintent 0.1.1's sdist"):
        mod.main([str(tmp_path / "out.jsonl"), "--sdist", str(fake)])
    assert not (tmp_path / "out.jsonl").exists()
