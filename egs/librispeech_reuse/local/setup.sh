#!/usr/bin/env bash
# Make sure the recipe can run: the project's virtual environment and, for a demo
# corpus, the Debian programs that speak it. Installs what is missing or says what to do.
#   setup.sh false    LibriSpeech itself: the environment only
#   setup.sh espeak   the espeak-ng demo corpus: espeak-ng
#   setup.sh books    the books corpus: espeak-ng, flite, festival and its voices, npm
#                     (book text, recorded prompts and music come from Debian's data
#                     packages through apt-get download, which needs no root)
set -euo pipefail
corpus="${1:-false}"

make -s install

missing=()
if [ "${corpus}" = espeak ] || [ "${corpus}" = books ]; then
    ldconfig -p 2>/dev/null | grep -q libespeak-ng || missing+=(espeak-ng)
fi
if [ "${corpus}" = books ]; then
    command -v flite >/dev/null || missing+=(flite)
    command -v festival >/dev/null || missing+=(festival)
    for voice in festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts; do
        dpkg -s "${voice}" >/dev/null 2>&1 || missing+=("${voice}")
    done
    command -v npm >/dev/null || missing+=(npm)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "$(date '+%F %T') (setup) installing ${missing[*]} for the demo corpus"
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "The demo corpus needs: run 'sudo apt-get install ${missing[*]}'" >&2
        echo "(or set LIBRISPEECH in egs/librispeech_reuse/db.sh)" >&2
        exit 1
    fi
fi
