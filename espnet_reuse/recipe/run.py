"""The recipe driver: ESPnet's ``asr.sh`` stages 1-13 for CTC and hybrid CTC/attention
models, 14 (attention analysis), 15 (packing) and 16 (upload: by hand).

Run through ``./run.sh`` at the repository root, which sets the LibriSpeech (or
demo) defaults; every option can be overridden there, e.g.
``./run.sh --stage 11 --stop-stage 13 --ngpu 4``.
"""

import argparse
import logging
import re
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional

import yaml
from humanfriendly import format_timespan

from espnet_reuse import atomic, checkpoints, safe_load
from espnet_reuse.analysis.analyze import AnalysisOptions, analyze
from espnet_reuse.decoding.attention_search import has_attention_decoder
from espnet_reuse.devices import check_gpus
from espnet_reuse.kaldi_data import DataError
from espnet_reuse.recipe import espnet_commands
from espnet_reuse.recipe.bad_utterances import REPORT
from espnet_reuse.recipe.decode import (
    RTF_FILE,
    DecodeConfig,
    DecodeTask,
    decode_tasks,
)
from espnet_reuse.recipe.filter_data import filter_data_dir
from espnet_reuse.recipe.format_data import format_data_dir
from espnet_reuse.recipe.librispeech import prepare
from espnet_reuse.recipe.notes import TRAIN_TIME_FILE, add_seconds, experiment_notes
from espnet_reuse.recipe.options import parse
from espnet_reuse.recipe.pack import pack_experiment, packed_model_path
from espnet_reuse.recipe.results import (
    experiment_results,
    save_summary,
    side_by_side,
)
from espnet_reuse.recipe.scoring import score_decode_dir
from espnet_reuse.recipe.speed_perturb import perturb_data_dir
from espnet_reuse.recipe.stats import collect_stats
from espnet_reuse.recipe.tokens import LEXICON, train_tokens
from espnet_reuse.recipe.training_checks import check_feature_size, training_failed


class Stage(NamedTuple):
    """One of ``asr.sh``'s stages: what it does, and its implementation (``None``: a
    stage of the language model, which this recipe has none of)."""

    description: str
    run: Optional[Callable[[], None]]


UPLOAD_BY_HAND = (
    "this recipe uses no network, so it uploads nothing: share {packed} by hand, e.g. "
    "'huggingface-cli upload <user>/<model name> {packed}' (the Hugging Face Hub, where "
    "ESPnet's asr.sh uploads) or any file host; whoever gets it runs 'pip install "
    "espnet_reuse espnet_model_zoo' and loads it with "
    "Speech2Text.from_pretrained('<the zip>') after 'import espnet_reuse' (README)"
)
log = logging.getLogger("recipe")


