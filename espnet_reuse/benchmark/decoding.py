"""Recognition speed at equal accuracy: the recipe's decoders against ESPnet's Speech2Text.

``compare_decoders`` recognises the same utterances with the same model, end to end
(audio in, text out), with the recipe's batched greedy and prefix beam search at
batch N and 1, for a model with an attention decoder also its batched joint
CTC/attention beam search (at batch N, 1 and each of ``joint_batch_sizes``),
ESPnet's own joint search run by the recipe one utterance at a time, and attention
rescoring, the encoder alone, and ``Speech2Text`` (batch 1, as ESPnet 202511 allows:
its CTC-only beam search for a CTC model, its joint CTC/attention beam search with
the same ``ctc_weight`` for a hybrid one). ``markdown`` gives each one's time,
real-time factor, the shares of the frontend (features), the encoder and the rest
(audio reading, normalisation, search, text), WER, the utterances whose token ids
differ from ``Speech2Text``'s and speed-up over ``Speech2Text``. The recipe's batched
decoding is batch-invariant, so its batch-N rows must give the same words as its
batch-1 rows (the ``= batch 1`` column checks it)."""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import yaml

from espnet_reuse import registration
from espnet_reuse.benchmark.measure import module_seconds
from espnet_reuse.decoding.attention_search import (
    AttentionRescoring,
    EspnetJointBeamSearch,
    has_attention_decoder,
)
from espnet_reuse.decoding.inference import (
    EncoderSearch,
    Hypothesis,
    PrefixBeamSearch,
    Search,
    encoded_batches,
    greedy_search,
    load_asr_model,
    load_batch,
    recognise,
    tokens_to_text,
)
from espnet_reuse.decoding.joint_search import BatchJointSearch
from espnet_reuse.error_counts import word_error_rate
from espnet_reuse.kaldi_data import read_num_samples, read_table

JOINT_ROW = "joint CTC/attention beam"  # the batched joint search's rows, with the beam


@dataclass
class DecodingRow:
    """One decoder's run over the utterances."""

    name: str
    batch_size: int
    seconds: float
    parts: Dict[str, float]  # seconds in the frontend ("features") and the encoder
    texts: Optional[Dict[str, str]]  # None: the encoder alone, no search
    hyps: Optional[Dict[str, Hypothesis]] = None  # token ids and scores


@dataclass
class DecodingComparison:
    """Every decoder on the same utterances."""

    rows: List[DecodingRow]
    references: Dict[str, str]
    audio_seconds: float
    batch_size: int


def compare_decoders(
    config_file: Path,
    model_file: Path,
    data_dir: Path,
    max_utts: int = 40,
    beam_size: int = 10,
    batch_size: int = 16,
    fs: int = 16000,
    ctc_weight: float = 0.3,
    joint_batch_sizes: Sequence[int] = (64,),
    joint_only: bool = False,
) -> DecodingComparison:
    """Time every decoder on the first ``max_utts`` utterances of ``data_dir`` (0: all);
    ``ctc_weight`` weighs CTC in the searches that use an attention decoder, whose
    batched joint search also runs at ``joint_batch_sizes``. ``joint_only``: only the
    batched joint search at ``batch_size`` beside ``Speech2Text`` (a hybrid model)."""
    wav = read_table(data_dir / "wav.scp")
    lengths = read_num_samples(data_dir, max_utts)
    model = load_asr_model(config_file, model_file, "cpu")
    to_text = tokens_to_text(config_file)
    rows: List[DecodingRow] = []

    def parts_of(asr_model: torch.nn.Module):
        return module_seconds({"features": asr_model.frontend, "encoder": asr_model.encoder})

    def batched(name: str, search: Optional[Search], size: int) -> None:
        start = time.perf_counter()
        texts = hyps = None
        with parts_of(model) as parts:
            if search is None:
                with torch.inference_mode():
                    for _ in encoded_batches(model, wav, lengths, size, "cpu"):
                        pass
            else:
                hyps = recognise(model, wav, lengths, size, "cpu", search, to_text)
                texts = {utt: hyp.text for utt, hyp in hyps.items()}
        seconds = time.perf_counter() - start
        rows.append(DecodingRow(name, size, seconds, parts, texts, hyps))

    searches: Dict[str, Union[Search, EncoderSearch]] = {
        "greedy": greedy_search,
        f"prefix beam {beam_size}": PrefixBeamSearch(model.token_list, beam_size),
    }
    extra: List[Tuple[str, Union[Search, EncoderSearch], int]] = []  # at one batch size
    if has_attention_decoder(yaml.safe_load(Path(config_file).read_text())):
        joint = f"{JOINT_ROW} {beam_size}"
        batched_joint = BatchJointSearch(model, beam_size, ctc_weight)
        if joint_only:
            searches = {joint: batched_joint}
        else:
            searches[joint] = batched_joint
            searches[f"attention rescoring of {beam_size}"] = AttentionRescoring(
                model, beam_size, ctc_weight
            )
            extra = [(joint, batched_joint, size) for size in joint_batch_sizes]
            espnet_joint = EspnetJointBeamSearch(model, beam_size, ctc_weight)
            name = f"ESPnet's joint beam {beam_size}, utterance by utterance"
            extra.append((name, espnet_joint, 1))
    elif joint_only:
        raise ValueError("joint_only needs a model with an attention decoder")
    else:
        ctc_weight = 1.0  # Speech2Text: CTC alone
    batched("encoder only", None, batch_size)  # also the warm-up
    for size in (batch_size,) if joint_only else (batch_size, 1):
        for name, search in searches.items():
            batched(name, search, size)
    for name, search, size in extra:
        batched(name, search, size)

    speech2text = registration.speech2text()(
        str(config_file),
        str(model_file),
        device="cpu",
        ctc_weight=ctc_weight,
        lm_weight=0.0,
        beam_size=beam_size,
        nbest=1,
    )
    texts, found = {}, {}
    start = time.perf_counter()
    with parts_of(speech2text.asr_model) as parts:
        for utt in sorted(lengths):
            speech, _ = load_batch(wav, [utt])
            text, _, token_ids, hyp = speech2text(speech[0])[0]
            texts[utt], found[utt] = text, Hypothesis(token_ids, float(hyp.score), text=text)
    name = f"ESPnet Speech2Text, ctc_weight {ctc_weight}, beam {beam_size}"
    rows.append(DecodingRow(name, 1, time.perf_counter() - start, parts, texts, found))
    references = read_table(data_dir / "text", allow_empty_values=True)
    return DecodingComparison(rows, references, sum(lengths.values()) / fs, batch_size)


