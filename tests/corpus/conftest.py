"""The tiny books corpus, built once for the tests of this folder."""

import pytest

from espnet_reuse.corpus import build


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("corpus_cache")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory, cache):
    root = tmp_path_factory.mktemp("tiny") / "corpus"
    build.build_corpus(root, "tiny", seed=0, nj=2, cache=cache)
    return root
