"""The embedded demo: a LibriSpeech-shaped corpus synthesised with espeak-ng."""
