"""Converting trained checkpoints into reuse layouts (``conformer`` into ``conformer_reuse``,
``e_branchformer`` into ``e_branchformer_reuse``, ...)."""

import pytest
import torch

from espnet_reuse.convert import reuse_config, select_parameters
from espnet_reuse.encoder.conformer_reuse_encoder import ConformerReuseEncoder
from espnet_reuse.encoder.families import FAMILIES
from espnet_reuse.espnet_api import ConformerEncoder

from helpers import SMALL_CONFORMER, SMALL_FAMILIES


def prefixed(module):
    return {f"encoder.{k}": v for k, v in module.state_dict().items()}


def test_conversion_drops_exactly_the_reuse_layers_q_k_and_position_terms():
    base = ConformerEncoder(**SMALL_CONFORMER)
    reuse = ConformerReuseEncoder(**SMALL_CONFORMER, reuse_groups=[1, 3])
    converted, dropped = select_parameters(prefixed(base), prefixed(reuse))
    expected = {
        f"encoder.encoders.{layer}.self_attn.{name}"
        for layer in (2, 3)
        for name in (
            "linear_q.weight",
            "linear_q.bias",
            "linear_k.weight",
            "linear_k.bias",
            "linear_pos.weight",
            "pos_bias_u",
            "pos_bias_v",
        )
    }
    assert set(dropped) == expected
    reuse.load_state_dict({k[len("encoder.") :]: v for k, v in converted.items()}, strict=True)
    for key, value in reuse.state_dict().items():
        assert torch.equal(value, base.state_dict()[key])


def test_converted_no_reuse_layout_reproduces_the_baseline(padded_batch):
    base = ConformerEncoder(**SMALL_CONFORMER).eval()
    reuse = ConformerReuseEncoder(**SMALL_CONFORMER).eval()
    converted, dropped = select_parameters(base.state_dict(), reuse.state_dict())
    assert dropped == []
    reuse.load_state_dict(converted, strict=True)
    with torch.no_grad():
        assert (base(*padded_batch)[0] - reuse(*padded_batch)[0]).abs().max() < 1e-5


def test_missing_parameters_are_an_error_that_names_them():
    coarse = ConformerReuseEncoder(**SMALL_CONFORMER, reuse_groups=[1, 3])
    finer = ConformerReuseEncoder(**SMALL_CONFORMER, reuse_groups=[2, 2])
    with pytest.raises(KeyError, match=r"encoders\.2\.self_attn\.linear_q\.weight"):
        select_parameters(coarse.state_dict(), finer.state_dict())


def test_reuse_config_switches_only_the_encoder():
    config = {"encoder": "conformer", "encoder_conf": {"num_blocks": 4}, "ctc_conf": {}}
    converted = reuse_config(config, [2, 2])
    assert converted == {
        "encoder": "conformer_reuse",
        "encoder_conf": {"num_blocks": 4, "reuse_groups": [2, 2]},
        "ctc_conf": {},
    }
    assert config["encoder"] == "conformer"
    for family in ("e_branchformer", "branchformer", "transformer"):
        assert reuse_config({"encoder": family}, [2])["encoder"] == f"{family}_reuse"
    assert reuse_config({"encoder": "e_branchformer_reuse"}, [2])["encoder"] == (
        "e_branchformer_reuse"
    )
    with pytest.raises(ValueError, match="'contextual_block_conformer'.*e_branchformer"):
        reuse_config({"encoder": "contextual_block_conformer"}, [2, 2])


@pytest.mark.parametrize("family", SMALL_FAMILIES)
def test_conversion_of_other_families(family, padded_batch):
    espnet_class, reuse_class = FAMILIES[family]
    torch.manual_seed(0)
    base = espnet_class(20, **SMALL_FAMILIES[family]).eval()
    plain = reuse_class(20, **SMALL_FAMILIES[family]).eval()
    converted, dropped = select_parameters(base.state_dict(), plain.state_dict())
    assert dropped == []
    plain.load_state_dict(converted, strict=True)
    with torch.no_grad():
        assert torch.equal(base(*padded_batch)[0], plain(*padded_batch)[0])
    reuse = reuse_class(20, reuse_groups=[1, 3], **SMALL_FAMILIES[family])
    converted, dropped = select_parameters(base.state_dict(), reuse.state_dict())
    reuse.load_state_dict(converted, strict=True)
    assert dropped and {key.split(".")[1] for key in dropped} == {"2", "3"}
    assert all(".linear_v." not in key and ".linear_out." not in key for key in dropped)
