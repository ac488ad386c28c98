"""Outcome and money report from a scores file: one self-contained HTML page plus the same tables as JSON/CSV.

Why one file: the report is mailed around and opened on laptops without network access, so plots are
inline SVG (matplotlib, no pyplot global state), styles are inline and there is no JavaScript.

Outputs for ``--output DIR/report.html``:

* ``DIR/report.html``: summary in plain words (the three largest money levers first), then the driver
  Pareto, weekly FCR and repeat rate, revenue at risk, effort by cause, slices by channel / queue /
  team / industry / handled_by / week, a reliability diagram per head and the assumptions used.
* ``DIR/report.json``: ``summary`` lines, ``levers``, ``assumptions``, ``definitions``, ``period`` and
  every table under ``tables`` (lists of row objects; NaN is ``null``).
* ``DIR/report_tables/<table>.csv``: the same tables (``totals``, ``by_cause``, ``by_channel``,
  ``by_queue``, ``by_team``, ``by_industry``, ``by_handled_by``, ``by_week``, ``effort_by_cause``,
  ``calibration``, ``levers``). HTML slice tables show at most ``MAX_HTML_ROWS`` rows; CSV/JSON hold all.

Cause: every per-cause figure (Pareto, measured repeats, effort) groups by one cause column chosen by
``cause_source``: ``auto`` (default) uses ``true_contact_cause`` where a row has it and the model's
``contact_cause_label`` otherwise; ``predicted`` and ``true`` use only one of them. The report states
which it used and how many rows came from each. Money and rate definitions: :mod:`convo_outcomes.finance`.

Reading is columnar (pyarrow for Parquet, CSV and JSONL; only the columns the report needs) and all
aggregation is vectorised, so 100,000 scored rows take seconds.
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .finance import (
    DAYS_PER_MONTH,
    FinanceAssumptions,
    FinanceError,
    conversation_money,
    effort_by,
    link_repeats,
    month_factor,
    summarise,
)

logger = logging.getLogger(__name__)

__all__ = ["ReportError", "ReportResult", "Lever", "load_scores", "prepare_frame", "compute_tables", "build_report", "CAUSE_SOURCES"]

# Columns of the default label spec the money needs (scores file names, see batch.columns_for).
COL_RESOLVED = "resolution_p_resolved"
COL_ESCALATED = "resolution_p_escalated"
COL_AT_RISK = "churn_risk_p_at_risk"
COL_REPEAT = "repeat_contact_p_repeat"
COL_CAUSE = "contact_cause_label"
COL_TRUE_CAUSE = "true_contact_cause"
COL_CHANNEL = "meta_channel"
EFFORT_PREFIX = "effort_p_"
CAUSE_SOURCES = ("auto", "predicted", "true")
SLICES = (("channel", "meta_channel"), ("queue", "meta_queue"), ("team", "meta_team"), ("industry", "meta_industry"), ("handled_by", "meta_handled_by"))
MAX_HTML_ROWS = 30
PROB_TOLERANCE = 1e-6  # float32 softmax outputs may exceed 1 by rounding
CALIBRATION_BINS = 10

COLORS = {"first": "#4C78A8", "repeat": "#E45756", "escalation": "#F58518", "line": "#333333", "risk": "#B279A2",
          "retention": "#54A24B", "pred": "#9D9D9D", "low": "#72B7B2", "medium": "#EECA3B", "high": "#E45756"}


class ReportError(RuntimeError):
    """The report cannot be built: the message names the file, the column, what was expected and found."""


@dataclass
class Lever:
    """One money lever for the summary: what it is about, its monthly (or archive) money and the sentence."""

    kind: str
    cause: str
    money: float
    per: str
    text: str
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "cause": self.cause, "money": self.money, "per": self.per, "low": self.low, "high": self.high, "text": self.text}


@dataclass
class ReportResult:
    html: Path
    json: Path
    tables_dir: Path
    rows: int
    seconds: float
    summary: list[str]
    levers: list[Lever] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_text(self) -> str:
        lines = [f"report on {self.rows} conversations in {self.seconds:.1f} s ({self.rate:,.0f} rows/s)"]
        lines += self.summary
        lines.append(f"wrote {self.html}, {self.json} and {self.tables_dir}/*.csv")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------- reading


def _wanted(name: str) -> bool:
    return (
        name in ("id", "model_version")
        or name.startswith(("meta_", "true_"))
        or name.endswith("_label")
        or ("_p_" in name and not name.endswith("_evidence"))
    )


def _arrow_type(name: str):
    import pyarrow as pa

    if name == "meta_account_value" or ("_p_" in name and not name.startswith(("meta_", "true_"))):
        return pa.float64()
    if name == "meta_handover":
        return pa.bool_()
    return pa.string()


def _scores_format(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in ((".jsonl", "jsonl"), (".csv", "csv"), (".parquet", "parquet")):
        if name.endswith(suffix):
            return fmt
    raise ReportError(f"{path}: expected a scores file ending in .jsonl, .csv or .parquet (from `convo-outcomes score`), found {path.suffix!r}")


def load_scores(path: str | Path) -> pd.DataFrame:
    """Read the columns the report needs from a JSONL/CSV/Parquet scores file (columnar, no per-row Python)."""
    import pyarrow as pa

    path = Path(path)
    fmt = _scores_format(path)
    if not path.is_file():
        raise ReportError(f"{path}: no such scores file")
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            names = pq.ParquetFile(path).schema_arrow.names
            table = pq.read_table(path, columns=[c for c in names if _wanted(c)])
        elif fmt == "csv":
            import pyarrow.csv as pcsv

            with open(path, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
            cols = [c for c in header if _wanted(c)]
            table = pcsv.read_csv(
                path,
                convert_options=pcsv.ConvertOptions(
                    include_columns=cols,
                    column_types={c: _arrow_type(c) for c in cols},
                    strings_can_be_null=True,
                    true_values=["true", "True", "1"],
                    false_values=["false", "False", "0"],
                ),
            )
        else:
            import pyarrow.json as pjson

            with open(path, encoding="utf-8") as f:
                first = next((line for line in f if line.strip()), "")
            if not first:
                raise ReportError(f"{path}: no scored rows (the file is empty)")
            try:
                keys = list(json.loads(first))
            except json.JSONDecodeError as e:
                raise ReportError(f"{path}: line 1 is not JSON ({e.msg}); expected one scored row per line") from e
            schema = pa.schema([pa.field(k, _arrow_type(k)) for k in keys if _wanted(k)])
            try:
                table = pjson.read_json(
                    path,
                    read_options=pjson.ReadOptions(block_size=1 << 24),
                    parse_options=pjson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
                )
            except pa.ArrowInvalid as e:
                logger.warning("%s: columnar JSON read failed (%s); reading row by row", path, e)
                table = _read_jsonl_slow(path, schema)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: cannot read the scores file as {fmt}: {e}") from e
    return table.to_pandas()


def _read_jsonl_slow(path: Path, schema) -> Any:
    """Fallback for JSONL whose value types vary (a number written as a string): coerce per column."""
    import pyarrow as pa

    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ReportError(f"{path}: line {i} is not JSON ({e.msg})") from e
    df = pd.DataFrame.from_records(rows, columns=schema.names)
    for fld in schema:
        if pa.types.is_floating(fld.type):
            df[fld.name] = pd.to_numeric(df[fld.name], errors="coerce")
    return pa.Table.from_pandas(df, preserve_index=False)


# ------------------------------------------------------------------------------------------ preparing


def _plain(v: Any) -> Any:
    """numpy scalar -> Python value, so messages read 1.7 and not np.float64(1.7)."""
    return v.item() if hasattr(v, "item") else v


def _check_probability(path: Path, df: pd.DataFrame, col: str) -> np.ndarray:
    v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype="float64")
    bad = np.isnan(v) | (v < -PROB_TOLERANCE) | (v > 1 + PROB_TOLERANCE)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        rid = df["id"].iloc[i] if "id" in df else None
        raise ReportError(
            f"{path}: column {col!r} must hold probabilities in [0, 1] on every row; found {int(bad.sum())} "
            f"missing or out-of-range value(s), first at row {i + 1}" + (f" (id {rid})" if rid is not None else "") + f": {_plain(df[col].iloc[i])!r}"
        )
    return np.clip(v, 0.0, 1.0)


def _require_columns(path: Path, df: pd.DataFrame, needs: dict[str, str]) -> None:
    for col, why in needs.items():
        if col not in df.columns:
            have = ", ".join(sorted(df.columns)[:40])
            raise ReportError(f"{path}: scores file has no column {col!r} ({why}); found columns: {have}")


def heads_in(df: pd.DataFrame) -> dict[str, list[str]]:
    """Heads present in a scores frame and their classes, in file order: ``<head>_label`` + ``<head>_p_<class>``."""
    heads: dict[str, list[str]] = {}
    for c in df.columns:
        if c.endswith("_label") and not c.startswith(("meta_", "true_")):
            h = c[: -len("_label")]
            classes = [x[len(h) + 3 :] for x in df.columns if x.startswith(f"{h}_p_")]
            if classes:
                heads[h] = classes
    return heads


def prepare_frame(df: pd.DataFrame, path: str | Path = "<scores>", cause_source: str = "auto") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate a scores frame and map it onto the canonical columns :mod:`finance` works on."""
    path = Path(path)
    if cause_source not in CAUSE_SOURCES:
        raise ReportError(f"cause_source must be one of {CAUSE_SOURCES}, found {cause_source!r}")
    if len(df) == 0:
        raise ReportError(f"{path}: no scored rows")
    needs = {
        COL_RESOLVED: "p(resolved), for FCR, cost per resolution and future repeat cost",
        COL_ESCALATED: "p(escalated), for escalation cost",
        COL_AT_RISK: "p(at_risk), for revenue at risk",
        COL_CHANNEL: "the channel prices each contact",
    }
    if cause_source in ("auto", "predicted"):
        needs[COL_CAUSE] = f"the predicted cause groups the report (cause_source={cause_source!r})"
    else:
        needs[COL_TRUE_CAUSE] = "the labelled cause groups the report (cause_source='true')"
    _require_columns(path, df, needs)
    f = pd.DataFrame(index=df.index)
    f["id"] = df["id"] if "id" in df else pd.Series(np.arange(len(df)).astype(str), index=df.index)
    f["channel"] = df[COL_CHANNEL].astype("string")
    f["p_resolved"] = _check_probability(path, df, COL_RESOLVED)
    f["p_escalated"] = _check_probability(path, df, COL_ESCALATED)
    f["p_at_risk"] = _check_probability(path, df, COL_AT_RISK)
    f["p_repeat"] = _check_probability(path, df, COL_REPEAT) if COL_REPEAT in df else np.nan
    if "meta_account_value" in df:
        av = pd.to_numeric(df["meta_account_value"], errors="coerce").astype("float64")
        neg = av < 0
        if neg.any():
            i = int(np.flatnonzero(neg.to_numpy())[0])
            raise ReportError(f"{path}: column 'meta_account_value' must be >= 0, found {_plain(av.iloc[i])!r} at row {i + 1}")
        f["account_value"] = av
    else:
        f["account_value"] = np.nan
    true_cause = df[COL_TRUE_CAUSE].astype("string") if COL_TRUE_CAUSE in df else pd.Series(pd.NA, index=df.index, dtype="string")
    pred_cause = df[COL_CAUSE].astype("string") if COL_CAUSE in df else pd.Series(pd.NA, index=df.index, dtype="string")
    true_cause = true_cause.where(true_cause.str.len() > 0)
    if cause_source == "predicted":
        cause = pred_cause
    elif cause_source == "true":
        cause = true_cause
    else:
        cause = true_cause.fillna(pred_cause)
    if cause_source == "predicted":
        from_true, from_model = 0, int(pred_cause.notna().sum())
    elif cause_source == "true":
        from_true, from_model = int(true_cause.notna().sum()), 0
    else:
        from_true, from_model = int(true_cause.notna().sum()), int((true_cause.isna() & pred_cause.notna()).sum())
    f["cause"] = cause  # rows without a cause are not linked and group as "(missing)"
    f["customer_id"] = df["meta_customer_id"].astype("string") if "meta_customer_id" in df else pd.Series(pd.NA, index=df.index, dtype="string")
    if "meta_started_at" in df:
        f["started_at"] = pd.to_datetime(df["meta_started_at"], utc=True, errors="coerce", format="ISO8601")
    else:
        f["started_at"] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    for name, col in SLICES[1:]:
        f[name] = df[col].astype("string") if col in df else pd.Series(pd.NA, index=df.index, dtype="string")
    if "meta_handover" in df:
        f["handover"] = df["meta_handover"]
    st = f["started_at"]
    f["week"] = (st - pd.to_timedelta(st.dt.day_of_week, unit="D")).dt.floor("D")
    heads = heads_in(df)
    effort_classes = heads.get("effort", [])
    for c in effort_classes:
        f[f"p_effort_{c}"] = _check_probability(path, df, f"{EFFORT_PREFIX}{c}")
    info = {
        "cause_source": cause_source,
        "cause_rows_from_labels": from_true,
        "cause_rows_from_model": from_model,
        "cause_rows_without_cause": int(cause.isna().sum()),
        "heads": heads,
        "effort_classes": effort_classes,
        "model_versions": sorted(df["model_version"].dropna().astype(str).unique().tolist()) if "model_version" in df else [],
        "has_repeat_head": COL_REPEAT in df,
    }
    return f, info


