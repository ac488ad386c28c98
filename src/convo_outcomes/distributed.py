"""Ray engine for archive scoring: the local engine's rows and rejects, spread over a Ray cluster.

Why it looks the way it does:

* **Same validation, same rejects.** Workers read records with the ``data`` readers (JSONL is split
  into byte ranges found by one quick driver-side scan, so every line keeps its line number), so a
  bad record becomes the same ``Reject`` with the same reasons and location as in the local engine.
* **Same numbers.** The encoder is dynamically quantised (int8 scales per call), so a conversation's
  probabilities depend slightly on which conversations share its ``Scorer.score`` call. Phase 1
  (Ray tasks) validates every shard and records which records were rejected; from that the driver
  rebuilds the local engine's exact batches (``plan_batches``), and phase 2 (an actor pool, one
  ``Scorer`` per actor) scores exactly those batches. Rows therefore equal the local engine's.
* **Crash safety.** The driver writes each block of scored rows as its own Parquet part (temporary
  name, then rename), so the parts *are* the checkpoint: a rerun with ``resume`` reads their
  ``(input, index)`` keys and skips every batch already done. Final output is merged from the parts
  deduplicated on ``(input, index)`` (the record's identity; a conversation id can legitimately
  repeat in an archive), so a retried task or a crash between writes cannot duplicate a row. Actors
  restart after a crash and their in-flight shards are retried (Ray Data's actor-pool defaults,
  ``max_restarts=-1`` and ``max_task_retries=-1``; passing them explicitly is deprecated in Ray 2.60).
* **Resources.** Actors reserve one CPU each and the pool leaves one CPU free: actors holding every
  CPU starve Ray Data's own tasks and the job hangs without an error.

Ray is imported lazily so that the package works without the ``distributed`` extra.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

from .batch import ScoreError, ScoreSummary, arrow_schema, output_format, prediction_row
from .data import BOM, ColumnMap, DataError, Item, Limits, Location, expand_paths, iter_items, jsonl_item, read_lines
from .runtime import Scorer

logger = logging.getLogger(__name__)

RAY_STATE_VERSION = 1
#: The local engine hands a batch to the model early once this many rejects pile up (batch.py).
LOCAL_REJECT_FLUSH = 1000
#: JSONL byte-offset hints every this many records (phase 2 seeks to the nearest one).
HINT_STRIDE = 256


# ---------------------------------------------------------------------------------------- planning


def plan_batches(
    n_records: int, reject_indices: Sequence[int], batch_size: int, reject_flush: int = LOCAL_REJECT_FLUSH
) -> list[tuple[int, int, int]]:
    """The local engine's batches for one file, as ``(start, stop, n_valid)`` record-index ranges.

    The local engine fills a batch with ``batch_size`` valid records (rejects ride along), hands it
    over early when ``reject_flush`` rejects pile up, and flushes what is left at the end of the
    file. Scoring the same groups is what makes the Ray engine's numbers bit-identical.
    """
    if batch_size < 1:
        raise ScoreError(f"batch_size must be at least 1, found {batch_size}")
    rejects = sorted(set(reject_indices))
    out: list[tuple[int, int, int]] = []
    start = b = r = i = 0
    k = 0
    while i < n_records:
        nxt = rejects[k] if k < len(rejects) else n_records
        run = min(nxt, n_records) - i  # valid records before the next reject
        while run > 0:
            take = min(run, batch_size - b)
            b, i, run = b + take, i + take, run - take
            if b >= batch_size:
                out.append((start, i, b))
                start, b, r = i, 0, 0
        if i >= n_records:
            break
        r, i, k = r + 1, i + 1, k + 1  # record i-1 is a reject
        if r >= reject_flush:
            out.append((start, i, b))
            start, b, r = i, 0, 0
    if b or r:
        out.append((start, n_records, b))
    return out


@dataclass(frozen=True)
class _Source:
    """One input as workers see it: the name rows and rejects carry, and a path they can open."""

    no: int
    name: str  # str(path) as given: what the local engine writes in ``input`` and reject paths
    path: str  # absolute, since workers do not share the driver's working directory
    fmt: str
    seekable: bool  # plain JSONL: shards start at byte offsets


def _fingerprint(path: Path) -> list[int]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        return [len(files), sum(p.stat().st_size for p in files), max((p.stat().st_mtime_ns for p in files), default=0)]
    st = path.stat()
    return [1, st.st_size, st.st_mtime_ns]


def _scan_jsonl(path: Path, limits: Limits, stride: int = HINT_STRIDE) -> tuple[int, list[tuple[int, int]]]:
    """Count records and note ``(byte offset, lines before)`` of every ``stride``-th, as the reader counts them."""
    cap = limits.max_record_bytes
    hints: list[tuple[int, int]] = []
    index, lines, pos = -1, 0, 0
    with open(path, "rb", buffering=1 << 20) as f:
        for _raw, size, blank in read_lines(f, cap):
            if blank:
                lines, pos = lines + 1, pos + size
                continue
            index += 1
            if index % stride == 0:
                hints.append((pos, lines))
            lines, pos = lines + 1, pos + size
    return index + 1, hints


# ----------------------------------------------------------------------------------------- reading


def _relocate(item: Item, src: _Source) -> Item:
    """Rewrite locations from the absolute path workers opened to the name the local engine prints."""

    def fix(loc: Location) -> Location:
        return replace(loc, path=src.name + loc.path[len(src.path) :]) if loc.path.startswith(src.path) else loc

    item.location = fix(item.location)
    if item.reject is not None:
        item.reject.location = fix(item.reject.location)
    return item


def _iter_jsonl_from(src: _Source, limits: Limits, hint: tuple[int, int, int], start: int, stop: int | None) -> Iterator[Item]:
    """Plain JSONL from a byte offset; each line goes through the same check as ``iter_items``."""
    offset, lines_before, index_before = hint
    cap = limits.max_record_bytes
    source = Path(src.path).name
    where, index = lines_before, index_before - 1
    try:
        with open(src.path, "rb", buffering=1 << 20) as f:
            f.seek(offset)
            for raw, size, blank in read_lines(f, cap):
                where += 1
                if blank:
                    continue
                index += 1
                if index < start:
                    continue
                if stop is not None and index >= stop:
                    break
                if size > cap:  # rare: let the reader itself describe the oversized record
                    yield next(_iter_generic(src, ColumnMap(), limits, index, index + 1))
                    continue
                if where == 1 and raw.startswith(BOM):
                    raw = raw[3:]
                yield jsonl_item(index, Location(src.name, line=where), raw, limits, source)
    except OSError as e:
        raise DataError(f"{src.name}: read failed after line {where:,}: {e}") from e


def _iter_generic(src: _Source, columns: ColumnMap, limits: Limits, start: int, stop: int | None) -> Iterator[Item]:
    for item in iter_items(src.path, src.fmt, columns, limits, start=start):
        if stop is not None and item.index >= stop:
            break
        yield _relocate(item, src)


def read_range(
    src: _Source, columns: ColumnMap, limits: Limits, start: int, stop: int | None, hint: tuple[int, int, int] | None = None
) -> Iterator[Item]:
    """Records ``start <= index < stop`` of one input, valid or rejected, exactly as ``iter_items`` sees them."""
    if src.seekable and hint is not None:
        return _iter_jsonl_from(src, limits, hint, start, stop)
    return _iter_generic(src, columns, limits, start, stop)


def item_from_line(line: str | bytes, path: str, line_no: int, index: int, limits: Limits = Limits()) -> Item:
    """Validate one JSONL line as the local reader does (for Spark or other engines that split lines)."""
    raw = line.encode("utf-8") if isinstance(line, str) else line
    return jsonl_item(index, Location(path, line=line_no), raw, limits, Path(path).name)


# ------------------------------------------------------------------------------------ ray workers


def validate_shard(row: dict[str, Any], sources: list[_Source], columns: ColumnMap, limits: Limits) -> dict[str, Any]:
    """Phase 1 (a Ray task per shard): count records and collect the shard's rejects, in order."""
    shard = json.loads(row["shard"])
    src = sources[shard["input"]]
    hint = tuple(shard["hint"]) if shard.get("hint") else None
    n, rejects, reject_idx = 0, [], []
    for item in read_range(src, columns, limits, shard["start"], shard["stop"], hint):  # type: ignore[arg-type]
        n += 1
        if item.reject is not None:
            reject_idx.append(item.index)
            rejects.append(json.dumps(item.reject.to_dict(), ensure_ascii=False))
    if shard["stop"] is not None and n != shard["stop"] - shard["start"]:
        raise DataError(f"{src.name}: expected {shard['stop'] - shard['start']} records from {shard['start']}, read {n}; did the file change?")
    result = {"id": shard["id"], "input": shard["input"], "start": shard["start"], "n": n, "reject_indices": reject_idx, "rejects": rejects}
    return {"result": json.dumps(result, ensure_ascii=False)}


