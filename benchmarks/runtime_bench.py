"""Scoring throughput: our int8 runtime vs fp32 ONNX vs the same model in PyTorch eager fp32.

    .venv/bin/python benchmarks/runtime_bench.py --model models/default --checkpoint runs/default/final

Each runtime runs in its own process (two runtimes in one process on 2 cores fight over threads),
on the same archive of generated conversations. In the same run it measures the machine's int8
matmul ceiling (onnxruntime MatMulInteger on large matrices) and reports the fraction of it the int8
runtime achieves (model matmul FLOPs per conversation / time). Also: median latency of one
3,000-token call. The int8 runtime runs twice: as shipped (each window its own encoder call, so a
conversation's scores depend on its text alone) and with ``batch_windows`` (windows of different
conversations share calls, and dynamic int8's per-call activation scale makes scores depend on batch
mates); for both it measures how far ``--check`` conversations' probabilities move between scoring
in batches and alone, and how many labels change. Without ``--checkpoint`` the torch peer (and the fp32 ONNX peer) are built from the
model folder itself: its int8 weights dequantized to fp32, the same architecture and layer count (speed
does not depend on the weights), and the table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def matmul_flops(windows_lengths: list[int], hidden: int, layers: int, inter: int) -> float:
    """Multiply-add FLOPs (x2) of the encoder's matmuls for windows of the given lengths."""
    total = 0.0
    for t in windows_lengths:
        per_layer = 2 * t * hidden * (4 * hidden) + 2 * t * hidden * inter * 2 + 2 * 2 * t * t * hidden
        total += layers * per_layer
    return total


def load_archive(path: Path) -> list[dict]:
    return [json.loads(x) for x in open(path)]


def worker(kind: str, args: argparse.Namespace) -> dict:
    convs = load_archive(args.archive)
    long_call = json.loads(Path(args.long_call).read_text())
    moved = None
    if kind in ("int8", "int8_batched", "fp32"):
        from convo_outcomes.runtime import Scorer

        folder = args.fp32_dir if kind == "fp32" else args.model
        scorer = Scorer.load(folder, verify=False, batch_windows=kind != "int8")
        run = lambda batch: scorer.score(batch)  # noqa: E731
        if kind != "fp32":
            moved = batch_dependence(scorer, convs[: args.check], args.batch_size)
    elif kind == "torch":
        import torch

        from convo_outcomes.model import OutcomeModel, predict_logits
        from convo_outcomes.render import Windower

        model = OutcomeModel.load(args.torch_dir)
        model.eval()
        windower = Windower.from_file(Path(args.torch_dir) / "tokenizer.json", model.window)

        def run(batch):
            with torch.inference_mode():
                return predict_logits(model, windower.encode_many([c["turns"] for c in batch]), windower.pad_id, max_tokens=8192)

    elif kind == "ceiling":
        return {"int8_ops_per_s": int8_ceiling()}
    elif kind == "ceiling_fp32":
        return {"fp32_flops_per_s": fp32_ceiling()}
    else:
        raise SystemExit(f"unknown worker {kind}")
    run(convs[:32])  # warm-up
    t0 = time.perf_counter()
    for s in range(0, len(convs), args.batch_size):
        run(convs[s : s + args.batch_size])
    elapsed = time.perf_counter() - t0
    lat = []
    run([long_call])
    for _ in range(args.repeats):
        t = time.perf_counter()
        run([long_call])
        lat.append(time.perf_counter() - t)
    return {"seconds": elapsed, "conv_per_s": len(convs) / elapsed, "long_call_median_ms": 1000 * statistics.median(lat), "moved": moved}


def batch_dependence(scorer, convs: list[dict], batch_size: int) -> dict:
    """Largest probability change and label changes between scoring in batches and one by one."""
    import numpy as np

    def probs(preds):
        return [[p for h in pr.heads.values() for p in h.probs.values()] for pr in preds]

    def labels(preds):
        return [[h.label for h in pr.heads.values()] for pr in preds]

    batched = [p for s in range(0, len(convs), batch_size) for p in scorer.score(convs[s : s + batch_size])]
    alone = [scorer.score([c])[0] for c in convs]
    diff = np.abs(np.array(probs(batched)) - np.array(probs(alone)))
    flips = sum(a != b for x, y in zip(labels(batched), labels(alone)) for a, b in zip(x, y))
    return {"max_abs_dp": float(diff.max()), "labels_changed": int(flips), "labels": sum(len(x) for x in labels(alone))}


