"""Bounded autonomy: map calibrated head probabilities (and money) to an action, with a reason.

A policy is an ordered list of rules read from YAML; the first rule whose condition holds decides.
Conditions are small arithmetic comparisons over ``HEAD.CLASS`` (calibrated probability),
``HEAD.confidence`` (probability of the head's predicted label) and ``account_value`` (money, from
the conversation's ``meta``), e.g. ``churn_risk.at_risk * account_value > 500``. They are parsed
with :mod:`ast` and evaluated by walking a whitelist of node types, never with ``eval``: the file is
configuration, and configuration must not be able to run code.

When a rule fires but the head it relies on (its deciding head) is not confident enough, the policy
abstains to ``abstain_action`` (``human_review``): an automated action is only taken on confident
predictions. Everything here is a pure function of its inputs, so decisions are reproducible from an
audit line.
"""

from __future__ import annotations

import ast
import logging
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

logger = logging.getLogger(__name__)

DEFAULT_ACTIONS = ("none", "human_review", "retention_offer", "escalate")
VARIABLES = ("account_value",)
APPLIES_TO = ("partial", "final")
_COMPARE = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!="}
_BINOP = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


class PolicyError(ValueError):
    """A policy file is malformed or refers to heads/classes the model lacks; names the field."""


class _Missing:
    """A value the request did not supply (e.g. no account_value): comparisons with it are false."""

    def __repr__(self) -> str:
        return "missing"


MISSING = _Missing()


# ------------------------------------------------------------------------------------ expressions


@dataclass(frozen=True)
class Condition:
    """A parsed ``when`` expression and the references it makes."""

    source: str
    tree: ast.Expression
    heads: tuple[str, ...]  # heads referenced, in order of first appearance
    refs: tuple[str, ...]  # every reference ("churn_risk.at_risk", "account_value"), first appearance order

    @classmethod
    def parse(cls, source: str, where: str) -> "Condition":
        if not isinstance(source, str) or not source.strip():
            raise PolicyError(f"{where}: expected a condition string such as 'churn_risk.at_risk > 0.7'")
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError as e:
            raise PolicyError(f"{where}: cannot parse {source!r}: {e.msg}") from None
        refs: list[str] = []
        heads: list[str] = []

        def check(node: ast.AST, want: str) -> None:
            # want: "bool" or "num": the type this position must produce
            if isinstance(node, ast.BoolOp):
                _need(want, "bool", node, source, where)
                for v in node.values:
                    check(v, "bool")
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                _need(want, "bool", node, source, where)
                check(node.operand, "bool")
            elif isinstance(node, ast.Compare):
                _need(want, "bool", node, source, where)
                if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
                    raise PolicyError(f"{where}: use one comparison (> >= < <= == !=) per clause in {source!r}")
                check(node.left, "num")
                check(node.comparators[0], "num")
            elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
                _need(want, "bool", node, source, where)
            elif isinstance(node, ast.Name) and node.id in ("true", "false"):
                _need(want, "bool", node, source, where)
            elif isinstance(node, ast.BinOp):
                _need(want, "num", node, source, where)
                if type(node.op) not in _BINOP:
                    raise PolicyError(f"{where}: only + - * / are allowed, found {ast.unparse(node)!r}")
                check(node.left, "num")
                check(node.right, "num")
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
                _need(want, "num", node, source, where)
                check(node.operand, "num")
            elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
                _need(want, "num", node, source, where)
            elif isinstance(node, ast.Name):
                _need(want, "num", node, source, where)
                if node.id not in VARIABLES:
                    raise PolicyError(
                        f"{where}: unknown name {node.id!r} in {source!r}; use HEAD.CLASS, HEAD.confidence or one of {list(VARIABLES)}"
                    )
                if node.id not in refs:
                    refs.append(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                _need(want, "num", node, source, where)
                ref = f"{node.value.id}.{node.attr}"
                if ref not in refs:
                    refs.append(ref)
                if node.value.id not in heads:
                    heads.append(node.value.id)
            else:
                raise PolicyError(f"{where}: {ast.unparse(node)!r} is not allowed in a condition ({source!r})")

        check(tree.body, "bool")
        return cls(source=source.strip(), tree=tree, heads=tuple(heads), refs=tuple(refs))


def _need(want: str, have: str, node: ast.AST, source: str, where: str) -> None:
    if want != have:
        kind = "a true/false clause" if want == "bool" else "a number"
        raise PolicyError(f"{where}: {ast.unparse(node)!r} must be {kind} in {source!r}")


@dataclass
class _Trace:
    values: dict[str, Any] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)


