"""Stage 2: speed perturbation of the training set (``sp<factor>-`` copies)."""

from functools import partial
from pathlib import Path
from typing import Sequence, Tuple, Union

from tqdm.contrib.concurrent import process_map

from espnet_reuse.kaldi_data import DataError, read_data_dir, write_data_dir
from espnet_reuse.recipe.audio import read_audio, speed_perturb, write_flac
from espnet_reuse.recipe.bad_utterances import BadUtterance, keys, settle


def _perturb_one(job: Tuple[str, str, float], out_dir: Path, fs: int) -> Union[str, BadUtterance]:
    utt, path, factor = job
    target = out_dir / f"sp{factor}" / f"{utt}.flac"
    if not target.exists():
        try:
            audio = read_audio(path, utt, fs)
        except DataError as error:
            return BadUtterance(utt, str(error))
        write_flac(target, speed_perturb(audio, factor), fs)  # whole or not at all
    return str(target.resolve())


def perturb_data_dir(
    src: Path,
    dst: Path,
    factors: Sequence[float],
    fs: int = 16000,
    nj: int = 2,
    skip_bad: bool = False,
) -> int:
    """Write ``dst`` with one copy of ``src`` per factor; return the utterance count.

    Factor 1.0 keeps the original utterance ids and files; others get
    ``sp<factor>-`` prefixed ids and speakers, and their audio in ``<dst>.audio``.
    Unreadable files are all reported at once, or left out (every copy) with
    ``skip_bad``.
    """
    tables = read_data_dir(src, ["wav.scp", "text", "utt2spk"])
    wav, text, utt2spk = tables["wav.scp"], tables["text"], tables["utt2spk"]
    jobs = [(utt, wav[utt], f) for f in factors if f != 1.0 for utt in sorted(wav)]
    audio_dir = dst.with_name(dst.name + ".audio")
    paths = process_map(
        partial(_perturb_one, out_dir=audio_dir, fs=fs),
        jobs,
        max_workers=nj,
        chunksize=16,
        desc=f"speed perturbation {src.name}",
        unit="utt",
    )
    bad = list({p.key: p for p in paths if isinstance(p, BadUtterance)}.values())
    report = settle(bad, str(src), skip_bad)
    out = {"wav.scp": {}, "text": {}, "utt2spk": {}}
    for factor in factors:
        prefix = "" if factor == 1.0 else f"sp{factor}-"
        for utt in sorted(set(wav) - set(keys(bad))):
            out["text"][prefix + utt] = text[utt]
            out["utt2spk"][prefix + utt] = prefix + utt2spk[utt]
            if factor == 1.0:
                out["wav.scp"][utt] = wav[utt]
    for (utt, _, factor), path in zip(jobs, paths):
        if not isinstance(path, BadUtterance):
            out["wav.scp"][f"sp{factor}-{utt}"] = path
    write_data_dir(dst, out, report)
    return len(out["wav.scp"])
