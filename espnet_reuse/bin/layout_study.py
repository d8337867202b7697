"""The layout study: train, decode, score and time several reuse layouts with several seeds.

One command makes the paper's main table for the corpus ``run.sh`` is set up for
(the demo corpus, or LibriSpeech with ``LIBRISPEECH`` set; options after ``--``
go to every ``run.sh`` call, e.g. ``-- --ngpu 4``). Stages (``--stage`` /
``--stop_stage``), each resumable:

1. data: ``run.sh`` stages 1-10;
2. the baseline (``--asr_config``) and every ``--layouts`` layout, trained from
   scratch with every seed (``--seeds``, ESPnet's ``seed``), ``--jobs`` at a time;
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
   differences to the baseline; training cost; speed-ups), ``results.json`` and
   ``speed_accuracy.png`` in ``--out_dir``.

Example (the demo study of ``egs/librispeech_reuse/RESULTS.md``)::

    python -m espnet_reuse.bin.layout_study --layouts 6 3,3 2,2,2 --seeds 0 1 \\
        --select_maps 3 --jobs 2 --out_dir exp/layout_study
"""

import argparse
import json
import logging
import shlex
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from espnet_reuse.analysis.layout_search import candidate_layouts, rank_layouts
from espnet_reuse.benchmark.measure import Ratio
from espnet_reuse.espnet_api import str2bool
from espnet_reuse.recipe.results import environment_block
from espnet_reuse.study import report, speed
from espnet_reuse.study.experiments import Experiment, Runner, layout_label
from espnet_reuse.study.training_cost import epoch_seconds, step_seconds

log = logging.getLogger("layout_study")
SELECTION = "selection.json"
SPEED = "speed.json"


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
        help="reuse_groups to train from scratch, as comma-separated group sizes",
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
        metavar="LAYOUT:SEED=EXP_DIR",
        help="experiments trained earlier with the same config, e.g. "
        "baseline:0=exp/asr_train_asr_conformer_ctc_raw_en_bpe60 or 2,2,2:0=...",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="experiments trained at once (with -- --ngpu N, each on its own N GPUs)",
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
    return p


def _groups(spec: str) -> tuple:
    return tuple(int(size) for size in spec.split(","))


