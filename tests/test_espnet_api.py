"""ESPnet's internals come through one module, which finds them in either layout."""

import re

import pytest

from espnet_reuse import espnet_api

from helpers import REPO

# ESPnet's own entry points, re-exported with the encoder registered, and the name
# of the module whose import registers it
ALLOWED = {"bin/asr_train.py", "bin/asr_inference.py", "registration.py", "espnet_api.py"}


def test_no_other_module_imports_espnet():
    importing = re.compile(r"^\s*(from|import) espnet2?[. ]", re.MULTILINE)
    package = REPO / "espnet_reuse"
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if importing.search(path.read_text()) and str(path.relative_to(package)) not in ALLOWED
    ]
    assert offenders == []


def test_backend_modules_are_found_under_either_root():
    espnet1 = espnet_api.backend_module("transformer.attention")
    moved = espnet_api.backend_module(
        "transformer.attention", ("espnet2.no_such_layout", "espnet.nets.pytorch_backend")
    )
    assert moved is espnet1 and espnet_api.MultiHeadedAttention is espnet1.MultiHeadedAttention
    with pytest.raises(ModuleNotFoundError, match="no ESPnet module transformer.nope"):
        espnet_api.backend_module("transformer.nope")