def markdown(comparison: DecodingComparison) -> str:
    """The header line and the table, one row a decoder."""
    rows = {(r.name, r.batch_size): r for r in comparison.rows}
    espnet = comparison.rows[-1]
    lines = [
        f"{len(next(r.texts for r in comparison.rows if r.texts))} utterances, "
        f"{comparison.audio_seconds:.1f} s of audio, {torch.get_num_threads()} CPU threads",
        "",
        "|decoding|seconds|RTF|features / encoder / rest (%)|WER (%)|= batch 1"
        "|tokens ≠ Speech2Text|speed-up over Speech2Text|",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in comparison.rows:
        rest = row.seconds - row.parts["features"] - row.parts["encoder"]
        shares = " / ".join(f"{100 * t / row.seconds:.0f}" for t in (*row.parts.values(), rest))
        wer = same = differ = "-"
        if row.texts is not None:
            wer = f"{word_error_rate(comparison.references, row.texts):.1f}"
            alone = rows.get((row.name, 1))
            if alone is not None and row.batch_size != 1:
                same = "yes" if alone.texts == row.texts else "no"
            differ = f"{len(differences(row, espnet))}/{len(row.texts)}"
        lines.append(
            f"|{row.name} (batch {row.batch_size})|{row.seconds:.2f}"
            f"|{row.seconds / comparison.audio_seconds:.4f}|{shares}|{wer}|{same}|{differ}"
            f"|{espnet.seconds / row.seconds:.1f}x|"
        )
    return "\n".join(lines) + "\n"


def differences(row: DecodingRow, espnet: DecodingRow) -> Dict[str, Tuple[Hypothesis, Hypothesis]]:
    """The utterances whose token ids in ``row`` differ from ``Speech2Text``'s
    (``espnet``): utterance id -> (the row's hypothesis, Speech2Text's)."""
    assert row.hyps is not None and espnet.hyps is not None
    return {
        utt: (hyp, espnet.hyps[utt])
        for utt, hyp in row.hyps.items()
        if hyp.token_ids != espnet.hyps[utt].token_ids
    }


def differences_markdown(comparison: DecodingComparison, name: str) -> str:
    """Each utterance whose tokens from the rows named ``name`` (any batch size) differ
    from ``Speech2Text``'s, with both hypotheses' scores (a tie within float
    rounding shows as equal scores)."""
    espnet = comparison.rows[-1]
    lines = ["|batch|utterance|score|Speech2Text's score|", "|---|---|---|---|"]
    for row in comparison.rows:
        if row.name == name and row.hyps is not None:
            for utt, (ours, theirs) in sorted(differences(row, espnet).items()):
                lines.append(f"|{row.batch_size}|{utt}|{ours.score:.4f}|{theirs.score:.4f}|")
    return "\n".join(lines) + "\n"
