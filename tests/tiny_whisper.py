"""A tiny random Whisper's sizes, and its arrays as CTranslate2's Whisper spec holds them."""

import numpy as np

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
