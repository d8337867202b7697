"""What each attention layer and head of a trained ESPnet ASR model does: ``analyze``.

``analyze(AnalysisOptions(...))`` encodes a data set once, measures CAD, the head
metrics (globalness, verticality, diagonality), offset profiles and the heads' kinds
(clustered profiles, ``head_kind_profiles.json`` for learned maps), the layers'
Jensen-Shannon divergence, phoneme attention relationship and relation maps and
phoneme boundary detection by every head against MFCCs (with alignments), phone
probing (with a probe training set, on which boundary detection is then tuned),
frame- and utterance-level speaker probing (with ``utt2spk`` of 2+ speakers), head
pruning by WER and by phone and speaker probes of one layer, and suggests a reuse
layout; it draws the figures into ``out_dir`` as it goes, ends with ``report.html``
(every map and result on one page) and returns an ``AttentionSummary``, whose
``write`` saves ``summary.json``. The recipe's stage 14, the layout study and
``bin/analyze_attention`` call it."""

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import soundfile
import torch
import yaml
from tqdm import tqdm

from espnet_reuse.analysis import plots
from espnet_reuse.analysis.accumulate import AttentionStats, rank_heads
from espnet_reuse.analysis.alignments import (
    frame_labels,
    frame_mapping,
    phone_inventory,
    read_alignments,
)
from espnet_reuse.analysis.boundaries import BoundaryData, evaluate, mfcc_frames
from espnet_reuse.analysis.capture import capture, layer_outputs, pruned_heads
from espnet_reuse.analysis.probing import (
    ProbeRows,
    frame_probe,
    probe_layers,
    probed_speakers,
    speaker_probes,
    split_by_speaker,
)
from espnet_reuse.analysis.report import write_report
from espnet_reuse.analysis.summary import (
    AttentionSummary,
    layout_suggestion,
    map_statistics,
    phone_relations,
)
from espnet_reuse.decoding.inference import EncodedBatch, load_asr_model, recognise, tokens_to_text
from espnet_reuse.encoder.layer_convention import layer_convention
from espnet_reuse.encoder.reuse_groups import reusing_layers
from espnet_reuse.error_counts import word_error_rate
from espnet_reuse.kaldi_data import DataError, read_num_samples, read_table


@dataclass
class AnalysisOptions:
    """What to analyse and how (the options of ``bin/analyze_attention``)."""

    asr_train_config: Path
    asr_model_file: Path
    data_dir: Path  # dump/raw/<set> to analyse
    out_dir: Path  # figures (and summary.json, by ``AttentionSummary.write``)
    alignments: Optional[Path] = None  # CTM file or TextGrid folder of data_dir
    probe_train_dir: Optional[Path] = None  # data set the probes are trained on
    probe_train_alignments: Optional[Path] = None
    max_utts: int = 0  # analyse at most N utterances (0: all)
    probe_max_frames: int = 30000
    plot_utts: int = 2  # attention-map grids to draw
    per_head_phone_maps: bool = False
    max_range: int = 20  # largest r of CAD(r)
    max_offset: int = 64  # offset profiles (for learned maps) cover -R..R
    prune_steps: int = 8  # points of each pruning curve (0: no pruning)
    pruning_probe_layer: int = 0  # layer (from 1) the pruning probes read (0: the final one)
    boundary_tolerance: int = 1  # encoder frames a detected phoneme boundary may be off
    target_maps: int = 0  # suggest reuse_groups with N maps (0: no suggestion)
    batch_size: int = 8
    device: str = "cpu"
    fs: int = 16000


class DataSet(NamedTuple):
    """``wav.scp``, ``text`` and the lengths of the utterances analysed."""

    wav: Dict[str, str]
    text: Dict[str, str]
    lengths: Dict[str, int]


