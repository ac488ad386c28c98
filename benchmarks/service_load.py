"""Load benchmark of the scoring service over loopback: steady rate, burst recovery, mid-call updates.

    .venv/bin/python benchmarks/service_load.py --model models/default            # full run (~2 min)
    .venv/bin/python benchmarks/service_load.py --model tests/assets/tiny_model --quick   # correctness

Starts ``convo-outcomes serve`` on 127.0.0.1 (a free port, its own process group, killed at the end)
unless ``--url`` names a running loopback server. Its own asyncio client (aiohttp), open loop:

1. idle: sequential requests of ~500-token conversations -> idle p50.
2. steady: requests *scheduled* at a fixed rate (default 20/s for 30 s) whatever the answers do;
   latency runs from the scheduled send time, so a stalled server cannot hide its queue
   (no coordinated omission) -> p50, p99, errors. Goal: p99 <= 150 ms, 0 errors.
3. burst: 64 closed-loop clients for 10 s (a client that gets 429 waits its Retry-After, 1 s), then
   probes at 4/s for 5 s -> when the rolling p50 (5 probes; a rejected probe counts as not
   recovered) is back within 2x idle p50, and the p50 of the last second. Goal: within 5 s.
   (This is where BentoML's adaptive batcher would keep a high wait time; this service does not
   use it.)
4. mid-call: a fresh ~3,000-token call scored cold (``partial``), then re-sent with one more turn.
   Goal: update >= 8x cheaper than cold.

Every conversation has unique text, so no phase profits from the window cache by accident. Each
request has a 30 s client timeout and each phase a fixed length, so a run is bounded in time.
Figures are only meaningful on an otherwise idle machine: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
WORDS = (
    "refund order card login bill charge cancel plan router parcel flight hotel booking account password "
    "payment invoice delivery address upgrade discount contract signal outage technician appointment "
    "subscription renewal fee balance transfer statement replacement warranty return exchange"
).split()
OPENERS = ["hi i need help with my", "the problem is the", "can you check the", "i already called about the", "why is my", "please fix the"]
AGENT = ["let me look at your", "i can see the", "i have updated the", "sorry about the", "i will escalate the", "thanks, checking the"]


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))
    return s[k]


class ConvFactory:
    """Unique conversations of about N tokens, counted with the model's own tokenizer."""

    def __init__(self, model: Path, seed: int = 0):
        from convo_outcomes.render import Windower, WindowConfig

        cfg = json.loads((model / "config.json").read_text())
        self.windower = Windower.from_file(model / "tokenizer.json", WindowConfig(**cfg["window"]))
        self.rng = random.Random(seed)
        self.n = 0

    def turn(self, i: int) -> dict:
        r = self.rng
        speaker = "customer" if i % 2 == 0 else "agent"
        head = r.choice(OPENERS if speaker == "customer" else AGENT)
        words = " ".join(r.choice(WORDS) for _ in range(r.randint(8, 22)))
        return {"speaker": speaker, "text": f"{head} {words} ref{r.randint(0, 10**9)}"}

    def conversation(self, tokens: int) -> dict:
        self.n += 1
        turns: list[dict] = []
        while True:
            turns.append(self.turn(len(turns)))
            if self.windower.encode(turns).n_tokens >= tokens:
                break
        return {"id": f"bench-{self.n}", "turns": turns, "meta": {"account_value": round(self.rng.uniform(0, 3000), 2)}}


class Target:
    def __init__(self, url: str, token: str | None):
        self.url = url.rstrip("/")
        self.headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}

    async def score(self, session, payload: dict, scheduled: float | None = None) -> tuple[float, int, dict | None]:
        """(latency s from ``scheduled`` or send time, status or 0 on a client error, body)."""
        import aiohttp

        t0 = scheduled if scheduled is not None else time.perf_counter()
        try:
            async with session.post(f"{self.url}/v1/score", data=json.dumps(payload), headers=self.headers, timeout=aiohttp.ClientTimeout(total=30)) as r:
                body = await r.json(content_type=None)
                return time.perf_counter() - t0, r.status, body
        except Exception as e:
            return time.perf_counter() - t0, 0, {"client_error": type(e).__name__}


