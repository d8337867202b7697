"""A tiny corpus with every engine: layout, transcripts, determinism, resuming, faults."""

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_reuse.corpus import build, packages, plan
from espnet_reuse.corpus.acoustics import Condition
from espnet_reuse.corpus.engines import Engine, Spoken, Voice
from espnet_reuse.kaldi_data import read_table
from espnet_reuse.recipe.librispeech import prepare

from helpers import needs_engines

# engines whose audio is the same bytes on every run (espeak-ng's is not: the same text
# and voice come out a few samples to tens of milliseconds longer or shorter from call
# to call, so the manifest's checksums tell whether two builds hold the same audio)
DETERMINISTIC = {"kokoro", "flite", "festival", "recorded"}


def manifest(root):
    lines = (root / "manifest.tsv").read_text().splitlines()
    return [dict(zip(lines[0].split("\t"), line.split("\t"))) for line in lines[1:]]


@pytest.mark.slow
@needs_engines
def test_the_tiny_corpus_has_every_part_and_engine(tiny, tmp_path):
    rows = manifest(tiny)
    parts = {r["part"] for r in rows}
    assert parts == set(plan.SIZES["tiny"].parts) | {"test-real"}
    for part in parts - {"test-real"}:
        engines = {r["engine"] for r in rows if r["part"] == part}
        assert engines == {"kokoro", "flite", "festival", "espeak"}, part
    # what the manifest says is what is on disk
    for row in rows:
        path = tiny / "LibriSpeech" / row["part"] / row["utt"].split("-")[0]
        flac = path / row["utt"].split("-")[1] / f"{row['utt']}.flac"
        assert hashlib.sha256(flac.read_bytes()).hexdigest() == row["sha256"]
        info = soundfile.info(flac)
        assert info.samplerate == 16000 and info.channels == 1
        assert info.duration == pytest.approx(float(row["seconds"]), abs=1e-3)
    # LibriSpeech's transcripts: upper-case words and apostrophes
    for trans in (tiny / "LibriSpeech").glob("*/*/*/*.trans.txt"):
        for line in trans.read_text().splitlines():
            utt, words = line.split(" ", 1)
            assert re.fullmatch(r"[A-Z']+( [A-Z']+)*", words), line
    # speakers and books disjoint between parts
    parts_of = {}
    for row in rows:
        parts_of.setdefault(row["speaker"], set()).add(row["part"])
        parts_of.setdefault(row["book"], set()).add(row["part"])
    assert all(len(p) == 1 for p in parts_of.values())
    # phone times for the engines that give them, a file per engine (its own phone set)
    assert sorted(p.name for p in (tiny / "alignments").glob("test-clean.*")) == [
        "test-clean.espeak.ctm",
        "test-clean.festival.ctm",
    ]
    for engine in ("espeak", "festival"):
        ctm = tiny / "alignments" / f"test-clean.{engine}.ctm"
        timed = {r["utt"] for r in rows if r["part"] == "test-clean" and r["engine"] == engine}
        assert {line.split()[0] for line in ctm.open()} == timed
    summary = json.loads((tiny / "summary.json").read_text())
    assert summary["parts"]["test-real"]["utterances"] > 200
    assert summary["skipped"]["real speech: a sound, not speech"] > 0
    # the recipe's stage 1 reads it as LibriSpeech
    written = prepare(tiny / "LibriSpeech", None, tmp_path / "data")
    assert "test_real" in written
    assert (
        len(read_table(tmp_path / "data" / "test_real" / "text"))
        == summary["parts"]["test-real"]["utterances"]
    )


@pytest.mark.slow
@needs_engines
def test_the_same_seed_gives_the_same_audio_and_a_killed_build_resumes(tiny, cache, tmp_path):
    again = tmp_path / "corpus"
    shutil.copytree(tiny, again)
    # a build killed in the middle: one speaker unfinished, one file half written
    speaker = next((again / "LibriSpeech" / "train-clean-100").glob("*/*"))
    trans = next(speaker.glob("*.trans.txt"))
    trans.unlink()
    next(speaker.glob("*.flac")).write_bytes(b"half")
    (again / build.COMPLETE).unlink()
    untouched = next((again / "LibriSpeech" / "dev-clean").glob("*/*/*.flac"))
    mtime = untouched.stat().st_mtime_ns
    build.build_corpus(again, "tiny", seed=0, nj=1, cache=cache)
    assert trans.exists() and untouched.stat().st_mtime_ns == mtime
    before = {r["utt"]: r for r in manifest(tiny)}
    after = {r["utt"]: r for r in manifest(again)}
    assert before.keys() == after.keys()
    resumed = {
        r["utt"] for r in manifest(again) if r["speaker"] == trans.name[: -len(".trans.txt")]
    }
    for utt in resumed:
        if before[utt]["engine"] in DETERMINISTIC:
            assert after[utt]["sha256"] == before[utt]["sha256"], utt
    # a fresh build of the same seed: the same bytes for every deterministic engine
    fresh = tmp_path / "fresh"
    build.build_corpus(fresh, "tiny", seed=0, nj=1, cache=cache)
    for row in manifest(fresh):
        if row["engine"] in DETERMINISTIC:
            assert row["sha256"] == before[row["utt"]]["sha256"], row["utt"]
    # another seed: another plan
    assert plan.plan_speakers(plan.SIZES["tiny"], 1) != plan.plan_speakers(plan.SIZES["tiny"], 0)