# ------------------------------------------------------------------------------------------ computing


def _calibration(df: pd.DataFrame, heads: dict[str, list[str]]) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Reliability bins per head from ``true_<head>``; heads without labels are listed as ``labelled: 0``."""
    from .metrics import expected_calibration_error, reliability_bins

    rows, meta = [], {}
    for h, classes in heads.items():
        col = f"true_{h}"
        y = df[col].astype("string") if col in df else pd.Series(pd.NA, index=df.index, dtype="string")
        idx = pd.Series(pd.Categorical(y, categories=classes).codes, index=df.index)
        mask = (idx >= 0).to_numpy()
        n = int(mask.sum())
        if n == 0:
            meta[h] = {"labelled": 0, "ece": None, "accuracy": None}
            continue
        probs = df.loc[mask, [f"{h}_p_{c}" for c in classes]].to_numpy(dtype="float64")
        yy = idx.to_numpy()[mask]
        bins = reliability_bins(probs, yy, CALIBRATION_BINS)
        ece = expected_calibration_error(probs, yy, CALIBRATION_BINS)
        meta[h] = {"labelled": n, "ece": float(ece), "accuracy": float((probs.argmax(1) == yy).mean())}
        for b in bins:
            rows.append({"head": h, **b})
    table = pd.DataFrame(rows, columns=["head", "lo", "hi", "confidence", "accuracy", "count"])
    return table, meta


def compute_tables(frame: pd.DataFrame, a: FinanceAssumptions, effort_classes: Sequence[str] = ()) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """All report tables from a prepared frame: money, measured repeats, slices, weekly trend, effort."""
    money = conversation_money(frame, a)
    links = link_repeats(frame, a.repeat_window_days, "cause")
    full = pd.concat([frame, money, links], axis=1)
    end = frame["started_at"].max()
    window_end = None if pd.isna(end) else end
    factor, days = month_factor(frame["started_at"])
    tables: dict[str, pd.DataFrame] = {}
    tables["totals"] = summarise(full, a, None, window_end)
    by_cause = summarise(full, a, "cause", window_end).sort_values(["total_cost", "conversations"], ascending=False)
    total = by_cause["total_cost"].sum()
    by_cause["cost_share"] = by_cause["total_cost"] / total if total > 0 else np.nan
    by_cause["cumulative_share"] = by_cause["cost_share"].cumsum()
    tables["by_cause"] = by_cause
    for name, _ in SLICES:
        t = summarise(full, a, name, window_end)
        tables[f"by_{name}"] = t.sort_values(["total_cost", "conversations"], ascending=False)
    if full["week"].notna().any():
        tables["by_week"] = summarise(full[full["week"].notna()], a, "week", window_end).sort_index()
    else:
        tables["by_week"] = summarise(full.iloc[:0], a, "week", window_end)
    if effort_classes:
        eb = effort_by(full, "cause", list(effort_classes))
        tables["effort_by_cause"] = eb.reindex([c for c in by_cause.index if c in eb.index])
    else:
        tables["effort_by_cause"] = pd.DataFrame(columns=["conversations"])
    period = {
        "start": None if window_end is None else frame["started_at"].min().isoformat(),
        "end": None if window_end is None else window_end.isoformat(),
        "days": days,
        "month_factor": factor,
        "rows_without_start": int(frame["started_at"].isna().sum()),
    }
    return tables, {"period": period, "linkable": int(links["linkable"].sum()), "value_imputed": int(money["value_imputed"].sum())}


# ------------------------------------------------------------------------------------- summary, levers


def _money(x: float | None, cur: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:,.0f} {cur}"


def _pct(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.1f}%"


def levers(by_cause: pd.DataFrame, a: FinanceAssumptions, factor: float | None, linkable: int, top: int = 3) -> list[Lever]:
    """The ``top`` largest money levers over causes: repeat contacts, retention, escalations."""
    cur = a.currency
    scale, per = (factor, "a month") if factor else (1.0, "over the archive")
    cands: list[Lever] = []
    for cause, r in by_cause.iterrows():
        cause = str(cause)
        pred = r["repeat_cost_predicted"]
        pred_txt = (
            f"the model, reading the text, puts it at {_money(pred * scale, cur)} "
            f"(95%: {_money(r['repeat_cost_predicted_low'] * scale, cur)} to {_money(r['repeat_cost_predicted_high'] * scale, cur)})"
            if not pd.isna(pred) else "the model has no repeat-contact head"
        )
        if linkable > 0:
            m = r["repeat_cost_measured"] * scale
            cands.append(Lever("repeat_contacts", cause, m, per,
                               f"Repeat contacts about {cause} cost {_money(m, cur)} {per} ({int(r['repeats_measured']):,} repeat contacts measured "
                               f"in the archive, same customer and cause within {a.repeat_window_days} days; {pred_txt})."))
        elif not pd.isna(pred):
            cands.append(Lever("repeat_contacts", cause, pred * scale, per,
                               f"Repeat contacts about {cause} cost about {_money(pred * scale, cur)} {per} by the model's reading of the text "
                               f"(95%: {_money(r['repeat_cost_predicted_low'] * scale, cur)} to {_money(r['repeat_cost_predicted_high'] * scale, cur)}); "
                               f"the archive has no customer ids and start times to measure them.",
                               r["repeat_cost_predicted_low"] * scale, r["repeat_cost_predicted_high"] * scale))
        ret, lo, hi = r["retention_value"] * scale, r["retention_value_low"] * scale, r["retention_value_high"] * scale
        cands.append(Lever("retention", cause, ret, per,
                           f"Customers at risk of leaving after {cause} contacts hold {_money(r['churn_loss'] * scale, cur)} of value {per}; "
                           f"a retention offer that keeps {100 * a.churn_save_rate:.0f}% of them would save {_money(ret, cur)} {per} "
                           f"(95%: {_money(lo, cur)} to {_money(hi, cur)}).", lo, hi))
        esc, lo, hi = r["escalation_cost"] * scale, r["escalation_cost_low"] * scale, r["escalation_cost_high"] * scale
        cands.append(Lever("escalations", cause, esc, per,
                           f"Escalations about {cause} cost {_money(esc, cur)} {per} ({r['expected_escalations'] * scale:,.0f} expected escalations "
                           f"at {_money(a.escalation_cost, cur)} each; 95%: {_money(lo, cur)} to {_money(hi, cur)}).", lo, hi))
    cands.sort(key=lambda x: (-x.money, x.kind, x.cause))
    return [c for c in cands if c.money > 0][:top]


def summary_lines(tables: dict[str, pd.DataFrame], info: dict[str, Any], extra: dict[str, Any], a: FinanceAssumptions, lv: list[Lever], n: int) -> list[str]:
    cur = a.currency
    t = tables["totals"].iloc[0]
    period = extra["period"]
    factor = period["month_factor"]
    scale, per = (factor, "a month") if factor else (1.0, "over the archive")
    lines = []
    span = f"from {period['start'][:10]} to {period['end'][:10]} ({period['days']} days)" if period["days"] else "with no start times"
    lines.append(
        f"{n:,} conversations {span}. Money is in {cur}"
        + (f"; 'a month' is the archive total x {DAYS_PER_MONTH:.2f} / {period['days']} days." if factor else "; figures are archive totals.")
    )
    lines.append("Largest money levers:")
    lines += [f"{i}. {x.text}" for i, x in enumerate(lv, 1)] or ["(no money lever above zero)"]
    if extra["linkable"]:
        lines.append(
            f"Measured first-contact resolution is {_pct(t['fcr_measured'])} and the repeat-contact rate {_pct(t['repeat_rate_measured'])} "
            f"(same customer and cause within {a.repeat_window_days} days, {extra['linkable']:,} linkable conversations); the model reads "
            f"{_pct(t['resolved_rate_predicted'])} of conversations as resolved and {_pct(t['repeat_rate_predicted'])} as repeat contacts."
        )
    else:
        lines.append(
            f"Repeat contacts cannot be measured (no customer ids or start times); the model reads {_pct(t['resolved_rate_predicted'])} "
            f"of conversations as resolved and {_pct(t['repeat_rate_predicted'])} as repeat contacts."
        )
    lines.append(
        f"Contacts cost {_money(t['contact_cost'] * scale, cur)} {per}: {t['cost_per_contact']:,.2f} {cur} per contact and "
        f"{t['cost_per_resolution']:,.2f} {cur} per resolution (contact and escalation cost / expected resolutions)."
    )
    lines.append(
        f"Revenue at risk from churn: {_money(t['churn_loss'] * scale, cur)} {per} (95%: {_money(t['churn_loss_low'] * scale, cur)} to "
        f"{_money(t['churn_loss_high'] * scale, cur)}); a retention offer saving {100 * a.churn_save_rate:.0f}% keeps {_money(t['retention_value'] * scale, cur)}."
    )
    cont = "unknown (no handover information)" if pd.isna(t["containment"]) else _pct(t["containment"])
    lines.append(f"AI handled {_pct(t['ai_share'])} of conversations; containment (resolved by AI with no handover to a human) is {cont}.")
    src = {"auto": "labelled cause where present, else the model's", "predicted": "the model's predicted cause", "true": "the labelled cause"}[info["cause_source"]]
    lines.append(
        f"Causes: {src} ({info['cause_rows_from_labels']:,} rows from labels, {info['cause_rows_from_model']:,} from the model)."
        + (f" {extra['value_imputed']:,} rows had no account value and use {_money(a.default_customer_value, cur)}." if extra["value_imputed"] else "")
    )
    return lines


# -------------------------------------------------------------------------------------------- plots


def _svg(fig, name: str, label: str) -> str:
    """Figure -> inline SVG with ids prefixed by ``name`` (several SVGs share one HTML document)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    s = buf.getvalue()
    s = s[s.index("<svg") :]
    s = re.sub(r"<!--.*?-->", "", s, flags=re.S)
    s = re.sub(r"<metadata>.*?</metadata>", "", s, flags=re.S)  # RDF boilerplate with external namespace URLs
    s = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{name}-{m.group(1)}"', s)
    s = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{name}-{m.group(1)})", s)
    s = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{name}-{m.group(1)}"', s)
    s = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 width="100%"', s, count=1)
    s = s.replace("<svg", f'<svg role="img" aria-label="{html.escape(label)}" class="plot-svg"', 1)
    return s


