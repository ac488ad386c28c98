"""Model versions: registry state and history, refusal of corrupt folders, model resolution, the
``models`` CLI, export of version/parent/data hash, the BentoML model store, and a real server that
follows promotion and returns to the previous model's exact outputs on rollback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from convo_outcomes.cli import app
from convo_outcomes.registry import ENV_ROOT, REGISTRY_FILE, Registry, RegistryError, resolve_model, rollback_stack
from convo_outcomes.runtime import Scorer, verify_manifest

from tests.conftest import make_archive

BIN = Path(sys.executable).parent
DATA_HASH = "ab" * 32


def write_manifest(folder: Path) -> None:
    from convo_outcomes.export import write_manifest as _write  # export.py imports torch: only when needed

    _write(folder)


def bundle(root: Path, name: str, src: Path, version: str, perturb: int | None = None, **extra: Any) -> Path:
    """A copy of the tiny bundle as models/NAME with its own name/version; ``perturb`` (a seed)
    changes every head's classifier weights so that its outputs differ."""
    folder = root / name
    shutil.copytree(src, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(name=name, version=version, **extra)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    if perturb is not None:
        onnx = pytest.importorskip("onnx")
        from onnx import numpy_helper

        rng = np.random.default_rng(perturb)
        graph = onnx.load(str(folder / "heads.onnx"))
        for init in graph.graph.initializer:
            if init.name.startswith("model.classifier."):
                w = numpy_helper.to_array(init)
                init.CopyFrom(numpy_helper.from_array((w + rng.normal(0, 1.0, w.shape)).astype(w.dtype), init.name))
        onnx.save(graph, str(folder / "heads.onnx"))
    write_manifest(folder)
    return folder


@pytest.fixture()
def root(tmp_path: Path, tiny_model: Path) -> Path:
    r = tmp_path / "models"
    r.mkdir()
    bundle(r, "default", tiny_model, "0.1.0")
    bundle(r, "a", tiny_model, "1.0.0", parent="default@0.1.0", data_hash=DATA_HASH)
    bundle(r, "b", tiny_model, "2.0.0", perturb=1, parent="a@1.0.0")
    return r


# ------------------------------------------------------------------------------------- registry


def test_promote_records_history_and_rollback_undoes_newest_first(root: Path) -> None:
    reg = Registry(root)
    assert reg.promoted_name() == "default" and not reg.path.exists()  # implied by the default folder
    e1 = reg.promote("a")
    e2 = reg.promote("b")
    assert (e1["previous"], e2["previous"]) == ("default", "a") and (e1["version"], e2["version"]) == ("1.0.0", "2.0.0")
    assert reg.promote("b") is None  # already promoted: no history entry
    assert reg.promoted_path() == root / "b"
    back = reg.rollback()
    assert (back["action"], back["name"], back["version"], back["previous"]) == ("rollback", "a", "1.0.0", "b")
    assert reg.rollback()["name"] == "default"
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        reg.rollback()
    state = json.loads((root / REGISTRY_FILE).read_text())
    assert state["promoted"] == "default"
    assert [(h["action"], h["name"], h["previous"]) for h in state["history"]] == [
        ("promote", "a", "default"), ("promote", "b", "a"), ("rollback", "a", "b"), ("rollback", "default", "a"),
    ]  # fmt: skip
    for h in state["history"]:
        assert datetime.fromisoformat(h["at"].replace("Z", "+00:00")).utcoffset().total_seconds() == 0
    assert sorted(p.name for p in root.iterdir() if not p.is_dir()) == [REGISTRY_FILE]  # no temporary or lock files left


def test_concurrent_promotions_lose_no_history(root: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:  # each call opens its own lock: they serialise like processes
        results = list(pool.map(lambda i: Registry(root).promote("ab"[i % 2]), range(12)))
    changed = [r for r in results if r is not None]
    history = Registry(root).state()["history"]
    assert len(history) == len(changed) >= 1
    for prev, cur in zip(history, history[1:]):
        assert cur["previous"] == prev["name"]  # every entry saw the state the one before it wrote


def test_rollback_stack_replays_promotions_and_rollbacks() -> None:
    hist = [
        {"action": "promote", "name": "a", "previous": None},
        {"action": "promote", "name": "b", "previous": "a"},
        {"action": "promote", "name": "c", "previous": "b"},
        {"action": "rollback", "name": "b", "previous": "c"},
        {"action": "promote", "name": "d", "previous": "b"},
    ]
    assert rollback_stack(hist) == ["a", "b"]
    assert rollback_stack(hist[:1]) == []


def test_rollback_without_a_previous_model_is_a_clear_error(tmp_path: Path, tiny_model: Path) -> None:
    r = tmp_path / "models"
    bundle(r, "only", tiny_model, "1.0.0")
    reg = Registry(r)
    assert reg.promoted_name() is None
    with pytest.raises(RegistryError, match="no promoted model"):
        reg.promoted_path()
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        reg.rollback()
    reg.promote("only")  # nothing was promoted before: still nothing to return to
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        reg.rollback()
    assert reg.promoted_name() == "only"


def test_promote_refuses_a_corrupt_folder_and_keeps_the_promoted_one(root: Path) -> None:
    reg = Registry(root)
    reg.promote("a")
    before = (root / REGISTRY_FILE).read_bytes()
    heads = root / "b" / "heads.onnx"
    data = bytearray(heads.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    heads.write_bytes(bytes(data))
    with pytest.raises(RegistryError, match=r"refusing b: .*heads.onnx: sha256 differs"):
        reg.promote("b")
    assert (root / REGISTRY_FILE).read_bytes() == before and reg.promoted_name() == "a"
    with pytest.raises(RegistryError, match="no model 'nope'"):
        reg.promote("nope")
    for bad in ("../a", "a/b", ".hidden", ""):
        with pytest.raises(RegistryError, match="expected a folder name"):
            reg.promote(bad)


def test_list_shows_versions_parents_data_hash_and_the_promoted_marker(root: Path) -> None:
    (root / "stray").mkdir()  # not a model folder: not listed
    Registry(root).promote("b")
    infos = {i.name: i for i in Registry(root).list()}
    assert sorted(infos) == ["a", "b", "default"]
    assert [n for n, i in infos.items() if i.promoted] == ["b"]
    a = infos["a"]
    assert (a.version, a.parent, a.data_hash) == ("1.0.0", "default@0.1.0", DATA_HASH)
    assert a.heads == json.loads((root / "a" / "config.json").read_text())["heads"]
    assert a.size_bytes == sum(p.stat().st_size for p in (root / "a").iterdir())
    assert datetime.fromisoformat(a.exported_at.replace("Z", "+00:00"))


def test_resolve_model_none_name_and_path(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_model(None, root) == root / "default"
    Registry(root).promote("a")
    assert resolve_model(None, root) == root / "a"
    assert resolve_model("b", root) == root / "b"
    assert resolve_model(root / "b", root) == root / "b"
    assert resolve_model(str(tmp_path / "elsewhere"), root) == tmp_path / "elsewhere"  # a path is itself
    with pytest.raises(RegistryError, match="no model 'missing'"):
        resolve_model("missing", root)
    monkeypatch.setenv(ENV_ROOT, str(root))
    assert resolve_model(None) == root / "a" and Registry().root == root


def test_registry_and_service_resolution_never_import_torch(root: Path) -> None:
    code = (
        "import sys; from convo_outcomes.registry import Registry, resolve_model; "
        "from convo_outcomes.service import ServiceSettings, resolve_model_dir; "
        f"r = Registry({str(root)!r}); r.promote('b'); r.list(); r.rollback(); "
        f"assert resolve_model_dir(ServiceSettings(models_root={str(root)!r}))[0].name == 'default'; "
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------------------------------------ CLI


def test_cli_list_promote_rollback_and_score_with_the_promoted_model(root: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {ENV_ROOT: str(root)}
    r = runner.invoke(app, ["models", "list"], env=env)
    assert r.exit_code == 0, r.output
    rows = {line.split()[1] if line.startswith("*") else line.split()[0]: line for line in r.output.splitlines()[1:4]}
    assert rows["default"].startswith("*") and "default@0.1.0" in rows["a"] and DATA_HASH[:12] in rows["a"]
    r = runner.invoke(app, ["models", "promote", "b"], env=env)
    assert r.exit_code == 0 and "promoted b (2.0.0); previous: default" in r.output, r.output
    r = runner.invoke(app, ["models", "list", "--json"], env=env)
    listed = json.loads(r.output)
    assert [m["name"] for m in listed["models"] if m["promoted"]] == ["b"] and listed["root"] == str(root)

    archive = tmp_path / "calls.jsonl"
    make_archive(archive, 6, seed=3)
    out = tmp_path / "scores.jsonl"
    r = runner.invoke(app, ["score", str(archive), "--output", str(out)], env=env)  # no --model: the promoted one
    assert r.exit_code == 0, r.output
    rows_b = [json.loads(line) for line in out.read_text().splitlines()]
    assert {row["model_version"] for row in rows_b} == {"b@2.0.0"} and len(rows_b) == 6
    r = runner.invoke(app, ["score", str(archive), "--model", "a", "--output", str(tmp_path / "a.jsonl")], env=env)
    assert r.exit_code == 0, r.output
    assert {json.loads(line)["model_version"] for line in (tmp_path / "a.jsonl").read_text().splitlines()} == {"a@1.0.0"}

    r = runner.invoke(app, ["models", "rollback"], env=env)
    assert r.exit_code == 0 and "rolled back to default (0.1.0); previous: b" in r.output, r.output
    r = runner.invoke(app, ["models", "rollback"], env=env)
    assert r.exit_code == 2 and "nothing to roll back to" in r.output
    r = runner.invoke(app, ["models", "promote", "nope"], env=env)
    assert r.exit_code == 2 and "no model 'nope'" in r.output


def test_push_copies_a_verified_folder_into_the_bentoml_model_store(root: Path, tmp_path: Path) -> None:
    pytest.importorskip("bentoml")
    home = tmp_path / "bentoml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVO_OUTCOMES_")}
    env.update(BENTOML_HOME=str(home), BENTOML_DO_NOT_TRACK="True")
    cmd = [str(BIN / "convo-outcomes"), "models", "push", "a", "--root", str(root)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    tag = r.stdout.strip().rsplit(" ", 1)[-1]
    name, version = tag.split(":")
    assert name == "convo-outcomes-a" and version
    stored = home / "models" / name / version
    verify_manifest(stored)  # every file of the folder, byte for byte
    assert json.loads((stored / "config.json").read_bytes()) == json.loads((root / "a" / "config.json").read_bytes())
    meta = (stored / "model.yaml").read_text()
    assert "version: 1.0.0" in meta and DATA_HASH in meta and "default@0.1.0" in meta
    # A corrupt folder is refused before anything is stored.
    (root / "b" / "tokenizer.json").write_text("{}")
    r = subprocess.run(cmd[:3] + ["b", "--root", str(root), "--bento-name", "other"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "tokenizer.json" in r.stderr
    assert not (home / "models" / "other").exists()


# --------------------------------------------------------------------------------------- export


def test_export_records_version_parent_and_the_training_data_hash(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from convo_outcomes.export import ExportError, export_model
    from convo_outcomes.labels import LabelSpec
    from convo_outcomes.model import OutcomeModel, build_encoder
    from convo_outcomes.render import WindowConfig

    torch.manual_seed(0)
    enc, tok = build_encoder("tiny", tiny_hidden=32, tiny_layers=1, attn_implementation="eager")
    model = OutcomeModel(enc, LabelSpec.default(), WindowConfig(max_length=32, overlap=4, max_windows=8))
    ck = tmp_path / "ck"
    model.save(ck, tok)
    cfg_path = ck / "outcome_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.setdefault("training", {})["data_hash"] = DATA_HASH
    cfg_path.write_text(json.dumps(cfg))
    out = tmp_path / "models" / "child"
    export_model(ck, out, quantize="none", version="0.3.0", parent="default@0.1.0")
    exported = json.loads((out / "config.json").read_text())
    assert (exported["version"], exported["parent"], exported["data_hash"]) == ("0.3.0", "default@0.1.0", DATA_HASH)
    assert exported["training"]["data_hash"] == DATA_HASH and exported["exported_at"].endswith("Z")
    info = Registry(tmp_path / "models").info("child")
    assert (info.version, info.parent, info.data_hash, info.exported_at) == ("0.3.0", "default@0.1.0", DATA_HASH, exported["exported_at"])
    with pytest.raises(ExportError, match="NAME@VERSION"):
        export_model(ck, tmp_path / "bad", quantize="none", parent="default")
    with pytest.raises(ExportError, match="version"):
        export_model(ck, tmp_path / "bad", quantize="none", version="1 0")


# ------------------------------------------------------------------------------- service engine


def test_engine_swaps_on_promotion_finishes_in_flight_work_on_the_old_model_and_survives_a_bad_one(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from convo_outcomes import service
    from convo_outcomes.schema import Conversation

    monkeypatch.setattr(service, "WATCH_INTERVAL_S", 0.05)
    Registry(root).promote("a")
    settings = service.ServiceSettings(models_root=str(root), audit_path="", score_delay_s=1.0, cache_bytes=1 << 20)
    engine = service.Engine(settings, metrics=False)
    engine.start()
    assert engine.ready.wait(60), engine.error
    convs = [Conversation.model_validate({"id": "x", "turns": [{"speaker": "customer", "text": "my parcel never arrived, refund please"}]})]

    def wait_for(version: str) -> None:
        deadline = time.monotonic() + 30
        while engine.model_version != version and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine.model_version == version

    got: dict[str, Any] = {}
    t = threading.Thread(target=lambda: got.update(r=engine.score(convs, True, False)))
    t.start()  # scoring starts on a, sleeps 1 s (score_delay_s), meanwhile b is promoted and swapped in
    time.sleep(0.2)
    Registry(root).promote("b")
    wait_for("b@2.0.0")
    t.join(30)
    items, _, served = got["r"]
    assert served.version == "a@1.0.0"  # the request in flight finished on the model it started with
    _, _, now = engine.score(convs, False, False)
    assert now.version == "b@2.0.0" and now.cache is not served.cache  # window caches are per model

    # A hand-edited registry pointing at a corrupt folder: the engine keeps serving b.
    shutil.copytree(root / "a", root / "broken")
    (root / "broken" / "encoder.onnx").write_bytes(b"not an onnx file")
    (root / REGISTRY_FILE).write_text(json.dumps({"promoted": "broken", "history": []}))
    time.sleep(1.0)
    assert engine.model_version == "b@2.0.0" and engine.ready.is_set()
    engine.close()


# ------------------------------------------------------------------------------- real service


def _score_until(srv: Any, body: dict[str, Any], version: str, timeout: float = 120) -> dict[str, Any]:
    """Score until the response comes from ``version`` (the service swaps within a second or two)."""
    deadline = time.monotonic() + timeout
    while True:
        status, headers, resp = srv.request("POST", "/v1/score", body)
        assert status == 200, resp
        assert headers["x-model-version"] == resp["model_version"]
        if resp["model_version"] == version or time.monotonic() > deadline:
            return resp
        time.sleep(0.3)


@pytest.mark.timeout(600)
def test_service_follows_promotion_and_rollback_restores_exact_outputs(tmp_path: Path, tiny_model: Path) -> None:
    from tests.test_service import Server, clean_env, conv, free_port

    root = tmp_path / "models"
    a = bundle(root, "a", tiny_model, "1.0.0")
    b = bundle(root, "b", tiny_model, "2.0.0", perturb=7, parent="a@1.0.0")
    reg = Registry(root)
    reg.promote("a")
    port = free_port()
    cmd = [str(BIN / "convo-outcomes"), "serve", "--host", "127.0.0.1", "--port", str(port), "--audit", str(tmp_path / "audit.jsonl")]
    srv = Server(cmd, clean_env(**{ENV_ROOT: str(root)}), tmp_path, port)
    try:
        srv.wait_for("/readyz")
        body = {"conversation": conv("promo", n_turns=6)}
        status, _, first = srv.request("POST", "/v1/score", body)
        assert status == 200 and first["model_version"] == "a@1.0.0", first

        reg.promote("b")
        second = _score_until(srv, body, "b@2.0.0")
        assert second["model_version"] == "b@2.0.0", f"the service never switched to b:\n{srv.tail()}"
        assert second["model_hash"] != first["model_hash"]
        assert second["heads"] != first["heads"]
        changed = [h for h in first["heads"] if first["heads"][h]["probs"] != second["heads"][h]["probs"]]
        assert len(changed) == len(first["heads"]), changed  # every head's classifier was perturbed

        reg.rollback()
        third = _score_until(srv, body, "a@1.0.0")
        assert third["model_version"] == "a@1.0.0", f"the service never returned to a:\n{srv.tail()}"
        assert third["model_hash"] == first["model_hash"]
        assert json.dumps(third["heads"], sort_keys=True) == json.dumps(first["heads"], sort_keys=True)  # exactly
        assert third["decision"] == first["decision"]
        log = srv.log_path.read_text(errors="replace")
        assert "promoted model swapped: a@1.0.0 -> b@2.0.0" in log and "promoted model swapped: b@2.0.0 -> a@1.0.0" in log
        assert srv.status("/readyz") == 200
    finally:
        srv.stop()
    # the audit log names the model that scored each request
    versions = [json.loads(line)["model_version"] for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert versions[0] == "a@1.0.0" and "b@2.0.0" in versions and versions[-1] == "a@1.0.0"
    assert a.exists() and b.exists()
