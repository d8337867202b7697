"""The layout study command end to end on a tiny corpus (a smoke run: no accuracy claims)."""

import json
import os

import pytest
import yaml

from espnet_reuse.bin import layout_study
from espnet_reuse.kaldi_data import read_table
from espnet_reuse.study.experiments import (
    Experiment,
    Runner,
    experiment_config,
    gpu_sets,
    ngpu_option,
)

from helpers import CONF, REPO
from tiny_corpus import write_librispeech_tree

BASELINE = {"encoder": "conformer", "encoder_conf": {"num_blocks": 6}, "optim": "adam"}


def test_experiment_configs_differ_from_the_baseline_in_layout_and_seed_only():
    reuse = experiment_config(BASELINE, Experiment((2, 2, 2), 1))
    assert reuse["encoder"] == "conformer_reuse" and reuse["seed"] == 1
    assert reuse["encoder_conf"] == {"num_blocks": 6, "reuse_groups": [2, 2, 2]}
    assert experiment_config(BASELINE, Experiment(None, 3)) == {**BASELINE, "seed": 3}
    assert BASELINE["encoder"] == "conformer"  # the template is not modified
    names = {Experiment(None, 0).name, Experiment((2, 2, 2), 0).name}
    names |= {Experiment((2, 2, 2), 0, finetuned=True).name, Experiment((2, 2, 2), 1).name}
    assert len(names) == 4


@pytest.mark.slow
def test_layout_study_on_a_tiny_corpus(tmp_path, monkeypatch):
    tree = write_librispeech_tree(
        tmp_path / "corpus",
        {
            **{"train-clean-100": (3, 4), "dev-clean": (1, 3), "dev-other": (1, 3)},
            **{"test-clean": (1, 4), "test-other": (1, 2)},
        },
    )
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("LIBRISPEECH", str(tree))
    out = tmp_path / "study"
    dirs = [f"--{name}dir={tmp_path / name}" for name in ("data", "exp")]
    layout_study.main(
        [
            *("--asr_config", str(CONF / "tiny_ctc.yaml")),
            *("--finetune_config", str(CONF / "tiny_ctc_reuse.yaml")),
            *("--layouts", "3+reuse_head_mixing", "--seeds", "0", "1", "--select_maps", "2"),
            *("--test_sets", "test_clean dev_other dev_clean test_other"),
            *("--speed_sets", "test_clean"),
            *("--speed_utts", "3", "--speed_seconds", "2", "--speed_rounds", "2"),
            *("--speed_train_batch", "2", "--jobs", "2"),
            *("--dumpdir", str(tmp_path / "dump"), "--out_dir", str(out)),
            *("--inference_asr_model", "valid.loss.best.pth", "--", "--nbpe", "30"),
            *dirs,
        ]
    )
    selection = json.loads((out / "selection.json").read_text())
    ranked = [c["reuse_groups"] for c in selection["conversion_ranking"]]
    assert sorted(ranked) == [[1, 2], [2, 1]]  # every 2-group layout of 3 layers
    assert selection["conversion_pick"] == ranked[0]
    results = (out / "RESULTS.md").read_text()
    rows = (
        "|baseline|3 / 3|2|",
        "|[3] + head mixing|1 / 3|2|",
        f"|fine-tuned {ranked[0]}|2 / 3|2|",
    )
    for row in rows:
        assert row in results
    # seed-paired differences on the pooled sets, with the margin's verdict
    assert "|[3] + head mixing|2 (0, 1)|other (test_other)|" in results
    assert "|[3] + head mixing|2 (0, 1)|clean (test_clean)|" in results
    assert (out / "speed_difference.png").stat().st_size > 0
    saved = json.loads((out / "memory.json").read_text())
    assert saved["baseline"] > saved["[3] + head mixing"] > 0
    test_words = sum(
        len(t.split()) for t in read_table(tmp_path / "dump/raw/test_clean/text").values()
    )
    assert f"|test_clean|4|{test_words}|" in results and "|dev_other|3|" in results
    assert "speed-up: 2 s|speed-up: train step|kept for backward (MB)|" in results
    assert (out / "speed_accuracy.png").stat().st_size > 0
    for row in json.loads((out / "results.json").read_text())["results"]:
        assert row["seeds"] == [0, 1], row["row"]
        assert all(len(s["per_seed"]) == 2 for s in row["sets"].values())
    assert len(os.listdir(out / "done")) == 2 * len(
        json.loads((out / "results.json").read_text())["results"]
    )