def _materialize_model(files: dict[str, bytes]) -> Path:
    """Write a shipped model folder once per node (content-addressed), so nodes need no shared disk."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    root = Path(tempfile.gettempdir()) / "convo-outcomes-models"
    final = root / h.hexdigest()[:32]
    if (final / "config.json").exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    try:
        os.replace(tmp, final)
    except OSError:  # another actor on this node got there first
        shutil.rmtree(tmp, ignore_errors=True)
    return final


class ShardScorer:
    """Phase 2 actor: one ``Scorer`` per actor, loaded once; scores the planned batches of a shard."""

    def __init__(
        self, model: str | None, model_ref: list[Any] | None, threads: int, sources: list[_Source], columns: ColumnMap, limits: Limits, batch_windows: bool = False
    ):
        # The model travels as an object-store reference (wrapped in a list so Ray does not inline
        # it into the constructor arguments, which a restarted actor could no longer read).
        if model_ref:
            import ray

            folder = _materialize_model(ray.get(model_ref[0]))
        else:
            folder = Path(model or "")
        self.scorer = Scorer.load(folder, threads=threads, batch_windows=batch_windows)
        self.schema = arrow_schema(self.scorer)
        self.sources, self.columns, self.limits = sources, columns, limits

    def __call__(self, batch: dict[str, Any]) -> Any:
        import pyarrow as pa

        rows: list[dict[str, Any]] = []
        for text in batch["shard"]:
            rows.extend(self.score_shard(json.loads(str(text))))
        return pa.Table.from_pylist(rows, schema=self.schema)

    def score_shard(self, shard: dict[str, Any]) -> list[dict[str, Any]]:
        src = self.sources[shard["input"]]
        hint = tuple(shard["hint"]) if shard.get("hint") else None
        batches = [tuple(b) for b in shard["batches"]]
        rows: list[dict[str, Any]] = []
        k, pending = 0, []  # batches are sorted, disjoint index ranges inside [start, stop)

        def flush() -> None:
            s, e, nv = batches[k]
            if len(pending) != nv:
                raise DataError(f"{src.name}: records {s}..{e - 1} hold {len(pending)} valid conversations, validation found {nv}; did the file change?")
            preds = self.scorer.score([it.conversation for it in pending])
            rows.extend(prediction_row(p, it, src.name, self.scorer) for p, it in zip(preds, pending))

        for item in read_range(src, self.columns, self.limits, batches[0][0], batches[-1][1], hint):  # type: ignore[arg-type]
            while k < len(batches) and item.index >= batches[k][1]:
                flush()
                k, pending = k + 1, []
            if k >= len(batches):
                break
            if item.index >= batches[k][0] and item.reject is None:
                pending.append(item)
        while k < len(batches):
            flush()
            k, pending = k + 1, []
        return rows


# ------------------------------------------------------------------------------------------ state


@dataclass
class _Job:
    version: int
    inputs: list[str]
    fingerprints: list[list[int]]
    model: str
    output: str
    batch_size: int
    settings: str  # columns and limits: a different validation means different rejects
    finished: bool = False
    rows: int = 0
    rejects: int = 0

    def save(self, path: Path) -> None:
        _atomic_write(path, json.dumps(asdict(self)).encode())

    @classmethod
    def load(cls, path: Path) -> "_Job":
        return cls(**json.loads(path.read_text()))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _connect(address: str | None, ship_package: bool | None, ray_init_kwargs: dict[str, Any] | None) -> tuple[Any, bool]:
    """Join ``address`` (or ``RAY_ADDRESS``), else start a local cluster; reuse a caller's ``ray.init``."""
    try:
        import ray
    except ImportError as e:
        raise ScoreError("--engine ray needs Ray: pip install 'convo-outcomes[distributed]'") from e
    if ray.is_initialized():
        return ray, False
    addr = address or os.environ.get("RAY_ADDRESS") or "local"
    kwargs = dict(ray_init_kwargs or {})
    if addr == "local":  # a cluster for this machine only: no dashboard
        kwargs.setdefault("include_dashboard", False)
    if ship_package if ship_package is not None else addr != "local":
        import convo_outcomes

        env = dict(kwargs.pop("runtime_env", None) or {})
        env.setdefault("py_modules", [convo_outcomes])
        kwargs["runtime_env"] = env
    logger.info("ray: %s", "starting a local cluster" if addr == "local" else f"connecting to {addr}")
    try:
        ray.init(address=addr, **kwargs)
    except ConnectionError as e:
        raise ScoreError(f"cannot reach the Ray cluster at {addr}: {e} (check --address / RAY_ADDRESS)") from e
    return ray, True


