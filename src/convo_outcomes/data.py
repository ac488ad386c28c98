"""Streaming readers for conversation archives, with validation, rejects and deterministic splits.

Archives can be far larger than memory, so every reader yields one record at a time (JSONL line by
line, CSV row by row, Parquet batch by batch, text transcripts file by file) and nothing here keeps a
whole file. A bad record never stops a run and is never dropped silently: it becomes a ``Reject``
naming where it was (file and 1-based line or data row), its id when known and every problem found,
each with a stable ``reason`` code that tools and dashboards can count. Whole-input failures (missing
path, unknown format, missing required column) raise ``DataError`` instead.

Every record carries ``Item.index``, its 0-based ordinal in its file (rejects included), so that a batch
job that crashed can resume with ``iter_items(path, start=index)``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import math
import os
import re
import reprlib
import sys
import tempfile
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Literal, Mapping, Sequence, Union

from pydantic import ValidationError

from .schema import SPEAKERS, Conversation

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
Split = Literal["train", "validation", "test"]
SPLITS: tuple[str, ...] = ("train", "validation", "test")

FORMATS: tuple[str, ...] = ("jsonl", "csv", "parquet", "text")
_FORMAT_ALIASES = {"json": "jsonl", "ndjson": "jsonl", "txt": "text", "pq": "parquet"}
_SUFFIX_FORMATS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "text",
}
_GZIP_OK = {"jsonl", "csv"}  # Parquet compresses internally; gzipped text folders make no sense.

#: Field path used when a problem concerns the whole record rather than one field.
ROOT = "(record)"
#: ``found`` value for a field that is absent.
MISSING = "(missing)"
#: Problems listed per reject at most; the rest are summarised by one ``too_many_problems`` entry.
MAX_PROBLEMS = 20

#: Every reason code a reject can carry, with what it means (the README and tests use this list).
REASONS: dict[str, str] = {
    "invalid_json": "the line (or a JSON column) is not valid JSON",
    "invalid_encoding": "the bytes are not UTF-8",
    "not_an_object": "the JSON value is not an object",
    "record_too_large": "the raw record is larger than the byte cap (Limits.max_record_bytes); not parsed",
    "wrong_column_count": "a CSV row has more or fewer cells than the header",
    "missing_field": "a required field is absent",
    "unknown_field": "a top-level key the contract does not know (extra keys belong in meta)",
    "wrong_type": "a field has the wrong JSON type",
    "invalid_value": "a field has the right type but a refused value",
    "unknown_speaker": "a turn's speaker is not customer, agent, bot or system",
    "empty_text": "no turn has any text (one blank turn is a warning, or a reject with --strict)",
    "no_turns": "the conversation has no turns",
    "too_many_turns": "more turns than Limits.max_turns",
    "turn_too_long": "a turn longer than Limits.max_turn_chars",
    "conversation_too_long": "total turn text longer than Limits.max_conversation_chars",
    "unparseable_transcript": "transcript text before the first 'Agent:/Customer:/Bot:/System:' prefix",
    "too_many_problems": f"more than {MAX_PROBLEMS} problems; the rest are counted, not listed",
}

_SPEAKER_LIST = ", ".join(SPEAKERS)
_TOP_LEVEL = ", ".join(Conversation.model_fields)


class DataError(Exception):
    """A whole input cannot be read (path, format, columns, settings): the message says what and where."""


# ------------------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Limits:
    """Caps that keep one pathological record from exhausting memory or a model's context."""

    max_turns: int = 2000
    max_turn_chars: int = 20_000
    max_conversation_chars: int = 400_000
    empty_turns: str = "warn"  # "warn": keep the record, report each blank turn; "reject": refuse it

    _RANGES = {  # noqa: RUF012 - class constant, not a field (no annotation)
        "max_turns": (1, 10_000_000),
        "max_turn_chars": (1, 1_000_000_000),
        "max_conversation_chars": (1, 1_000_000_000),
    }

    def __post_init__(self) -> None:
        # DataError so that the CLI reports a bad limit as one clear line, like any other input error.
        if self.empty_turns not in ("warn", "reject"):
            raise DataError(f"Limits.empty_turns must be 'warn' or 'reject', found {self.empty_turns!r}")
        for name, (lo, hi) in self._RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise DataError(f"Limits.{name} must be an integer in [{lo:,}, {hi:,}], found {value!r}")

    @property
    def max_record_bytes(self) -> int:
        """Raw bytes per record read at most: generous for JSON overhead, but bounded."""
        return max(16 * self.max_conversation_chars, 16 << 20)


