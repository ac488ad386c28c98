"""Ray engine: the local engine's rows and rejects; a killed actor or driver loses and duplicates nothing.

Every Ray driver runs in a subprocess in its own session (``ray.init`` would otherwise put the pytest
process into a new process group), with its own short ``RAY_TMPDIR``. Cleanup kills that session's
process group and then any process still in the session (Ray workers sit in their own groups), and
nothing else.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from convo_outcomes.batch import arrow_schema, iter_scored, score_archive
from convo_outcomes.cli import app
from convo_outcomes.data import ColumnMap, Limits, iter_items
from convo_outcomes.distributed import _scan_jsonl, _Source, plan_batches, read_range, spark_ddl
from convo_outcomes.runtime import Scorer
from tests.conftest import make_archive

psutil = pytest.importorskip("psutil")
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the distributed extra (ray) is not installed")


# ------------------------------------------------------------------------------------ helpers


def _kill_session(sid: int) -> None:
    """Kill the process group ``sid`` leads, then whatever else is left in that session."""
    try:
        os.killpg(sid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        left = []
        for p in psutil.process_iter(["pid"]):
            try:
                if p.pid != os.getpid() and os.getsid(p.pid) == sid:
                    left.append(p)
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        if not left:
            return
        for p in left:
            try:
                p.kill()
            except psutil.Error:
                pass
        time.sleep(0.2)


def _in_session(sid: int, needle: str) -> list:
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if os.getsid(p.pid) == sid and needle in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except (ProcessLookupError, PermissionError):
            continue
    return found


@contextmanager
def _ray_env() -> Iterator[dict[str, str]]:
    tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a length limit
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env["RAY_TMPDIR"] = tmp
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # single-machine mode: Ray binds and dials 127.0.0.1 only
    env["RAY_AUTH_MODE"] = "token"  # a token of our own, so nothing is read from or written to ~/.ray
    env["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    try:
        yield env
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _session(cmd: list[str], env: dict[str, str], **kw) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, **kw)
    try:
        yield proc
    finally:
        _kill_session(proc.pid)
        proc.wait(timeout=30)


def _run(cmd: list[str], env: dict[str, str], timeout: float = 240) -> tuple[int, str]:
    """Run a driver to completion in its own session; returns (exit code, stderr)."""
    with _session(cmd, env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _score_cmd(src: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "convo_outcomes.cli", "score", str(src), "--model", str(model), "--output", str(out), "--engine", "ray", *extra]


def _wait_for_parts(out: Path, proc: subprocess.Popen, n: int = 1, timeout: float = 150) -> None:
    parts = out.with_name(out.name + ".ray") / "parts"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if parts.exists() and len(list(parts.glob("part-*.parquet"))) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"driver ended (rc {proc.returncode}) before it wrote {n} part(s): make the archive bigger")
        time.sleep(0.05)
    pytest.fail("no part file appeared in time")


def _check_complete(out: Path, good: int, bad: int) -> None:
    ids = [r["id"] for r in iter_scored(out)]
    assert len(ids) == good and max(Counter(ids).values()) == 1
    rejects = out.with_name(out.name[: -len(".parquet")] + ".rejects.jsonl").read_text().splitlines()
    assert len(rejects) == bad and len({json.loads(x)["line"] for x in rejects}) == bad


def _messy_jsonl(path: Path, n: int, seed: int) -> None:
    """make_archive plus blank lines, a BOM, broken JSON and an unknown field (line numbers != indices)."""
    make_archive(path, n, seed=seed, bad_every=37)
    lines = path.read_text().splitlines()
    lines[0] = "\ufeff" + lines[0]
    lines.insert(5, "")
    lines.insert(90, "   ")
    lines.insert(120, '{"id": "broken", "turns": [')
    lines.insert(300, '{"id": "extra", "turns": [{"speaker": "agent", "text": "hi"}], "colour": "red"}')
    path.write_text("\n".join(lines) + "\n")


def _parquet_archive(path: Path, n: int, seed: int) -> None:
    tmp = path.with_suffix(".jsonl")
    make_archive(tmp, n, seed=seed, bad_every=29)
    recs = [json.loads(x) for x in tmp.read_text().splitlines()]
    pq.write_table(
        pa.table({"id": [r["id"] for r in recs], "turns": [json.dumps(r["turns"]) for r in recs], "meta": [json.dumps(r.get("meta")) if r.get("meta") else None for r in recs]}),
        path,
        row_group_size=40,
    )
    tmp.unlink()


# ------------------------------------------------------------------------------ no cluster needed


def _local_batches(flags: list[bool], batch_size: int, flush: int) -> list[tuple[int, int, int]]:
    """batch.score_archive's batching loop, transcribed (True = valid record)."""
    out, start, b, r = [], 0, 0, 0
    for i, ok in enumerate(flags):
        b, r = (b + 1, r) if ok else (b, r + 1)
        if b >= batch_size or r >= flush:
            out.append((start, i + 1, b))
            start, b, r = i + 1, 0, 0
    if b or r:
        out.append((start, len(flags), b))
    return out


