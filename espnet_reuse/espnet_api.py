"""The one module that imports ESPnet's internals; the rest of the plugin imports them here.

ESPnet 202511 keeps the Transformer and Conformer building blocks in the ESPnet1
package, ``espnet.nets.pytorch_backend``. ESPnet's master is retiring ESPnet1
(the espnet3 work, pull request #6179 "ESPnet1 Support Sunset and Migration to
``espnet2.legacy``") and moves what ESPnet2 still uses under ``espnet2.legacy``.
``backend_module`` looks in both places, so either layout works; a future move is
one change here. ``import_module`` is used for the ESPnet2 modules that load slowly
(the ASR task imports nltk and g2p), so that importing this module stays cheap.
"""

import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple

if TYPE_CHECKING:
    import torch

from espnet_reuse.versions import check_torch_pair

check_torch_pair()  # before ESPnet imports torchaudio

from espnet2.asr.ctc import CTC  # noqa: E402
from espnet2.asr.decoder.transformer_decoder import (  # noqa: E402
    BaseTransformerDecoder,
    TransformerDecoder,
)
from espnet2.asr.decoder.whisper_decoder import OpenAIWhisperDecoder  # noqa: E402
from espnet2.asr.encoder.branchformer_encoder import BranchformerEncoder  # noqa: E402
from espnet2.asr.encoder.conformer_encoder import ConformerEncoder  # noqa: E402
from espnet2.asr.encoder.e_branchformer_encoder import EBranchformerEncoder  # noqa: E402
from espnet2.asr.encoder.transformer_encoder import TransformerEncoder  # noqa: E402
from espnet2.asr.encoder.whisper_encoder import OpenAIWhisperEncoder  # noqa: E402
from espnet2.layers.global_mvn import GlobalMVN  # noqa: E402
from espnet2.layers.utterance_mvn import UtteranceMVN  # noqa: E402
from espnet2.utils.types import str2bool  # noqa: E402

BACKEND_ROOTS = ("espnet.nets.pytorch_backend", "espnet2.legacy.nets.pytorch_backend")
NETS_ROOTS = ("espnet.nets", "espnet2.legacy.nets")
AGGREGATE_STATS_MODULE = "espnet2.bin.aggregate_stats_dirs"


def backend_module(name: str, roots: Sequence[str] = BACKEND_ROOTS) -> ModuleType:
    """``<root>.<name>`` from the first root of ``roots`` that has it."""
    for root in roots:
        try:
            return importlib.import_module(f"{root}.{name}")
        except ModuleNotFoundError as error:
            if error.name is None or not f"{root}.{name}".startswith(error.name):
                raise  # the module exists but something it imports is missing
    raise ModuleNotFoundError(f"no ESPnet module {name} under any of {list(roots)}")


_attention = backend_module("transformer.attention")
MultiHeadedAttention = _attention.MultiHeadedAttention
RelPositionMultiHeadedAttention = _attention.RelPositionMultiHeadedAttention
LegacyRelPositionMultiHeadedAttention = _attention.LegacyRelPositionMultiHeadedAttention
_embedding = backend_module("transformer.embedding")
PositionalEncoding = _embedding.PositionalEncoding
RelPositionalEncoding = _embedding.RelPositionalEncoding
EncoderLayer = backend_module("conformer.encoder_layer").EncoderLayer
DecoderLayer = backend_module("transformer.decoder_layer").DecoderLayer
_nets_utils = backend_module("nets_utils")
pad_list = _nets_utils.pad_list
make_pad_mask = _nets_utils.make_pad_mask
subsequent_mask = backend_module("transformer.mask").subsequent_mask


def build_tokenizer(token_type: str, bpemodel: Optional[Path] = None):
    """ESPnet's tokenizer for ``token_type`` (``bpe`` needs ``bpemodel``)."""
    return importlib.import_module("espnet2.text.build_tokenizer").build_tokenizer(
        token_type, bpemodel=bpemodel
    )


def calculate_all_attentions(model: "torch.nn.Module", batch: dict) -> dict:
    """ESPnet's ``calculate_all_attentions`` (what ``--num_att_plot`` draws)."""
    module = importlib.import_module("espnet2.main_funcs.calculate_all_attentions")
    return module.calculate_all_attentions(model, batch)


