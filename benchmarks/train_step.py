"""Training step time: fp32 vs bf16 autocast on this CPU, for ``optim.bf16``.

    .venv/bin/python benchmarks/train_step.py [--windows 16 --tokens 256 --steps 4]

One forward and backward pass of the base encoder (6 layers, hidden 384) with a linear head over a
[windows, tokens] batch, each precision in its own process, after one warm-up step. Prints seconds per
step, the ratio, and whether torch has bf16 kernels here (what ``optim.bf16: auto`` follows).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def worker(precision: str, windows: int, tokens: int, steps: int) -> dict:
    import torch

    from convo_outcomes.model import build_encoder

    torch.manual_seed(0)
    encoder, _ = build_encoder("minilm")
    head = torch.nn.Linear(encoder.config.hidden_size, 5)
    opt = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=1e-5)
    ids = torch.randint(1000, 20000, (windows, tokens))
    mask = torch.ones_like(ids)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

    def step() -> float:
        t = time.perf_counter()
        with autocast:
            states = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            loss = head(states.mean(1)).float().logsumexp(1).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return time.perf_counter() - t

    step()
    times = [step() for _ in range(steps)]
    return {"seconds": statistics.median(times), "threads": torch.get_num_threads()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--windows", type=int, default=16)
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.windows, args.tokens, args.steps)))
        return
    import torch

    from convo_outcomes.train import cpu_has_native_bf16

    results = {}
    for precision in ("fp32", "bf16"):
        cmd = [sys.executable, __file__, "--worker", precision, "--windows", str(args.windows), "--tokens", str(args.tokens), "--steps", str(args.steps)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"{precision} worker failed:\n{out.stderr[-3000:]}")
        results[precision] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}; bf16 kernels (optim.bf16: auto -> on): {cpu_has_native_bf16()}; "
          f"{results['fp32']['threads']} threads; step = forward + backward + AdamW on {args.windows}x{args.tokens} tokens")
    print(f"{'precision':<16} {'s/step':>8} {'x fp32':>8}")
    for precision in ("fp32", "bf16"):
        s = results[precision]["seconds"]
        print(f"{precision:<16} {s:>8.2f} {results['fp32']['seconds'] / s:>8.2f}")


if __name__ == "__main__":
    main()
