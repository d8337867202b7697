# Where the corpora live. Leave LIBRISPEECH empty to run the embedded demo corpus.
# LIBRISPEECH may point at the folder that holds LibriSpeech/ or at LibriSpeech/ itself.
LIBRISPEECH="${LIBRISPEECH:-}"
