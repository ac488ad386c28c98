#!/usr/bin/env python3
"""Render a report in headless Chromium, save a screenshot and check that the plots are really there.

    .venv/bin/python scripts/screenshot_report.py out/report.html --png out/report.png
    .venv/bin/python scripts/screenshot_report.py --demo out/demo       # synth + tiny model + report, then check
    .venv/bin/python scripts/screenshot_report.py out/report.html --install   # apt-get install chromium if missing (root)

Why a browser and not just an HTML parser: the report must open offline in a real browser with every
plot drawn. Two checks: ``--dump-dom`` (the DOM after parsing) must hold the summary, the levers and each
plot figure with an inline ``<svg>`` that has drawn shapes; the screenshot must not be blank (enough
non-white pixels and colours). Chromium runs with networking features off and a throwaway profile.
Exit status 0 when every check passes, 1 otherwise; problems are printed one per line. The tests import
this file's functions and skip when Chromium is absent; they never install it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio")
EXPECTED_PLOTS = ("plot-pareto", "plot-weekly", "plot-revenue", "plot-effort")


def find_chromium() -> str | None:
    for c in (os.environ.get("CHROMIUM"), CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def install_chromium() -> None:
    """apt-get install chromium (needs root and a package mirror); never called by the tests."""
    subprocess.run(["apt-get", "install", "-y", "chromium"], check=True)


def _run(chromium: str, html: Path, extra: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as prof:
        cmd = [chromium, *FLAGS, f"--user-data-dir={prof}", *extra, html.resolve().as_uri()]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def screenshot(html: Path, png: Path, chromium: str | None = None, size: str = "1400,4000", timeout: float = 120) -> Path:
    chromium = chromium or find_chromium()
    if not chromium:
        raise FileNotFoundError("chromium not found (install: apt-get install -y chromium)")
    png.parent.mkdir(parents=True, exist_ok=True)
    if png.exists():
        png.unlink()
    p = _run(chromium, html, [f"--screenshot={png.resolve()}", f"--window-size={size}"], timeout)
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {p.returncode}): {p.stderr[-800:]}")
    return png


def dump_dom(html: Path, chromium: str | None = None, timeout: float = 120) -> str:
    chromium = chromium or find_chromium()
    if not chromium:
        raise FileNotFoundError("chromium not found (install: apt-get install -y chromium)")
    p = _run(chromium, html, ["--dump-dom"], timeout)
    if "<html" not in p.stdout:
        raise RuntimeError(f"chromium --dump-dom returned no document (exit {p.returncode}): {p.stderr[-800:]}")
    return p.stdout


def check_dom(dom: str, plots: tuple[str, ...] = EXPECTED_PLOTS) -> list[str]:
    """Problems with the rendered DOM: missing summary, levers, plot figures or drawn SVG content."""
    problems = []
    if 'id="summary"' not in dom:
        problems.append("no summary section")
    if not re.search(r'<section class="summary".*?<ol>\s*<li>', dom, flags=re.S):
        problems.append("summary lists no money lever")
    for pid in plots:
        m = re.search(rf'<figure id="{pid}"[^>]*>(.*?)</figure>', dom, flags=re.S)
        if not m:
            problems.append(f"{pid}: no figure")
            continue
        body = m.group(1)
        if "<svg" not in body:
            problems.append(f"{pid}: figure has no inline <svg>")
        elif len(re.findall(r"<path\b", body)) < 5:
            problems.append(f"{pid}: svg has almost nothing drawn ({len(re.findall(r'<path', body))} paths)")
    cal = re.findall(r'id="plot-calibration-([\w-]+)"', dom)
    if not cal:
        problems.append("no calibration plot or 'no labels' note per head")
    if re.search(r'<(script|link)\b[^>]*(src|href)="https?://', dom):
        problems.append("page loads something from the network")
    return problems


def check_png(png: Path, min_ink: float = 0.03, min_colors: int = 8) -> tuple[list[str], dict[str, float]]:
    """Problems with a screenshot (blank or nearly blank) and its stats: share of non-white pixels, colours."""
    import numpy as np
    from PIL import Image

    img = Image.open(png).convert("RGB")
    px = np.asarray(img.resize((img.width // 4, img.height // 4)), dtype=np.int32).reshape(-1, 3)
    ink = float((px.sum(axis=1) < 720).mean())
    colors = len(np.unique(px // 16, axis=0))
    stats = {"width": img.width, "height": img.height, "ink": ink, "colors": colors}
    problems = []
    if ink < min_ink:
        problems.append(f"screenshot is nearly blank: {ink:.1%} non-white pixels (expected >= {min_ink:.0%})")
    if colors < min_colors:
        problems.append(f"screenshot has {colors} colours (expected >= {min_colors}: plots are coloured)")
    return problems, stats


def _demo(out: Path) -> Path:
    """Small generated archive, scored with the checked-in tiny model, then the report."""
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "src"))
    from convo_outcomes.batch import score_archive
    from convo_outcomes.report import build_report
    from convo_outcomes.synth import generate

    out.mkdir(parents=True, exist_ok=True)
    generate(400, 7, out / "archive.jsonl")
    score_archive([out / "archive.jsonl"], root / "tests" / "assets" / "tiny_model", out / "scores.parquet", progress_bar=False, overwrite=True)
    return build_report(out / "scores.parquet", output=out / "report.html").html


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html", nargs="?", type=Path, help="report.html to check")
    ap.add_argument("--png", type=Path, help="screenshot path (default: next to the HTML)")
    ap.add_argument("--demo", type=Path, help="build a demo report in this folder first")
    ap.add_argument("--install", action="store_true", help="apt-get install chromium when it is missing")
    ap.add_argument("--window-size", default="1400,4000")
    args = ap.parse_args(argv)
    if not find_chromium():
        if not args.install:
            print("chromium not found; rerun with --install (root) or set CHROMIUM=/path/to/chromium", file=sys.stderr)
            return 1
        install_chromium()
    html = _demo(args.demo) if args.demo else args.html
    if html is None:
        ap.error("give a report.html or --demo FOLDER")
    png = args.png or html.with_suffix(".png")
    problems = check_dom(dump_dom(html))
    screenshot(html, png, size=args.window_size)
    png_problems, stats = check_png(png)
    problems += png_problems
    print(f"screenshot {png}: {stats['width']}x{stats['height']}, {stats['ink']:.1%} non-white, {stats['colors']} colours")
    for p in problems:
        print(f"problem: {p}")
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
