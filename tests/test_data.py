"""Readers, validation, rejects and splits of convo_outcomes.data (fast: small files in tmp_path)."""

from __future__ import annotations

import csv
import gzip
import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from convo_outcomes.cli import app
from convo_outcomes.data import (
    MAX_PROBLEMS,
    REASONS,
    ColumnMap,
    DataError,
    Item,
    Limits,
    Location,
    Problem,
    Reject,
    RejectWriter,
    expand_paths,
    iter_items,
    parse_transcript,
    read_conversations,
    split_files,
    split_of,
    validate_paths,
    write_jsonl,
)
from convo_outcomes.schema import Conversation

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def conv(i: int, customer: str | None = None, **extra) -> dict:
    rec = {
        "id": f"c{i}",
        "turns": [{"speaker": "customer", "text": f"question {i}"}, {"speaker": "agent", "text": f"answer {i}"}],
        "labels": {"resolution": "resolved"},
        "meta": {"source": "unit"},
    }
    if customer:
        rec["meta"]["customer_id"] = customer
    rec.update(extra)
    return rec


def write_lines(path: Path, lines: list[str | dict]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def items(path, **kw) -> list[Item]:
    return list(iter_items(path, **kw))


def reasons(item: Item) -> list[tuple[str, str]]:
    assert item.reject is not None, f"expected a reject, got {item.conversation}"
    return [(p.field, p.reason) for p in item.reject.problems]


TURNS = [{"speaker": "customer", "text": "Card lost"}, {"speaker": "agent", "text": "Blocked it."}]
TRANSCRIPT = "Customer: Card lost\nAGENT: Blocked it.\nA new card is on its way.\n\nbot: Anything else?"


# ------------------------------------------------------------------------------------------ readers


def test_jsonl_reader_streams_valid_records_with_lines_and_indexes(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [conv(0), "", conv(1), "   ", conv(2)])
    got = items(path)
    assert [i.index for i in got] == [0, 1, 2]
    assert [i.location.line for i in got] == [1, 3, 5]
    assert [i.conversation.id for i in got] == ["c0", "c1", "c2"]
    assert all(i.ok and i.reject is None for i in got)
    assert str(got[1].location) == f"{path}:3"


def test_jsonl_gz_and_json_suffix_and_bom(tmp_path):
    gz = tmp_path / "a.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        f.write(json.dumps(conv(0)) + "\n" + json.dumps(conv(1)) + "\n")
    assert [i.conversation.id for i in items(gz)] == ["c0", "c1"]
    js = tmp_path / "b.json"
    js.write_bytes(b"\xef\xbb\xbf" + json.dumps(conv(5)).encode() + b"\n")
    assert [i.conversation.id for i in items(js)] == ["c5"]


def test_csv_with_turns_column_meta_and_labels(tmp_path):
    path = write_csv(
        tmp_path / "t.csv",
        ["id", "turns", "labels", "label_churn", "meta", "source", "customer_id", "account_value", "queue"],
        [
            [17, json.dumps(TURNS), json.dumps({"cause": "refund"}), "true", json.dumps({"team": "a", "queue": "x"}),
             "crm", "007", "12.5", "billing"],
            ["r2", json.dumps(TURNS), "", "", "", "", "", "", ""],
        ],
    )
    a, b = items(path)
    c = a.conversation
    assert c.id == "17" and a.location.row == 1 and b.location.row == 2
    assert [t.speaker for t in c.turns] == ["customer", "agent"]
    assert c.labels == {"cause": "refund", "churn": True}
    assert c.meta.source == "crm" and c.meta.customer_id == "007" and c.meta.account_value == 12.5
    assert c.meta.team == "a" and c.meta.queue == "billing"  # columns win over the meta JSON
    assert b.conversation.labels == {} and b.conversation.meta.source is None


def test_csv_with_transcript_column_multiline_cells(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["id", "transcript", "channel"], [["x1", TRANSCRIPT, "voice"]])
    (item,) = items(path)
    c = item.conversation
    assert [t.speaker for t in c.turns] == ["customer", "agent", "bot"]
    assert c.turns[1].text == "Blocked it.\nA new card is on its way."
    assert c.meta.channel == "voice"


def test_csv_label_cells_read_like_json_scalars(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["id", "turns", "label_a", "label_b", "label_c"],
                     [["1", json.dumps(TURNS), "FALSE", "3", "resolved"]])
    assert items(path)[0].conversation.labels == {"a": False, "b": 3, "c": "resolved"}


def test_configurable_column_names(tmp_path):
    cols = ColumnMap(id="conv_id", turns="dialog", transcript="text", labels="y", meta="extra", label_prefix="y_")
    path = write_csv(
        tmp_path / "t.csv",
        ["conv_id", "dialog", "text", "y", "y_effort", "extra", "id"],
        [["a", json.dumps(TURNS), "", json.dumps({"cause": "refund"}), "2", json.dumps({"source": "s"}), "kept"],
         ["b", "", "Customer: hi", "", "", "", ""]],
    )
    a, b = items(path, columns=cols)
    assert a.conversation.id == "a" and a.conversation.labels == {"cause": "refund", "effort": 2}
    assert a.conversation.meta.source == "s" and a.conversation.meta.model_extra["id"] == "kept"
    assert b.conversation.turns[0].text == "hi"


def _parquet(path: Path, table: pa.Table, row_group_size: int | None = None) -> Path:
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def test_parquet_turns_as_json_and_as_native_structs(tmp_path):
    as_json = _parquet(tmp_path / "j.parquet", pa.table({"id": [1, 2], "turns": [json.dumps(TURNS)] * 2,
                                                         "labels": [json.dumps({"cause": "refund"}), None]}))
    got = items(as_json)
    assert [i.conversation.id for i in got] == ["1", "2"] and [i.location.row for i in got] == [1, 2]
    assert got[0].conversation.labels == {"cause": "refund"} and got[1].conversation.labels == {}
    native = _parquet(tmp_path / "n.parquet", pa.table({
        "id": ["a"],
        "turns": [[{"speaker": "customer", "text": "hi", "start_s": None}, {"speaker": "agent", "text": "yo", "start_s": 1.5}]],
        "labels": [{"cause": "refund", "churn": None}],
        "meta": [{"source": "pq", "customer_id": None}],
        "queue": ["q1"],
    }))
    (item,) = items(native)
    c = item.conversation
    assert c.turns[1].start_s == 1.5 and c.labels == {"cause": "refund"}
    assert c.meta.source == "pq" and c.meta.customer_id is None and c.meta.queue == "q1"


def test_parquet_transcript_column(tmp_path):
    path = _parquet(tmp_path / "t.parquet", pa.table({"id": ["t1"], "transcript": [TRANSCRIPT]}))
    assert [t.speaker for t in items(path)[0].conversation.turns] == ["customer", "agent", "bot"]


def test_text_folder_one_conversation_per_file(tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "b-call.txt").write_text(TRANSCRIPT)
    (folder / "a-call.txt").write_text("system: call started\ncustomer: hello\nagent: hi")
    (folder / "notes.md").write_text("ignored")
    got = items(folder)
    assert [i.conversation.id for i in got] == ["a-call", "b-call"] and [i.index for i in got] == [0, 1]
    assert got[0].conversation.turns[0].speaker == "system"
    assert items(folder / "a-call.txt")[0].conversation.id == "a-call"
    assert [i.conversation.id for i in items(tmp_path / "calls", input_format="text")] == ["a-call", "b-call"]


def test_format_forced_overrides_suffix(tmp_path):
    path = write_lines(tmp_path / "export.dat", [conv(0)])
    assert items(path, input_format="jsonl")[0].conversation.id == "c0"
    csv_path = write_csv(tmp_path / "export.tsvish", ["id", "turns"], [["z", json.dumps(TURNS)]])
    assert items(csv_path, input_format="CSV")[0].conversation.id == "z"


def test_parse_transcript_lines_and_continuations():
    turns, starts, problems = parse_transcript("\nCustomer : one\ncontinued\nAgent:two")
    assert turns == [{"speaker": "customer", "text": "one\ncontinued"}, {"speaker": "agent", "text": "two"}]
    assert starts == [2, 4] and problems == []


# ---------------------------------------------------------------------------------------- rejections

BAD_RECORDS = [
    ('{"id": "x", "turns": [', [("(record)", "invalid_json")]),
    ("[1, 2]", [("(record)", "not_an_object")]),
    ({"id": "x"}, [("turns", "missing_field")]),
    ({"turns": TURNS}, [("id", "missing_field")]),
    ({"id": "x", "turns": TURNS, "channel": "chat"}, [("channel", "unknown_field")]),
    ({"id": "x", "turns": "hello"}, [("turns", "wrong_type")]),
    ({"id": "x", "turns": [{"speaker": "agent", "text": 5}]}, [("turns[0].text", "wrong_type")]),
    ({"id": "x", "turns": TURNS, "meta": {"channel": "sms"}}, [("meta.channel", "invalid_value")]),
    ({"id": "x", "turns": TURNS, "meta": {"account_value": -3}}, [("meta.account_value", "invalid_value")]),
    ({"id": "", "turns": TURNS}, [("id", "invalid_value")]),
    ({"id": "x", "turns": [{"speaker": "caller", "text": "hi"}]}, [("turns[0].speaker", "unknown_speaker")]),
    ({"id": "x", "turns": [{"speaker": "agent", "text": ""}]}, [("turns", "empty_text")]),
    ({"id": "x", "turns": [{"speaker": "agent", "text": " \n "}]}, [("turns", "empty_text")]),
    ({"id": "x", "turns": []}, [("turns", "no_turns")]),
]


@pytest.mark.parametrize("record, expected", BAD_RECORDS, ids=[e[0][1] + f"-{n}" for n, (_, e) in enumerate(BAD_RECORDS)])
def test_each_schema_reason_is_reported_with_field_and_line(tmp_path, record, expected):
    path = write_lines(tmp_path / "bad.jsonl", [conv(0), record])
    good, bad = items(path)
    assert good.ok and not bad.ok
    assert bad.location == Location(str(path), line=2) and bad.index == 1
    assert reasons(bad) == expected
    assert bad.reject.id == (record.get("id") or None if isinstance(record, dict) else ("x" if "x" in record else None))
    p = bad.reject.problems[0]
    assert p.expected and p.found and p.reason in REASONS


def test_invalid_encoding_is_a_reject(tmp_path):
    path = tmp_path / "enc.jsonl"
    path.write_bytes(b'{"id": "e1", "turns": [{"speaker": "agent", "text": "caf\xe9"}]}\n' + json.dumps(conv(1)).encode() + b"\n")
    bad, good = items(path)
    assert reasons(bad) == [("(record)", "invalid_encoding")] and bad.reject.id == "e1" and good.ok


def test_several_problems_in_one_record_are_all_reported(tmp_path):
    record = {"id": "m", "turns": [{"speaker": "caller", "text": ""}, {"text": "x"}], "extra": 1}
    (item,) = items(write_lines(tmp_path / "m.jsonl", [record]))
    assert set(reasons(item)) == {
        ("turns[0].speaker", "unknown_speaker"),
        ("turns[1].speaker", "missing_field"),
        ("extra", "unknown_field"),
    }


def test_blank_turns_warn_by_default_and_reject_when_strict(tmp_path):
    """One blank turn keeps the record (index stable, reported as a warning); --strict refuses it."""
    record = {"id": "b", "turns": [{"speaker": "customer", "text": "where is my parcel"}, {"speaker": "agent", "text": "  "}]}
    path = write_lines(tmp_path / "b.jsonl", [record])
    (item,) = items(path)
    assert item.ok and len(item.conversation.turns) == 2
    assert [(w.field, w.reason) for w in item.warnings] == [("turns[1].text", "empty_text")]
    (strict,) = list(iter_items(path, limits=Limits(empty_turns="reject")))
    assert reasons(strict) == [("turns[1].text", "empty_text")] and strict.location.line == 1
    with pytest.raises(DataError, match="Limits.empty_turns"):
        Limits(empty_turns="drop")


def test_limits_reject_long_records(tmp_path):
    limits = Limits(max_turns=3, max_turn_chars=10, max_conversation_chars=25)
    many = {"id": "many", "turns": [{"speaker": "agent", "text": "ok"}] * 4}
    long_turn = {"id": "long", "turns": [{"speaker": "agent", "text": "x" * 11}]}
    long_conv = {"id": "conv", "turns": [{"speaker": "agent", "text": "x" * 9}] * 3}
    path = write_lines(tmp_path / "l.jsonl", [many, long_turn, long_conv, conv(1)])
    a, b, c, d = items(path, limits=limits)
    assert reasons(a) == [("turns", "too_many_turns")]
    assert reasons(b) == [("turns[0].text", "turn_too_long")]
    assert reasons(c) == [("turns", "conversation_too_long")]
    assert d.ok
    assert b.reject.problems[0].expected == "at most 10 characters" and b.reject.problems[0].found == "11 characters"
    # limits apply on the slow path too, next to schema problems
    both = {"id": "both", "turns": [{"speaker": "pilot", "text": "y" * 11}]}
    (e,) = items(write_lines(tmp_path / "b.jsonl", [both]), limits=limits)
    assert set(reasons(e)) == {("turns[0].speaker", "unknown_speaker"), ("turns[0].text", "turn_too_long")}


def test_problem_list_is_capped(tmp_path):
    record = {"id": "cap", "turns": [{"speaker": "nobody", "text": "hi"}] * (MAX_PROBLEMS + 5)}
    (item,) = items(write_lines(tmp_path / "c.jsonl", [record]))
    assert len(item.reject.problems) == MAX_PROBLEMS
    last = item.reject.problems[-1]
    assert last.reason == "too_many_problems" and last.found == "6 more"


def test_oversized_line_is_rejected_without_being_read(tmp_path):
    limits = Limits(max_conversation_chars=10)
    big = {"id": "huge", "turns": [{"speaker": "agent", "text": "z" * (limits.max_record_bytes + 10)}]}
    small = {"id": "small", "turns": [{"speaker": "agent", "text": "ok"}]}
    path = write_lines(tmp_path / "big.jsonl", [big, small])
    a, b = items(path, limits=limits)
    assert reasons(a) == [("(record)", "record_too_large")] and a.reject.id == "huge"
    assert b.ok and b.location.line == 2 and b.index == 1


def test_limits_validate_their_fields():
    with pytest.raises(DataError, match=r"Limits.max_turns must be an integer in \[1, .*\], found 0"):
        Limits(max_turns=0)
    with pytest.raises(DataError, match=r"max_turn_chars .*found 'many'"):
        Limits(max_turn_chars="many")
    with pytest.raises(DataError, match="ColumnMap.id"):
        ColumnMap(id="")


def test_transcript_rejections(tmp_path):
    folder = tmp_path / "tx"
    folder.mkdir()
    (folder / "a.txt").write_text("hello there\nCustomer: hi")
    (folder / "b.txt").write_text("Caller: hi\nAgent: hello")
    (folder / "c.txt").write_text("\n\n")
    (folder / "d.txt").write_text("Customer: fine\nAgent: ok\nAgent:\nCustomer: bye")
    (folder / "e.txt").write_bytes(b"Customer: caf\xe9")
    a, b, c, d, e = items(folder)
    assert reasons(a) == [("transcript line 1", "unparseable_transcript")] and a.location.line == 1
    assert reasons(b) == [("transcript line 1", "unknown_speaker")] and b.reject.problems[0].found == "'Caller'"
    assert reasons(c) == [("transcript", "no_turns")]
    assert d.ok and [(w.field, w.reason) for w in d.warnings] == [("turns[2].text", "empty_text")]
    assert reasons(e) == [("(record)", "invalid_encoding")]


def test_table_rejections(tmp_path):
    path = write_csv(
        tmp_path / "t.csv",
        ["id", "turns", "transcript", "labels", "meta"],
        [
            ["ok", json.dumps(TURNS), "", "", ""],
            ["j", "[{oops", "", "", ""],
            ["n", "", "", "", ""],
            ["l", json.dumps(TURNS), "", "{bad", "[1]"],
            ["", "", "Customer: hi", "", ""],
            ["short", json.dumps(TURNS)],
            ["s", json.dumps([{"speaker": "caller", "text": "x"}]), "", "", ""],
        ],
    )
    ok, j, n, lab, noid, short, spk = items(path)
    assert ok.ok
    assert reasons(j) == [("turns", "invalid_json")] and j.location == Location(str(path), row=2)
    assert reasons(n) == [("turns", "missing_field")]
    assert set(reasons(lab)) == {("labels", "invalid_json"), ("meta", "wrong_type")}
    assert reasons(noid) == [("id", "missing_field")] and noid.reject.id is None
    assert reasons(short) == [("(record)", "wrong_column_count")] and short.reject.id == "short"
    assert reasons(spk) == [("turns[0].speaker", "unknown_speaker")]
    assert str(j.location) == f"{path} row 2"
    assert j.reject.to_dict()["row"] == 2 and "line" not in j.reject.to_dict()


def test_csv_bad_bytes_reject_only_that_row(tmp_path):
    path = tmp_path / "enc.csv"
    path.write_bytes(b"id,transcript\nr1,Customer: caf\xe9\nr2,Customer: fine\n")
    bad, good = items(path)
    assert reasons(bad) == [("transcript", "invalid_encoding")] and bad.reject.id == "r1"
    assert good.ok and good.location.row == 2


def test_every_defined_reason_is_exercised():
    """Keeps REASONS, the README table and the tests above in step."""
    exercised = {
        "invalid_json", "invalid_encoding", "not_an_object", "record_too_large", "wrong_column_count",
        "missing_field", "unknown_field", "wrong_type", "invalid_value", "unknown_speaker", "empty_text",
        "no_turns", "too_many_turns", "turn_too_long", "conversation_too_long", "unparseable_transcript",
        "too_many_problems",
    }
    assert exercised == set(REASONS)


def test_reject_message_and_round_trip():
    r = Reject(Location("a.jsonl", line=4), "c9", [Problem("turns[1].speaker", "unknown_speaker", "one of customer", "'caller'")])
    assert r.message() == "a.jsonl:4 (id c9): turns[1].speaker: unknown_speaker: expected one of customer, found 'caller'"
    assert Reject.from_dict(r.to_dict()).to_dict() == r.to_dict()
    assert r.to_dict() == {"path": "a.jsonl", "line": 4, "id": "c9", "problems": [
        {"field": "turns[1].speaker", "reason": "unknown_speaker", "expected": "one of customer", "found": "'caller'"}]}


def test_found_is_truncated(tmp_path):
    record = {"id": "t", "turns": [{"speaker": "x" * 500, "text": "hi"}]}
    (item,) = items(write_lines(tmp_path / "t.jsonl", [record]))
    assert len(item.reject.problems[0].found) < 120 and "500 chars" in item.reject.problems[0].found


# ------------------------------------------------------------------------------------------- resume


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet", "text"])
def test_start_skips_records_and_keeps_indexes(tmp_path, kind):
    records = [conv(i) for i in range(7)]
    records[3] = {"id": "c3", "turns": []}  # a reject still takes its index
    if kind == "jsonl":
        path = write_lines(tmp_path / "r.jsonl", records)
    elif kind == "csv":
        path = write_csv(tmp_path / "r.csv", ["id", "turns"], [[r["id"], json.dumps(r["turns"])] for r in records])
    elif kind == "parquet":
        path = _parquet(tmp_path / "r.parquet", pa.table({"id": [r["id"] for r in records],
                                                          "turns": [json.dumps(r["turns"]) for r in records]}),
                        row_group_size=2)
    else:
        path = tmp_path / "txt"
        path.mkdir()
        for r in records:
            (path / f"{r['id']}.txt").write_text("\n".join(f"{t['speaker']}: {t['text']}" for t in r["turns"]))
    full = items(path)
    assert [i.index for i in full] == list(range(7)) and not full[3].ok
    for start in (0, 1, 3, 4, 5, 7, 9):
        tail = items(path, start=start)
        assert [(i.index, i.id, i.location) for i in tail] == [(i.index, i.id, i.location) for i in full[start:]]
    with pytest.raises(DataError, match="start must be a non-negative integer"):
        iter_items(path, start=-1)


# ------------------------------------------------------------------------------- writers and reports


def test_reject_writer_writes_counts_and_appends(tmp_path):
    r = Reject(Location("x.csv", row=3), None, [Problem("id", "missing_field", "an id", "(missing)")])
    out = tmp_path / "sub" / "rejects.jsonl"
    with RejectWriter(out) as w:
        assert out.exists() and out.read_text() == ""
        w.write(r)
        w.write(r)
        assert w.count == 2 and len(out.read_text().splitlines()) == 2  # flushed as it goes
    with RejectWriter(out, append=True) as w:
        w.write(r)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 3 and lines[0] == {"path": "x.csv", "row": 3, "id": None, "problems": [
        {"field": "id", "reason": "missing_field", "expected": "an id", "found": "(missing)"}]}
    with RejectWriter(out) as w:
        pass
    assert out.read_text() == ""
    with pytest.raises(RuntimeError, match="not open"):
        RejectWriter(out).write(r)


def test_read_conversations_across_folder_with_rejects_and_capped_warnings(tmp_path, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    write_lines(folder / "a.jsonl", [conv(0), {"id": "bad1"}, conv(1)])
    write_csv(folder / "b.csv", ["id", "transcript"], [["t1", "Agent: hi"], ["t2", "nope"], ["t3", "Customer: x"]])
    (folder / "c1.txt").write_text("customer: from text")
    with caplog.at_level(logging.WARNING, logger="convo_outcomes.data"):
        with RejectWriter(tmp_path / "rej.jsonl") as w:
            ids = [c.id for c in read_conversations([folder], rejects=w, max_warnings=1)]
    assert ids == ["c0", "c1", "t1", "t3", "c1"]
    assert w.count == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "bad1" in warnings[0] and "2 record(s) rejected (1 not shown above)" in warnings[1]
    assert [(p.name, f) for p, f in expand_paths(folder)] == [("a.jsonl", "jsonl"), ("b.csv", "csv"), ("in", "text")]


def test_validate_paths_report(tmp_path):
    path = write_lines(tmp_path / "v.jsonl", [conv(0), "{not json", {"id": "x", "turns": [], "meta": {"source": "crm"}},
                                               conv(1, meta={"source": "other"})])
    report = validate_paths([path], rejects_path=tmp_path / "r.jsonl", progress=False)
    assert (report.accepted, report.rejected) == (2, 2)
    assert report.by_source == {"unit": {"accepted": 1, "rejected": 0}, "other": {"accepted": 1, "rejected": 0},
                                "v.jsonl": {"accepted": 0, "rejected": 1}, "crm": {"accepted": 0, "rejected": 1}}
    assert report.by_reason == {"invalid_json": 1, "no_turns": 1}
    text = report.to_text()
    assert f"{path}:2" in text and "invalid_json" in text and f"{path}:3 (id x): turns: no_turns" in text
    d = report.to_dict()
    assert d["accepted"] == 2 and d["examples"][0]["line"] == 2 and json.dumps(d)
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 2


def test_write_jsonl_round_trips(tmp_path):
    convs = [Conversation.model_validate(conv(i)) for i in range(3)]
    for name in ("out.jsonl", "out.jsonl.gz"):
        assert write_jsonl(convs, tmp_path / name) == 3
        assert [i.conversation for i in items(tmp_path / name)] == convs
    assert write_jsonl([conv(9)], tmp_path / "d.jsonl") == 1
    assert not list(tmp_path.glob(".*.tmp"))


# -------------------------------------------------------------------------------------------- splits


def test_split_is_deterministic_and_groups_customers():
    convs = [Conversation.model_validate(conv(i, customer=f"cust{i % 50}")) for i in range(2000)]
    a = [split_of(c, seed=3) for c in convs]
    assert a == [split_of(c, seed=3) for c in convs]
    assert a != [split_of(c, seed=4) for c in convs]
    by_customer: dict[str, set[str]] = {}
    for c, s in zip(convs, a):
        by_customer.setdefault(c.meta.customer_id, set()).add(s)
    assert all(len(s) == 1 for s in by_customer.values())
    solo = [split_of(Conversation.model_validate(conv(i)), validation=0.2, test=0.1) for i in range(5000)]
    assert 0.07 < solo.count("test") / 5000 < 0.13 and 0.17 < solo.count("validation") / 5000 < 0.23
    # growing validation never moves a conversation in or out of test
    wider = [split_of(Conversation.model_validate(conv(i)), validation=0.3, test=0.1) for i in range(5000)]
    assert [s == "test" for s in solo] == [s == "test" for s in wider]
    with pytest.raises(ValueError, match="validation"):
        split_of(convs[0], validation=0.95, test=0.1)


def test_split_files_writes_three_files_per_input(tmp_path):
    src = write_lines(tmp_path / "calls.jsonl", [conv(i, customer=f"k{i % 7}") for i in range(60)] + [{"id": "bad"}])
    gz = tmp_path / "more.jsonl.gz"
    with gzip.open(gz, "wt") as f:
        f.write(json.dumps(conv(100)) + "\n")
    out = tmp_path / "out"
    counts = split_files([src, gz], out, seed=1, validation=0.2, test=0.2)
    assert counts["calls"]["rejected"] == 1 and sum(counts["calls"][s] for s in ("train", "validation", "test")) == 60
    assert sum(counts["more"].values()) == 1 and not (out / "more.rejects.jsonl").exists()
    assert json.loads((out / "calls.rejects.jsonl").read_text())["id"] == "bad"
    seen: dict[str, str] = {}
    for split in ("train", "validation", "test"):
        lines = (out / f"calls.{split}.jsonl").read_text().splitlines()
        assert len(lines) == counts["calls"][split]
        for line in lines:
            c = Conversation.model_validate_json(line)
            assert seen.setdefault(c.meta.customer_id, split) == split
    again = split_files([src, gz], tmp_path / "out2", seed=1, validation=0.2, test=0.2)
    assert again == counts
    assert (tmp_path / "out2" / "calls.test.jsonl").read_bytes() == (out / "calls.test.jsonl").read_bytes()
    twin = tmp_path / "x"
    twin.mkdir()
    write_lines(twin / "calls.jsonl", [conv(1)])
    with pytest.raises(DataError, match="would both write calls"):
        split_files([src, twin / "calls.jsonl"], out)
    with pytest.raises(DataError, match="test"):
        split_files([src], out, test=1.5)


# ---------------------------------------------------------------------------------------- DataError


def test_data_errors_name_path_column_expected_and_found(tmp_path):
    with pytest.raises(DataError, match=r"nope\.jsonl: no such file or folder"):
        iter_items(tmp_path / "nope.jsonl")
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(DataError, match=r"x\.xlsx: cannot tell the format from suffix '\.xlsx'.*--format"):
        iter_items(tmp_path / "x.xlsx")
    with pytest.raises(DataError, match="unknown input format 'xml': expected one of jsonl, csv, parquet, text"):
        iter_items(tmp_path / "x.xlsx", input_format="xml")
    no_id = write_csv(tmp_path / "a.csv", ["key", "turns"], [["1", "[]"]])
    with pytest.raises(DataError, match=r"a\.csv: missing id column 'id' .*found columns: 'key', 'turns'"):
        items(no_id)
    no_turns = _parquet(tmp_path / "b.parquet", pa.table({"id": ["1"], "body": ["x"]}))
    with pytest.raises(DataError, match=r"b\.parquet: needs a turns column 'turns' .* or a transcript column 'transcript'"):
        items(no_turns)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty CSV"):
        items(tmp_path / "empty.csv")
    (tmp_path / "arr.json").write_text(json.dumps([conv(0)]))
    with pytest.raises(DataError, match="JSON array"):
        items(tmp_path / "arr.json")
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        items(tmp_path / "broken.parquet")
    empty = tmp_path / "emptydir"
    empty.mkdir()
    with pytest.raises(DataError, match="folder holds no conversation files"):
        expand_paths(empty)
    with pytest.raises(DataError, match="no \\*.txt transcripts"):
        iter_items(empty)
    trunc = tmp_path / "t.jsonl.gz"
    trunc.write_bytes(gzip.compress((json.dumps(conv(0)) + "\n").encode() * 50)[:-30])
    with pytest.raises(DataError, match="read failed after line"):
        items(trunc)


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_validate_reports_rejects_by_line_and_exits_1(tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    res = CliRunner().invoke(app, ["data", "validate", str(FIXTURES / "bad.jsonl"), "--rejects", str(rejects),
                                   "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 1, res.output
    for where, reason in [(2, "invalid_json"), (3, "turns: missing_field"), (4, "turns[1].speaker: unknown_speaker"),
                          (5, "turns[1].text: empty_text")]:
        assert f"bad.jsonl:{where} " in res.output and reason in res.output
    # the blank turn (line 5) is a warning: reported by line and reason, record kept
    assert "3 accepted, 3 rejected" in res.output and "warnings" in res.output
    assert [json.loads(x)["line"] for x in rejects.read_text().splitlines()] == [2, 3, 4]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["rejected"] == 3 and report["warnings_by_reason"] == {"empty_text": 1}
    strict = CliRunner().invoke(app, ["data", "validate", str(FIXTURES / "bad.jsonl"), "--strict"])
    assert strict.exit_code == 1 and "2 accepted, 4 rejected" in strict.output


def test_cli_validate_clean_file_exits_0_and_bad_input_exits_2(tmp_path):
    path = write_csv(tmp_path / "ok.csv", ["conv", "text"], [["1", "Customer: hi\nAgent: hello"]])
    runner = CliRunner()
    res = runner.invoke(app, ["data", "validate", str(path), "--id-column", "conv", "--transcript-column", "text"])
    assert res.exit_code == 0, res.output
    assert "1 accepted, 0 rejected" in res.output
    res = runner.invoke(app, ["data", "validate", str(path)])
    assert res.exit_code == 2 and "missing id column 'id'" in res.output
    res = runner.invoke(app, ["data", "validate", str(path), "--max-turns", "0"])
    assert res.exit_code == 2 and "Limits.max_turns" in res.output


def test_cli_split(tmp_path):
    src = write_lines(tmp_path / "s.jsonl", [conv(i) for i in range(20)])
    res = CliRunner().invoke(app, ["data", "split", str(src), "--out-dir", str(tmp_path / "o"), "--seed", "2"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("s: train=") and (tmp_path / "o" / "s.validation.jsonl").exists()


# ------------------------------------------------------------------------------------------- shared


@pytest.mark.shared
def test_shared_data_reads_against_the_contract():
    if not SHARED.is_dir() or not list(SHARED.glob("*.jsonl")):
        pytest.skip(f"{SHARED} is absent")
    files = sorted(SHARED.glob("*.jsonl"))
    report = validate_paths(files, progress=False)
    lines = sum(1 for f in files for line in open(f, "rb") if line.strip())
    assert report.total == lines and report.accepted > 20_000
    # 0 rejects; MultiDoGO's blank customer turns (an upstream artefact) are warnings, not rejects.
    assert report.rejected == 0, report.to_text()
    assert set(report.warnings_by_reason) <= {"empty_text"}


def test_read_lines_counts_blank_and_drains_oversized_lines():
    """The one line loop all JSONL readers share: sizes are full sizes, oversized lines are not kept."""
    import io

    from convo_outcomes.data import read_lines

    data = b'{"a": 1}\n   \n' + b"x" * 50 + b"\n" + b'{"b": 2}'
    got = list(read_lines(io.BufferedReader(io.BytesIO(data)), cap=20))
    assert [(size, blank) for _, size, blank in got] == [(9, False), (4, True), (51, False), (8, False)]
    assert len(got[2][0]) == 21  # only cap + 1 bytes of the oversized line are held
    assert got[3][0] == b'{"b": 2}'
