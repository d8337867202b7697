"""The recipe's options, spelled and meant as in ESPnet's ``asr.sh``.

Only the standard library is imported here, so ``./run.sh --help`` answers before
the virtual environment exists. Options of ``asr.sh`` that this recipe accepts but
does not act on (the language-model ones with ``--use_lm false``, ``--audio_format``)
are listed as such in their help; values it cannot honour are errors that say so.
"""

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from espnet_reuse.recipe.espnet_commands import LAUNCHERS

TOKEN_TYPES = ("bpe", "char")
NORMALIZERS = ("global_mvn", "utterance_mvn", "none")


def str2bool(value: str) -> bool:
    """``true`` or ``false``, as ``asr.sh`` spells booleans.

    Not ESPnet's ``str2bool``: this module must import without ESPnet, so that
    ``./run.sh --help`` answers before the environment exists.
    """
    if value.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")
    return value.lower() == "true"


def sampling_rate(value: str) -> int:
    """``16000`` or ESPnet's ``16k``."""
    text = value.lower()
    try:
        return int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)
    except ValueError:
        message = f"expected a rate such as 16000 or 16k, got {value!r}"
        raise argparse.ArgumentTypeError(message) from None


def get_parser() -> argparse.ArgumentParser:
    """Every option of ``./run.sh``, with help."""
    p = argparse.ArgumentParser(
        prog="run.sh",
        description="LibriSpeech CTC recipe (ESPnet asr.sh stages 1-13, plus 14: attention "
        "analysis, 15: packing, 16: upload) for ESPnet's encoders and their reuse forms "
        "(conformer_reuse, e_branchformer_reuse, branchformer_reuse, transformer_reuse).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("stages")
    g.add_argument("--stage", type=int, default=1, help="first stage to run")
    g.add_argument(
        "--stop-stage",
        "--stop_stage",
        dest="stop_stage",
        type=int,
        default=13,
        help="last stage to run (14: attention analysis, 15: packing, 16: upload by hand)",
    )
    g.add_argument("--skip_data_prep", type=str2bool, default=False, help="skip stages 1-5")
    g.add_argument("--skip_train", type=str2bool, default=False, help="skip stages 6-11")
    g.add_argument("--skip_eval", type=str2bool, default=False, help="skip stages 12-13")

    g = p.add_argument_group("resources")
    g.add_argument("--ngpu", type=int, default=0, help="GPUs for training (per node); 0: CPU")
    g.add_argument("--nj", type=int, default=2, help="parallel CPU jobs of the data stages")
    g.add_argument("--inference_nj", type=int, default=2, help="CPU decoding processes")
    g.add_argument(
        "--gpu_inference",
        type=str2bool,
        default=False,
        help="decode with one worker per visible GPU instead of --inference_nj CPU processes",
    )
    g.add_argument(
        "--launcher",
        default="local",
        choices=LAUNCHERS,
        help="how training processes start: local (ESPnet spawns one per GPU), "
        "torchrun (run on every node), slurm (inside an allocation)",
    )
    g.add_argument("--num_nodes", type=int, default=1, help="nodes for training")
    g.add_argument("--node_rank", type=int, default=0, help="this node's rank (torchrun)")
    g.add_argument(
        "--nproc_per_node",
        type=int,
        default=0,
        help="torchrun workers a node (0: --ngpu, or 1 on CPU)",
    )
    g.add_argument("--master_addr", default="localhost", help="torchrun rendezvous host")
    g.add_argument("--master_port", type=int, default=29500, help="torchrun rendezvous port")
    g.add_argument(
        "--cpus_per_task",
        type=int,
        default=0,
        help="slurm: CPUs of each node's training task (0: SLURM_CPUS_ON_NODE)",
    )

    g = p.add_argument_group("data")
    g.add_argument("--corpus", type=Path, default=Path(""), help="LibriSpeech root")
    g.add_argument("--librispeech_parts", default="", help="parts to use (default: all found)")
    g.add_argument(
        "--make_demo_corpus",
        type=str2bool,
        default=False,
        help="synthesise the demo corpus (--demo_corpus) into --corpus first",
    )
    g.add_argument(
        "--demo_corpus",
        choices=("books", "espeak"),
        default="books",
        help="the demo corpus: books (book text read by Kokoro, flite, festival and "
        "espeak-ng, rooms, noise, recorded prompts: espnet_reuse.corpus) or espeak "
        "(espeak-ng reading a small grammar, quicker: espnet_reuse.demo)",
    )
    g.add_argument(
        "--corpus_size",
        choices=("tiny", "demo", "study"),
        default="demo",
        help="size of the books corpus (espnet_reuse.corpus.plan.SIZES)",
    )
    g.add_argument("--train_set", default="train_960", help="training set (data/<name>)")
    g.add_argument("--valid_set", default="dev", help="validation set")
    g.add_argument(
        "--test_sets",
        default="dev_clean dev_other test_clean test_other",
        help="sets to decode, space separated",
    )
    g.add_argument(
        "--speed_perturb_factors",
        default="",
        help='speed perturbation of the training set, e.g. "0.9 1.0 1.1"',
    )
    g.add_argument(
        "--skip_bad_utterances",
        type=str2bool,
        default=False,
        help="leave out utterances whose files are missing, unpaired or unreadable "
        "(listed in bad_utterances.txt of their data directory) instead of stopping",
    )
    g.add_argument("--fs", type=sampling_rate, default=16000, help="sampling rate (16000 or 16k)")
    g.add_argument(
        "--min_wav_duration", type=float, default=0.1, help="drop shorter training utterances (s)"
    )
    g.add_argument(
        "--max_wav_duration", type=float, default=20.0, help="drop longer training utterances (s)"
    )
    g.add_argument("--feats_type", default="raw", help="only raw: features are made on the fly")
    g.add_argument(
        "--audio_format",
        default="flac",
        help="accepted for asr.sh compatibility; audio is referenced in place "
        "(decoded once to check it), never re-encoded",
    )
    g.add_argument("--lang", default="en", help="language tag in data and experiment names")
    g.add_argument("--datadir", type=Path, default=Path("data"), help="Kaldi-style data dirs")
    g.add_argument("--dumpdir", type=Path, default=Path("dump"), help="formatted data dirs")
    g.add_argument("--expdir", type=Path, default=Path("exp"), help="experiments")

    g = p.add_argument_group("tokens")
    g.add_argument("--token_type", default="bpe", choices=TOKEN_TYPES, help="output units")
    g.add_argument("--nbpe", type=int, default=5000, help="sentencepiece vocabulary size")
    g.add_argument(
        "--bpemode", default="unigram", choices=["unigram", "bpe"], help="sentencepiece model type"
    )
    g.add_argument(
        "--bpe_train_text",
        default="",
        help="Kaldi text files the token model learns from (default: the training set's text)",
    )
    g.add_argument(
        "--bpe_char_cover", type=float, default=1.0, help="sentencepiece character coverage"
    )
    g.add_argument(
        "--bpe_input_sentence_size",
        type=int,
        default=100_000_000,
        help="sentencepiece training sentences at most",
    )
    for name in ("cleaner", "g2p", "nlsyms_txt", "hyp_cleaner"):
        g.add_argument(f"--{name}", default="none", help="only none in this recipe")

    g = p.add_argument_group("training")
    g.add_argument("--asr_config", default="", help="training configs, space separated")
    g.add_argument("--asr_tag", default="", help="experiment name (one config only)")
    g.add_argument("--asr_exp", default="", help="experiment directory (one config only)")
    g.add_argument("--asr_stats_dir", default="", help="statistics directory")
    g.add_argument("--asr_args", default="", help="extra options for asr_train")
    g.add_argument(
        "--feats_normalize", default="global_mvn", choices=NORMALIZERS, help="feature normalisation"
    )
    g.add_argument(
        "--asr_speech_fold_length",
        type=int,
        default=800,
        help="fold length of speech (x100 samples for raw audio)",
    )
    g.add_argument("--asr_text_fold_length", type=int, default=150, help="fold length of text")
    g.add_argument("--num_splits_asr", type=int, default=1, help="only 1 in this recipe")
    g.add_argument(
        "--init_from_exp",
        default="",
        help="fine-tune: convert this trained experiment into each config's "
        "layout and start from it (--init_param)",
    )
    g.add_argument(
        "--init_learned_maps_from",
        default="",
        help="summary.json of an attention analysis of --init_from_exp: "
        "learned maps start from its offset profiles",
    )
    g.add_argument(
        "--trust_model_file",
        type=str2bool,
        default=False,
        help="unpickle model and checkpoint files in full (runs any code they name): only "
        "for files from a source you trust; off, a file holding more than tensors is refused",
    )

    g = p.add_argument_group("decoding")
    g.add_argument("--inference_config", default="", help="decoding configs, space separated")
    g.add_argument(
        "--inference_args",
        default="",
        help='overrides of the decoding configs\' keys, e.g. "--beam_size 20 --batch_size 1"',
    )
    g.add_argument(
        "--inference_tag", default="", help="decoding directory name (one inference config only)"
    )
    g.add_argument(
        "--inference_asr_model",
        default="",
        help="model file of each experiment to decode; default: valid.acc.ave.pth for a "
        "model with an attention decoder, valid.loss.ave.pth for a CTC model (ESPnet's choices)",
    )

    g = p.add_argument_group("language model (this recipe has none)")
    g.add_argument("--use_lm", type=str2bool, default=False, help="only false")
    g.add_argument("--use_ngram", type=str2bool, default=False, help="only false")
    for name in (
        "lm_config",
        "lm_args",
        "lm_tag",
        "lm_exp",
        "lm_stats_dir",
        "lm_train_text",
        "lm_dev_text",
        "lm_test_text",
        "lm_test_texts",
    ):
        g.add_argument(f"--{name}", default="", help="accepted and unused (--use_lm false)")

    g = p.add_argument_group("attention analysis (stage 14)")
    g.add_argument("--analysis_set", default="", help="data to analyse (default: first test set)")
    g.add_argument("--analysis_alignments", default="", help="CTM file or TextGrid folder of it")
    g.add_argument("--analysis_probe_set", default="", help="set the phone probes learn on")
    g.add_argument("--analysis_probe_alignments", default="", help="its alignments")
    g.add_argument(
        "--analysis_target_maps",
        type=int,
        default=0,
        help="suggest reuse_groups with this many computed maps",
    )

    g = p.add_argument_group("packing (stage 15)")
    g.add_argument(
        "--export_onnx",
        type=str2bool,
        default=False,
        help="also export each experiment's encoder and CTC head to ONNX beside its packed "
        "zip (<zip name>.onnx) and check it against PyTorch (README, ONNX)",
    )
    return p


def check(args: argparse.Namespace) -> None:
    """Refuse, with the reason, what ``asr.sh`` accepts but this recipe cannot honour."""
    if args.use_lm or args.use_ngram:
        raise ValueError(
            "--use_lm/--use_ngram true: this recipe has no language-model stages (6-9 are "
            "skipped); its decoders are CTC greedy and prefix beam search, optionally "
            "constrained to a lexicon (conf/decode_ctc_beam_lexicon.yaml)"
        )
    if args.feats_type != "raw":
        raise ValueError(f"--feats_type {args.feats_type}: only raw (features on the fly)")
    if args.num_splits_asr != 1:
        raise ValueError("--num_splits_asr: only 1 (ESPnet's split training is not supported)")
    for name in ("cleaner", "g2p", "nlsyms_txt", "hyp_cleaner"):
        if getattr(args, name) != "none":
            raise ValueError(f"--{name} {getattr(args, name)}: only none in this recipe")


def parse(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse and check the options."""
    args = get_parser().parse_args(argv)
    check(args)
    return args


if __name__ == "__main__":
    get_parser().parse_args(sys.argv[1:] or ["--help"])