class Study:
    """The experiments of one study and where their results are."""

    def __init__(self, args: argparse.Namespace, run_args: List[str]) -> None:
        self.args = args
        self.test_sets = args.test_sets.split()
        self.runner = Runner(
            args.out_dir,
            args.run_sh.resolve(),
            [
                *("--test_sets", args.test_sets, "--dumpdir", str(args.dumpdir)),
                *("--inference_asr_model", args.inference_asr_model, *run_args),
            ],
            args.asr_config,
            args.finetune_config if args.finetune else None,
            args.inference_config,
            args.jobs,
        )
        config = yaml.safe_load(args.asr_config.read_text())
        self.layers = int(config["encoder_conf"]["num_blocks"])

    def baseline_dir(self, seed: int) -> Path:
        return self.runner.exp_dir(Experiment(None, seed))

    def model_files(self, experiment: Experiment) -> tuple:
        exp_dir = self.runner.exp_dir(experiment)
        return exp_dir / "config.yaml", exp_dir / self.args.inference_asr_model

    def uniform(self) -> Optional[tuple]:
        maps = self.args.select_maps
        return (self.layers // maps,) * maps if maps and self.layers % maps == 0 else None

    def select(self) -> dict:
        """Both rules' picks for ``--select_maps`` maps, from the first seed's baseline."""
        from espnet_reuse.bin.analyze_attention import main as analyze_attention

        args = self.args
        config, model = self.model_files(Experiment(None, self.args.seeds[0]))
        data = args.dumpdir / "raw" / args.select_set
        analysis = args.out_dir / "selection_attention_analysis"
        analyze_attention(
            [
                *("--asr_train_config", str(config), "--asr_model_file", str(model)),
                *("--data_dir", str(data), "--out_dir", str(analysis), "--prune_steps", "0"),
                *("--target_maps", str(args.select_maps), "--plot_utts", "0"),
                *("--max_utts", str(args.select_max_utts)),
            ]
        )
        divergence = json.loads((analysis / "summary.json").read_text())["suggested_layout"]
        layouts = candidate_layouts(self.layers, args.select_maps, args.max_candidates)
        ranked = rank_layouts(config, model, data, layouts, args.select_max_utts)
        selection = {
            "set": args.select_set,
            "maps": args.select_maps,
            "divergence_pick": divergence["reuse_groups"],
            "divergence_cost": divergence["divergence_cost"],
            "uniform": list(self.uniform() or []),
            "uniform_divergence_cost": divergence["uniform_divergence_cost"],
            "conversion_pick": ranked[0].reuse_groups,
            "conversion_ranking": [asdict(c) for c in ranked],
        }
        (args.out_dir / SELECTION).write_text(json.dumps(selection, indent=1))
        return selection

    def _from_scratch(self, layouts: List[Optional[tuple]]) -> List[Experiment]:
        return [Experiment(groups, seed) for groups in layouts for seed in self.args.seeds]

    def given(self) -> List[Experiment]:
        """Stage 2: the baseline and every ``--layouts`` layout, every seed."""
        layouts = [None, *(_groups(spec) for spec in self.args.layouts)]
        return self._from_scratch(list(dict.fromkeys(layouts)))

    def train_given(self) -> None:
        """Stage 2, with the ``--adopt`` experiments linked in first."""
        for spec in self.args.adopt:
            name, exp_dir = spec.split("=", 1)
            layout, seed = name.rsplit(":", 1)
            groups = None if layout == "baseline" else _groups(layout)
            self.runner.adopt(Experiment(groups, int(seed)), Path(exp_dir))
        self.runner.train(self.given(), {})

    def chosen(self) -> List[Experiment]:
        """Stage 4: the divergence rule's pick from scratch (unless given), and
        both picks and the uniform layout fine-tuned; empty without a selection."""
        if not self.args.select_maps:
            return []
        selection = json.loads((self.args.out_dir / SELECTION).read_text())
        picks = [tuple(selection["divergence_pick"]), tuple(selection["conversion_pick"])]
        given = {e.groups for e in self.given()}
        experiments = self._from_scratch([picks[0]] if picks[0] not in given else [])
        if self.args.finetune:
            finetuned = dict.fromkeys(([self.uniform()] if self.uniform() else []) + picks)
            experiments += [
                Experiment(groups, seed, finetuned=True)
                for groups in finetuned
                for seed in self.args.seeds
            ]
        return experiments

    def all_experiments(self) -> List[Experiment]:
        return self.given() + self.chosen()

    def measure_speed(self) -> dict:
        """Stage 5: paired speed-ups of each layout's first trained model."""
        first: Dict[str, Experiment] = {}
        for e in self.all_experiments():
            first.setdefault(layout_label(e.groups), e)
        baseline = layout_label(None)
        model = self.model_files(first[baseline])
        from espnet_reuse.inference import load_asr_model

        inputs = speed.speed_inputs(
            load_asr_model(*model, "cpu"),
            [self.args.dumpdir / "raw" / s for s in self.args.speed_sets.split()],
            self.args.speed_utts,
            self.args.speed_seconds,
            self.args.speed_train_batch,
        )
        ratios = speed.speedups(
            {name: self.model_files(e) for name, e in first.items()},
            baseline,
            inputs,
            self.args.speed_rounds,
            self.args.device,
        )
        result = {k: {n: asdict(r) for n, r in v.items()} for k, v in ratios.items()}
        (self.args.out_dir / SPEED).write_text(json.dumps(result, indent=1))
        return result

    def results(self) -> Tuple[List[report.LayoutResult], report.Matrices]:
        """Scores and training costs of every row, and the rows' error matrices."""
        rows: Dict[str, List[Experiment]] = {}
        for e in self.all_experiments():
            rows.setdefault(e.row, []).append(e)
        references = {s: self.args.dumpdir / "raw" / s / "text" for s in self.test_sets}
        hypotheses = {
            row: {s: [self.runner.decode_dir(e, s) / "text" for e in exps] for s in self.test_sets}
            for row, exps in rows.items()
        }
        matrices = report.error_matrices(references, hypotheses)
        scores = report.score_sets(matrices, layout_label(None))
        results = []
        for row, exps in rows.items():
            groups = exps[0].groups
            logs = [self.runner.exp_dir(e) / "train.log" for e in exps]
            results.append(
                report.LayoutResult(
                    row=row,
                    maps=self.layers if groups is None else len(groups),
                    layers=self.layers,
                    seeds=[e.seed for e in exps],
                    sets=scores[row],
                    step_seconds=[step_seconds(path) for path in logs],
                    epoch_seconds=[epoch_seconds(path) for path in logs],
                )
            )
        return results, matrices

    def rule_pairs(self, rows: List[str]) -> List[Tuple[str, str]]:
        """Each rule's pick against the uniform layout trained the same way."""
        selection = json.loads((self.args.out_dir / SELECTION).read_text())
        uniform = layout_label(self.uniform())
        pairs = []
        for prefix in ("", "fine-tuned "):
            for pick in (selection["divergence_pick"], selection["conversion_pick"]):
                row = prefix + layout_label(pick)
                if row in rows and prefix + uniform in rows and row != prefix + uniform:
                    pairs.append((row, prefix + uniform))
        return list(dict.fromkeys(pairs))

    def write_report(self, command: str) -> None:
        """Stage 6."""
        out = self.args.out_dir
        results, matrices = self.results()
        speed_file = out / SPEED
        by_input: Dict[str, Dict[str, Ratio]] = {}
        if speed_file.exists():
            for name, by_layout in json.loads(speed_file.read_text()).items():
                by_input[name] = {}
                for r in results:  # fine-tuned rows have their layout's speed
                    layout = r.row.replace("fine-tuned ", "")
                    if layout in by_layout:
                        by_input[name][r.row] = Ratio(**by_layout[layout])
        text = (
            f"# RESULTS\n{environment_block()}\n## Layout study\n\n"
            f"```bash\n{command}\n```\n\n### WER\n\n{report.wer_table(results)}\n"
            f"### Training cost and encoder speed\n\n{report.cost_table(results, by_input)}\n"
        )
        selection_file = out / SELECTION
        if selection_file.exists():
            text += report.selection_section(json.loads(selection_file.read_text()))
            pairs = self.rule_pairs([r.row for r in results])
            if pairs:
                text += "\n#### Each rule's pick against the uniform layout\n\n"
                text += report.comparison_table(matrices, pairs)
        (out / "RESULTS.md").write_text(text)
        longest = [name for name in by_input if name.endswith(" s")]
        if longest:
            report.plot(
                results,
                by_input[longest[-1]],
                self.test_sets,
                out / "speed_accuracy.png",
                f"speed-up on {longest[-1]} inputs against WER, 95 % intervals",
            )
        (out / "results.json").write_text(
            json.dumps(
                {"results": [asdict(r) for r in results], "command": command},
                indent=1,
                default=str,
            )
        )
        log.info("wrote %s", out / "RESULTS.md")


def main(cmd: Optional[List[str]] = None) -> None:
    """Run the study's stages."""
    argv = sys.argv[1:] if cmd is None else cmd
    ours, run_args = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    args = get_parser().parse_args(ours)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(name)s) %(message)s", force=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    study = Study(args, run_args)
    command = "python -m espnet_reuse.bin.layout_study " + shlex.join(argv)
    stages = {
        1: ("data", study.runner.prepare_data),
        2: ("baseline and given layouts", study.train_given),
        3: ("layout choice", lambda: study.select() if args.select_maps else None),
        4: (
            "chosen layouts and fine-tuning",
            lambda: study.runner.train(
                study.chosen(), {s: study.baseline_dir(s) for s in args.seeds}
            ),
        ),
        5: ("speed", study.measure_speed),
        6: ("report", lambda: study.write_report(command)),
    }
    for number, (name, run) in stages.items():
        if args.stage <= number <= args.stop_stage:
            log.info("stage %d: %s", number, name)
            run()


if __name__ == "__main__":
    main()
