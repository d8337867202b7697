#!/usr/bin/env bash
# The demo's further experiments, after ./run.sh (run from the repository root):
#  1. attention analysis of the demo baseline (stage 14) and a reuse_groups layout
#     suggested for 3 computed maps, trained against the uniform [2, 2, 2];
#  2. input-independent maps (conf/demo/train_asr_conformer_learned_ctc.yaml);
#  3. the baseline converted to [2, 2, 2] and fine-tuned for 3 epochs.
# exp/RESULTS.md then holds every experiment side by side.
set -euo pipefail
cd "$(dirname "$0")/../../.."
baseline=exp/asr_train_asr_conformer_ctc_raw_en_bpe60
analysis=${baseline}/attention_analysis_test_clean
suggested=conf/demo/train_asr_conformer_suggested_ctc.yaml

./run.sh --stage 14 --stop-stage 14 --asr_config conf/demo/train_asr_conformer_ctc.yaml "$@"

.venv/bin/python - "${analysis}/summary.json" "${suggested}" <<'PY'
import json, sys, yaml
from espnet_reuse.convert import reuse_config
groups = json.load(open(sys.argv[1]))["suggested_layout"]["reuse_groups"]
config = reuse_config(yaml.safe_load(open("conf/demo/train_asr_conformer_ctc.yaml")), groups)
with open(sys.argv[2], "w") as f:
    f.write(f"# Demo reuse model with the layout suggested by the attention analysis of the\n"
            f"# demo baseline for 3 computed maps: {groups} (written by local/demo_extras.sh).\n")
    yaml.safe_dump(config, f, sort_keys=False)
print(f"suggested reuse_groups {groups} -> {sys.argv[2]}")
PY

./run.sh --stage 11 --stop-stage 13 \
    --asr_config "${suggested} conf/demo/train_asr_conformer_learned_ctc.yaml" "$@"
./run.sh --stage 11 --stop-stage 13 \
    --asr_config conf/demo/finetune_asr_conformer_reuse_ctc.yaml --init_from_exp "${baseline}" "$@"