def test_a_wrong_kokoro_checksum_stops_the_build_before_any_audio(tmp_path, monkeypatch):
    pytest.importorskip("kokoro_onnx")
    monkeypatch.setattr(packages, "KOKORO_MODEL_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="SHA-256 .* expected 0000"):
        build.build_corpus(tmp_path / "corpus", "tiny", cache=tmp_path / "cache")
    assert not list(tmp_path.rglob("*.flac"))
    assert not (tmp_path / "cache" / "kokoro" / "kokoro-v1.0.int8.onnx").exists()


def test_a_missing_program_is_named_with_its_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(packages.shutil, "which", lambda program: None)
    with pytest.raises(packages.MissingPackage, match="apt-get install flite"):
        build.check_engines({"flite"}, tmp_path)
    with pytest.raises(packages.MissingPackage, match="apt-get install festival"):
        build.check_engines({"festival"}, tmp_path)


def test_a_missing_debian_package_says_how_to_get_it(tmp_path):
    with pytest.raises(packages.MissingPackage, match="apt-get download no-such-package"):
        packages.debian_package("no-such-package", tmp_path)
    assert not (tmp_path / "debian" / "no-such-package" / packages.DONE).exists()


def test_a_relative_cache_is_where_the_package_is_unpacked(tmp_path, monkeypatch):
    """As ./run.sh passes it (downloads/corpus_cache, relative to the recipe)."""
    monkeypatch.chdir(tmp_path)
    unpacked = packages.debian_package("asterisk-moh-opsound-wav", Path("cache"))
    assert unpacked == tmp_path / "cache" / "debian" / "asterisk-moh-opsound-wav"
    assert list(unpacked.glob("usr/share/asterisk/moh/*.wav"))


class _Silent(Engine):
    """Says nothing for texts that contain "silence"."""

    name = "silent"

    def _one(self, text, voice):
        length = 0 if "silence" in text else 8000
        return Spoken(np.full(length, 0.1, dtype=np.float32))


def test_an_empty_synthesis_is_skipped_and_counted(tmp_path, monkeypatch):
    monkeypatch.setitem(build._ENGINES, "silent", _Silent())
    speaker = plan.Speaker(7, 70, "dev-clean", Voice("silent", "x"), Condition(), 3, "Emma")
    skipped = build.speak_speaker(
        speaker, ["one two", "silence here", "three four"], tmp_path, tmp_path
    )
    assert skipped == {"empty audio": 1}
    chapter = tmp_path / "7" / "70"
    assert sorted(p.name for p in chapter.glob("*.flac")) == ["7-70-0000.flac", "7-70-0002.flac"]
    assert (chapter / "7-70.trans.txt").read_text() == "7-70-0000 ONE TWO\n7-70-0002 THREE FOUR\n"


@pytest.mark.slow
@needs_engines
def test_the_command_finds_a_finished_corpus(tiny, cache, capsys):
    from espnet_reuse.bin.make_corpus import main

    flac = next(tiny.glob("LibriSpeech/*/*/*/*.flac"))
    mtime = flac.stat().st_mtime_ns
    main([str(tiny), "--corpus_size", "tiny", "--cache", str(cache)])
    assert capsys.readouterr().out.strip() == str(tiny / "LibriSpeech")
    assert flac.stat().st_mtime_ns == mtime


@pytest.mark.slow
@needs_engines
def test_the_recipe_stage_1_builds_the_books_corpus(cache, tmp_path):
    from espnet_reuse.recipe.run import main

    shutil.copytree(cache, tmp_path / "corpus_cache")  # the packages, not downloaded again
    main(
        ["--corpus", str(tmp_path / "books"), "--make_demo_corpus", "true"]
        + ["--demo_corpus", "books", "--corpus_size", "tiny", "--stage", "1", "--stop-stage", "1"]
        + ["--datadir", str(tmp_path / "data")]
    )
    assert len(read_table(tmp_path / "data" / "train_960" / "text")) == 10
    assert len(read_table(tmp_path / "data" / "test_real" / "text")) > 200
    assert (tmp_path / "books" / "manifest.tsv").exists()


@pytest.mark.slow
@needs_engines
@pytest.mark.parametrize("size", sorted(plan.SIZES))
def test_every_size_finds_enough_sentences_in_its_books(size, tiny, cache):
    """Each named size's speakers fit the real books' sentences (a size that does not
    would stop its build at the start)."""
    chosen = plan.SIZES[size]
    sentences, _ = build.book_sentences(cache, chosen.min_words, chosen.max_words)
    plan.assign_sentences(plan.plan_speakers(chosen, seed=0), sentences, seed=0)
