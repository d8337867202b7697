"""ESPnet's Whisper encoder and decoder built from a checkpoint file, with no download.

ESPnet's ``OpenAIWhisperEncoder`` and ``OpenAIWhisperDecoder`` take a model's name,
assert that it is one of ``whisper.available_models()``, and call
``whisper.load_model``, which downloads a named model but loads a file path as it is.
The two classes here take the path of a checkpoint (``convert`` writes one) and list it
among the available models while ESPnet builds its module (``listed``); ESPnet's modules
are otherwise unchanged. ESPnet 202511's encoder also imports ``whisper.audio.N_MELS``,
which openai-whisper removed in release 20231117 (a model's mel bands are now its own
``n_mels``): while ESPnet builds, it is the checkpoint's ``n_mels``.
"""

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import torch
from typeguard import typechecked

from espnet_reuse import extras
from espnet_reuse.espnet_api import OpenAIWhisperDecoder, OpenAIWhisperEncoder


@contextmanager
def listed(checkpoint: str) -> Iterator[None]:
    """While inside, ``whisper.available_models()`` names the file ``checkpoint`` too,
    and ``whisper.audio.N_MELS`` is its mel bands where openai-whisper has none."""
    extras.require("whisper")
    import whisper

    if not Path(checkpoint).is_file():
        raise FileNotFoundError(
            f"{checkpoint}: no Whisper checkpoint there (python -m "
            "espnet_reuse.bin.convert_whisper writes one)"
        )
    available = whisper.available_models
    had_mels = hasattr(whisper.audio, "N_MELS")
    whisper.available_models = lambda: [*available(), checkpoint]
    if not had_mels:
        dims = torch.load(checkpoint, map_location="cpu", mmap=True, weights_only=True)["dims"]
        whisper.audio.N_MELS = dims["n_mels"]
    try:
        yield
    finally:
        whisper.available_models = available
        if not had_mels:
            del whisper.audio.N_MELS


class LocalWhisperEncoder(OpenAIWhisperEncoder):
    """ESPnet's ``OpenAIWhisperEncoder`` of the checkpoint file ``whisper_checkpoint``;
    the other arguments are ESPnet's."""

    @typechecked
    def __init__(
        self,
        input_size: int = 1,
        dropout_rate: float = 0.0,
        whisper_checkpoint: str = "",
        use_specaug: bool = False,
        specaug_conf: Optional[dict] = None,
        do_pad_trim: bool = False,
    ) -> None:
        with listed(whisper_checkpoint):
            super().__init__(
                input_size=input_size,
                dropout_rate=dropout_rate,
                whisper_model=whisper_checkpoint,
                use_specaug=use_specaug,
                specaug_conf=specaug_conf,
                do_pad_trim=do_pad_trim,
            )


class LocalWhisperDecoder(OpenAIWhisperDecoder):
    """ESPnet's ``OpenAIWhisperDecoder`` of the checkpoint file ``whisper_checkpoint``;
    the other arguments are ESPnet's."""

    @typechecked
    def __init__(
        self,
        vocab_size: int,
        encoder_output_size: int,
        dropout_rate: float = 0.0,
        whisper_checkpoint: str = "",
        load_origin_token_embedding: bool = False,
    ) -> None:
        with listed(whisper_checkpoint):
            super().__init__(
                vocab_size=vocab_size,
                encoder_output_size=encoder_output_size,
                dropout_rate=dropout_rate,
                whisper_model=whisper_checkpoint,
                load_origin_token_embedding=load_origin_token_embedding,
            )
