"""Real-time and mid-call scoring service (BentoML 1.4 + a mounted FastAPI app).

Why this shape:

* The scoring routes are plain FastAPI routes mounted into the BentoML service, not ``@bentoml.api``
  endpoints: BentoML's adaptive batcher keeps a high wait time for minutes after a burst, and the
  FastAPI layer gives full control over the error contract (one JSON shape, 400/401/413/415/429/504)
  and an accurate OpenAPI document (BentoML merges a mounted FastAPI app's paths into ``/docs.json``).
* Scoring runs in a small thread pool (onnxruntime releases the GIL), so the event loop keeps
  answering probes, rejections and timeouts while a request is being scored.
* The model is loaded once per worker, in a background thread started when the worker starts:
  ``/livez`` answers at once, ``/readyz`` only once the model (and policy, and audit log) are loaded.
* Mid-call requests (``"partial": true``) read and fill a bounded content-keyed window cache; final
  requests only read it, so an end-of-call score after mid-call updates is cheap too, and one-off
  conversations do not evict live calls.

Settings travel from ``convo-outcomes serve`` to BentoML's worker processes as environment variables
(``CONVO_OUTCOMES_*``), which is also how ``bentoml serve`` and a built Bento are configured.
"""

import asyncio
import concurrent.futures
import dataclasses
import hashlib
import hmac
import json
import logging
import math
import os
import re
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, NoReturn

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from .schema import Conversation

logger = logging.getLogger(__name__)

ENV_PREFIX = "CONVO_OUTCOMES_"
SERVICE_NAME = "convo_outcomes"
SNIPPET_CHARS = 300
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class ServiceConfigError(ValueError):
    """Settings that cannot work (missing model folder, bad policy, token variable unset)."""


# ------------------------------------------------------------------------------------- settings


