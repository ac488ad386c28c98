"""Synthetic conversation generator: determinism, contract, coverage, evidence, repeat links, noise, config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from convo_outcomes.labels import LabelSpec
from convo_outcomes.schema import Conversation
from convo_outcomes.synth import (
    ALL_INDUSTRIES,
    CAUSES,
    EXTRA_INDUSTRIES,
    HEAD_CLASSES,
    INDUSTRIES,
    SynthConfig,
    SynthSummary,
    generate,
    iter_conversations,
)

N = 2500
SEED = 7


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return list(iter_conversations(N, SEED))


def clean(rec: dict, head: str) -> str:
    """The label the story implies, before deliberate noise."""
    field = HEAD_CLASSES[head][0]
    return rec["meta"].get("label_noise_original", {}).get(head, rec["labels"][field])


def ntok(rec: dict) -> int:
    return sum(len(t["text"].split()) for t in rec["turns"])


# ------------------------------------------------------------------------------------ determinism


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    generate(150, 3, a)
    generate(150, 3, b)
    generate(150, 4, c)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert len(a.read_text().splitlines()) == 150


def test_bytes_do_not_depend_on_hash_seed(tmp_path: Path) -> None:
    """No hash() of strings or set order: another PYTHONHASHSEED gives the same file."""
    here = tmp_path / "here.jsonl"
    generate(60, 11, here)
    there = tmp_path / "there.jsonl"
    code = "from convo_outcomes.synth import generate; import sys; generate(60, 11, sys.argv[1])"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(there)], check=True, env=env, timeout=60)
    assert here.read_bytes() == there.read_bytes()


def test_cli_synth_writes_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from convo_outcomes.cli import app

    out = tmp_path / "cli.jsonl"
    res = CliRunner().invoke(app, ["data", "synth", "--n", "40", "--seed", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "resolution" in res.output and "industry" in res.output
    assert len(out.read_text().splitlines()) == 40
    bad = CliRunner().invoke(app, ["data", "synth", "--n", "5", "--out", str(out), "--label-noise", "0.9"])
    assert bad.exit_code != 0
    assert "label_noise" in bad.output
    ins = tmp_path / "insurance.jsonl"
    res = CliRunner().invoke(app, ["data", "synth", "--n", "30", "--out", str(ins), "--industries", "insurance,food_and_drink"])
    assert res.exit_code == 0, res.output
    assert {json.loads(x)["meta"]["industry"] for x in ins.read_text().splitlines()} <= {"insurance", "food_and_drink"}
    bad = CliRunner().invoke(app, ["data", "synth", "--n", "5", "--out", str(ins), "--industries", "retail,pizza"])
    assert bad.exit_code != 0 and "unknown: ['pizza']" in bad.output
    help_text = " ".join(CliRunner().invoke(app, ["data", "synth", "--help"], env={"COLUMNS": "400"}).output.split())
    assert all(name in help_text for name in ALL_INDUSTRIES)


# --------------------------------------------------------------------------------------- contract


def test_every_record_validates(records: list[dict]) -> None:
    for rec in records:
        conv = Conversation.model_validate(rec)
        assert conv.meta.source == "synthetic"
        assert conv.meta.language == "en"
        assert conv.meta.customer_id and conv.meta.started_at is not None
        starts = [t.start_s for t in conv.turns]
        assert all(s is not None for s in starts)
        assert starts == sorted(starts), rec["id"]
        assert rec["id"] == f"synth-{SEED}-{int(rec['id'].rsplit('-', 1)[1]):06d}"


def test_labels_and_meta_fields(records: list[dict]) -> None:
    for rec in records:
        labels, meta = rec["labels"], rec["meta"]
        assert set(labels) == {"resolution", "cause", "churn_risk", "repeat_contact", "effort", "aux_cancellation_intent"}
        assert isinstance(labels["aux_cancellation_intent"], bool)
        for head, (field, classes) in HEAD_CLASSES.items():
            assert labels[field] in classes, (rec["id"], head)
        for key in ("channel", "handled_by", "account_value", "queue", "team", "industry", "story", "evidence_turns", "label_noise"):
            assert key in meta, key
        story = meta["story"]
        for key in ("industry", "customer_situation", "prior", "agent_competence", "policy", "outcome", "churn", "repeat",
                    "effort", "evidence_position", "resolution_mode"):
            assert key in story, key
        assert story["outcome"] == clean(rec, "resolution")


def test_cause_names_match_label_spec() -> None:
    spec = LabelSpec.default()
    assert tuple(spec["contact_cause"].classes) == CAUSES
    for head, (_, classes) in HEAD_CLASSES.items():
        assert tuple(spec[head].classes) == classes


# --------------------------------------------------------------------------------------- coverage


def test_every_class_cause_industry_channel_appears(records: list[dict]) -> None:
    for head, (_, classes) in HEAD_CLASSES.items():
        seen = Counter(clean(r, head) for r in records)
        missing = [c for c in classes if seen[c] == 0]
        assert not missing, (head, missing)
    assert len(Counter(r["labels"]["cause"] for r in records)) == 17
    industries = Counter(r["meta"]["industry"] for r in records)
    assert set(industries) == set(INDUSTRIES) and len(industries) >= 6
    assert set(Counter(r["meta"]["channel"] for r in records)) == {"chat", "voice", "email"}
    assert set(Counter(r["meta"]["handled_by"] for r in records)) == {"ai", "human"}
    assert {True, False} <= {r["labels"]["aux_cancellation_intent"] for r in records}


def test_ai_conversations_have_a_bot_and_some_hand_over(records: list[dict]) -> None:
    ai = [r for r in records if r["meta"]["handled_by"] == "ai"]
    assert ai
    for r in ai:
        assert any(t["speaker"] == "bot" for t in r["turns"]), r["id"]
    assert any(any(t["speaker"] == "agent" for t in r["turns"]) for r in ai)
    for r in records:
        if r["meta"]["handled_by"] == "human":
            assert not any(t["speaker"] == "bot" for t in r["turns"]), r["id"]


def test_voice_looks_like_asr(records: list[dict]) -> None:
    voice_customer = [t["text"] for r in records if r["meta"]["channel"] == "voice" for t in r["turns"] if t["speaker"] == "customer"]
    assert voice_customer
    assert all(t == t.lower() for t in voice_customer)
    assert all(not any(ch in t for ch in ",.?!") for t in voice_customer)
    words = Counter(w for t in voice_customer for w in t.split())
    assert words["uh"] + words["um"] > 50
    assert words["[inaudible]"] > 0


def test_lengths_and_long_calls(records: list[dict]) -> None:
    lengths = [ntok(r) for r in records]
    assert min(lengths) < 60
    long = [r for r in records if ntok(r) >= 3000]
    share = len(long) / len(records)
    assert 0.04 < share < 0.13, share
    assert all(r["meta"]["channel"] == "voice" for r in long)
    assert all(r["meta"]["duration_s"] > 900 for r in long)
    assert all(r["meta"]["tokens"] == ntok(r) for r in records)


# --------------------------------------------------------------------------------------- evidence


def test_evidence_turns_are_valid(records: list[dict]) -> None:
    for rec in records:
        ev = rec["meta"]["evidence_turns"]
        assert set(ev) >= {"resolution", "churn_risk", "effort", "repeat_contact", "contact_cause"}
        n = len(rec["turns"])
        for head, idxs in ev.items():
            assert idxs == sorted(set(idxs))
            assert all(0 <= i < n for i in idxs), (rec["id"], head, idxs)
        assert ev["resolution"], rec["id"]
        assert ev["contact_cause"], rec["id"]
        if clean(rec, "churn_risk") == "at_risk":
            assert ev["churn_risk"], rec["id"]
        if clean(rec, "repeat_contact") == "repeat":
            assert ev["repeat_contact"], rec["id"]
        if clean(rec, "effort") == "high":
            assert ev["effort"], rec["id"]


def test_end_evidence_lies_in_last_tenth(records: list[dict]) -> None:
    ends = [r for r in records if r["meta"]["story"]["evidence_position"] == "end"]
    assert len(ends) >= 20
    long_ends = 0
    for rec in ends:
        n = len(rec["turns"])
        res = rec["meta"]["evidence_turns"]["resolution"]
        assert min(res) >= int(0.9 * n), (rec["id"], res, n)
        long_ends += ntok(rec) > 2000
    assert long_ends >= 20
    assert {"late", "middle"} <= {r["meta"]["story"]["evidence_position"] for r in records}


# ---------------------------------------------------------------------------------- repeat contacts


def _t(rec: dict) -> datetime:
    return datetime.fromisoformat(rec["meta"]["started_at"])


def test_repeat_contacts_link_to_an_earlier_unresolved_contact(records: list[dict]) -> None:
    by_id = {r["id"]: (k, r) for k, r in enumerate(records)}
    linked = 0
    for k, rec in enumerate(records):
        prev_id = rec["meta"].get("previous_id")
        if not prev_id:
            continue
        linked += 1
        j, prev = by_id[prev_id]
        assert j < k
        assert prev["meta"]["customer_id"] == rec["meta"]["customer_id"]
        assert clean(prev, "contact_cause") == clean(rec, "contact_cause")
        assert _t(prev) < _t(rec) <= _t(prev) + timedelta(days=7)
        assert clean(prev, "resolution") in ("unresolved", "escalated")
        assert clean(rec, "repeat_contact") == "repeat"
        assert rec["meta"]["story"]["prior"]["previous_id"] == prev_id
    share = linked / len(records)
    assert 0.08 < share < 0.2, share
    outside = [r for r in records if r["meta"]["story"]["prior"].get("before_file_window")]
    assert outside and all(clean(r, "repeat_contact") == "repeat" and "previous_id" not in r["meta"] for r in outside)
    window_start = min(_t(r) for r in records)
    for r in outside:
        earlier = _t(r) - timedelta(hours=r["meta"]["story"]["prior"]["hours_since_previous"])
        assert earlier < window_start + timedelta(hours=1), r["id"]


def test_fcr_from_the_archive_equals_ground_truth(records: list[dict]) -> None:
    """Linking by customer + cause within 7 days finds exactly the labelled in-file repeats."""
    by_key: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        by_key.setdefault((r["meta"]["customer_id"], clean(r, "contact_cause")), []).append(r)
    followed: set[str] = set()
    for group in by_key.values():
        group.sort(key=_t)
        for a, b in zip(group, group[1:]):
            if _t(b) - _t(a) <= timedelta(days=7):
                assert b["meta"].get("previous_id") == a["id"], (a["id"], b["id"])
                followed.add(a["id"])
    for r in records:
        if clean(r, "resolution") == "resolved":
            assert r["id"] not in followed, r["id"]


def test_repeat_text_says_so(records: list[dict]) -> None:
    repeats = [r for r in records if clean(r, "repeat_contact") == "repeat"]
    for rec in repeats:
        idxs = rec["meta"]["evidence_turns"]["repeat_contact"]
        text = " ".join(rec["turns"][i]["text"].lower() for i in idxs)
        assert text.strip(), rec["id"]


# ------------------------------------------------------------------------------------ churn, effort


def test_churn_follows_the_story_with_hard_negatives(records: list[dict]) -> None:
    for rec in records:
        if rec["labels"]["aux_cancellation_intent"]:
            assert clean(rec, "churn_risk") == "at_risk", rec["id"]
    hard = [r for r in records if r["meta"]["story"]["churn"]["hard_negative"]]
    assert len(hard) > 100
    assert all(clean(r, "churn_risk") == "not_at_risk" for r in hard)
    item_cancels = [r for r in hard if r["meta"]["story"]["churn"]["hard_negative"] == "cancel_item"]
    assert item_cancels and all(not r["labels"]["aux_cancellation_intent"] for r in item_cancels)


def test_effort_follows_the_events(records: list[dict]) -> None:
    for rec in records:
        eff = rec["meta"]["story"]["effort"]
        score = eff["score"]
        expected = "low" if score < 1.0 else ("medium" if score < 2.5 else "high")
        assert eff["label"] == expected == clean(rec, "effort"), rec["id"]
    transfers = [r for r in records if "transfer" in r["meta"]["story"]["effort"]["written"]]
    assert transfers and all(clean(r, "effort") in ("medium", "high") for r in transfers)


# ------------------------------------------------------------------------------------------ noise


def test_label_noise_rate_is_honoured_and_audited(records: list[dict]) -> None:
    flips = sum(len(r["meta"]["label_noise"]) for r in records)
    rate = flips / (len(records) * len(HEAD_CLASSES))
    assert 0.02 < rate < 0.04, rate
    for rec in records:
        orig = rec["meta"].get("label_noise_original", {})
        assert set(orig) == set(rec["meta"]["label_noise"])
        for head, value in orig.items():
            assert rec["labels"][HEAD_CLASSES[head][0]] != value


def test_no_noise_when_disabled() -> None:
    recs = list(iter_conversations(200, 5, SynthConfig(label_noise=0.0)))
    assert not any(r["meta"]["label_noise"] for r in recs)


# ----------------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"long_share": 1.5}, "long_share"),
        ({"label_noise": -0.1}, "label_noise"),
        ({"voice_share": "a lot"}, "voice_share"),
        ({"repeat_share": 0.9}, "repeat_share"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"window_days": 0}, "window_days"),
        ({"long_share": 0.3, "voice_share": 0.2}, "long_share"),
        ({"industries": ("retail", "fast_food")}, "industries"),
        ({"industries": ()}, "industries"),
        ({"industries": ("retail", "retail")}, "industries"),
        ({"industries": "retail"}, "industries"),
        ({"wide_requests": 1.2}, "wide_requests"),
    ],
)
def test_config_validation_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError) as err:
        SynthConfig(**kwargs)
    msg = str(err.value)
    assert field in msg
    assert "got" in msg and ("[" in msg or "YYYY-MM-DD" in msg)  # allowed range (or format) and the value seen


# ------------------------------------------------------------------------------------ industries


@pytest.fixture(scope="module")
def extra_records() -> list[dict]:
    return list(iter_conversations(900, 11, SynthConfig(industries=EXTRA_INDUSTRIES)))


def test_opt_in_industries_are_drawn_alone_and_cover_every_cause(extra_records: list[dict]) -> None:
    """An industry is only drawn when asked for, and each opt-in one yields every cause in its own words."""
    assert set(INDUSTRIES).isdisjoint(EXTRA_INDUSTRIES) and set(ALL_INDUSTRIES) == set(INDUSTRIES) | set(EXTRA_INDUSTRIES)
    by_ind = Counter(r["meta"]["industry"] for r in extra_records)
    assert set(by_ind) == set(EXTRA_INDUSTRIES)
    assert {clean(r, "contact_cause") for r in extra_records} == set(CAUSES)
    for rec in extra_records:
        Conversation.model_validate(rec)
        for t in rec["turns"]:
            assert not any(ch in t["text"] for ch in "<>{}|"), (rec["id"], t["text"])
    # the industry's own vocabulary reaches the text: its company names open or close the calls
    companies = Counter(r["meta"]["company"] for r in extra_records)
    assert len(companies) >= 3 * 3


def test_default_industries_are_unchanged(records: list[dict]) -> None:
    """Old recipes regenerate their corpus byte for byte: the default draws only the original six."""
    assert SynthConfig().industries == INDUSTRIES
    assert {r["meta"]["industry"] for r in records} == set(INDUSTRIES)


def test_mixed_industries_keep_every_default_one(tmp_path: Path) -> None:
    s = generate(600, 2, tmp_path / "all.jsonl", SynthConfig(industries=ALL_INDUSTRIES)).to_dict()
    assert set(s["industries"]) == set(ALL_INDUSTRIES)


# ------------------------------------------------------------------------------- wide requests


def test_wide_requests_word_the_request_in_cross_industry_terms() -> None:
    """Wide wording is opt-in (the default corpus keeps its bytes) and keeps the label the story decides."""
    from convo_outcomes.synth import _WIDE_REQUESTS

    plain = list(iter_conversations(400, 21, SynthConfig(wide_requests=0.0)))
    assert plain == list(iter_conversations(400, 21))
    wide = list(iter_conversations(400, 21, SynthConfig(wide_requests=1.0)))
    openers = {c: [w.split("<")[0].split("{")[0].strip().lower() for w in ws] for c, ws in _WIDE_REQUESTS.items()}
    hits: Counter = Counter()
    for rec in wide:
        Conversation.model_validate(rec)
        story = rec["meta"]["story"]["facts"]["story"].lower()
        cause = rec["meta"]["story"]["cause"]
        for t in rec["turns"]:
            assert not any(ch in t["text"] for ch in "<>{}|"), (rec["id"], t["text"])
        if cause in openers and any(o and story.startswith(o) for o in openers[cause]):
            hits[cause] += 1
            assert clean(rec, "contact_cause") == cause  # the wording follows the story's cause
    assert hits["new_purchase_or_booking"] >= 5 and len(hits) >= 8, hits


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n must be"):
        list(iter_conversations(-1, 0))
    with pytest.raises(ValueError, match="seed must be"):
        list(iter_conversations(3, "x"))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------- summary


def test_summary_counts(tmp_path: Path) -> None:
    s = generate(120, 9, tmp_path / "s.jsonl")
    assert isinstance(s, SynthSummary)
    d = s.to_dict()
    json.dumps(d)
    assert sum(d["industries"].values()) == 120
    assert sum(d["channels"].values()) == 120
    for head, counts in d["heads"].items():
        assert sum(counts.values()) == 120, head
    assert set(d["tokens"]) >= {"p50", "p95"}
    text = s.to_text()
    for word in ("industry", "channel", "resolution", "effort", "p50", "long calls", "repeat contacts"):
        assert word in text
