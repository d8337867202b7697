"""The attention analysis of Whisper tiny.en's encoder on recorded and synthetic speech.

For each part (LibriSpeech layout: the recorded prompts ``test-real``, the books
corpus's ``test-clean``) the analysis of ``espnet_reuse.whisper.analysis``: CAD,
globalness / verticality / diagonality per head, head kinds, the blocks' JS divergence
(heads by index) and their maps' cosine similarity by index and with heads aligned.
Writes one JSON per run and the figures of the first part; a part already in the
JSON is skipped on a rerun.

    python egs/librispeech_reuse/whisper_conversion/attention_analysis.py \\
        egs/librispeech_reuse/whisper_conversion/tiny_en_attention.json docs \\
        downloads/books_librispeech/LibriSpeech/test-real \\
        downloads/books_librispeech/LibriSpeech/test-clean
"""

import argparse
import json
import time
from pathlib import Path

import torch

from espnet_reuse.analysis import plots  # first: it sets matplotlib's file-only backend
from espnet_reuse.analysis.plots import plt
from espnet_reuse.whisper.analysis import analyse
from espnet_reuse.whisper.convert import load_tiny_en
from espnet_reuse.whisper.speech import utterances


def similarity_figure(result: dict, path: Path) -> None:
    """The blocks' map similarity, heads by index and aligned, side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, key, title in zip(
        axes,
        ("similarity_by_index", "similarity_aligned"),
        ("heads by index", "heads aligned (assignment)"),
    ):
        values = torch.tensor(result[key])
        image = ax.imshow(values.numpy(), vmin=0, vmax=1, cmap="viridis")
        ticks = range(values.size(0))
        ax.set_xticks(ticks, [str(t + 1) for t in ticks])
        ax.set_yticks(ticks, [str(t + 1) for t in ticks])
        for a in ticks:
            for b in ticks:
                ax.text(b, a, f"{values[a, b]:.2f}", ha="center", va="center", fontsize=8)
        ax.set_xlabel("block")
        ax.set_ylabel("block")
        ax.set_title(f"maps' cosine similarity, {title}", fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="JSON of the results")
    parser.add_argument("figures", type=Path, help="folder of the figures")
    parser.add_argument("parts", type=Path, nargs="+")
    parser.add_argument("--max_utts", type=int, default=0, help="per part (0: all)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_tiny_en()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for part in args.parts:
        if part.name in results:
            continue
        start = time.time()
        data = ((utt, mel, frames) for utt, mel, frames, _ in utterances(part))
        if args.max_utts:
            data = (u for _, u in zip(range(args.max_utts), data))
        result = analyse(model.encoder, data)
        result["seconds"] = round(time.time() - start, 1)
        results[part.name] = result
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        print(part.name, result["utterances"], "utterances", result["seconds"], "s", flush=True)
    first = results[args.parts[0].name]
    prefix = args.figures / "whisper_tiny_en"
    plots.cad_curves(torch.tensor(first["cad"]), Path(f"{prefix}_cad.png"))
    metrics = {name: torch.tensor(v) for name, v in first["head_metrics"].items()}
    plots.head_metrics(metrics, Path(f"{prefix}_head_metrics.png"))
    similarity_figure(first, Path(f"{prefix}_similarity.png"))


if __name__ == "__main__":
    main()
