"""The attention analysis tool end to end on a tiny, untrained model."""

import json

import numpy as np
import pytest
import torch
import yaml

from espnet_reuse.kaldi_data import DataError
from espnet_reuse.recipe.espnet_commands import flags
from espnet_reuse.recipe.format_data import format_data_dir
from espnet_reuse.recipe.librispeech import prepare

from helpers import TINY_REUSE_CONFIG, write_model
from tiny_corpus import PHONES, write_ctm, write_librispeech_tree, write_tiny_corpus


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """An untrained tiny reuse model saved as an ESPnet experiment, and data."""
    root = tmp_path_factory.mktemp("analysis")
    write_model(write_tiny_corpus(root / "tokens"), TINY_REUSE_CONFIG, root / "exp")
    tree = write_librispeech_tree(root / "corpus", {"dev-clean": (2, 4)})
    prepare(tree, None, root / "data")
    format_data_dir(root / "data" / "dev_clean", root / "dump", nj=1)
    write_ctm(root / "dump", root / "ali.ctm")
    return root


def analyze(experiment, **options):
    """``bin/analyze_attention`` on the experiment and its data, with ``options``."""
    from espnet_reuse.bin.analyze_attention import main

    exp = experiment / "exp"
    data = {"data_dir": experiment / "dump"}
    main(
        flags(
            {
                "asr_train_config": exp / "config.yaml",
                "asr_model_file": exp / "model.pth",
                **data,
                **options,
            }
        )
    )


