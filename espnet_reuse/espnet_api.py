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
from typing import Optional, Sequence

from espnet_reuse.versions import check_torch_pair

check_torch_pair()  # before ESPnet imports torchaudio

from espnet2.asr.ctc import CTC  # noqa: E402
from espnet2.asr.encoder.conformer_encoder import ConformerEncoder  # noqa: E402
from espnet2.utils.types import str2bool  # noqa: E402

BACKEND_ROOTS = ("espnet.nets.pytorch_backend", "espnet2.legacy.nets.pytorch_backend")
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
EncoderLayer = backend_module("conformer.encoder_layer").EncoderLayer
pad_list = backend_module("nets_utils").pad_list


def asr_task() -> type:
    """ESPnet's ``ASRTask``, with ``conformer_reuse`` registered (slow: 10-20 s once)."""
    from espnet_reuse.registration import register

    register()
    return importlib.import_module("espnet2.tasks.asr").ASRTask


def build_tokenizer(token_type: str, bpemodel: Optional[Path] = None):
    """ESPnet's tokenizer for ``token_type`` (``bpe`` needs ``bpemodel``)."""
    return importlib.import_module("espnet2.text.build_tokenizer").build_tokenizer(
        token_type, bpemodel=bpemodel
    )


def speech2text() -> type:
    """ESPnet's ``Speech2Text``, with ``conformer_reuse`` registered."""
    from espnet_reuse.registration import register

    register()
    return importlib.import_module("espnet2.bin.asr_inference").Speech2Text


__all__ = [
    "CTC",
    "ConformerEncoder",
    "EncoderLayer",
    "LegacyRelPositionMultiHeadedAttention",
    "MultiHeadedAttention",
    "RelPositionMultiHeadedAttention",
    "asr_task",
    "backend_module",
    "build_tokenizer",
    "pad_list",
    "speech2text",
    "str2bool",
]
