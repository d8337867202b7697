#!/usr/bin/env bash
# The prepared GPU check (docs/speed.md, "GPU check"): machine, PASS/FAIL self-checks and
# the benchmark's tables, written to OUT_DIR as each part finishes. Made for a machine
# with python3 and torch/torchaudio but no ESPnet and no network: `make gpu-wheels`, run
# beforehand where pip works, puts the three wheels it needs and the plugin's own into
# .whl/ (about 2.5 MB; WHEELS=DIR for another folder); carry the repository with .whl/
# there. Where ESPnet is importable, its wheels are not used.
#   usage: scripts/gpu_check.sh OUT_DIR [gpu_check options, e.g. --device cuda:1]
set -euo pipefail
cd "$(dirname "$0")/.."
out_dir=${1:?usage: scripts/gpu_check.sh OUT_DIR [options]}
shift
if ! python3 -c "import torch" 2>/dev/null; then
    echo "gpu_check.sh: $(command -v python3) cannot import torch; put the Python that has it first in PATH" >&2
    exit 2
fi
shopt -s nullglob
site=$(mktemp -d)
wheels=${WHEELS:-.whl}
espnet=()
for wheel in "${wheels}"/*.whl; do
    [[ $(basename "${wheel}") == espnet_reuse-* ]] || espnet+=("${wheel}")
done
if ! python3 -c "import espnet2" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --ignore-requires-python --target "${site}" "${espnet[@]}"
fi
# the plugin itself, from the wheel `make gpu-wheels` built, installed as a user installs
# it (pip checks its python_requires against this Python); from the source tree when
# there is none, or when a source file is newer than it
plugin=("${wheels}"/espnet_reuse-*.whl)
if [ "${#plugin[@]}" -eq 1 ] && [ -z "$(find espnet_reuse -name '*.py' -newer "${plugin[0]}" | head -1)" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target "${site}" "${plugin[0]}"
    echo "gpu_check.sh: installed $(basename "${plugin[0]}") for $(python3 -V)"
else
    echo "gpu_check.sh: running espnet_reuse from ${PWD} (no up-to-date plugin wheel in ${wheels})"
    site="${PWD}:${site}"
fi
export PYTHONPATH="${site}${PYTHONPATH:+:${PYTHONPATH}}" PYTHONUNBUFFERED=1
exec python3 -m espnet_reuse.bin.gpu_check --out_dir "${out_dir}" "$@"
