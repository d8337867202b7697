"""ESPnet's own entry points with ``conformer_reuse``: registration, training, decoding."""

import os
import subprocess
import sys

import pytest
import torch

from helpers import REPO, train_args
from tiny_corpus import write_tiny_corpus


def run_python(args, tmp_path, **kwargs):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


def test_importing_the_package_is_light_and_registers_lazily(tmp_path):
    script = (
        "import sys, espnet_reuse\n"
        "assert 'espnet2.tasks.asr' not in sys.modules\n"
        "from espnet2.bin.asr_inference import Speech2Text\n"
        "from espnet2.tasks.asr import encoder_choices\n"
        "from espnet_reuse.encoder.conformer_reuse_encoder import ConformerReuseEncoder\n"
        "assert encoder_choices.get_class('conformer_reuse') is ConformerReuseEncoder\n"
    )
    result = run_python(["-c", script], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[nltk_data]" not in result.stderr


@pytest.mark.parametrize("entry_point", ["asr_train", "asr_inference"])
def test_spawned_workers_see_the_encoder(entry_point, tmp_path):
    # a spawned worker (ESPnet's multi-GPU training) re-runs the parent's main
    # module under the name __mp_main__ before it unpickles its task
    script = (
        "import runpy, sys\n"
        f"runpy.run_module('espnet_reuse.bin.{entry_point}', run_name='__mp_main__')\n"
        "from espnet2.tasks.asr import encoder_choices\n"
        "assert 'conformer_reuse' in encoder_choices.choices()\n"
    )
    result = run_python(["-c", script], tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_tiny_corpus(tmp_path_factory.mktemp("tiny_corpus"))


def test_yaml_config_builds_the_reuse_encoder(corpus):
    from espnet_reuse.bin.asr_train import get_parser
    from espnet_reuse.registration import asr_task

    ASRTask = asr_task()
    from espnet_reuse.encoder.conformer_reuse_encoder import ConformerReuseEncoder
    from espnet_reuse.encoder.padding import is_batch_invariant

    args = get_parser().parse_args(train_args(corpus, "unused"))
    assert args.encoder == "conformer_reuse"
    model = ASRTask.build_model(args)
    assert isinstance(model.encoder, ConformerReuseEncoder)
    assert model.encoder.reuse_groups == [1, 2] and not is_batch_invariant(model.encoder)

    # `encoder_conf: {mask_padding: true}` in YAML: batch-invariant training too
    masked = get_parser().parse_args(
        train_args(corpus, "unused") + ["--encoder_conf", "mask_padding=true"]
    )
    encoder = ASRTask.build_model(masked).encoder
    assert is_batch_invariant(encoder)
    assert encoder.state_dict().keys() == model.encoder.state_dict().keys()


@pytest.mark.slow
def test_train_one_epoch_then_decode(corpus, tmp_path):
    exp = tmp_path / "exp"
    result = run_python(["-m", "espnet_reuse.bin.asr_train", *train_args(corpus, exp)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    model_file = exp / "valid.loss.best.pth"
    assert model_file.exists()

    from espnet_reuse.registration import asr_task

    ASRTask = asr_task()

    model, _ = ASRTask.build_model_from_file(exp / "config.yaml", None, "cpu")
    state_dict = torch.load(model_file, map_location="cpu")
    model.load_state_dict(state_dict, strict=True)

    decode_dir = tmp_path / "decode"
    result = run_python(
        [
            "-m",
            "espnet_reuse.bin.asr_inference",
            "--asr_train_config",
            str(exp / "config.yaml"),
            "--asr_model_file",
            str(model_file),
            "--data_path_and_name_and_type",
            f"{corpus['wav_scp']},speech,sound",
            "--output_dir",
            str(decode_dir),
            "--ctc_weight",
            "1.0",
            "--beam_size",
            "2",
            "--ngpu",
            "0",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    hyps = (decode_dir / "1best_recog" / "text").read_text().splitlines()
    assert sorted(line.split()[0] for line in hyps) == [f"utt{i:02d}" for i in range(6)]
