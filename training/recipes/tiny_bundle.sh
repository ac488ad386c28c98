#!/usr/bin/env bash
# Rebuilds tests/assets/tiny_model: a random-init tiny encoder trained for a few seconds on generated
# data, exported to ONNX int8. Tests use it as a real (small) model bundle; its accuracy is meaningless.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1
BIN=${BIN:-.venv/bin}
rm -rf runs/tiny-bundle
$BIN/convo-outcomes train --config training/configs/tiny.yaml --output-dir runs/tiny-bundle
$BIN/convo-outcomes export --checkpoint runs/tiny-bundle/final --output tests/assets/tiny_model --quantize int8
