"""The layout study: layouts trained with several seeds through ``run.sh``, compared.

``Study`` holds the experiments of one study and where their results are; ``run``
goes through its stages (data, the given layouts, layout choice, chosen layouts and
fine-tuning, speed, report). ``bin/layout_study`` parses the options and calls
``run``; the options are described there.
"""

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from espnet_reuse.analysis.analyze import AnalysisOptions, analyze
from espnet_reuse.analysis.layout_search import candidate_layouts, rank_layouts
from espnet_reuse.benchmark.measure import Ratio
from espnet_reuse.encoder.reuse_groups import uniform_layout
from espnet_reuse.recipe.results import environment_block
from espnet_reuse.study import paired, report, speed
from espnet_reuse.study.experiments import Experiment, Runner, layout_label, parse_arm
from espnet_reuse.study.training_cost import epoch_seconds, step_seconds

log = logging.getLogger("layout_study")
SELECTION = "selection.json"
SPEED = "speed.json"
MEMORY = "memory.json"


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
            (args.init_from_study, args.init_model) if args.init_from_study else None,
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
        groups = uniform_layout(self.layers, maps) if maps else None
        return tuple(groups) if groups else None

    def select(self) -> dict:
        """Both rules' picks for ``--select_maps`` maps, from the first seed's baseline."""
        args = self.args
        config, model = self.model_files(Experiment(None, self.args.seeds[0]))
        data = args.dumpdir / "raw" / args.select_set
        options = AnalysisOptions(
            asr_train_config=config,
            asr_model_file=model,
            data_dir=data,
            out_dir=args.out_dir / "selection_attention_analysis",
            prune_steps=0,
            target_maps=args.select_maps,
            plot_utts=0,
            max_utts=args.select_max_utts,
        )
        summary = analyze(options)
        summary.write(options.out_dir)
        divergence = asdict(summary.suggested_layout)
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
        """Stage 2: the baseline and every ``--layouts`` arm, seed by seed (so that
        each finished seed completes its pairs)."""
        arms = dict.fromkeys([(None, ()), *(parse_arm(s, self.layers) for s in self.args.layouts)])
        return [
            Experiment(groups, seed, adaptation=adaptation)
            for seed in self.args.seeds
            for groups, adaptation in arms
        ]

    def train_given(self) -> None:
        """Stage 2, with the ``--adopt`` experiments linked in first."""
        for spec in self.args.adopt:
            name, exp_dir = spec.split("=", 1)
            arm, seed = name.rsplit(":", 1)
            groups, adaptation = parse_arm(arm, self.layers)
            self.runner.adopt(Experiment(groups, int(seed), adaptation=adaptation), Path(exp_dir))
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
        """Stage 5: paired speed-ups of each arm's first trained model."""
        first: Dict[str, Experiment] = {}
        for e in self.all_experiments():
            first.setdefault(e.arm, e)
        baseline = layout_label(None)
        model = self.model_files(first[baseline])
        from espnet_reuse.decoding.inference import load_asr_model

        inputs = speed.speed_inputs(
            load_asr_model(*model, "cpu"),
            [self.args.dumpdir / "raw" / s for s in self.args.speed_sets.split()],
            self.args.speed_utts,
            self.args.speed_seconds,
            self.args.speed_train_batch,
        )
        encoders = speed.load_encoders(
            {name: self.model_files(e) for name, e in first.items()}, self.args.device
        )
        ratios = speed.speedups(
            encoders,
            baseline,
            inputs,
            self.args.speed_rounds,
            self.args.device,
        )
        result = {k: {n: asdict(r) for n, r in v.items()} for k, v in ratios.items()}
        (self.args.out_dir / SPEED).write_text(json.dumps(result, indent=1))
        memory = speed.saved_bytes(encoders, inputs[speed.TRAIN_STEP])
        (self.args.out_dir / MEMORY).write_text(json.dumps(memory, indent=1))
        return result

    def results(self) -> Tuple[List[report.LayoutResult], report.Matrices]:
        """Scores and training costs of every row, and the rows' error matrices, from
        the experiments finished so far (a row's seeds: ``LayoutResult.seeds``)."""
        rows: Dict[str, List[Experiment]] = {}
        for e in self.all_experiments():
            if self.runner.is_done(e):
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
        speed_file, memory_file = out / SPEED, out / MEMORY
        by_input: Dict[str, Dict[str, Ratio]] = {}
        arms = {r.row: r.row.replace("fine-tuned ", "") for r in results}  # their speed
        if speed_file.exists():
            for name, by_arm in json.loads(speed_file.read_text()).items():
                by_input[name] = {row: Ratio(**by_arm[a]) for row, a in arms.items() if a in by_arm}
        saved = None
        if memory_file.exists():
            by_arm = json.loads(memory_file.read_text())
            saved = {row: by_arm[a] for row, a in arms.items() if a in by_arm}
        text = (
            f"# RESULTS\n{environment_block()}\n## Layout study\n\n"
            f"```bash\n{command}\n```\n\n### WER\n\n{report.wer_table(results)}\n"
            "### Training cost and encoder speed\n\n"
            f"{report.cost_table(results, by_input, saved)}\n"
        )
        selection_file = out / SELECTION
        if selection_file.exists():
            text += report.selection_section(json.loads(selection_file.read_text()))
            pairs = self.rule_pairs([r.row for r in results])
            if pairs:
                text += "\n#### Each rule's pick against the uniform layout\n\n"
                text += report.comparison_table(matrices, pairs)
        comparisons = paired.compare_arms(
            matrices, {r.row: r.seeds for r in results}, layout_label(None)
        )
        if comparisons:
            endpoints = ", ".join(f"{p}: {' + '.join(s)}" for p, s in paired.ENDPOINTS.items())
            text += (
                f"\n### Seed-paired differences to the baseline\n\n"
                f"Margin fixed in advance: {self.args.margin:g} WER points on the endpoints "
                f"({endpoints}). Intervals: Student's t over the seed pairs' spread plus the "
                "test set's part (speakers as clusters), Welch-Satterthwaite degrees of "
                "freedom; verdicts with Holm's procedure across the arms "
                "(espnet_reuse.study.intervals).\n\n"
                + paired.paired_table(comparisons, self.args.margin)
            )
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
            paired.plot_differences(
                comparisons,
                by_input[longest[-1]],
                out / "speed_difference.png",
                f"speed-up on {longest[-1]} inputs against the seed-paired WER difference, "
                "95 % intervals",
                self.args.margin,
            )
        (out / "results.json").write_text(
            json.dumps(
                {
                    "results": [asdict(r) for r in results],
                    "paired": [asdict(c) for c in comparisons],
                    "margin": self.args.margin,
                    "command": command,
                    "utterances": report.per_utterance(
                        matrices,
                        {r.row: r.seeds for r in results},
                        {s: self.args.dumpdir / "raw" / s / "wav.scp" for s in self.test_sets},
                    ),
                },
                indent=1,
                default=str,
            )
        )
        log.info("wrote %s", out / "RESULTS.md")


def run(args: argparse.Namespace, run_args: List[str], command: str) -> None:
    """The study's stages from ``args.stage`` to ``args.stop_stage``; ``run_args`` go to
    every ``run.sh`` call; ``command`` is quoted in the report."""
    args.out_dir.mkdir(parents=True, exist_ok=True)
    study = Study(args, run_args)
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
    for number, (name, stage) in stages.items():
        if args.stage <= number <= args.stop_stage:
            log.info("stage %d: %s", number, name)
            stage()
