"""Whisper in this project: its weights from CTranslate2's files (``ctranslate2_file``,
``convert``) as openai-whisper's checkpoint, which ESPnet's Whisper modules load."""