def _lookup(ref: str, outputs: Mapping[str, Mapping[str, Any]], variables: Mapping[str, Any]) -> Any:
    if "." not in ref:
        v = variables.get(ref)
        return MISSING if v is None else float(v)
    head, attr = ref.split(".", 1)
    out = outputs[head]
    if attr == "confidence":
        return float(out["confidence"])
    return float(out["probs"][attr])


def _num(node: ast.AST, outputs: Mapping[str, Mapping[str, Any]], variables: Mapping[str, Any], trace: _Trace) -> Any:
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, (ast.Name, ast.Attribute)):
        ref = node.id if isinstance(node, ast.Name) else f"{node.value.id}.{node.attr}"  # type: ignore[attr-defined]
        v = _lookup(ref, outputs, variables)
        trace.values[ref] = None if v is MISSING else v
        return v
    if isinstance(node, ast.UnaryOp):
        v = _num(node.operand, outputs, variables, trace)
        return v if v is MISSING else -v
    assert isinstance(node, ast.BinOp)
    a = _num(node.left, outputs, variables, trace)
    b = _num(node.right, outputs, variables, trace)
    if a is MISSING or b is MISSING:
        return MISSING
    op = type(node.op)
    if op is ast.Add:
        r = a + b
    elif op is ast.Sub:
        r = a - b
    elif op is ast.Mult:
        r = a * b
    else:
        r = a / b if b != 0 else MISSING
    return r if r is MISSING or math.isfinite(r) else MISSING


def _bool(node: ast.AST, outputs: Mapping[str, Mapping[str, Any]], variables: Mapping[str, Any], trace: _Trace) -> bool:
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_bool(v, outputs, variables, trace) for v in node.values)
        return any(_bool(v, outputs, variables, trace) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return not _bool(node.operand, outputs, variables, trace)
    if isinstance(node, ast.Constant):
        return bool(node.value)
    if isinstance(node, ast.Name):
        return node.id == "true"
    assert isinstance(node, ast.Compare)
    left = _num(node.left, outputs, variables, trace)
    right = _num(node.comparators[0], outputs, variables, trace)
    op = _COMPARE[type(node.ops[0])]
    if left is MISSING or right is MISSING:
        result = False
    else:
        result = {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right, "==": left == right, "!=": left != right}[op]
    trace.comparisons.append(
        {
            "expr": ast.unparse(node),
            "left": None if left is MISSING else _round(left),
            "op": op,
            "right": None if right is MISSING else _round(right),
            "result": result,
        }
    )
    return result


def _round(x: float) -> float:
    return float(f"{x:.6g}")


# ------------------------------------------------------------------------------------------ rules


@dataclass(frozen=True)
class Rule:
    name: str
    when: Condition
    action: str
    head: str | None  # deciding head: its confidence gates the action
    min_confidence: float | None = None
    applies_to: tuple[str, ...] = APPLIES_TO
    description: str = ""


@dataclass(frozen=True)
class Decision:
    """What the policy recommends for one conversation, and why."""

    action: str
    rule: str
    reason: str
    abstained: bool = False
    deciding_head: str | None = None
    confidence: float | None = None
    min_confidence: float | None = None
    values: dict[str, Any] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "rule": self.rule,
            "reason": self.reason,
            "abstained": self.abstained,
            "deciding_head": self.deciding_head,
            "confidence": self.confidence,
            "min_confidence": self.min_confidence,
            "values": dict(self.values),
            "comparisons": [dict(c) for c in self.comparisons],
        }


