"""Whisper tiny.en as the yardstick of a test set."""

import json

import pytest

from espnet_reuse.corpus.reference import load_whisper, score_data_dir
from espnet_reuse.kaldi_data import read_table
from espnet_reuse.recipe.librispeech import prepare

from helpers import needs_engines


@pytest.mark.slow
@needs_engines
def test_whisper_reads_the_recorded_prompts(tiny, tmp_path):
    pytest.importorskip("faster_whisper")
    prepare(tiny / "LibriSpeech", ["test-real"], tmp_path / "data")
    data = tmp_path / "data" / "test_real"
    subset = tmp_path / "subset"
    subset.mkdir()
    for name in ("wav.scp", "text"):
        table = read_table(data / name)
        lines = [f"{u} {table[u]}\n" for u in sorted(table)[:6]]
        (subset / name).write_text("".join(lines))
    interval = score_data_dir(load_whisper(threads=1), subset, tmp_path / "out")
    errors = json.loads((tmp_path / "out" / "errors.json").read_text())
    assert len(errors) == 6
    total = sum(e["errors"] for e in errors.values()) / sum(e["words"] for e in errors.values())
    assert interval.value == pytest.approx(100 * total)
    assert interval.value < 20  # a model trained on real speech reads real speech
    hyps = read_table(tmp_path / "out" / "text")
    assert all(h == h.upper() for h in hyps.values())


def test_wer_per_voice_pools_each_voice_utterances(tmp_path):
    from espnet_reuse.corpus.reference import by_group, engines_of

    manifest = tmp_path / "manifest.tsv"
    manifest.write_text(
        "utt\tpart\tspeaker\tengine\tvoice\n"
        "a\tdev-clean\t1-1\tflite\tslt\n"
        "b\tdev-clean\t1-1\tflite\tslt\n"
        "c\tdev-clean\t2-2\tkokoro\taf_heart\n"
        "d\ttest-real\t99-999\trecorded\tAllison:vm-intro\n"
        "e\ttest-real\t99-999\trecorded\tAllison:vm-options\n"
    )
    errors = {
        "a": {"errors": 1, "words": 4},
        "b": {"errors": 3, "words": 4},
        "c": {"errors": 0, "words": 5},
        "d": {"errors": 1, "words": 5},
        "e": {"errors": 0, "words": 5},
    }
    wers = by_group(errors, engines_of(manifest))
    assert list(wers) == ["flite:slt", "kokoro:af_heart", "recorded:Allison"]  # one speaker
    assert wers["recorded:Allison"].value == pytest.approx(10.0)
    assert wers["flite:slt"].value == pytest.approx(50.0)
    assert wers["kokoro:af_heart"].value == 0.0
    assert wers["flite:slt"].low <= 50.0 <= wers["flite:slt"].high