class Recipe:
    """Paths and stage implementations for one set of options."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.configs = [Path(c) for c in args.asr_config.split()]
        self.inference_configs = [Path(c) for c in args.inference_config.split()]
        for path in self.configs + self.inference_configs:
            if not path.is_file():
                raise DataError(f"config {path} does not exist")
        if (args.asr_tag or args.asr_exp) and len(self.configs) > 1:
            raise ValueError("--asr_tag and --asr_exp name one experiment; give one --asr_config")
        if args.inference_tag and len(self.inference_configs) > 1:
            raise ValueError("--inference_tag names one decoding; give one --inference_config")
        self.factors = [float(f) for f in args.speed_perturb_factors.split()]
        self.test_sets = args.test_sets.split()
        suffix = "_sp" if any(f != 1.0 for f in self.factors) else ""
        self.train_set = args.train_set + suffix
        self.raw = args.dumpdir / "raw"
        bpe = args.token_type == "bpe"
        token_dir = args.datadir / f"{args.lang}_token_list"
        self.token_dir = token_dir / (f"bpe_{args.bpemode}{args.nbpe}" if bpe else "char")
        self.bpemodel = self.token_dir / "bpe.model" if bpe else None
        self.token_list = self.token_dir / "tokens.txt"
        units = f"{args.lang}_bpe{args.nbpe}" if bpe else f"{args.lang}_char"
        self.stats_dir = Path(args.asr_stats_dir or args.expdir / f"asr_stats_raw_{units}{suffix}")
        self._name_suffix = f"_raw_{units}{suffix}"
        self.launch = espnet_commands.LaunchOptions(
            args.launcher,
            args.ngpu,
            args.num_nodes,
            args.node_rank,
            args.nproc_per_node,
            args.master_addr,
            args.master_port,
            args.cpus_per_task,
        )
        self._speed_perturbed = bool(suffix)

    def stages(self) -> Dict[int, Stage]:
        """The stages by ``asr.sh``'s numbers."""
        no_lm = "(skipped, no LM)"
        return {
            1: Stage("data preparation", self.stage1),
            2: Stage("speed perturbation", self.stage2),
            3: Stage("format to dump/raw", self.stage3),
            4: Stage("remove short/long utterances and empty transcripts", self.stage4),
            5: Stage("token list", self.stage5),
            6: Stage(f"LM: text preparation {no_lm}", None),
            7: Stage(f"LM: statistics {no_lm}", None),
            8: Stage(f"LM: training {no_lm}", None),
            9: Stage(f"LM: perplexity {no_lm}", None),
            10: Stage("ASR statistics", self.stage10),
            11: Stage("ASR training", self.stage11),
            12: Stage("decoding", self.stage12),
            13: Stage("scoring", self.stage13),
            14: Stage("attention analysis (off by default: --stop-stage 14)", self.stage14),
            15: Stage("packing (off by default: --stage 15 --stop-stage 15)", self.stage15),
            16: Stage("upload (needs a network: says how to share the packed model)", self.stage16),
        }

    # -- naming ------------------------------------------------------------
    def exp_dir(self, config: Path) -> Path:
        """``exp/asr_<config>_raw_<lang>_bpe<nbpe>[_sp]`` (or ``_char``), as ``asr.sh``
        names it; ``--asr_tag`` or ``--asr_exp`` replace the name."""
        if self.args.asr_exp:
            return Path(self.args.asr_exp)
        if self.args.asr_tag:
            return self.args.expdir / f"asr_{self.args.asr_tag}"
        return self.args.expdir / f"asr_{config.stem}{self._name_suffix}"

    def inference_tag(self, inference_config: Path, asr_model: str) -> str:
        """``decode_<config>_asr_model_<model without .pth>`` as ESPnet names it, or
        ``--inference_tag``."""
        if self.args.inference_tag:
            return self.args.inference_tag
        model = re.sub(r"\.[^.]*$", "", asr_model.replace("/", "_"))
        return f"decode_{inference_config.stem}_asr_model_{model}"

    def asr_model(self, exp_dir: Path) -> str:
        """The model file of ``exp_dir`` that decoding, analysis and packing use:
        ``--inference_asr_model``, else the average ESPnet's trainer made by the
        criterion ESPnet selects such a model by (``valid.acc`` for a model with an
        attention decoder, ``valid.loss`` for a CTC model, which logs no accuracy)."""
        if self.args.inference_asr_model:
            return self.args.inference_asr_model
        self._require(exp_dir / "config.yaml")
        config = yaml.safe_load((exp_dir / "config.yaml").read_text())
        criterion = (
            ["valid", "acc", "max"] if has_attention_decoder(config) else ["valid", "loss", "min"]
        )
        if criterion not in [list(c) for c in config.get("best_model_criterion") or []]:
            raise ValueError(
                f"{exp_dir}/config.yaml does not select models by {'.'.join(criterion[:2])} "
                "(best_model_criterion): name the model to use with --inference_asr_model"
            )
        return f"{criterion[0]}.{criterion[1]}.ave.pth"

    def _require(self, *paths: Path) -> None:
        for path in paths:
            if not path.exists():
                raise DataError(f"{path} is missing: run the earlier stages first")

    # -- stages ------------------------------------------------------------
    def stage1(self) -> None:
        args = self.args
        if args.make_demo_corpus and args.demo_corpus == "books":
            from espnet_reuse.corpus.build import build_corpus

            build_corpus(args.corpus, args.corpus_size, nj=args.nj)
        elif args.make_demo_corpus:
            from espnet_reuse.demo.make_corpus import make_corpus

            make_corpus(args.corpus, nj=args.nj)
        parts = args.librispeech_parts.split() or None
        written = prepare(args.corpus, parts, args.datadir, args.skip_bad_utterances)
        log.info("wrote %s under %s", ", ".join(written), args.datadir)
        for name in written:
            _report_left_out(args.datadir / name)

    def stage2(self) -> None:
        if not self._speed_perturbed:
            log.info("no speed perturbation asked for (--speed_perturb_factors)")
            return
        src = self.args.datadir / self.args.train_set
        count = perturb_data_dir(
            src,
            self.args.datadir / self.train_set,
            self.factors,
            self.args.fs,
            self.args.nj,
            self.args.skip_bad_utterances,
        )
        log.info("%s: %d utterances with factors %s", self.train_set, count, self.factors)
        _report_left_out(self.args.datadir / self.train_set)

    def stage3(self) -> None:
        # training and validation data are filtered in stage 4, test sets are not
        targets = [
            (name, self.raw / "org" / name) for name in [self.train_set, self.args.valid_set]
        ]
        targets += [(name, self.raw / name) for name in self.test_sets]
        args = self.args
        for name, dst in targets:
            count = format_data_dir(
                args.datadir / name, dst, args.fs, args.nj, args.skip_bad_utterances
            )
            log.info("%s: %d utterances", dst, count)
            _report_left_out(dst)

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
        args = self.args
        texts = [Path(t) for t in args.bpe_train_text.split()] or [
            self.raw / self.train_set / "text"
        ]
        self._require(*texts)
        train_tokens(
            texts,
            self.token_dir,
            args.token_type,
            args.nbpe,
            args.bpemode,
            args.bpe_char_cover,
            args.bpe_input_sentence_size,
        )
        count = len(self.token_list.read_text().split())
        log.info("%s: %d tokens", self.token_list, count)

    def common_train_args(self) -> List[str]:
        """Options shared by statistics and training, as ESPnet's asr.sh sets them."""
        bpemodel = {"bpemodel": self.bpemodel} if self.bpemodel else {}
        return espnet_commands.flags(
            {
                "use_preprocessor": "true",
                "token_type": self.args.token_type,
                **bpemodel,
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
        collected = [self.stats_dir / name / "feats_stats.npz" for name in ("train", "valid")]
        if all(path.exists() for path in collected):  # each set's folder is renamed in whole
            log.info("%s exists: statistics already collected", self.stats_dir)
            return
        collect_stats(
            self.common_train_args(),
            {"train": self.raw / self.train_set, "valid": self.raw / self.args.valid_set},
            self.configs[0],
            self.stats_dir,
            len(self.token_list.read_text().split()),
            self.args.token_type,
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
            *espnet_commands.shape_args("train", self.stats_dir, self.args.token_type),
            *espnet_commands.shape_args("valid", self.stats_dir, self.args.token_type),
            *espnet_commands.flags(
                [
                    ("resume", "true"),
                    ("fold_length", self.args.asr_speech_fold_length * 100),  # raw audio
                    ("fold_length", self.args.asr_text_fold_length),
                    ("output_dir", self.exp_dir(config)),
                    ("config", config),
                ]
            ),
        ]
        configured = yaml.safe_load(config.read_text())
        normalize = self.normalization(configured)
        if normalize == "global_mvn":
            stats = self.stats_dir / "train" / "feats_stats.npz"
            args += espnet_commands.flags(
                {"normalize": "global_mvn", "normalize_conf": f"stats_file={stats}"}
            )
        elif "normalize" not in configured:  # the config's own choice needs no option
            args += espnet_commands.flags({"normalize": normalize})
        return args + self.args.asr_args.split()

    def normalization(self, configured: dict) -> str:
        """The normalisation a training config trains with (its own, else
        ``--feats_normalize``)."""
        return configured.get("normalize", self.args.feats_normalize)

    def init_from_baseline(self, config: Path, exp_dir: Path) -> List[str]:
        """Convert ``--init_from_exp`` into ``config``'s layout; its ``--init_param``."""
        from espnet_reuse.convert import convert_experiment
        from espnet_reuse.encoder.reuse_groups import ADAPTATION_OPTIONS

        base = Path(self.args.init_from_exp)
        model = base / self.asr_model(base)
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
                {k: encoder_conf[k] for k in ADAPTATION_OPTIONS if k in encoder_conf},
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
        stats = self.stats_dir / "train" / "feats_stats.npz"
        self._require(stats)
        for config in self.configs:
            configured = yaml.safe_load(config.read_text())
            if self.normalization(configured) == "global_mvn":  # the statistics are used
                check_feature_size(config, configured, stats)
        for config in self.configs:
            exp_dir = self.exp_dir(config)
            exp_dir.mkdir(parents=True, exist_ok=True)
            checkpoints.recover(exp_dir)
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
                add_seconds(exp_dir / TRAIN_TIME_FILE, time.perf_counter() - start)
            if code != 0:
                raise training_failed(exp_dir, code)

    def stage12(self) -> None:
        for config in self.configs:
            exp_dir = self.exp_dir(config)
            asr_model = self.asr_model(exp_dir)
            self._require(exp_dir / asr_model)
            hybrid = has_attention_decoder(yaml.safe_load((exp_dir / "config.yaml").read_text()))
            decodings = []
            for inference_config in self.inference_configs or [None]:
                decode = DecodeConfig.from_yaml(inference_config, self.args.inference_args)
                name = inference_config or Path("ctc_greedy")
                if decode.uses_attention_decoder and not hybrid:
                    log.info(
                        "%s has no attention decoder: %s is for hybrid models", exp_dir.name, name
                    )
                    continue
                decodings.append((name, decode))
            if hybrid and not any(decode.uses_attention_decoder for _, decode in decodings):
                log.warning(
                    "%s has an attention decoder, but no --inference_config uses it (decoder: "
                    "joint_beam or attention_rescoring): it is decoded with its CTC head only, "
                    "and its tables say so",
                    exp_dir.name,
                )
            if not decodings:
                log.warning("%s: no --inference_config is for a CTC model", exp_dir.name)
                continue
            tasks = [
                DecodeTask(
                    self.raw / test_set,
                    decode,
                    exp_dir / self.inference_tag(name, asr_model) / test_set,
                )
                for name, decode in decodings
                for test_set in self.test_sets
            ]
            rtfs = decode_tasks(
                tasks,
                exp_dir / "config.yaml",
                exp_dir / asr_model,
                self.args.gpu_inference,
                self.args.inference_nj,
                self.args.fs,
                self.token_dir / LEXICON,
            )
            for task, rtf in zip(tasks, rtfs):
                log.info("%s: RTF %.4f", task.out_dir, rtf)

    def stage13(self) -> None:
        from espnet_reuse.espnet_api import build_tokenizer

        tokenizer = build_tokenizer(self.args.token_type, self.bpemodel)
        for config in self.configs:
            exp_dir = self.exp_dir(config)
            for timing in sorted(exp_dir.glob(f"*/*/{RTF_FILE}")):  # each decoded set
                decode_dir = timing.parent  # <inference_tag>/<test_set>
                counts = score_decode_dir(
                    decode_dir, self.raw / decode_dir.name / "text", tokenizer.text2tokens
                )
                save_summary(decode_dir, counts)
                log.info("%s: WER %.1f %%", decode_dir, counts["wer"].error_rate)
            atomic.write_text(exp_dir / "RESULTS.md", experiment_results(exp_dir))
        # every scored experiment of --expdir, this run's and earlier ones
        exp_dirs = sorted(p.parent for p in self.args.expdir.glob("asr_*/RESULTS.md"))
        notes = {exp_dir: experiment_notes(exp_dir) for exp_dir in exp_dirs}
        atomic.write_text(self.args.expdir / "RESULTS.md", side_by_side(exp_dirs, notes))
        log.info("side-by-side table: %s", self.args.expdir / "RESULTS.md")

    def stage14(self) -> None:
        args = self.args
        data = self.raw / (args.analysis_set or self.test_sets[0])
        for config in self.configs:
            exp_dir = self.exp_dir(config)
            options = AnalysisOptions(
                asr_train_config=exp_dir / "config.yaml",
                asr_model_file=exp_dir / self.asr_model(exp_dir),
                data_dir=data,
                out_dir=exp_dir / f"attention_analysis_{data.name}",
                device="cuda" if args.gpu_inference else "cpu",
                target_maps=args.analysis_target_maps,
                alignments=Path(args.analysis_alignments) if args.analysis_alignments else None,
            )
            if args.analysis_probe_set and args.analysis_probe_alignments:
                options.probe_train_dir = self.raw / args.analysis_probe_set
                options.probe_train_alignments = Path(args.analysis_probe_alignments)
            log.info("attention analysis of %s on %s", exp_dir, data)
            path = analyze(options).write(options.out_dir)
            log.info("wrote %s and figures", path)

    def stage15(self) -> None:
        for config in self.configs:
            exp_dir = self.exp_dir(config)
            self._require(exp_dir / "config.yaml")  # pack_experiment names any other missing file
            log.info("packed %s", pack_experiment(exp_dir, self.asr_model(exp_dir)))
            if self.args.export_onnx:
                self._export_onnx(exp_dir)

    def _export_onnx(self, exp_dir: Path) -> None:
        """``<packed zip>.onnx``: the encoder and CTC head, checked against PyTorch."""
        from espnet_reuse.decoding.inference import load_asr_model
        from espnet_reuse.export.onnx_check import check_export
        from espnet_reuse.export.onnx_export import export_onnx

        model_file = exp_dir / self.asr_model(exp_dir)
        model = load_asr_model(exp_dir / "config.yaml", model_file, "cpu")
        out = export_onnx(model, packed_model_path(exp_dir, model_file.name).with_suffix(".onnx"))
        check = check_export(model, out)
        log.info("exported %s", out)
        for line in check.report():
            log.info("%s", line)
        if not check.passed:
            raise espnet_commands.StageFailed(f"the export {out} does not match PyTorch")

    def stage16(self) -> None:
        for config in self.configs:
            exp_dir = self.exp_dir(config)
            packed = packed_model_path(exp_dir, self.asr_model(exp_dir))
            self._require(packed)
            log.info(UPLOAD_BY_HAND.format(packed=packed))


def _report_left_out(data_dir: Path) -> None:
    """Warn about the bad utterances a stage left out (``--skip_bad_utterances``)."""
    if (data_dir / REPORT).exists():
        count = len((data_dir / REPORT).read_text().splitlines())
        log.warning(
            "%s: left out %d bad utterances, listed in %s", data_dir, count, data_dir / REPORT
        )


def main(argv: Optional[List[str]] = None) -> None:
    """Run the stages from ``--stage`` to ``--stop-stage``."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s (%(name)s) %(message)s", stream=sys.stdout
    )
    args = parse(argv)
    safe_load.set_trusted(args.trust_model_file)  # here, in training and in decoding workers
    recipe = Recipe(args)
    stages = range(args.stage, args.stop_stage + 1)
    if 11 in stages and not args.skip_train:
        check_gpus(args.ngpu, "--ngpu")
    if args.gpu_inference and ({12, 14} & set(stages)):
        check_gpus(1, "--gpu_inference true")
    total = time.perf_counter()
    skipped = {
        **dict.fromkeys(range(1, 6), args.skip_data_prep),
        **dict.fromkeys(range(6, 12), args.skip_train),
        **dict.fromkeys(range(12, 14), args.skip_eval),
    }
    table = recipe.stages()
    for stage in range(args.stage, args.stop_stage + 1):
        if stage not in table or skipped.get(stage, False):
            continue
        log.info("stage %d: %s", stage, table[stage].description)
        start = time.perf_counter()
        if table[stage].run is not None:
            table[stage].run()
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
    except (DataError, ValueError, espnet_commands.StageFailed) as error:
        log.error("%s", error)
        sys.exit(1)
    except OSError as error:  # atomic.WriteFailed, or a full disk where a library wrote
        log.error("%s", atomic.describe(error))
        sys.exit(1)
    except KeyboardInterrupt:
        log.error("interrupted; re-running the same command resumes where it stopped")
        sys.exit(130)