_RULE_KEYS = {"name", "when", "action", "head", "min_confidence", "applies_to", "description"}
_TOP_KEYS = {"version", "actions", "defaults", "rules"}
_DEFAULT_KEYS = {"min_confidence", "abstain_action", "no_match_action"}


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    actions: tuple[str, ...] = DEFAULT_ACTIONS
    min_confidence: float = 0.6
    abstain_action: str = "human_review"
    no_match_action: str = "none"
    version: int = 1
    origin: str = "<dict>"

    # --------------------------------------------------------------------------- loading

    @classmethod
    def from_dict(cls, data: Any, origin: str = "<dict>") -> "Policy":
        if not isinstance(data, Mapping):
            raise PolicyError(f"{origin}: expected a mapping with 'rules', found {type(data).__name__}")
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise PolicyError(f"{origin}: unknown fields {unknown}; expected some of {sorted(_TOP_KEYS)}")
        version = data.get("version", 1)
        if version != 1:
            raise PolicyError(f"{origin}: field 'version' must be 1, found {version!r}")
        actions = data.get("actions", list(DEFAULT_ACTIONS))
        if not isinstance(actions, list) or not actions or not all(isinstance(a, str) and a for a in actions):
            raise PolicyError(f"{origin}: field 'actions' must be a non-empty list of names, found {actions!r}")
        if len(set(actions)) != len(actions):
            raise PolicyError(f"{origin}: field 'actions' has duplicates: {actions}")
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, Mapping):
            raise PolicyError(f"{origin}: field 'defaults' must be a mapping, found {type(defaults).__name__}")
        unknown = sorted(set(defaults) - _DEFAULT_KEYS)
        if unknown:
            raise PolicyError(f"{origin}: defaults: unknown fields {unknown}; expected some of {sorted(_DEFAULT_KEYS)}")
        min_conf = _confidence(defaults.get("min_confidence", 0.6), f"{origin}: defaults.min_confidence")
        abstain = _action(defaults.get("abstain_action", "human_review"), actions, f"{origin}: defaults.abstain_action")
        no_match = _action(defaults.get("no_match_action", "none"), actions, f"{origin}: defaults.no_match_action")
        raw_rules = data.get("rules")
        if not isinstance(raw_rules, list):
            raise PolicyError(f"{origin}: field 'rules' must be a list of rules, found {type(raw_rules).__name__}")
        rules, names = [], set()
        for i, r in enumerate(raw_rules):
            where = f"{origin}: rules[{i}]"
            if not isinstance(r, Mapping):
                raise PolicyError(f"{where}: expected a mapping with name/when/action, found {type(r).__name__}")
            unknown = sorted(set(r) - _RULE_KEYS)
            if unknown:
                raise PolicyError(f"{where}: unknown fields {unknown}; expected some of {sorted(_RULE_KEYS)}")
            name = r.get("name")
            if not isinstance(name, str) or not name:
                raise PolicyError(f"{where}.name: expected a non-empty string, found {name!r}")
            if name in names or name == "default":
                raise PolicyError(f"{where}.name: {name!r} is used twice or reserved ('default' names the no-match outcome)")
            names.add(name)
            when = r.get("when")
            if isinstance(when, bool):
                when = "true" if when else "false"
            cond = Condition.parse(when, f"{where}.when")
            action = _action(r.get("action"), actions, f"{where}.action")
            head = r.get("head", cond.heads[0] if cond.heads else None)
            if head is not None and not isinstance(head, str):
                raise PolicyError(f"{where}.head: expected a head name, found {head!r}")
            rule_conf = r.get("min_confidence")
            if rule_conf is not None:
                rule_conf = _confidence(rule_conf, f"{where}.min_confidence")
            applies = r.get("applies_to", list(APPLIES_TO))
            if isinstance(applies, str):
                applies = [applies]
            if not isinstance(applies, list) or not applies or any(a not in APPLIES_TO for a in applies):
                raise PolicyError(f"{where}.applies_to: expected a list drawn from {list(APPLIES_TO)}, found {applies!r}")
            rules.append(
                Rule(
                    name=name,
                    when=cond,
                    action=action,
                    head=head,
                    min_confidence=rule_conf,
                    applies_to=tuple(applies),
                    description=str(r.get("description", "")).strip(),
                )
            )
        return cls(
            rules=tuple(rules),
            actions=tuple(actions),
            min_confidence=min_conf,
            abstain_action=abstain,
            no_match_action=no_match,
            version=1,
            origin=origin,
        )

    @classmethod
    def load(cls, path: str | Path) -> "Policy":
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as e:
            raise PolicyError(f"{path}: cannot read policy file: {e}") from e
        except yaml.YAMLError as e:
            raise PolicyError(f"{path}: not valid YAML: {e}") from e
        return cls.from_dict(data, origin=str(path))

    @classmethod
    def default(cls) -> "Policy":
        text = resources.files("convo_outcomes").joinpath("resources/policy.yaml").read_text()
        return cls.from_dict(yaml.safe_load(text), origin="convo_outcomes/resources/policy.yaml")

    def check_heads(self, classes: Mapping[str, Sequence[str]]) -> None:
        """Refuse a policy that names heads or classes the model does not have (at startup, not per request)."""
        for i, rule in enumerate(self.rules):
            where = f"{self.origin}: rules[{i}] ({rule.name})"
            for ref in rule.when.refs:
                if "." not in ref:
                    continue
                head, attr = ref.split(".", 1)
                if head not in classes:
                    raise PolicyError(f"{where}.when: unknown head {head!r}; the model has {sorted(classes)}")
                if attr != "confidence" and attr not in classes[head]:
                    raise PolicyError(
                        f"{where}.when: head {head!r} has no class {attr!r}; classes: {list(classes[head])} (or 'confidence')"
                    )
            if rule.head is not None and rule.head not in classes:
                raise PolicyError(f"{where}.head: unknown head {rule.head!r}; the model has {sorted(classes)}")

    # -------------------------------------------------------------------------- deciding

    def decide(
        self,
        outputs: Mapping[str, Mapping[str, Any]],
        account_value: float | None = None,
        partial: bool = False,
    ) -> Decision:
        """First matching rule wins; a low-confidence deciding head abstains to ``abstain_action``.

        ``outputs`` maps head -> {"probs": {class: p}, "confidence": p} (calibrated), as the runtime
        returns them. A non-finite or missing ``account_value`` counts as missing.
        """
        if account_value is not None and not math.isfinite(float(account_value)):
            account_value = None
        variables = {"account_value": account_value}
        stage = "partial" if partial else "final"
        for rule in self.rules:
            if stage not in rule.applies_to:
                continue
            trace = _Trace()
            if not _bool(rule.when.tree.body, outputs, variables, trace):
                continue
            threshold = rule.min_confidence if rule.min_confidence is not None else self.min_confidence
            conf = float(outputs[rule.head]["confidence"]) if rule.head is not None else None
            why = _explain(rule.when.source, trace)
            if conf is not None and conf < threshold:
                return Decision(
                    action=self.abstain_action,
                    rule=rule.name,
                    reason=f"{why}; but {rule.head} confidence {_round(conf)} < {threshold}: abstain from {rule.action}",
                    abstained=True,
                    deciding_head=rule.head,
                    confidence=_round(conf),
                    min_confidence=threshold,
                    values=trace.values,
                    comparisons=trace.comparisons,
                )
            return Decision(
                action=rule.action,
                rule=rule.name,
                reason=why,
                deciding_head=rule.head,
                confidence=None if conf is None else _round(conf),
                min_confidence=threshold if rule.head is not None else None,
                values=trace.values,
                comparisons=trace.comparisons,
            )
        return Decision(action=self.no_match_action, rule="default", reason="no rule matched")


def _explain(source: str, trace: _Trace) -> str:
    parts = [f"{c['expr']}: {_fmt(c['left'])} {c['op']} {_fmt(c['right'])}" for c in trace.comparisons]
    values = ", ".join(f"{k}={_fmt(v)}" for k, v in trace.values.items())
    if not parts:
        return f"{source} holds"
    return "; ".join(parts) + (f" (with {values})" if values else "")


def _fmt(v: Any) -> str:
    return "missing" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)


def _confidence(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
        raise PolicyError(f"{where}: expected a probability in [0, 1], found {v!r}")
    return float(v)


def _action(v: Any, actions: Sequence[str], where: str) -> str:
    if v not in actions:
        raise PolicyError(f"{where}: {v!r} is not one of the declared actions {list(actions)}")
    return str(v)
