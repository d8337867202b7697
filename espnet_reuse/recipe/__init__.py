"""The LibriSpeech CTC recipe: one module a stage, driven by ``run.py``."""
