"""What the lexical blend costs at scoring time: a blended model vs the same folder with the blend switched off.

    .venv/bin/python benchmarks/blend_cost.py --model models/default

Both scorers are the same files in one process (each window its own encoder call); the plain one has its
lexical prior removed, so the difference is the blend alone: rendering the text, the TF-IDF features and
the regressions. Repeats alternate between the two, so drift in the host's speed hits both. Reports
conversations per second on a generated archive (batches of 64), the median latency of one ~3,000-token
call, and the lexical part timed by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("models/default"))
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    from convo_outcomes.render import render_text
    from convo_outcomes.runtime import Scorer
    from convo_outcomes.synth import SynthConfig, generate

    blended = Scorer.load(args.model)
    if blended.lexical is None:
        raise SystemExit(f"{args.model} is not blended (no lexical.json); nothing to measure")
    plain = Scorer.load(args.model)
    plain.lexical, plain.temperatures = None, dict(plain.neural_temperatures)

    work = Path(tempfile.mkdtemp(prefix="convo_blend_bench_"))
    archive = work / "archive.jsonl"
    generate(n=args.n, seed=args.seed, out=archive, config=SynthConfig())
    convs = [json.loads(line) for line in archive.read_text().splitlines()]
    longest = max(convs, key=lambda c: blended.windower.encode(c["turns"]).n_tokens)
    turns = list(longest["turns"])
    while blended.windower.encode(turns).n_tokens < 3000:
        turns += longest["turns"]
    while blended.windower.encode(turns).n_tokens > 3100 and len(turns) > 1:
        turns.pop(len(turns) // 2)
    long_call = [{"id": "long", "turns": turns}]
    long_tokens = blended.windower.encode(turns).n_tokens

    def archive_seconds(scorer: Scorer) -> float:
        t0 = time.perf_counter()
        for s in range(0, len(convs), args.batch_size):
            scorer.score(convs[s : s + args.batch_size])
        return time.perf_counter() - t0

    def long_ms(scorer: Scorer) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            scorer.score(long_call)
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    texts = [render_text(c["turns"]) for c in convs]
    secs: dict[str, list[float]] = {"blended": [], "plain": []}
    lat: dict[str, list[float]] = {"blended": [], "plain": []}
    lexical_s = []
    archive_seconds(plain)  # warm-up: sessions, caches, the vocabulary's hash table
    for _ in range(args.repeats):
        for name, scorer in (("plain", plain), ("blended", blended)):
            secs[name].append(archive_seconds(scorer))
            lat[name].append(long_ms(scorer))
        t0 = time.perf_counter()
        blended.lexical.log_probs(texts)
        lexical_s.append(time.perf_counter() - t0)

    rate = {k: len(convs) / statistics.median(v) for k, v in secs.items()}
    ms = {k: statistics.median(v) for k, v in lat.items()}
    lex_ms = statistics.median(lexical_s) / len(convs) * 1000
    long_lex = []
    for _ in range(20):
        t0 = time.perf_counter()
        blended.lexical.log_probs([render_text(turns)])
        long_lex.append((time.perf_counter() - t0) * 1000)
    print(f"{args.model}: {len(convs)} generated conversations, {os.cpu_count()} cores, median of {args.repeats} alternating repeats")
    print()
    print(f"| scorer | conv/s | x plain | {long_tokens}-token call, median ms | x plain |")
    print("|---|---:|---:|---:|---:|")
    for k in ("plain", "blended"):
        print(f"| {k} | {rate[k]:.1f} | {rate[k] / rate['plain']:.3f} | {ms[k]:.1f} | {ms[k] / ms['plain']:.3f} |")
    print()
    print(f"lexical part alone: {lex_ms:.2f} ms per archive conversation, {statistics.median(long_lex):.2f} ms for the long call "
          f"({len(blended.lexical.vocabulary)} features, heads {sorted(blended.lexical.heads)})")
    if args.json:
        args.json.write_text(json.dumps({"conv_per_s": rate, "long_call_ms": ms, "long_tokens": long_tokens,
                                         "lexical_ms_per_conv": lex_ms, "n": len(convs)}, indent=2))


if __name__ == "__main__":
    main()