def _figure(w: float, h: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    return fig


def _rc(name: str):
    import matplotlib

    # fonttype none: text stays text (small, selectable); DejaVu Sans ships with matplotlib, so layout
    # is measured with it and browsers without it fall back to their sans-serif.
    return matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name, "font.size": 9, "font.family": "sans-serif",
                                  "font.sans-serif": ["DejaVu Sans"], "axes.spines.top": False, "axes.spines.right": False})


def plot_pareto(by_cause: pd.DataFrame, cur: str, per_label: str) -> str:
    with _rc("pareto"):
        fig = _figure(10, 4.2)
        ax = fig.add_subplot()
        x = np.arange(len(by_cause))
        rep = by_cause["repeat_cost_measured"].to_numpy(float)
        first = by_cause["contact_cost"].to_numpy(float) - rep
        esc = by_cause["escalation_cost"].to_numpy(float)
        ax.bar(x, first, color=COLORS["first"], label="contacts (first contacts)")
        ax.bar(x, rep, bottom=first, color=COLORS["repeat"], label="repeat contacts (measured)")
        ax.bar(x, esc, bottom=first + rep, color=COLORS["escalation"], label="escalations (expected)")
        ax.set_xticks(x, [str(c) for c in by_cause.index], rotation=40, ha="right")
        ax.set_ylabel(f"{cur} {per_label}")
        ax.yaxis.set_major_formatter(_thousands())
        ax2 = ax.twinx()
        ax2.plot(x, 100 * by_cause["cumulative_share"].to_numpy(float), color=COLORS["line"], marker="o", ms=3, lw=1.2, label="cumulative share")
        ax2.set_ylim(0, 105)
        ax2.set_ylabel("cumulative share of cost (%)")
        ax2.spines["right"].set_visible(True)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="upper left", bbox_to_anchor=(1.07, 1.0), frameon=False)
        ax.set_title("Cost drivers: handling, repeat contacts and escalations by cause (Pareto)")
        return _svg(fig, "pareto", "Driver Pareto: cost by cause with cumulative share")