def pack_asr(model: str, config: str, extras: Sequence[str], out: Path) -> None:
    """ESPnet's ``espnet2.bin.pack asr``: ``model``, ``config`` and ``extras`` (paths
    relative to the working folder, kept as such in the archive) into ``out``."""
    pack_funcs = importlib.import_module("espnet2.main_funcs.pack_funcs")
    pack_funcs.pack(
        files={"asr_model_file": model},
        yaml_files={"asr_train_config": config},
        option=list(extras),
        outpath=out,
    )


def replace_path(config: Any, old: str, new: str) -> Any:
    """``config`` (nested dicts and lists) with every string naming the path ``old``
    replaced by ``new``: ESPnet's own rewriting of packed configs."""
    pack_funcs = importlib.import_module("espnet2.main_funcs.pack_funcs")
    return pack_funcs.find_path_and_change_it_recursive(config, old, new)


def unpack(archive: Path, out: Path) -> Dict[str, str]:
    """ESPnet's unpacker (what ``Speech2Text.from_pretrained`` runs on a packed model):
    ``archive`` into ``out``; returns ``asr_train_config`` and ``asr_model_file``."""
    return importlib.import_module("espnet2.main_funcs.pack_funcs").unpack(archive, out)


def joint_beam_search(
    model: "torch.nn.Module", beam_size: int, ctc_weight: float, penalty: float
) -> "torch.nn.Module":
    """ESPnet's ``BatchBeamSearch`` over an ASR model's attention decoder, CTC prefix
    scorer and length bonus, weighted as ``Speech2Text`` weights them without LM
    (decoder ``1 - ctc_weight``, CTC ``ctc_weight``, length bonus ``penalty``)."""
    ctc_scorer = backend_module("scorers.ctc", NETS_ROOTS).CTCPrefixScorer
    length_bonus = backend_module("scorers.length_bonus", NETS_ROOTS).LengthBonus
    search_class = backend_module("batch_beam_search", NETS_ROOTS).BatchBeamSearch
    vocab_size = len(model.token_list)
    search = search_class(
        beam_size=beam_size,
        weights={"decoder": 1.0 - ctc_weight, "ctc": ctc_weight, "length_bonus": penalty},
        scorers={
            "decoder": model.decoder,
            "ctc": ctc_scorer(ctc=model.ctc, eos=model.eos),
            "length_bonus": length_bonus(vocab_size),
        },
        sos=model.sos,
        eos=model.eos,
        vocab_size=vocab_size,
        pre_beam_score_key=None if ctc_weight == 1.0 else "full",
    )
    return search.eval()


def trainer() -> type:
    """ESPnet's ``Trainer`` class (its training loop)."""
    return importlib.import_module("espnet2.train.trainer").Trainer


def extract_features(
    model: "torch.nn.Module", speech: "torch.Tensor", lengths: "torch.Tensor"
) -> Tuple["torch.Tensor", "torch.Tensor"]:
    """The frontend features of an ``ESPnetASRModel`` (its private ``_extract_feats``)."""
    return model._extract_feats(speech, lengths)


__all__ = [
    "OpenAIWhisperDecoder",
    "OpenAIWhisperEncoder",
    "BaseTransformerDecoder",
    "BranchformerEncoder",
    "CTC",
    "ConformerEncoder",
    "DecoderLayer",
    "EBranchformerEncoder",
    "EncoderLayer",
    "GlobalMVN",
    "LegacyRelPositionMultiHeadedAttention",
    "MultiHeadedAttention",
    "PositionalEncoding",
    "RelPositionMultiHeadedAttention",
    "RelPositionalEncoding",
    "backend_module",
    "build_tokenizer",
    "calculate_all_attentions",
    "extract_features",
    "joint_beam_search",
    "make_pad_mask",
    "pack_asr",
    "replace_path",
    "pad_list",
    "str2bool",
    "subsequent_mask",
    "TransformerDecoder",
    "TransformerEncoder",
    "UtteranceMVN",
    "trainer",
    "unpack",
]