async def run_bench(target: Target, factory: ConvFactory, a: argparse.Namespace) -> dict:
    import aiohttp

    out: dict = {}
    # Idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s) can close
    # them under the client: a reused, already-closed connection would count as a server error.
    conn = aiohttp.TCPConnector(limit=0, keepalive_timeout=2.0)
    async with aiohttp.ClientSession(connector=conn) as session:
        # Warm-up (connections, first-call allocations).
        for _ in range(5):
            await target.score(session, {"conversation": factory.conversation(a.tokens)})

        # 1. idle p50
        pool = [factory.conversation(a.tokens) for _ in range(a.idle_requests)]
        idle, tok = [], []
        for c in pool:
            dt, st, body = await target.score(session, {"conversation": c})
            if st == 200:
                idle.append(dt)
                tok.append(body["n_tokens"])
        out["idle"] = {"n": len(idle), "p50_ms": percentile(idle, 50) * 1e3, "p99_ms": percentile(idle, 99) * 1e3, "errors": a.idle_requests - len(idle), "mean_tokens": statistics.mean(tok) if tok else 0}

        # 2. steady open loop
        n = int(a.rate * a.duration)
        pool = [factory.conversation(a.tokens) for _ in range(n)]
        start = time.perf_counter() + 0.2
        tasks = []
        for i, c in enumerate(pool):
            when = start + i / a.rate
            delay = when - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(target.score(session, {"conversation": c}, scheduled=when)))
        res = await asyncio.gather(*tasks)
        lat = [dt for dt, st, _ in res if st == 200]
        out["steady"] = {
            "n": n, "rate": a.rate, "seconds": a.duration, "p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3,
            "errors": sum(1 for _, st, _ in res if st != 200),
            "statuses": {str(s): sum(1 for _, st, _ in res if st == s) for s in sorted({st for _, st, _ in res})},
        }  # fmt: skip

        # 3. burst, then recovery probes
        burst_pool = [factory.conversation(a.tokens) for _ in range(256)]
        stop_at = time.perf_counter() + a.burst_seconds
        burst: list[tuple[float, int]] = []

        async def client(k: int) -> None:
            j = k
            while time.perf_counter() < stop_at:
                dt, st, _ = await target.score(session, {"conversation": burst_pool[j % len(burst_pool)]})
                burst.append((dt, st))
                j += a.burst_concurrency
                if st == 429:  # a well-behaved client honours Retry-After (1 s) instead of hammering
                    await asyncio.sleep(max(0.0, min(1.0, stop_at - time.perf_counter())))

        clients = [asyncio.create_task(client(k)) for k in range(a.burst_concurrency)]
        await asyncio.sleep(a.burst_seconds)
        t_end = time.perf_counter()  # clients stop issuing now; their requests in flight still finish
        probes_pool = [factory.conversation(a.tokens) for _ in range(int(a.recovery_seconds * a.probe_rate) + 1)]
        probe_tasks = []
        for i, c in enumerate(probes_pool):
            when = t_end + i / a.probe_rate
            delay = when - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            probe_tasks.append(asyncio.create_task(target.score(session, {"conversation": c}, scheduled=when)))
        probes = await asyncio.gather(*probe_tasks)
        await asyncio.gather(*clients)
        ok = [dt for dt, st in burst if st == 200]
        idle_p50 = out["idle"]["p50_ms"] / 1e3
        sent = [i / a.probe_rate for i in range(len(probes))]
        lat_p = [dt if st == 200 else float("inf") for dt, st, _ in probes]  # a rejected probe is not recovered
        recovered_at = None
        for i in range(len(lat_p)):
            window = lat_p[i : i + 5]
            if len(window) == 5 and all(statistics.median(lat_p[j : j + 5]) <= 2 * idle_p50 for j in range(i, len(lat_p) - 4)):
                recovered_at = sent[i + 4]  # the 5th probe of the first good window
                break
        last_second = [dt for s, (dt, st, _) in zip(sent, probes) if s >= a.recovery_seconds - 1 and st == 200]
        out["burst"] = {
            "concurrency": a.burst_concurrency, "seconds": a.burst_seconds, "n": len(burst), "ok": len(ok),
            "p50_ms": percentile(ok, 50) * 1e3, "p99_ms": percentile(ok, 99) * 1e3,
            "statuses": {str(s): sum(1 for _, st in burst if st == s) for s in sorted({st for _, st in burst})},
        }  # fmt: skip
        out["recovery"] = {
            "n": len(probes), "errors": sum(1 for _, st, _ in probes if st != 200), "recovered_after_s": recovered_at,
            "last_second_p50_ms": percentile(last_second, 50) * 1e3, "ratio_to_idle": percentile(last_second, 50) / idle_p50 if idle_p50 else float("nan"),
            "probe_latencies_ms": [round(x * 1e3, 1) if x != float("inf") else None for x in lat_p],
        }  # fmt: skip

        # 4. mid-call: cold vs one more turn
        cold, upd, cold_srv, upd_srv, windows, failed = [], [], [], [], [], []
        for t in range(a.update_trials):
            call = factory.conversation(a.long_tokens)
            dt, st, body = await target.score(session, {"conversation": call, "partial": True})
            if st != 200:
                failed.append((st, body))
                continue
            call["turns"].append(factory.turn(len(call["turns"])))
            dt2, st2, body2 = await target.score(session, {"conversation": call, "partial": True})
            if st2 != 200:
                failed.append((st2, body2))
                continue
            cold.append(dt)
            upd.append(dt2)
            cold_srv.append(body["latency_ms"])
            upd_srv.append(body2["latency_ms"])
            windows.append((body["n_tokens"], body["windows_encoded"], body2["windows_encoded"], body2["windows_reused"]))
        out["midcall"] = {
            "trials": len(cold), "cold_p50_ms": percentile(cold, 50) * 1e3, "update_p50_ms": percentile(upd, 50) * 1e3,
            "cold_server_p50_ms": percentile(cold_srv, 50), "update_server_p50_ms": percentile(upd_srv, 50),
            "speedup": percentile(cold, 50) / percentile(upd, 50) if upd else float("nan"),
            "server_speedup": percentile(cold_srv, 50) / percentile(upd_srv, 50) if upd_srv else float("nan"),
            "tokens_windows": windows[:3], "failed": failed[:3],
        }  # fmt: skip
    return out


