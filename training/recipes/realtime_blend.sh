#!/usr/bin/env bash
# Builds models/realtime 0.3.0 from models/realtime 0.2.0 (extracted from git into $PARENT) the way
# default_blend.sh builds the default model's 0.8.0: the same ONNX files blended with a lexical prior fitted
# on 0.2.0's own training split, then evaluated and carded. 0.2.0's validation split has only 23 to 26
# long calls decided at the end, fewer than the long-call guard needs (50), so the guard also reads 400
# generated calls from seed 9003 (45% long; no model trained on it, and the test sets use 9001 and 9002).
# Needs ../shared/data. About 1.5 min to blend, then the evaluation (BASELINES as in default_blend.sh).
# MODEL=DIR publishes elsewhere.
set -euo pipefail
cd "$(dirname "$0")/../.."
source training/recipes/lib.sh
RUN=${RUN:-runs/realtime-blend}
PARENT=${PARENT:-runs/realtime-0.2.0}
parent_from_git af8e8aa models/realtime
mkdir -p "$RUN"
GUARD=$RUN/guard-long-9003.jsonl
[ -f "$GUARD" ] || $BIN/convo-outcomes data synth --n 400 --seed 9003 --long-share 0.45 --out "$GUARD"
# 0.2.0's generated training file: training/configs/realtime_refit.yaml's data.synth (default long share)
publish_blend "${MODEL:-models/realtime}" 0.3.0 --n 6000 --seed 101
