"""The scoring service, end to end: a real BentoML server on 127.0.0.1 in a subprocess.

Two servers: one started with ``convo-outcomes serve`` (auth on, tiny model) for scoring, the error
contract, auth, audit and the OpenAPI document; one started with ``bentoml serve`` and the test hooks
``CONVO_OUTCOMES_LOAD_DELAY_S`` / ``CONVO_OUTCOMES_SCORE_DELAY_S`` for readiness during model load,
504, 429 and graceful shutdown. Each server runs in its own session and the whole process group is
killed in teardown.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from convo_outcomes.audit import input_hash
from convo_outcomes.schema import Conversation

BIN = Path(sys.executable).parent
TOKEN_ENV = "CONVO_TEST_SERVICE_TOKEN"
TOKEN = "s3cret-test-token"
STARTUP_S = 180  # servers start slowly on a loaded 2-core machine
MARKER = "zebraquartz"  # appears only in transcript text: must never reach the audit log

pytestmark = pytest.mark.timeout(900)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVO_OUTCOMES_")}
    env.update(BENTOML_DO_NOT_TRACK="True", PYTHONUNBUFFERED="1", **extra)
    return env


class Server:
    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path, port: int):
        self.port = port
        self.log_path = cwd / f"server-{port}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 120, raw: bytes | None = None
    ) -> tuple[int, dict[str, str], Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            data = raw
            if body is not None:
                data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            text = resp.read()
            h = {k.lower(): v for k, v in resp.getheaders()}
            try:
                payload: Any = json.loads(text)
            except ValueError:
                payload = text.decode("utf-8", "replace")
            return resp.status, h, payload
        finally:
            conn.close()

    def status(self, path: str) -> int | None:
        try:
            return self.request("GET", path, timeout=5)[0]
        except OSError:
            return None

    def wait_for(self, path: str, want: int = 200, timeout: float = STARTUP_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            if self.status(path) == want:
                return
            time.sleep(0.2)
        raise AssertionError(f"{path} never answered {want} within {timeout} s:\n{self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers of the group (workers), if any
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.log.close()


def conv(cid: str, n_turns: int = 4, extra_text: str = "", account_value: float | None = None) -> dict[str, Any]:
    words = "refund order card login bill charge cancel plan router parcel".split()
    turns = [
        {"speaker": "customer" if i % 2 == 0 else "agent", "text": " ".join(words[(i + k) % len(words)] for k in range(12)) + f" {MARKER}{i}"}
        for i in range(n_turns)
    ]
    if extra_text:
        turns[0]["text"] += " " + extra_text
    out: dict[str, Any] = {"id": cid, "turns": turns}
    if account_value is not None:
        out["meta"] = {"account_value": account_value}
    return out


AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("svc")
    port = free_port()
    cmd = [
        str(BIN / "convo-outcomes"), "serve", "--host", "127.0.0.1", "--port", str(port), "--model", str(tiny_model),
        "--audit", str(work / "audit" / "decisions.jsonl"), "--auth-token-env", TOKEN_ENV, "--max-batch", "4", "--timeout", "60",
    ]  # fmt: skip
    srv = Server(cmd, clean_env(**{TOKEN_ENV: TOKEN}), work, port)
    srv.audit_path = work / "audit" / "decisions.jsonl"  # type: ignore[attr-defined]
    try:
        srv.wait_for("/readyz")
        yield srv
    finally:
        srv.stop()


# ------------------------------------------------------------------------------------- scoring


def test_score_one_conversation(server: Server, tiny_model: Path) -> None:
    status, headers, body = server.request("POST", "/v1/score", {"conversation": conv("one", account_value=50.0), "request_id": "req-one"}, AUTH)
    assert status == 200, body
    cfg = json.loads((tiny_model / "config.json").read_text())
    assert body["model_version"] == f"{cfg['name']}@{cfg['version']}"
    assert body["model_hash"] == "sha256:" + hashlib.sha256((tiny_model / "manifest.json").read_bytes()).hexdigest()
    assert body["request_id"] == "req-one" == headers["x-request-id"]
    assert body["id"] == "one" and body["partial"] is False and body["n_windows"] >= 1
    assert set(body["heads"]) == set(cfg["label_spec"]["heads"])
    for h in body["heads"].values():
        assert sum(h["probs"].values()) == pytest.approx(1.0, abs=1e-4)
    d = body["decision"]
    assert d["action"] in ("none", "human_review", "retention_offer", "escalate") and d["rule"] and d["reason"]
    assert body["input_hash"] == input_hash(Conversation.model_validate(conv("one", account_value=50.0)).to_json_dict())
    assert "evidence_text" not in body


def test_score_a_list_in_order_and_the_size_bound(server: Server) -> None:
    convs = [conv(f"b{i}", n_turns=2 + i) for i in range(4)]
    status, _, body = server.request("POST", "/v1/score/batch", {"conversations": convs}, AUTH)
    assert status == 200, body
    assert [r["id"] for r in body["results"]] == ["b0", "b1", "b2", "b3"]
    assert body["model_version"] and body["model_hash"].startswith("sha256:")
    status, _, body = server.request("POST", "/v1/score/batch", {"conversations": convs + [conv("b4")]}, AUTH)
    assert status == 400 and body["error"]["field"] == "conversations" and body["error"]["code"] == "validation_error"


def test_mid_call_update_reuses_encoded_windows(server: Server) -> None:
    call = conv("live-call", n_turns=30)
    status, _, first = server.request("POST", "/v1/score", {"conversation": call, "partial": True}, AUTH)
    assert status == 200, first
    n = first["n_windows"]
    assert n >= 6 and first["windows_reused"] == 0 and first["windows_encoded"] == n
    call["turns"].append({"speaker": "customer", "text": "one more thing about my bill"})
    status, _, update = server.request("POST", "/v1/score", {"conversation": call, "partial": True}, AUTH)
    assert status == 200, update
    assert update["windows_encoded"] <= 2 and update["windows_reused"] >= update["n_windows"] - 2
    status, _, final = server.request("POST", "/v1/score", {"conversation": call}, AUTH)  # end of call: reads the cache
    assert status == 200 and final["windows_encoded"] == 0 and final["windows_reused"] == final["n_windows"]


def test_evidence_text_is_redacted(server: Server) -> None:
    pii = "mail jane.doe@example.com or call +1 415-555-0132, card 4111 1111 1111 1111"
    c = conv("evidence", n_turns=1, extra_text=pii)
    status, _, body = server.request("POST", "/v1/score", {"conversation": c, "include_evidence_text": True}, AUTH)
    assert status == 200, body
    snippets = [s for lst in body["evidence_text"].values() for s in lst]
    assert snippets and all(s["turn"] == 0 and s["speaker"] == "customer" for s in snippets)
    text = snippets[0]["text"]
    assert "[EMAIL]" in text and "[PHONE]" in text and "[CARD]" in text
    assert "jane.doe" not in text and "4111" not in text and "555-0132" not in text


# --------------------------------------------------------------------------------- error contract


def assert_error(status: int, body: Any, want_status: int, code: str, field: str | None = None) -> None:
    assert status == want_status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["error"]["field"] == field


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"conversation": {"id": "x", "turns": [{"speaker": "caller", "text": "hi"}]}}, "conversation.turns[0].speaker"),
        ({"conversation": {"id": "x", "turns": [{"speaker": "agent", "text": "hi"}], "colour": "red"}}, "conversation.colour"),
        ({"conversation": {"id": "x", "turns": [{"speaker": "agent", "text": "hi"}]}, "priority": 1}, "priority"),
        ({"conversation": {"id": "x", "turns": []}}, "conversation.turns"),
        ({"conversation": {"id": "x", "turns": [{"speaker": "agent", "text": "hi"}], "meta": {"account_value": "900"}}}, "conversation.meta.account_value"),
        ({"conversation": {"id": "x", "turns": [{"speaker": "agent", "text": "hi"}], "meta": {"account_value": -5}}}, "conversation.meta.account_value"),
        ({"conversation": {"id": "x", "turns": [{"speaker": "agent", "text": "hi"}]}, "partial": "yes"}, "partial"),
        ({"conversations": []}, "conversations"),
        ({}, "conversation"),
        ([], None),
    ],
)
def test_validation_errors_are_400_and_name_the_field(server: Server, payload: Any, field: str | None) -> None:
    status, _, body = server.request("POST", "/v1/score", payload, AUTH)
    assert_error(status, body, 400, "validation_error", field)


def test_malformed_json_empty_body_and_bad_bytes_are_400(server: Server) -> None:
    h = {**AUTH, "Content-Type": "application/json"}
    for raw, code in [(b'{"conversation": ', "malformed_json"), (b"\xff\xfe{", "malformed_json"), (b"", "validation_error"), (b"{,}", "malformed_json")]:
        status, _, body = server.request("POST", "/v1/score", headers=h, raw=raw)
        assert_error(status, body, 400, code)


def test_wrong_content_type_is_415(server: Server) -> None:
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"):
        status, _, body = server.request("POST", "/v1/score", headers={**AUTH, "Content-Type": ctype}, raw=b"{}")
        assert_error(status, body, 415, "unsupported_media_type")
    status, _, body = server.request("POST", "/v1/score", headers=AUTH, raw=b"{}")  # no Content-Type at all
    assert_error(status, body, 415, "unsupported_media_type")


def test_body_over_the_limit_is_413_with_content_length(server: Server) -> None:
    big = {"conversation": {"id": "big", "turns": [{"speaker": "customer", "text": "x" * (1 << 20)}]}}
    status, _, body = server.request("POST", "/v1/score", big, AUTH)
    assert_error(status, body, 413, "body_too_large")


def _raw_http(port: int, head: bytes, chunks: list[bytes]) -> tuple[int, Any]:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(head)
        try:
            for c in chunks:
                s.sendall(c)
        except OSError:
            pass  # the server may answer (and close) before the client finishes sending
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
            next((ln.split(b":")[1] for ln in data.split(b"\r\n") if ln.lower().startswith(b"content-length:")), b"0")
        ):
            part = s.recv(65536)
            if not part:
                break
            data += part
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1])


def test_body_over_the_limit_is_413_when_chunked(server: Server) -> None:
    head = (
        f"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    piece = b" " * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(17)] + [b"0\r\n\r\n"]  # 1.06 MiB > 1 MiB
    status, body = _raw_http(server.port, head, chunks)
    assert_error(status, body, 413, "body_too_large")
    # A declared Content-Length over the limit is refused before any body byte is read.
    head = f"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 50000000\r\n\r\n".encode()
    status, body = _raw_http(server.port, head, [])
    assert_error(status, body, 413, "body_too_large")
    # A small chunked body is fine.
    payload = json.dumps({"conversation": conv("chunked")}).encode()
    head = head.replace(b"Content-Length: 50000000", b"Transfer-Encoding: chunked")
    status, body = _raw_http(server.port, head, [b"%x\r\n%s\r\n" % (len(payload), payload), b"0\r\n\r\n"])
    assert status == 200 and body["id"] == "chunked"


def test_wrong_method_is_405_in_the_error_shape(server: Server) -> None:
    status, _, body = server.request("GET", "/v1/score", headers=AUTH)
    assert_error(status, body, 405, "method_not_allowed")


def test_bearer_token_auth(server: Server) -> None:
    payload = {"conversation": conv("auth")}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}):
        status, h, body = server.request("POST", "/v1/score", payload, headers)
        assert_error(status, body, 401, "unauthorized")
        assert h.get("www-authenticate", "").startswith("Bearer")
        assert h["x-model-version"] and h["x-model-hash"].startswith("sha256:")  # errors name the model too
    assert server.request("POST", "/v1/score", payload, AUTH)[0] == 200
    for path in ("/livez", "/readyz", "/metrics", "/docs.json"):  # probes, metrics and the contract stay open
        assert server.status(path) == 200, path


def test_cli_refuses_to_start_without_the_token_or_model(tiny_model: Path, tmp_path: Path) -> None:
    cli = str(BIN / "convo-outcomes")
    r = subprocess.run([cli, "serve", "--model", str(tiny_model), "--auth-token-env", "CONVO_TEST_UNSET_TOKEN", "--port", str(free_port())],
                       env=clean_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 2 and "CONVO_TEST_UNSET_TOKEN" in r.stderr
    r = subprocess.run([cli, "serve", "--model", str(tmp_path / "nope"), "--port", str(free_port())], env=clean_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "not an exported model folder" in r.stderr
    bad = tmp_path / "policy.yaml"
    bad.write_text("rules:\n  - {name: x, when: 'sentiment.angry > 0.5', action: escalate}\n")
    r = subprocess.run([cli, "serve", "--model", str(tiny_model), "--policy", str(bad), "--port", str(free_port())], env=clean_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "unknown head 'sentiment'" in r.stderr


# ------------------------------------------------------------------------------ audit, metrics, docs


def test_audit_lines_carry_decisions_and_no_raw_text(server: Server) -> None:
    c = conv("audited", n_turns=3, extra_text="my email is jane.doe@example.com", account_value=2000.0)
    status, _, body = server.request("POST", "/v1/score", {"conversation": c, "request_id": "audit-1", "include_evidence_text": True}, AUTH)
    assert status == 200
    text = server.audit_path.read_text()  # type: ignore[attr-defined]
    assert MARKER not in text and "jane.doe" not in text and "refund order card" not in text
    lines = [json.loads(x) for x in text.splitlines()]
    rec = next(r for r in lines if r["request_id"] == "audit-1")
    assert set(rec) >= {"time", "request_id", "model_version", "model_hash", "input_hash", "outputs", "action", "rule", "reason", "latency_ms"}
    assert rec["model_version"] == body["model_version"] and rec["model_hash"] == body["model_hash"]
    assert rec["input_hash"] == body["input_hash"] == input_hash(Conversation.model_validate(c).to_json_dict())
    assert rec["action"] == body["decision"]["action"] and rec["rule"] == body["decision"]["rule"]
    assert set(rec["outputs"]) == set(body["heads"]) and rec["latency_ms"] > 0
    assert rec["conversation_id"] == "audited" and rec["time"].endswith("Z")


def test_metrics_count_decisions(server: Server) -> None:
    status, _, text = server.request("GET", "/metrics")
    assert status == 200 and "convo_outcomes_decisions" in text and "convo_outcomes_score_seconds" in text


def test_openapi_document_is_accurate(server: Server) -> None:
    status, _, doc = server.request("GET", "/docs.json")
    assert status == 200 and doc["openapi"].startswith("3.0")
    assert '"type": "null"' not in json.dumps(doc)  # 3.1-style nullables would make a 3.0 document invalid
    schemas = doc["components"]["schemas"]
    for path, req, ok in (("/v1/score", "ScoreRequest", "ScoreResponse"), ("/v1/score/batch", "ScoreBatchRequest", "ScoreBatchResponse")):
        op = doc["paths"][path]["post"]
        assert op["requestBody"]["required"] is True
        assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"] == f"#/components/schemas/{req}"
        assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] == f"#/components/schemas/{ok}"
        for code in ("400", "401", "413", "415", "429", "503", "504", "default"):
            assert op["responses"][code]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ErrorResponse", code
        assert "422" not in op["responses"]
        assert req in schemas and ok in schemas
    assert schemas["ScoreRequest"]["additionalProperties"] is False and schemas["Conversation"]["additionalProperties"] is False
    assert schemas["ScoreBatchRequest"]["properties"]["conversations"]["maxItems"] == 4
    assert schemas["ErrorDetail"]["required"] == ["code", "message", "field"]


def test_schemathesis_finds_no_server_errors(server: Server, tmp_path: Path) -> None:
    """Property-based run of every operation in /docs.json (fixed seed, bounded examples), all checks."""
    st = shutil.which("schemathesis", path=str(BIN))
    assert st is not None, "schemathesis is not installed: it belongs to the dev extra (pip install 'schemathesis>=4.32,<5')"
    url = f"http://127.0.0.1:{server.port}"
    cmd = [st, "run", f"{url}/docs.json", "--url", url, "--checks", "all", "--seed", "42", "--max-examples", "60", "--workers", "1",
           "--generation-database", "none", "--request-timeout", "60", "-H", f"Authorization: Bearer {TOKEN}"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=clean_env())
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "5xx" not in r.stdout.split("SUMMARY")[-1]


# ------------------------------------------------- readiness, timeout, concurrency, graceful shutdown


@pytest.fixture(scope="module")
def slow_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """``bentoml serve`` with a slow model load (8 s) and slow scoring (1.5 s), timeout 3 s, 3 admitted."""
    work = tmp_path_factory.mktemp("slow")
    port = free_port()
    env = clean_env(
        CONVO_OUTCOMES_MODEL_DIR=str(tiny_model),
        CONVO_OUTCOMES_AUDIT_PATH=str(work / "slow.jsonl"),
        CONVO_OUTCOMES_LOAD_DELAY_S="8",
        CONVO_OUTCOMES_SCORE_DELAY_S="1.5",
        CONVO_OUTCOMES_TIMEOUT_S="3",
        CONVO_OUTCOMES_MAX_CONCURRENCY="3",
    )
    cmd = [sys.executable, "-m", "bentoml", "serve", "convo_outcomes.service:OutcomeService", "--host", "127.0.0.1", "--port", str(port)]
    srv = Server(cmd, env, work, port)
    try:
        # Observe the loading phase as soon as the process answers at all.
        srv.wait_for("/livez")
        srv.observed = {  # type: ignore[attr-defined]
            "readyz": srv.status("/readyz"),
            "score": srv.request("POST", "/v1/score", {"conversation": conv("early")}),
        }
        srv.wait_for("/readyz")
        yield srv
    finally:
        srv.stop()


def test_readyz_only_once_the_model_is_loaded(slow_server: Server) -> None:
    obs = slow_server.observed  # type: ignore[attr-defined]
    assert obs["readyz"] == 503
    status, headers, body = obs["score"]
    assert_error(status, body, 503, "not_ready")
    assert headers.get("retry-after") == "1"
    assert slow_server.status("/readyz") == 200


def test_timeout_is_504_and_overload_is_429(slow_server: Server) -> None:
    results: dict[int, tuple[int, Any]] = {}

    def send(i: int) -> None:
        status, _, body = slow_server.request("POST", "/v1/score", {"conversation": conv(f"load{i}")})
        results[i] = (status, body)

    threads = []
    for i in range(4):  # one scoring thread, 1.5 s each: #0 fits, #2 waits past 3 s, #3 finds 3 admitted
        t = threading.Thread(target=send, args=(i,))
        t.start()
        threads.append(t)
        time.sleep(0.3)
    for t in threads:
        t.join(timeout=60)
    assert results[0][0] == 200, results[0]
    assert_error(*results[3], 429, "too_many_requests")
    timed_out = [results[i] for i in (1, 2) if results[i][0] == 504]
    assert timed_out, results  # the third admitted request cannot start before 3 s
    assert_error(*timed_out[-1], 504, "timeout")
    time.sleep(3.5)  # let the timed-out work drain


def test_graceful_shutdown_completes_the_request_in_flight(slow_server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", slow_server.port, timeout=60)
    conn.request("POST", "/v1/score", body=json.dumps({"conversation": conv("in-flight")}), headers={"Content-Type": "application/json"})
    time.sleep(0.7)  # the request has been sent and is being scored (1.5 s)
    os.kill(slow_server.proc.pid, signal.SIGTERM)  # what a process manager sends to the main process
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 200 and body["id"] == "in-flight", body
    slow_server.proc.wait(timeout=60)
    assert slow_server.status("/livez") is None  # nothing listens any more


# ------------------------------------------------------------------------------- packaging, real model

ROOT = Path(__file__).resolve().parents[1]


def test_bentoml_build_packs_an_importable_package(tmp_path: Path) -> None:
    """`bentoml build` with the src layout: convo_outcomes must import from the Bento's own src folder."""
    env = clean_env(BENTOML_HOME=str(tmp_path / "bentoml"))
    r = subprocess.run([str(BIN / "bentoml"), "build", "-o", "tag"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    bentos = list((tmp_path / "bentoml" / "bentos" / "convo-outcomes").glob("*/src"))
    assert len(bentos) == 1, r.stdout
    src = bentos[0]
    assert (src / "convo_outcomes" / "service.py").exists() and (src / "convo_outcomes" / "resources" / "policy.yaml").exists()
    code = "import sys; sys.path.insert(0, '.'); import convo_outcomes.service as s; print(s.__file__)"
    r = subprocess.run([sys.executable, "-c", code], cwd=src, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert Path(r.stdout.splitlines()[0]).resolve().is_relative_to(src.resolve())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["default", "realtime"])
def test_real_model_scores_and_updates_mid_call(tmp_path: Path, name: str) -> None:
    model = ROOT / "models" / name
    if not (model / "manifest.json").exists():
        pytest.skip(f"models/{name} is not there yet")
    port = free_port()
    cmd = [str(BIN / "convo-outcomes"), "serve", "--port", str(port), "--model", str(model), "--audit", str(tmp_path / "a.jsonl")]
    srv = Server(cmd, clean_env(), tmp_path, port)
    try:
        srv.wait_for("/readyz")
        call = conv("real", n_turns=60)
        status, _, first = srv.request("POST", "/v1/score", {"conversation": call, "partial": True})
        assert status == 200 and first["n_windows"] >= 3 and first["model_version"].startswith(f"{name}@"), first
        call["turns"].append({"speaker": "customer", "text": "and one more question about the refund"})
        status, _, update = srv.request("POST", "/v1/score", {"conversation": call, "partial": True})
        assert status == 200 and update["windows_encoded"] <= 2, update
    finally:
        srv.stop()


def test_batch_windows_setting_reaches_the_scorer(tiny_model: Path) -> None:
    from convo_outcomes.service import Engine, ServiceSettings

    assert ServiceSettings.from_env({}).batch_windows is False  # default: a window per encoder call
    settings = ServiceSettings.from_env({"CONVO_OUTCOMES_MODEL_DIR": str(tiny_model), "CONVO_OUTCOMES_BATCH_WINDOWS": "1", "CONVO_OUTCOMES_AUDIT_PATH": ""})
    engine = Engine(settings, metrics=False)
    engine.start()
    try:
        assert engine.ready.wait(60), engine.error
        assert engine.model is not None and engine.model.scorer.batch_windows is True
    finally:
        engine.close()
