"""ONNX export of an ASR model's encoder with its CTC head, for ONNX Runtime.

The graph maps features to CTC log-probabilities::

    feats (batch, frames, feats), feats_lengths (batch,)
        -> log_probs (batch, time, vocab), lengths (batch,)

holding ESPnet's feature normalisation (``global_mvn`` or ``utterance_mvn``: ESPnet's
arithmetic in the same order, without the in-place updates and data-dependent masks
the exporter cannot trace; another normalisation is refused), the encoder with
``mask_padding`` (a padded batch gives every utterance its own output, as the recipe
decodes) and the CTC head's log-softmax. The reuse layers export as they run: a reuse
layer's graph holds its V and output projections and the product with its group's
map, and no Q or K projection or softmax of its own (``attention_graph`` reads this
back from the exported file). Batch and time are dynamic axes (torch.onnx's
exporter, ``dynamo=True``; the legacy TorchScript exporter fails on the frontend too).

Not in the graph, and why:

- the frontend (STFT and log-mel): torch 2.11's exporter stops on the length guards of
  ESPnet's ``torch.stft`` call; the features come from ESPnet's frontend in PyTorch,
  one utterance at a time (``frontend_features``), as the recipe makes them;
- the attention decoder of a hybrid model: its step function could be exported with
  its per-layer cache as inputs and outputs (``espnet_onnx`` does so for ESPnet's
  decoder), but the joint search around it would have to be written again outside
  PyTorch; not done: the exported graph serves CTC decoding (greedy or prefix beam).

``espnet_onnx`` (0.2.1, the newest release) is not used: it pins ``typeguard==2.13.0``
while ESPnet 202511 needs typeguard 4, and it swaps ESPnet's attention modules for its
own by class (its ``convert_map``), which would drop a map source's hooks and does not
know ``SharedMapAttention`` (read from its source, not run).
"""

import ast
import contextlib
import io
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

import torch

from espnet_reuse.decoding.inference import (
    Hypothesis,
    greedy_search,
    length_sorted_batches,
    load_batch,
)
from espnet_reuse.encoder.layer_convention import layer_convention
from espnet_reuse.encoder.padding import features_one_by_one, make_batch_invariant
from espnet_reuse.espnet_api import GlobalMVN, UtteranceMVN

INPUTS = ("feats", "feats_lengths")
OUTPUTS = ("log_probs", "lengths")
# scopes of the projections and the softmax that make an attention map
MAP_MAKING = ("linear_q", "linear_k", "linear_pos", "softmax")


class EncoderCTC(torch.nn.Module):
    """An ESPnet ASR model from its features to CTC log-probabilities (the exported graph).

    Shares the model's modules (no copy): normalisation, encoder and CTC head.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        if model.normalize is not None and not isinstance(
            model.normalize, (GlobalMVN, UtteranceMVN)
        ):
            raise ValueError(
                f"the model normalises its features with {type(model.normalize).__name__}; "
                "the export holds global_mvn, utterance_mvn or no normalisation"
            )
        self.normalize = model.normalize
        self.encoder = model.encoder
        self.ctc = model.ctc
        make_batch_invariant(self.encoder)  # load_asr_model does it; a bare model needs it

    def forward(
        self, feats: torch.Tensor, feats_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """``feats`` (batch, frames, feats), ``feats_lengths`` (batch,) ->
        log-probabilities (batch, time, vocab) and output lengths (batch,)."""
        if self.normalize is not None:
            feats = self._normalised(feats, feats_lengths)
        out, lengths, _ = self.encoder(feats, feats_lengths)
        return self.ctc.log_softmax(out), lengths

    def _normalised(self, feats: torch.Tensor, feats_lengths: torch.Tensor) -> torch.Tensor:
        """ESPnet's ``GlobalMVN`` or ``UtteranceMVN`` of ``feats`` (batch, frames, feats)."""
        norm = self.normalize
        frames = torch.arange(feats.size(1), device=feats.device)
        padded = frames[None, :, None] >= feats_lengths[:, None, None]
        if isinstance(norm, GlobalMVN):  # subtract, zero the padding, divide
            if norm.norm_means:
                feats = feats - norm.mean.to(feats.dtype)
            feats = feats.masked_fill(padded, 0.0)
            return feats / norm.std.to(feats.dtype) if norm.norm_vars else feats
        # utterance_mvn: zero the padding, then the utterance's own statistics
        count = feats_lengths.to(feats.dtype)[:, None, None]
        feats = feats.masked_fill(padded, 0.0)
        mean = feats.sum(dim=1, keepdim=True) / count
        centred = feats - mean
        if norm.norm_vars:
            if not norm.norm_means:
                centred = centred.masked_fill(padded, 0.0)
            std = torch.clamp(
                (centred.pow(2).sum(dim=1, keepdim=True) / count).sqrt(), min=norm.eps
            )
            return (centred if norm.norm_means else feats) / std
        return centred if norm.norm_means else feats


