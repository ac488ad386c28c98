"""Peak resident memory while streaming a ~1 GB JSONL archive through convo_outcomes.data.

The readers promise bounded memory whatever the archive size; this measures it. The archive is built
once (repeating ../shared/data lines with new ids, or generated records when shared is absent) in a
temp folder and reused; the read runs in a fresh child process so that building it does not count.

    .venv/bin/python benchmarks/read_rss.py                 # ~1 GB, iter_items (validation included)
    .venv/bin/python benchmarks/read_rss.py --size-mb 3072 --api read_conversations
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_ID = re.compile(rb'^\{"id": "((?:[^"\\]|\\.)*)"')


def build_archive(path: Path, size_mb: int) -> Path:
    target = size_mb << 20
    if path.exists() and path.stat().st_size >= target:
        print(f"reusing {path} ({path.stat().st_size / 2**20:,.0f} MB)")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    sources = sorted(SHARED.glob("*.jsonl")) if SHARED.is_dir() else []
    tmp = path.with_suffix(".partial")
    written, rep = 0, 0
    t0 = time.perf_counter()
    with open(tmp, "wb", buffering=1 << 20) as out:
        while written < target:
            if sources:
                for src in sources:
                    with open(src, "rb") as f:
                        for line in f:  # streamed: building the archive holds no file in memory either
                            new = _ID.sub(lambda m: b'{"id": "' + m.group(1) + b"-r%d" % rep + b'"', line, count=1)
                            out.write(new)
                            written += len(new)
                            if written >= target:
                                break
                    if written >= target:
                        break
            else:
                for i in range(10_000):
                    rec = {
                        "id": f"gen-{rep}-{i}",
                        "turns": [
                            {"speaker": "customer" if t % 2 == 0 else "agent", "text": f"turn {t} of call {i}: " + "words " * 40}
                            for t in range(12)
                        ],
                        "labels": {"resolution": "resolved" if i % 3 else "unresolved"},
                        "meta": {"source": "generated", "customer_id": f"k{i % 997}"},
                    }
                    line = (json.dumps(rec) + "\n").encode()
                    out.write(line)
                    written += len(line)
            rep += 1
    os.replace(tmp, path)
    print(f"built {path} ({written / 2**20:,.0f} MB) in {time.perf_counter() - t0:.1f}s")
    return path


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def measure(path: Path, api: str) -> dict:
    """Runs in the child: read everything once while a thread samples RSS every 10 ms."""
    from convo_outcomes.data import iter_items, read_conversations

    baseline = rss_mb()
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    accepted = rejected = 0
    t0 = time.perf_counter()
    if api == "iter_items":
        for item in iter_items(path):
            if item.ok:
                accepted += 1
            else:
                rejected += 1
    else:
        for _ in read_conversations([path]):
            accepted += 1
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    peak[0] = max(peak[0], rss_mb())
    size = path.stat().st_size
    return {
        "api": api,
        "archive_mb": round(size / 2**20),
        "records": accepted + rejected,
        "accepted": accepted,
        "rejected": rejected,
        "seconds": round(seconds, 1),
        "records_per_s": round((accepted + rejected) / seconds),
        "mb_per_s": round(size / 2**20 / seconds, 1),
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(peak[0], 1),
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024, help="archive size to build (default 1024)")
    ap.add_argument("--path", type=Path, default=None, help="archive to build or reuse (default: a temp folder)")
    ap.add_argument("--api", choices=["iter_items", "read_conversations"], default="iter_items")
    ap.add_argument("--limit-mb", type=float, default=500.0, help="exit 1 when peak RSS exceeds this")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # child mode
    args = ap.parse_args()
    path = args.path or Path(tempfile.gettempdir()) / "convo_outcomes_bench" / f"archive-{args.size_mb}mb.jsonl"
    if args.measure:
        print(json.dumps(measure(path, args.api)))
        return
    build_archive(path, args.size_mb)
    child = subprocess.run(
        [sys.executable, __file__, "--measure", "--path", str(path), "--api", args.api],
        check=True, capture_output=True, text=True,
    )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=2))
    verdict = "OK" if result["peak_rss_mb"] <= args.limit_mb else "OVER"
    print(
        f"{verdict}: peak RSS {result['peak_rss_mb']:.0f} MB (limit {args.limit_mb:.0f} MB) reading "
        f"{result['archive_mb']:,} MB, {result['records']:,} records at {result['records_per_s']:,} records/s"
    )
    sys.exit(0 if verdict == "OK" else 1)


if __name__ == "__main__":
    main()