def int8_ceiling(m: int = 4096, k: int = 1536, n: int = 1536, repeats: int = 10) -> float:
    """Sustained int8 multiply-add ops/s of onnxruntime's MatMulInteger on this machine."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("A", TensorProto.UINT8, [m, k])
    b = helper.make_tensor_value_info("B", TensorProto.INT8, [k, n])
    y = helper.make_tensor_value_info("Y", TensorProto.INT32, [m, n])
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["A", "B"], ["Y"])], "mmi", [a, b], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {"A": rng.integers(0, 255, (m, k), dtype=np.uint8), "B": rng.integers(-127, 127, (k, n), dtype=np.int8)}
    sess.run(None, feeds)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        sess.run(None, feeds)
        best = min(best, time.perf_counter() - t)
    return 2.0 * m * k * n / best


def fp32_ceiling(m: int = 4096, k: int = 1536, n: int = 1536, repeats: int = 10) -> float:
    """Sustained fp32 FLOP/s of torch's matmul (the eager peer's own kernels) on this machine.

    The int8 ceiling over this one bounds what int8 can gain over fp32 here: with AVX2 and no VNNI
    (u8 x s8 pairs summed into s16, then s32) it is far from the 4x of int8's width.
    """
    import torch

    a, b = torch.randn(m, k), torch.randn(k, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2.0 * m * k * n / best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=Path("models/default"))
    p.add_argument("--checkpoint", type=Path, default=None, help="Training checkpoint of the same model (runs/default/final).")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--check", type=int, default=256, help="Conversations scored both in batches and alone (int8 rows).")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--archive", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--long-call", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--fp32-dir", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--torch-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return

    from convo_outcomes.render import Windower, WindowConfig
    from convo_outcomes.synth import SynthConfig, generate

    work = Path(tempfile.mkdtemp(prefix="convo_bench_"))
    archive = work / "archive.jsonl"
    generate(n=args.n, seed=args.seed, out=archive, config=SynthConfig())
    convs = load_archive(archive)
    cfg = json.loads((args.model / "config.json").read_text())
    windower = Windower.from_file(args.model / "tokenizer.json", WindowConfig(**cfg["window"]))
    # a ~3,000-token call: the longest generated call, extended with its own turns if shorter
    longest = max(convs, key=lambda c: windower.encode(c["turns"]).n_tokens)
    turns = list(longest["turns"])
    while windower.encode(turns).n_tokens < 3000:
        turns += longest["turns"]
    while windower.encode(turns).n_tokens > 3100 and len(turns) > 1:
        turns.pop(len(turns) // 2)
    long_call = {"id": "long", "turns": turns}
    (work / "long.json").write_text(json.dumps(long_call))
    long_tokens = windower.encode(turns).n_tokens

    # peers: fp32 ONNX and torch eager from the same checkpoint (or the base architecture)
    from convo_outcomes.export import export_model
    from convo_outcomes.warmstart import torch_model_from

    torch_dir = args.checkpoint
    torch_note = "fine-tuned checkpoint"
    if torch_dir is None:
        torch_dir = work / "torch"
        torch_model_from(args.model, attn_implementation="eager").save(torch_dir, args.model / "tokenizer.json")
        torch_note = "the model's dequantized int8 weights"
    fp32_dir = work / "fp32"
    export_model(torch_dir, fp32_dir, quantize="none", parity_sample=None)

    common = ["--archive", str(archive), "--long-call", str(work / "long.json"), "--model", str(args.model),
              "--fp32-dir", str(fp32_dir), "--torch-dir", str(torch_dir), "--batch-size", str(args.batch_size),
              "--repeats", str(args.repeats), "--check", str(args.check)]
    results = {}
    for kind in ("ceiling", "ceiling_fp32", "int8", "int8_batched", "fp32", "torch"):
        out = subprocess.run([sys.executable, __file__, "--worker", kind, *common], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"{kind} worker failed:\n{out.stderr[-3000:]}")
        results[kind] = json.loads(out.stdout.strip().splitlines()[-1])

    enc_cfg = cfg["encoder_config"]
    lengths = [len(w) for c in convs for w in windower.encode(c["turns"]).input_ids]
    flops = matmul_flops(lengths, enc_cfg["hidden_size"], enc_cfg["num_hidden_layers"], enc_cfg["intermediate_size"])
    ceiling = results["ceiling"]["int8_ops_per_s"]
    torch_rate = results["torch"]["conv_per_s"]
    rows = []
    kinds = (
        ("int8", "onnxruntime int8 (ours; a window per call)"),
        ("int8_batched", "onnxruntime int8, batch_windows"),
        ("fp32", "onnxruntime fp32 (windows batched)"),
        ("torch", f"torch eager fp32 ({torch_note})"),
    )
    for kind, label in kinds:
        r = results[kind]
        achieved = flops / r["seconds"]
        m = r.get("moved")
        moved = f"{m['max_abs_dp']:.4f}, {m['labels_changed']}/{m['labels']}" if m else "-"
        rows.append((label, r["conv_per_s"], r["conv_per_s"] / torch_rate, achieved / 1e9, achieved / ceiling, r["long_call_median_ms"], moved))
    print(f"archive: {len(convs)} generated conversations, {len(lengths)} windows, {sum(lengths):,} tokens; "
          f"{os.cpu_count()} CPUs; long call {long_tokens} tokens")
    fp32_ceil = results["ceiling_fp32"]["fp32_flops_per_s"]
    torch_flops = flops / results["torch"]["seconds"]
    print(f"int8 matmul ceiling (MatMulInteger 4096x1536x1536): {ceiling / 1e9:.1f} GOP/s; "
          f"fp32 (torch matmul, same shape): {fp32_ceil / 1e9:.1f} GFLOP/s; ratio {ceiling / fp32_ceil:.2f}")
    print(f"torch eager runs at {torch_flops / fp32_ceil:.1%} of the fp32 ceiling, so int8 at 100% of its ceiling "
          f"would be {ceiling / torch_flops:.2f}x torch; at 45%, {0.45 * ceiling / torch_flops:.2f}x")
    print(f"batched vs alone: the largest probability change and labels changed over the first {args.check} conversations")
    print(f"{'runtime':<58} {'conv/s':>8} {'x torch':>8} {'GFLOP/s':>8} {'of int8 ceiling':>16} {'3k-token call ms':>17} {'batched vs alone':>18}")
    for label, rate, ratio, gf, frac, lat, moved in rows:
        print(f"{label:<58} {rate:>8.1f} {ratio:>8.2f} {gf:>8.1f} {frac:>16.1%} {lat:>17.1f} {moved:>18}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "flops": flops, "long_tokens": long_tokens, "n": len(convs)}, indent=2))


if __name__ == "__main__":
    main()
