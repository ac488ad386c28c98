"""Audit trail of service decisions, and PII redaction for anything that leaves the scoring path.

Every decision becomes one JSON line in a size-rotated log (``decisions.jsonl``, ``.1`` ... ``.N``).
A line identifies the input by the sha256 of its canonical JSON, never by its text, so the log can be
kept and shared while still proving which input produced which decision. Text that is logged on
purpose (evidence snippets, ids) goes through :class:`Redactor` first.

Redaction uses ``phonenumbers`` (Google's libphonenumber data) for phone numbers when it is installed,
checksums for card numbers (Luhn) and IBANs (mod 97), and patterns for emails, SSNs, IP addresses,
labelled account/reference numbers and any remaining long digit run. It errs on the side of removing
too much: a redacted audit line that loses an order number is acceptable, a leaked card number is not.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

logger = logging.getLogger(__name__)

DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "AU")

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
_IBAN = re.compile(r"(?i)(?<![A-Z0-9])[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,4})?(?![A-Z0-9])")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")
_SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")
_LABELLED = re.compile(
    r"(?i)\b(account|acct|a/c|member|customer|policy|reference|ref|sort code|routing|iban|card|passport|licen[cs]e|ssn|tax id)\b"
    r"(\s*(?:no\.?|number|num|#|id|code)?\s*[:#]?\s*)([A-Za-z]{0,4}-?\d[\dA-Za-z\-]{2,}[\dA-Za-z])"
)
_PHONE_FALLBACK = re.compile(r"(?<![\w+])\+?\(?\d{1,4}\)?(?:[ .\-]?\(?\d{2,4}\)?){2,5}(?![\w])")
_DIGIT_RUN = re.compile(r"(?<![\w])\d(?:[ .\-/]?\d){6,}(?![\w])")


def luhn_ok(digits: str) -> bool:
    """Luhn checksum (payment card numbers): tells a card number from any other 16-digit number."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN (spaces and dashes ignored)."""
    s = re.sub(r"[ -]", "", candidate).upper()
    if not 15 <= len(s) <= 34 or not s[:2].isalpha() or not s[2:4].isdigit() or not s.isalnum():
        return False
    rearranged = s[4:] + s[:4]
    num = "".join(str(int(c, 36)) for c in rearranged)
    return int(num) % 97 == 1


class Redactor:
    """Replaces PII in free text with ``[EMAIL]``, ``[PHONE]``, ``[CARD]``, ``[IBAN]``, ``[SSN]``, ``[IP]``,
    ``[ACCOUNT]`` and ``[NUMBER]`` placeholders."""

    def __init__(self, phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS):
        self.phone_regions = tuple(phone_regions)
        try:
            import phonenumbers  # noqa: F401

            self._phonenumbers = phonenumbers
        except ImportError:  # pragma: no cover - depends on the environment
            logger.warning("phonenumbers is not installed; phone numbers are redacted by pattern only")
            self._phonenumbers = None

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def redact(self, text: str) -> str:
        if not text:
            return text
        text = _EMAIL.sub("[EMAIL]", text)
        text = _IBAN.sub(lambda m: "[IBAN]" if iban_ok(m.group()) else m.group(), text)
        text = _CARD.sub(lambda m: "[CARD]" if luhn_ok(re.sub(r"\D", "", m.group())) else m.group(), text)
        text = _SSN.sub("[SSN]", text)
        text = _IPV4.sub("[IP]", text)
        text = _LABELLED.sub(lambda m: f"{m.group(1)}{m.group(2)}[ACCOUNT]", text)
        text = self._phones(text)
        text = _DIGIT_RUN.sub("[NUMBER]", text)
        return text

    def _phones(self, text: str) -> str:
        pn = self._phonenumbers
        if pn is not None:
            spans: list[tuple[int, int]] = []
            for region in self.phone_regions:
                try:
                    for m in pn.PhoneNumberMatcher(text, region, leniency=pn.Leniency.VALID):
                        spans.append((m.start, m.end))
                except Exception:  # a library bug must not take the audit path down
                    logger.debug("phonenumbers failed on a snippet", exc_info=True)
            text = _cut(text, spans, "[PHONE]")
        # Numbers libphonenumber does not know as valid still look like phone numbers: 7+ digits in groups.
        return _PHONE_FALLBACK.sub(lambda m: "[PHONE]" if sum(c.isdigit() for c in m.group()) >= 7 else m.group(), text)

    def redact_obj(self, obj: Any) -> Any:
        """Redact every string inside nested dicts/lists (keys are left alone)."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {k: self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.redact_obj(v) for v in obj]
        return obj


def _cut(text: str, spans: Iterable[tuple[int, int]], token: str) -> str:
    merged: list[list[int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    for s, e in reversed(merged):
        text = text[:s] + token + text[e:]
    return text


def canonical_json(obj: Any) -> str:
    """Key-sorted, whitespace-free JSON: the same input hashes the same whatever its transport formatting."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)


def input_hash(obj: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


class AuditLog:
    """Append-only JSONL with size-based rotation (``path``, ``path.1`` ... ``path.<backups>``).

    Thread-safe within a process. Each process (service worker) must have its own file: rotation by
    rename is not safe across processes. A write failure is logged and counted, never raised: an audit
    disk problem must be visible in metrics/logs but must not turn decisions into 500s.
    """

    def __init__(self, path: str | Path, max_bytes: int = 50 << 20, backups: int = 5, redactor: Redactor | None = None):
        if max_bytes < 1024:
            raise ValueError(f"audit max_bytes must be at least 1024, found {max_bytes}")
        if backups < 0:
            raise ValueError(f"audit backups must be >= 0, found {backups}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.redactor = redactor or Redactor()
        self.failures = 0
        self.lines = 0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None
        self._size = 0
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._size = os.fstat(self._fd).st_size

    def _rotate(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.backups == 0:
            os.unlink(self.path)
        else:
            for i in range(self.backups - 1, 0, -1):
                src = self.path.with_name(f"{self.path.name}.{i}")
                if src.exists():
                    os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._open()

    def write(self, record: dict[str, Any]) -> bool:
        """Append one record; returns False (and logs) when it could not be written."""
        try:
            data = (json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode("utf-8")
            with self._lock:
                if self._fd is None:
                    self._open()
                if self._size > 0 and self._size + len(data) > self.max_bytes:
                    self._rotate()
                os.write(self._fd, data)  # type: ignore[arg-type]
                self._size += len(data)
                self.lines += 1
            return True
        except Exception:
            self.failures += 1
            logger.exception("could not write audit record to %s", self.path)
            return False

    def files(self) -> list[Path]:
        """The current file and its rotated backups, newest first."""
        out = [self.path] if self.path.exists() else []
        for i in range(1, self.backups + 1):
            p = self.path.with_name(f"{self.path.name}.{i}")
            if p.exists():
                out.append(p)
        return out

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def read_lines(paths: Iterable[str | Path], parse: Callable[[str], Any] = json.loads) -> list[Any]:
    """All records of the given audit files (oldest file first is the caller's choice of order)."""
    out = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            out.extend(parse(line) for line in f if line.strip())
    return out
