"""Fixtures shared by the test folders (helper code lives in ``helpers.py``)."""

import pytest
import torch


@pytest.fixture
def padded_batch():
    """Features (3, 60, 20) with lengths 60, 45 and 23."""
    generator = torch.Generator().manual_seed(1)
    feats = torch.randn(3, 60, 20, generator=generator)
    lengths = torch.tensor([60, 45, 23])
    return feats, lengths


@pytest.fixture(scope="session")
def varied_data(tmp_path_factory):
    """A tiny corpus (its token list for models) and a data directory of utterances of
    very different lengths: ``(corpus, data_dir, wav, lengths)``."""
    from tiny_corpus import write_tiny_corpus, write_varied_data_dir

    root = tmp_path_factory.mktemp("varied")
    corpus = write_tiny_corpus(root / "corpus")
    wav, lengths = write_varied_data_dir(root / "data")
    return corpus, root / "data", wav, lengths


@pytest.fixture(scope="session")
def hybrid(varied_data, tmp_path_factory):
    """An untrained tiny hybrid CTC/attention reuse model (decoder, CTC head) and its
    experiment folder."""
    from espnet_reuse.decoding.inference import load_asr_model

    from helpers import CONF, write_model

    exp = write_model(
        varied_data[0], CONF / "tiny_hybrid_reuse.yaml", tmp_path_factory.mktemp("h") / "e"
    )
    return load_asr_model(exp / "config.yaml", exp / "model.pth", "cpu"), exp
