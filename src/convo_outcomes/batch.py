"""Archive scoring: stream conversations in, one scored row per conversation out, never lose a row.

Crash safety: rows are appended to the output (JSONL/CSV) and flushed, then a small progress file is
replaced atomically with the input position and the output's byte length. After ``kill -9`` the
output may hold rows written after the last progress save; ``--resume`` truncates the output (and the
rejects file) back to the recorded length and restarts reading at the recorded record index, so no
row is lost or duplicated. Parquet cannot be appended to, so Parquet output is written as numbered
part files (each written to a temporary name and renamed) and merged into one file at the end.

Output row (flat, so CSV and Parquet can hold it): ``id``, ``input``, ``index``, ``model_version``,
per head ``<head>_label``, ``<head>_confidence``, ``<head>_p_<class>`` for every class and
``<head>_evidence`` (turn indices, most influential first), ``true_<head>`` when the record carried
that label, ``n_tokens``, ``n_windows``, ``windows_dropped``, and the meta fields reports slice by.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from .data import ColumnMap, DataError, Item, Limits, expand_paths, iter_items
from .runtime import Prediction, Scorer

logger = logging.getLogger(__name__)

META_COLUMNS = ("source", "channel", "language", "customer_id", "started_at", "handled_by", "account_value", "queue", "team", "industry")
PROGRESS_VERSION = 1


class ScoreError(RuntimeError):
    """Scoring cannot start or resume (bad output path, progress file from another job)."""


def output_format(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in ((".jsonl", "jsonl"), (".csv", "csv"), (".parquet", "parquet")):
        if name.endswith(suffix):
            return fmt
    raise ScoreError(f"--output {path}: expected a .jsonl, .csv or .parquet file name, found suffix {path.suffix!r}")


def columns_for(scorer: Scorer) -> list[str]:
    cols = ["id", "input", "index", "model_version"]
    for h in scorer.head_names:
        cols += [f"{h}_label", f"{h}_confidence"] + [f"{h}_p_{c}" for c in scorer.spec[h].classes] + [f"{h}_evidence"]
    cols += [f"true_{h}" for h in scorer.head_names]
    cols += ["n_tokens", "n_windows", "windows_dropped"] + [f"meta_{m}" for m in META_COLUMNS]
    return cols


def arrow_schema(scorer: Scorer):
    """Explicit Parquet schema, so a part whose meta column happens to be all null still fits."""
    import pyarrow as pa

    fields = []
    for c in columns_for(scorer):
        if c in ("index", "n_tokens", "n_windows", "windows_dropped"):
            t = pa.int64()
        elif c.endswith("_evidence"):
            t = pa.list_(pa.int64())
        elif c.endswith("_confidence") or "_p_" in c or c == "meta_account_value":
            t = pa.float64()
        else:
            t = pa.string()
        fields.append(pa.field(c, t))
    return pa.schema(fields)


def prediction_row(pred: Prediction, item: Item, input_name: str, scorer: Scorer) -> dict[str, Any]:
    conv = item.conversation
    assert conv is not None
    row: dict[str, Any] = {"id": pred.id, "input": input_name, "index": item.index, "model_version": pred.model_version}
    for h, r in pred.heads.items():
        row[f"{h}_label"] = r.label
        row[f"{h}_confidence"] = r.confidence
        for c, p in r.probs.items():
            row[f"{h}_p_{c}"] = p
        row[f"{h}_evidence"] = r.evidence
    for h in scorer.spec:
        t = h.target(conv.labels)
        row[f"true_{h.name}"] = None if t is None else h.classes[t]
    row["n_tokens"], row["n_windows"], row["windows_dropped"] = pred.n_tokens, pred.n_windows, pred.windows_dropped
    meta = conv.meta.model_dump(mode="json")
    for m in META_COLUMNS:
        row[f"meta_{m}"] = meta.get(m)
    return row


@dataclass
class Progress:
    version: int
    inputs: list[str]
    model: str
    output: str
    file_index: int = 0  # which input is being read
    next_index: int = 0  # next record index in that input
    output_bytes: int = 0
    rejects_bytes: int = 0
    parts: int = 0
    rows: int = 0
    rejects: int = 0
    finished: bool = False
    batch_windows: bool = False  # a resumed run must encode the same way, or its rows would mix two

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(asdict(self), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "Progress":
        return cls(**json.loads(path.read_text()))


@dataclass
class ScoreSummary:
    output: Path
    rejects_path: Path
    rows: int
    rejects: int
    seconds: float
    resumed: bool
    per_input: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_text(self) -> str:
        lines = [f"scored {self.rows} conversations in {self.seconds:.1f} s ({self.rate:.1f}/s) -> {self.output}"]
        lines.append(f"rejected {self.rejects} record(s) -> {self.rejects_path}" if self.rejects else "rejected 0 records")
        return "\n".join(lines)


class _Writer:
    """Appends rows as JSONL or CSV and reports its byte length; Parquet goes to part files."""

    def __init__(self, path: Path, fmt: str, columns: list[str], progress: Progress, schema: Any = None):
        self.path, self.fmt, self.columns, self.schema = path, fmt, columns, schema
        self.progress = progress
        if fmt == "parquet":
            self.parts_dir = path.with_name(path.name + ".parts")
            self.parts_dir.mkdir(parents=True, exist_ok=True)
            for p in self.parts_dir.glob("part-*"):  # parts written after the last progress save
                if int(p.stem.split("-")[1].split(".")[0]) >= progress.parts:
                    p.unlink()
            self.f = None
        else:
            mode = "r+b" if path.exists() else "w+b"
            self.f = open(path, mode)
            self.f.truncate(progress.output_bytes)
            self.f.seek(progress.output_bytes)
            if fmt == "csv" and progress.output_bytes == 0:
                self.f.write(self._csv_line(columns))

    def _csv_line(self, values: Sequence[Any]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(values)
        return buf.getvalue().encode()

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pylist(rows, schema=self.schema)
            final = self.parts_dir / f"part-{self.progress.parts:06d}.parquet"
            tmp = final.with_suffix(".tmp")
            pq.write_table(table, tmp)
            os.replace(tmp, final)
            self.progress.parts += 1
            return
        assert self.f is not None
        if self.fmt == "jsonl":
            data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
        else:
            data = b"".join(
                self._csv_line([json.dumps(r[c]) if isinstance(r.get(c), list) else r.get(c) for c in self.columns]) for r in rows
            )
        self.f.write(data)

    def sync(self) -> None:
        if self.f is not None:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.progress.output_bytes = self.f.tell()

    def close(self) -> None:
        if self.f is not None:
            self.f.close()

    def finalize(self) -> None:
        if self.fmt != "parquet":
            return
        import pyarrow.parquet as pq

        parts = sorted(self.parts_dir.glob("part-*.parquet"))
        tmp = self.path.with_name(self.path.name + ".tmp")
        with pq.ParquetWriter(tmp, self.schema) as writer:
            for p in parts:
                writer.write_table(pq.read_table(p, schema=self.schema))
        os.replace(tmp, self.path)
        for p in parts:
            p.unlink()
        self.parts_dir.rmdir()


def _count_records(path: Path, fmt: str) -> int | None:
    """Cheap totals for the progress bar's ETA (JSONL line count, Parquet metadata)."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        if fmt == "jsonl" and not path.name.endswith(".gz"):
            n = 0
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 24), b""):
                    n += chunk.count(b"\n")
            return n
    except OSError:
        return None
    return None


