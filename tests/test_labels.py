"""Label spec: the default spec, custom specs, mapping record labels to heads, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from convo_outcomes.labels import LabelSpec, LabelSpecError

CAUSES = [
    "refund", "order_status", "billing_error", "order_change", "reservation_change", "new_purchase_or_booking",
    "account_update", "account_access", "account_inquiry", "technical_fault", "cancellation", "payment_issue",
    "pricing_promo", "card_service", "fraud_security", "product_or_policy_info", "other",
]


def test_default_spec_heads_and_classes() -> None:
    spec = LabelSpec.default()
    assert spec.head_names == ["resolution", "churn_risk", "repeat_contact", "contact_cause", "effort"]
    assert spec["resolution"].classes == ("resolved", "unresolved", "escalated")
    assert spec["churn_risk"].type == "binary" and spec["churn_risk"].classes == ("not_at_risk", "at_risk")
    assert spec["repeat_contact"].classes == ("first_contact", "repeat")
    assert list(spec["contact_cause"].classes) == CAUSES
    assert spec["effort"].type == "ordinal" and spec["effort"].classes == ("low", "medium", "high")


def test_record_labels_map_through_the_spec() -> None:
    spec = LabelSpec.default()
    # BANKING77 / MultiDoGO: cause + cancellation intent, the only public churn proxy
    t = spec.targets({"cause": "card_service", "aux_cancellation_intent": True, "cause_source": "card_arrival"})
    assert t == {"resolution": None, "churn_risk": 1, "repeat_contact": None, "contact_cause": CAUSES.index("card_service"), "effort": None}
    # STAR: resolution maps in unchanged; a multi-valued cause does not feed the head
    t = spec.targets({"resolution": "unresolved", "cause_multi": ["a", "b"]})
    assert t["resolution"] == 1 and t["contact_cause"] is None
    # an explicit churn label wins over the proxy; unknown values are unknown, not a default
    assert spec["churn_risk"].target({"churn_risk": "not_at_risk", "aux_cancellation_intent": True}) == 0
    assert spec["effort"].target({"effort": "extreme"}) is None
    assert spec["resolution"].target({}) is None


def test_custom_spec_round_trips_and_adds_a_head(tmp_path: Path) -> None:
    spec = LabelSpec.default()
    data = spec.to_dict()
    data["heads"]["complaint"] = {"type": "binary", "classes": ["no", "yes"], "sources": [{"field": "complaint", "map": {True: "yes", False: "no"}}]}
    path = tmp_path / "spec.yaml"
    LabelSpec.from_dict(data).save(path)
    loaded = LabelSpec.load(path)
    assert loaded.head_names[-1] == "complaint" and loaded["complaint"].target({"complaint": True}) == 1
    assert loaded.to_dict()["heads"]["resolution"] == spec.to_dict()["heads"]["resolution"]


@pytest.mark.parametrize(
    "head, message",
    [
        ({"type": "tree", "classes": ["a", "b"], "sources": ["x"]}, "field 'type' must be one of"),
        ({"type": "binary", "classes": ["a", "b", "c"], "sources": ["x"]}, "exactly 2 classes, found 3"),
        ({"type": "multiclass", "classes": ["a"], "sources": ["x"]}, "at least 2 classes"),
        ({"type": "multiclass", "classes": ["a", "a"], "sources": ["x"]}, "duplicates"),
        ({"type": "multiclass", "classes": ["a", "b"], "sources": []}, "at least one label field"),
        ({"type": "multiclass", "classes": ["a", "b"], "sources": [{"field": "x", "map": {"1": "c"}}]}, r"unknown classes \['c'\]"),
        ({"type": "multiclass", "classes": ["a", "b"], "sources": ["x"], "colour": "red"}, "unknown fields"),
    ],
)
def test_bad_specs_name_the_head_and_field(head: dict, message: str) -> None:
    with pytest.raises(LabelSpecError, match=message) as err:
        LabelSpec.from_dict({"heads": {"h1": head}})
    assert "'h1'" in str(err.value) or "h1" in str(err.value)


def test_bad_yaml_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("heads: [unclosed")
    with pytest.raises(LabelSpecError, match="not valid YAML"):
        LabelSpec.load(path)
