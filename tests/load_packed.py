"""What a user does with a shared model, run in a fresh environment by the recipe test.

``python load_packed.py DATA_DIR OUT_JSON ZIP...``: each packed model is loaded with
ESPnet's ``Speech2Text.from_pretrained`` (which unpacks it through espnet_model_zoo)
and decodes DATA_DIR with ESPnet's beam search; the same unpacked files are decoded
with the recipe's greedy CTC decoder and, for a model with an attention decoder, its
joint CTC/attention beam search and attention rescoring (the repository's
``conf/decode_*.yaml``). OUT_JSON gets them all, by zip. ESPnet is imported
here as a user imports it, not through ``espnet_reuse.espnet_api``.
"""

import json
import sys
from pathlib import Path

import soundfile
import yaml
from espnet2.bin.asr_inference import Speech2Text
from espnet_model_zoo.downloader import ModelDownloader

import espnet_reuse  # noqa: F401  (registers the reuse encoders with ESPnet)
from espnet_reuse.decoding.attention_search import has_attention_decoder
from espnet_reuse.decoding.inference import load_asr_model, recognise, tokens_to_text
from espnet_reuse.kaldi_data import read_num_samples, read_table
from espnet_reuse.recipe.decode import DecodeConfig

CONF = Path(__file__).resolve().parents[1] / "conf"


def decode(packed: str, data_dir: Path) -> dict:
    speech2text = Speech2Text.from_pretrained(packed, beam_size=2, device="cpu")
    files = ModelDownloader().download_and_unpack(packed)  # the files it unpacked
    wav = read_table(data_dir / "wav.scp")
    espnet = {u: speech2text(soundfile.read(wav[u], dtype="float32")[0])[0][0] for u in wav}
    config = Path(files["asr_train_config"])
    model = load_asr_model(config, Path(files["asr_model_file"]), "cpu")
    decoders = ["ctc_greedy"]
    if has_attention_decoder(yaml.safe_load(config.read_text())):
        decoders += ["joint_beam", "attention_rescoring"]
    recipe = {}
    for name in decoders:
        search = DecodeConfig.from_yaml(CONF / f"decode_{name}.yaml").search(model, None)
        lengths = read_num_samples(data_dir)
        hyps = recognise(model, wav, lengths, 4, "cpu", search, tokens_to_text(config))
        recipe[name] = {u: h.text for u, h in hyps.items()}
    return {"files": files, "espnet": espnet, "recipe": recipe}


if __name__ == "__main__":
    data, out, *zips = sys.argv[1:]
    Path(out).write_text(json.dumps({z: decode(z, Path(data)) for z in zips}, indent=1))
