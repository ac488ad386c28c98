"""Report generation time for 100,000 scored conversations (read, money, measured repeats, plots, HTML/JSON/CSV).

    .venv/bin/python benchmarks/report_bench.py                     # 100,000 rows, jsonl + csv + parquet
    .venv/bin/python benchmarks/report_bench.py --rows 20000 --format parquet --keep out/bench

The scores file is made here, not by the model (scoring 100,000 conversations takes far longer than
reporting on them): every column `convo-outcomes score` writes for the default label spec (all heads'
probabilities, labels, evidence lists, true labels on a third of rows, all meta columns), with
Dirichlet probabilities, 60 days of start times and ~15% same-customer same-cause repeat contacts, so
the repeat linking, slicing and calibration do real work. Prints seconds and rows/s per format, with
the read / compute / render / write split. Budget: < 60 s per 100,000 rows.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from convo_outcomes.batch import META_COLUMNS  # noqa: E402
from convo_outcomes.labels import LabelSpec  # noqa: E402
from convo_outcomes.report import build_report  # noqa: E402

CHANNELS = ("voice", "chat", "email")
INDUSTRIES = ("retail", "telecom", "travel_mobility", "banking", "utilities", "subscription_software")


def make_scores(n: int, seed: int = 0) -> pd.DataFrame:
    """A scores frame shaped like `score` output, with linked repeat contacts."""
    rng = np.random.default_rng(seed)
    spec = LabelSpec.default()
    cols: dict[str, object] = {"id": [f"bench-{i:07d}" for i in range(n)], "input": "bench.jsonl", "index": np.arange(n), "model_version": "bench@0"}
    for h in spec:
        k = len(h.classes)
        p = rng.dirichlet(np.full(k, 0.6), size=n)
        top = p.argmax(1)
        cols[f"{h.name}_label"] = np.asarray(h.classes, dtype=object)[top]
        cols[f"{h.name}_confidence"] = p.max(1)
        for j, c in enumerate(h.classes):
            cols[f"{h.name}_p_{c}"] = p[:, j]
        cols[f"{h.name}_evidence"] = [[int(x) for x in rng.integers(0, 40, 3)] for _ in range(n)]
    for h in spec:
        truth = np.asarray(h.classes, dtype=object)[rng.integers(0, len(h.classes), n)]
        truth[rng.random(n) > 1 / 3] = None
        cols[f"true_{h.name}"] = truth
    cols["n_tokens"] = rng.integers(50, 4000, n)
    cols["n_windows"] = 1
    cols["windows_dropped"] = 0
    # customers and start times: 15% of rows are repeats of an earlier row (same customer and cause, 2-150 h later)
    t0 = pd.Timestamp("2024-03-01T00:00:00Z").value // 10**9
    start = t0 + rng.integers(0, 60 * 86400, n)
    cust = np.asarray([f"C{i:08d}" for i in range(n)], dtype=object)
    cause = np.asarray(cols["contact_cause_label"], dtype=object)
    rep = np.flatnonzero(rng.random(n) < 0.15)
    prev = rng.integers(0, n, len(rep))
    keep = prev != rep
    rep, prev = rep[keep], prev[keep]
    cust[rep] = cust[prev]
    cause[rep] = cause[prev]
    start[rep] = start[prev] + rng.integers(2 * 3600, 150 * 3600, len(rep))
    cols["contact_cause_label"] = cause
    true_cause = cols["true_contact_cause"]
    cols["true_contact_cause"] = np.where(pd.isna(true_cause), None, cause)  # labels agree with the linked cause
    meta = {
        "source": "bench", "channel": np.asarray(CHANNELS, dtype=object)[rng.integers(0, 3, n)], "language": "en", "customer_id": cust,
        "started_at": pd.to_datetime(start, unit="s", utc=True).map(lambda t: t.isoformat()).to_numpy(),
        "handled_by": np.where(rng.random(n) < 0.3, "ai", "human"), "account_value": np.round(rng.lognormal(6, 1, n), 2),
        "queue": [f"q-{c}" for c in cause], "team": np.where(rng.random(n) < 0.15, "virtual-assistant", "team-" + pd.Series(rng.integers(0, 40, n)).astype(str)),
        "industry": np.asarray(INDUSTRIES, dtype=object)[rng.integers(0, len(INDUSTRIES), n)],
    }
    av = meta["account_value"].astype(object)
    av[rng.random(n) < 0.05] = None
    meta["account_value"] = av
    for m in META_COLUMNS:
        cols[f"meta_{m}"] = meta[m]
    return pd.DataFrame(cols)


def write(df: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        d = df.copy()
        for c in [c for c in d.columns if c.endswith("_evidence")]:
            d[c] = d[c].map(json.dumps)
        d.to_csv(path, index=False)
    else:
        with open(path, "w") as f:
            for rec in df.to_dict(orient="records"):
                rec = {k: (None if isinstance(v, float) and v != v else v) for k, v in rec.items()}
                f.write(json.dumps(rec, default=lambda o: o.item() if hasattr(o, "item") else str(o)) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--format", choices=("jsonl", "csv", "parquet", "all"), default="all")
    ap.add_argument("--keep", type=Path, help="write the scores files and reports here (default: a temporary folder)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    fmts = ("jsonl", "csv", "parquet") if args.format == "all" else (args.format,)
    with tempfile.TemporaryDirectory() as tmp:
        d = args.keep or Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        df = make_scores(args.rows)
        print(f"made {len(df):,} scored rows x {df.shape[1]} columns in {time.perf_counter() - t:.1f} s (not timed below)")
        for fmt in fmts:
            path = d / f"scores.{fmt}"
            write(df, path)
            r = build_report(path, output=d / f"report_{fmt}" / "report.html")
            split = ", ".join(f"{k} {v:.1f} s" for k, v in r.timings.items())
            print(f"{fmt:<8} {path.stat().st_size / 1e6:7.1f} MB  {r.seconds:6.1f} s  {r.rate:9,.0f} rows/s  ({split})  "
                  f"html {r.html.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
