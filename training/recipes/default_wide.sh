#!/usr/bin/env bash
# Candidate 0.8.0 built from models/default 0.7.0 (extracted from git into $PARENT): the int8 encoder and every
# head but contact_cause frozen, contact_cause refitted on a generated corpus with cross-industry request
# wording and customer-only views (training/configs/default_wide.yaml), then exported int8 with the parity
# check, evaluated on held-out data with the baselines, long calls and evidence measured, and the card written
# with the changes since 0.7.0, into runs/cand10/default (MODEL=models/default to ship it; keep the folder's
# name `default`). Needs ../shared/data. RESUME=1 continues; SKIP_TRAIN=1 reuses $RUN/final;
# BASELINES='--baseline tfidf_lr' skips the frozen-encoder baseline.
set -euo pipefail
cd "$(dirname "$0")/../.."
source training/recipes/lib.sh
rebuild_from_parent runs/default-wide runs/default-0.7.0 d6b2f2b training/configs/default_wide.yaml \
  runs/cand10/default 0.8.0 default@0.7.0
