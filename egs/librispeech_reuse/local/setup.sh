#!/usr/bin/env bash
# Make sure the recipe can run: the project's virtual environment and, for the
# demo corpus, Debian's espeak-ng. Installs what is missing or says what to do.
set -euo pipefail
need_espeak="${1:-false}"

make -s install

if [ "${need_espeak}" = true ] && ! ldconfig -p 2>/dev/null | grep -q libespeak-ng; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "$(date '+%F %T') (setup) installing espeak-ng for the demo corpus"
        apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null
    else
        echo "The demo corpus needs libespeak-ng: run 'sudo apt-get install espeak-ng'" >&2
        echo "(or set LIBRISPEECH in egs/librispeech_reuse/db.sh)" >&2
        exit 1
    fi
fi
