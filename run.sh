#!/usr/bin/env bash
# LibriSpeech recipe: ESPnet's Conformer baseline and attention-reuse models (CTC, or
# hybrid CTC/attention with conf/*_hybrid.yaml), stages 1-13 as in ESPnet's asr.sh
# (see egs/librispeech_reuse/README.md).
# With LIBRISPEECH unset (egs/librispeech_reuse/db.sh) it runs the demo: it builds the
# books corpus (book text read by Kokoro-82M, flite, festival and espeak-ng, rooms and
# noise, recorded prompts; docs/corpus.md) and trains small models on 2 CPU cores;
# --demo_corpus espeak runs the quicker espeak-ng corpus of a small grammar instead.
# Options (asr.sh's names; ./run.sh --help lists them) override the defaults below, e.g.
#   ./run.sh --stage 11 --stop-stage 13 --ngpu 4
set -euo pipefail
cd "$(dirname "$0")"
for arg in "$@"; do  # help needs no setup: the option parser imports the standard library only
    case "${arg}" in
        -h | --help) PYTHONPATH="${PWD}" exec python3 -m espnet_reuse.recipe.options --help ;;
    esac
done
demo_corpus=books  # --demo_corpus espeak: the espeak-ng grammar corpus (espnet_reuse.demo)
previous=""
for arg in "$@"; do
    [ "${previous}" = --demo_corpus ] && demo_corpus="${arg}"
    previous="${arg}"
done
. egs/librispeech_reuse/db.sh
# every model gets the decoders it has: the attention decoders only with an attention decoder
inference_configs="conf/decode_ctc_greedy.yaml conf/decode_ctc_beam.yaml conf/decode_ctc_beam_lexicon.yaml"
inference_configs+=" conf/decode_joint_beam.yaml conf/decode_attention_rescoring.yaml"

if [ -n "${LIBRISPEECH}" ]; then
    egs/librispeech_reuse/local/setup.sh false
    defaults=(
        --corpus "${LIBRISPEECH}"
        --train_set train_960 --valid_set dev
        --test_sets "dev_clean dev_other test_clean test_other"
        --nbpe 5000 --bpemode unigram
        --speed_perturb_factors "0.9 1.0 1.1" --max_wav_duration 30
        --asr_config "conf/train_asr_conformer_ctc.yaml conf/train_asr_conformer_reuse_4x4_ctc.yaml conf/train_asr_conformer_reuse_2x8_ctc.yaml"
        --inference_config "${inference_configs}"
    )
elif [ "${demo_corpus}" = books ]; then
    echo "$(date '+%F %T') (run.sh) LIBRISPEECH is not set: running the demo on the books corpus"
    egs/librispeech_reuse/local/setup.sh books
    defaults=(
        --corpus downloads/books_librispeech --make_demo_corpus true --demo_corpus books
        --train_set train_960 --valid_set dev
        --test_sets "dev_clean dev_other test_clean test_other test_real"
        --nbpe 60 --bpemode unigram
        --asr_config "conf/demo_books/train_asr_conformer_ctc.yaml conf/demo_books/train_asr_conformer_reuse_ctc.yaml"
        --inference_config "${inference_configs}"
        --analysis_set test_clean
        --analysis_alignments downloads/books_librispeech/alignments/test-clean.festival.ctm
        --analysis_probe_set dev_clean
        --analysis_probe_alignments downloads/books_librispeech/alignments/dev-clean.festival.ctm
        --analysis_target_maps 3
    )
else
    echo "$(date '+%F %T') (run.sh) LIBRISPEECH is not set: running the demo on the espeak-ng corpus"
    egs/librispeech_reuse/local/setup.sh espeak
    defaults=(
        --corpus downloads/demo_librispeech --make_demo_corpus true --demo_corpus espeak
        --train_set train_960 --valid_set dev
        --test_sets "dev_clean dev_other test_clean test_other"
        --nbpe 60 --bpemode unigram
        --asr_config "conf/demo/train_asr_conformer_ctc.yaml conf/demo/train_asr_conformer_reuse_ctc.yaml"
        --inference_config "${inference_configs}"
        --analysis_set test_clean
        --analysis_alignments downloads/demo_librispeech/alignments/test-clean.ctm
        --analysis_probe_set dev_clean
        --analysis_probe_alignments downloads/demo_librispeech/alignments/dev-clean.ctm
        --analysis_target_maps 3
    )
fi

exec .venv/bin/python -m espnet_reuse.recipe.run "${defaults[@]}" "$@"
