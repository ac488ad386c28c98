"""Memory while scoring an archive: is RSS flat as rows go by?

    .venv/bin/python benchmarks/score_rss.py --model models/default --n 20000

Builds an archive of N generated conversations (repeating a 500-conversation generated block with new
ids, so building it is cheap), scores it with `convo-outcomes score` in a child process, samples the
child's RSS (with its own children) every 0.25 s, and prints RSS against rows scored, plus the slope
over the second half of the run in MB per 10,000 conversations: a flat curve means 1,000,000
conversations need no more memory than the run shown. The peer is the same pipeline's RSS after the
first 10% of rows (warm-up: model, tokenizer, first batches).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def build_archive(path: Path, n: int, seed: int) -> None:
    from convo_outcomes.synth import SynthConfig, iter_conversations

    block = list(iter_conversations(500, seed, SynthConfig()))
    with open(path, "w") as f:
        for i in range(n):
            rec = dict(block[i % len(block)])
            rec["id"] = f"rss-{i}"
            f.write(json.dumps(rec) + "\n")


def rss_tree(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("models/default"))
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="convo_rss_"))
    archive = work / "archive.jsonl"
    build_archive(archive, args.n, args.seed)
    out = work / "scores.jsonl"
    cmd = [sys.executable, "-m", "convo_outcomes.cli", "score", str(archive), "--model", str(args.model), "--output", str(out), "--workers", str(args.workers)]
    t0 = time.monotonic()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = psutil.Process(child.pid)
    samples = []  # (seconds, rows, rss bytes)
    progress = out.with_name(out.name + ".progress.json")
    while child.poll() is None:
        rows = 0
        if progress.exists():
            try:
                rows = json.loads(progress.read_text())["rows"]
            except (ValueError, KeyError):
                pass
        samples.append((time.monotonic() - t0, rows, rss_tree(proc)))
        time.sleep(0.25)
    if child.returncode != 0:
        raise SystemExit(f"scoring failed with exit code {child.returncode}")
    seconds = time.monotonic() - t0
    peak = max(s[2] for s in samples)
    print(f"{args.n} conversations scored in {seconds:.1f} s ({args.n / seconds:.1f}/s); peak RSS {peak / 2**20:.0f} MB")
    print(f"{'rows scored':>12} {'RSS MB':>8}")
    for frac in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        target = frac * args.n
        s = min(running or samples, key=lambda x: abs(x[1] - target))
        print(f"{s[1]:>12} {s[2] / 2**20:>8.0f}")
    running = [s for s in samples if 0 < s[1] < args.n]  # the last sample is taken after scoring ended
    warm = [s for s in running if s[1] >= 0.1 * args.n]
    half = [s for s in running if s[1] >= 0.5 * args.n]
    if len(half) > 2 and half[-1][1] > half[0][1]:
        slope = (half[-1][2] - half[0][2]) / (half[-1][1] - half[0][1]) * 10_000 / 2**20
        base = warm[0][2] / 2**20 if warm else float("nan")
        print(f"RSS after warm-up (10% of rows): {base:.0f} MB; slope over the second half: {slope:+.2f} MB per 10,000 conversations")
        print(f"extrapolated to 1,000,000 conversations: {peak / 2**20 + max(slope, 0) * 100:.0f} MB")


if __name__ == "__main__":
    main()