def _model_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# --------------------------------------------------------------------------------------- the engine


def score_archive_ray(
    inputs: Sequence[str | Path],
    model: str | Path,
    output: str | Path,
    rejects: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    batch_size: int = 64,
    actors: int = 0,
    threads: int = 0,
    input_format: str | None = None,
    columns: ColumnMap = ColumnMap(),
    limits: Limits = Limits(),
    address: str | None = None,
    shard_size: int = 1024,
    batch_windows: bool = False,
    ship_model: bool = True,
    ship_package: bool | None = None,
    ray_init_kwargs: dict[str, Any] | None = None,
    progress_bar: bool = True,
) -> ScoreSummary:
    """Score archives on Ray into one Parquet file with the local engine's rows, schema and rejects.

    ``actors`` (0: cluster CPUs - 1) each hold one ``Scorer`` with ``threads`` onnxruntime threads
    (0: cluster CPUs // actors, so no CPU idles);
    ``shard_size`` caps conversations per unit of work (and per part file); ``address`` defaults to
    ``RAY_ADDRESS``, else a local cluster. ``ship_model`` sends the model folder through the object
    store (nodes need no copy); ``ship_package`` (default: when joining a cluster) sends this package
    as ``runtime_env={"py_modules": [convo_outcomes]}``. ``resume`` continues a crashed run.
    """
    output = Path(output)
    if output_format(output) != "parquet":
        raise ScoreError(f"--engine ray writes Parquet only: pass --output NAME.parquet (got {output.name})")
    rejects_path = Path(rejects) if rejects else output.with_name(output.name[: -len(".parquet")] + ".rejects.jsonl")
    state = output.with_name(output.name + ".ray")
    job_path, plan_path, parts_dir, val_dir = state / "job.json", state / "plan.json", state / "parts", state / "validate"
    sources_in = expand_paths(inputs, input_format)
    sources = [
        _Source(i, str(p), str(p.resolve()), f, f == "jsonl" and not p.name.lower().endswith(".gz"))
        for i, (p, f) in enumerate(sources_in)
    ]
    scorer = Scorer.load(model, threads=1)  # verifies the manifest once, on the driver
    schema = arrow_schema(scorer)
    started = time.monotonic()
    settings = repr((columns, limits))
    job = _Job(RAY_STATE_VERSION, [s.name for s in sources], [_fingerprint(Path(s.path)) for s in sources], scorer.version, str(output), batch_size, settings)

    # Whole-input problems (missing columns, a JSON array) fail here, before any state or cluster.
    for s in sources:
        next(iter(iter_items(s.path, s.fmt, columns, limits)), None)

    resumed = False
    if resume and job_path.exists():
        old = _Job.load(job_path)
        if (old.version, old.inputs, old.output) != (job.version, job.inputs, job.output):
            raise ScoreError(f"{state} belongs to another job (inputs {old.inputs}, output {old.output}); run without --resume to start over")
        if old.fingerprints != job.fingerprints:
            raise ScoreError(f"{state}: an input changed since this run started; start over with --overwrite")
        if (old.model, old.batch_size, old.settings) != (job.model, job.batch_size, job.settings):
            raise ScoreError(f"{state} was scored with model {old.model}, batch size {old.batch_size} and other settings; start over with --overwrite")
        if old.finished:
            logger.info("%s is already complete (%d rows)", output, old.rows)
            return ScoreSummary(output, rejects_path, old.rows, old.rejects, 0.0, True)
        resumed = True
    else:
        if not (resume or overwrite) and job_path.exists() and not _Job.load(job_path).finished:
            raise ScoreError(f"{output} has an unfinished Ray run ({state}); pass --resume to continue it or --overwrite to start over")
        shutil.rmtree(state, ignore_errors=True)
        for p in (output, rejects_path):
            if p.exists():
                p.unlink()
    for d in (parts_dir, val_dir):
        d.mkdir(parents=True, exist_ok=True)
        for t in d.glob("*.tmp"):  # half-written files from a crash
            t.unlink()
    job.save(job_path)
    output.parent.mkdir(parents=True, exist_ok=True)

    ray, started_ray = _connect(address, ship_package, ray_init_kwargs)
    try:
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = progress_bar
        cpus = max(1.0, float(ray.cluster_resources().get("CPU", 1)))
        plan = _load_plan(plan_path) if plan_path.exists() else None
        if plan is None:
            plan = _validate(ray, sources, columns, limits, batch_size, cpus, val_dir, rejects_path)
            _atomic_write(plan_path, json.dumps(plan).encode())
            shutil.rmtree(val_dir, ignore_errors=True)
        n_valid = sum(b[2] for inp in plan["inputs"] for b in inp["batches"])
        n_rejects = sum(inp["rejects"] for inp in plan["inputs"])
        done = _done_keys(parts_dir, sources, plan)
        already = sum(int(d.sum()) for d in done)
        if resumed:
            logger.info("resuming: %d of %d conversations already scored", already, n_valid)
        if actors <= 0:
            actors = max(1, int(cpus) - 1)
        elif cpus >= 2 and actors > cpus - 1:
            logger.warning("%d actors would hold every CPU (a Ray Data job then hangs); using %d", actors, int(cpus) - 1)
            actors = int(cpus) - 1
        if threads <= 0:
            # every CPU busy: with cpus - 1 actors of one thread each, one CPU would sit idle (measured
            # on 2 cores: +100% time over the local engine with 1 thread per actor, +19% with 2)
            threads = max(1, int(cpus) // actors)
        shards = _score_shards(plan, done, batch_size, shard_size, actors)
        if shards:
            _score(ray, shards, sources, columns, limits, model, ship_model, threads, actors, cpus, schema, parts_dir, done, n_valid, already, batch_windows)
    finally:
        if started_ray:
            ray.shutdown()

    rows = _finalize(parts_dir, output, schema, sources, plan)
    if rows != n_valid:
        raise ScoreError(f"{output}: {rows} rows but {n_valid} valid conversations; parts kept in {parts_dir}, rerun with --resume")
    job.finished, job.rows, job.rejects = True, rows, n_rejects
    job.save(job_path)
    shutil.rmtree(parts_dir, ignore_errors=True)
    per_input = {s.name: {"rows": sum(b[2] for b in inp["batches"]), "rejects": inp["rejects"]} for s, inp in zip(sources, plan["inputs"])}
    return ScoreSummary(output, rejects_path, rows, n_rejects, time.monotonic() - started, resumed, per_input)


def _load_plan(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _validate(
    ray: Any, sources: list[_Source], columns: ColumnMap, limits: Limits, batch_size: int, cpus: float, val_dir: Path, rejects_path: Path
) -> dict[str, Any]:
    """Phase 1: validate every record on the cluster, write the rejects file, plan the batches."""
    shards: list[dict[str, Any]] = []
    meta: list[dict[str, Any]] = []
    for s in sources:
        n: int | None = None
        hints: list[tuple[int, int]] = []
        if s.seekable:
            n, hints = _scan_jsonl(Path(s.path), limits)
        elif s.fmt == "parquet":
            import pyarrow.parquet as pq

            n = pq.ParquetFile(s.path).metadata.num_rows
        meta.append({"n": n, "hints": hints})
        if n is None:  # CSV, gzip, text folders: one shard (no cheap way to seek)
            shards.append({"input": s.no, "start": 0, "stop": None, "hint": None})
            continue
        per = max(HINT_STRIDE, min(50_000, math.ceil(n / (4 * cpus))))
        per = math.ceil(per / HINT_STRIDE) * HINT_STRIDE
        for start in range(0, n, per):
            h = hints[start // HINT_STRIDE] if s.seekable else None
            shards.append({"input": s.no, "start": start, "stop": min(n, start + per), "hint": [h[0], h[1], start] if h else None})
    for sh in shards:  # keyed by range, not position: a rerun on another cluster size shards differently
        sh["id"] = f"{sh['input']:04d}-{sh['start']:012d}-{'end' if sh['stop'] is None else sh['stop']}"
    saved = {p.stem[len("shard-") :]: p for p in val_dir.glob("shard-*.json")}
    results = {sh["id"]: json.loads(saved[sh["id"]].read_text()) for sh in shards if sh["id"] in saved}
    todo = [sh for sh in shards if sh["id"] not in results]
    logger.info("validating %d shard(s) of %d input(s) (%d already done)", len(todo), len(sources), len(results))
    if todo:
        ds = ray.data.from_items([{"shard": json.dumps(sh)} for sh in todo], override_num_blocks=len(todo))
        ds = ds.map(validate_shard, fn_kwargs={"sources": sources, "columns": columns, "limits": limits}, num_cpus=1)
        for row in _run(ds.iter_rows()):
            res = json.loads(row["result"])
            _atomic_write(val_dir / f"shard-{res['id']}.json", json.dumps(res, ensure_ascii=False).encode())
            results[res["id"]] = res
    # rejects in input order, like the local engine
    tmp = rejects_path.with_name(rejects_path.name + ".tmp")
    rejects_path.parent.mkdir(parents=True, exist_ok=True)
    plan_inputs = []
    with open(tmp, "w", encoding="utf-8") as f:
        for s, m in zip(sources, meta):
            mine = sorted((r for r in results.values() if r["input"] == s.no), key=lambda r: r["start"])
            n = m["n"] if m["n"] is not None else sum(r["n"] for r in mine)
            if sum(r["n"] for r in mine) != n:
                raise ScoreError(f"{s.name}: validation saw {sum(r['n'] for r in mine)} records, expected {n}; did the file change?")
            idx: list[int] = []
            for r in mine:
                for line in r["rejects"]:
                    f.write(line + "\n")
                idx.extend(r["reject_indices"])
            plan_inputs.append({"n": n, "rejects": len(idx), "hints": m["hints"], "batches": plan_batches(n, idx, batch_size)})
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, rejects_path)
    return {"inputs": plan_inputs}


def _done_keys(parts_dir: Path, sources: list[_Source], plan: dict[str, Any]) -> list[Any]:
    """Per input, a bitmap of record indices already in a part file (the checkpoint)."""
    import numpy as np
    import pyarrow.parquet as pq

    done = [np.zeros(inp["n"], dtype=bool) for inp in plan["inputs"]]
    by_name = {s.name: s.no for s in sources}
    for p in sorted(parts_dir.glob("part-*.parquet")):
        t = pq.read_table(p, columns=["input", "index"])
        for name, idx in zip(t.column("input").to_pylist(), t.column("index").to_pylist()):
            done[by_name[name]][idx] = True
    return done


def _score_shards(plan: dict[str, Any], done: list[Any], batch_size: int, shard_size: int, actors: int) -> list[dict[str, Any]]:
    """Group the not-yet-scored batches into shards: enough for every actor, none over ``shard_size``."""
    total = sum(1 for inp in plan["inputs"] for b in inp["batches"] if b[2])
    per = max(1, min(math.ceil(max(shard_size, 1) / batch_size), math.ceil(total / (4 * actors)) if total else 1))
    shards = []
    for no, inp in enumerate(plan["inputs"]):
        batches = [b for b in inp["batches"] if b[2]]
        for k in range(0, len(batches), per):
            group = batches[k : k + per]
            todo = [b for b in group if int(done[no][b[0] : b[1]].sum()) < b[2]]
            if not todo:
                continue
            start = todo[0][0]
            h = inp["hints"][start // HINT_STRIDE] if inp["hints"] else None
            hint = [h[0], h[1], (start // HINT_STRIDE) * HINT_STRIDE] if h else None
            shards.append({"input": no, "batches": todo, "hint": hint})
    return shards


def _run(iterator: Any) -> Iterator[Any]:
    """Iterate a Ray Data result, turning a failed job into one clear error."""
    try:
        yield from iterator
    except (ScoreError, DataError):
        raise
    except Exception as e:
        cause: BaseException | None = e
        while cause is not None:  # Ray wraps worker exceptions; surface ours
            if isinstance(cause, (DataError, ScoreError)):
                raise type(cause)(str(cause)) from e
            cause = cause.__cause__
        raise ScoreError(f"Ray job failed: {e}; finished parts are kept, rerun with --resume") from e


def _score(
    ray: Any,
    shards: list[dict[str, Any]],
    sources: list[_Source],
    columns: ColumnMap,
    limits: Limits,
    model: str | Path,
    ship_model: bool,
    threads: int,
    actors: int,
    cpus: float,
    schema: Any,
    parts_dir: Path,
    done: list[Any],
    n_valid: int,
    already: int,
    batch_windows: bool = False,
) -> None:
    """Phase 2: the actor pool scores shards; the driver writes each returned block as a part."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    model_ref = ray.put(_model_files(Path(model))) if ship_model else None  # held until the job ends
    seq = 1 + max((int(p.stem.split("-")[1]) for p in parts_dir.glob("part-*.parquet")), default=-1)
    ds = ray.data.from_items([{"shard": json.dumps(s)} for s in shards], override_num_blocks=len(shards))
    ds = ds.map_batches(
        ShardScorer,
        fn_constructor_kwargs={
            "model": None if ship_model else str(Path(model).resolve()),
            "model_ref": [model_ref] if model_ref is not None else None,
            "threads": max(1, threads),
            "sources": sources,
            "columns": columns,
            "limits": limits,
            "batch_windows": batch_windows,
        },
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1 if cpus >= 2 else cpus / 2,
    )  # Ray Data's actor pool defaults: max_restarts=-1, max_task_retries=-1 (crashed actors come back)
    logger.info("scoring %d shard(s) on %d actor(s) x %d thread(s)", len(shards), actors, threads)
    by_name = {s.name: s.no for s in sources}
    scored, t0, last_log = already, time.monotonic(), 0.0
    for table in _run(ds.iter_batches(batch_size=None, batch_format="pyarrow")):
        if table.num_rows == 0:
            continue
        names = table.column("input").to_pylist()
        idx = np.asarray(table.column("index").to_pylist(), dtype=np.int64)
        nos = np.asarray([by_name[n] for n in names], dtype=np.int64)
        keep = np.ones(len(idx), dtype=bool)
        for no in np.unique(nos):
            m = nos == no
            keep[m] = ~done[no][idx[m]]
            done[no][idx[m]] = True
        if not keep.all():  # a retried shard delivered rows twice
            logger.warning("dropping %d duplicate row(s) from a retried shard", int((~keep).sum()))
            table = table.filter(pa.array(keep))
        if table.num_rows == 0:
            continue
        table = table.cast(schema)
        final = parts_dir / f"part-{seq:06d}.parquet"
        tmp = parts_dir / f"part-{seq:06d}.parquet.tmp"
        pq.write_table(table, tmp)
        _fsync(tmp)
        os.replace(tmp, final)
        seq += 1
        scored += table.num_rows
        now = time.monotonic()
        if now - last_log > 10:
            rate = (scored - already) / max(now - t0, 1e-9)
            logger.info("scored %d/%d conversations (%.1f/s)", scored, n_valid, rate)
            last_log = now


def _finalize(parts_dir: Path, output: Path, schema: Any, sources: list[_Source], plan: dict[str, Any]) -> int:
    """Merge parts into ``output`` in input order, each record once; returns the row count."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    by_name = {s.name: s.no for s in sources}
    seen = [np.zeros(inp["n"], dtype=bool) for inp in plan["inputs"]]
    keyed = []
    for p in parts_dir.glob("part-*.parquet"):
        t = pq.read_table(p, columns=["input", "index"])
        if t.num_rows:
            keys = [(by_name[n], i) for n, i in zip(t.column("input").to_pylist(), t.column("index").to_pylist())]
            keyed.append((min(keys), p))
    keyed.sort()
    rows = 0
    tmp = output.with_name(output.name + ".tmp")
    with pq.ParquetWriter(tmp, schema) as writer:
        if not keyed:
            writer.write_table(schema.empty_table())
        for _, p in keyed:
            t = pq.read_table(p, schema=schema)
            nos = np.asarray([by_name[n] for n in t.column("input").to_pylist()], dtype=np.int64)
            idx = np.asarray(t.column("index").to_pylist(), dtype=np.int64)
            order = np.lexsort((idx, nos))
            keep = []
            for j in order:
                if not seen[nos[j]][idx[j]]:
                    seen[nos[j]][idx[j]] = True
                    keep.append(j)
            if keep:
                writer.write_table(t.take(pa.array(keep, type=pa.int64())))
                rows += len(keep)
    os.replace(tmp, output)
    return rows


def spark_ddl(scorer: Scorer) -> str:
    """The output schema as a Spark DDL string (for ``mapInPandas``), from ``batch.arrow_schema``."""
    import pyarrow as pa

    def ddl(t: Any) -> str:
        if pa.types.is_list(t):
            return f"array<{ddl(t.value_type)}>"
        return {pa.int64(): "bigint", pa.float64(): "double", pa.string(): "string"}[t]

    return ", ".join(f"`{f.name}` {ddl(f.type)}" for f in arrow_schema(scorer))


__all__ = ["ShardScorer", "item_from_line", "plan_batches", "read_range", "score_archive_ray", "spark_ddl", "validate_shard"]
