"""Money from calibrated outcome probabilities, and repeat contacts measured from the archive itself.

Why: a model says "p(at_risk) = 0.3"; a finance team needs "this much revenue is at risk, give or take
this much". Every number that turns a probability into money is an explicit, validated assumption
(:class:`FinanceAssumptions`, loaded from YAML; the documented defaults live in
``resources/finance.yaml``). Nothing here reads files other than that YAML, prints or plots: these are
pure, vectorised functions over a pandas frame with one row per conversation and these columns
(the report maps a scores file onto them):

``channel``, ``account_value`` (may be NaN), ``p_resolved``, ``p_escalated``, ``p_at_risk``,
optional ``p_repeat`` (the model's p that the conversation *is* a repeat contact), and for measured
repeats and slices ``cause``, ``customer_id``, ``started_at`` (tz-aware datetimes), ``handled_by``,
``team``, optional ``handover`` (bool: an AI conversation was handed to a human).

Per conversation *i* (``v`` values, ``p`` calibrated probabilities):

* ``value_i``: ``account_value`` or ``default_customer_value`` when missing.
* ``contact_cost_i = cost_per_contact[channel]`` (``cost_per_contact["default"]`` for other channels).
* ``churn_loss_i = p_at_risk · value_i · counted_i`` (expected revenue lost if nothing is done).
* ``retention_value_i = p_at_risk · churn_save_rate · value_i · counted_i`` (what a retention offer keeps).
* ``counted_i`` (column ``churn_counted``): a customer can leave only once, so each ``customer_id``
  counts once, on its most recent conversation in the archive (its latest risk reading; ties: the later
  row); rows without a customer id count on their own. Revenue at risk of a cause is therefore the value
  of customers whose latest contact was about that cause.
* ``escalation_cost_i = p_escalated · escalation_cost``.
* ``future_repeat_cost_i = (1 - p_resolved) · repeat_probability_if_unresolved · contact_cost_i``:
  the expected cost of the repeat contact a not-resolved (unresolved or escalated) conversation causes,
  assumed to come back on the same channel.
* ``repeat_cost_predicted_i = p_repeat · contact_cost_i``: the model's reading, from the text, of how
  much of this contact's cost is a repeat contact (comparable to the measured repeat cost).

Intervals: each conversation is treated as an independent Bernoulli event with its calibrated
probability ``p`` and money ``v``; an aggregate is ``E = Σ p·v`` with variance ``Σ p(1-p)·v²`` and the
95% interval ``E ± 1.96·sqrt(Σ p(1-p)·v²)``, clipped at 0. It reflects the randomness of outcomes
given calibrated probabilities only, not uncertainty in the assumptions or in the calibration itself.

Measured repeat contacts (:func:`link_repeats`): two conversations are the same issue when they have
the same ``customer_id`` and the same ``cause`` and the later one starts at most
``repeat_window_days`` after the earlier one (inclusive). A conversation *is a repeat* when such an
earlier one exists; it was *followed up* when such a later one exists. Measured FCR of a group = share of
its first contacts (linkable conversations that are not repeats) that were not followed up; measured
repeat-contact rate = share of linkable conversations that are repeats. Rows without customer,
start time or cause are not linkable and are left out of both. Repeats whose first contact happened
before the archive starts look like first contacts, and first contacts in the archive's last
``repeat_window_days`` days have not had their full window: the report counts those (``window_open``).
``followed_up_if_not_resolved`` = Σ(1 - p_resolved)·followed_up / Σ(1 - p_resolved) over linkable
conversations: the measured counterpart of the assumption ``repeat_probability_if_unresolved``.

Containment: among AI-handled conversations (``handled_by == "ai"``), the expected share resolved
(``p_resolved``) with no handover to a human. Handover comes from ``handover`` when present, otherwise
from ``team`` (a conversation whose team is in ``ai_only_teams`` had no human); when neither tells,
containment is unknown (NaN), never guessed.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import yaml

logger = logging.getLogger(__name__)

__all__ = [
    "DAYS_PER_MONTH",
    "Z95",
    "FinanceAssumptions",
    "FinanceError",
    "MONEY_KINDS",
    "conversation_money",
    "link_repeats",
    "interval",
    "latest_per_customer",
    "summarise",
    "effort_by",
    "month_factor",
]

DAYS_PER_MONTH = 365.25 / 12  # calendar average month: turns "over the archive's N days" into "a month"
Z95 = 1.96  # two-sided 95% normal quantile used for every money interval
MONEY_KINDS = ("churn_loss", "retention_value", "escalation_cost", "future_repeat_cost", "repeat_cost_predicted")
MISSING = "(missing)"  # group label for rows without a value in the slicing column


class FinanceError(ValueError):
    """Finance assumptions are missing, out of range, or a frame lacks a column the money needs."""


# ------------------------------------------------------------------------------------- assumptions


def _num(origin: str, name: str, value: Any, lo: float, hi: float, unit: str, integer: bool = False) -> None:
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or (not integer and not math.isfinite(value)):
        raise FinanceError(f"{origin}: field {name!r} must be {kind} in [{lo}, {hi}] ({unit}), found {value!r}")
    if not lo <= value <= hi:
        raise FinanceError(f"{origin}: field {name!r} must be in [{lo}, {hi}] ({unit}), found {value!r}")


@dataclass(frozen=True)
class FinanceAssumptions:
    """Every number that turns probabilities into money; no defaults here, so nothing is hidden.

    The documented defaults are ``resources/finance.yaml`` (:meth:`default`).
    """

    currency: str  # ISO 4217 code all money figures are in, e.g. EUR
    cost_per_contact: Mapping[str, float]  # channel -> fully loaded cost of one handled contact; "default" required
    escalation_cost: float  # extra cost of one escalation (second tier / specialist handling)
    default_customer_value: float  # value lost when a customer leaves, used where meta_account_value is missing
    churn_save_rate: float  # share of at-risk customers a retention offer keeps
    repeat_window_days: int  # a same-customer, same-cause contact within this many days is a repeat
    repeat_probability_if_unresolved: float  # chance a not-resolved conversation causes a repeat contact
    ai_only_teams: tuple[str, ...] = ()  # teams that mean "no human took part" (containment without meta_handover)
    origin: str = "finance assumptions"  # where they came from, for messages

    def __post_init__(self) -> None:
        o = self.origin
        if not isinstance(self.currency, str) or not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise FinanceError(f"{o}: field 'currency' must be a 3-letter ISO 4217 code such as EUR, found {self.currency!r}")
        if not isinstance(self.cost_per_contact, Mapping) or "default" not in self.cost_per_contact:
            found = sorted(self.cost_per_contact) if isinstance(self.cost_per_contact, Mapping) else self.cost_per_contact
            raise FinanceError(
                f"{o}: field 'cost_per_contact' must map channels to costs and include 'default' "
                f"(used for other channels), found {found!r}"
            )
        for ch, cost in self.cost_per_contact.items():
            if not isinstance(ch, str) or not ch:
                raise FinanceError(f"{o}: field 'cost_per_contact' keys must be channel names, found {ch!r}")
            _num(o, f"cost_per_contact.{ch}", cost, 0.0, 10_000.0, f"{self.currency} per contact")
        _num(o, "escalation_cost", self.escalation_cost, 0.0, 100_000.0, f"{self.currency} per escalation")
        _num(o, "default_customer_value", self.default_customer_value, 0.0, 10_000_000.0, f"{self.currency} per customer")
        _num(o, "churn_save_rate", self.churn_save_rate, 0.0, 1.0, "share of at-risk customers kept")
        _num(o, "repeat_window_days", self.repeat_window_days, 1, 365, "days", integer=True)
        _num(o, "repeat_probability_if_unresolved", self.repeat_probability_if_unresolved, 0.0, 1.0, "probability")
        if isinstance(self.ai_only_teams, str) or not all(isinstance(t, str) and t for t in self.ai_only_teams):
            raise FinanceError(f"{o}: field 'ai_only_teams' must be a list of team names, found {self.ai_only_teams!r}")
        object.__setattr__(self, "cost_per_contact", {str(k): float(v) for k, v in self.cost_per_contact.items()})
        object.__setattr__(self, "ai_only_teams", tuple(self.ai_only_teams))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("origin")
        d["cost_per_contact"] = dict(self.cost_per_contact)
        d["ai_only_teams"] = list(self.ai_only_teams)
        return d

    @classmethod
    def from_dict(cls, data: Any, origin: str = "<dict>") -> "FinanceAssumptions":
        if not isinstance(data, Mapping):
            raise FinanceError(f"{origin}: expected a mapping of finance assumptions, found {type(data).__name__}")
        names = [f.name for f in fields(cls) if f.name != "origin"]
        required = [n for n in names if n != "ai_only_teams"]
        missing = [n for n in required if n not in data]
        if missing:
            raise FinanceError(f"{origin}: missing field(s) {missing}; expected {names}")
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise FinanceError(f"{origin}: unknown field(s) {unknown}; expected {names}")
        kw = {n: data[n] for n in names if n in data}
        if "ai_only_teams" in kw:
            teams = kw["ai_only_teams"]
            kw["ai_only_teams"] = tuple(teams) if isinstance(teams, (list, tuple)) else teams
        return cls(**kw, origin=origin)

    @classmethod
    def load(cls, path: str | Path) -> "FinanceAssumptions":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise FinanceError(f"{path}: cannot read finance assumptions: {e.strerror or e}") from e
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise FinanceError(f"{path}: not valid YAML: {e}") from e
        return cls.from_dict(data, origin=str(path))

    @classmethod
    def default(cls) -> "FinanceAssumptions":
        text = resources.files("convo_outcomes").joinpath("resources/finance.yaml").read_text(encoding="utf-8")
        return cls.from_dict(yaml.safe_load(text), origin="convo_outcomes/resources/finance.yaml")

    def contact_cost(self, channel: pd.Series) -> np.ndarray:
        """Cost of one contact per row: its channel's cost, ``default`` for unlisted or missing channels."""
        default = self.cost_per_contact["default"]
        return channel.map(self.cost_per_contact).astype("float64").fillna(default).to_numpy()


