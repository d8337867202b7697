"""A tiny random Whisper, as openai-whisper's model and as CTranslate2's file."""

import pytest
import torch

from espnet_reuse.whisper.convert import convert
from espnet_reuse.whisper.ctranslate2_file import write_model_file

from tiny_whisper import TINY, as_ctranslate2


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    whisper = pytest.importorskip("whisper")
    torch.manual_seed(0)
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**TINY))
    with torch.no_grad():  # openai-whisper starts some at zero: make every array count
        for parameter in model.parameters():
            parameter.normal_(0, 0.2)
    folder = tmp_path_factory.mktemp("tiny_ct2")
    write_model_file(folder / "model.bin", "WhisperSpec", 3, as_ctranslate2(model))
    return model, folder


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny, tmp_path_factory):
    """The tiny Whisper converted: openai-whisper's checkpoint file."""
    path = tmp_path_factory.mktemp("tiny_pt") / "tiny.pt"
    convert(tiny[1], path)
    return path
