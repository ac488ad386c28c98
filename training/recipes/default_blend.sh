#!/usr/bin/env bash
# Builds models/default 0.8.0 from models/default 0.7.0 (extracted from git into $PARENT): 0.7.0's ONNX
# encoder and heads unchanged, blended with a lexical prior (`convo-outcomes blend`: word 1-2 gram TF-IDF +
# logistic regression fitted on 0.7.0's own training split, each head's weight and temperature chosen on its
# validation split, guarded for long calls), then evaluated on held-out data with the baselines, long calls
# and evidence measured, and the card written with the changes since 0.7.0. Needs ../shared/data. About
# 2.5 min to blend on 2 CPU cores, then the evaluation (BASELINES='--baseline tfidf_lr' skips the
# frozen-encoder baseline, 38 min on its first run; its embeddings are cached). MODEL=DIR publishes
# elsewhere (keep the folder's name `default`).
set -euo pipefail
cd "$(dirname "$0")/../.."
source training/recipes/lib.sh
RUN=${RUN:-runs/default-blend}
PARENT=${PARENT:-runs/default-0.7.0}
parent_from_git af8e8aa
# 0.7.0's generated training file: training/configs/default_cause.yaml's data.synth
publish_blend "${MODEL:-models/default}" 0.8.0 --n 6000 --seed 101 --long-share 0.2
