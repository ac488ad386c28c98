#!/usr/bin/env bash
# Experiment, not adopted (README, "The shipped model"): a candidate 0.8.0 built from models/default 0.7.0
# (extracted from git into $PARENT) in two stages, as 0.6.0 was built from 0.5.0: (1) the whole model, encoder
# included, 600 steps with cross-industry request wording and request views (training/configs/default_wide_tune.yaml;
# 26.8 min on a 2-core AVX-512 VNNI host with bf16), exported int8; (2) that encoder frozen and every head
# retrained on its int8 states (training/configs/default_wide_tune_heads.yaml; 16.9 min); then exported int8
# with the parity check, evaluated on held-out data with the baselines, and the card written with the changes
# since 0.7.0, into runs/cand11/default (59 min in all, run on 2026-12-03). Outcome: within a point of 0.7.0
# on every head and source but two MultiDoGO records read as fraud_security (cause macro-F1 0.833 against
# TF-IDF's 0.866), and no better on the outside requests (scripts/outside_tinyintent.py), so 0.7.0 stays.
# Needs ../shared/data. RESUME=1 continues; SKIP_STAGE1=1 reuses the stage-1 export; SKIP_TRAIN=1 reuses
# $RUN/final; BASELINES='--baseline tfidf_lr' skips the frozen-encoder baseline (as the run above did).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN1=${RUN1:-runs/default-wide-tune}
STAGE1=${STAGE1:-runs/default-wide-tune-int8}
RUN=${RUN:-runs/default-wide-tune-heads}
PARENT=${PARENT:-runs/default-0.7.0}
source training/recipes/lib.sh
parent_from_git d6b2f2b
train_two_stages training/configs/default_wide_tune.yaml training/configs/default_wide_tune_heads.yaml 0.8.0-stage1 default@0.7.0
publish_model "${MODEL:-runs/cand11/default}" "${VERSION:-0.8.0}" default@0.7.0