def _thousands():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:,.0f}")


def _pct_fmt():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{100 * v:.0f}%")


def plot_weekly(by_week: pd.DataFrame) -> str:
    with _rc("weekly"):
        fig = _figure(10, 3.8)
        ax = fig.add_subplot()
        weeks = pd.to_datetime(by_week.index)
        ax2 = ax.twinx()
        ax2.bar(weeks, by_week["conversations"].to_numpy(float), width=5, color="#DDDDDD", label="conversations (right)")
        ax2.set_ylabel("conversations per week")
        ax2.spines["right"].set_visible(True)
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.plot(weeks, by_week["fcr_measured"], color=COLORS["first"], marker="o", ms=3, label="FCR (measured)")
        ax.plot(weeks, by_week["resolved_rate_predicted"], color=COLORS["first"], ls="--", lw=1, label="resolved (model)")
        ax.plot(weeks, by_week["repeat_rate_measured"], color=COLORS["repeat"], marker="o", ms=3, label="repeat rate (measured)")
        ax.plot(weeks, by_week["repeat_rate_predicted"], color=COLORS["repeat"], ls="--", lw=1, label="repeat (model)")
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(_pct_fmt())
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="upper left", bbox_to_anchor=(1.07, 1.0), frameon=False)
        ax.set_title("First-contact resolution and repeat-contact rate by week")
        fig.autofmt_xdate()
        return _svg(fig, "weekly", "FCR and repeat-contact rate by week")


