#!/usr/bin/env bash
# The prepared GPU check (docs/speed.md, "GPU check"): machine, PASS/FAIL self-checks and
# the benchmark's tables, written to OUT_DIR as each part finishes. Made for a machine
# with python3 and torch/torchaudio but no ESPnet and no network: `make gpu-wheels`, run
# beforehand where pip works, puts the three wheels it needs into .whl/ (about 2.3 MB;
# WHEELS=DIR for another folder); carry the repository with .whl/ there. Where ESPnet
# is importable, the wheels are not used.
#   usage: scripts/gpu_check.sh OUT_DIR [gpu_check options, e.g. --device cuda:1]
set -euo pipefail
cd "$(dirname "$0")/.."
out_dir=${1:?usage: scripts/gpu_check.sh OUT_DIR [options]}
shift
if ! python3 -c "import torch" 2>/dev/null; then
    echo "gpu_check.sh: $(command -v python3) cannot import torch; put the Python that has it first in PATH" >&2
    exit 2
fi
if ! python3 -c "import espnet2" 2>/dev/null; then
    site=$(mktemp -d)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --ignore-requires-python --target "${site}" "${WHEELS:-.whl}"/*.whl
    export PYTHONPATH="${site}"
fi
export PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}" PYTHONUNBUFFERED=1
exec python3 -m espnet_reuse.bin.gpu_check --out_dir "${out_dir}" "$@"