@dataclasses.dataclass(frozen=True)
class ServiceSettings:
    """Everything the service reads at start; each field maps to ``CONVO_OUTCOMES_<FIELD>``."""

    # Empty: the promoted model of ``models_root`` (see registry.py), followed when promotion changes;
    # a folder: that model, fixed.
    model_dir: str = ""
    models_root: str = "models"  # also $CONVO_OUTCOMES_MODELS_ROOT for the registry commands
    policy_path: str = ""  # empty: the packaged default policy
    audit_path: str = "audit/decisions.jsonl"  # empty: no audit log
    audit_max_bytes: int = 50 << 20
    audit_backups: int = 5
    audit_evidence_text: bool = False  # also write (redacted) evidence snippets into audit lines
    auth_token_env: str = "CONVO_OUTCOMES_API_TOKEN"  # name of the variable holding the bearer token
    auth_required: bool = False  # refuse to serve when the token variable is unset (set by --auth-token-env)
    max_body_bytes: int = 1 << 20
    max_batch: int = 32
    # Scoring requests admitted per worker (running + queued); more get 429 at once. The queue a burst
    # leaves behind drains in max_concurrency x scoring time (16 x ~45 ms for a 500-token call on 2
    # cores), which bounds both the worst wait and the recovery time after a burst.
    max_concurrency: int = 16
    timeout_s: float = 10.0
    cache_bytes: int = 64 << 20
    threads: int = 0  # onnxruntime intra-op threads; 0 = all cores
    # Batch a request's windows into shared encoder calls (larger matmuls): int8 scores then depend on what
    # else is in the call and on the mid-call cache's history (see Scorer.batch_windows).
    batch_windows: bool = False
    scoring_threads: int = 1
    workers: int = 1
    load_delay_s: float = 0.0  # test hook: simulate a slow model load
    score_delay_s: float = 0.0  # test hook: simulate slow scoring (timeouts, 429, graceful shutdown)

    def __post_init__(self) -> None:
        checks = {
            "audit_max_bytes": self.audit_max_bytes >= 1024,
            "audit_backups": self.audit_backups >= 0,
            "max_body_bytes": self.max_body_bytes >= 1024,
            "max_batch": 1 <= self.max_batch <= 10_000,
            "max_concurrency": self.max_concurrency >= 1,
            "timeout_s": self.timeout_s > 0,
            "cache_bytes": self.cache_bytes >= 0,
            "threads": self.threads >= 0,
            "scoring_threads": self.scoring_threads >= 1,
            "workers": self.workers >= 1,
            "load_delay_s": self.load_delay_s >= 0,
            "score_delay_s": self.score_delay_s >= 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ServiceConfigError(f"invalid service settings: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "ServiceSettings":
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            try:
                if f.type in ("int", int):
                    values[f.name] = int(raw)
                elif f.type in ("float", float):
                    values[f.name] = float(raw)
                elif f.type in ("bool", bool):
                    values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
                else:
                    values[f.name] = raw
            except ValueError:
                raise ServiceConfigError(f"{ENV_PREFIX}{f.name.upper()}={raw!r}: expected {f.type}") from None
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[ENV_PREFIX + f.name.upper()] = ("1" if v else "0") if isinstance(v, bool) else str(v)
        return out


def model_hash(folder: str | Path) -> str:
    """sha256 of the model folder's manifest.json: names the exact files (weights, tokenizer, config)."""
    return "sha256:" + hashlib.sha256((Path(folder) / "manifest.json").read_bytes()).hexdigest()


def resolve_model_dir(settings: ServiceSettings) -> tuple[Path, bool]:
    """The folder to load, and whether to follow promotion (no explicit model_dir)."""
    if settings.model_dir:
        return Path(settings.model_dir), False
    from .registry import Registry, RegistryError

    try:
        return Registry(settings.models_root).promoted_path(), True
    except RegistryError as e:
        raise ServiceConfigError(str(e)) from e


def check_settings(settings: ServiceSettings) -> None:
    """Fail fast, before any server starts: model folder, policy vs the model's heads, auth token."""
    from .labels import LabelSpec
    from .policy import Policy, PolicyError

    folder = resolve_model_dir(settings)[0]
    cfg_path = folder / "config.json"
    if not cfg_path.exists() or not (folder / "manifest.json").exists():
        raise ServiceConfigError(f"{folder}: not an exported model folder (needs config.json and manifest.json); see `convo-outcomes export`")
    try:
        config = json.loads(cfg_path.read_text())
        spec = LabelSpec.from_dict(config["label_spec"], origin=str(cfg_path))
        policy = Policy.load(settings.policy_path) if settings.policy_path else Policy.default()
        policy.check_heads({h.name: h.classes for h in spec})
    except PolicyError as e:
        raise ServiceConfigError(str(e)) from e
    except (KeyError, ValueError) as e:
        raise ServiceConfigError(f"{cfg_path}: cannot read the label spec: {e}") from e
    if settings.auth_required and not os.environ.get(settings.auth_token_env):
        raise ServiceConfigError(f"bearer-token auth was asked for but environment variable {settings.auth_token_env} is empty or unset")


# ------------------------------------------------------------------------------ wire models


class ScoreRequest(BaseModel):
    """Score one conversation: the whole transcript, or (``partial``) the transcript so far of a live call."""

    model_config = ConfigDict(extra="forbid")

    conversation: Conversation
    partial: StrictBool = Field(False, description="A live call's growing transcript: windows already seen are reused.")
    request_id: StrictStr | None = Field(
        None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$", description="Echoed in the response and audit log; generated when absent."
    )
    include_evidence_text: StrictBool = Field(False, description="Return the (PII-redacted) text of each head's evidence turns.")


def _batch_request_model(max_batch: int) -> type[BaseModel]:
    class ScoreBatchRequest(BaseModel):
        """Score a list of conversations (at most the configured batch size) in one call."""

        model_config = ConfigDict(extra="forbid")

        conversations: list[Conversation] = Field(min_length=1, max_length=max_batch)
        partial: StrictBool = False
        request_id: StrictStr | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
        include_evidence_text: StrictBool = False

    return ScoreBatchRequest


class HeadOutput(BaseModel):
    label: str
    probs: dict[str, float] = Field(description="Calibrated probability per class.")
    confidence: float
    evidence: list[int] = Field(description="Indices of the turns that drove this head, most influential first.")
    evidence_weights: list[float]


class EvidenceSnippet(BaseModel):
    turn: int
    speaker: str
    text: str = Field(description="Turn text with PII redacted, cut to 300 characters.")


class Comparison(BaseModel):
    expr: str
    left: float | None
    op: str
    right: float | None
    result: bool


class DecisionOut(BaseModel):
    action: str
    rule: str = Field(description="Name of the policy rule that decided ('default' when none matched).")
    reason: str = Field(description="The comparison(s) that made the rule fire, with the values compared.")
    abstained: bool
    deciding_head: str | None
    confidence: float | None
    min_confidence: float | None
    values: dict[str, float | None]
    comparisons: list[Comparison]


class ScoreResult(BaseModel):
    id: str
    input_hash: str = Field(description="sha256 of the conversation's canonical JSON (as in the audit log).")
    n_tokens: int
    n_windows: int
    windows_dropped: int
    heads: dict[str, HeadOutput]
    decision: DecisionOut
    evidence_text: dict[str, list[EvidenceSnippet]] | None = None


class Envelope(BaseModel):
    request_id: str
    model_version: str
    model_hash: str
    partial: bool
    windows_encoded: int = Field(description="Windows run through the encoder for this request.")
    windows_reused: int = Field(description="Windows served from the mid-call cache.")
    latency_ms: float


class ScoreResponse(Envelope, ScoreResult):
    pass


class ScoreBatchResponse(Envelope):
    results: list[ScoreResult]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. validation_error, body_too_large.")
    message: str
    field: str | None = Field(description="Path of the offending request field (e.g. conversation.turns[0].speaker), if any.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


# ---------------------------------------------------------------------------------- the engine


class _CacheView:
    """Per-request window-cache view: counts this request's hits; ``write=False`` never inserts."""

    def __init__(self, cache: Any, write: bool):
        self.cache = cache
        self.write = write
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any:
        v = self.cache.get(key)
        if v is None:
            self.misses += 1
        else:
            self.hits += 1
        return v

    def put(self, key: str, value: Any) -> None:
        if self.write:
            self.cache.put(key, value)


class _Ids:
    __slots__ = ("ids",)

    def __init__(self, ids: list[int]):
        self.ids = ids


class _TokenCache:
    """Bounded LRU of token ids per rendered turn text (thread-safe).

    A mid-call update re-sends every turn; tokenising ~3,000 tokens again would cost about as much as
    encoding the one new window, so turns already seen are not tokenised again. Turns are tokenised
    independently of each other, so cached ids are exactly what the tokenizer would return.
    """

    def __init__(self, max_bytes: int):
        from collections import OrderedDict

        self.max_bytes = max_bytes
        self._d: "OrderedDict[str, list[int]]" = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, text: str) -> list[int] | None:
        with self._lock:
            v = self._d.get(text)
            if v is not None:
                self._d.move_to_end(text)
            return v

    def put(self, text: str, ids: list[int]) -> None:
        size = len(text) + 8 * len(ids) + 100
        with self._lock:
            if text in self._d:
                return
            self._d[text] = ids
            self._bytes += size
            while self._bytes > self.max_bytes and self._d:
                t, old = self._d.popitem(last=False)
                self._bytes -= len(t) + 8 * len(old) + 100


class _CachingTokenizer:
    """Stands in for the model's ``tokenizers.Tokenizer`` inside the runtime's Windower."""

    def __init__(self, inner: Any, cache: _TokenCache, write: bool):
        self.inner, self.cache, self.write = inner, cache, write

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def no_truncation(self) -> None:  # the inner tokenizer is already configured by its own Windower
        pass

    def no_padding(self) -> None:
        pass

    def encode_batch(self, texts: list[str], add_special_tokens: bool = False) -> list[Any]:
        out: list[Any] = [None] * len(texts)
        todo = []
        for i, t in enumerate(texts):
            ids = self.cache.get(t)
            if ids is None:
                todo.append(i)
            else:
                out[i] = _Ids(ids)
        if todo:
            encs = self.inner.encode_batch([texts[i] for i in todo], add_special_tokens=add_special_tokens)
            for i, e in zip(todo, encs):
                out[i] = _Ids(e.ids)
                if self.write:
                    self.cache.put(texts[i], e.ids)
        return out


class _Metrics:
    """Prometheus metrics through bentoml.metrics (multiprocess-safe); created in the worker."""

    def __init__(self) -> None:
        try:
            import bentoml

            m = bentoml.metrics
            self.decisions = m.Counter(name="convo_outcomes_decisions", documentation="Decisions by action and rule", labelnames=["action", "rule"])
            self.errors = m.Counter(name="convo_outcomes_errors", documentation="Error responses by code", labelnames=["code"])
            self.latency = m.Histogram(
                name="convo_outcomes_score_seconds",
                documentation="Scoring request latency (receipt to response)",
                labelnames=["route", "partial"],
                buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            )
            self.windows = m.Counter(name="convo_outcomes_windows", documentation="Windows encoded or reused from the mid-call cache", labelnames=["source"])
        except Exception:  # metrics must never stop scoring
            logger.warning("metrics unavailable", exc_info=True)
            self.decisions = self.errors = self.latency = self.windows = None

    def error(self, code: str) -> None:
        if self.errors is not None:
            self.errors.labels(code=code).inc()


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A model with everything keyed to it (window and token caches): swapped as one on promotion,
    so a request scored on one model never reads another model's cached window encodings."""

    folder: Path
    scorer: Any
    version: str
    hash: str
    cache: Any  # WindowCache, or None when the cache is off
    windowers: dict[bool, Any]


WATCH_INTERVAL_S = 1.0  # how often a service following the promoted model stats registry.json


class Engine:
    """Model, policy, cache, audit log and scoring pool of one worker process.

    Started without an explicit model folder, it serves the promoted model and follows promotion:
    a thread stats ``registry.json`` every second, loads a newly promoted model beside the current
    one and swaps the reference; requests already scoring finish on the model they started with.
    """

    def __init__(self, settings: ServiceSettings, metrics: bool = True):
        from .audit import Redactor

        self.settings = settings
        self.model: LoadedModel | None = None
        self.policy: Any = None
        self.audit: Any = None
        self.error: str | None = None
        self.ready = threading.Event()
        self.redactor = Redactor()
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=settings.scoring_threads, thread_name_prefix="convo-score")
        self.inflight = 0  # touched on the event loop only
        self.token = os.environ.get(settings.auth_token_env, "") if settings.auth_token_env else ""
        self.metrics = _Metrics() if metrics else None
        self._thread: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def scorer(self) -> Any:
        return self.model.scorer if self.model is not None else None

    @property
    def model_version(self) -> str:
        return self.model.version if self.model is not None else ""

    @property
    def model_hash(self) -> str:
        return self.model.hash if self.model is not None else ""

    # ------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._thread = threading.Thread(target=self._load, name="convo-load", daemon=True)
        self._thread.start()

    def _load_model(self, folder: Path, policy: Any) -> LoadedModel:
        """Load, check against the policy and warm up one model folder (caches of its own)."""
        from .runtime import Scorer, WindowCache

        s = self.settings
        scorer = Scorer.load(folder, threads=s.threads or None, batch_windows=s.batch_windows)
        policy.check_heads({h: scorer.spec[h].classes for h in scorer.head_names})
        scorer.score([{"id": "warm-up", "turns": [{"speaker": "customer", "text": "hello, warming up"}]}])
        windowers: dict[bool, Any] = {}
        if s.cache_bytes:
            tokens = _TokenCache(max(s.cache_bytes // 4, 1 << 20))
            w = scorer.windower
            windowers = {write: dataclasses.replace(w, tokenizer=_CachingTokenizer(w.tokenizer, tokens, write)) for write in (True, False)}
        cache = WindowCache(s.cache_bytes) if s.cache_bytes else None
        return LoadedModel(Path(folder), scorer, scorer.version, model_hash(folder), cache, windowers)

    def _load(self) -> None:
        from .audit import AuditLog
        from .policy import Policy
        from .registry import Registry

        s = self.settings
        try:
            if s.auth_required and not self.token:
                raise ServiceConfigError(f"bearer-token auth is required but {s.auth_token_env} is empty or unset")
            if s.load_delay_s:
                time.sleep(s.load_delay_s)
            registry = Registry(s.models_root)
            seen = registry.signature()  # before resolving: a promotion during the load is not missed
            folder, follow = resolve_model_dir(s)
            policy = Policy.load(s.policy_path) if s.policy_path else Policy.default()
            model = self._load_model(folder, policy)
            audit = None
            if s.audit_path:
                audit = AuditLog(_worker_path(s.audit_path, s.workers), s.audit_max_bytes, s.audit_backups, redactor=self.redactor)
            self.policy, self.audit, self.model = policy, audit, model
            self.ready.set()
            logger.info(
                "model %s (%s) loaded from %s%s; policy %s; audit %s",
                model.version, model.hash[:19], folder, f" (promoted in {registry.root}, followed)" if follow else "", policy.origin, audit.path if audit else "off",
            )  # fmt: skip
            if follow:
                self._watcher = threading.Thread(target=self._watch, args=(registry, seen), name="convo-registry-watch", daemon=True)
                self._watcher.start()
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
            logger.error("service cannot become ready: %s", self.error)

    def _watch(self, registry: Any, seen: Any) -> None:
        """Follow promotion: on a registry change, load the promoted model and swap it in."""
        while not self._stop.wait(WATCH_INTERVAL_S):
            sig = registry.signature()
            if sig == seen:
                continue
            seen = sig
            current = self.model
            try:
                folder = registry.promoted_path()
                if current is not None and folder.resolve() == current.folder.resolve():
                    continue
                t0 = time.perf_counter()
                new = self._load_model(folder, self.policy)
            except Exception as e:  # RegistryError, ModelLoadError, PolicyError...: keep serving the current model
                logger.error("registry changed but the promoted model cannot be served; still serving %s: %s", self.model_version, e)
                continue
            self.model = new  # one reference assignment: each request uses the model it started with
            logger.info(
                "promoted model swapped: %s -> %s (%s, %s) loaded in %.1f s",
                current.version if current else "none", new.version, folder, new.hash[:19], time.perf_counter() - t0,
            )  # fmt: skip

    def close(self) -> None:
        self._stop.set()
        self.executor.shutdown(wait=True)
        if self.audit is not None:
            self.audit.close()

    # --------------------------------------------------------------------------- scoring

    def score(self, convs: list[Conversation], partial: bool, evidence_text: bool) -> tuple[list[dict[str, Any]], dict[str, int], LoadedModel]:
        """Runs in a scoring thread: model outputs + policy decision per conversation, and the model used."""
        from .audit import input_hash

        m = self.model  # read once: a promotion swap mid-request does not mix two models
        if self.settings.score_delay_s:
            time.sleep(self.settings.score_delay_s)
        view = _CacheView(m.cache, write=partial) if m.cache is not None else None
        scorer = m.scorer
        if view is not None:
            scorer = dataclasses.replace(m.scorer, cache=view, windower=m.windowers[partial])
        preds = scorer.score(convs)
        n_windows = sum(p.n_windows for p in preds)
        reused = view.hits if view is not None else 0
        out = []
        for conv, pred in zip(convs, preds):
            d = pred.to_dict()
            account_value = conv.meta.account_value
            decision = self.policy.decide(d["heads"], account_value=account_value, partial=partial)
            item = {
                "id": d["id"],
                "input_hash": input_hash(conv.to_json_dict()),
                "n_tokens": d["n_tokens"],
                "n_windows": d["n_windows"],
                "windows_dropped": d["windows_dropped"],
                "heads": d["heads"],
                "decision": _finite(decision.to_dict()),
            }
            if evidence_text or self.settings.audit_evidence_text:
                item["evidence_text"] = {
                    h: [
                        {
                            "turn": t,
                            "speaker": conv.turns[t].speaker,
                            "text": self.redactor.redact(" ".join(conv.turns[t].text.split()))[:SNIPPET_CHARS],
                        }
                        for t in r["evidence"]
                    ]
                    for h, r in d["heads"].items()
                }
            out.append(item)
        return out, {"windows_encoded": n_windows - reused, "windows_reused": reused}, m

    def audit_record(
        self, request_id: str, item: dict[str, Any], index: int | None, partial: bool, latency_ms: float, model: LoadedModel | None = None
    ) -> dict[str, Any]:
        """One audit line: identifiers, hashes, outputs per head, decision, latency; no transcript text."""
        model = model or self.model
        rec: dict[str, Any] = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "request_id": request_id,
            "item": index,
            "conversation_id": self.redactor.redact(item["id"]),
            "model_version": model.version,
            "model_hash": model.hash,
            "input_hash": item["input_hash"],
            "partial": partial,
            "n_tokens": item["n_tokens"],
            "outputs": {h: {"label": r["label"], "probs": r["probs"], "confidence": r["confidence"], "evidence": r["evidence"]} for h, r in item["heads"].items()},
            "action": item["decision"]["action"],
            "rule": item["decision"]["rule"],
            "abstained": item["decision"]["abstained"],
            "reason": item["decision"]["reason"],
            "latency_ms": latency_ms,
        }
        if self.settings.audit_evidence_text and "evidence_text" in item:
            rec["evidence_text"] = item["evidence_text"]  # already redacted
        return rec


def _worker_path(path: str, workers: int) -> Path:
    """One audit file per worker process (rotation by rename is not safe across processes)."""
    p = Path(path)
    if workers <= 1:
        return p
    try:
        from bentoml._internal.context import server_context

        idx = server_context.worker_index or os.getpid()
    except Exception:
        idx = os.getpid()
    return p.with_name(f"{p.stem}.worker{idx}{p.suffix}")


def _finite(obj: Any) -> Any:
    """JSON cannot carry inf/nan: replace them with None (values from huge inputs)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


# ------------------------------------------------------------------------------ ASGI guard


class RequestGuard:
    """Pure ASGI middleware in front of the scoring routes: auth (401), content type (415), body limit
    (413, for Content-Length and chunked bodies). It buffers the (bounded) body and replays it, so the
    app never reads more than ``max_body_bytes``."""

    def __init__(self, app: Any, get_engine: Callable[[], "Engine | None"], settings: ServiceSettings):
        self.app = app
        self.get_engine = get_engine
        self.settings = settings

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["t0"] = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        engine = self.get_engine()
        if engine is not None and engine.model_version:
            send = _with_model_headers(send, engine)
        if scope.get("path") == "/docs.json":  # the public contract, like BentoML's probes, needs no token
            await self.app(scope, receive, send)
            return
        if engine is not None and (engine.token or engine.settings.auth_required):
            auth = headers.get("authorization", "")
            scheme, _, given = auth.partition(" ")
            if scheme.lower() != "bearer" or not engine.token or not hmac.compare_digest(given.strip().encode(), engine.token.encode()):
                await _send_error(send, 401, "unauthorized", "missing or wrong bearer token (Authorization: Bearer <token>)", None, engine, {"www-authenticate": 'Bearer realm="convo-outcomes"'})
                return
        if scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        if engine is not None and engine.inflight >= engine.settings.max_concurrency:
            # Shed load before reading or validating the body: under a burst, a rejection must cost
            # next to nothing. (The handler checks again when it admits the request.)
            limit = engine.settings.max_concurrency
            await _send_error(send, 429, "too_many_requests", f"over the concurrency limit of {limit} requests per worker; retry", None, engine, {"retry-after": "1"})
            return
        ctype = headers.get("content-type", "")
        media, _, params = ctype.partition(";")
        charset = ""
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k.strip().lower() == "charset":
                charset = v.strip().strip('"').lower()
        if media.strip().lower() != "application/json" or charset not in ("", "utf-8", "utf8"):
            await _send_error(send, 415, "unsupported_media_type", f"expected Content-Type: application/json, found {ctype or 'none'!r}", None, engine)
            return
        limit = self.settings.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _send_error(send, 400, "bad_request", f"invalid Content-Length {declared!r}", None, engine)
                return
            if int(declared) > limit:
                await _send_error(send, 413, "body_too_large", f"request body of {int(declared)} bytes is over the {limit}-byte limit", None, engine)
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await _send_error(send, 413, "body_too_large", f"request body is over the {limit}-byte limit", None, engine)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        buffered = b"".join(chunks)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": buffered, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _with_model_headers(send: Callable, engine: Engine) -> Callable:
    """Every response (errors too) names the model that is serving: X-Model-Version, X-Model-Hash.

    A scoring response already names the model that scored it (set by the handler; it may differ
    from the current one right after a promotion swap); other responses get the current model."""

    async def wrapped(message: dict) -> None:
        if message["type"] == "http.response.start":
            headers = message.get("headers", [])
            if not any(k.lower() == b"x-model-version" for k, _ in headers):
                extra = [(b"x-model-version", engine.model_version.encode("latin-1", "replace")), (b"x-model-hash", engine.model_hash.encode())]
                message = {**message, "headers": [*headers, *extra]}
        await send(message)

    return wrapped


async def _send_error(send: Callable, status: int, code: str, message: str, field: str | None, engine: Engine | None, headers: dict[str, str] | None = None) -> None:
    if engine is not None and engine.metrics is not None:
        engine.metrics.error(code)
    body = json.dumps(error_body(code, message, field)).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    hdrs += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------------------- the app


def _field_path(loc: tuple) -> str | None:
    parts = [p for p in loc if p != "body"]
    if not parts:
        return None
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class ApiError(Exception):
    """An error response in the contract's shape, raised from request handling."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


def parse_body(model: type[BaseModel], raw: bytes) -> Any:
    """Validate a JSON body straight from bytes (unknown fields are refused by the models).

    The request's own fields are strict (0 is not false); the conversation keeps the coercions of
    :mod:`convo_outcomes.schema` that archive reading relies on (integer ids, null meta), which
    /docs.json states, except that numbers (money, times) must be JSON numbers (see _check_numbers)."""
    from pydantic import ValidationError

    if not raw.strip():
        raise ApiError(400, "validation_error", "request body is required", None)
    try:
        parsed = model.model_validate_json(raw)
    except ValidationError as e:
        errs = e.errors(include_url=False, include_input=False)
        # An unknown field usually explains the rest (a misspelt key is also a missing one): name it first.
        errs.sort(key=lambda x: x["type"] != "extra_forbidden")
        first = errs[0]
        if first["type"] == "json_invalid":
            raise ApiError(400, "malformed_json", f"request body is not valid JSON: {first['msg']}") from None
        field = _field_path(tuple(first["loc"]))
        msg = f"unknown field {field!r}" if first["type"] == "extra_forbidden" else first["msg"]
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        raise ApiError(400, "validation_error", f"{field or 'body'}: {msg}{more}", field) from None
    except ValueError as e:  # e.g. undecodable bytes
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {e}") from None
    _check_numbers(json.loads(raw))
    return parsed


def _check_numbers(body: Any) -> None:
    """Money and times must be JSON numbers: the lax conversation contract would read ``false`` or
    ``"12"`` as a number, which a decision on money must not do silently."""
    convs = [("conversation", body.get("conversation"))] if "conversation" in body else [
        (f"conversations[{i}]", c) for i, c in enumerate(body.get("conversations") or [])
    ]
    for prefix, conv in convs:
        if not isinstance(conv, dict):
            continue
        checks = []
        meta = conv.get("meta")
        if isinstance(meta, dict):
            checks.append((f"{prefix}.meta.account_value", meta.get("account_value")))
        for j, turn in enumerate(conv.get("turns") or []):
            if isinstance(turn, dict):
                checks.append((f"{prefix}.turns[{j}].start_s", turn.get("start_s")))
        for field, v in checks:
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ApiError(400, "validation_error", f"{field}: must be a finite JSON number", field)


def document(spec: dict[str, Any], request_models: list[type[BaseModel]]) -> dict[str, Any]:
    """The served OpenAPI document: BentoML's spec + request schemas, valid OpenAPI 3.0.

    Also states the leniencies the conversation contract has on purpose (numeric ids from CSV
    archives; null labels/meta meaning empty), so that the document says exactly what is accepted.
    """
    spec = json.loads(json.dumps(spec))
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in request_models:
        js = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, d in js.pop("$defs", {}).items():
            schemas[name] = d
        schemas[model.__name__] = js
    conv = schemas.get("Conversation", {}).get("properties", {})
    if "id" in conv:
        conv["id"] = {"anyOf": [conv["id"], {"type": "integer"}], "title": "Id", "description": "Conversation id (integers are read as strings)."}
    for key in ("labels", "meta"):
        if key in conv:
            conv[key] = {"anyOf": [conv[key], {"type": "null"}], "description": f"{key}; null means empty"}
    meta = schemas.get("Meta", {}).get("properties", {})
    if "started_at" in meta:
        meta["started_at"] = {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "number", "minimum": -62135596800000, "maximum": 253402300799999},
                {"type": "null"},
            ],
            "title": "Started At",
            "description": "ISO 8601 date-time, or Unix time (seconds; milliseconds when the magnitude is over 2e10).",
        }
    if "customer_id" in meta:
        meta["customer_id"] = {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}], "title": "Customer Id"}
    return openapi_30(spec)