def plot_revenue(by_cause: pd.DataFrame, cur: str, per_label: str) -> str:
    d = by_cause.sort_values("churn_loss")
    with _rc("revenue"):
        fig = _figure(10, 0.28 * len(d) + 1.3)
        ax = fig.add_subplot()
        y = np.arange(len(d))
        e = d["churn_loss"].to_numpy(float)
        err = np.vstack([e - d["churn_loss_low"].to_numpy(float), d["churn_loss_high"].to_numpy(float) - e])
        ax.barh(y, e, color=COLORS["risk"], xerr=err, error_kw={"lw": 0.8, "capsize": 2}, label="revenue at risk (95% interval)")
        ax.barh(y, d["retention_value"].to_numpy(float), height=0.4, color=COLORS["retention"], label="kept by a retention offer")
        ax.set_yticks(y, [str(c) for c in d.index])
        ax.set_xlabel(f"{cur} {per_label}")
        ax.xaxis.set_major_formatter(_thousands())
        ax.legend(loc="lower right", frameon=False)
        ax.set_title("Revenue at risk from churn by cause")
        return _svg(fig, "revenue", "Revenue at risk by cause")


def plot_effort(effort: pd.DataFrame, classes: Sequence[str]) -> str:
    d = effort.sort_values(f"share_{classes[-1]}")
    with _rc("effort"):
        fig = _figure(10, 0.28 * len(d) + 1.3)
        ax = fig.add_subplot()
        y = np.arange(len(d))
        left = np.zeros(len(d))
        for c in classes:
            v = d[f"share_{c}"].to_numpy(float)
            ax.barh(y, v, left=left, color=COLORS.get(c, None), label=f"{c} effort")
            left += v
        ax.set_yticks(y, [f"{c} ({n:,})" for c, n in zip(d.index, d["conversations"])])
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(_pct_fmt())
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(classes), frameon=False)
        ax.set_title("Customer effort by cause (expected share from the model)")
        return _svg(fig, "effort", "Customer effort by cause")