class Analysis:
    """One model, its frame mapping and phone inventory."""

    def __init__(self, options: AnalysisOptions) -> None:
        self.options = options
        self.model = load_asr_model(
            options.asr_train_config, options.asr_model_file, options.device
        )
        self.config = yaml.safe_load(options.asr_train_config.read_text())
        hop = self.config.get("frontend_conf", {}).get("hop_length", 128)
        self.mapping = frame_mapping(self.model.encoder, hop, options.fs)
        self.alignments = read_alignments(options.alignments) if options.alignments else {}
        if options.probe_train_alignments:
            self.probe_alignments = read_alignments(options.probe_train_alignments)
        else:
            self.probe_alignments = {}
        self.phone_ids = phone_inventory({**self.alignments, **self.probe_alignments})
        layers = len(self.model.encoder.encoders)
        self.groups = getattr(self.model.encoder, "reuse_groups", [1] * layers)
        if not 0 <= options.pruning_probe_layer <= layers:
            raise ValueError(
                f"pruning_probe_layer {options.pruning_probe_layer}: the encoder has layers "
                f"1-{layers} (0: the final one)"
            )
        self.probe_layer = options.pruning_probe_layer or layers  # from 1
        self.to_text = tokens_to_text(options.asr_train_config)
        self._data: Dict[Path, DataSet] = {}
        self.plotted_maps: Dict[str, List[torch.Tensor]] = {}  # utterance -> per layer maps
        self._phones: Dict[str, np.ndarray] = {}  # analysed set's frame phones, for pruning
        # speakers of the analysed set, where two or more can be told apart by probes
        spk = options.data_dir / "utt2spk"
        speakers = read_table(spk) if spk.exists() else {}
        self.speakers = probed_speakers(list(self.data(options.data_dir).lengths), speakers)

    def data(self, data_dir: Path) -> DataSet:
        """A data directory's tables and analysed utterances, read once."""
        if data_dir not in self._data:
            self._data[data_dir] = DataSet(
                read_table(data_dir / "wav.scp"),
                read_table(data_dir / "text", allow_empty_values=True),
                read_num_samples(data_dir, self.options.max_utts),
            )
        return self._data[data_dir]

    def aligned(self, data_dir: Path, alignments) -> List[str]:
        """The analysed utterances of ``data_dir`` that ``alignments`` time (a corpus may
        time only some engines' speech); none of them is an error (the wrong file)."""
        utts = sorted(self.data(data_dir).lengths)
        covered = [u for u in utts if u in alignments]
        if alignments and not covered:
            raise DataError(f"the alignments time none of the {len(utts)} utterances of {data_dir}")
        return covered

    def labels(self, alignments, utt: str, num_frames: int, samples: int) -> Optional[torch.Tensor]:
        """Frame phone labels (T,) of ``utt``; None where ``alignments`` do not time it."""
        if utt not in alignments:
            return None
        return frame_labels(
            utt,
            alignments[utt],
            num_frames,
            self.mapping,
            self.phone_ids,
            samples / self.options.fs,
        )

    def collect(
        self,
        data_dir: Path,
        alignments,
        stats: Optional[AttentionStats],
        plot_dir: Optional[Path],
        boundaries: Optional[BoundaryData] = None,
        speaker_hidden: Optional[Dict[str, List[np.ndarray]]] = None,
    ) -> Optional[ProbeRows]:
        """Run the data set once; return its phone-probing frames (with alignments).

        With alignments, ``boundaries`` gets every utterance's boundary scores; with
        speakers, ``speaker_hidden`` every utterance's hidden states by layer."""
        wav, _, lengths = self.data(data_dir)
        hidden: List[List[np.ndarray]] = []
        targets: List[np.ndarray] = []
        utts: List[str] = []
        frames = 0
        plotted = 0
        reused = reusing_layers(self.groups)
        for item in tqdm(
            capture(self.model, wav, lengths, self.options.batch_size, self.options.device),
            total=len(lengths),
            desc=f"encoding {data_dir.name}",
            unit="utt",
        ):
            labels = None
            if alignments:
                labels = self.labels(alignments, item.utt, item.maps[0].size(-1), lengths[item.utt])
            if stats is not None:
                stats.add(item, labels)
            if speaker_hidden is not None and self.speakers:
                speaker_hidden[item.utt] = [h.numpy() for h in item.hidden]
            if boundaries is not None and labels is not None:
                audio = torch.from_numpy(soundfile.read(wav[item.utt], dtype="float32")[0])
                mfcc = mfcc_frames(audio, self.options.fs, self.mapping, len(labels))
                boundaries.add(item.maps, mfcc, labels)
            if plot_dir is not None and plotted < self.options.plot_utts:
                plots.attention_grid(
                    item.maps, item.utt, plot_dir / f"attention_maps_{item.utt}.png", reused
                )
                self.plotted_maps[item.utt] = item.maps
                plotted += 1
            if labels is not None and frames < self.options.probe_max_frames:
                hidden.append([h.numpy() for h in item.hidden])
                targets.append(labels.numpy())
                utts += [item.utt] * len(labels)
                frames += len(labels)
        if not hidden:
            return None
        per_layer = [np.concatenate([h[layer] for h in hidden]) for layer in range(len(hidden[0]))]
        return ProbeRows(per_layer, np.concatenate(targets), np.array(utts))

    def pruned(self, heads: List[tuple]) -> Tuple[float, Dict[str, Any]]:
        """With ``heads`` pruned, in one pass over the analysed set: the CTC greedy WER (%),
        and layer ``probe_layer``'s frame accuracy of a ``phone`` probe (with alignments)
        and of a ``speaker`` probe (with ``utt2spk``), each with its 95 % ``*_interval``,
        trained on one half of every speaker's utterances and scored on the other half
        (what cannot be measured is left out)."""
        options = self.options
        wav, refs, lengths = self.data(options.data_dir)
        encoder = self.model.encoder
        hidden: Dict[str, np.ndarray] = {}  # utterance -> the probed layer's (T, D)
        with pruned_heads(encoder, heads), layer_outputs(encoder) as outputs:

            def keep_probed_layer(batch: EncodedBatch) -> None:
                probed = outputs[self.probe_layer - 1]
                for b, utt in enumerate(batch.utts):
                    hidden[utt] = probed[b, : int(batch.lengths[b])].float().cpu().numpy()
                outputs.clear()

            hyps = recognise(
                self.model,
                wav,
                lengths,
                options.batch_size,
                options.device,
                to_text=self.to_text,
                on_batch=keep_probed_layer,
            )
        wer = word_error_rate(refs, {utt: hyp.text for utt, hyp in hyps.items()})
        if self.alignments and not self._phones:  # the same at every pruning point
            for u in self.aligned(options.data_dir, self.alignments):
                self._phones[u] = self.labels(
                    self.alignments, u, len(hidden[u]), lengths[u]
                ).numpy()
        if self.speakers:
            train, test = split_by_speaker(list(hidden), self.speakers)
        else:
            train, test = sorted(hidden)[::2], sorted(hidden)[1::2]
        targets = {}
        if self._phones:
            targets["phone"] = self._phones
        if self.speakers:
            targets["speaker"] = {
                u: np.array([self.speakers[u]] * len(h)) for u, h in hidden.items()
            }
        probes: Dict[str, Any] = {}
        for name, labels in targets.items():
            probes[name], probes[f"{name}_interval"] = frame_probe(
                hidden, labels, [u for u in train if u in labels], [u for u in test if u in labels]
            )
        return wer, probes


