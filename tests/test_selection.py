"""What to label next: uncertainty by hand, ranking against brute force, diversity, exclude, outputs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convo_outcomes.cli import app
from convo_outcomes.data import read_conversations
from convo_outcomes.runtime import Scorer
from convo_outcomes.schema import Conversation
from convo_outcomes.selection import Candidate, SelectionError, choose, select, text_key, uncertainty
from tests.conftest import make_archive


def test_uncertainty_by_hand() -> None:
    p = np.array([[0.5, 0.5, 0.0], [0.7, 0.2, 0.1], [1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    # margin = 1 - (p1 - p2): coin toss 1; .7 vs .2 -> .5; certain -> 0; uniform -> 1
    assert uncertainty(p, "margin") == pytest.approx([1.0, 0.5, 0.0, 1.0])
    # entropy / log 3: [.5, .5, 0] -> log 2 / log 3; uniform -> 1; certain -> 0
    h2 = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)) / math.log(3)
    assert uncertainty(p, "entropy") == pytest.approx([math.log(2) / math.log(3), h2, 0.0, 1.0])
    # binary: margin of [.6, .4] is .8; entropy of it is H(.6) / log 2
    b = np.array([[0.6, 0.4]])
    assert uncertainty(b, "margin") == pytest.approx([0.8])
    assert uncertainty(b, "entropy") == pytest.approx([-(0.6 * math.log(0.6) + 0.4 * math.log(0.4)) / math.log(2)])
    with pytest.raises(SelectionError, match="strategy"):
        uncertainty(b, "variance")


def _cand(cid: str, u: float, bucket: str, key: str | None = None) -> Candidate:
    head, label = bucket.split("=")
    return Candidate(cid, u, head, {head: {"label": label, "probs": {}}}, key or cid, 0)


def test_choose_caps_buckets_then_fills_and_skips_duplicates() -> None:
    ranked = [_cand("a1", 0.99, "h=A"), _cand("a2", 0.98, "h=A"), _cand("a3", 0.97, "h=A", key="a1"),
              _cand("a4", 0.96, "h=A"), _cand("b1", 0.50, "h=B"), _cand("b2", 0.40, "h=B")]
    # cap 2 per bucket: A gives a1, a2; B gives b1, b2
    assert [c.id for c in choose(ranked, 4, 2)] == ["a1", "a2", "b1", "b2"]
    # buckets run out: fill with the best remaining, but a3 has a1's text and is never chosen
    assert [c.id for c in choose(ranked, 6, 2)] == ["a1", "a2", "b1", "b2", "a4"]
    assert [c.id for c in choose(ranked, 3, 10)] == ["a1", "a2", "a4"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sel") / "calls.jsonl"
    make_archive(path, 160, seed=5)
    return path


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_picks_are_the_most_uncertain_and_ranked(tiny_model: Path, archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "picks.jsonl"
    res = select(tiny_model, [archive], 25, out, per_bucket=25, chunk_size=32)  # no diversity cap
    rows = _jsonl(out)
    assert len(rows) == len(res.picks) == 25 and res.n_read == 160
    assert [r["selection"]["rank"] for r in rows] == list(range(1, 26))
    u = [r["selection"]["uncertainty"] for r in rows]
    assert u == sorted(u, reverse=True)
    # brute force, same chunks (int8 activations are scaled per batch): max over heads of 1 - (p1 - p2)
    scorer = Scorer.load(tiny_model)
    convs = list(read_conversations([archive]))
    every: dict[str, float] = {}
    for s in range(0, len(convs), 32):
        for p in scorer.score(convs[s : s + 32]):
            every[p.id] = max(round(float(uncertainty(np.array([list(r.probs.values())]))[0]), 6) for r in p.heads.values())
    picked = {r["id"] for r in rows}
    assert min(every[i] for i in picked) >= max(v for i, v in every.items() if i not in picked)
    for r in rows:
        assert r["selection"]["uncertainty"] == pytest.approx(every[r["id"]], abs=1e-6)
        heads = r["selection"]["heads"]
        assert set(heads) == set(scorer.head_names)
        driver = r["selection"]["head"]
        assert heads[driver]["uncertainty"] == r["selection"]["uncertainty"] == max(h["uncertainty"] for h in heads.values())
        assert r["selection"]["bucket"] == f"{driver}={heads[driver]['label']}"


def test_jsonl_and_csv_are_complete_and_deterministic(tiny_model: Path, archive: Path, tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.csv"
    res = select(tiny_model, [archive], 12, a, seed=3)
    select(tiny_model, [archive], 12, b, seed=3)
    select(tiny_model, [archive], 12, c, seed=3)
    assert a.read_bytes() == b.read_bytes()
    # default cap: a quarter of n per (driving head, predicted label) while other buckets have candidates
    assert res.per_bucket == 3
    originals = {conv.id: conv for conv in read_conversations([archive])}
    rows = _jsonl(a)
    assert len(rows) == 12 and len({r["id"] for r in rows}) == 12
    for r in rows:
        sel = r.pop("selection")
        assert Conversation.model_validate(r) == originals[r["id"]]  # the record exactly as read
        assert sel["strategy"] == "margin" and sel["model_version"] == Scorer.load(tiny_model).version
        for h in sel["heads"].values():
            assert sum(h["probs"].values()) == pytest.approx(1.0, abs=1e-4)
            assert h["label"] == max(h["probs"], key=h["probs"].get)
    with c.open(newline="") as f:
        table = list(csv.DictReader(f))
    assert [t["id"] for t in table] == [r["id"] for r in rows]
    assert [int(t["rank"]) for t in table] == list(range(1, 13))
    for t, r in zip(table, _jsonl(a)):
        assert float(t["uncertainty"]) == pytest.approx(r["selection"]["uncertainty"], abs=1e-6)
        assert t["head"] == r["selection"]["head"]
        assert {k[5:]: v for k, v in t.items() if k.startswith("pred_")} == {h: v["label"] for h, v in r["selection"]["heads"].items()}
        assert t["conversation"] == "\n".join(f"{x['speaker']}: {x['text']}" for x in r["turns"])


def test_exclude_skips_labelled_ids_and_previous_picks(tiny_model: Path, archive: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.jsonl"
    select(tiny_model, [archive], 10, first)
    done = {r["id"] for r in _jsonl(first)}
    second = tmp_path / "second.jsonl"
    res = select(tiny_model, [archive], 10, second, exclude=[first])  # an earlier select output as is
    assert res.n_excluded == 10 and len(_jsonl(second)) == 10
    assert not done & {r["id"] for r in _jsonl(second)}
    ids_csv = tmp_path / "labelled.csv"
    ids_csv.write_text("id,label\n" + "".join(f"{i},x\n" for i in sorted(done)))
    third = tmp_path / "third.jsonl"
    select(tiny_model, [archive], 10, third, exclude=[ids_csv])
    assert _jsonl(third) == _jsonl(second)


def test_fewer_records_than_n_returns_all_distinct(tiny_model: Path, tmp_path: Path) -> None:
    src = tmp_path / "few.jsonl"
    make_archive(src, 15, seed=2)
    first = json.loads(src.read_text().splitlines()[0])
    shouted = [{**t, "text": t["text"].upper() + "  "} for t in first["turns"]]
    with src.open("a") as f:  # the same call again under another id, in capitals: a near-duplicate
        f.write(json.dumps({"id": "dup-1", "turns": shouted}) + "\n")
        f.write(json.dumps({"id": first["id"], "turns": [{"speaker": "agent", "text": "same id again"}]}) + "\n")
    assert text_key(Conversation.model_validate({"id": "x", "turns": shouted}).turns) == text_key(
        Conversation.model_validate(first).turns
    )
    out = tmp_path / "all.jsonl"
    res = select(tiny_model, [src], 100, out)
    rows = _jsonl(out)
    ids = [r["id"] for r in rows]
    assert res.n_read == 17 and len(rows) == 15 and len(set(ids)) == 15
    assert not ({"dup-1", first["id"]} <= set(ids))  # one of the two near-identical calls only


def test_bad_arguments_raise_typed_errors(tiny_model: Path, archive: Path, tmp_path: Path) -> None:
    with pytest.raises(SelectionError, match="--n must be >= 1, found 0"):
        select(tiny_model, [archive], 0, tmp_path / "x.jsonl")
    with pytest.raises(SelectionError, match="complaint.*heads: resolution, churn_risk"):
        select(tiny_model, [archive], 5, tmp_path / "x.jsonl", heads=["complaint"])
    with pytest.raises(SelectionError, match=r"\.jsonl or \.csv, found 'x.xlsx'"):
        select(tiny_model, [archive], 5, tmp_path / "x.xlsx")
    with pytest.raises(SelectionError, match="strategy"):
        select(tiny_model, [archive], 5, tmp_path / "x.jsonl", strategy="random")
    with pytest.raises(SelectionError, match="no such file"):
        select(tiny_model, [archive], 5, tmp_path / "x.jsonl", exclude=[tmp_path / "missing.jsonl"])
    assert not (tmp_path / "x.jsonl").exists()


def test_cli_select(tiny_model: Path, archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "picks.csv"
    runner = CliRunner()
    res = runner.invoke(app, ["select", "--model", str(tiny_model), "--data", str(archive), "--n", "7", "--out", str(out),
                              "--head", "contact_cause", "--strategy", "entropy"])
    assert res.exit_code == 0, res.output
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 7 and {r["head"] for r in rows} == {"contact_cause"}
    bad = runner.invoke(app, ["select", "--model", str(tiny_model), "--data", str(archive), "--out", str(out), "--head", "nope"])
    assert bad.exit_code == 2 and "heads: resolution" in bad.output
