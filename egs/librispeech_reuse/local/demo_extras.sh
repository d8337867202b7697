#!/usr/bin/env bash
# The demo's further experiments, after ./run.sh (run from the repository root):
#  1. attention analysis of the demo's two models (stage 14: figures and summary.json);
#  2. input-independent maps (conf/demo/train_asr_conformer_learned_ctc.yaml, the
#     espeak-ng demo's budget) on the same corpus.
# The suggested layout and fine-tuning from the baseline are part of the layout
# study (python -m espnet_reuse.bin.layout_study). exp/RESULTS.md then holds every
# experiment side by side.
set -euo pipefail
cd "$(dirname "$0")/../../.."

./run.sh --stage 14 --stop-stage 14 "$@"
./run.sh --stage 11 --stop-stage 13 --asr_config conf/demo/train_asr_conformer_learned_ctc.yaml "$@"