def test_analysis_writes_summary_and_figures(experiment):
    out = experiment / "analysis"
    analyze(
        experiment,
        alignments=experiment / "ali.ctm",
        probe_train_dir=experiment / "dump",
        probe_train_alignments=experiment / "ali.ctm",
        max_range=4,
        prune_steps=2,
        target_maps=2,
        batch_size=3,
        out_dir=out,
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["utterances"] == 8 and summary["reuse_groups"] == [1, 2]
    assert len(summary["cad"]["curves"]) == 3 and len(summary["cad"]["curves"][0]) == 5
    assert summary["phones"] == PHONES
    assert len(summary["par"]) == 3 and len(summary["par"][0]) == 3
    assert len(summary["probing_accuracy"]) == 3
    for accuracy, (low, high) in zip(summary["probing_accuracy"], summary["probing_interval"]):
        assert 0 <= low <= accuracy <= high <= 1
    assert set(summary["pruning_wer"]) == {"globalness", "verticality", "diagonality", "random"}
    assert [p[0] for p in summary["pruning_wer"]["random"]] == [0, 3, 6]
    assert sum(summary["suggested_layout"]["reuse_groups"]) == 3
    # layers 2 and 3 share one map: their divergence is zero
    assert summary["js_divergence"][1][2] == pytest.approx(0.0, abs=1e-6)
    boundaries = summary["boundaries"]
    assert boundaries["tuned_on"] == "dump" and boundaries["tolerance_frames"] == 1
    assert len(boundaries["heads"]) == 3 and len(boundaries["heads"][0]) == 2
    for result in [*boundaries["heads"][0], boundaries["mfcc"]]:
        assert 0 <= result["precision"] <= 1 and result["r_value"] <= 1
    assert len(boundaries["best_heads"]) == 5
    # layers 2 and 3 share their map, so their heads find the same boundaries
    assert boundaries["heads"][1] == boundaries["heads"][2]
    speaker = summary["speaker_probing"]  # the tiny corpus: 2 speakers, 4 utterances each
    assert speaker["speakers"] == 2 and len(speaker["frame"]) == len(speaker["utterance"]) == 3
    assert len(speaker["frame_interval"]) == len(speaker["utterance_interval"]) == 3
    probes = summary["pruning_probes"]
    assert summary["pruning_probe_layer"] == 3  # the final layer, by default
    assert set(probes) == set(summary["pruning_wer"])
    for point in probes["random"]:
        for name in ("phone", "speaker"):
            low, high = point[f"{name}_interval"]
            assert 0 <= low <= point[name] <= high <= 1
    assert [p["pruned"] for p in probes["random"]] == [0, 3, 6]
    kinds = summary["head_kinds"]
    assert len(kinds["kind"]) == 3 and len(kinds["kind"][0]) == 2
    assert set(kinds["kind_profiles"]) == {k for row in kinds["kind"] for k in row}
    assert kinds["kind"][1] == kinds["kind"][2]  # the shared map: the same kinds
    for name in (
        "boundaries",
        "head_kinds",
        "speaker_probing",
        "pruning_probes",
        "cad",
        "head_metrics",
        "js_divergence",
        "phoneme_attention_relationship",
        "phoneme_relation_map",
        "probing",
        "pruning",
    ):
        assert (out / f"{name}.png").stat().st_size > 5000, name
    assert len(list(out.glob("attention_maps_*.png"))) == 2


def test_utterances_without_phone_times_are_left_to_the_other_measures(experiment, tmp_path):
    """A corpus may time only some engines' speech: boundaries and phone probes use the
    utterances with phone times, everything else all of them; the summary counts both."""
    ctm = tmp_path / "partial.ctm"
    lines = (experiment / "ali.ctm").read_text().splitlines()
    dropped = lines[-1].split()[0]
    ctm.write_text("".join(f"{line}\n" for line in lines if not line.startswith(dropped)))
    out = tmp_path / "out"
    analyze(experiment, alignments=ctm, prune_steps=2, max_range=4, out_dir=out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["utterances"] == 8 and summary["phone_times"] == {"dump": [7, 8]}
    assert summary["boundaries"]["heads"] and summary["par"]
    assert all("phone" in point for point in summary["pruning_probes"]["random"])
    assert "Utterances with phone times" in (out / "report.html").read_text()


def test_alignments_of_other_utterances_are_an_error(experiment, tmp_path):
    ctm = tmp_path / "other.ctm"
    ctm.write_text("someone-else-0000 1 0.00 0.10 sil\n")
    with pytest.raises(DataError, match="time none of the 8 utterances"):
        analyze(experiment, alignments=ctm, prune_steps=0, out_dir=tmp_path / "out")


def test_convert_to_learned_maps_from_measured_profiles(experiment, tmp_path):
    from espnet_reuse.registration import asr_task

    ASRTask = asr_task()

    from espnet_reuse.bin.convert_checkpoint import main as convert

    exp = experiment / "exp"
    analyze(experiment, prune_steps=0, max_offset=8, out_dir=tmp_path / "analysis")

    def convert_with_profiles(config, out_dir, profiles="summary.json"):
        options = {
            "config": config,
            "model": exp / "model.pth",
            "learned_map_groups": 1,
            "learned_map_profiles": tmp_path / "analysis" / profiles,
            "out_dir": out_dir,
        }
        convert([*flags(options), "--reuse_groups", "1", "2"])

    with pytest.raises(ValueError, match="learned_map_max_offset is 64"):
        convert_with_profiles(exp / "config.yaml", tmp_path / "bad")
    config = yaml.safe_load((exp / "config.yaml").read_text())
    config["encoder_conf"]["learned_map_max_offset"] = 8
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    convert_with_profiles(tmp_path / "config.yaml", tmp_path / "converted")
    model, _ = ASRTask.build_model_from_file(tmp_path / "converted" / "config.yaml", None, "cpu")
    state = torch.load(tmp_path / "converted" / "model.pth")
    model.load_state_dict(state, strict=True)
    assert "encoder.encoders.1.self_attn.linear_q.weight" not in state
    profile = torch.tensor(
        json.loads((tmp_path / "analysis" / "summary.json").read_text())["offset_profile"][
            "per_layer_head"
        ]
    )[1]
    expected = (profile / profile.sum(-1, keepdim=True)).clamp_min(1e-6).log()
    assert torch.allclose(state["encoder.learned_maps.1.logits"], expected)

    # or from the mean profile of each head's kind (head_kinds)
    convert_with_profiles(tmp_path / "config.yaml", tmp_path / "kinds", "head_kind_profiles.json")
    state = torch.load(tmp_path / "kinds" / "model.pth")
    summary = json.loads((tmp_path / "analysis" / "summary.json").read_text())["head_kinds"]
    kind_profiles = summary["kind_profiles"]
    profile = torch.tensor([kind_profiles[kind] for kind in summary["kind"][1]], dtype=torch.float)
    expected = (profile / profile.sum(-1, keepdim=True)).clamp_min(1e-6).log()
    assert torch.allclose(state["encoder.learned_maps.1.logits"], expected)


def test_one_speaker_is_no_speaker_probe(experiment, tmp_path):
    import shutil

    data = tmp_path / "one_speaker"
    shutil.copytree(experiment / "dump", data)
    utts = [line.split()[0] for line in (data / "utt2spk").read_text().splitlines()]
    (data / "utt2spk").write_text("".join(f"{u} spk\n" for u in utts))
    out = tmp_path / "analysis"
    analyze(
        experiment, data_dir=data, alignments=experiment / "ali.ctm", prune_steps=1, out_dir=out
    )
    summary = json.loads((out / "summary.json").read_text())
    assert "speaker_probing" not in summary
    assert all(
        set(p) == {"pruned", "phone", "phone_interval"} for p in summary["pruning_probes"]["random"]
    )


def test_a_pruning_point_measures_what_separate_passes_measure(experiment, tmp_path):
    """``Analysis.pruned`` decodes and probes in one pass; the same as decoding with
    ``recognise`` and probing ``capture``'s chosen layer, each with the heads pruned."""
    from espnet_reuse.analysis.analyze import Analysis, AnalysisOptions
    from espnet_reuse.analysis.capture import capture, pruned_heads
    from espnet_reuse.analysis.probing import frame_probe, split_by_speaker
    from espnet_reuse.decoding.inference import recognise
    from espnet_reuse.error_counts import word_error_rate

    exp = experiment / "exp"
    options = AnalysisOptions(
        asr_train_config=exp / "config.yaml",
        asr_model_file=exp / "model.pth",
        data_dir=experiment / "dump",
        out_dir=tmp_path,
        alignments=experiment / "ali.ctm",
        pruning_probe_layer=2,
        batch_size=3,
    )
    analysis = Analysis(options)
    wav, refs, lengths = analysis.data(options.data_dir)
    heads = [(0, 1), (1, 0)]
    wer, probes = analysis.pruned(heads)

    model = analysis.model
    with pruned_heads(model.encoder, heads):
        hyps = recognise(model, wav, lengths, 3, "cpu", to_text=analysis.to_text)
        hidden = {i.utt: i.hidden[1].numpy() for i in capture(model, wav, lengths, 3, "cpu")}
    unpruned = {i.utt: i.hidden[1].numpy() for i in capture(model, wav, lengths, 3, "cpu")}
    assert not all(np.array_equal(hidden[u], unpruned[u]) for u in hidden)
    assert wer == word_error_rate(refs, {utt: hyp.text for utt, hyp in hyps.items()})
    train, test = split_by_speaker(list(hidden), analysis.speakers)
    phones = {
        u: analysis.labels(analysis.alignments, u, len(h), lengths[u]).numpy()
        for u, h in hidden.items()
    }
    assert (probes["phone"], probes["phone_interval"]) == frame_probe(hidden, phones, train, test)
    speakers = {u: np.array([analysis.speakers[u]] * len(h)) for u, h in hidden.items()}
    speaker = frame_probe(hidden, speakers, train, test)
    assert (probes["speaker"], probes["speaker_interval"]) == speaker


def test_a_layer_the_model_lacks_is_an_error(experiment, tmp_path):
    with pytest.raises(ValueError, match="pruning_probe_layer 4: the encoder has layers 1-3"):
        analyze(experiment, pruning_probe_layer=4, out_dir=tmp_path)
