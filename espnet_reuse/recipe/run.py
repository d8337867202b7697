"""The recipe driver: ESPnet's ``asr.sh`` stages 1-13 for CTC Conformer models.

Run through ``./run.sh`` at the repository root, which sets the LibriSpeech (or
demo) defaults; every option can be overridden there, e.g.
``./run.sh --stage 11 --stop-stage 13 --ngpu 4``.
"""

import argparse
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import yaml
from espnet2.utils.types import str2bool
from humanfriendly import format_timespan

from espnet_reuse.kaldi_data import DataError
from espnet_reuse.recipe import espnet_commands
from espnet_reuse.recipe.ctc_decode import RTF_FILE, DecodeConfig, DecodeTask, decode_tasks
from espnet_reuse.recipe.filter_data import filter_data_dir
from espnet_reuse.recipe.format_data import format_data_dir
from espnet_reuse.recipe.librispeech import prepare
from espnet_reuse.recipe.results import (
    experiment_results,
    save_summary,
    side_by_side,
)
from espnet_reuse.recipe.scoring import score_decode_dir
from espnet_reuse.recipe.speed_perturb import perturb_data_dir
from espnet_reuse.recipe.stats import collect_stats
from espnet_reuse.recipe.tokens import LEXICON, train_tokens

STAGES = {
    1: "data preparation",
    2: "speed perturbation",
    3: "format to dump/raw",
    4: "remove short/long utterances and empty transcripts",
    5: "sentencepiece token list",
    6: "LM: text preparation (skipped, no LM)",
    7: "LM: statistics (skipped, no LM)",
    8: "LM: training (skipped, no LM)",
    9: "LM: perplexity (skipped, no LM)",
    10: "ASR statistics",
    11: "ASR training",
    12: "decoding",
    13: "scoring",
    14: "attention analysis (off by default: --stop-stage 14)",
}
TRAIN_TIME_FILE = "train_seconds"
log = logging.getLogger("recipe")


def get_parser() -> argparse.ArgumentParser:
    """Options, spelled as ESPnet's ``asr.sh`` spells them."""
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--stage", type=int, default=1)
    p.add_argument("--stop-stage", "--stop_stage", dest="stop_stage", type=int, default=13)
    p.add_argument("--ngpu", type=int, default=0, help="GPUs (per node); 0: CPU")
    p.add_argument("--nj", type=int, default=2, help="parallel CPU jobs for data stages")
    p.add_argument("--inference_nj", type=int, default=2, help="parallel CPU decoding jobs")
    p.add_argument("--corpus", type=Path, default=Path(""), help="LibriSpeech root")
    p.add_argument("--librispeech_parts", default="", help="parts to use (default: all found)")
    p.add_argument(
        "--make_demo_corpus",
        type=str2bool,
        default=False,
        help="synthesise the demo corpus into --corpus first",
    )
    p.add_argument("--asr_config", default="", help="training configs, space separated")
    p.add_argument("--inference_config", default="", help="decoding configs, space separated")
    p.add_argument("--inference_asr_model", default="valid.loss.ave.pth")
    p.add_argument("--train_set", default="train_960")
    p.add_argument("--valid_set", default="dev")
    p.add_argument("--test_sets", default="dev_clean dev_other test_clean test_other")
    p.add_argument("--nbpe", type=int, default=5000)
    p.add_argument("--bpemode", default="unigram", choices=["unigram", "bpe"])
    p.add_argument("--speed_perturb_factors", default="")
    p.add_argument("--asr_tag", default="", help="experiment name (one config only)")
    p.add_argument("--asr_args", default="", help="extra options for asr_train")
    p.add_argument(
        "--init_from_exp",
        default="",
        help="fine-tune: convert this trained experiment into each "
        "config's layout and start from it (--init_param)",
    )
    p.add_argument(
        "--init_learned_maps_from",
        default="",
        help="summary.json of an attention analysis of --init_from_exp: "
        "learned maps start from its offset profiles",
    )
    p.add_argument("--min_wav_duration", type=float, default=0.1)
    p.add_argument("--max_wav_duration", type=float, default=20.0)
    p.add_argument("--fs", type=int, default=16000)
    p.add_argument("--datadir", type=Path, default=Path("data"))
    p.add_argument("--dumpdir", type=Path, default=Path("dump"))
    p.add_argument("--expdir", type=Path, default=Path("exp"))
    p.add_argument("--analysis_set", default="", help="stage 14 data (default: first test set)")
    p.add_argument("--analysis_alignments", default="", help="CTM or TextGrid folder of it")
    p.add_argument("--analysis_probe_set", default="", help="set the phone probes learn on")
    p.add_argument("--analysis_probe_alignments", default="")
    p.add_argument(
        "--analysis_target_maps",
        type=int,
        default=0,
        help="suggest reuse_groups with this many computed maps",
    )
    p.add_argument("--launcher", default="local", choices=espnet_commands.LAUNCHERS)
    p.add_argument("--num_nodes", type=int, default=1)
    p.add_argument("--node_rank", type=int, default=0)
    p.add_argument(
        "--nproc_per_node",
        type=int,
        default=0,
        help="torchrun workers a node (default: ngpu, or 1 on CPU)",
    )
    p.add_argument("--master_addr", default="localhost")
    p.add_argument("--master_port", type=int, default=29500)
    return p


