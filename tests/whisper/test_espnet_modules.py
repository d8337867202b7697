"""ESPnet's Whisper encoder and decoder load a converted checkpoint, without download."""

import pytest
import torch

from espnet_reuse.whisper.espnet_modules import LocalWhisperDecoder, LocalWhisperEncoder

from tiny_whisper import TINY

whisper = pytest.importorskip("whisper")


def test_espnets_encoder_holds_the_checkpoints_encoder(tiny, tiny_checkpoint):
    model, _ = tiny
    available = whisper.available_models()
    encoder = LocalWhisperEncoder(whisper_checkpoint=str(tiny_checkpoint)).eval()
    assert whisper.available_models() == available  # listed only while ESPnet builds
    converted = whisper.load_model(str(tiny_checkpoint), device="cpu")
    for name, value in converted.encoder.state_dict().items():
        assert torch.equal(encoder.encoders.state_dict()[name], value), name
    # audio of the tiny model's whole window: 2 x 12 mel frames of 160 samples
    samples = 2 * TINY["n_audio_ctx"] * 160
    audio = torch.randn(2, samples, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.no_grad():
        out, out_lengths, _ = encoder(audio, torch.tensor([samples, samples]))
        mel, _ = encoder.log_mel_spectrogram(audio, torch.tensor([samples, samples]))
        expected = converted.encoder(mel)  # openai-whisper's encoder of ESPnet's features
    assert out_lengths.tolist() == [TINY["n_audio_ctx"]] * 2
    torch.testing.assert_close(out, expected)


def test_espnets_decoder_holds_the_checkpoints_decoder(tiny_checkpoint):
    decoder = LocalWhisperDecoder(
        TINY["n_vocab"], TINY["n_audio_state"], whisper_checkpoint=str(tiny_checkpoint)
    )
    converted = whisper.load_model(str(tiny_checkpoint), device="cpu")
    for name, value in converted.decoder.state_dict().items():
        assert torch.equal(decoder.decoders.state_dict()[name], value), name


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt: no Whisper checkpoint there"):
        LocalWhisperEncoder(whisper_checkpoint=str(tmp_path / "nothing.pt"))