def table(r: dict, load: tuple[float, float, float]) -> str:
    rows = [
        ("idle (sequential)", r["idle"]["n"], r["idle"]["p50_ms"], r["idle"]["p99_ms"], r["idle"]["errors"], f"~{r['idle']['mean_tokens']:.0f} tokens; capacity ~{1000 / r['idle']['p50_ms']:.0f} req/s"),
        (f"steady {r['steady']['rate']:g}/s x {r['steady']['seconds']:g} s", r["steady"]["n"], r["steady"]["p50_ms"], r["steady"]["p99_ms"], r["steady"]["errors"], f"statuses {r['steady']['statuses']}"),
        (f"burst c={r['burst']['concurrency']} x {r['burst']['seconds']:g} s", r["burst"]["n"], r["burst"]["p50_ms"], r["burst"]["p99_ms"], r["burst"]["n"] - r["burst"]["ok"], f"statuses {r['burst']['statuses']}"),
        ("recovery probes (last 1 s)", r["recovery"]["n"], r["recovery"]["last_second_p50_ms"], float("nan"), r["recovery"]["errors"], f"recovered after {r['recovery']['recovered_after_s']} s"),
        ("mid-call cold (partial)", r["midcall"]["trials"], r["midcall"]["cold_p50_ms"], float("nan"), 0, f"server {r['midcall']['cold_server_p50_ms']:.1f} ms"),
        ("mid-call update (+1 turn)", r["midcall"]["trials"], r["midcall"]["update_p50_ms"], float("nan"), 0, f"server {r['midcall']['update_server_p50_ms']:.1f} ms"),
    ]
    lines = [f"{'phase':30} {'n':>6} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}  notes", "-" * 100]
    for name, n, p50, p99, err, note in rows:
        lines.append(f"{name:30} {n:>6} {p50:>9.1f} {p99:>9.1f} {err:>7}  {note}")
    m = r["midcall"]
    lines += [
        "-" * 100,
        f"steady p99 {r['steady']['p99_ms']:.1f} ms, errors {r['steady']['errors']}        (goal: p99 <= 150 ms, 0 errors)",
        f"update/cold {1 / m['speedup']:.3f} (cold/update {m['speedup']:.1f}x; server-side {m['server_speedup']:.1f}x)  (goal: >= 8x)",
        f"recovered p50 / idle p50 {r['recovery']['ratio_to_idle']:.2f}; rolling p50 within 2x idle after {r['recovery']['recovered_after_s']} s  (goal: <= 2x within 5 s)",
        f"load average during run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores (figures are valid on an idle machine only)",
    ]
    return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int, workdir: Path, extra: list[str]) -> subprocess.Popen:
    cli = Path(sys.executable).parent / "convo-outcomes"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVO_OUTCOMES_")}
    env["BENTOML_DO_NOT_TRACK"] = "True"
    cmd = [str(cli), "serve", "--host", "127.0.0.1", "--port", str(port), "--model", str(model), "--audit", str(workdir / "audit.jsonl"), *extra]
    log = open(workdir / "server.log", "wb")
    return subprocess.Popen(cmd, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(url: str, proc: subprocess.Popen | None, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url}/readyz not ready after {timeout} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=ROOT / "models" / "default", help="model folder (served, and its tokenizer sizes the conversations)")
    p.add_argument("--url", help="benchmark a running server on 127.0.0.1 instead of starting one")
    p.add_argument("--token-env", help="environment variable holding the bearer token of --url")
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--tokens", type=int, default=500)
    p.add_argument("--idle-requests", type=int, default=30)
    p.add_argument("--burst-concurrency", type=int, default=64)
    p.add_argument("--burst-seconds", type=float, default=10.0)
    p.add_argument("--recovery-seconds", type=float, default=5.0)
    p.add_argument("--probe-rate", type=float, default=4.0, help="recovery probes per second (light: probes must not be the load)")
    p.add_argument("--long-tokens", type=int, default=3000)
    p.add_argument("--update-trials", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="tiny counts: checks the benchmark works, figures mean nothing")
    p.add_argument("--server-arg", action="append", default=[], help="extra `convo-outcomes serve` argument (repeatable), e.g. --server-arg=--threads=2")
    p.add_argument("--startup-timeout", type=float, default=300.0)
    p.add_argument("--json", type=Path, help="write the results here")
    a = p.parse_args(argv)
    if a.quick:
        a.rate, a.duration, a.idle_requests, a.burst_concurrency, a.burst_seconds = 5.0, 3.0, 5, 8, 2.0
        a.recovery_seconds, a.probe_rate, a.update_trials = 3.0, 4.0, 2
    a.model = a.model.resolve()
    if not (a.model / "config.json").exists():
        raise SystemExit(f"{a.model}: no exported model there (see `convo-outcomes export`)")
    proc = None
    with tempfile.TemporaryDirectory(prefix="service-load-") as tmp:
        try:
            if a.url:
                host = urlparse(a.url).hostname
                if host not in ("127.0.0.1", "localhost", "::1"):
                    raise SystemExit(f"--url must be a loopback address, found {host!r}")
                url = a.url.rstrip("/")
                token = os.environ.get(a.token_env) if a.token_env else None
            else:
                port = free_port()
                url = f"http://127.0.0.1:{port}"
                proc = start_server(a.model, port, Path(tmp), a.server_arg)
                token = None
            wait_ready(url, proc, a.startup_timeout)
            factory = ConvFactory(a.model)
            t0 = time.perf_counter()
            results = asyncio.run(run_bench(Target(url, token), factory, a))
            results["wall_s"] = round(time.perf_counter() - t0, 1)
            load = os.getloadavg()
            results["loadavg"] = load
            print(table(results, load))
            if a.json:
                a.json.write_text(json.dumps(results, indent=2))
        finally:
            if proc is not None:
                for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
                    try:
                        os.killpg(proc.pid, sig)
                        proc.wait(timeout=wait)
                        break
                    except (ProcessLookupError, subprocess.TimeoutExpired):
                        continue
    return 0


if __name__ == "__main__":
    sys.exit(main())