@dataclass(frozen=True)
class ColumnMap:
    """Which CSV/Parquet columns hold the id, turns (JSON), transcript (text), labels and meta (JSON).

    Columns named ``<label_prefix><name>`` become label ``name``; every other column goes into meta.
    """

    id: str = "id"
    turns: str = "turns"
    transcript: str = "transcript"
    labels: str = "labels"
    meta: str = "meta"
    label_prefix: str = "label_"

    def __post_init__(self) -> None:
        for name in ("id", "turns", "transcript", "labels", "meta", "label_prefix"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise DataError(f"ColumnMap.{name} must be a non-empty column name, found {value!r}")

    def reserved(self) -> set[str]:
        return {self.id, self.turns, self.transcript, self.labels, self.meta}


# ------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Location:
    """Where a record was: ``line`` for JSONL and text (1-based), ``row`` for CSV/Parquet data rows."""

    path: str
    line: int | None = None
    row: int | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.path}:{self.line}"
        if self.row is not None:
            return f"{self.path} row {self.row}"
        return self.path

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path}
        if self.line is not None:
            d["line"] = self.line
        if self.row is not None:
            d["row"] = self.row
        return d


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a record: a field path (``turns[3].speaker``), a stable reason code and what
    was expected versus found (``found`` is a short, truncated repr)."""

    field: str
    reason: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}: expected {self.expected}, found {self.found}"


@dataclass
class Reject:
    """A record that did not pass, with all its problems; ``source`` only feeds report counts."""

    location: Location
    id: str | None
    problems: list[Problem]
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The reject-file line: ``{"path", "line"|"row", "id", "problems": [...]}``."""
        d = self.location.to_dict()
        d["id"] = self.id
        d["problems"] = [
            {"field": p.field, "reason": p.reason, "expected": p.expected, "found": p.found} for p in self.problems
        ]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Reject":
        return cls(
            location=Location(d["path"], line=d.get("line"), row=d.get("row")),
            id=d.get("id"),
            problems=[Problem(**p) for p in d.get("problems", [])],
        )

    @property
    def reasons(self) -> list[str]:
        return list(dict.fromkeys(p.reason for p in self.problems))

    def message(self, max_problems: int = 3) -> str:
        """One line for logs and reports: record, then field, reason, expected and found per problem."""
        who = f"{self.location}" + (f" (id {self.id})" if self.id else "")
        shown = "; ".join(str(p) for p in self.problems[:max_problems])
        more = len(self.problems) - max_problems
        text = f"{who}: {shown}" + (f" (+{more} more)" if more > 0 else "")
        return text.replace("\n", " ").replace("\r", " ")


@dataclass
class Item:
    """One record of a file, valid (``conversation``) or not (``reject``); ``index`` is its stable
    0-based ordinal in the file, rejects included, for resuming with ``start``."""

    index: int
    location: Location
    conversation: Conversation | None
    reject: Reject | None
    warnings: list[Problem] = dc_field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.conversation is not None

    @property
    def id(self) -> str | None:
        return self.conversation.id if self.conversation is not None else (self.reject.id if self.reject else None)


# ----------------------------------------------------------------------------------------- problems

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = 4
_repr.maxdict = 4
_repr.maxlevel = 2


def _short(value: Any, limit: int = 80) -> str:
    """A repr short enough for one log line, whatever the value's size."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value):,} chars)"
    text = _repr.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_EXPECTED_TYPE = {
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "float_type": "a number",
    "int_type": "an integer",
    "bool_type": "true or false",
    "datetime_type": "an ISO 8601 datetime",
}
_EXPECTED_FIELD = {
    ("id",): "a non-empty string id",
    ("turns",): "a list of turns",
    ("speaker",): f"one of {_SPEAKER_LIST}",
    ("text",): "non-blank text",
}


def _loc_path(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or ROOT


def _is_turn_text(loc: Sequence[Any]) -> bool:
    return len(loc) == 3 and loc[0] == "turns" and loc[2] == "text"


def _translate(error: ValidationError) -> list[Problem]:
    """Pydantic's error entries as problems with our stable reason codes (loc becomes a field path)."""
    problems = []
    for err in error.errors(include_url=False):
        loc, typ, msg = tuple(err["loc"]), err["type"], err["msg"]
        ctx = err.get("ctx") or {}
        path = _loc_path(loc)
        found = _short(err.get("input"))
        expected = msg.removeprefix("Input should be ").removeprefix("Value error, ")
        if typ == "missing":
            reason = "missing_field"
            expected = _EXPECTED_FIELD.get(loc[-1:], "a value")
            found = MISSING
        elif typ == "extra_forbidden":
            reason, expected = "unknown_field", f"only {_TOP_LEVEL} at top level (extra keys belong in meta)"
        elif typ == "literal_error":
            reason = "unknown_speaker" if loc[-1:] == ("speaker",) else "invalid_value"
            expected = f"one of {ctx.get('expected', expected)}"
        elif typ in ("string_too_short", "value_error") and _is_turn_text(loc):
            reason, expected = "empty_text", "non-blank text"
        elif typ == "too_short" and loc == ("turns",):
            reason, expected = "no_turns", "at least 1 turn"
        elif typ.endswith("_type"):
            reason = "wrong_type"
            expected = _EXPECTED_TYPE.get(typ, expected)
        else:
            reason = "invalid_value"
            if typ == "string_too_short":
                expected = "a non-empty string"
        problems.append(Problem(path, reason, expected, found))
    return problems


def _limit_problems(n_turns: int, texts: Iterable[tuple[int, Any]], limits: Limits) -> list[Problem]:
    problems = []
    if n_turns > limits.max_turns:
        problems.append(
            Problem("turns", "too_many_turns", f"at most {limits.max_turns:,} turns", f"{n_turns:,} turns")
        )
    total = 0
    for i, text in texts:
        if not isinstance(text, str):
            continue
        total += len(text)
        if len(text) > limits.max_turn_chars:
            problems.append(
                Problem(
                    f"turns[{i}].text",
                    "turn_too_long",
                    f"at most {limits.max_turn_chars:,} characters",
                    f"{len(text):,} characters",
                )
            )
    if total > limits.max_conversation_chars:
        problems.append(
            Problem(
                "turns",
                "conversation_too_long",
                f"at most {limits.max_conversation_chars:,} characters of turn text",
                f"{total:,} characters",
            )
        )
    return problems


def _raw_limit_problems(record: Mapping[str, Any], limits: Limits) -> list[Problem]:
    turns = record.get("turns")
    if not isinstance(turns, list):
        return []
    texts = ((i, t.get("text")) for i, t in enumerate(turns) if isinstance(t, dict))
    return _limit_problems(len(turns), texts, limits)


def _conv_limit_problems(conv: Conversation, limits: Limits) -> list[Problem]:
    return _limit_problems(len(conv.turns), ((i, t.text) for i, t in enumerate(conv.turns)), limits)