def test_adopting_an_experiment_checks_its_training_config(tmp_path):
    config = tmp_path / "baseline.yaml"
    config.write_text(yaml.safe_dump({**BASELINE, "decoder": "none"}))
    runner = Runner(tmp_path / "study", REPO / "run.sh", [], config, None, config, 1)
    trained = tmp_path / "exp_ok"
    trained.mkdir()
    # ESPnet's dump: every option, the encoder defaults filled in, no decoder
    espnet_dump = {**BASELINE, "encoder_conf": {"num_blocks": 6, "output_size": 256}}
    (trained / "config.yaml").write_text(yaml.safe_dump({**espnet_dump, "seed": 0}))
    runner.adopt(Experiment(None, 0), trained)
    assert runner.exp_dir(Experiment(None, 0)).resolve() == trained.resolve()

    other = tmp_path / "exp_other"
    other.mkdir()
    (other / "config.yaml").write_text(yaml.safe_dump({**espnet_dump, "seed": 1, "optim": "sgd"}))
    with pytest.raises(ValueError, match=r"other \['optim'\]"):
        runner.adopt(Experiment(None, 1), other)
    assert not runner.exp_dir(Experiment(None, 1)).exists()


def test_concurrent_jobs_get_their_own_gpus():
    assert ngpu_option(["--ngpu", "2", "--nj", "4"]) == 2 and ngpu_option(["--nj", "4"]) == 0
    assert gpu_sets(2, 2, ["0", "1", "2", "3"]) == ["0,1", "2,3"]
    assert gpu_sets(3, 1, ["4", "6", "7"]) == ["4", "6", "7"]
    assert gpu_sets(2, 0, []) == [None, None]
    with pytest.raises(ValueError, match="--jobs 3 with --ngpu 2 needs 6 GPUs, but 4 are visible"):
        gpu_sets(3, 2, ["0", "1", "2", "3"])


def test_experiments_start_from_their_namesakes_in_another_study(tmp_path, monkeypatch):
    config = tmp_path / "hybrid.yaml"
    config.write_text(yaml.safe_dump({**BASELINE, "decoder": "transformer"}))
    ctc_study = tmp_path / "ctc_study"
    arm = Experiment((2, 2, 2), 1)
    (ctc_study / "exp" / arm.name).mkdir(parents=True)
    (ctc_study / "exp" / arm.name / "valid.loss.ave.pth").write_bytes(b"")
    (ctc_study / "done").mkdir()
    (ctc_study / "done" / arm.name).touch()
    runner = Runner(
        tmp_path / "hybrid_study",
        REPO / "run.sh",
        [],
        config,
        None,
        config,
        1,
        init_from=(ctc_study, "valid.loss.ave.pth"),
    )
    calls = []
    monkeypatch.setattr(runner, "_call", lambda command, *rest: calls.append(command))
    runner.train([arm], {})
    command = calls[0]
    model = (ctc_study / "exp" / arm.name / "valid.loss.ave.pth").resolve()
    init = command[command.index("--asr_args") + 1]
    assert init == f"--init_param {model}:encoder:encoder {model}:ctc:ctc"
    generated = yaml.safe_load((tmp_path / "hybrid_study/conf" / f"{arm.name}.yaml").read_text())
    assert generated["seed"] == 1 and generated["decoder"] == "transformer"
    with pytest.raises(ValueError, match="no finished train_baseline_seed1"):
        runner.train([Experiment(None, 1)], {})
