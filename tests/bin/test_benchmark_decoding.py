"""``bin/benchmark_decoding``: every decoder's time and WER, batched rows equal to batch 1."""

from helpers import CONF, TINY_REUSE_CONFIG, write_model


def benchmark_rows(config, varied_data, tmp_path, capsys):
    """The table's rows, by decoder, of ``bin/benchmark_decoding`` on an untrained model."""
    from espnet_reuse.bin.benchmark_decoding import main

    corpus, data_dir, _, _ = varied_data
    exp = write_model(corpus, config, tmp_path / "exp")
    main(
        [
            "--asr_train_config",
            str(exp / "config.yaml"),
            "--asr_model_file",
            str(exp / "model.pth"),
            "--data_dir",
            str(data_dir),
            "--max_utts",
            "0",
            "--batch_size",
            "4",
            "--beam_size",
            "3",
        ]
    )
    return {
        line.split("|")[1]: line.split("|")[2:-1]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("|")
    }


def test_benchmark_decoding_prints_speed_and_wer_of_every_decoder(varied_data, tmp_path, capsys):
    rows = benchmark_rows(TINY_REUSE_CONFIG, varied_data, tmp_path, capsys)
    assert rows["greedy (batch 4)"][4] == "yes" and rows["prefix beam 3 (batch 4)"][4] == "yes"
    assert rows["greedy (batch 1)"][4] == "-"
    espnet = rows["ESPnet Speech2Text, ctc_weight 1.0, beam 3 (batch 1)"]
    assert float(espnet[3]) >= 0 and espnet[6] == "1.0x"
    assert rows["encoder only (batch 4)"][3] == "-"
    del rows["decoding"], rows["---"]  # the header
    for row in rows.values():  # features / encoder / rest, in % of the row's time
        shares = [int(share) for share in row[2].split(" / ")]
        assert len(shares) == 3 and abs(sum(shares) - 100) <= 2 and shares[1] > 0


def test_a_hybrid_model_is_compared_with_espnets_joint_search(varied_data, tmp_path, capsys):
    rows = benchmark_rows(CONF / "tiny_hybrid_reuse.yaml", varied_data, tmp_path, capsys)
    espnet = rows["ESPnet Speech2Text, ctc_weight 0.3, beam 3 (batch 1)"]
    utts = espnet[5].split("/")[1]
    assert espnet[5] == f"0/{utts}"
    joint_rows = [f"joint CTC/attention beam 3 (batch {batch})" for batch in (4, 1, 64)]
    for name in [*joint_rows, "ESPnet's joint beam 3, utterance by utterance (batch 1)"]:
        assert rows[name][3] == espnet[3] and rows[name][5] == f"0/{utts}"  # ESPnet's words
    for batch in (4, 1):
        assert float(rows[f"attention rescoring of 3 (batch {batch})"][3]) >= 0
    for name in (joint_rows[0], joint_rows[2], "attention rescoring of 3 (batch 4)"):
        assert rows[name][4] == "yes"  # batched: the words of batch 1


def test_joint_only_compares_the_batched_joint_search_with_speech2text(
    varied_data, tmp_path, capsys
):
    from espnet_reuse.bin.benchmark_decoding import main

    corpus, data_dir, _, _ = varied_data
    exp = write_model(corpus, CONF / "tiny_hybrid.yaml", tmp_path / "exp")
    model = ["--asr_train_config", str(exp / "config.yaml"), "--asr_model_file"]
    main(
        [
            *model,
            str(exp / "model.pth"),
            "--data_dir",
            str(data_dir),
            "--max_utts",
            "0",
            "--beam_size",
            "3",
            "--joint_only",
            "true",
        ]
    )
    out = capsys.readouterr().out
    rows = [line.split("|")[1] for line in out.splitlines() if line.startswith("|")]
    assert rows[2:] == [
        "encoder only (batch 16)",
        "joint CTC/attention beam 3 (batch 16)",
        "ESPnet Speech2Text, ctc_weight 0.3, beam 3 (batch 1)",
        "batch",  # the differences' header: no utterance differs
        "---",
    ]
