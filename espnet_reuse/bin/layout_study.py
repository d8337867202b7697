"""The layout study: train, decode, score and time several reuse layouts with several seeds.

One command makes the paper's main table for the corpus ``run.sh`` is set up for
(the demo corpus, or LibriSpeech with ``LIBRISPEECH`` set; options after ``--``
go to every ``run.sh`` call, e.g. ``-- --ngpu 4``). Stages (``--stage`` /
``--stop_stage``), each resumable:

1. data: ``run.sh`` stages 1-10;
2. the baseline (``--asr_config``) and every ``--layouts`` arm (a layout, with or
   without map adaptation), trained from scratch with every seed (``--seeds``,
   ESPnet's ``seed``: one seed gives every arm the same initial shared parameters
   and data order), seed by seed, ``--jobs`` at a time;
3. layout choice by measurement on ``--select_set``, from the first seed's
   baseline, for ``--select_maps`` computed maps: the divergence rule
   (``analyze_attention``) and the conversion rule (every layout the baseline
   can be converted to without training, ranked by CTC loss;
   ``espnet_reuse.analysis.layout_search``);
4. the divergence rule's pick trained from scratch with every seed, and both
   picks and the uniform layout fine-tuned from each seed's baseline with
   ``--finetune_config`` (the same budget each);
5. encoder speed of the trained models, side by side in paired rounds (run it
   on an otherwise idle machine);
6. ``RESULTS.md`` (WER with 95 % bootstrap intervals, seeds pooled; paired
   differences to the baseline; training cost; speed-ups; bytes kept for backward;
   seed-paired differences on the endpoints test_clean and test_other against
   ``--margin``, t intervals over pairs and speakers, Holm across the arms:
   ``study.intervals``), ``results.json`` (with every utterance's errors per seed and
   its audio's SHA-256, so intervals can be recomputed), ``speed_accuracy.png`` and
   ``speed_difference.png`` in ``--out_dir``, from the experiments finished so far.

Example (the demo study of ``egs/librispeech_reuse/RESULTS.md``)::

    python -m espnet_reuse.bin.layout_study --layouts 6 3,3 2,2,2 --seeds 0 1 \\
        --select_maps 3 --jobs 2 --out_dir exp/layout_study
"""

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import List, Optional

from espnet_reuse.extras import command_needs

command_needs("recipe")

from espnet_reuse import safe_load
from espnet_reuse.espnet_api import str2bool
from espnet_reuse.study.paired import MARGIN
from espnet_reuse.study.study import run


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--stage", type=int, default=1)
    p.add_argument("--stop_stage", type=int, default=6)
    p.add_argument(
        "--asr_config", type=Path, default=Path("conf/demo/train_asr_conformer_ctc.yaml")
    )
    p.add_argument(
        "--finetune_config",
        type=Path,
        default=Path("conf/demo/finetune_asr_conformer_reuse_ctc.yaml"),
        help="fine-tuning recipe; its reuse_groups are replaced by each layout's",
    )
    p.add_argument("--inference_config", type=Path, default=Path("conf/decode_ctc_greedy.yaml"))
    p.add_argument(
        "--layouts",
        nargs="+",
        default=["6", "3,3", "2,2,2"],
        help="arms to train from scratch: reuse_groups as comma-separated group sizes, "
        "each optionally with map adaptation: 2,2,2+reuse_head_mixing, "
        "2,2,2+reuse_score_rank=4 (both: 2,2,2+reuse_head_mixing+reuse_score_rank=4)",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument(
        "--select_maps", type=int, default=3, help="computed maps of the chosen layouts (0: none)"
    )
    p.add_argument("--select_set", default="dev", help="data set the layouts are chosen on")
    p.add_argument("--select_max_utts", type=int, default=0, help="0: all")
    p.add_argument("--max_candidates", type=int, default=64, help="conversion rule's search")
    p.add_argument("--finetune", type=str2bool, default=True, help="fine-tune picks and uniform")
    p.add_argument("--test_sets", default="dev_clean dev_other test_clean test_other")
    p.add_argument("--dumpdir", type=Path, default=Path("dump"), help="run.sh's --dumpdir")
    p.add_argument(
        "--adopt",
        nargs="+",
        default=[],
        metavar="ARM:SEED=EXP_DIR",
        help="experiments trained earlier with the same config, e.g. "
        "baseline:0=exp/asr_train_asr_conformer_ctc_raw_en_bpe60 or 2,2,2:0=...",
    )
    p.add_argument(
        "--init_from_study",
        type=Path,
        default=None,
        help="another study's --out_dir: each experiment starts its encoder and CTC head "
        "from the experiment of the same arm and seed there (e.g. hybrid arms from CTC arms)",
    )
    p.add_argument("--init_model", default="valid.loss.ave.pth", help="its model file")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="experiments trained at once (with -- --ngpu N, each on its own N GPUs)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=MARGIN,
        help="WER points on the pooled sets within which an arm counts as accurate as the "
        "baseline (when its whole interval lies below); fix it before the results",
    )
    p.add_argument("--device", default="cpu", help="where stage 5 times the encoders (cuda:N)")
    p.add_argument("--speed_sets", default="test_clean test_other")
    p.add_argument("--speed_utts", type=int, default=100, help="test utterances timed a round")
    p.add_argument("--speed_seconds", type=float, nargs="+", default=[15, 30])
    p.add_argument("--speed_train_batch", type=int, default=16)
    p.add_argument("--speed_rounds", type=int, default=11)
    p.add_argument("--inference_asr_model", default="valid.loss.ave.pth", help="as run.sh's")
    p.add_argument("--run_sh", type=Path, default=Path("run.sh"))
    p.add_argument("--out_dir", type=Path, default=Path("exp/layout_study"))
    safe_load.add_trust_option(p)
    return p


def main(cmd: Optional[List[str]] = None) -> None:
    """Parse the options (those after ``--`` go to ``run.sh``) and run the study."""
    argv = sys.argv[1:] if cmd is None else cmd
    ours, run_args = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    args = get_parser().parse_args(ours)
    safe_load.set_trusted(args.trust_model_file)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(name)s) %(message)s", force=True)
    run(args, run_args, "python -m espnet_reuse.bin.layout_study " + shlex.join(argv))


if __name__ == "__main__":
    main()
