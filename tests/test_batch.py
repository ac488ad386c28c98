"""Archive scoring: formats, rejects, resume after interruption and after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from convo_outcomes.batch import ScoreError, iter_scored, score_archive
from tests.conftest import make_archive


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_interrupted_run_resumes_to_the_same_rows(tiny_model: Path, tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "in.jsonl"
    good, bad = make_archive(src, 300, bad_every=37)
    full = score_archive([src], tiny_model, tmp_path / f"full.{fmt}", batch_size=16, progress_bar=False)
    assert (full.rows, full.rejects) == (good, bad)
    out = tmp_path / f"part.{fmt}"
    first = score_archive([src], tiny_model, out, batch_size=16, stop_after=100, progress_bar=False)
    assert 100 <= first.rows < good
    with pytest.raises(ScoreError, match="unfinished run"):
        score_archive([src], tiny_model, out, batch_size=16, progress_bar=False)
    second = score_archive([src], tiny_model, out, batch_size=16, resume=True, progress_bar=False)
    assert (second.rows, second.rejects) == (good, bad)
    a, b = list(iter_scored(tmp_path / f"full.{fmt}")), list(iter_scored(out))
    assert [r["id"] for r in a] == [r["id"] for r in b]
    assert a == b
    rejects = [json.loads(x) for x in (tmp_path / "part.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [i + 1 for i in range(300) if i % 37 == 36]


def test_rows_carry_schema_and_meta(tiny_model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    make_archive(src, 5)
    score_archive([src], tiny_model, tmp_path / "o.parquet", progress_bar=False)
    t = pq.read_table(tmp_path / "o.parquet")
    assert t.num_rows == 5
    for col in ("id", "model_version", "resolution_label", "resolution_p_resolved", "resolution_evidence", "churn_risk_confidence", "meta_customer_id", "true_resolution"):
        assert col in t.column_names
    assert t.column("meta_customer_id").to_pylist()[0] == "u0"


def test_kill_9_mid_archive_then_resume_loses_and_duplicates_nothing(tiny_model: Path, tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    good, bad = make_archive(src, 6000, seed=3, bad_every=101)
    out = tmp_path / "scores.jsonl"
    cmd = [sys.executable, "-m", "convo_outcomes.cli", "score", str(src), "--model", str(tiny_model), "--output", str(out), "--batch-size", "8"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    progress = out.with_name(out.name + ".progress.json")
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if progress.exists():
                try:
                    if json.loads(progress.read_text())["rows"] >= 500:
                        break
                except (json.JSONDecodeError, KeyError):
                    pass
            if proc.poll() is not None:
                pytest.fail("scoring finished before it could be killed; make the archive bigger")
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    partial = sum(1 for _ in open(out))
    assert 0 < partial < good
    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    ids = [json.loads(x)["id"] for x in open(out)]
    counts = Counter(ids)
    assert len(ids) == good and max(counts.values()) == 1
    rejects = (tmp_path / "scores.rejects.jsonl").read_text().splitlines()
    assert len(rejects) == bad and len({json.loads(x)["line"] for x in rejects}) == bad


def test_rows_do_not_depend_on_batch_size_unless_windows_are_batched(tiny_model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    good, _ = make_archive(src, 60, bad_every=25)
    outs = {}
    for name, bs, bw, workers in (("a", 64, False, 0), ("b", 7, False, 2), ("c", 64, True, 0), ("d", 7, True, 0)):
        s = score_archive([src], tiny_model, tmp_path / f"{name}.jsonl", batch_size=bs, batch_windows=bw, workers=workers, progress_bar=False)
        assert s.rows == good
        outs[name] = list(iter_scored(tmp_path / f"{name}.jsonl"))
    assert outs["a"] == outs["b"]  # a window per encoder call: any batch size, any worker
    assert [r["id"] for r in outs["c"]] == [r["id"] for r in outs["a"]]
    prob = [k for k in outs["a"][0] if "_p_" in k]
    assert outs["c"] != outs["d"]  # batched windows: probabilities move with batch mates (bounded)
    assert max(abs(x[k] - y[k]) for x, y in zip(outs["c"], outs["d"]) for k in prob) < 1e-2
    res = subprocess.run(
        [sys.executable, "-m", "convo_outcomes.cli", "score", str(src), "--model", str(tiny_model), "--output", str(tmp_path / "e.jsonl"), "--batch-windows", "--batch-size", "64"],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert list(iter_scored(tmp_path / "e.jsonl")) == outs["c"]
    # a resumed run encodes as it started, or is refused
    part = tmp_path / "part.jsonl"
    score_archive([src], tiny_model, part, batch_size=7, batch_windows=True, stop_after=20, progress_bar=False)
    with pytest.raises(ScoreError, match="was scored with --batch-windows; resume with --batch-windows too"):
        score_archive([src], tiny_model, part, batch_size=7, resume=True, progress_bar=False)
    score_archive([src], tiny_model, part, batch_size=7, batch_windows=True, resume=True, progress_bar=False)
    assert list(iter_scored(part)) == outs["d"]