def create_app(settings: ServiceSettings, engine_ref: dict[str, Engine] | None = None):
    """The FastAPI app with the scoring routes; ``engine_ref['engine']`` is set per worker at start."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    ref: dict[str, Engine] = engine_ref if engine_ref is not None else {}
    BatchRequest = _batch_request_model(settings.max_batch)
    err = {"model": ErrorResponse}
    responses: dict[int | str, dict[str, Any]] = {
        400: {**err, "description": "Malformed JSON or a validation error (unknown fields are rejected); `field` names the path."},
        401: {**err, "description": "Bearer token missing or wrong (only when the service is configured with a token)."},
        413: {**err, "description": "Request body over the configured limit (Content-Length or chunked)."},
        415: {**err, "description": "Content-Type is not application/json."},
        429: {**err, "description": "Over the concurrency limit; retry later."},
        503: {**err, "description": "Model not loaded yet (see /readyz)."},
        504: {**err, "description": "Scoring took longer than the configured timeout."},
        "default": {**err, "description": "Any other error, in the same shape."},
    }
    app = FastAPI(
        title="convo-outcomes",
        version="1",
        description="Conversation outcome scoring with policy decisions. Every non-200 response is an ErrorResponse.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine_ref = ref
    app.add_middleware(RequestGuard, get_engine=lambda: ref.get("engine"), settings=settings)

    def error(status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
        engine = ref.get("engine")
        if engine is not None and engine.metrics is not None:
            engine.metrics.error(code)
        return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "malformed_json", 404: "not_found", 405: "method_not_allowed"}
        return error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), None, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s", request.url.path)
        return error(500, "internal_error", "unexpected server error; see the server log")

    async def run(request: Request, convs: list[Conversation], partial: bool, evidence: bool, request_id: str | None, batch: bool) -> JSONResponse:
        engine = ref.get("engine")
        given = request.headers.get("x-request-id", "")
        rid = request_id or (given if _REQUEST_ID.fullmatch(given) else "") or uuid.uuid4().hex
        hdr = {"x-request-id": rid}
        if engine is None or not engine.ready.is_set():
            why = f"model failed to load: {engine.error}" if engine is not None and engine.error else "model is loading; poll /readyz"
            return error(503, "not_ready", why, None, {**hdr, "retry-after": "1"})
        if engine.inflight >= engine.settings.max_concurrency:
            return error(429, "too_many_requests", f"over the concurrency limit of {engine.settings.max_concurrency} requests per worker; retry", None, {**hdr, "retry-after": "1"})
        t0 = request.state.t0 if hasattr(request.state, "t0") else time.perf_counter()
        loop = asyncio.get_running_loop()
        engine.inflight += 1

        def release(_: Any) -> None:
            loop.call_soon_threadsafe(_dec, engine)

        cf = engine.executor.submit(engine.score, convs, partial, evidence)
        cf.add_done_callback(release)
        remaining = engine.settings.timeout_s - (time.perf_counter() - t0)
        try:
            items, counts, served = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(cf)), max(remaining, 0.001))
        except asyncio.TimeoutError:
            cf.cancel()  # frees the slot now if it never started; else the slot is freed when it ends
            return error(504, "timeout", f"scoring took longer than {engine.settings.timeout_s:g} s", None, hdr)
        latency_ms = round((time.perf_counter() - t0) * 1000, 2)
        if engine.audit is not None:
            for i, item in enumerate(items):
                engine.audit.write(engine.audit_record(rid, item, i if batch else None, partial, latency_ms, served))
        m = engine.metrics
        if m is not None and m.decisions is not None:
            for item in items:
                m.decisions.labels(action=item["decision"]["action"], rule=item["decision"]["rule"]).inc()
            m.latency.labels(route="batch" if batch else "single", partial=str(partial).lower()).observe(latency_ms / 1000)
            m.windows.labels(source="encoded").inc(counts["windows_encoded"])
            m.windows.labels(source="cache").inc(counts["windows_reused"])
        for item in items:
            if not evidence:
                item.pop("evidence_text", None)
        envelope = {"request_id": rid, "model_version": served.version, "model_hash": served.hash, "partial": partial, **counts, "latency_ms": latency_ms}
        body = {**envelope, "results": items} if batch else {**envelope, **items[0]}
        named = {"x-model-version": served.version.encode("latin-1", "replace").decode("latin-1"), "x-model-hash": served.hash}
        return JSONResponse(body, headers={**hdr, **named})

    def body_doc(model: type[BaseModel]) -> dict[str, Any]:
        # The body is parsed in the handler (body limit first, one error shape), so it is declared by hand.
        ref_ = {"$ref": f"#/components/schemas/{model.__name__}"}
        return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref_}}}}

    @app.post(
        "/v1/score",
        response_model=ScoreResponse,
        responses=responses,
        openapi_extra=body_doc(ScoreRequest),
        summary="Score one conversation (full, or partial for a live call)",
        description=(
            "Returns calibrated probabilities, labels and evidence per head, the policy decision with the rule "
            "that fired and why, the model version and hash. Send `partial: true` while a call is live: windows "
            "already encoded are reused, so an update costs about one window."
        ),
    )
    async def score(request: Request) -> JSONResponse:
        body = parse_body(ScoreRequest, await request.body())
        return await run(request, [body.conversation], body.partial, body.include_evidence_text, body.request_id, batch=False)

    @app.post(
        "/v1/score/batch",
        response_model=ScoreBatchResponse,
        responses=responses,
        openapi_extra=body_doc(BatchRequest),
        summary=f"Score up to {settings.max_batch} conversations",
        description="Same outputs as /v1/score, one result per conversation, in order.",
    )
    async def score_batch(request: Request) -> JSONResponse:
        body = parse_body(BatchRequest, await request.body())
        return await run(request, list(body.conversations), body.partial, body.include_evidence_text, body.request_id, batch=True)

    @app.get("/docs.json", include_in_schema=False)
    async def openapi_doc() -> JSONResponse:
        # BentoML's /docs.json merges this app's paths; it is served from here instead (this mount is
        # matched before BentoML's route) to add the request schemas and make the document valid 3.0.
        if "spec" not in spec_cache:
            spec_cache["spec"] = document(OutcomeService.openapi_spec.asdict(), [ScoreRequest, BatchRequest])
        return JSONResponse(spec_cache["spec"])

    spec_cache: dict[str, Any] = {}
    return app


def openapi_30(obj: Any) -> Any:
    """Rewrite ``anyOf: [X, {type: null}]`` (OpenAPI 3.1 / JSON Schema) as ``X`` + ``nullable: true`` (3.0)."""
    if isinstance(obj, list):
        return [openapi_30(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {k: openapi_30(v) for k, v in obj.items()}
    any_of = out.get("anyOf")
    if isinstance(any_of, list) and any(isinstance(s, dict) and s.get("type") == "null" for s in any_of):
        rest = [s for s in any_of if not (isinstance(s, dict) and s.get("type") == "null")]
        del out["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            out = {**rest[0], **out}
        elif len(rest) == 1:
            out["allOf"] = rest
        else:
            out["anyOf"] = rest
        out["nullable"] = True
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]  # OpenAPI 3.0: nullable does not extend an enum
        if out.get("default", 0) is None:
            del out["default"]
    return out


def _dec(engine: Engine) -> None:
    engine.inflight -= 1


# ------------------------------------------------------------------------- BentoML service

SETTINGS = ServiceSettings.from_env()
_ENGINE_REF: dict[str, Engine] = {}
app = create_app(SETTINGS, _ENGINE_REF)

try:
    import bentoml
except ImportError:  # pragma: no cover - the serve extra is not installed
    bentoml = None  # type: ignore[assignment]

if bentoml is not None:

    @bentoml.service(
        name=SERVICE_NAME,
        workers=SETTINGS.workers,
        # Backstop only: our own timeout (504 in the error shape) fires first.
        traffic={"timeout": SETTINGS.timeout_s + 30},
    )
    @bentoml.asgi_app(app, path="/")
    class OutcomeService:
        """convo-outcomes scoring: POST /v1/score, POST /v1/score/batch; probes /livez /readyz; /metrics; /docs.json."""

        def __init__(self) -> None:
            # The worker is an application entry point: BentoML leaves other loggers at WARNING, which
            # would hide which model was loaded and promotion swaps.
            pkg_logger = logging.getLogger(__name__.rpartition(".")[0] or __name__)
            if pkg_logger.level == logging.NOTSET:
                pkg_logger.setLevel(logging.INFO)
            self.engine = Engine(SETTINGS)
            _ENGINE_REF["engine"] = self.engine
            self.engine.start()

        def __is_ready__(self) -> bool:
            return self.engine.ready.is_set()

        @bentoml.on_shutdown
        def shutdown(self) -> None:
            self.engine.close()


def serve(settings: ServiceSettings, host: str = "127.0.0.1", port: int = 3000) -> NoReturn:
    """Check the settings, then replace this process with ``bentoml serve`` configured by environment.

    exec (not a child process) so that signals from a process manager reach BentoML directly:
    SIGTERM stops accepting connections and lets in-flight requests finish.
    """
    check_settings(settings)
    env = dict(os.environ)
    env.update(settings.to_env())
    env.setdefault("BENTOML_DO_NOT_TRACK", "True")
    argv = [sys.executable, "-m", "bentoml", "serve", f"{__name__}:OutcomeService", "--host", host, "--port", str(port)]
    logger.info("starting: %s", " ".join(argv[2:]))
    os.execvpe(sys.executable, argv, env)
