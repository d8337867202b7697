"""A mismatched torch/torchaudio pair is named in one line, before anything loads."""

import pytest

from espnet_reuse import versions


def installed(monkeypatch, torch_version, audio_version):
    found = {"torch": torch_version, "torchaudio": audio_version}
    monkeypatch.setattr(versions.metadata, "version", lambda name: found[name])


def test_mismatched_pair_names_both_versions_and_the_fix(monkeypatch):
    installed(monkeypatch, "2.11.0", "2.11.1")
    with pytest.raises(ImportError) as error:
        versions.check_torch_pair()
    message = str(error.value)
    assert "\n" not in message
    assert "torchaudio 2.11.1 does not match torch 2.11.0" in message
    assert "pip install 'torchaudio==2.11.0'" in message


@pytest.mark.parametrize(
    "pair", [("2.11.0", "2.11.0"), ("2.11.0+cu126", "2.11.0+cu126"), ("2.11.0+cpu", "2.11.0")]
)
def test_same_release_of_any_build_passes(monkeypatch, pair):
    installed(monkeypatch, *pair)
    versions.check_torch_pair()


def test_this_environment_has_a_matching_pair():
    versions.check_torch_pair()
