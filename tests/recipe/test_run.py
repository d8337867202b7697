"""The recipe driver: options, naming, configs, and ``./run.sh`` end to end."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from espnet_reuse.kaldi_data import read_table
from espnet_reuse.recipe.decode import DecodeConfig
from espnet_reuse.recipe.espnet_commands import epoch_summary, flags
from espnet_reuse.recipe.options import get_parser, parse
from espnet_reuse.recipe.run import Recipe

from helpers import REPO, espnet_environment, pip
from tiny_corpus import write_ctm, write_librispeech_tree

CONFIG_PAIRS = [
    ("conf/train_asr_conformer_ctc.yaml", "conf/train_asr_conformer_reuse_4x4_ctc.yaml"),
    ("conf/train_asr_conformer_ctc.yaml", "conf/train_asr_conformer_reuse_2x8_ctc.yaml"),
    ("conf/demo/train_asr_conformer_ctc.yaml", "conf/demo/train_asr_conformer_reuse_ctc.yaml"),
    ("conf/demo/train_asr_conformer_ctc.yaml", "conf/demo/train_asr_conformer_learned_ctc.yaml"),
    (
        "conf/demo_books/train_asr_conformer_ctc.yaml",
        "conf/demo_books/train_asr_conformer_reuse_ctc.yaml",
    ),
    ("tests/conf/tiny_ctc.yaml", "tests/conf/tiny_ctc_reuse.yaml"),
    ("conf/train_asr_e_branchformer_ctc.yaml", "conf/train_asr_e_branchformer_reuse_ctc.yaml"),
    (
        "conf/demo/train_asr_e_branchformer_ctc.yaml",
        "conf/demo/train_asr_e_branchformer_reuse_ctc.yaml",
    ),
    ("tests/conf/tiny_ctc_e_branchformer.yaml", "tests/conf/tiny_ctc_e_branchformer_reuse.yaml"),
    ("conf/train_asr_conformer_hybrid.yaml", "conf/train_asr_conformer_reuse_4x4_hybrid.yaml"),
    (
        "conf/demo/train_asr_conformer_hybrid.yaml",
        "conf/demo/train_asr_conformer_reuse_hybrid.yaml",
    ),
    ("tests/conf/tiny_hybrid.yaml", "tests/conf/tiny_hybrid_reuse.yaml"),
]
# each hybrid config against the CTC config it adds a decoder to: the keys that may differ
HYBRID_KEYS = {"decoder", "decoder_conf", "model_conf", "best_model_criterion"}
ESPNET_TRAINING_KEYS = {"batch_bins", "accum_grad", "max_epoch", "optim_conf", "scheduler_conf"}
HYBRID_PAIRS = [
    (
        "conf/train_asr_conformer_ctc.yaml",
        "conf/train_asr_conformer_hybrid.yaml",
        ESPNET_TRAINING_KEYS,
    ),
    ("conf/demo/train_asr_conformer_ctc.yaml", "conf/demo/train_asr_conformer_hybrid.yaml", set()),
    ("tests/conf/tiny_ctc.yaml", "tests/conf/tiny_hybrid.yaml", set()),
]
TINY_KINDS = ("ctc", "ctc_reuse", "ctc_e_branchformer", "ctc_e_branchformer_reuse", "hybrid_reuse")
TINY_EXPERIMENTS = [f"asr_tiny_{kind}_raw_en_bpe30_sp" for kind in TINY_KINDS]
TINY_HYBRID = TINY_EXPERIMENTS[-1]


@pytest.mark.parametrize("spelling", ["--stop-stage", "--stop_stage"])
def test_both_stop_stage_spellings(spelling):
    assert get_parser().parse_args([spelling, "5"]).stop_stage == 5


def test_unknown_options_are_errors(capsys):
    with pytest.raises(SystemExit) as error:
        get_parser().parse_args(["--stop_stgae", "5"])
    assert error.value.code == 2
    assert "unrecognized arguments: --stop_stgae" in capsys.readouterr().err


def test_names_follow_espnet():
    args = get_parser().parse_args(
        [
            "--asr_config",
            "conf/train_asr_conformer_ctc.yaml",
            "--speed_perturb_factors",
            "0.9 1.0 1.1",
        ]
    )
    recipe = Recipe(args)
    assert recipe.train_set == "train_960_sp"
    assert recipe.exp_dir(recipe.configs[0]) == Path(
        "exp/asr_train_asr_conformer_ctc_raw_en_bpe5000_sp"
    )
    assert recipe.stats_dir == Path("exp/asr_stats_raw_en_bpe5000_sp")
    tag = recipe.inference_tag(Path("conf/decode_ctc_greedy.yaml"), "valid.loss.ave.pth")
    assert tag == "decode_decode_ctc_greedy_asr_model_valid.loss.ave"


@pytest.mark.parametrize(
    "config, model",
    [
        ("tests/conf/tiny_ctc.yaml", "valid.loss.ave.pth"),
        ("tests/conf/tiny_hybrid.yaml", "valid.acc.ave.pth"),
    ],
)
def test_the_decoded_model_is_chosen_as_espnet_chooses_it(tmp_path, config, model):
    exp = tmp_path / "exp"
    exp.mkdir()
    shutil.copy(REPO / config, exp / "config.yaml")
    recipe = Recipe(get_parser().parse_args(["--asr_config", config]))
    assert recipe.asr_model(exp) == model
    named = Recipe(
        get_parser().parse_args(["--asr_config", config, "--inference_asr_model", "x.pth"])
    )
    assert named.asr_model(exp) == "x.pth"
    settings = yaml.safe_load((exp / "config.yaml").read_text())
    settings["best_model_criterion"] = [["train", "loss", "min"]]
    (exp / "config.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(ValueError, match="name the model to use with --inference_asr_model"):
        recipe.asr_model(exp)


def test_missing_config_is_an_error():
    with pytest.raises(ValueError, match="conf/nope.yaml does not exist"):
        Recipe(get_parser().parse_args(["--asr_config", "conf/nope.yaml"]))


@pytest.mark.parametrize("baseline, reuse", CONFIG_PAIRS)
def test_reuse_configs_differ_from_their_baseline_only_in_the_encoder(baseline, reuse):
    base = yaml.safe_load((REPO / baseline).read_text())
    other = yaml.safe_load((REPO / reuse).read_text())
    assert other["encoder"] == base["encoder"] + "_reuse"
    if base["encoder"] == "conformer":  # ESPnet's Conformer defaults to the legacy form
        assert base["encoder_conf"]["rel_pos_type"] == "latest"
    groups = other["encoder_conf"].pop("reuse_groups")
    assert sum(groups) == base["encoder_conf"]["num_blocks"] and len(groups) > 1
    for key in ("learned_map_groups", "learned_map_max_offset", "learned_map_init"):
        other["encoder_conf"].pop(key, None)
    del base["encoder"], other["encoder"]
    assert base == other


@pytest.mark.parametrize("ctc, hybrid, training_keys", HYBRID_PAIRS)
def test_hybrid_configs_add_espnets_decoder_to_their_ctc_config(ctc, hybrid, training_keys):
    base = yaml.safe_load((REPO / ctc).read_text())
    other = yaml.safe_load((REPO / hybrid).read_text())
    assert other["decoder"] == "transformer" and base["decoder"] == "none"
    model_conf = other["model_conf"]
    assert (model_conf["ctc_weight"], model_conf["lsm_weight"]) == (
        0.3,
        0.1,
    )  # ESPnet's LibriSpeech
    assert model_conf["length_normalized_loss"] is False
    assert other["best_model_criterion"] == [["valid", "acc", "max"]]
    differ = {k for k in base.keys() | other.keys() if base.get(k) != other.get(k)}
    assert differ <= HYBRID_KEYS | training_keys, differ - HYBRID_KEYS - training_keys


def test_epoch_summary_reads_espnet_epoch_lines():
    line = (
        "[vm] 2026 (trainer:394) INFO: 3epoch results: [train] iter_time=0.02, "
        "loss_ctc=89.3, loss=89.367, train_time=0.8, time=1 minute and 5.2 seconds, "
        "total_count=92, [valid] loss_ctc=74.1, cer_ctc=0.971, loss=74.167, "
        "time=1 second, total_count=4, [att_plot] time=9.81 seconds"
    )
    assert epoch_summary(line) == (
        "epoch 3: train loss 89.367, valid loss 74.167, valid cer_ctc 0.971 "
        "(1 minute and 5.2 seconds)"
    )
    assert epoch_summary("INFO: 3epoch started") is None
    started = (
        "[vm] 2026-11-22 16:28:48,809 (trainer:324) INFO: 3/8epoch started. "
        "Estimated time to finish: 5 minutes and 44.18 seconds\n"
    )
    assert epoch_summary(started) == "epoch 3/8 started, about 5 minutes and 44.18 seconds left"


@pytest.mark.slow
def test_run_sh_stages_1_to_13_on_a_tiny_corpus(tmp_path):
    tree = write_librispeech_tree(
        tmp_path / "corpus",
        {"train-clean-100": (3, 4), "dev-clean": (1, 3), "dev-other": (1, 3), "test-clean": (1, 3)},
    )
    work = {name: tmp_path / name for name in ("data", "dump", "exp")}
    options = {
        "nbpe": 30,
        "nj": 2,
        "inference_nj": 2,
        "speed_perturb_factors": "0.9 1.0",
        "asr_config": " ".join(f"tests/conf/tiny_{kind}.yaml" for kind in TINY_KINDS),
        "test_sets": "test_clean dev_other",
        **{f"{name}dir": path for name, path in work.items()},
        # options of ESPnet's LibriSpeech run.sh, as asr.sh takes them
        "lang": "en",
        "token_type": "bpe",
        "feats_type": "raw",
        "audio_format": "flac.ark",
        "use_lm": "false",
        "lm_config": "conf/tuning/train_lm_transformer.yaml",
        "gpu_inference": "false",
        "bpe_train_text": work["data"] / "train_960" / "text",
    }
    env = dict(os.environ, LIBRISPEECH=str(tree))

    def run_sh(**overrides):
        """``./run.sh`` with ``options``; it must succeed."""
        command = [str(REPO / "run.sh"), *flags({**options, **overrides})]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    result = run_sh()
    for stage in range(1, 14):
        assert f"stage {stage} done in" in result.stdout
    assert "epoch 1: train loss" in result.stdout
    assert len(read_table(work["data"] / "train_960_sp" / "wav.scp")) == 24
    side_by_side = (work["exp"] / "RESULTS.md").read_text()
    assert "## Environments" in side_by_side
    for name in TINY_EXPERIMENTS:
        exp = work["exp"] / name
        model = "valid.acc.ave" if name == TINY_HYBRID else "valid.loss.ave"  # ESPnet's choices
        # every model gets the CTC decoders, a model with an attention decoder also those
        decoders = ["ctc_greedy", "ctc_beam", "ctc_beam_lexicon"]
        attention = ["joint_beam", "attention_rescoring"]
        for decoder in decoders + attention:
            tag = f"decode_decode_{decoder}_asr_model_{model}"
            decoded = (exp / tag).exists()
            assert decoded == (decoder in decoders or name == TINY_HYBRID), (name, decoder)
            assert (f"|{name}|{tag}|" in side_by_side) == decoded
        results = (exp / "RESULTS.md").read_text()
        assert "|dataset|Snt|Wrd|Corr|Sub|Del|Ins|Err|S.Err|" in results
        assert "### WER" in results and "### CER" in results and "### TER" in results
        for decoder in ("ctc_beam", "joint_beam") if name == TINY_HYBRID else ("ctc_beam",):
            decode = exp / f"decode_decode_{decoder}_asr_model_{model}" / "test_clean"
            for file in ("text", "token", "token_int", "score", "rtf.json", "score_wer/result.txt"):
                assert (decode / file).exists(), file
            assert set(read_table(decode / "text", allow_empty_values=True)) == set(
                read_table(work["dump"] / "raw" / "test_clean" / "text")
            )
    assert (
        "has no attention decoder: conf/decode_joint_beam.yaml is for hybrid models"
        in result.stdout
    )
    assert "not used: CTC head only" not in side_by_side  # the hybrid model used its decoder

    # stage 14, off by default, analyses the attention of each experiment
    write_ctm(work["dump"] / "raw" / "test_clean", tmp_path / "test_clean.ctm")
    run_sh(**{"stage": 14, "stop-stage": 14, "analysis_alignments": tmp_path / "test_clean.ctm"})
    for name in TINY_EXPERIMENTS:
        out = work["exp"] / name / "attention_analysis_test_clean"
        assert (out / "summary.json").exists() and (out / "phoneme_relation_map.png").exists()
        for name in ("report.html", "boundaries.png", "head_kinds.png", "head_kind_profiles.json"):
            assert (out / name).exists(), name

    # fine-tuning: convert the trained baseline into the reuse layout and start there
    run_sh(
        **{"stage": 11, "stop-stage": 13, "asr_config": "tests/conf/tiny_ctc_reuse.yaml"},
        asr_tag="tiny_finetuned",
        init_from_exp=work["exp"] / "asr_tiny_ctc_raw_en_bpe30_sp",
    )
    tuned = work["exp"] / "asr_tiny_finetuned"
    assert (tuned / "init_from_baseline" / "valid.loss.ave.pth").exists()
    assert "--init_param" in (tuned / "train.log").read_text()
    table = (work["exp"] / "RESULTS.md").read_text()
    assert "|asr_tiny_finetuned|decode_decode_ctc_greedy" in table and "converted baseline" in table
    assert "|asr_tiny_ctc_raw_en_bpe30_sp|" in table  # earlier experiments stay in the table

    # the same for an E-Branchformer: converted, fine-tuned, decoded
    run_sh(
        **{"stage": 11, "stop-stage": 13},
        asr_config="tests/conf/tiny_ctc_e_branchformer_reuse.yaml",
        asr_tag="tiny_e_branchformer_finetuned",
        init_from_exp=work["exp"] / "asr_tiny_ctc_e_branchformer_raw_en_bpe30_sp",
    )
    tuned = work["exp"] / "asr_tiny_e_branchformer_finetuned"
    assert (tuned / "init_from_baseline" / "valid.loss.ave.pth").exists()
    config = yaml.safe_load((tuned / "init_from_baseline" / "config.yaml").read_text())
    assert config["encoder"] == "e_branchformer_reuse"
    assert (
        "|asr_tiny_e_branchformer_finetuned|decode_decode_ctc_greedy"
        in (work["exp"] / "RESULTS.md").read_text()
    )

    # distributed training through the recipe: torchrun, two CPU processes (gloo)
    run_sh(
        **{"stage": 11, "stop-stage": 11, "asr_config": "tests/conf/tiny_ctc.yaml"},
        asr_tag="tiny_torchrun",
        launcher="torchrun",
        nproc_per_node=2,
    )
    ddp_log = (work["exp"] / "asr_tiny_torchrun" / "train.log").read_text()
    assert "-m torch.distributed.run --standalone --nproc_per_node 2" in ddp_log
    assert "--dist_backend gloo" in ddp_log and ":0/2]" in ddp_log  # ESPnet's rank 0 of 2
    assert (work["exp"] / "asr_tiny_torchrun" / "valid.loss.best.pth").exists()

    # a finished run is safe to repeat: training resumes from its checkpoint
    run_sh(**{"stage": 11, "stop-stage": 11})
    log = (work["exp"] / "asr_tiny_ctc_raw_en_bpe30_sp" / "train.log").read_text()
    assert "The training was finished at 1 epochs" in log

    # stage 15 packs every experiment, stage 16 says how to share it; a packed model
    # loads in a fresh environment, with nothing of the experiment left, and decodes as
    # stage 12 did
    result = run_sh(**{"stage": 15, "stop-stage": 16, "export_onnx": "true"})
    zips = {
        name: work["exp"]
        / name
        / f"{name}_valid.{'acc' if name == TINY_HYBRID else 'loss'}.ave.zip"
        for name in TINY_EXPERIMENTS
    }
    assert all(packed.exists() for packed in zips.values())
    # and exported to ONNX beside the zip, checked against PyTorch
    assert all(packed.with_suffix(".onnx").exists() for packed in zips.values())
    assert result.stdout.count("ONNX Runtime within") == len(TINY_EXPERIMENTS)
    assert "uses no network, so it uploads nothing" in result.stdout
    shared = tmp_path / "shared"
    shared.mkdir()
    reuse_models = TINY_EXPERIMENTS[1::2]  # conformer_reuse, e_branchformer_reuse, hybrid
    for name in reuse_models:
        shutil.copy(zips[name], shared)
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("exp", "data"):  # the experiments, statistics, token lists, BPE models
        work[name].rename(moved / name)
    python = espnet_environment(tmp_path / "user_env")
    pip(python, "install", "-q", "--no-deps", "-e", str(REPO))
    (tmp_path / "elsewhere").mkdir()
    out = tmp_path / "decoded.json"
    test_clean = work["dump"] / "raw" / "test_clean"
    packed = [str(shared / zips[name].name) for name in reuse_models]
    done = subprocess.run(
        [str(python), str(REPO / "tests" / "load_packed.py"), str(test_clean), str(out), *packed],
        cwd=tmp_path / "elsewhere",
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    decoded = json.loads(out.read_text())
    for name, zip_file in zip(reuse_models, packed):
        model = "valid.acc.ave" if name == TINY_HYBRID else "valid.loss.ave"
        recipe_decoders = decoded[zip_file]["recipe"]
        assert len(recipe_decoders) == (3 if name == TINY_HYBRID else 1)
        for decoder, texts in recipe_decoders.items():
            stage12 = moved / "exp" / name / f"decode_decode_{decoder}_asr_model_{model}"
            expected = read_table(stage12 / "test_clean" / "text", allow_empty_values=True)
            assert texts == expected, decoder
        assert set(decoded[zip_file]["espnet"]) == set(expected)
        assert all(str(tmp_path / "moved") not in f for f in decoded[zip_file]["files"].values())


# ESPnet's egs2/librispeech/asr1/run.sh passes these to asr.sh
ESPNET_LIBRISPEECH_OPTIONS = [
    *("--lang", "en", "--ngpu", "16", "--nj", "16", "--gpu_inference", "true"),
    *("--inference_nj", "2", "--nbpe", "5000", "--max_wav_duration", "30"),
    *("--speed_perturb_factors", "0.9 1.0 1.1", "--audio_format", "flac.ark"),
    *("--feats_type", "raw", "--use_lm", "false", "--asr_tag", "conformer"),
    *("--asr_config", "conf/train_asr_conformer_ctc.yaml", "--lm_config", "conf/lm.yaml"),
    *("--inference_config", "conf/decode_ctc_beam.yaml", "--train_set", "train_960"),
    *("--valid_set", "dev", "--test_sets", "test_clean test_other dev_clean dev_other"),
    *("--lm_train_text", "data/train_960/text data/local/other_text/text"),
    *("--bpe_train_text", "data/train_960/text", "--token_type", "bpe", "--fs", "16k"),
]


def test_espnet_librispeech_run_sh_options_are_accepted():
    args = parse(ESPNET_LIBRISPEECH_OPTIONS)
    recipe = Recipe(args)
    assert (args.fs, args.gpu_inference, args.max_wav_duration) == (16000, True, 30.0)
    assert recipe.exp_dir(recipe.configs[0]) == Path("exp/asr_conformer")
    assert recipe.stats_dir == Path("exp/asr_stats_raw_en_bpe5000_sp")
    assert recipe.token_list == Path("data/en_token_list/bpe_unigram5000/tokens.txt")


@pytest.mark.parametrize(
    "options, message",
    [
        (["--use_lm", "true"], "this recipe has no language-model stages"),
        (["--feats_type", "fbank_pitch"], "only raw"),
        (["--cleaner", "tacotron"], "only none"),
    ],
)
def test_what_the_recipe_cannot_do_is_a_clear_error(options, message):
    with pytest.raises(ValueError, match=message):
        parse(options)


def test_character_units_and_asr_sh_overrides():
    args = parse(
        [
            "--token_type",
            "char",
            "--lang",
            "de",
            "--asr_config",
            "conf/train_asr_conformer_ctc.yaml",
        ]
        + ["--asr_stats_dir", "exp/stats", "--inference_tag", "beam20"]
    )
    recipe = Recipe(args)
    assert recipe.exp_dir(recipe.configs[0]) == Path("exp/asr_train_asr_conformer_ctc_raw_de_char")
    assert recipe.token_list == Path("data/de_token_list/char/tokens.txt")
    assert recipe.bpemodel is None and recipe.stats_dir == Path("exp/stats")
    assert recipe.inference_tag(Path("conf/decode_ctc_beam.yaml"), "valid.loss.ave.pth") == "beam20"
    common = recipe.common_train_args()
    assert "--bpemodel" not in common and common[common.index("--token_type") + 1] == "char"
    train = recipe.train_args(recipe.configs[0])
    assert "exp/stats/train/text_shape.char" in train


def test_inference_args_override_decoding_configs(tmp_path):
    config = DecodeConfig.from_yaml(
        REPO / "conf/decode_ctc_beam.yaml", "--beam_size 3 --batch_size 1"
    )
    assert (config.decoder, config.beam_size, config.batch_size) == ("prefix_beam", 3, 1)
    with pytest.raises(ValueError, match="unknown keys \\['beam'\\]"):
        DecodeConfig.from_yaml(REPO / "conf/decode_ctc_beam.yaml", "--beam 3")
    with pytest.raises(ValueError, match="'--key value' pairs"):
        DecodeConfig.from_yaml(None, "--beam_size")


def test_help_answers_at_once_without_the_environment():
    # the parser imports only the standard library, so run.sh answers before any setup
    script = (
        "import sys, espnet_reuse.recipe.options\n"
        "heavy = {'yaml', 'torch', 'numpy', 'espnet', 'espnet2', 'humanfriendly'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.stdout.strip() == "[]", done.stderr
    helped = subprocess.run(
        [str(REPO / "run.sh"), "--help"], capture_output=True, text=True, timeout=30
    )
    assert helped.returncode == 0 and "--use_lm USE_LM" in helped.stdout
    options = [a for a in get_parser()._actions if a.option_strings and a.dest != "help"]
    assert all(a.help for a in options), [a.dest for a in options if not a.help]


def test_models_with_an_attention_decoder_are_named():
    from espnet_reuse.decoding.attention_search import has_attention_decoder

    assert has_attention_decoder({"decoder": "transformer", "model_conf": {"ctc_weight": 0.3}})
    assert has_attention_decoder({"decoder": "transformer"})  # ESPnet's default ctc_weight 0.5
    assert not has_attention_decoder({"decoder": "none", "model_conf": {"ctc_weight": 1.0}})
    assert not has_attention_decoder({"decoder": "transformer", "model_conf": {"ctc_weight": 1.0}})


def test_layer_count_defaults_to_espnets():
    from espnet_reuse.encoder.families import num_blocks

    assert num_blocks("conformer_reuse", {}) == 6 and num_blocks("e_branchformer", {}) == 12
    assert num_blocks("e_branchformer_reuse", {"num_blocks": 17}) == 17
