"""The report end to end: synth archive -> tiny model scores -> report (CLI), formats, errors, browser check."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from convo_outcomes.batch import score_archive
from convo_outcomes.finance import DAYS_PER_MONTH, FinanceAssumptions
from convo_outcomes.report import ReportError, _calibration, build_report, compute_tables, load_scores, prepare_frame
from convo_outcomes.synth import generate
from tests.test_finance import BASE, ground_truth, synth_truth_frame

ROOT = Path(__file__).resolve().parents[1]
HEADS = ("resolution", "churn_risk", "repeat_contact", "contact_cause", "effort")
PLOTS = ("plot-pareto", "plot-weekly", "plot-revenue", "plot-effort")


def load_script(name: str):
    """A module from scripts/ (not a package), loaded by path."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def scored(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A generated archive scored by the tiny model into all three scores formats."""
    d = tmp_path_factory.mktemp("scored")
    generate(120, 4, d / "archive.jsonl")
    out = {}
    for fmt in ("parquet", "csv", "jsonl"):
        score_archive([d / "archive.jsonl"], tiny_model, d / f"scores.{fmt}", progress_bar=False, batch_size=32)
        out[fmt] = d / f"scores.{fmt}"
    return out


@pytest.fixture(scope="module")
def cli_report(scored: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("cli") / "out" / "report.html"
    cmd = [sys.executable, "-m", "convo_outcomes.cli", "report", str(scored["parquet"]), "--output", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180), out


def test_cli_writes_self_contained_html_json_and_csv(cli_report: tuple[subprocess.CompletedProcess, Path]) -> None:
    proc, out = cli_report
    assert proc.returncode == 0, proc.stderr
    assert "report on 120 conversations" in proc.stdout
    assert "Largest money levers:" in proc.stdout and "\n1. " in proc.stdout
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    for pid in PLOTS:
        m = re.search(rf'<figure id="{pid}"[^>]*>(.*?)</figure>', page, flags=re.S)
        assert m and "<svg" in m.group(1), pid
    for h in HEADS:  # labels are present in generated data: a reliability diagram per head
        assert f'id="plot-calibration-{h}"' in page
    # offline: no script, no external stylesheet, image, font or import
    assert "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "@import" not in page and "url(http" not in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "duplicate element ids across inline SVGs"

    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["rows"] == 120 and doc["assumptions"]["currency"] == "EUR"
    assert len(doc["levers"]) == 3 and doc["summary"][2].startswith("1. ")
    tables_dir = out.with_name("report_tables")
    csvs = {p.stem for p in tables_dir.glob("*.csv")}
    assert csvs == set(doc["tables"]) >= {"totals", "by_cause", "by_channel", "by_queue", "by_team", "by_industry", "by_week",
                                           "by_handled_by", "effort_by_cause", "calibration", "levers"}
    by_cause = pd.read_csv(tables_dir / "by_cause.csv")
    j = pd.DataFrame(doc["tables"]["by_cause"])
    assert list(by_cause["cause"]) == list(j["cause"])
    assert by_cause["total_cost"].to_numpy() == pytest.approx(j["total_cost"].to_numpy(), abs=1e-5)
    assert by_cause["total_cost"].is_monotonic_decreasing
    assert by_cause["cumulative_share"].iloc[-1] == pytest.approx(1.0)
    assert doc["tables"]["totals"][0]["conversations"] == 120
    assert sum(r["conversations"] for r in doc["tables"]["by_week"]) == 120


def test_the_three_scores_formats_give_the_same_tables(scored: dict[str, Path]) -> None:
    """Same scores as Parquet, CSV (evidence as JSON text, empty strings) and JSONL: same numbers (tables only, no plots)."""
    a = FinanceAssumptions.default()
    tables = {}
    for fmt, path in scored.items():
        df = load_scores(path)
        frame, info = prepare_frame(df, path)
        tables[fmt], _ = compute_tables(frame, a, info["effort_classes"])
        tables[fmt]["calibration"], _ = _calibration(df, info["heads"])
    for fmt in ("csv", "jsonl"):
        for name in ("totals", "by_cause", "by_week", "by_channel", "by_team", "effort_by_cause", "calibration"):
            pd.testing.assert_frame_equal(tables["parquet"][name], tables[fmt][name], check_exact=False, rtol=1e-9, check_dtype=False,
                                          check_index_type=False, obj=f"{fmt}:{name}")


def test_chromium_renders_the_plots(cli_report: tuple[subprocess.CompletedProcess, Path], tmp_path: Path) -> None:
    shot = load_script("screenshot_report")
    chromium = shot.find_chromium()
    if chromium is None:
        pytest.skip("headless Chromium not installed (/usr/bin/chromium); scripts/screenshot_report.py --install installs it")
    _, out = cli_report
    assert shot.check_dom(shot.dump_dom(out, chromium)) == []
    png = shot.screenshot(out, tmp_path / "report.png", chromium)
    problems, stats = shot.check_png(png)
    assert problems == [], stats


# ------------------------------------------------------------------------------------- hand-made money


def hand_scores(tmp_path: Path, **drop) -> Path:
    """Three scored conversations written as a scores CSV, values chosen so money is easy by hand."""
    rows = [
        ("a", "C1", "2024-03-01T10:00:00+00:00", "billing_error", "voice", 1000.0, 0.5, 0.4, 0.2, 0.1),
        ("b", "C1", "2024-03-04T10:00:00+00:00", "billing_error", "voice", None, 1.0, 0.0, 0.5, 1.0),
        ("c", "C2", "2024-03-10T09:00:00+00:00", "refund", "voice", 200.0, 0.2, 0.5, 0.0, 0.0),
    ]
    recs = []
    for rid, cust, ts, cause, ch, value, p_res, p_esc, p_risk, p_rep in rows:
        recs.append({
            "id": rid, "model_version": "hand@1",
            "resolution_label": "resolved", "resolution_p_resolved": p_res, "resolution_p_unresolved": round(1 - p_res - p_esc, 6),
            "resolution_p_escalated": p_esc, "churn_risk_label": "not_at_risk", "churn_risk_p_not_at_risk": 1 - p_risk,
            "churn_risk_p_at_risk": p_risk, "repeat_contact_label": "repeat", "repeat_contact_p_first_contact": 1 - p_rep,
            "repeat_contact_p_repeat": p_rep, "contact_cause_label": cause, "contact_cause_p_billing_error": float(cause == "billing_error"),
            "contact_cause_p_refund": float(cause == "refund"), "meta_channel": ch, "meta_customer_id": cust, "meta_started_at": ts,
            "meta_account_value": value, "meta_handled_by": "human", "meta_team": "t1", "meta_queue": "q", "meta_industry": "retail",
        })
    df = pd.DataFrame(recs).drop(columns=list(drop))
    path = tmp_path / "hand.csv"
    df.to_csv(path, index=False)
    return path


def hand_finance(tmp_path: Path, **over) -> Path:
    p = tmp_path / "finance.yaml"
    p.write_text(yaml.safe_dump({**BASE, **over}))
    return p


def test_hand_made_scores_give_hand_computed_money_and_levers(tmp_path: Path) -> None:
    r = build_report(hand_scores(tmp_path), finance=hand_finance(tmp_path), output=tmp_path / "r" / "report.html")
    doc = json.loads(r.json.read_text())
    f = DAYS_PER_MONTH / 10  # 2024-03-01 .. 2024-03-10: 10 calendar days
    assert doc["period"]["days"] == 10 and doc["period"]["month_factor"] == pytest.approx(f)
    t = doc["tables"]["totals"][0]
    assert t["contact_cost"] == pytest.approx(18.0)  # 3 voice contacts at 6
    assert t["escalation_cost"] == pytest.approx(9.0)  # (0.4 + 0 + 0.5) x 10
    assert t["cost_per_resolution"] == pytest.approx(27.0 / 1.7)
    # C1 counts once, on b (its latest contact); b has no account value -> default 500
    assert t["churn_loss"] == pytest.approx(0.5 * 500 + 0.0 * 200)
    assert t["retention_value"] == pytest.approx(0.2 * 250)
    assert t["future_repeat_cost"] == pytest.approx(0.5 * 0.5 * 6 + 0 + 0.8 * 0.5 * 6)
    assert t["value_imputed"] == 1
    by = {x["cause"]: x for x in doc["tables"]["by_cause"]}
    assert by["billing_error"]["repeats_measured"] == 1 and by["billing_error"]["repeat_cost_measured"] == pytest.approx(6.0)
    assert by["billing_error"]["fcr_measured"] == 0.0 and by["billing_error"]["repeat_rate_measured"] == 0.5
    assert by["refund"]["fcr_measured"] == 1.0 and by["refund"]["repeat_rate_measured"] == 0.0
    assert [(x["kind"], x["cause"]) for x in doc["levers"]] == [
        ("retention", "billing_error"), ("repeat_contacts", "billing_error"), ("escalations", "refund")]
    assert [x["money"] for x in doc["levers"]] == pytest.approx([50 * f, 6 * f, 5 * f])
    assert doc["levers"][1]["text"].startswith(f"Repeat contacts about billing_error cost {6 * f:,.0f} EUR a month (1 repeat contacts measured")
    assert "a retention offer that keeps 20% of them would save 152 EUR a month" in doc["levers"][0]["text"]
    assert any("Contacts cost 55 EUR a month: 6.00 EUR per contact and 15.88 EUR per resolution" in x for x in doc["summary"])
    # no labels in this file: every head says so instead of drawing a diagram
    page = r.html.read_text()
    for h in ("resolution", "churn_risk", "repeat_contact", "contact_cause"):
        assert f"<b>{h}</b>: no labels" in page
    assert doc["calibration"]["resolution"]["labelled"] == 0


def test_measured_rates_in_the_report_equal_synth_ground_truth(tmp_path: Path) -> None:
    """Full file path: a scores file built from generated records' true labels, measured rates = generator links."""
    frame, recs = synth_truth_frame(700, seed=11)
    truth = ground_truth(recs, frame)
    scores = pd.DataFrame({
        "id": frame["id"], "resolution_label": "x", "resolution_p_resolved": frame["p_resolved"],
        "resolution_p_unresolved": 1 - frame["p_resolved"] - frame["p_escalated"], "resolution_p_escalated": frame["p_escalated"],
        "churn_risk_label": "x", "churn_risk_p_not_at_risk": 1 - frame["p_at_risk"], "churn_risk_p_at_risk": frame["p_at_risk"],
        "contact_cause_label": frame["cause"], "true_contact_cause": frame["cause"], "meta_channel": frame["channel"],
        "meta_customer_id": frame["customer_id"], "meta_started_at": frame["started_at"].map(lambda t: t.isoformat()),
        "meta_account_value": frame["account_value"], "meta_handled_by": frame["handled_by"], "meta_team": frame["team"],
    })
    path = tmp_path / "truth.parquet"
    scores.to_parquet(path, index=False)
    doc = json.loads(build_report(path, output=tmp_path / "report.html", cause_source="true").json.read_text())
    assert doc["cause_source"] == "true" and doc["cause_rows_from_labels"] == 700
    tot = doc["tables"]["totals"][0]
    assert tot["repeat_rate_measured"] == pytest.approx(truth["all"]["repeat_rate"], abs=1e-6)  # JSON rounds to 6 places
    assert tot["fcr_measured"] == pytest.approx(truth["all"]["fcr"], abs=1e-6)
    for row in doc["tables"]["by_cause"]:
        t = truth[row["cause"]]
        assert row["repeats_measured"] == t["repeats"]
        assert row["repeat_rate_measured"] == pytest.approx(t["repeat_rate"], abs=1e-6)
        if not math.isnan(t["fcr"]):
            assert row["fcr_measured"] == pytest.approx(t["fcr"], abs=1e-6)


# ---------------------------------------------------------------------------------------------- errors


def test_missing_column_names_file_column_and_what_was_found(tmp_path: Path) -> None:
    path = hand_scores(tmp_path, resolution_p_resolved=True)
    with pytest.raises(ReportError) as e:
        build_report(path, output=tmp_path / "report.html")
    msg = str(e.value)
    assert str(path) in msg and "'resolution_p_resolved'" in msg and "found columns:" in msg and "resolution_p_escalated" in msg


def test_bad_probability_names_column_row_and_id(tmp_path: Path) -> None:
    path = hand_scores(tmp_path)
    df = pd.read_csv(path)
    df.loc[1, "churn_risk_p_at_risk"] = 1.7
    df.to_csv(path, index=False)
    with pytest.raises(ReportError, match=r"'churn_risk_p_at_risk' must hold probabilities in \[0, 1\].*row 2 \(id b\): 1\.7"):
        build_report(path, output=tmp_path / "report.html")


def test_other_input_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such scores file"):
        load_scores(tmp_path / "missing.parquet")
    with pytest.raises(ReportError, match=r"\.jsonl, \.csv or \.parquet"):
        load_scores(tmp_path / "scores.xlsx")
    with pytest.raises(ReportError, match=r"expected an \.html file name"):
        build_report(hand_scores(tmp_path), output=tmp_path / "report.pdf")
    with pytest.raises(ReportError, match="cause_source must be one of"):
        build_report(hand_scores(tmp_path), output=tmp_path / "report.html", cause_source="guess")
    with pytest.raises(ReportError, match="'true_contact_cause'"):
        build_report(hand_scores(tmp_path), output=tmp_path / "report.html", cause_source="true")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ReportError, match="no scored rows"):
        build_report(tmp_path / "empty.jsonl", output=tmp_path / "report.html")


def test_cli_maps_errors_to_exit_2_with_one_line(tmp_path: Path) -> None:
    fin = hand_finance(tmp_path, churn_save_rate=2)
    cmd = [sys.executable, "-m", "convo_outcomes.cli", "report", str(hand_scores(tmp_path)), "--finance", str(fin), "--output", str(tmp_path / "r.html")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "error:" in p.stderr and "'churn_save_rate'" in p.stderr and "[0.0, 1.0]" in p.stderr and "found 2" in p.stderr
    assert not (tmp_path / "r.html").exists()


def test_default_assumptions_are_used_and_reported(tmp_path: Path) -> None:
    r = build_report(hand_scores(tmp_path), output=tmp_path / "report.html")
    doc = json.loads(r.json.read_text())
    assert doc["assumptions"]["source"] == "convo_outcomes/resources/finance.yaml"
    assert doc["assumptions"]["repeat_window_days"] == FinanceAssumptions.default().repeat_window_days