class Recipe:
    """Paths and stage implementations for one set of options."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.configs = [Path(c) for c in args.asr_config.split()]
        self.inference_configs = [Path(c) for c in args.inference_config.split()]
        for path in self.configs + self.inference_configs:
            if not path.is_file():
                raise DataError(f"config {path} does not exist")
        if args.asr_tag and len(self.configs) > 1:
            raise ValueError("--asr_tag names one experiment; give one --asr_config")
        self.factors = [float(f) for f in args.speed_perturb_factors.split()]
        self.test_sets = args.test_sets.split()
        suffix = "_sp" if any(f != 1.0 for f in self.factors) else ""
        self.train_set = args.train_set + suffix
        self.raw = args.dumpdir / "raw"
        self.token_dir = args.datadir / "en_token_list" / f"bpe_{args.bpemode}{args.nbpe}"
        self.bpemodel = self.token_dir / "bpe.model"
        self.token_list = self.token_dir / "tokens.txt"
        self.stats_dir = args.expdir / f"asr_stats_raw_en_bpe{args.nbpe}{suffix}"
        self.launch = espnet_commands.LaunchOptions(
            args.launcher,
            args.ngpu,
            args.num_nodes,
            args.node_rank,
            args.nproc_per_node,
            args.master_addr,
            args.master_port,
        )
        self._suffix = suffix

    # -- naming ------------------------------------------------------------
    def exp_dir(self, config: Path) -> Path:
        """``exp/asr_<config>_raw_en_bpe<nbpe>[_sp]``, or ``exp/asr_<asr_tag>``."""
        if self.args.asr_tag:
            return self.args.expdir / f"asr_{self.args.asr_tag}"
        return self.args.expdir / f"asr_{config.stem}_raw_en_bpe{self.args.nbpe}{self._suffix}"

    def inference_tag(self, inference_config: Path) -> str:
        """``decode_<config>_asr_model_<model without .pth>`` as in ESPnet."""
        model = re.sub(r"\.[^.]*$", "", self.args.inference_asr_model.replace("/", "_"))
        return f"decode_{inference_config.stem}_asr_model_{model}"

    def _require(self, *paths: Path) -> None:
        for path in paths:
            if not path.exists():
                raise DataError(f"{path} is missing: run the earlier stages first")

    # -- stages ------------------------------------------------------------
    def stage1(self) -> None:
        args = self.args
        if args.make_demo_corpus:
            from espnet_reuse.demo.make_corpus import make_corpus

            make_corpus(args.corpus, nj=args.nj)
        parts = args.librispeech_parts.split() or None
        written = prepare(args.corpus, parts, args.datadir)
        log.info("wrote %s under %s", ", ".join(written), args.datadir)

    def stage2(self) -> None:
        if not self._suffix:
            log.info("no speed perturbation asked for (--speed_perturb_factors)")
            return
        src = self.args.datadir / self.args.train_set
        count = perturb_data_dir(
            src, self.args.datadir / self.train_set, self.factors, self.args.fs, self.args.nj
        )
        log.info("%s: %d utterances with factors %s", self.train_set, count, self.factors)

    def stage3(self) -> None:
        # training and validation data are filtered in stage 4, test sets are not
        targets = [
            (name, self.raw / "org" / name) for name in [self.train_set, self.args.valid_set]
        ]
        targets += [(name, self.raw / name) for name in self.test_sets]
        for name, dst in targets:
            count = format_data_dir(self.args.datadir / name, dst, self.args.fs, self.args.nj)
            log.info("%s: %d utterances", dst, count)

    def stage4(self) -> None:
        for name in [self.train_set, self.args.valid_set]:
            counts = filter_data_dir(
                self.raw / "org" / name,
                self.raw / name,
                self.args.min_wav_duration,
                self.args.max_wav_duration,
                self.args.fs,
            )
            log.info("%s: %s", name, counts)

    def stage5(self) -> None:
        text = self.raw / self.train_set / "text"
        self._require(text)
        train_tokens(text, self.token_dir, self.args.nbpe, self.args.bpemode)
        count = len(self.token_list.read_text().split())
        log.info("%s: %d tokens", self.token_list, count)

    def common_train_args(self) -> List[str]:
        """Options shared by statistics and training, as ESPnet's asr.sh sets them."""
        return espnet_commands.flags(
            {
                "use_preprocessor": "true",
                "token_type": "bpe",
                "bpemodel": self.bpemodel,
                "token_list": self.token_list,
                "non_linguistic_symbols": "none",
                "cleaner": "none",
                "g2p": "none",
                "frontend_conf": f"fs={self.args.fs}",
            }
        )

    def stage10(self) -> None:
        self._require(self.token_list, self.raw / self.train_set, self.raw / self.args.valid_set)
        if not self.configs:
            raise ValueError("--asr_config names no training config")
        self._check_same_frontend()
        if (self.stats_dir / "train" / "feats_stats.npz").exists():
            log.info("%s exists: statistics already collected", self.stats_dir)
            return
        collect_stats(
            self.common_train_args(),
            {"train": self.raw / self.train_set, "valid": self.raw / self.args.valid_set},
            self.configs[0],
            self.stats_dir,
            len(self.token_list.read_text().split()),
            self.args.nj,
        )
        log.info("statistics in %s", self.stats_dir)

    def _check_same_frontend(self) -> None:
        keys = ("frontend", "frontend_conf", "specaug", "normalize")
        first = yaml.safe_load(self.configs[0].read_text())
        for config in self.configs[1:]:
            other = yaml.safe_load(config.read_text())
            differ = [k for k in keys if first.get(k) != other.get(k)]
            if differ:
                raise ValueError(
                    f"{config} and {self.configs[0]} differ in {differ}; the "
                    "experiments of one run share their feature statistics"
                )

    def train_args(self, config: Path) -> List[str]:
        """``asr_train`` options of one experiment."""
        args = [
            *self.common_train_args(),
            *espnet_commands.data_path_args("train", self.raw / self.train_set),
            *espnet_commands.data_path_args("valid", self.raw / self.args.valid_set),
            *espnet_commands.shape_args("train", self.stats_dir, "bpe"),
            *espnet_commands.shape_args("valid", self.stats_dir, "bpe"),
            *espnet_commands.flags(
                [
                    ("resume", "true"),
                    ("fold_length", 80000),
                    ("fold_length", 150),
                    ("output_dir", self.exp_dir(config)),
                    ("config", config),
                ]
            ),
        ]
        if yaml.safe_load(config.read_text()).get("normalize", "global_mvn") == "global_mvn":
            stats = self.stats_dir / "train" / "feats_stats.npz"
            args += espnet_commands.flags(
                {"normalize": "global_mvn", "normalize_conf": f"stats_file={stats}"}
            )
        return args + self.args.asr_args.split()

    def init_from_baseline(self, config: Path, exp_dir: Path) -> List[str]:
        """Convert ``--init_from_exp`` into ``config``'s layout; its ``--init_param``."""
        from espnet_reuse.convert import convert_experiment

        base = Path(self.args.init_from_exp)
        model = base / self.args.inference_asr_model
        out = exp_dir / "init_from_baseline"
        if not (out / model.name).exists():
            self._require(base / "config.yaml", model)
            encoder_conf = yaml.safe_load(config.read_text())["encoder_conf"]
            profiles = self.args.init_learned_maps_from
            dropped, initialised = convert_experiment(
                base / "config.yaml",
                model,
                encoder_conf["reuse_groups"],
                out,
                encoder_conf.get("learned_map_groups", []),
                Path(profiles) if profiles else None,
            )
            log.info(
                "converted %s into %s: dropped %d parameters, initialised %s",
                model,
                out,
                len(dropped),
                initialised or "nothing",
            )
        return ["--init_param", str(out / model.name)]

    def stage11(self) -> None:
        self._require(self.stats_dir / "train" / "feats_stats.npz")
        for config in self.configs:
            exp_dir = self.exp_dir(config)
            exp_dir.mkdir(parents=True, exist_ok=True)
            args = self.train_args(config)
            if self.args.init_from_exp:
                args += self.init_from_baseline(config, exp_dir)
            command = espnet_commands.train_command(args, self.launch, exp_dir)
            log.info("training %s (log: %s/train.log)", exp_dir, exp_dir)
            log.info("%s", espnet_commands.printable(command))
            start = time.perf_counter()
            try:
                code = espnet_commands.run_logged(command, exp_dir / "train.log", log)
            finally:
                _add_seconds(exp_dir / TRAIN_TIME_FILE, time.perf_counter() - start)
            if code != 0:
                raise RuntimeError(f"training failed ({code}): see {exp_dir}/train.log")

    def stage12(self) -> None:
        for config in self.configs:
            exp_dir = self.exp_dir(config)
            model = exp_dir / self.args.inference_asr_model
            self._require(model)
            tasks = [
                DecodeTask(
                    self.raw / test_set,
                    DecodeConfig.from_yaml(inference_config),
                    exp_dir / self.inference_tag(inference_config or Path("ctc_greedy")) / test_set,
                )
                for inference_config in self.inference_configs or [None]
                for test_set in self.test_sets
            ]
            rtfs = decode_tasks(
                tasks,
                exp_dir / "config.yaml",
                model,
                self.args.ngpu,
                self.args.inference_nj,
                self.args.fs,
                self.token_dir / LEXICON,
            )
            for task, rtf in zip(tasks, rtfs):
                log.info("%s: RTF %.4f", task.out_dir, rtf)

    def stage13(self) -> None:
        import sentencepiece as spm

        processor = spm.SentencePieceProcessor(model_file=str(self.bpemodel))
        for config in self.configs:
            exp_dir = self.exp_dir(config)
            for text in sorted(exp_dir.glob("decode_*/*/text")):
                test_set = text.parent.name
                counts = score_decode_dir(
                    text.parent,
                    self.raw / test_set / "text",
                    lambda t: processor.encode(t, out_type=str),
                )
                save_summary(text.parent, counts)
                log.info("%s: WER %.1f %%", text.parent, counts["wer"].error_rate)
            (exp_dir / "RESULTS.md").write_text(experiment_results(exp_dir))
        # every scored experiment of --expdir, this run's and earlier ones
        exp_dirs = sorted(p.parent for p in self.args.expdir.glob("asr_*/RESULTS.md"))
        notes = {exp_dir: _experiment_notes(exp_dir) for exp_dir in exp_dirs}
        (self.args.expdir / "RESULTS.md").write_text(side_by_side(exp_dirs, notes))
        log.info("side-by-side table: %s", self.args.expdir / "RESULTS.md")

    def stage14(self) -> None:
        args = self.args
        data = self.raw / (args.analysis_set or self.test_sets[0])
        for config in self.configs:
            exp_dir = self.exp_dir(config)
            options = {
                "asr_train_config": exp_dir / "config.yaml",
                "asr_model_file": exp_dir / args.inference_asr_model,
                "data_dir": data,
                "out_dir": exp_dir / f"attention_analysis_{data.name}",
                "device": "cuda" if args.ngpu > 0 else "cpu",
                "target_maps": args.analysis_target_maps,
            }
            if args.analysis_alignments:
                options["alignments"] = args.analysis_alignments
            if args.analysis_probe_set and args.analysis_probe_alignments:
                options["probe_train_dir"] = self.raw / args.analysis_probe_set
                options["probe_train_alignments"] = args.analysis_probe_alignments
            from espnet_reuse.bin.analyze_attention import main as analyze

            log.info("attention analysis of %s on %s", exp_dir, data)
            analyze(espnet_commands.flags(options))


