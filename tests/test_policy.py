"""Decision policy: parsing/validation of the YAML rules and the pure decide() function."""

from __future__ import annotations

from pathlib import Path

import pytest

from convo_outcomes.labels import LabelSpec
from convo_outcomes.policy import Policy, PolicyError


def outputs(at_risk: float = 0.1, resolution: tuple[float, float, float] = (0.8, 0.1, 0.1), fraud: float = 0.01, effort_high: float = 0.1) -> dict:
    """Head outputs as the runtime returns them (probs + confidence of the predicted label)."""

    def head(probs: dict[str, float]) -> dict:
        return {"probs": probs, "confidence": max(probs.values()), "label": max(probs, key=probs.get)}

    rest = (1 - fraud) / 16
    return {
        "churn_risk": head({"not_at_risk": 1 - at_risk, "at_risk": at_risk}),
        "resolution": head(dict(zip(("resolved", "unresolved", "escalated"), resolution))),
        "contact_cause": head({"fraud_security": fraud, **{f"c{i}": rest for i in range(16)}}),
        "effort": head({"low": (1 - effort_high) / 2, "medium": (1 - effort_high) / 2, "high": effort_high}),
        "repeat_contact": head({"first_contact": 0.9, "repeat": 0.1}),
    }


RULES = {
    "version": 1,
    "defaults": {"min_confidence": 0.6},
    "rules": [
        {"name": "fraud", "when": "contact_cause.fraud_security >= 0.5", "action": "escalate"},
        {"name": "value", "when": "churn_risk.at_risk * account_value > 500", "action": "retention_offer"},
        {"name": "likely_churn", "when": "churn_risk.at_risk >= 0.7", "action": "human_review", "applies_to": ["final"]},
    ],
}


def test_default_policy_loads_and_matches_the_default_label_spec() -> None:
    policy = Policy.default()
    spec = LabelSpec.default()
    policy.check_heads({h.name: h.classes for h in spec})
    assert [r.name for r in policy.rules][:2] == ["fraud_or_security", "high_value_churn"]
    assert set(policy.actions) == {"none", "human_review", "retention_offer", "escalate"}


def test_expected_value_rule_fires_and_explains_the_values() -> None:
    policy = Policy.from_dict(RULES)
    d = policy.decide(outputs(at_risk=0.8), account_value=1000.0)
    assert (d.action, d.rule, d.abstained) == ("retention_offer", "value", False)
    assert d.values == {"churn_risk.at_risk": 0.8, "account_value": 1000.0}
    assert d.comparisons == [{"expr": "churn_risk.at_risk * account_value > 500", "left": 800.0, "op": ">", "right": 500.0, "result": True}]
    assert "800 > 500" in d.reason and "account_value=1000" in d.reason
    assert d.deciding_head == "churn_risk" and d.confidence == 0.8


def test_first_match_wins_in_order() -> None:
    policy = Policy.from_dict(RULES)
    d = policy.decide(outputs(at_risk=0.9, fraud=0.9), account_value=10_000.0)
    assert d.rule == "fraud" and d.action == "escalate"


def test_missing_money_makes_the_comparison_false_and_later_rules_apply() -> None:
    policy = Policy.from_dict(RULES)
    d = policy.decide(outputs(at_risk=0.9), account_value=None)
    assert d.rule == "likely_churn" and d.action == "human_review"
    assert policy.decide(outputs(at_risk=0.9), account_value=float("inf")).rule == "likely_churn"


def test_low_confidence_on_the_deciding_head_abstains_to_human_review() -> None:
    policy = Policy.from_dict(RULES)
    d = policy.decide(outputs(at_risk=0.55), account_value=2000.0)  # 1100 > 500, but churn head only 0.55 sure
    assert d.action == "human_review" and d.abstained and d.rule == "value"
    assert d.confidence == 0.55 and d.min_confidence == 0.6
    assert "abstain from retention_offer" in d.reason