@pytest.mark.timeout(60)
def test_plan_batches_reproduces_the_local_engines_batches() -> None:
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(0, 200)
        flags = [rng.random() > rng.choice([0.0, 0.1, 0.6, 1.0]) for _ in range(n)]
        bs, flush = rng.randint(1, 20), rng.randint(1, 8)
        got = plan_batches(n, [i for i, ok in enumerate(flags) if not ok], bs, reject_flush=flush)
        assert got == _local_batches(flags, bs, flush), (n, bs, flush)


@pytest.mark.timeout(60)
def test_byte_offset_shards_read_exactly_what_iter_items_reads(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    _messy_jsonl(src, 700, seed=1)
    limits = Limits()
    whole = [(i.index, i.location, i.reject.to_dict() if i.reject else i.conversation) for i in iter_items(src)]
    n, hints = _scan_jsonl(src, limits, stride=64)
    assert n == len(whole)
    s = _Source(0, str(src), str(src.resolve()), "jsonl", True)
    pieces = []
    for start in range(0, n, 100):
        h = hints[start // 64]
        items = read_range(s, ColumnMap(), limits, start, min(n, start + 100), (h[0], h[1], (start // 64) * 64))  # type: ignore[arg-type]
        pieces += [(i.index, i.location, i.reject.to_dict() if i.reject else i.conversation) for i in items]
    assert pieces == whole


@pytest.mark.timeout(60)
def test_importing_the_engine_does_not_import_ray() -> None:
    code = "import sys, convo_outcomes.distributed, convo_outcomes.cli; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.timeout(60)
def test_cli_refuses_what_the_ray_engine_cannot_do(tiny_model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    make_archive(src, 3)
    runner = CliRunner()
    res = runner.invoke(app, ["score", str(src), "--model", str(tiny_model), "--output", str(tmp_path / "o.jsonl"), "--engine", "ray"])
    assert res.exit_code == 2 and "Parquet only" in res.output
    res = runner.invoke(app, ["score", str(src), "--model", str(tiny_model), "--output", str(tmp_path / "o.parquet"), "--engine", "spark"])
    assert res.exit_code == 2 and "'local' or 'ray'" in res.output
    res = runner.invoke(app, ["score", str(src), "--model", str(tiny_model), "--output", str(tmp_path / "o.parquet"), "--address", "127.0.0.1:6379"])
    assert res.exit_code == 2 and "--engine ray" in res.output


@pytest.mark.timeout(60)
def test_spark_ddl_names_every_output_column(tiny_model: Path) -> None:
    scorer = Scorer.load(tiny_model)
    ddl = spark_ddl(scorer)
    assert ddl.count("`") == 2 * len(arrow_schema(scorer))
    assert "`index` bigint" in ddl and "`resolution_evidence` array<bigint>" in ddl and "`resolution_p_resolved` double" in ddl


# ------------------------------------------------------------------------------ on a Ray cluster


@needs_ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ray_engine_equals_the_local_engine_row_for_row(tiny_model: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.parquet"
    _messy_jsonl(a, 420, seed=2)
    _parquet_archive(b, 150, seed=4)
    local = score_archive([a, b], tiny_model, tmp_path / "local.parquet", batch_size=16, progress_bar=False)
    out = tmp_path / "ray.parquet"
    with _ray_env() as env, _session(_score_cmd(a, tiny_model, out, "--batch-size", "16") + [str(b)], env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr[-3000:]
    assert f"scored {local.rows} conversations" in stdout
    key = lambda r: (r["input"], r["index"])  # noqa: E731
    want, got = list(iter_scored(tmp_path / "local.parquet")), list(iter_scored(out))
    assert sorted(got, key=key) == sorted(want, key=key)  # probabilities equal exactly: same batches
    assert [key(r) for r in got] == [key(r) for r in want]  # and, uninterrupted, in input order
    assert pq.read_schema(out).remove_metadata() == pq.read_schema(tmp_path / "local.parquet").remove_metadata()
    assert (tmp_path / "ray.rejects.jsonl").read_text() == (tmp_path / "local.rejects.jsonl").read_text()
    assert local.rejects == len((tmp_path / "ray.rejects.jsonl").read_text().splitlines()) > 10


@needs_ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_actor_killed_mid_job_loses_and_duplicates_nothing(tiny_model: Path, tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    good, bad = make_archive(src, 3000, seed=5, bad_every=101)
    out = tmp_path / "scores.parquet"
    with _ray_env() as env, _session(_score_cmd(src, tiny_model, out, "--batch-size", "8"), env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        _wait_for_parts(out, proc)
        actors = _in_session(proc.pid, "MapWorker")
        assert actors, "no scoring actor found in the driver's session"
        assert proc.poll() is None and not out.exists()
        killed = {p.pid for p in actors}
        for p in actors:
            p.kill()
        restarted = False
        while proc.poll() is None and not restarted:  # the pool must come back to finish the job
            restarted = any(p.pid not in killed for p in _in_session(proc.pid, "MapWorker"))
            time.sleep(0.05)
        _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr[-3000:]
    assert restarted, "the job finished without a new actor: the kill came too late to test anything"
    _check_complete(out, good, bad)


@needs_ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_driver_killed_then_rerun_on_a_running_cluster_resumes(tiny_model: Path, tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    good, bad = make_archive(src, 3000, seed=6, bad_every=97)
    out = tmp_path / "scores.parquet"
    host = (
        "import ray, sys, time; ray.init(address='local', num_cpus=2, include_dashboard=False); "
        "print(ray.get_runtime_context().gcs_address, flush=True); time.sleep(600)"
    )
    with _ray_env() as env, _session([sys.executable, "-c", host], env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as cluster:
        address = cluster.stdout.readline().strip()  # type: ignore[union-attr]
        assert ":" in address, "the test cluster did not start"
        cmd = _score_cmd(src, tiny_model, out, "--batch-size", "8", "--address", address)
        with _session(cmd, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as driver:
            _wait_for_parts(out, driver)
            assert driver.poll() is None
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(timeout=30)
        parts = sorted((out.with_name(out.name + ".ray") / "parts").glob("part-*.parquet"))
        assert parts and not out.exists()
        # what a crash between a part's write and anything after it can leave: the same rows twice,
        # and a half-written file
        shutil.copy(parts[0], parts[0].with_name("part-999999.parquet"))
        parts[0].with_name("part-000777.parquet.tmp").write_bytes(b"PAR1 half a file")
        rc, err = _run(cmd, env)
        assert rc != 0 and "unfinished Ray run" in err  # never silently starts over
        rc, err = _run(cmd + ["--resume"], env)
        assert rc == 0, err[-3000:]
        assert "already scored" in err
    _check_complete(out, good, bad)