def _cap(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - (MAX_PROBLEMS - 1)
    return problems[: MAX_PROBLEMS - 1] + [
        Problem(ROOT, "too_many_problems", f"at most {MAX_PROBLEMS} problems listed", f"{rest:,} more")
    ]


def _blank_turn_problems(conv: Conversation, limits: Limits) -> tuple[list[Problem], list[Problem]]:
    """(problems, warnings) for blank turns: all blank is a reject; some blank a warning unless strict."""
    blank = conv.blank_turns()
    if not blank:
        return [], []
    if len(blank) == len(conv.turns):
        return [Problem("turns", "empty_text", "at least one turn with non-blank text", f"{len(blank)} blank turn(s)")], []
    found = [Problem(f"turns[{i}].text", "empty_text", "non-blank text", _short(conv.turns[i].text)) for i in blank]
    return (found, []) if limits.empty_turns == "reject" else ([], found)


def _validate(
    record: Any, limits: Limits, pre: Sequence[Problem] = (), covered: frozenset[str] = frozenset()
) -> tuple[Conversation | None, list[Problem], list[Problem]]:
    """Schema plus limits, collecting every problem rather than stopping at the first.

    ``pre`` holds problems found while building the record; ``covered`` names fields they already
    explain, whose "missing" entries would only repeat them.
    """
    if not isinstance(record, dict):
        return None, [Problem(ROOT, "not_an_object", "a JSON object", _short(record))], []
    problems = list(pre)
    conv = None
    warnings: list[Problem] = []
    try:
        conv = Conversation.model_validate(record)
    except ValidationError as e:
        problems.extend(p for p in _translate(e) if not (p.field in covered and p.reason == "missing_field"))
    problems.extend(_raw_limit_problems(record, limits))
    if conv is not None:
        blank, warnings = _blank_turn_problems(conv, limits)
        problems.extend(blank)
    if problems:
        return None, _cap(problems), []
    return conv, [], warnings


def _id_of(record: Any) -> str | None:
    if isinstance(record, dict):
        v = record.get("id")
        if isinstance(v, str) and v:
            return v[:200]
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
    return None


def _source_of(record: Any) -> str | None:
    if isinstance(record, dict) and isinstance(record.get("meta"), dict):
        s = record["meta"].get("source")
        return s if isinstance(s, str) and s else None
    return None


_ID_SNIFF = re.compile(rb'"id"\s*:\s*"((?:[^"\\]|\\.){1,200})"')


def _sniff_id(raw: bytes) -> str | None:
    """Best-effort id from a line that does not parse, so that a reject can still be traced."""
    m = _ID_SNIFF.search(raw[:65536])
    return m.group(1).decode("utf-8", "replace") if m else None


# ----------------------------------------------------------------------------------------- formats


def _normalize_format(input_format: str | None) -> str | None:
    if input_format is None:
        return None
    fmt = _FORMAT_ALIASES.get(input_format.lower().strip(), input_format.lower().strip())
    if fmt not in FORMATS:
        raise DataError(f"unknown input format {input_format!r}: expected one of {', '.join(FORMATS)}")
    return fmt


def _suffix_format(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        fmt = _SUFFIX_FORMATS.get(suffixes[-2]) if len(suffixes) >= 2 else None
        return fmt if fmt in _GZIP_OK else None
    return _SUFFIX_FORMATS.get(path.suffix.lower())


def _is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def detect_format(path: PathLike, input_format: str | None = None) -> str:
    """The reader for ``path``: ``input_format`` when given, else by suffix (a folder means text)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    fmt = _normalize_format(input_format)
    if fmt is not None:
        if p.is_dir() and fmt != "text":
            raise DataError(f"{p}: is a folder; format {fmt!r} reads files (pass the files, or use expand_paths)")
        return fmt
    if p.is_dir():
        return "text"
    fmt = _suffix_format(p)
    if fmt is None:
        raise DataError(
            f"{p}: cannot tell the format from suffix {''.join(p.suffixes) or '(none)'!r}: expected .jsonl, .json, "
            f".jsonl.gz, .csv, .csv.gz, .parquet, .txt or a folder of .txt files; or pass --format"
        )
    return fmt


def expand_paths(paths: PathLike | Iterable[PathLike], input_format: str | None = None) -> list[tuple[Path, str]]:
    """Files (and text folders) to read, each with its format; a folder of data files becomes its files.

    A folder yields its *.jsonl/*.json/*.csv/*.parquet files (sorted, not recursive) plus, when it holds
    *.txt files, itself as one text source.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    fmt = _normalize_format(input_format)
    out: list[tuple[Path, str]] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise DataError(f"{p}: no such file or folder")
        if not p.is_dir():
            out.append((p, detect_format(p, fmt)))
            continue
        if fmt == "text":
            out.append((p, "text"))
            continue
        children = sorted(c for c in p.iterdir() if c.is_file())
        files = [(c, _suffix_format(c)) for c in children]
        found = [(c, f) for c, f in files if f is not None and f != "text" and (fmt is None or f == fmt)]
        has_text = fmt is None and any(f == "text" for _, f in files)
        out.extend((c, f) for c, f in found)  # type: ignore[misc]
        if has_text:
            out.append((p, "text"))
        if not found and not has_text:
            wanted = f"*.{fmt} files" if fmt else "*.jsonl, *.jsonl.gz, *.csv, *.parquet or *.txt files"
            raise DataError(f"{p}: folder holds no conversation files (expected {wanted})")
    return out


def _default_source(path: Path) -> str:
    return path.name


def _text_files(folder: Path) -> list[Path]:
    """Sorted by name, so that a file's index is stable across runs and machines."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".txt")


# ------------------------------------------------------------------------------------------ readers


def iter_items(
    path: PathLike,
    input_format: str | None = None,
    columns: ColumnMap = ColumnMap(),
    limits: Limits = Limits(),
    start: int = 0,
) -> Iterator[Item]:
    """Stream one file (or text folder) as items, valid or rejected, skipping the first ``start``.

    Checks that raise ``DataError`` (path, format) run at call time; column checks run on first read.
    """
    p = Path(path)
    fmt = detect_format(p, input_format)
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise DataError(f"start must be a non-negative integer (records to skip), found {start!r}")
    if p.is_dir() and not _text_files(p):
        raise DataError(
            f"{p}: folder holds no *.txt transcripts (for a folder of JSONL/CSV/Parquet files use "
            f"read_conversations or expand_paths)"
        )
    reader = {"jsonl": _iter_jsonl, "csv": _iter_csv, "parquet": _iter_parquet, "text": _iter_text}[fmt]
    return reader(p, columns, limits, start)


def _open_binary(path: Path) -> IO[bytes]:
    if _is_gzip(path):
        return io.BufferedReader(gzip.open(path, "rb"), buffer_size=1 << 20)  # type: ignore[arg-type]
    return open(path, "rb", buffering=1 << 20)


@contextmanager
def _read_errors(path: Path, where: list[int], unit: str) -> Iterator[None]:
    """Turn I/O failures mid-file (truncated gzip, disk errors) into a DataError naming the position."""
    try:
        yield
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: read failed after {unit} {where[0]:,}: {e}") from e


_BOM = b"\xef\xbb\xbf"
BOM = _BOM


def read_lines(f: IO[bytes], cap: int) -> Iterator[tuple[bytes, int, bool]]:
    """Physical lines as ``(bytes, full size, blank)``; a line over ``cap`` is drained, not kept.

    The one line loop every JSONL reader shares (local, byte-range shards of the Ray engine, scans),
    so that all of them count lines, blank lines and oversized records the same way.
    """
    while True:
        raw = f.readline(cap + 1)
        if not raw:
            return
        size = len(raw)
        drained = size > cap and not raw.endswith(b"\n")
        if drained:
            while True:  # drain the rest of an oversized line without keeping it
                chunk = f.readline(1 << 20)
                size += len(chunk)
                if not chunk or chunk.endswith(b"\n"):
                    break
        yield raw, size, (not drained and raw.isspace())


def _iter_jsonl(path: Path, columns: ColumnMap, limits: Limits, start: int) -> Iterator[Item]:
    cap = limits.max_record_bytes
    source = _default_source(path)
    where = [0]
    with _read_errors(path, where, "line"), _open_binary(path) as f:
        index = -1
        first = f.peek(64)[:64] if hasattr(f, "peek") else b""
        if path.suffix.lower() == ".json" and first.lstrip(_BOM).lstrip().startswith(b"["):
            raise DataError(
                f"{path}: holds a JSON array; expected JSON lines (one conversation object per line), "
                f"e.g. convert with: jq -c '.[]' {path.name}"
            )
        for raw, size, blank in read_lines(f, cap):
            where[0] += 1
            if blank:
                continue
            index += 1
            if index < start:
                continue
            if where[0] == 1 and raw.startswith(_BOM):
                raw = raw[3:]
            loc = Location(str(path), line=where[0])
            if size > cap:
                problem = Problem(ROOT, "record_too_large", f"at most {cap:,} bytes per line", f"{size:,} bytes")
                yield Item(index, loc, None, Reject(loc, _sniff_id(raw), [problem], source))
                continue
            yield _jsonl_item(index, loc, raw, limits, source)


def jsonl_item(index: int, loc: Location, raw: bytes, limits: Limits, source: str) -> Item:
    """Validate one JSONL line (bytes) into an Item: the per-record check of every JSONL reader."""
    return _jsonl_item(index, loc, raw, limits, source)


def _jsonl_item(index: int, loc: Location, raw: bytes, limits: Limits, source: str) -> Item:
    # Fast path: pydantic parses and validates the bytes in one pass; only failures pay for details.
    try:
        conv = Conversation.model_validate_json(raw)
    except ValidationError:
        conv = None
    if conv is not None:
        problems = _conv_limit_problems(conv, limits)
        blank, warnings = _blank_turn_problems(conv, limits)
        problems.extend(blank)
        if not problems:
            return Item(index, loc, conv, None, warnings)
        return Item(index, loc, None, Reject(loc, conv.id, _cap(problems), conv.meta.source or source))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        problem = Problem(ROOT, "invalid_encoding", "UTF-8 text", f"byte {raw[e.start]:#04x} at offset {e.start}")
        return Item(index, loc, None, Reject(loc, _sniff_id(raw), [problem], source))
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        problem = Problem(ROOT, "invalid_json", "one JSON object per line", f"{e.msg} (column {e.colno})")
        return Item(index, loc, None, Reject(loc, _sniff_id(raw), [problem], source))
    conv, problems, warnings = _validate(record, limits)
    if conv is not None:
        return Item(index, loc, conv, None, warnings)
    return Item(index, loc, None, Reject(loc, _id_of(record), problems, _source_of(record) or source))


# --- transcripts

_PREFIXES_TEXT = "Agent:, Customer:, Bot: or System:"
_PREFIX = re.compile(r"^\s*(agent|customer|bot|system)\s*:[ \t]?(.*)$", re.IGNORECASE)
_OTHER_PREFIX = re.compile(r"^\s*([A-Za-z][\w .'-]{0,30}?)\s*:")


def parse_transcript(text: str, field: str = "transcript") -> tuple[list[dict[str, str]], list[int], list[Problem]]:
    """Turns from 'Agent: ...' / 'Customer: ...' lines (prefixes case-insensitive, one turn per line;
    unprefixed lines continue the previous turn). Returns turns, each turn's 1-based start line, problems.
    """
    turns: list[dict[str, str]] = []
    lines_of: list[list[str]] = []
    starts: list[int] = []
    problems: list[Problem] = []
    orphan_line = 0
    for n, line in enumerate(text.splitlines(), start=1):
        m = _PREFIX.match(line)
        if m:
            turns.append({"speaker": m.group(1).lower()})
            lines_of.append([m.group(2)])
            starts.append(n)
        elif lines_of:
            lines_of[-1].append(line)
        elif line.strip() and not orphan_line:
            orphan_line = n
            other = _OTHER_PREFIX.match(line)
            where = f"{field} line {n}"
            if other:
                problems.append(Problem(where, "unknown_speaker", f"a prefix {_PREFIXES_TEXT}", _short(other.group(1))))
            else:
                expected = f"a line starting {_PREFIXES_TEXT}"
                problems.append(Problem(where, "unparseable_transcript", expected, _short(line)))
    for turn, parts in zip(turns, lines_of):
        turn["text"] = "\n".join(parts).strip()
    if not turns and not problems:
        problems.append(Problem(field, "no_turns", f"at least one line starting {_PREFIXES_TEXT}", "no turns"))
    return turns, starts, problems


def _transcript_item(
    index: int,
    loc: Location,
    record: dict[str, Any],
    text: str,
    field: str,
    limits: Limits,
    source: str,
    pre: Sequence[Problem] = (),
    line_of_turns: bool = False,
) -> Item:
    turns, starts, parse_problems = parse_transcript(text, field)
    if turns:
        record["turns"] = turns
    conv, problems, warnings = _validate(record, limits, [*pre, *parse_problems], covered=frozenset({"turns"}))
    if conv is not None:
        return Item(index, loc, conv, None, warnings)
    if line_of_turns:  # point a text file's reject at the line of its first problem
        loc = Location(loc.path, line=_first_problem_line(problems, starts) or loc.line)
    return Item(index, loc, None, Reject(loc, _id_of(record), problems, _source_of(record) or source))


_TURN_FIELD = re.compile(r"^turns\[(\d+)\]")
_LINE_FIELD = re.compile(r" line (\d+)$")


def _first_problem_line(problems: list[Problem], starts: list[int]) -> int | None:
    for p in problems:
        m = _TURN_FIELD.match(p.field)
        if m and int(m.group(1)) < len(starts):
            return starts[int(m.group(1))]
        m = _LINE_FIELD.search(p.field)
        if m:
            return int(m.group(1))
    return None


def _iter_text(path: Path, columns: ColumnMap, limits: Limits, start: int) -> Iterator[Item]:
    files = [path] if path.is_file() else _text_files(path)
    source = _default_source(path)
    cap = limits.max_record_bytes
    for index, file in enumerate(files):
        if index < start:
            continue
        loc = Location(str(file))
        size = file.stat().st_size
        if size > cap:
            problem = Problem(ROOT, "record_too_large", f"at most {cap:,} bytes per transcript", f"{size:,} bytes")
            yield Item(index, loc, None, Reject(loc, file.stem, [problem], source))
            continue
        raw = file.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            problem = Problem(ROOT, "invalid_encoding", "UTF-8 text", f"byte {raw[e.start]:#04x} at offset {e.start}")
            yield Item(index, loc, None, Reject(loc, file.stem, [problem], source))
            continue
        yield _transcript_item(index, loc, {"id": file.stem}, text, "transcript", limits, source, line_of_turns=True)


# --- tables (CSV, Parquet)


def _absent(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))


def _drop_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$")


def _label_cell(v: Any) -> Any:
    """CSV label cells are text; read true/false and numbers as JSON would, keep the rest as strings."""
    if not isinstance(v, str):
        return v
    s = v.strip()
    if s.lower() in ("true", "false"):
        return s.lower() == "true"
    if _NUMBER.match(s):
        return json.loads(s)
    return s


def _json_cell(v: Any, column: str, expected: str, problems: list[Problem]) -> Any:
    if isinstance(v, (str, bytes)):
        try:
            return json.loads(v)
        except json.JSONDecodeError as e:
            problems.append(Problem(column, "invalid_json", expected, f"{e.msg} (char {e.pos}) in {_short(v, 40)}"))
            return None
    return v


class _Table:
    """Maps one table row to a record; built once per file from the header."""

    def __init__(self, path: Path, names: Sequence[str], columns: ColumnMap, kind: str):
        dupes = sorted({n for n in names if list(names).count(n) > 1})
        if dupes:
            raise DataError(f"{path}: duplicate column name(s) {', '.join(map(repr, dupes))}")
        found = ", ".join(map(repr, names)) or "(none)"
        if columns.id not in names:
            raise DataError(
                f"{path}: missing id column {columns.id!r} (set it with --id-column / ColumnMap(id=...)); "
                f"found columns: {found}"
            )
        if columns.turns not in names and columns.transcript not in names:
            raise DataError(
                f"{path}: needs a turns column {columns.turns!r} (turns as JSON) or a transcript column "
                f"{columns.transcript!r} ('Agent:/Customer:' text); found columns: {found}"
            )
        self.path, self.columns, self.kind = path, columns, kind
        self.names = list(names)
        reserved = columns.reserved()
        prefix = columns.label_prefix
        self.label_cols = [
            (n, n[len(prefix) :]) for n in names if n.startswith(prefix) and len(n) > len(prefix) and n not in reserved
        ]
        label_names = {n for n, _ in self.label_cols}
        self.meta_cols = [n for n in names if n not in reserved and n not in label_names]

    def item(self, index: int, row_no: int, row: Mapping[str, Any], limits: Limits) -> Item:
        c = self.columns
        loc = Location(str(self.path), row=row_no)
        problems: list[Problem] = []
        record: dict[str, Any] = {}
        rid = row.get(c.id)
        if not _absent(rid):
            if isinstance(rid, float) and rid.is_integer():
                rid = int(rid)
            record["id"] = rid
        turns = row.get(c.turns)
        transcript = row.get(c.transcript)
        # labels: JSON column, then label_<name> columns on top
        labels = row.get(c.labels)
        if not _absent(labels):
            labels = _json_cell(labels, c.labels, "a JSON object of labels", problems)
        else:
            labels = {}
        if isinstance(labels, dict):
            labels = _drop_none(labels)
            for col, name in self.label_cols:
                v = row.get(col)
                if not _absent(v):
                    labels[name] = _label_cell(v) if self.kind == "csv" else v
        if labels is not None and labels != {}:
            record["labels"] = labels
        # meta: JSON column, then the other columns on top
        meta = row.get(c.meta)
        if not _absent(meta):
            meta = _json_cell(meta, c.meta, "a JSON object of metadata", problems)
        else:
            meta = {}
        if isinstance(meta, dict):
            meta = _drop_none(meta)
            for col in self.meta_cols:
                v = row.get(col)
                if not _absent(v):
                    meta[col] = v
        if meta is not None and meta != {}:
            record["meta"] = meta
        source = _source_of(record) or _default_source(self.path)
        if not _absent(turns):
            n_before = len(problems)
            value = _json_cell(turns, c.turns, "a JSON array of turns", problems)
            if len(problems) == n_before:  # parsed (a failed parse is already a problem)
                if isinstance(value, list):  # Parquet structs fill absent keys with None
                    value = [_drop_none(t) if isinstance(t, dict) else t for t in value]
                record["turns"] = value
        elif not _absent(transcript):
            if isinstance(transcript, bytes):
                transcript = transcript.decode("utf-8", "replace")
            return _transcript_item(index, loc, record, str(transcript), c.transcript, limits, source, problems)
        else:
            where = " or ".join(repr(n) for n in (c.turns, c.transcript) if n in self.names)
            problems.append(Problem("turns", "missing_field", f"turns in column {where}", "(empty)"))
        conv, problems, warnings = _validate(record, limits, problems, covered=frozenset({"turns"}))
        if conv is not None:
            return Item(index, loc, conv, None, warnings)
        return Item(index, loc, None, Reject(loc, _id_of(record), problems, source))


_SURROGATE = re.compile("[\udc80-\udcff]")


def _raise_csv_field_limit() -> None:
    limit = min(sys.maxsize, 2**31 - 1)
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)


def _iter_csv(path: Path, columns: ColumnMap, limits: Limits, start: int) -> Iterator[Item]:
    _raise_csv_field_limit()
    where = [0]
    opener = gzip.open if _is_gzip(path) else open
    # surrogateescape: a row with bad bytes becomes a reject instead of stopping the whole file
    with _read_errors(path, where, "data row"), opener(
        path, "rt", encoding="utf-8-sig", errors="surrogateescape", newline=""
    ) as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
        except csv.Error as e:
            raise DataError(f"{path}: cannot read the CSV header: {e}") from e
        if header is None:
            raise DataError(f"{path}: empty CSV (no header row); expected a header with {columns.id!r} and "
                            f"{columns.turns!r} or {columns.transcript!r}")
        table = _Table(path, [h.strip() for h in header], columns, "csv")
        width = len(header)
        index = -1
        while True:
            try:
                row = next(reader, None)
            except csv.Error as e:
                raise DataError(f"{path}: CSV parse error after data row {where[0]:,}: {e}") from e
            if row is None:
                break
            where[0] += 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line: not a record, but it still counts as a row
            index += 1
            if index < start:
                continue
            loc = Location(str(path), row=where[0])
            if len(row) != width:
                rid = row[table.names.index(columns.id)] if len(row) > table.names.index(columns.id) else None
                problem = Problem(ROOT, "wrong_column_count", f"{width} cells (as in the header)", f"{len(row)} cells")
                yield Item(index, loc, None, Reject(loc, rid or None, [problem], _default_source(path)))
                continue
            bad = next((i for i, v in enumerate(row) if _SURROGATE.search(v)), None)
            if bad is not None:
                found = _short(row[bad].encode("utf-8", "surrogateescape"))
                problem = Problem(table.names[bad], "invalid_encoding", "UTF-8 text", found)
                rid = row[table.names.index(columns.id)]
                rid = None if _SURROGATE.search(rid) else rid or None
                yield Item(index, loc, None, Reject(loc, rid, [problem], _default_source(path)))
                continue
            yield table.item(index, where[0], dict(zip(table.names, row)), limits)


def _iter_parquet(path: Path, columns: ColumnMap, limits: Limits, start: int) -> Iterator[Item]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises ArrowInvalid/OSError subclasses with useful text
        raise DataError(f"{path}: not a readable Parquet file: {e}") from e
    with pf:
        table = _Table(path, pf.schema_arrow.names, columns, "parquet")
        # Skip whole row groups from the footer alone: resuming deep into a file costs no decoding.
        row_no, groups = 0, []
        for g in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            if not groups and row_no + n <= start:
                row_no += n
                continue
            groups.append(g)
        if not groups:
            return
        where = [row_no]
        with _read_errors(path, where, "data row"):
            for batch in pf.iter_batches(batch_size=256, row_groups=groups, use_threads=False):
                for row in batch.to_pylist():
                    where[0] += 1
                    index = where[0] - 1
                    if index < start:
                        continue
                    yield table.item(index, where[0], row, limits)


# -------------------------------------------------------------------------------------- high level


class RejectWriter:
    """Appends rejects as JSONL lines and counts them; each line is flushed so a crash loses none.

    The file is created (emptied unless ``append``) on open, so an empty file means zero rejects.
    """

    def __init__(self, path: PathLike, append: bool = False):
        self.path = Path(path)
        self.append = append
        self.count = 0
        self._f: IO[str] | None = None

    def open(self) -> "RejectWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "a" if self.append else "w", encoding="utf-8", buffering=1)
        return self

    def write(self, reject: Reject) -> None:
        if self._f is None:
            raise RuntimeError(f"RejectWriter({self.path}) is not open: use it as a context manager")
        self._f.write(json.dumps(reject.to_dict(), ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> "RejectWriter":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_conversations(
    paths: PathLike | Iterable[PathLike],
    input_format: str | None = None,
    columns: ColumnMap = ColumnMap(),
    limits: Limits = Limits(),
    rejects: RejectWriter | None = None,
    max_warnings: int = 10,
) -> Iterator[Conversation]:
    """Valid conversations from files and folders, in order; rejects go to ``rejects`` and the log
    (one warning each for the first ``max_warnings``, then a summary), never silently away."""
    sources = expand_paths(paths, input_format)  # fail now, not at the first next()
    for p, fmt in sources:
        iter_items(p, fmt, columns, limits)  # path/format checks, eagerly
    return _read_conversations(sources, columns, limits, rejects, max_warnings)


def _read_conversations(
    sources: list[tuple[Path, str]], columns: ColumnMap, limits: Limits, rejects: RejectWriter | None, max_warnings: int
) -> Iterator[Conversation]:
    n_rejected = 0
    try:
        for p, fmt in sources:
            for item in iter_items(p, fmt, columns, limits):
                if item.conversation is not None:
                    yield item.conversation
                    continue
                assert item.reject is not None
                n_rejected += 1
                if rejects is not None:
                    rejects.write(item.reject)
                if n_rejected <= max_warnings:
                    logger.warning("rejected %s", item.reject.message())
    finally:
        if n_rejected:
            where = f"written to {rejects.path}" if rejects is not None else "pass a RejectWriter to keep them"
            hidden = n_rejected - min(n_rejected, max_warnings)
            logger.warning(
                "%d record(s) rejected%s; %s", n_rejected, f" ({hidden} not shown above)" if hidden else "", where
            )


@dataclass
class ValidationReport:
    """Counts of a validation run, per source and per reason, with the first rejects as examples."""

    paths: list[str]
    accepted: int = 0
    rejected: int = 0
    by_source: dict[str, dict[str, int]] = dc_field(default_factory=dict)
    by_reason: dict[str, int] = dc_field(default_factory=dict)
    examples: list[Reject] = dc_field(default_factory=list)
    warned: int = 0  # accepted records that carry warnings (blank turns)
    warnings_by_reason: dict[str, int] = dc_field(default_factory=dict)
    warning_examples: list[str] = dc_field(default_factory=list)
    rejects_path: str | None = None
    max_examples: int = 10

    @property
    def total(self) -> int:
        return self.accepted + self.rejected

    def add(self, item: Item, fallback_source: str) -> None:
        if item.conversation is not None:
            self.accepted += 1
            source, key = item.conversation.meta.source or fallback_source, "accepted"
            if item.warnings:
                self.warned += 1
                for w in item.warnings:
                    self.warnings_by_reason[w.reason] = self.warnings_by_reason.get(w.reason, 0) + 1
                if len(self.warning_examples) < self.max_examples:
                    who = f"{item.location} (id {item.conversation.id})"
                    self.warning_examples.append(f"{who}: " + "; ".join(str(w) for w in item.warnings[:3]))
        else:
            assert item.reject is not None
            self.rejected += 1
            source, key = item.reject.source or fallback_source, "rejected"
            for reason in item.reject.reasons:
                self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
            if len(self.examples) < self.max_examples:
                self.examples.append(item.reject)
        counts = self.by_source.setdefault(source, {"accepted": 0, "rejected": 0})
        counts[key] += 1

    def to_text(self) -> str:
        lines = [
            f"{self.total:,} record(s) in {len(self.paths)} input(s): "
            f"{self.accepted:,} accepted, {self.rejected:,} rejected",
            "",
        ]
        width = max([len("source"), len("total")] + [len(s) for s in self.by_source])
        lines.append(f"{'source':<{width}}  {'accepted':>10}  {'rejected':>10}")
        for source, c in sorted(self.by_source.items()):
            lines.append(f"{source:<{width}}  {c['accepted']:>10,}  {c['rejected']:>10,}")
        lines.append(f"{'total':<{width}}  {self.accepted:>10,}  {self.rejected:>10,}")
        if self.by_reason:
            rw = max(len("reason"), *(len(r) for r in self.by_reason))
            lines += ["", f"{'reason':<{rw}}  {'records':>10}"]
            for reason, n in sorted(self.by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"{reason:<{rw}}  {n:>10,}")
        if self.examples:
            lines += ["", f"first {len(self.examples)} of {self.rejected:,} reject(s):"]
            lines += [f"  {r.message()}" for r in self.examples]
        if self.warned:
            counts = ", ".join(f"{r} {n:,} turn(s)" for r, n in sorted(self.warnings_by_reason.items()))
            lines += ["", f"warnings (records kept, blank turns render as nothing; --strict rejects them): "
                      f"{self.warned:,} record(s): {counts}"]
            lines += [f"  {w}" for w in self.warning_examples]
        if self.rejects_path:
            lines += ["", f"rejects written to {self.rejects_path}"]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "paths": self.paths,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "by_source": self.by_source,
            "by_reason": self.by_reason,
            "examples": [r.to_dict() for r in self.examples],
            "warned": self.warned,
            "warnings_by_reason": self.warnings_by_reason,
            "warning_examples": self.warning_examples,
            "rejects_path": self.rejects_path,
        }


def validate_paths(
    paths: PathLike | Iterable[PathLike],
    rejects_path: PathLike | None = None,
    input_format: str | None = None,
    columns: ColumnMap = ColumnMap(),
    limits: Limits = Limits(),
    progress: bool | None = None,
) -> ValidationReport:
    """Read everything once and count what passes; rejects go to ``rejects_path`` when given.

    ``progress`` defaults to a tqdm bar only when stderr is a terminal.
    """
    from tqdm.auto import tqdm

    sources = expand_paths(paths, input_format)
    report = ValidationReport(paths=[str(p) for p, _ in sources])
    report.rejects_path = str(rejects_path) if rejects_path is not None else None
    show = sys.stderr.isatty() if progress is None else progress
    writer = RejectWriter(rejects_path) if rejects_path is not None else None
    with (writer or nullcontext()), tqdm(unit=" conv", disable=not show, desc="validate") as bar:
        for p, fmt in sources:
            fallback = _default_source(p)
            for item in iter_items(p, fmt, columns, limits):
                report.add(item, fallback)
                if writer is not None and item.reject is not None:
                    writer.write(item.reject)
                bar.update(1)
    logger.info("validated %d record(s): %d accepted, %d rejected", report.total, report.accepted, report.rejected)
    return report


# ------------------------------------------------------------------------------------------- writing


@contextmanager
def _atomic_text(path: Path) -> Iterator[IO[str]]:
    """Write next to ``path`` and rename on success, so a crash never leaves a half file in its place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        raw = gzip.open(tmp, "wt", encoding="utf-8") if _is_gzip(path) else open(tmp, "w", encoding="utf-8")
        with raw as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_line(conv: Conversation | Mapping[str, Any]) -> str:
    if isinstance(conv, Conversation):
        return conv.model_dump_json(exclude_none=True)
    return json.dumps(conv, ensure_ascii=False)


def write_jsonl(conversations: Iterable[Conversation | Mapping[str, Any]], path: PathLike) -> int:
    """Write conversations one per line (gzipped for .gz), atomically; returns how many."""
    n = 0
    with _atomic_text(Path(path)) as f:
        for conv in conversations:
            f.write(_json_line(conv) + "\n")
            n += 1
    return n


# -------------------------------------------------------------------------------------------- splits


def _check_fractions(validation: float, test: float) -> None:
    for name, v in (("validation", validation), ("test", test)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ValueError(f"split share {name!r} must be a number in [0, 1], found {v!r}")
    if validation + test > 1:
        raise ValueError(f"split shares validation + test must be at most 1, found {validation} + {test}")


def split_of(conv: Conversation, seed: int = 0, validation: float = 0.1, test: float = 0.1) -> Split:
    """The split of a conversation, from a stable hash of the seed and its group key (the customer when
    known): the same on every machine and run, and one customer never spans two splits. Changing the
    validation share moves no conversation in or out of test."""
    _check_fractions(validation, test)
    digest = hashlib.sha256(f"{seed}\x00{conv.group_key()}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    if u < test:
        return "test"
    if u < test + validation:
        return "validation"
    return "train"


def _stem(path: Path) -> str:
    """``star`` for star.jsonl, star.jsonl.gz and a folder named star."""
    name = path.name
    if path.is_dir():
        return name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    base, dot, ext = name.rpartition(".")
    return base if dot and base and f".{ext.lower()}" in _SUFFIX_FORMATS else name


def split_files(
    paths: PathLike | Iterable[PathLike],
    out_dir: PathLike,
    seed: int = 0,
    validation: float = 0.1,
    test: float = 0.1,
    input_format: str | None = None,
    columns: ColumnMap = ColumnMap(),
    limits: Limits = Limits(),
) -> dict[str, dict[str, int]]:
    """Write ``<stem>.train.jsonl``, ``<stem>.validation.jsonl``, ``<stem>.test.jsonl`` per input.

    Returns counts per input stem (train, validation, test, rejected). Rejects go to
    ``<stem>.rejects.jsonl`` (kept only when there are any).
    """
    try:
        _check_fractions(validation, test)
    except ValueError as e:
        raise DataError(str(e)) from e
    sources = expand_paths(paths, input_format)
    stems: dict[str, Path] = {}
    for p, _ in sources:
        stem = _stem(p)
        if stem in stems:
            raise DataError(f"{p} and {stems[stem]} would both write {stem}.*.jsonl: rename one or split them apart")
        stems[stem] = p
    out = Path(out_dir)
    counts: dict[str, dict[str, int]] = {}
    for p, fmt in sources:
        stem = _stem(p)
        c = {s: 0 for s in SPLITS}
        rejects_path = out / f"{stem}.rejects.jsonl"
        with RejectWriter(rejects_path) as rejects, _atomic_text(out / f"{stem}.train.jsonl") as train, _atomic_text(
            out / f"{stem}.validation.jsonl"
        ) as val, _atomic_text(out / f"{stem}.test.jsonl") as tst:
            files = {"train": train, "validation": val, "test": tst}
            for item in iter_items(p, fmt, columns, limits):
                if item.conversation is None:
                    assert item.reject is not None
                    rejects.write(item.reject)
                    continue
                split = split_of(item.conversation, seed, validation, test)
                files[split].write(_json_line(item.conversation) + "\n")
                c[split] += 1
        c["rejected"] = rejects.count
        if rejects.count == 0:
            rejects_path.unlink(missing_ok=True)
        else:
            logger.warning("%s: %d record(s) rejected, written to %s", p, rejects.count, rejects_path)
        counts[stem] = c
        logger.info("%s: %s", p, ", ".join(f"{k}={v}" for k, v in c.items()))
    return counts


__all__ = [
    "FORMATS",
    "MISSING",
    "REASONS",
    "ROOT",
    "ColumnMap",
    "DataError",
    "Item",
    "Limits",
    "Location",
    "Problem",
    "Reject",
    "RejectWriter",
    "ValidationReport",
    "detect_format",
    "expand_paths",
    "iter_items",
    "parse_transcript",
    "read_conversations",
    "split_files",
    "split_of",
    "validate_paths",
    "write_jsonl",
]
