#!/usr/bin/env bash
# The README's retraining example, end to end: 200 labelled conversations -> a new contact cause
# (card_delivery) warm-started from models/default -> export -> compare under a gate -> and a
# deliberately worse challenger that the same gate must reject. Needs ../shared/data (BANKING77 labels)
# and models/default. About 15 min on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1
BIN=${BIN:-.venv/bin}
RUN=${RUN:-runs/card_delivery}
SHARED=${SHARED:-../shared/data}
SYNTH_TEST=runs/default/synth-test.jsonl
[ -f "$SYNTH_TEST" ] || $BIN/convo-outcomes data synth --n 1500 --seed 9001 --out "$SYNTH_TEST"

$BIN/python training/recipes/card_delivery_data.py "$SHARED" "$RUN" "$SYNTH_TEST" "$(ls runs/default/cache/synth-*.jsonl | head -1)"
rm -rf "$RUN/checkpoint" "$RUN/best" "$RUN/final"
$BIN/convo-outcomes train --config training/configs/card_delivery.yaml
$BIN/convo-outcomes export --checkpoint "$RUN/final" --output models/card-delivery --quantize int8 --keep-fp32 none \
  --validation "$RUN/labelled.jsonl" --split all --version 0.1.0
$BIN/convo-outcomes evaluate --model models/card-delivery --heldout "$RUN/heldout.jsonl" --json "$RUN/metrics.json"
$BIN/convo-outcomes card models/card-delivery --metrics "$RUN/metrics.json" --parent models/default

set +e
$BIN/convo-outcomes compare --champion models/default --challenger models/card-delivery --data "$RUN/heldout.jsonl" \
  --split all --gate training/gates/card_delivery.yaml --json "$RUN/compare.json"
good=$?
# a deliberately worse challenger: same data, but the whole model fine-tuned at a high learning rate
rm -rf "$RUN-worse"
$BIN/convo-outcomes train --config training/configs/card_delivery.yaml output_dir="$RUN-worse" \
  optim.freeze_encoder=false optim.train_heads=null optim.train_only_new=false optim.lr_encoder=1.0e-3 optim.epochs=4 optim.patience=4
$BIN/convo-outcomes export --checkpoint "$RUN-worse/final" --output "$RUN-worse/model" --quantize int8 --keep-fp32 none \
  --validation "$RUN/labelled.jsonl" --split all --version 0.1.1-worse
$BIN/convo-outcomes compare --champion models/default --challenger "$RUN-worse/model" --data "$RUN/heldout.jsonl" \
  --split all --gate training/gates/card_delivery.yaml --json "$RUN-worse/compare.json"
worse=$?
set -e
echo "gate: challenger exit $good (want 0), worse challenger exit $worse (want 1)"
[ "$good" = 0 ] && [ "$worse" = 1 ]