# ---------------------------------------------------------------------------------- per conversation


def _require(frame: pd.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise FinanceError(f"{what} needs column(s) {missing}; frame has {list(frame.columns)}")


def conversation_money(frame: pd.DataFrame, a: FinanceAssumptions) -> pd.DataFrame:
    """Per-conversation money (and its Bernoulli variance ``<kind>_var``) as a new frame, same index."""
    _require(frame, ("channel", "p_resolved", "p_escalated", "p_at_risk"), "conversation_money")
    n = len(frame)
    acct = frame["account_value"].astype("float64").to_numpy() if "account_value" in frame else np.full(n, np.nan)
    imputed = np.isnan(acct)
    value = np.where(imputed, a.default_customer_value, acct)
    cost = a.contact_cost(frame["channel"])
    p_res = frame["p_resolved"].to_numpy(dtype="float64")
    p_esc = frame["p_escalated"].to_numpy(dtype="float64")
    p_risk = frame["p_at_risk"].to_numpy(dtype="float64")
    p_rep = frame["p_repeat"].to_numpy(dtype="float64") if "p_repeat" in frame else np.full(n, np.nan)
    p_future = np.clip(1.0 - p_res, 0.0, 1.0) * a.repeat_probability_if_unresolved
    counted = latest_per_customer(frame)
    p_risk_c = np.where(counted, p_risk, 0.0)
    out = {"value": value, "value_imputed": imputed, "contact_cost": cost, "p_future_repeat": p_future, "churn_counted": counted}
    for kind, p, v in (
        ("churn_loss", p_risk_c, value),
        ("retention_value", p_risk_c, a.churn_save_rate * value),
        ("escalation_cost", p_esc, np.full(n, float(a.escalation_cost))),
        ("future_repeat_cost", p_future, cost),
        ("repeat_cost_predicted", p_rep, cost),
    ):
        out[kind] = p * v
        out[f"{kind}_var"] = p * (1.0 - p) * v * v
    return pd.DataFrame(out, index=frame.index)


def latest_per_customer(frame: pd.DataFrame) -> np.ndarray:
    """True on each customer's most recent conversation (ties: later row) and on rows without a customer id."""
    n = len(frame)
    if "customer_id" not in frame:
        return np.ones(n, dtype=bool)
    cust = frame["customer_id"]
    has = (cust.notna() & (cust.astype("string").str.len() > 0)).fillna(False).to_numpy(bool)
    secs = _seconds(frame["started_at"]) if "started_at" in frame else np.zeros(n)
    secs = np.where(np.isnan(secs), -np.inf, secs)
    codes, _ = pd.factorize(cust.to_numpy())
    order = np.lexsort((np.arange(n), secs, codes))
    sc = codes[order]
    last = np.r_[sc[1:] != sc[:-1], True] if n else np.zeros(0, dtype=bool)
    flag = np.zeros(n, dtype=bool)
    flag[order[last]] = True
    return flag | ~has


def interval(expected: float | np.ndarray, var: float | np.ndarray) -> tuple[Any, Any]:
    """95% interval ``E ± 1.96·sqrt(var)``, the low end clipped at 0 (money cannot be negative)."""
    sd = np.sqrt(np.maximum(var, 0.0))
    return np.maximum(expected - Z95 * sd, 0.0), expected + Z95 * sd


# ------------------------------------------------------------------------------------ measured repeats


def _seconds(ts: pd.Series) -> np.ndarray:
    """Seconds since the epoch as float (NaN for NaT), whatever the datetime unit pandas picked."""
    if not isinstance(ts.dtype, pd.DatetimeTZDtype) and not pd.api.types.is_datetime64_any_dtype(ts):
        ts = pd.to_datetime(ts, utc=True, errors="coerce", format="ISO8601")
    if getattr(ts.dt, "tz", None) is None:
        ts = ts.dt.tz_localize("UTC")
    return (ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype="float64")


def link_repeats(frame: pd.DataFrame, window_days: int, cause: str = "cause") -> pd.DataFrame:
    """Measured repeat links (same ``customer_id``, same ``cause``, within ``window_days``).

    Returns ``linkable``, ``is_repeat``, ``followed_up`` (bools) and ``gap_days`` (days since the
    previous contact about the same issue, NaN for none), indexed like ``frame``.
    """
    _require(frame, ("customer_id", "started_at", cause), "link_repeats")
    n = len(frame)
    secs = _seconds(frame["started_at"])
    cust = frame["customer_id"]
    cz = frame[cause]
    linkable = (cust.notna() & (cust.astype("string").str.len() > 0) & cz.notna()).to_numpy() & ~np.isnan(secs)
    is_repeat = np.zeros(n, dtype=bool)
    followed = np.zeros(n, dtype=bool)
    gap = np.full(n, np.nan)
    pos = np.flatnonzero(linkable)
    if len(pos) > 1:
        c_codes, _ = pd.factorize(cust.to_numpy()[pos])
        z_codes, _ = pd.factorize(cz.to_numpy()[pos])
        s = secs[pos]
        order = np.lexsort((s, z_codes, c_codes))  # stable: ties keep file order
        same = (c_codes[order][1:] == c_codes[order][:-1]) & (z_codes[order][1:] == z_codes[order][:-1])
        d = np.diff(s[order]) / 86400.0
        linked = same & (d <= window_days)
        rows = pos[order]
        is_repeat[rows[1:][linked]] = True
        followed[rows[:-1][linked]] = True
        gap[rows[1:][same]] = d[same]
    return pd.DataFrame({"linkable": linkable, "is_repeat": is_repeat, "followed_up": followed, "gap_days": gap}, index=frame.index)


# -------------------------------------------------------------------------------------- aggregation


def month_factor(started_at: pd.Series | None) -> tuple[float | None, int | None]:
    """(factor that turns archive totals into a month, calendar days the archive covers), or (None, None).

    The archive covers the calendar days from its first to its last start date, both included.
    """
    if started_at is None:
        return None, None
    secs = _seconds(started_at)
    secs = secs[~np.isnan(secs)]
    if len(secs) == 0:
        return None, None
    days = int(np.floor(secs.max() / 86400.0) - np.floor(secs.min() / 86400.0)) + 1
    return DAYS_PER_MONTH / days, days


def _group_key(frame: pd.DataFrame, by: str | None) -> pd.Series:
    if by is None:
        return pd.Series("all", index=frame.index)
    col = frame[by]
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.dt.strftime("%Y-%m-%d").fillna(MISSING)
    return col.astype("string").fillna(MISSING)


def summarise(frame: pd.DataFrame, a: FinanceAssumptions, by: str | None = None, window_end: Any = None) -> pd.DataFrame:
    """One row per group (or one row ``all``): volumes, money with 95% intervals, measured and predicted rates.

    ``frame`` carries the input columns, :func:`conversation_money`'s columns and :func:`link_repeats`'
    columns. ``window_end`` (a tz-aware timestamp, normally the archive's last start) lets the table
    count first contacts whose repeat window runs past the archive's end (``window_open``).
    """
    _require(frame, ("p_resolved", "contact_cost", "linkable", "is_repeat", "followed_up") + MONEY_KINDS, "summarise")
    n = len(frame)
    w = pd.DataFrame(index=frame.index)
    w["conversations"] = np.ones(n)
    w["contact_cost"] = frame["contact_cost"]
    for k in MONEY_KINDS:
        w[k] = frame[k]
        w[f"{k}_var"] = frame[f"{k}_var"]
    p_rep = frame["p_repeat"] if "p_repeat" in frame else pd.Series(np.nan, index=frame.index)
    w["p_resolved"] = frame["p_resolved"]
    w["p_escalated"] = frame["p_escalated"]
    w["p_at_risk"] = frame["p_at_risk"] * (frame["churn_counted"].astype(float) if "churn_counted" in frame else 1.0)
    w["p_repeat"] = p_rep
    w["value_imputed"] = frame["value_imputed"].astype(float) if "value_imputed" in frame else 0.0
    link = frame["linkable"].to_numpy(bool)
    rep = frame["is_repeat"].to_numpy(bool) & link
    first = link & ~rep
    w["linkable"] = link.astype(float)
    w["repeats_measured"] = rep.astype(float)
    w["first_contacts"] = first.astype(float)
    w["first_contacts_not_followed_up"] = (first & ~frame["followed_up"].to_numpy(bool)).astype(float)
    not_res = np.where(link, 1.0 - frame["p_resolved"].to_numpy(float), 0.0)
    w["not_resolved_linkable"] = not_res
    w["not_resolved_followed_up"] = not_res * frame["followed_up"].to_numpy(bool)
    w["repeat_cost_measured"] = np.where(rep, frame["contact_cost"].to_numpy(float), 0.0)
    if window_end is not None and "started_at" in frame:
        secs = _seconds(frame["started_at"])
        end = _seconds(pd.Series([window_end]))[0]
        w["window_open"] = (first & (secs > end - a.repeat_window_days * 86400.0)).astype(float)
    else:
        w["window_open"] = np.nan
    hb = frame["handled_by"].astype("string").str.lower() if "handled_by" in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
    ai = (hb == "ai").fillna(False).to_numpy(bool)
    no_handover = _no_handover(frame, a)
    w["ai_handled"] = ai.astype(float)
    known = ai & ~np.isnan(no_handover)
    w["ai_handover_known"] = known.astype(float)
    w["ai_contained"] = np.where(known, frame["p_resolved"].to_numpy(float) * np.nan_to_num(no_handover), 0.0)

    g = w.groupby(_group_key(frame, by), sort=False, dropna=False).sum(min_count=0)
    # p_repeat may be all NaN (no repeat head): keep NaN rather than 0
    if p_rep.isna().all():
        g["p_repeat"] = np.nan
        g["repeat_cost_predicted"] = np.nan
        g["repeat_cost_predicted_var"] = np.nan
    out = pd.DataFrame(index=g.index)
    out.index.name = by or "group"
    nn = g["conversations"]
    out["conversations"] = nn.astype("int64")
    out["contact_cost"] = g["contact_cost"]
    out["cost_per_contact"] = g["contact_cost"] / nn
    out["cost_per_resolution"] = (g["contact_cost"] + g["escalation_cost"]) / g["p_resolved"].where(g["p_resolved"] > 0)
    out["expected_resolved"] = g["p_resolved"]
    out["expected_escalations"] = g["p_escalated"]
    out["expected_at_risk"] = g["p_at_risk"]
    for k in MONEY_KINDS:
        out[k] = g[k]
        lo, hi = interval(g[k].to_numpy(float), g[f"{k}_var"].to_numpy(float))
        out[f"{k}_low"], out[f"{k}_high"] = lo, hi
    out["linkable"] = g["linkable"].astype("int64")
    out["repeats_measured"] = g["repeats_measured"].astype("int64")
    out["repeat_rate_measured"] = g["repeats_measured"] / g["linkable"].where(g["linkable"] > 0)
    out["repeat_rate_predicted"] = g["p_repeat"] / nn
    out["first_contacts"] = g["first_contacts"].astype("int64")
    out["fcr_measured"] = g["first_contacts_not_followed_up"] / g["first_contacts"].where(g["first_contacts"] > 0)
    out["resolved_rate_predicted"] = g["p_resolved"] / nn
    out["followed_up_if_not_resolved"] = g["not_resolved_followed_up"] / g["not_resolved_linkable"].where(g["not_resolved_linkable"] > 0)
    out["window_open"] = g["window_open"].astype("int64") if window_end is not None and "started_at" in frame else np.nan
    out["repeat_cost_measured"] = g["repeat_cost_measured"]
    out["ai_share"] = g["ai_handled"] / nn
    out["containment"] = g["ai_contained"] / g["ai_handover_known"].where(g["ai_handover_known"] > 0)
    out["ai_handled"] = g["ai_handled"].astype("int64")
    out["value_imputed"] = g["value_imputed"].astype("int64")
    out["total_cost"] = g["contact_cost"] + g["escalation_cost"]
    return out


def _no_handover(frame: pd.DataFrame, a: FinanceAssumptions) -> np.ndarray:
    """1.0 where no human took part, 0.0 where one did, NaN where the data does not say."""
    n = len(frame)
    res = np.full(n, np.nan)
    if "team" in frame and a.ai_only_teams:
        team = frame["team"].astype("string")
        has = team.notna().to_numpy(bool)
        res[has] = team[has].isin(a.ai_only_teams).to_numpy(bool).astype(float)
    if "handover" in frame:
        h = frame["handover"]
        if h.dtype == object or pd.api.types.is_string_dtype(h):
            h = h.astype("string").str.lower().map({"true": True, "false": False, "1": True, "0": False})
        known = h.notna().to_numpy(bool)
        res[known] = 1.0 - h[known].astype(bool).to_numpy().astype(float)
    return res


def effort_by(frame: pd.DataFrame, by: str, classes: list[str]) -> pd.DataFrame:
    """Expected effort distribution per group: mean ``p_effort_<class>`` (shares summing to 1)."""
    cols = [f"p_effort_{c}" for c in classes]
    _require(frame, tuple(cols) + (by,), "effort_by")
    key = _group_key(frame, by)
    g = frame[cols].groupby(key, sort=False).mean()
    g.columns = [f"share_{c}" for c in classes]
    g.insert(0, "conversations", key.value_counts().reindex(g.index).astype("int64"))
    g.index.name = by
    return g