def pruning_curves(
    analysis: Analysis, metrics: Dict[str, torch.Tensor], steps: int
) -> Tuple[Dict[str, List[tuple]], Dict[str, List[Dict[str, Any]]]]:
    """After pruning the k highest heads of each metric (and a random order): the WER
    curves ``(k, WER)``, and the probes of one layer (``Analysis.pruned``), each point
    ``{"pruned": k, "phone": accuracy, "phone_interval": [low, high], "speaker": ...}``."""
    layers, heads = next(iter(metrics.values())).shape
    total = layers * heads
    orders = {name: rank_heads(values) for name, values in metrics.items()}
    random_order = [(layer, h) for layer in range(layers) for h in range(heads)]
    random.Random(0).shuffle(random_order)
    orders["random"] = random_order
    counts = sorted({round(i * total / steps) for i in range(steps + 1)})
    unpruned = analysis.pruned([])
    wers, probes = {}, {}
    for name, order in orders.items():
        points = [(0, *unpruned)] + [(k, *analysis.pruned(order[:k])) for k in counts if k > 0]
        wers[name] = [(k, wer) for k, wer, _ in points]
        probes[name] = [{"pruned": k, **measured} for k, _, measured in points]
    return wers, probes


def analyze(options: AnalysisOptions) -> AttentionSummary:
    """Measure and plot into ``options.out_dir``; return what was measured."""
    options.out_dir.mkdir(parents=True, exist_ok=True)
    analysis = Analysis(options)
    encoder = analysis.model.encoder
    num_layers, num_heads = (
        len(encoder.encoders),
        layer_convention(encoder).attention_of(encoder.encoders[0]).h,
    )
    stats = AttentionStats(
        num_layers, num_heads, options.max_range, len(analysis.phone_ids), options.max_offset
    )
    out = options.out_dir
    parts: Dict[str, Any] = {}
    test_boundaries = BoundaryData()
    speaker_hidden: Dict[str, List[np.ndarray]] = {}
    timed = {options.data_dir: analysis.alignments}
    if options.probe_train_dir:
        timed[options.probe_train_dir] = analysis.probe_alignments
    if analysis.alignments:
        parts["phone_times"] = {
            path.name: [len(analysis.aligned(path, alignments)), len(analysis.data(path).lengths)]
            for path, alignments in timed.items()
        }
    test_frames = analysis.collect(
        options.data_dir, analysis.alignments, stats, out, test_boundaries, speaker_hidden
    )
    divergence = stats.mean_divergence()
    metrics = stats.mean_head_metrics()
    ids = analysis.phone_ids
    phones = sorted(ids, key=ids.get) if analysis.alignments else None
    parts.update(
        **map_statistics(stats, metrics, divergence, options.max_offset, out),
        **phone_relations(stats, phones, options.per_head_phone_maps, out),
    )
    tune_boundaries, tuned_on = test_boundaries, options.data_dir.name
    if analysis.speakers and speaker_hidden:
        parts["speaker_probing"] = speaker_probes(speaker_hidden, analysis.speakers)
        plots.speaker_probing(parts["speaker_probing"], out / "speaker_probing.png")
    if options.probe_train_dir and test_frames is not None:
        tune_boundaries, tuned_on = BoundaryData(), options.probe_train_dir.name
        train_frames = analysis.collect(
            options.probe_train_dir, analysis.probe_alignments, None, None, tune_boundaries
        )
        probing = probe_layers(train_frames, test_frames)
        parts["probing_accuracy"] = probing["accuracy"]
        parts["probing_interval"] = probing["interval"]
        plots.probing(probing["accuracy"], probing["interval"], out / "probing.png")
    if test_boundaries.references:
        tolerance = options.boundary_tolerance
        frame_ms = 1000 * analysis.mapping.stride * analysis.mapping.seconds_per_frame
        parts["boundaries"] = {
            "tolerance_frames": tolerance,
            "tolerance_ms": tolerance * frame_ms,
            "tuned_on": tuned_on,
            **evaluate(tune_boundaries, test_boundaries, tolerance),
        }
        plots.boundaries(parts["boundaries"], out / "boundaries.png")
    if options.prune_steps:
        parts["pruning_wer"], probes = pruning_curves(analysis, metrics, options.prune_steps)
        plots.pruning(parts["pruning_wer"], out / "pruning.png")
        if analysis.alignments or analysis.speakers:
            parts["pruning_probes"] = probes
            parts["pruning_probe_layer"] = analysis.probe_layer
            plots.pruning_probes(probes, analysis.probe_layer, out / "pruning_probes.png")
    if options.target_maps:
        parts["suggested_layout"] = layout_suggestion(divergence, options.target_maps)
    summary = AttentionSummary(
        model=str(options.asr_model_file),
        data_dir=str(options.data_dir),
        utterances=stats.utterances,
        reuse_groups=analysis.groups,
        frame_mapping=vars(analysis.mapping),
        **parts,
    )
    write_report(asdict(summary), analysis.plotted_maps, out)
    return summary
