"""PII redaction and the rotating JSONL audit log."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from convo_outcomes.audit import AuditLog, Redactor, iban_ok, input_hash, luhn_ok, read_lines


@pytest.fixture(scope="module")
def redact() -> Redactor:
    return Redactor()


@pytest.mark.parametrize(
    "text, secret, token",
    [
        ("write to jane.doe+billing@example.co.uk today", "jane.doe+billing@example.co.uk", "[EMAIL]"),
        ("call me on +1 415-555-0132 please", "415-555-0132", "[PHONE]"),
        ("my mobile is 07700 900123", "07700 900123", "[PHONE]"),
        ("ring (415) 555 0132", "555 0132", "[PHONE]"),
        ("card 4111 1111 1111 1111 expired", "4111 1111 1111 1111", "[CARD]"),
        ("card no 5555-5555-5555-4444", "5555-5555-5555-4444", "[CARD]"),
        ("pay to GB82 WEST 1234 5698 7654 32 now", "GB82 WEST 1234 5698 7654 32", "[IBAN]"),
        ("iban de89370400440532013000", "de89370400440532013000", "[IBAN]"),
        ("ssn 123-45-6789", "123-45-6789", "[SSN]"),
        ("from 192.168.10.20", "192.168.10.20", "[IP]"),
        ("account number: AB-99812", "AB-99812", "[ACCOUNT]"),
        ("my acct 55512 is locked", "55512", "[ACCOUNT]"),
        ("policy #ZX-44190", "ZX-44190", "[ACCOUNT]"),
        ("the number 12345678901 is mine", "12345678901", None),
    ],
)
def test_pii_is_redacted(redact: Redactor, text: str, secret: str, token: str | None) -> None:
    out = redact(text)
    assert secret not in out, out
    digits = "".join(c for c in secret if c.isdigit())
    assert len(digits) < 5 or digits not in "".join(c for c in out if c.isdigit()), out
    if token:
        assert token in out, out


@pytest.mark.parametrize(
    "text",
    [
        "I paid 49.99 twice for plan 5 and the fee was 12 dollars",
        "refund 1234 please, order arrived on 3 May",
        "my card was charged twice",
        "the router light is blinking since 10:30",
    ],
)
def test_ordinary_text_and_small_numbers_survive(redact: Redactor, text: str) -> None:
    assert redact(text) == text


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")
    assert not iban_ok("hello")


def test_redact_obj_and_non_luhn_card_still_hidden(redact: Redactor) -> None:
    out = redact.redact_obj({"a": ["mail x@y.io"], "b": {"c": "4111-1111-1111-1112"}, "n": 3})
    assert out["a"] == ["mail [EMAIL]"] and out["n"] == 3
    assert out["b"]["c"] in ("[NUMBER]", "[PHONE]")  # not a valid card, still a long number: hidden


def test_input_hash_is_canonical() -> None:
    a = {"id": "x", "turns": [{"speaker": "customer", "text": "é"}]}
    b = json.loads(json.dumps({"turns": [{"text": "é", "speaker": "customer"}], "id": "x"}, indent=3))
    assert input_hash(a) == input_hash(b) and input_hash(a).startswith("sha256:")
    assert input_hash(a) != input_hash({**a, "id": "y"})


def test_audit_log_rotates_by_size_and_keeps_n_files(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit" / "decisions.jsonl", max_bytes=2048, backups=2)
    for i in range(100):
        assert log.write({"i": i, "pad": "x" * 100})
    log.close()
    files = log.files()
    assert [p.name for p in files] == ["decisions.jsonl", "decisions.jsonl.1", "decisions.jsonl.2"]
    assert all(p.stat().st_size <= 2048 for p in files)
    records = read_lines(reversed(files))
    ids = [r["i"] for r in records]
    assert ids == sorted(ids) and ids[-1] == 99  # newest kept, in order; oldest dropped
    assert len(ids) < 100


def test_audit_log_is_thread_safe_and_never_raises(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl", max_bytes=1 << 20, backups=1)

    def work(k: int) -> None:
        for i in range(200):
            log.write({"k": k, "i": i})

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert len(lines) == 800 and all(json.loads(x) for x in lines)
    log.close()
    (tmp_path / "a.jsonl").unlink()
    (tmp_path / "a.jsonl").mkdir()  # the path is now a directory: writes fail, are counted, do not raise
    assert log.write({"k": 1}) is False and log.failures == 1


def test_audit_settings_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        AuditLog(tmp_path / "a.jsonl", max_bytes=10)