def frontend_features(
    model: torch.nn.Module, speech: torch.Tensor, lengths: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The graph's inputs for a padded batch of waveforms (batch, samples) and their
    lengths (batch,): ESPnet's frontend, one utterance at a time, zero-padded."""
    with torch.inference_mode():
        return features_one_by_one(model, speech, lengths)


def feature_size(model: torch.nn.Module) -> int:
    """The size of the features the graph takes (the frontend's output)."""
    if model.frontend is None:
        raise ValueError("the model has no frontend: the export needs its feature size")
    return model.frontend.output_size()


def export_onnx(model: torch.nn.Module, out: Path) -> Path:
    """Export ``model`` (an ESPnet ASR model, eval mode) as ``EncoderCTC`` to ``out``.

    Traced on a padded batch of two utterances (300 and 200 frames of the frontend's
    features); batch and time are dynamic. Returns ``out``.
    """
    return export_module(EncoderCTC(model).eval(), feature_size(model), out)


def export_module(module: torch.nn.Module, feat_dim: int, out: Path) -> Path:
    """Export ``module`` (``(feats (batch, frames, feat_dim), feats_lengths (batch,))``
    in, two tensors out) with dynamic batch and time axes to ``out``."""
    generator = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 300, feat_dim, generator=generator)
    lengths = torch.tensor([300, 200])
    batch, time = torch.export.Dim.AUTO, torch.export.Dim.AUTO
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # the exporter's listings
        program = torch.onnx.export(
            module.eval(),
            (feats, lengths),
            dynamo=True,
            dynamic_shapes=({0: batch, 1: time}, {0: batch}),
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            verbose=False,
        )
    program.save(str(out))
    return out


def attention_graph(onnx_file: Path, encoder: torch.nn.Module) -> List[Dict[str, int]]:
    """Per encoder layer, the nodes of the exported graph inside its attention module
    that make a map: ``{"linear_q": n, "linear_k": n, "linear_pos": n, "softmax": n}``,
    read from the scopes the exporter records for every node (``name_scopes``: the
    module path down to the node, e.g. ``[..., "encoder.encoders.1.self_attn",
    "encoder.encoders.1.self_attn.linear_q", "linear"]``)."""
    import onnx

    attribute = layer_convention(encoder).attention
    attentions = {f"encoder.encoders.{i}.{attribute}": i for i in range(len(encoder.encoders))}
    counts: List[Counter] = [Counter() for _ in encoder.encoders]
    for node in onnx.load(str(onnx_file), load_external_data=False).graph.node:
        props = {p.key: p.value for p in node.metadata_props}
        scopes = ast.literal_eval(props.get("pkg.torch.onnx.name_scopes", "[]"))
        for at, name in enumerate(scopes[:-1]):
            if name in attentions:
                inner = scopes[at + 1].removeprefix(name + ".")
                kind = next((k for k in MAP_MAKING if inner.startswith(k)), None)
                if kind is not None:
                    counts[attentions[name]][kind] += 1
    return [{kind: c[kind] for kind in MAP_MAKING} for c in counts]


class OnnxRuntimeGraph:
    """An exported graph (``EncoderCTC``, or any module ``export_module`` exported) in an
    ONNX Runtime session (CPU unless ``providers`` says otherwise), called as the
    PyTorch module is (torch tensors in and out)."""

    def __init__(
        self,
        onnx_file: Path,
        providers: Tuple[str, ...] = ("CPUExecutionProvider",),
        threads: int = 0,
    ) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's choice
        self.session = onnxruntime.InferenceSession(
            str(onnx_file), options, providers=list(providers)
        )

    def __call__(
        self, feats: torch.Tensor, feats_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        if feats.dim() != 3 or feats.size(0) == 0:
            raise ValueError(
                f"feats must be (batch, frames, feats) with a batch of at least one, "
                f"not {tuple(feats.shape)}"
            )
        log_probs, lengths = self.session.run(
            list(OUTPUTS),
            {INPUTS[0]: feats.float().cpu().numpy(), INPUTS[1]: feats_lengths.long().cpu().numpy()},
        )
        return torch.from_numpy(log_probs), torch.from_numpy(lengths)


def onnx_recognise(
    encoder_ctc: OnnxRuntimeGraph,
    model: torch.nn.Module,
    wav: Dict[str, str],
    lengths: Dict[str, int],
    batch_size: int,
) -> Dict[str, Hypothesis]:
    """Greedy CTC decoding of a data set through the exported graph, batched as the
    recipe batches (``model`` makes the features and names the tokens): utterance
    id -> hypothesis."""
    hyps: Dict[str, Hypothesis] = {}
    for utts in length_sorted_batches(lengths, batch_size):
        speech, speech_lengths = load_batch(wav, utts)
        feats, feats_lengths = frontend_features(model, speech, speech_lengths)
        for utt, hyp in zip(utts, greedy_search(*encoder_ctc(feats, feats_lengths))):
            hyp.tokens = [model.token_list[i] for i in hyp.token_ids]
            hyps[utt] = hyp
    return hyps
