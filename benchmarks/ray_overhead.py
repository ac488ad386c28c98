"""What the Ray engine costs over the local engine on one machine (goal: at most 25% slower on 2 cores).

    .venv/bin/python benchmarks/ray_overhead.py --n 2000 --model models/default

Same archive of generated conversations (``convo_outcomes.synth.generate``), each engine in its own
process (two engines in one process would share threads and Ray's process group). The local engine
runs with its defaults (in process, onnxruntime on all cores); the Ray engine starts a local cluster
and uses its defaults (cluster CPUs - 1 actors) with 1 and with 2 onnxruntime threads per actor.
"end-to-end" includes starting the cluster; "scoring" starts once ``ray.init`` has returned.

Timings mean something only on an otherwise idle machine: the script prints the load average before
and after, and says so when the machine was busy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def worker(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    out = Path(args.workdir) / f"{args.worker}-{args.threads}.parquet"
    if args.worker == "local":
        from convo_outcomes.batch import score_archive

        t1 = time.perf_counter()
        s = score_archive([args.archive], args.model, out, overwrite=True, batch_size=args.batch_size, progress_bar=False)
    else:
        import ray

        from convo_outcomes.distributed import score_archive_ray

        ray.init(address="local", include_dashboard=False, num_cpus=args.cpus or None, logging_level="WARNING")
        t1 = time.perf_counter()
        s = score_archive_ray([args.archive], args.model, out, overwrite=True, batch_size=args.batch_size, threads=args.threads, progress_bar=False)
        ray.shutdown()
    t2 = time.perf_counter()
    return {"engine": args.worker, "threads": args.threads, "rows": s.rows, "rejects": s.rejects, "end_to_end_s": t2 - t0, "scoring_s": t2 - t1}


def run_child(kind: str, threads: int, archive: Path, workdir: Path, args: argparse.Namespace) -> dict:
    """One engine in a fresh process in its own session; whatever it leaves behind is killed."""
    cmd = [sys.executable, __file__, "--worker", kind, "--threads", str(threads), "--archive", str(archive), "--workdir", str(workdir),
           "--model", str(args.model), "--batch-size", str(args.batch_size), "--cpus", str(args.cpus)]
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.setdefault("RAY_TMPDIR", str(workdir / "ray"))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=args.timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # Ray workers live in their own groups: sweep the session too
        except ProcessLookupError:
            pass
        _kill_session_leftovers(proc.pid)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def _kill_session_leftovers(sid: int) -> None:
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            if pid != os.getpid() and os.getsid(pid) == sid:
                os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _cpu_seconds() -> dict[int, float]:
    """utime + stime of every process now, so that work by anything else during the run shows."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            out[int(p)] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="Generated conversations.")
    ap.add_argument("--seed", type=int, default=0)
    default_model = ROOT / "models" / "default"
    ap.add_argument("--model", type=Path, default=default_model if (default_model / "config.json").exists() else ROOT / "tests" / "assets" / "tiny_model")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--ray-threads", type=int, nargs="+", default=[1, 2], help="onnxruntime threads per actor to try.")
    ap.add_argument("--cpus", type=int, default=0, help="CPUs the local Ray cluster may use (0: all).")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--worker", choices=["local", "ray"], help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--archive", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    from convo_outcomes.synth import generate

    workdir = Path(tempfile.mkdtemp(prefix="rayb", dir="/tmp"))  # short: Ray socket paths have a length limit
    try:
        archive = workdir / "archive.jsonl"
        generate(n=args.n, seed=args.seed, out=archive)
        load_before, cpu_before, t0 = os.getloadavg(), _cpu_seconds(), time.monotonic()
        results = [run_child("local", 0, archive, workdir, args)]
        results += [run_child("ray", t, archive, workdir, args) for t in args.ray_threads]
        cpu_after, wall = _cpu_seconds(), time.monotonic() - t0
        # Processes alive before and after are not ours (our engines ran in sessions that are gone).
        other = sum(max(0.0, cpu_after[p] - c) for p, c in cpu_before.items() if p in cpu_after and p != os.getpid())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    base = results[0]
    print(f"model {args.model}, {args.n} generated conversations, batch size {args.batch_size}, {os.cpu_count()} CPU(s)")
    print(f"{'engine':<8} {'threads':>7} {'rows':>6} {'end-to-end s':>13} {'conv/s':>8} {'scoring s':>10} {'conv/s':>8} {'overhead':>9}")
    for r in results:
        over = r["scoring_s"] / base["scoring_s"] - 1
        threads = "all" if r["engine"] == "local" else str(r["threads"])
        print(
            f"{r['engine']:<8} {threads:>7} {r['rows']:>6} {r['end_to_end_s']:>13.1f} {r['rows'] / r['end_to_end_s']:>8.1f} "
            f"{r['scoring_s']:>10.1f} {r['rows'] / r['scoring_s']:>8.1f} {over:>+9.0%}"
        )
    if any(r["rows"] != base["rows"] for r in results):
        print("ROW COUNTS DIFFER: the engines did not score the same conversations")
    print("overhead: scoring time vs the local engine's (goal <= +25%); end-to-end adds the cluster start")
    busy = other / wall > 0.05 or load_before[0] > 0.5
    print(
        f"load average (1 min) before the runs {load_before[0]:.2f}; other processes used {other:.1f} CPU-s "
        f"in {wall:.0f} s ({other / wall:.2f} cores)" + (" -- machine busy: timings NOT valid" if busy else " -- machine otherwise idle")
    )


if __name__ == "__main__":
    main()