def _experiment_notes(exp_dir: Path) -> Dict[str, str]:
    notes = {}
    train_time = exp_dir / TRAIN_TIME_FILE
    if train_time.exists():
        notes["train time"] = format_timespan(float(train_time.read_text()), max_units=2)
    encoder_conf = yaml.safe_load((exp_dir / "config.yaml").read_text()).get("encoder_conf", {})
    groups = encoder_conf.get("reuse_groups")
    blocks = encoder_conf.get("num_blocks", "?")
    learned = len(encoder_conf.get("learned_map_groups", []))
    computed = (len(groups) if groups else blocks) - learned
    notes["maps/layers"] = f"{computed}/{blocks}" + (f" (+{learned} learned)" if learned else "")
    if (exp_dir / "init_from_baseline").exists():
        notes["init"] = "converted baseline"
    rtfs = [json.loads(p.read_text())["rtf"] for p in exp_dir.glob(f"decode_*/*/{RTF_FILE}")]
    if rtfs:
        notes["decode RTF"] = f"{max(rtfs):.4f} (max)"
    return notes


def _add_seconds(path: Path, seconds: float) -> None:
    previous = float(path.read_text()) if path.exists() else 0.0
    path.write_text(f"{previous + seconds:.1f}\n")


def main(argv: Optional[List[str]] = None) -> None:
    """Run the stages from ``--stage`` to ``--stop-stage``."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s (%(name)s) %(message)s", stream=sys.stdout
    )
    args = get_parser().parse_args(argv)
    recipe = Recipe(args)
    total = time.perf_counter()
    for stage in range(args.stage, args.stop_stage + 1):
        if stage not in STAGES:
            continue
        log.info("stage %d: %s", stage, STAGES[stage])
        start = time.perf_counter()
        getattr(recipe, f"stage{stage}", lambda: None)()
        log.info("stage %d done in %s", stage, format_timespan(time.perf_counter() - start))
    log.info(
        "stages %d-%d done in %s",
        args.stage,
        args.stop_stage,
        format_timespan(time.perf_counter() - total),
    )


if __name__ == "__main__":
    try:
        main()
    except (DataError, ValueError) as error:
        logging.getLogger("recipe").error("%s", error)
        sys.exit(1)
