"""espnet_reuse: ESPnet encoders with layer-wise attention map reuse.

Importing the package is cheap: the reuse encoders (``conformer_reuse``,
``e_branchformer_reuse``, ``branchformer_reuse``, ``transformer_reuse``) join ESPnet's
ASR task as soon as ``espnet2.tasks.asr`` is imported (or now, if it already is).
"""

from espnet_reuse.registration import register, register_on_import

__version__ = "0.1.0"
__all__ = ["register", "__version__"]

register_on_import()
