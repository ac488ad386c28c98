"""Label spec: which heads a model has, their classes, and which record label fields feed them.

Torch-free: the runtime and the service read the same spec the trainer wrote into the model folder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

logger = logging.getLogger(__name__)

HEAD_TYPES = ("binary", "multiclass", "ordinal")


class LabelSpecError(ValueError):
    """A label spec file is malformed; the message names the head and field."""


def _key(value: Any) -> str:
    """Map keys compare as strings so that YAML ``true`` and JSON ``true`` meet."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class LabelSource:
    field: str
    map: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HeadSpec:
    name: str
    type: str
    classes: tuple[str, ...]
    description: str = ""
    sources: tuple[LabelSource, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in HEAD_TYPES:
            raise LabelSpecError(
                f"head {self.name!r}: field 'type' must be one of {HEAD_TYPES}, found {self.type!r}"
            )
        if len(self.classes) < 2:
            raise LabelSpecError(
                f"head {self.name!r}: field 'classes' needs at least 2 classes, found {list(self.classes)}"
            )
        if self.type == "binary" and len(self.classes) != 2:
            raise LabelSpecError(
                f"head {self.name!r}: a binary head has exactly 2 classes, found {len(self.classes)}"
            )
        if len(set(self.classes)) != len(self.classes):
            raise LabelSpecError(f"head {self.name!r}: field 'classes' has duplicates: {list(self.classes)}")
        if not self.sources:
            raise LabelSpecError(f"head {self.name!r}: field 'sources' must name at least one label field")
        for src in self.sources:
            bad = sorted(set(src.map.values()) - set(self.classes))
            if bad:
                raise LabelSpecError(
                    f"head {self.name!r}: source {src.field!r} maps to unknown classes {bad}; "
                    f"expected one of {list(self.classes)}"
                )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def index(self, cls: str) -> int:
        return self.classes.index(cls)

    def target(self, labels: Mapping[str, Any]) -> int | None:
        """Class index for this head from a record's labels, or None when unknown (masked in training)."""
        for src in self.sources:
            if src.field not in labels or labels[src.field] is None:
                continue
            raw = labels[src.field]
            if isinstance(raw, list):  # multi-valued source labels (STAR cause_multi) do not feed a head
                return None
            value = src.map.get(_key(raw), raw if isinstance(raw, str) else None)
            if value in self.classes:
                return self.classes.index(value)
            return None
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "classes": list(self.classes),
            "description": self.description,
            "sources": [
                {"field": s.field, **({"map": dict(s.map)} if s.map else {})} for s in self.sources
            ],
        }


@dataclass(frozen=True)
class LabelSpec:
    heads: tuple[HeadSpec, ...]
    name: str = "default"
    version: int = 1

    def __post_init__(self) -> None:
        if not self.heads:
            raise LabelSpecError("label spec: field 'heads' is empty; expected at least one head")
        names = [h.name for h in self.heads]
        if len(set(names)) != len(names):
            raise LabelSpecError(f"label spec: duplicate head names in {names}")

    @property
    def head_names(self) -> list[str]:
        return [h.name for h in self.heads]

    def __getitem__(self, name: str) -> HeadSpec:
        for h in self.heads:
            if h.name == name:
                return h
        raise KeyError(f"no head {name!r} in label spec {self.name!r}; heads: {self.head_names}")

    def __iter__(self):
        return iter(self.heads)

    def targets(self, labels: Mapping[str, Any]) -> dict[str, int | None]:
        return {h.name: h.target(labels) for h in self.heads}

    def label_fields(self) -> list[str]:
        return sorted({s.field for h in self.heads for s in h.sources})

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "heads": {h.name: h.to_dict() for h in self.heads},
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "<dict>") -> "LabelSpec":
        if not isinstance(data, Mapping) or not isinstance(data.get("heads"), Mapping):
            raise LabelSpecError(f"{origin}: expected a mapping with a 'heads' mapping")
        heads = []
        for name, h in data["heads"].items():
            if not isinstance(h, Mapping):
                raise LabelSpecError(f"{origin}: head {name!r} must be a mapping, found {type(h).__name__}")
            unknown = set(h) - {"type", "classes", "description", "sources"}
            if unknown:
                raise LabelSpecError(f"{origin}: head {name!r} has unknown fields {sorted(unknown)}")
            sources = []
            for s in h.get("sources") or []:
                if isinstance(s, str):
                    s = {"field": s}
                if not isinstance(s, Mapping) or "field" not in s:
                    raise LabelSpecError(f"{origin}: head {name!r}: each source needs a 'field', found {s!r}")
                sources.append(
                    LabelSource(field=str(s["field"]), map={_key(k): str(v) for k, v in (s.get("map") or {}).items()})
                )
            heads.append(
                HeadSpec(
                    name=str(name),
                    type=str(h.get("type", "")),
                    classes=tuple(str(c) for c in h.get("classes") or ()),
                    description=str(h.get("description", "")).strip(),
                    sources=tuple(sources),
                )
            )
        return cls(heads=tuple(heads), name=str(data.get("name", "custom")), version=int(data.get("version", 1)))

    @classmethod
    def load(cls, path: str | Path) -> "LabelSpec":
        """A spec file, or a model folder (its ``label_spec.yaml``).

        A file may start from another spec with ``extends: default | PATH`` (a spec file or a model
        folder, relative to this file): its ``heads`` entries then add heads or override fields of
        inherited ones (``add_classes: [...]`` appends classes), and ``remove_heads`` drops heads.
        """
        path = Path(path)
        if path.is_dir():
            path = path / "label_spec.yaml"
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise LabelSpecError(f"{path}: not valid YAML: {e}") from e
        except FileNotFoundError:
            raise LabelSpecError(f"label spec {path} not found") from None
        if isinstance(data, Mapping) and "extends" in data:
            data = _extend(data, path)
        return cls.from_dict(data, origin=str(path))

    @classmethod
    def default(cls) -> "LabelSpec":
        text = resources.files("convo_outcomes").joinpath("resources/label_spec.yaml").read_text()
        return cls.from_dict(yaml.safe_load(text), origin="convo_outcomes/resources/label_spec.yaml")


def _extend(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    unknown = set(data) - {"extends", "heads", "remove_heads", "name", "version"}
    if unknown:
        raise LabelSpecError(f"{path}: unknown fields {sorted(unknown)} next to 'extends'")
    ref = str(data["extends"])
    parent = LabelSpec.default() if ref == "default" else LabelSpec.load(path.parent / ref)
    heads = {name: dict(h) for name, h in parent.to_dict()["heads"].items()}
    for name in data.get("remove_heads") or []:
        if name not in heads:
            raise LabelSpecError(f"{path}: remove_heads: {name!r} is not a head of {ref}; heads: {list(heads)}")
        del heads[name]
    for name, h in (data.get("heads") or {}).items():
        if not isinstance(h, Mapping):
            raise LabelSpecError(f"{path}: head {name!r} must be a mapping, found {type(h).__name__}")
        h = dict(h)
        added = h.pop("add_classes", None) or []
        merged = {**heads.get(name, {}), **h}
        if added:
            merged["classes"] = [*merged.get("classes", []), *added]
        heads[name] = merged
    return {"name": data.get("name", f"{parent.name}+{path.stem}"), "version": data.get("version", parent.version), "heads": heads}

