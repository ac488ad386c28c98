"""The conversation contract: one record per conversation, as in ``../shared/data``.

Unknown top-level keys are refused (they belong in ``meta``); turns and meta accept extra keys
because public sources carry useful extras (``act``, ``intents``, ``turn_number``, ``domain``).
Labels are free-form here; the label spec decides which of them feed which head.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SPEAKERS = ("customer", "agent", "bot", "system")
CHANNELS = ("chat", "voice", "email")
HANDLED_BY = ("ai", "human")

Speaker = Literal["customer", "agent", "bot", "system"]


class Turn(BaseModel):
    model_config = ConfigDict(extra="allow")

    speaker: Speaker
    # Blank text is allowed here (public sources have silent/stripped turns, e.g. 67 in MultiDoGO);
    # the reader reports each one as a warning, rejects a conversation with no text at all, and
    # renders blank turns as nothing, so turn indices stay those of the source.
    text: str
    start_s: float | None = Field(default=None, ge=0)

    @property
    def blank(self) -> bool:
        return not self.text.strip()


class Meta(BaseModel):
    model_config = ConfigDict(extra="allow")

    source: str | None = None
    channel: Literal["chat", "voice", "email"] | None = None
    language: str | None = None
    customer_id: str | None = None
    started_at: datetime | None = None
    handled_by: Literal["ai", "human"] | None = None
    account_value: float | None = Field(default=None, ge=0)
    queue: str | None = None
    team: str | None = None
    industry: str | None = None

    @field_validator("customer_id", mode="before")
    @classmethod
    def _id_to_str(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        return v


class Conversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    turns: list[Turn] = Field(min_length=1)
    labels: dict[str, Any] = Field(default_factory=dict)
    meta: Meta = Field(default_factory=Meta)

    @field_validator("id", mode="before")
    @classmethod
    def _id_to_str(cls, v: Any) -> Any:
        # CSV and Parquet archives often carry numeric ids; JSON booleans are not ids.
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        return v

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_none(cls, v: Any) -> Any:
        return {} if v is None else v

    @field_validator("meta", mode="before")
    @classmethod
    def _meta_none(cls, v: Any) -> Any:
        return {} if v is None else v

    @property
    def source(self) -> str:
        return self.meta.source or "unknown"

    def group_key(self) -> str:
        """What keeps a customer's conversations together in one split."""
        return f"customer:{self.meta.customer_id}" if self.meta.customer_id else f"id:{self.id}"

    def blank_turns(self) -> list[int]:
        return [i for i, t in enumerate(self.turns) if t.blank]

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
