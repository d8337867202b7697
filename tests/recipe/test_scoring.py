"""Stage 13: scoring a decoding directory into ESPnet's result files."""

import pytest

from espnet_reuse.kaldi_data import DataError
from espnet_reuse.recipe.results import save_summary, side_by_side, wer_interval
from espnet_reuse.recipe.scoring import score_decode_dir


def test_score_decode_dir_writes_result_files(tmp_path):
    decode = tmp_path / "decode_x" / "test_clean"
    decode.mkdir(parents=True)
    (decode / "text").write_text("u1 THE CAT SAT\nu2 A DOG\n")
    (decode / "token").write_text("u1 ▁THE ▁CAT ▁SAT\nu2 ▁A ▁DOG\n")
    ref = tmp_path / "ref"
    ref.write_text("u1 THE CAT SAT\nu2 A BIG DOG\n")
    results = score_decode_dir(decode, ref, lambda t: ["▁" + w for w in t.split()])
    assert results["wer"].deletions == 1 and results["wer"].words == 6
    assert results["ter"].deletions == 1
    assert results["cer"].words == len("THE CAT SAT") + len("A BIG DOG")
    report = (decode / "score_wer" / "result.txt").read_text()
    assert "id: u2" in report and "id: u1" not in report
    assert "REF: A BIG DOG" in report and "HYP: A *** DOG" in report
    assert (decode / "score_wer" / "utt_errors").read_text() == "u1 0 3\nu2 1 3\n"

    save_summary(decode, results)
    interval = wer_interval(decode)
    assert interval.value == pytest.approx(100 / 6)
    assert interval.low == 0.0 and interval.high == pytest.approx(100 / 3)
    table = side_by_side([tmp_path])
    assert f"|{tmp_path.name}|decode_x|{interval}|" in table
    section = table[table.index(f"## {tmp_path}\n") :]  # ESPnet's form follows
    assert "### WER\n\n|dataset|Snt|Wrd|Corr|Sub|Del|Ins|Err|S.Err|" in section
    assert "|decode_x/test_clean|2|6|" in section
    (decode / "text").write_text("u1 THE CAT SAT\n")
    with pytest.raises(DataError, match="lacks 1 utterances"):
        score_decode_dir(decode, ref, None)


def scored_experiment(root, name, hypotheses):
    """An experiment folder with one scored decoding of test_clean."""
    decode = root / name / "decode_x" / "test_clean"
    decode.mkdir(parents=True)
    (decode / "text").write_text("".join(f"{u} {t}\n" for u, t in hypotheses.items()))
    ref = root / "ref"
    ref.write_text("u1 THE CAT SAT\nu2 A BIG DOG\nu3 ON THE MAT\n")
    save_summary(decode, score_decode_dir(decode, ref, None))
    return root / name


def test_paired_differences_compare_the_same_utterances(tmp_path, capsys):
    from espnet_reuse.bin.compare_experiments import main

    base = scored_experiment(
        tmp_path, "base", {"u1": "THE CAT SAT", "u2": "A DOG", "u3": "ON A MAT"}
    )  # 2 errors in 9 words
    other = scored_experiment(
        tmp_path, "other", {"u1": "THE CAT SAT", "u2": "A BIG DOG", "u3": "ON A MAT"}
    )  # 1 error: u2 mended
    main(["--baseline", str(base), str(other)])
    table = capsys.readouterr().out
    assert "Against base:" in table and "|Δ WER test_clean [95 % CI]|" in table
    # -11.1 points; u2 is the only utterance that differs, so resamples without it give 0
    assert "|other|decode_x|-11.1 [" in table and ", +0.0]|" in table
    (other / "decode_x" / "test_clean" / "score_wer" / "utt_errors").write_text("u1 0 3\nu9 0 3\n")
    with pytest.raises(ValueError, match="scored other utterances"):
        main(["--baseline", str(base), str(other)])