def plot_calibration(head: str, bins: pd.DataFrame, meta: dict[str, Any]) -> str:
    name = f"calibration-{head}"
    with _rc(name):
        fig = _figure(3.6, 3.4)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color=COLORS["pred"], ls=":", lw=1, label="perfect calibration")
        b = bins[bins["count"] > 0]
        ax.bar(b["lo"], b["accuracy"], width=b["hi"] - b["lo"], align="edge", color=COLORS["first"], alpha=0.35, edgecolor=COLORS["first"])
        ax.plot(b["confidence"], b["accuracy"], marker="o", ms=3, color=COLORS["first"], label="observed")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (top probability)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{head}: ECE {meta['ece']:.3f}, n={meta['labelled']:,}")
        ax.legend(loc="upper left", frameon=False, fontsize=8)
        return _svg(fig, name, f"Reliability diagram for {head}")


# --------------------------------------------------------------------------------------------- html

_RATE_COLS = {"repeat_rate_measured", "repeat_rate_predicted", "fcr_measured", "resolved_rate_predicted", "ai_share", "containment",
              "cost_share", "cumulative_share", "followed_up_if_not_resolved", "accuracy", "confidence"}
_UNIT_COST_COLS = {"cost_per_contact", "cost_per_resolution"}

HEADERS = {
    "conversations": "conversations", "total_cost": "handling cost", "contact_cost": "contact cost", "cost_share": "share of cost",
    "cumulative_share": "cumulative", "repeats_measured": "repeats (measured)", "repeat_cost_measured": "repeat cost (measured)",
    "repeat_cost_predicted": "repeat cost (model)", "repeat_rate_measured": "repeat rate (measured)", "repeat_rate_predicted": "repeat rate (model)",
    "fcr_measured": "FCR (measured)", "resolved_rate_predicted": "resolved (model)", "escalation_cost": "escalation cost",
    "future_repeat_cost": "future repeat cost", "churn_loss": "revenue at risk", "retention_value": "kept by retention",
    "cost_per_contact": "per contact", "cost_per_resolution": "per resolution", "ai_share": "AI share", "containment": "containment",
    "first_contacts": "first contacts", "window_open": "window open", "expected_at_risk": "customers at risk (expected)",
    "followed_up_if_not_resolved": "followed up if not resolved",
}


def _fmt(col: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "–"
    if col in _RATE_COLS or col.startswith("share_"):
        return f"{100 * float(v):.1f}%"
    if col in _UNIT_COST_COLS:
        return f"{float(v):,.2f}"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):,.0f}"
    return html.escape(str(v))


def _table(df: pd.DataFrame, cols: Sequence[str], index_name: str, max_rows: int | None = MAX_HTML_ROWS, intervals: Sequence[str] = ()) -> str:
    cols = [c for c in cols if c in df.columns]
    shown = df if max_rows is None else df.head(max_rows)
    head = "".join(f"<th>{html.escape(HEADERS.get(c, c))}</th>" for c in cols)
    body = []
    for idx, r in shown.iterrows():
        cells = []
        for c in cols:
            txt = _fmt(c, r[c])
            if c in intervals and not pd.isna(r[c]):
                txt += f'<span class="ci"> ({_fmt(c, r[c + "_low"])}–{_fmt(c, r[c + "_high"])})</span>'
            cells.append(f"<td>{txt}</td>")
        body.append(f"<tr><th scope=\"row\">{html.escape(str(idx))}</th>{''.join(cells)}</tr>")
    more = f'<p class="note">Showing {len(shown)} of {len(df)} rows; all rows are in the CSV and JSON.</p>' if len(shown) < len(df) else ""
    return f'<div class="tw"><table><thead><tr><th>{html.escape(index_name)}</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>{more}'


CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:0;color:#222;background:#fff;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.sub{color:#666;margin:0 0 16px}
.summary{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:6px;padding:14px 20px}
.summary ol{margin:6px 0 10px 0;padding-left:22px}.summary li{margin:6px 0;font-size:15px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:10px;margin:16px 0}
.kpi{border:1px solid #e1e4e8;border-radius:6px;padding:10px 12px}.kpi b{display:block;font-size:20px}.kpi span{color:#666;font-size:12px}
figure{margin:10px 0}figcaption{color:#555;font-size:13px;margin-top:4px}
.cal{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:14px}
.missing{border:1px dashed #bbb;border-radius:6px;padding:30px 14px;color:#777;text-align:center}
.tw{overflow-x:auto}table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
thead th{background:#f6f8fa;position:sticky;top:0}tbody th,thead th:first-child{text-align:left}
.ci{color:#888;font-size:11px}.note{color:#666;font-size:12px}dl dt{font-weight:600;margin-top:6px}dl dd{margin-left:16px}
"""

SLICE_COLS = ("conversations", "total_cost", "cost_per_contact", "fcr_measured", "resolved_rate_predicted",
              "repeat_rate_measured", "repeat_rate_predicted", "churn_loss", "ai_share", "containment")


def _definitions(a: FinanceAssumptions) -> dict[str, str]:
    w = a.repeat_window_days
    return {
        "repeat contact (measured)": f"a conversation with an earlier one by the same meta_customer_id about the same cause that started at most {w} days before it",
        "FCR (measured)": f"share of first contacts (linkable conversations that are not repeats) with no contact by the same customer about the same cause in the next {w} days",
        "repeat rate (measured)": "repeat contacts / linkable conversations (rows with customer id, start time and cause)",
        "resolved / repeat (model)": "mean p(resolved) and mean p(repeat) the model reads from the text",
        "handling cost": "contacts x cost_per_contact[channel] + p(escalated) x escalation_cost",
        "repeat cost (measured)": "cost of the contacts that are measured repeat contacts",
        "repeat cost (model)": "sum of p(repeat) x cost of the contact",
        "future repeat cost": "sum of (1 - p(resolved)) x repeat_probability_if_unresolved x cost of a contact on the same channel",
        "revenue at risk": "sum of p(at_risk) x account value (default_customer_value where missing), each customer counted once, "
                           "on their most recent conversation (the cause of that conversation carries it)",
        "kept by retention": "churn_save_rate x revenue at risk",
        "cost per resolution": "(contact cost + expected escalation cost) / sum of p(resolved)",
        "containment": "AI-handled conversations (meta_handled_by = ai): expected share resolved with no handover to a human "
                       "(meta_handover, else meta_team in ai_only_teams); unknown when neither is recorded",
        "95% interval": "each conversation is an independent Bernoulli event with its calibrated p: E ± 1.96·sqrt(Σ p(1-p)·v²); "
                        "it does not include uncertainty in the assumptions",
        "week": "Monday 00:00 UTC of meta_started_at",
        "window open": f"first contacts in the archive's last {w} days: their repeat window is not over, so FCR is optimistic there",
    }


def render_html(tables: dict[str, pd.DataFrame], cal_meta: dict[str, dict[str, Any]], info: dict[str, Any], extra: dict[str, Any],
                a: FinanceAssumptions, lines: list[str], lv: list[Lever], scores: Path, n: int) -> str:
    cur = a.currency
    per_label = "over the archive" + (f" ({extra['period']['days']} days)" if extra["period"]["days"] else "")
    t = tables["totals"].iloc[0]
    factor = extra["period"]["month_factor"]
    scale, per = (factor, "a month") if factor else (1.0, "over the archive")
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
             f"<title>Conversation outcomes report: {e(scores.name)}</title><style>{CSS}</style></head><body><main>"]
    models = ", ".join(info["model_versions"]) or "unknown model"
    parts.append(f"<h1>Conversation outcomes and money</h1><p class=\"sub\">{n:,} scored conversations from {e(str(scores))} · model {e(models)} · money in {e(cur)}</p>")
    parts.append('<section class="summary" id="summary"><h2 style="margin-top:4px;border:0">Summary</h2>')
    parts.append(f"<p>{e(lines[0])}</p><p><b>Largest money levers</b></p><ol>")
    parts += [f"<li>{e(x.text)}</li>" for x in lv] or ["<li>No money lever above zero.</li>"]
    parts.append("</ol>")
    parts += [f"<p>{e(x)}</p>" for x in lines[2 + max(1, len(lv)) :]]
    parts.append("</section>")
    kpis = [
        (_pct(t["fcr_measured"]), "FCR (measured)"), (_pct(t["repeat_rate_measured"]), "repeat-contact rate (measured)"),
        (_money(t["churn_loss"] * scale, cur), f"revenue at risk {per}"), (_money(t["contact_cost"] * scale, cur), f"contact cost {per}"),
        (f"{t['cost_per_contact']:,.2f} {cur}", "cost per contact"), (f"{t['cost_per_resolution']:,.2f} {cur}", "cost per resolution"),
        (_pct(t["ai_share"]), "AI-handled share"), ("unknown" if pd.isna(t["containment"]) else _pct(t["containment"]), "containment"),
    ]
    parts.append('<div class="kpis">' + "".join(f'<div class="kpi"><b>{e(v)}</b><span>{e(k)}</span></div>' for v, k in kpis) + "</div>")

    by_cause = tables["by_cause"]
    parts.append('<h2 id="drivers">Cost drivers</h2>')
    parts.append(f'<figure id="plot-pareto" class="plot">{plot_pareto(by_cause, cur, per_label)}<figcaption>Handling cost by cause, largest first; '
                 f"the line is the cumulative share of all handling cost. Repeat contacts are measured from the archive; escalations are expected "
                 f"from p(escalated) x {e(_money(a.escalation_cost, cur))}.</figcaption></figure>")
    parts.append(_table(by_cause, ("conversations", "total_cost", "cost_share", "cumulative_share", "repeat_cost_measured",
                                   "escalation_cost", "cost_per_contact", "cost_per_resolution"), "cause", None,
                        intervals=("escalation_cost",)))

    parts.append('<h2 id="repeats">Repeat contacts: measured vs. what the model reads</h2>')
    parts.append(f"<p>Measured: same customer, same cause, within {a.repeat_window_days} days ({extra['linkable']:,} linkable conversations). "
                 "Model: mean probabilities from the text. Large gaps point at causes the model misreads or where customers come back through other ways.</p>")
    parts.append(_table(by_cause, ("first_contacts", "fcr_measured", "resolved_rate_predicted", "repeats_measured",
                                   "repeat_rate_measured", "repeat_rate_predicted", "repeat_cost_measured", "repeat_cost_predicted",
                                   "future_repeat_cost"), "cause", None))
    parts.append(f'<p class="note">Future repeat cost: (1 - p(resolved)) x {a.repeat_probability_if_unresolved:g} x contact cost; '
                 "the CSV/JSON also hold 95% intervals, window_open and followed_up_if_not_resolved (the measured counterpart of "
                 "repeat_probability_if_unresolved).</p>")
    by_week = tables["by_week"]
    parts.append('<h2 id="trend">Over time</h2>')
    if len(by_week):
        parts.append(f'<figure id="plot-weekly" class="plot">{plot_weekly(by_week)}<figcaption>Weeks start on Monday (UTC). Solid: measured from the archive; dashed: the model. '
                     f"The last {a.repeat_window_days} days' FCR is optimistic (their repeat window is still open).</figcaption></figure>")
    else:
        parts.append('<div class="missing" id="plot-weekly">no start times (meta_started_at): no weekly trend</div>')

    parts.append('<h2 id="revenue">Revenue at risk</h2>')
    parts.append(f'<figure id="plot-revenue" class="plot">{plot_revenue(by_cause, cur, per_label)}<figcaption>p(at_risk) x account value, with 95% intervals; '
                 f"green: what a retention offer keeping {100 * a.churn_save_rate:.0f}% would save.</figcaption></figure>")
    parts.append(_table(by_cause.sort_values("churn_loss", ascending=False), ("conversations", "expected_at_risk", "churn_loss", "retention_value"),
                        "cause", None, intervals=("churn_loss", "retention_value")))

    parts.append('<h2 id="effort">Effort by cause</h2>')
    eff = tables["effort_by_cause"]
    if len(eff) and info["effort_classes"]:
        parts.append(f'<figure id="plot-effort" class="plot">{plot_effort(eff, info["effort_classes"])}<figcaption>Mean model probabilities per effort class; '
                     "causes sorted by the share of high effort.</figcaption></figure>")
    else:
        parts.append('<div class="missing" id="plot-effort">the scores have no effort head</div>')

    parts.append('<h2 id="slices">Slices</h2>')
    for name, _ in SLICES:
        parts.append(f"<h3>By {e(name)}</h3>" + _table(tables[f"by_{name}"], SLICE_COLS, name))
    parts.append("<h3>By week</h3>" + _table(by_week, SLICE_COLS, "week", None))

    parts.append('<h2 id="calibration">Calibration per head</h2><p>Reliability diagrams on rows that carry a label (<code>true_&lt;head&gt;</code>): '
                 "a calibrated head's points lie on the diagonal. Money intervals assume calibrated probabilities.</p><div class=\"cal\">")
    cal = tables["calibration"]
    for h in info["heads"]:
        meta = cal_meta[h]
        if meta["labelled"]:
            parts.append(f'<figure id="plot-calibration-{e(h)}" class="plot calibration">{plot_calibration(h, cal[cal["head"] == h], meta)}</figure>')
        else:
            parts.append(f'<div class="missing calibration" id="plot-calibration-{e(h)}"><b>{e(h)}</b>: no labels (true_{e(h)} is empty)</div>')
    parts.append("</div>")

    parts.append('<h2 id="assumptions">Assumptions and definitions</h2><div class="tw"><table><tbody>')
    for k, v in a.to_dict().items():
        val = ", ".join(f"{ch}: {c:,.2f}" for ch, c in v.items()) if isinstance(v, dict) else (", ".join(v) if isinstance(v, list) else v)
        parts.append(f"<tr><th scope=\"row\">{e(k)}</th><td style=\"text-align:left\">{e(str(val))}</td></tr>")
    parts.append(f"<tr><th scope=\"row\">source</th><td style=\"text-align:left\">{e(a.origin)}</td></tr></tbody></table></div><dl>")
    parts += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in _definitions(a).items()]
    parts.append("</dl></main></body></html>")
    return "".join(parts)


# ------------------------------------------------------------------------------------------ writing


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return None if not math.isfinite(v) else round(v, 6)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    d = df.reset_index() if df.index.name else df
    return [_jsonable(r) for r in d.to_dict(orient="records")]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_report(
    scores: str | Path,
    finance: str | Path | FinanceAssumptions | None = None,
    output: str | Path = "report.html",
    cause_source: str = "auto",
) -> ReportResult:
    """Read a scores file, compute money and measured outcomes, write ``output`` (HTML), ``.json`` and ``_tables/*.csv``."""
    t0 = time.perf_counter()
    scores, output = Path(scores), Path(output)
    if output.suffix.lower() not in (".html", ".htm"):
        raise ReportError(f"--output {output}: expected an .html file name, found suffix {output.suffix!r}")
    if isinstance(finance, FinanceAssumptions):
        a = finance
    else:
        a = FinanceAssumptions.load(finance) if finance is not None else FinanceAssumptions.default()
    timings: dict[str, float] = {}
    df = load_scores(scores)
    timings["read"] = time.perf_counter() - t0
    frame, info = prepare_frame(df, scores, cause_source)
    try:
        tables, extra = compute_tables(frame, a, info["effort_classes"])
    except FinanceError as e:
        raise ReportError(f"{scores}: {e}") from e
    tables["calibration"], cal_meta = _calibration(df, info["heads"])
    n = len(frame)
    lv = levers(tables["by_cause"], a, extra["period"]["month_factor"], extra["linkable"])
    tables["levers"] = pd.DataFrame([x.to_dict() for x in lv], columns=["kind", "cause", "money", "per", "low", "high", "text"])
    lines = summary_lines(tables, info, extra, a, lv, n)
    timings["compute"] = time.perf_counter() - t0 - timings["read"]
    page = render_html(tables, cal_meta, info, extra, a, lines, lv, scores, n)
    timings["render"] = time.perf_counter() - t0 - timings["read"] - timings["compute"]

    output.parent.mkdir(parents=True, exist_ok=True)
    json_path = output.with_suffix(".json")
    tables_dir = output.with_name(output.stem + "_tables")
    tables_dir.mkdir(exist_ok=True)
    for name, tdf in tables.items():
        d = tdf.reset_index() if tdf.index.name else tdf
        tmp = tables_dir / f".{name}.csv.tmp"
        d.to_csv(tmp, index=False, float_format="%.6f")
        os.replace(tmp, tables_dir / f"{name}.csv")
    doc = {
        "format": "convo-outcomes/report/1",
        "scores": str(scores),
        "rows": n,
        "model_versions": info["model_versions"],
        "cause_source": info["cause_source"],
        "cause_rows_from_labels": info["cause_rows_from_labels"],
        "cause_rows_from_model": info["cause_rows_from_model"],
        "period": extra["period"],
        "linkable": extra["linkable"],
        "value_imputed": extra["value_imputed"],
        "assumptions": {**a.to_dict(), "source": a.origin},
        "definitions": _definitions(a),
        "summary": lines,
        "levers": [x.to_dict() for x in lv],
        "calibration": cal_meta,
        "tables": {name: _records(tdf) for name, tdf in tables.items()},
    }
    _atomic_write(json_path, json.dumps(_jsonable(doc), indent=1, ensure_ascii=False))
    _atomic_write(output, page)
    secs = time.perf_counter() - t0
    timings["write"] = secs - sum(timings.values())
    logger.info("report on %d conversations in %.1f s -> %s", n, secs, output)
    return ReportResult(output, json_path, tables_dir, n, secs, lines, lv, timings)
