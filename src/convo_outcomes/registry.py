"""Model versions on disk: which exported folder under the models root is promoted, and its history.

Why a file and not a database: a model root is a plain folder (``models/NAME/`` per exported model)
that is copied, mounted and packed into Bentos as is; ``<root>/registry.json`` travels with it::

    {"promoted": "NAME",
     "history": [{"action": "promote" | "rollback", "name", "version", "at", "previous"}, ...]}

The file is replaced atomically (temporary file + ``os.replace``) under a lock, so a reader (the
service watches it) sees the old state or the new one, never half of one. Without the file the
promoted model is ``default`` when ``<root>/default`` exists: a fresh checkout scores with the
shipped model. Rollback undoes promotions in reverse order (replaying the history as a stack), so
promote a, promote b, rollback, rollback returns to what was promoted before a.

Torch-free: the service imports this module.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

logger = logging.getLogger(__name__)

ENV_ROOT = "CONVO_OUTCOMES_MODELS_ROOT"
DEFAULT_ROOT = "models"
DEFAULT_MODEL = "default"
REGISTRY_FILE = "registry.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class RegistryError(RuntimeError):
    """A registry operation cannot be done (unknown or corrupt model, nothing to roll back to)."""


def models_root(root: str | Path | None = None) -> Path:
    """``root`` if given, else ``$CONVO_OUTCOMES_MODELS_ROOT``, else ``models``."""
    return Path(root) if root else Path(os.environ.get(ENV_ROOT) or DEFAULT_ROOT)


def check_name(name: str) -> str:
    """Model names are plain folder names under the root: no paths, no hidden folders."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith(".partial"):
        raise RegistryError(f"model name {name!r}: expected a folder name under the models root (letters, digits, '.', '_', '-'; not a path)")
    return name


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class ModelInfo:
    """What ``models list`` shows for one folder."""

    name: str
    folder: str
    version: str | None
    parent: str | None
    data_hash: str | None
    exported_at: str | None
    heads: list[str]
    size_bytes: int
    promoted: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read_config(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise RegistryError(f"{folder}: cannot read config.json: {e}") from e


def model_ref(folder: Path) -> str:
    """``name@version`` of a model folder: what a child's ``parent`` names."""
    cfg = _read_config(folder)
    return f"{cfg.get('name', folder.name)}@{cfg.get('version', '0')}"


class Registry:
    """The models root and its ``registry.json``."""

    def __init__(self, root: str | Path | None = None):
        self.root = models_root(root)
        self.path = self.root / REGISTRY_FILE

    # ------------------------------------------------------------------------------- state

    def state(self) -> dict[str, Any]:
        """The registry file, or the implied state without one (``default`` promoted when present)."""
        if not self.path.exists():
            return {"promoted": DEFAULT_MODEL if (self.root / DEFAULT_MODEL).is_dir() else None, "history": []}
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError) as e:
            raise RegistryError(f"{self.path}: unreadable registry file: {e}") from e
        if not isinstance(state, dict) or not isinstance(state.get("history", []), list):
            raise RegistryError(f"{self.path}: expected an object with 'promoted' and a 'history' list")
        state.setdefault("history", [])
        state.setdefault("promoted", None)
        return state

    def signature(self) -> tuple[int, int, int] | None:
        """Changes whenever registry.json is replaced (watchers compare it; cheap: one stat)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def promoted_name(self) -> str | None:
        return self.state()["promoted"]

    def folder(self, name: str) -> Path:
        folder = self.root / check_name(name)
        if not (folder / "config.json").exists():
            raise RegistryError(f"no model {name!r} under {self.root} (expected {folder}/config.json); see `convo-outcomes models list`")
        return folder

    def promoted_path(self) -> Path:
        name = self.promoted_name()
        if name is None:
            raise RegistryError(
                f"no promoted model under {self.root} (no {REGISTRY_FILE} and no {DEFAULT_MODEL}/ folder): "
                f"run `convo-outcomes models promote NAME`, set {ENV_ROOT}, or pass --model"
            )
        try:
            return self.folder(name)
        except RegistryError as e:
            raise RegistryError(f"the promoted model {name!r} ({self.path}) is not usable: {e}") from None

    # ------------------------------------------------------------------------------- listing

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and _NAME.fullmatch(p.name) and not p.name.endswith(".partial") and (p / "config.json").exists()
        )

    def info(self, name: str, promoted: str | None = None) -> ModelInfo:
        folder = self.folder(name)
        cfg = _read_config(folder)
        exported = cfg.get("exported_at")
        if not exported:  # folders exported before versions were recorded: the manifest's time
            src = folder / "manifest.json" if (folder / "manifest.json").exists() else folder / "config.json"
            exported = datetime.fromtimestamp(src.stat().st_mtime, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        data_hash = cfg.get("data_hash") or cfg.get("training", {}).get("data_hash")
        return ModelInfo(
            name=name,
            folder=str(folder),
            version=cfg.get("version"),
            parent=cfg.get("parent"),
            data_hash=data_hash,
            exported_at=exported,
            heads=list(cfg.get("heads") or cfg.get("label_spec", {}).get("heads", {})),
            size_bytes=sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
            promoted=name == promoted,
        )

    def list(self) -> list[ModelInfo]:
        promoted = self.promoted_name()
        return [self.info(n, promoted) for n in self.names()]

    # ------------------------------------------------------------------------------- changes

    def promote(self, name: str) -> dict[str, Any] | None:
        """Make ``name`` the promoted model once it loads; None when it already is."""
        with self._locked():
            state = self.state()
            folder = self.folder(name)
            if state["promoted"] == name:
                return None
            version = verify_loads(folder)
            return self._switch(state, "promote", name, version)

    def rollback(self) -> dict[str, Any]:
        """Return to the model promoted before the current one (promotions undone newest first)."""
        with self._locked():
            state = self.state()
            stack = rollback_stack(state["history"])
            if not stack:
                raise RegistryError(
                    f"nothing to roll back to: {state['promoted'] or 'no model'} is promoted and the history under {self.path} "
                    "has no earlier promoted model"
                )
            target = stack[-1]
            try:
                version = verify_loads(self.folder(target))
            except RegistryError as e:
                raise RegistryError(f"cannot roll back to {target!r}: {e}") from None
            return self._switch(state, "rollback", target, version)

    def _switch(self, state: dict[str, Any], action: str, name: str, version: str | None) -> dict[str, Any]:
        entry = {"action": action, "name": name, "version": version, "at": _now(), "previous": state["promoted"]}
        new = {"promoted": name, "history": [*state["history"], entry]}
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".registry.", suffix=".tmp", dir=self.root)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(new, f, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        logger.info("%s: %s -> %s (%s)", action, state["promoted"], name, version)
        return entry

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (read-modify-write of the history); readers need no lock."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY)  # the root folder itself: no lock file left behind
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    # ------------------------------------------------------------------------------- BentoML

    def push(self, name: str, bento_name: str | None = None) -> str:
        """Copy a verified model folder into the BentoML model store; returns the tag."""
        from .runtime import ModelLoadError, verify_manifest

        folder = self.folder(name)
        try:
            manifest = verify_manifest(folder)
        except ModelLoadError as e:
            raise RegistryError(str(e)) from None
        try:
            import bentoml
            from bentoml.exceptions import BentoMLException
        except ImportError as e:
            raise RegistryError("pushing to the BentoML model store needs the serve extra (pip install 'convo-outcomes[serve]')") from e
        cfg = _read_config(folder)
        labels = {"project": "convo-outcomes", "model": name, "version": str(cfg.get("version", ""))}
        metadata = {
            k: v
            for k, v in {
                "name": cfg.get("name", name),
                "version": cfg.get("version"),
                "parent": cfg.get("parent"),
                "data_hash": cfg.get("data_hash") or cfg.get("training", {}).get("data_hash"),
                "heads": list(cfg.get("heads", [])),
                "format": cfg.get("format"),
                "manifest_files": len(manifest.get("files", {})),
            }.items()
            if v is not None
        }
        bento_name = bento_name or f"convo-outcomes-{name}".lower()
        try:
            with bentoml.models.create(bento_name, labels=labels, metadata=metadata) as model:
                shutil.copytree(folder, model.path, dirs_exist_ok=True)
            tag = str(model.tag)
            stored = Path(bentoml.models.get(tag).path)
        except (BentoMLException, ValueError) as e:
            raise RegistryError(f"BentoML model store refused {bento_name!r}: {e}") from e
        try:
            verify_manifest(stored)  # the stored copy must be byte-identical to the folder
        except ModelLoadError as e:
            raise RegistryError(f"stored copy of {name} is not intact: {e}") from None
        logger.info("pushed %s (%s) to the BentoML model store as %s", name, cfg.get("version"), tag)
        return tag


def rollback_stack(history: list[dict[str, Any]]) -> list[str]:
    """Models a rollback can return to, oldest first: each promote pushes what it replaced, each rollback pops."""
    stack: list[str] = []
    for e in history:
        if e.get("action") == "promote" and e.get("previous"):
            stack.append(e["previous"])
        elif e.get("action") == "rollback" and stack:
            stack.pop()
    return stack


def verify_loads(folder: Path) -> str | None:
    """Refuse a folder that does not load (manifest mismatch, wrong format); returns its version."""
    from .runtime import ModelLoadError, Scorer

    try:
        scorer = Scorer.load(folder, threads=1)
    except ModelLoadError as e:
        raise RegistryError(f"refusing {folder.name}: {e}") from None
    return scorer.config.get("version")


def resolve_model(model: str | Path | None, root: str | Path | None = None) -> Path:
    """The folder to score with: None -> the promoted model; a bare name -> root/name; a path -> itself."""
    reg = Registry(root)
    if model is None or str(model) == "":
        return reg.promoted_path()
    text = str(model)
    if "/" not in text and os.sep not in text and not text.startswith(".") and _NAME.fullmatch(text):
        candidate = reg.root / text
        if (candidate / "config.json").exists():
            return candidate
        if not Path(text).exists():
            raise RegistryError(f"no model {text!r} under {reg.root} and no folder {text!r} here; see `convo-outcomes models list`")
    return Path(model)


# Plain functions for the CLI and notebooks.


def list_models(root: str | Path | None = None) -> list[ModelInfo]:
    return Registry(root).list()


def promote(name: str, root: str | Path | None = None) -> dict[str, Any] | None:
    return Registry(root).promote(name)


def rollback(root: str | Path | None = None) -> dict[str, Any]:
    return Registry(root).rollback()


def push(name: str, root: str | Path | None = None, bento_name: str | None = None) -> str:
    return Registry(root).push(name, bento_name)
