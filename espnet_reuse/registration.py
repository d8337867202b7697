"""Registration of the reuse encoders in ESPnet's ASR task.

Each reuse encoder is registered under its ESPnet encoder's name with ``_reuse``
appended (``encoder.families``). ``register()`` imports ``espnet2.tasks.asr`` (slow) and
adds them now. ``register_on_import()`` adds them whenever that module gets imported,
so that ``import espnet_reuse`` stays fast and ``Speech2Text`` users still see them.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Optional, Sequence

from espnet_reuse.nltk_offline import stop_nltk_downloads

ASR_TASK_MODULE = "espnet2.tasks.asr"


def _add_encoder(asr_task_module: ModuleType) -> None:
    from espnet_reuse.encoder.families import FAMILIES, reuse_encoder_name

    for family, (_, reuse_class) in FAMILIES.items():
        asr_task_module.encoder_choices.classes[reuse_encoder_name(family)] = reuse_class


def asr_task() -> type:
    """ESPnet's ``ASRTask``, with the reuse encoders registered (slow: 10-20 s once)."""
    register()
    return sys.modules[ASR_TASK_MODULE].ASRTask


def speech2text() -> type:
    """ESPnet's ``Speech2Text``, with the reuse encoders registered."""
    register()
    return importlib.import_module("espnet2.bin.asr_inference").Speech2Text


def register() -> None:
    """Import ESPnet's ASR task and add the reuse encoders to its encoders."""
    stop_nltk_downloads()
    _add_encoder(importlib.import_module(ASR_TASK_MODULE))


class _RegisterOnImport(importlib.abc.MetaPathFinder):
    """Import hook that registers the encoders right after the ASR task loads."""

    def find_spec(
        self,
        fullname: str,
        path: Optional[Sequence[str]],
        target: Optional[ModuleType] = None,
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != ASR_TASK_MODULE:
            return None
        sys.meta_path.remove(self)
        stop_nltk_downloads()
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_register(module: ModuleType) -> None:
            exec_module(module)
            _add_encoder(module)

        spec.loader.exec_module = exec_and_register
        return spec


def register_on_import() -> None:
    """Register now if ESPnet's ASR task is loaded, else as soon as it is."""
    if ASR_TASK_MODULE in sys.modules:
        _add_encoder(sys.modules[ASR_TASK_MODULE])
    elif not any(isinstance(f, _RegisterOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())
