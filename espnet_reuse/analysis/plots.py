"""Figures of the attention analysis (PNG, matplotlib)."""

from pathlib import Path
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def attention_grid(
    maps: Sequence[torch.Tensor], utt: str, path: Path, reused: Sequence[bool]
) -> None:
    """Every layer (rows) and head (columns) of one utterance."""
    layers, heads = len(maps), maps[0].size(0)
    fig, axes = plt.subplots(layers, heads, figsize=(2.2 * heads, 2.0 * layers), squeeze=False)
    for layer, layer_maps in enumerate(maps):
        for h in range(heads):
            ax = axes[layer][h]
            image = ax.imshow(layer_maps[h].numpy(), origin="lower", aspect="auto", cmap="viridis")
            ax.set_xticks([]), ax.set_yticks([])
            if h == 0:
                ax.set_ylabel(
                    f"layer {layer + 1}" + (" (reused)" if reused[layer] else "") + "\nquery",
                    fontsize=8,
                )
            if layer == 0:
                ax.set_title(f"head {h + 1}", fontsize=9)
            if layer == layers - 1:
                ax.set_xlabel("key", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention probability")
    fig.suptitle(f"attention maps of {utt}")
    fig.savefig(path, dpi=90)
    plt.close(fig)


def cad_curves(cad: torch.Tensor, path: Path) -> None:
    """CAD(r) per layer, and one number per layer (mean over r)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    cmap = plt.get_cmap("coolwarm")
    layers = cad.size(0)
    for layer in range(layers):
        left.plot(
            range(cad.size(1)),
            cad[layer].numpy(),
            color=cmap(layer / max(layers - 1, 1)),
            label=f"layer {layer + 1}",
        )
    left.set_xlabel("range r (encoder frames)")
    left.set_ylabel("cumulative attention diagonality")
    left.set_title("CAD(r): attention mass within r frames of the query")
    left.legend(fontsize=7, ncol=2)
    left.grid(alpha=0.3)
    right.bar(
        range(1, layers + 1),
        cad.mean(dim=1).numpy(),
        color=[cmap(layer / max(layers - 1, 1)) for layer in range(layers)],
    )
    right.set_xlabel("layer")
    right.set_ylabel("mean CAD over r")
    right.set_title("diagonality per layer (low: phonetic, high: linguistic)")
    _save(fig, path)


def head_metrics(metrics: Dict[str, torch.Tensor], path: Path) -> None:
    """Globalness, verticality and diagonality of every head."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 4))
    for ax, (name, values) in zip(axes, metrics.items()):
        image = ax.imshow(values.numpy(), aspect="auto", cmap="magma")
        ax.set_title(name)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_xticks(range(values.size(1)), [str(h + 1) for h in range(values.size(1))])
        ax.set_yticks(range(values.size(0)), [str(layer + 1) for layer in range(values.size(0))])
        fig.colorbar(image, ax=ax)
    _save(fig, path)


def phone_maps(values: torch.Tensor, phones: List[str], title: str, path: Path) -> None:
    """One query-phone x key-phone map per layer."""
    layers = values.size(0)
    cols = min(4, layers)
    rows = (layers + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.0 * rows), squeeze=False)
    for layer in range(rows * cols):
        ax = axes[layer // cols][layer % cols]
        if layer >= layers:
            ax.axis("off")
            continue
        image = ax.imshow(values[layer].numpy(), cmap="viridis")
        ax.set_title(f"layer {layer + 1}", fontsize=9)
        ax.set_xticks(range(len(phones)), phones, fontsize=5, rotation=90)
        ax.set_yticks(range(len(phones)), phones, fontsize=5)
        ax.set_xlabel("key phone", fontsize=8)
        ax.set_ylabel("query phone", fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(title)
    _save(fig, path)


def _accuracy_line(ax, accuracies: List[float], intervals: List[List[float]], **style) -> None:
    """Accuracies (0-1) by layer in percent, with their intervals as error bars."""
    values = 100 * np.asarray(accuracies)
    low, high = (100 * np.asarray(intervals)).T
    layers = range(1, len(values) + 1)
    ax.errorbar(layers, values, yerr=[values - low, high - values], fmt="o-", capsize=3, **style)


def probing(accuracies: List[float], intervals: List[List[float]], path: Path) -> None:
    """Frame phone accuracy of the probe per layer, with 95 % intervals."""
    fig, ax = plt.subplots(figsize=(6, 4))
    _accuracy_line(ax, accuracies, intervals)
    ax.set_xlabel("layer")
    ax.set_ylabel("frame phone accuracy (%)")
    ax.set_title("layer-wise phoneme probing (linear)")
    ax.grid(alpha=0.3)
    _save(fig, path)


def pruning(curves: Dict[str, List[tuple]], path: Path) -> None:
    """WER against the number of pruned heads, one line per order."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, points in curves.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=name)
    ax.set_xlabel("pruned heads")
    ax.set_ylabel("CTC greedy WER (%)")
    ax.set_title("head pruning, heads ordered by each metric (highest first)")
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, path)


def divergence(values: torch.Tensor, path: Path) -> None:
    """Jensen-Shannon divergence between the layers' maps."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    image = ax.imshow(values.numpy(), cmap="magma_r")
    ticks = range(values.size(0))
    ax.set_xticks(ticks, [str(t + 1) for t in ticks])
    ax.set_yticks(ticks, [str(t + 1) for t in ticks])
    ax.set_xlabel("layer")
    ax.set_ylabel("layer")
    ax.set_title("JS divergence between layers' maps")
    fig.colorbar(image, ax=ax, label="nats")
    _save(fig, path)


def boundaries(result: Dict, path: Path) -> None:
    """Phoneme boundary detection by each head (dots) and by MFCCs (line), per layer."""
    heads = result["heads"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    layers = range(1, len(heads) + 1)
    for metric, ax in (("r_value", left), ("f1", right)):
        for layer, row in zip(layers, heads):
            ax.scatter([layer] * len(row), [r[metric] for r in row], color="tab:blue", s=18)
        ax.plot(
            layers,
            [max(r[metric] for r in row) for row in heads],
            color="tab:blue",
            label="best head of the layer",
        )
        ax.axhline(result["mfcc"][metric], color="tab:red", linestyle="--", label="MFCC")
        ax.set_xlabel("layer")
        ax.set_ylabel("R-value" if metric == "r_value" else "F1")
        ax.set_xticks(list(layers))
        ax.legend(fontsize=8)
    fig.suptitle(
        f"phoneme boundaries from attention rows, ±{result['tolerance_ms']:.0f} ms "
        f"(thresholds tuned on {result['tuned_on']})"
    )
    _save(fig, path)


def head_kinds(result: Dict, max_offset: int, path: Path) -> None:
    """The heads in 2-D (PCA, t-SNE) coloured by kind, and each kind's mean profile."""
    kinds = [kind for row in result["kind"] for kind in row]
    names = sorted(set(kinds))
    colours = {name: plt.get_cmap("tab10")(i) for i, name in enumerate(names)}
    labels = [
        f"{layer + 1}.{head + 1}"
        for layer, row in enumerate(result["kind"])
        for head in range(len(row))
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, key, title in ((axes[0], "pca", "PCA"), (axes[1], "tsne", "t-SNE")):
        points = result[key]
        for name in names:
            chosen = [p for p, k in zip(points, kinds) if k == name]
            ax.scatter(
                [p[0] for p in chosen], [p[1] for p in chosen], color=colours[name], label=name
            )
        for point, label in zip(points, labels):
            ax.annotate(label, point, fontsize=6)
        ax.set_title(f"heads' offset profiles, {title} (layer.head)")
        ax.legend(fontsize=7)
    window = min(16, max_offset)
    offsets = list(range(-window, window + 1))
    for name in names:
        profile = result["kind_profiles"][name][max_offset - window : max_offset + window + 1]
        axes[2].plot(offsets, profile, color=colours[name], label=name)
    axes[2].set_xlabel("offset key - query (encoder frames)")
    axes[2].set_ylabel("mean attention mass")
    axes[2].set_title("each kind's mean offset profile")
    axes[2].legend(fontsize=7)
    _save(fig, path)


def speaker_probing(result: Dict, path: Path) -> None:
    """Speaker accuracy per layer of the frame-level and utterance-level probes, with
    95 % intervals."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("frame", "frame level"), ("utterance", "utterance level (mean-pooled)")):
        _accuracy_line(ax, result[key], result[f"{key}_interval"], label=label)
    ax.axhline(100 * result["chance"], color="gray", linestyle="--", label="chance")
    ax.set_xlabel("layer")
    ax.set_ylabel("speaker accuracy (%)")
    ax.set_title(f"layer-wise speaker probing ({result['speakers']} speakers)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)


def pruning_probes(curves: Dict[str, List[Dict]], layer: int, path: Path) -> None:
    """Layer ``layer``'s phone and speaker probe accuracy against the number of pruned
    heads, with 95 % bands."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, label in zip(axes, ("phone", "speaker")):
        for name, points in curves.items():
            shown = [p for p in points if label in p]
            if not shown:
                continue
            pruned = [p["pruned"] for p in shown]
            low, high = (100 * np.array([p[f"{label}_interval"] for p in shown])).T
            (line,) = ax.plot(pruned, [100 * p[label] for p in shown], "o-", label=name)
            ax.fill_between(pruned, low, high, color=line.get_color(), alpha=0.12)
        ax.set_xlabel("pruned heads")
        ax.set_ylabel(f"layer {layer} frame {label} accuracy (%)")
        if ax.lines:  # not measured (no alignments, or one speaker): an empty panel
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"head pruning: what layer {layer} still holds")
    _save(fig, path)