# worker processes: one Scorer each, loaded once
_WORKER: Scorer | None = None


def _worker_init(model: str, threads: int, batch_windows: bool) -> None:
    global _WORKER
    _WORKER = Scorer.load(model, threads=threads, verify=False, batch_windows=batch_windows)


def _worker_score(convs: list[Any]) -> list[Prediction]:
    assert _WORKER is not None
    return _WORKER.score(convs)


def score_archive(
    inputs: Sequence[str | Path],
    model: str | Path,
    output: str | Path,
    rejects: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    batch_size: int = 64,
    workers: int = 0,
    threads: int | None = None,
    input_format: str | None = None,
    columns: ColumnMap = ColumnMap(),
    limits: Limits = Limits(),
    checkpoint_every: int = 1,
    progress_bar: bool = True,
    stop_after: int | None = None,
    batch_windows: bool = False,
) -> ScoreSummary:
    """Score archives into ``output``; ``resume`` continues a crashed or interrupted run exactly.

    ``checkpoint_every`` batches between progress saves; ``stop_after`` (rows) simulates an
    interruption for tests and returns with progress saved. ``batch_windows`` shares encoder
    calls between conversations and gives up scores that depend on the text alone (see
    ``Scorer.batch_windows``).
    """
    from tqdm.auto import tqdm

    output = Path(output)
    fmt = output_format(output)
    rejects_path = Path(rejects) if rejects else output.with_name(output.name[: -len("." + fmt)] + ".rejects.jsonl")
    progress_path = output.with_name(output.name + ".progress.json")
    sources = expand_paths(inputs, input_format)
    input_names = [str(p) for p, _ in sources]
    scorer = Scorer.load(model, threads=threads if not workers else 1, batch_windows=batch_windows)
    started = time.monotonic()

    if resume and progress_path.exists():
        prog = Progress.load(progress_path)
        if prog.inputs != input_names or prog.output != str(output):
            raise ScoreError(
                f"{progress_path} belongs to another job (inputs {prog.inputs}, output {prog.output}); "
                f"run without --resume to start over"
            )
        if prog.model != scorer.version:
            raise ScoreError(f"{progress_path} was scored with model {prog.model}, not {scorer.version}; start over without --resume")
        if prog.batch_windows != batch_windows:
            flag = lambda on: "with --batch-windows" if on else "without --batch-windows"  # noqa: E731
            raise ScoreError(f"{progress_path} was scored {flag(prog.batch_windows)}; resume {flag(prog.batch_windows)} too, or start over")
        if prog.finished:
            logger.info("%s is already complete (%d rows)", output, prog.rows)
            return ScoreSummary(output, rejects_path, prog.rows, prog.rejects, 0.0, True)
        logger.info("resuming at input %d record %d (%d rows already out)", prog.file_index, prog.next_index, prog.rows)
        resumed = True
    else:
        if not (resume or overwrite) and progress_path.exists() and not Progress.load(progress_path).finished:
            raise ScoreError(f"{output} has an unfinished run ({progress_path}); pass --resume to continue it or --overwrite to start over")
        prog = Progress(PROGRESS_VERSION, input_names, scorer.version, str(output), batch_windows=batch_windows)
        for p in (output, rejects_path):
            if p.exists():
                p.unlink()
        parts = output.with_name(output.name + ".parts")
        if parts.exists():
            for p in parts.iterdir():
                p.unlink()
        resumed = False
    output.parent.mkdir(parents=True, exist_ok=True)
    cols = columns_for(scorer)
    writer = _Writer(output, fmt, cols, prog, arrow_schema(scorer) if fmt == "parquet" else None)
    rej = open(rejects_path, "r+b" if rejects_path.exists() else "w+b")
    rej.truncate(prog.rejects_bytes)
    rej.seek(prog.rejects_bytes)

    pool = ProcessPoolExecutor(workers, initializer=_worker_init, initargs=(str(model), 1, batch_windows)) if workers > 1 else None
    totals = [_count_records(p, f) for p, f in sources]
    total = sum(totals) if all(t is not None for t in totals) else None  # type: ignore[misc]
    done_before = sum(t or 0 for t in totals[: prog.file_index]) + prog.next_index
    bar = tqdm(total=total, initial=done_before if total else 0, unit="conv", desc="score", disable=None if progress_bar else True, smoothing=0.05)
    per_input: dict[str, dict[str, int]] = {}
    rows_this_run = 0
    batches_since_save = 0

    def commit(items: list[Item], preds: list[Prediction], rejected: list[Any], input_name: str, next_index: int) -> None:
        """Write one batch's rejects and rows, in input order, then maybe save progress."""
        nonlocal batches_since_save, rows_this_run
        for r in rejected:
            rej.write((json.dumps(r.to_dict(), ensure_ascii=False) + "\n").encode())
        writer.write([prediction_row(p, it, input_name, scorer) for p, it in zip(preds, items)])
        prog.rows += len(preds)
        prog.rejects += len(rejected)
        rows_this_run += len(preds)
        prog.next_index = next_index
        batches_since_save += 1
        if batches_since_save >= checkpoint_every:
            save()

    def save() -> None:
        nonlocal batches_since_save
        writer.sync()
        rej.flush()
        os.fsync(rej.fileno())
        prog.rejects_bytes = rej.tell()
        prog.save(progress_path)
        batches_since_save = 0

    interrupted = False
    try:
        for fi in range(prog.file_index, len(sources)):
            path, f = sources[fi]
            name = str(path)
            stats = per_input.setdefault(name, {"rows": 0, "rejects": 0})
            start = prog.next_index if fi == prog.file_index else 0
            if fi != prog.file_index:
                prog.file_index, prog.next_index = fi, 0
            pending: list[tuple[Future | None, list[Item], list[Prediction] | None, list[Any], int]] = []
            batch: list[Item] = []
            rejected: list[Any] = []
            last_index = start - 1

            def flush_pending(limit: int) -> None:
                while len(pending) > limit:
                    fut, items, preds, rj, nxt = pending.pop(0)
                    preds = fut.result() if fut is not None else preds
                    commit(items, preds or [], rj, name, nxt)
                    stats["rows"] += len(items)
                    stats["rejects"] += len(rj)

            def submit(items: list[Item], rj: list[Any], nxt: int) -> None:
                convs = [it.conversation for it in items]
                if pool is not None and items:
                    pending.append((pool.submit(_worker_score, convs), items, None, rj, nxt))
                    flush_pending(2 * workers)
                else:
                    pending.append((None, items, scorer.score(convs) if items else [], rj, nxt))
                    flush_pending(0 if pool is None else 2 * workers)
                bar.update(len(items) + len(rj))

            for item in iter_items(path, f, columns, limits, start=start):
                last_index = item.index
                if item.reject is not None:
                    rejected.append(item.reject)
                else:
                    batch.append(item)
                if len(batch) >= batch_size or len(rejected) >= 1000:
                    submit(batch, rejected, item.index + 1)
                    batch, rejected = [], []
                    if stop_after is not None and rows_this_run + sum(len(p[1]) for p in pending) >= stop_after:
                        flush_pending(0)
                        interrupted = True
                        break
            if interrupted:
                break
            if batch or rejected:
                submit(batch, rejected, last_index + 1)
            flush_pending(0)
            prog.next_index = last_index + 1
            save()
        if not interrupted:
            prog.file_index = len(sources)
            prog.next_index = 0
            save()
            writer.finalize()
            prog.finished = True
            prog.save(progress_path)
    except KeyboardInterrupt:
        logger.warning("interrupted: progress saved; rerun with --resume to continue")
        interrupted = True
        raise
    finally:
        if interrupted:
            try:
                save()
            except Exception:  # pragma: no cover - best effort while dying
                logger.exception("could not save progress")
        bar.close()
        writer.close()
        rej.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return ScoreSummary(output, rejects_path, prog.rows, prog.rejects, time.monotonic() - started, resumed, per_input)


def iter_scored(path: str | Path) -> Iterator[dict[str, Any]]:
    """Read a scores file back (JSONL, CSV or Parquet) as row dicts, streaming."""
    path = Path(path)
    fmt = output_format(path)
    if fmt == "jsonl":
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
    elif fmt == "csv":
        with open(path, newline="", encoding="utf-8") as f:
            yield from csv.DictReader(f)
    else:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        for b in pf.iter_batches():
            yield from b.to_pylist()


__all__ = ["ScoreError", "ScoreSummary", "columns_for", "iter_scored", "score_archive", "DataError"]