def test_no_match_uses_the_default_action_and_applies_to_filters_partial() -> None:
    policy = Policy.from_dict(RULES)
    d = policy.decide(outputs(at_risk=0.1), account_value=100.0)
    assert (d.action, d.rule, d.reason) == ("none", "default", "no rule matched")
    assert policy.decide(outputs(at_risk=0.9), partial=True).rule == "default"  # likely_churn is final-only
    assert policy.decide(outputs(at_risk=0.9), partial=False).rule == "likely_churn"


def test_boolean_and_arithmetic_conditions() -> None:
    policy = Policy.from_dict(
        {
            "rules": [
                {"name": "combo", "when": "resolution.unresolved >= 0.5 and (effort.high > 0.4 or not churn_risk.at_risk < 0.5)", "action": "human_review", "head": "resolution"},
                {"name": "always", "when": True, "action": "none"},
            ]
        }
    )
    d = policy.decide(outputs(resolution=(0.2, 0.7, 0.1), effort_high=0.5))
    assert d.rule == "combo" and d.deciding_head == "resolution"
    assert [c["result"] for c in d.comparisons] == [True, True]
    assert policy.decide(outputs()).rule == "always"


@pytest.mark.parametrize(
    "rules, message",
    [
        ({"rules": [{"name": "x", "when": "__import__('os').system('true')", "action": "none"}]}, r"rules\[0\]\.when: .* not allowed"),
        ({"rules": [{"name": "x", "when": "churn_risk.at_risk", "action": "none"}]}, r"must be a true/false clause"),
        ({"rules": [{"name": "x", "when": "foo > 1", "action": "none"}]}, r"unknown name 'foo'"),
        ({"rules": [{"name": "x", "when": "churn_risk.at_risk > > 1", "action": "none"}]}, r"cannot parse"),
        ({"rules": [{"name": "x", "when": "0 < churn_risk.at_risk < 1", "action": "none"}]}, r"one comparison"),
        ({"rules": [{"name": "x", "when": "churn_risk.at_risk ** 2 > 1", "action": "none"}]}, r"only \+ - \* /"),
        ({"rules": [{"name": "x", "when": "true", "action": "refund_everything"}]}, r"rules\[0\]\.action: 'refund_everything' is not one of"),
        ({"rules": [{"name": "x", "when": "true", "action": "none", "min_confidence": 1.5}]}, r"min_confidence: expected a probability"),
        ({"rules": [{"name": "x", "when": "true", "action": "none", "colour": "red"}]}, r"unknown fields \['colour'\]"),
        ({"rules": [{"name": "x", "when": "true", "action": "none"}, {"name": "x", "when": "true", "action": "none"}]}, r"used twice"),
        ({"rules": [], "defaults": {"abstain_action": "panic"}}, r"defaults.abstain_action"),
        ({"rules": {}}, r"'rules' must be a list"),
        ({"rules": [], "extra": 1}, r"unknown fields \['extra'\]"),
    ],
)
def test_invalid_policies_are_refused_naming_the_field(rules: dict, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Policy.from_dict(rules)


def test_heads_and_classes_are_checked_against_the_model() -> None:
    classes = {h.name: h.classes for h in LabelSpec.default()}
    Policy.from_dict(RULES).check_heads(classes)
    with pytest.raises(PolicyError, match=r"head 'churn_risk' has no class 'likely'"):
        Policy.from_dict({"rules": [{"name": "x", "when": "churn_risk.likely > 0.5", "action": "none"}]}).check_heads(classes)
    with pytest.raises(PolicyError, match=r"unknown head 'sentiment'"):
        Policy.from_dict({"rules": [{"name": "x", "when": "sentiment.negative > 0.5", "action": "none"}]}).check_heads(classes)


def test_load_reports_bad_yaml_with_the_path(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("rules: [\n")
    with pytest.raises(PolicyError, match=str(p)):
        Policy.load(p)
    p.write_text("rules:\n  - {name: a, when: 'churn_risk.at_risk > 0.5', action: escalate}\n")
    assert Policy.load(p).rules[0].action == "escalate"
