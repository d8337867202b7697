"""The analysis as one self-contained page: ``report.html``.

Everything is inline (images as base64 PNG, one small script, no network, no server):
every layer x head map of the chosen utterances with a picker, the figures the analysis
drew (relation maps, CAD, metrics, probes, pruning, boundaries, head kinds), and tables
of the head rankings, probes, pruning, boundary scores and head kinds. The script marks
the page ``data-ready`` when it has built the picker, and ``data-error`` on a script
error, so a headless browser can check it.
"""

import base64
import html
import io
import json
from pathlib import Path
from typing import Any, Dict, List, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from espnet_reuse.encoder.reuse_groups import reusing_layers  # noqa: E402

REPORT = "report.html"
FIGURES = (  # (file, caption) in page order; those the analysis did not draw are left out
    ("phoneme_relation_map.png", "Phoneme relation map"),
    ("phoneme_attention_relationship.png", "Phoneme attention relationship"),
    ("cad.png", "Cumulative attention diagonality"),
    ("head_metrics.png", "Globalness, verticality, diagonality"),
    ("head_kinds.png", "Head kinds"),
    ("js_divergence.png", "Divergence between layers' maps"),
    ("boundaries.png", "Phoneme boundaries from attention"),
    ("probing.png", "Phone probing"),
    ("speaker_probing.png", "Speaker probing"),
    ("pruning.png", "Head pruning"),
    ("pruning_probes.png", "Head pruning: phone and speaker probes"),
)
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Attention analysis: {title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #bbb; padding: 2px 8px; text-align: right; }}
img {{ max-width: 100%; }} #map {{ width: 420px; image-rendering: pixelated; }}
figure {{ margin: 1em 0; }} label {{ margin-right: 1em; }}
</style></head>
<body>
<h1>Attention analysis</h1>
<p>{intro}</p>
<h2>Maps: pick an utterance, a layer and a head</h2>
<p><label>utterance <select id="utt"></select></label>
<label>layer <select id="layer"></select></label>
<label>head <select id="head"></select></label></p>
<p id="caption"></p><img id="map" alt="attention map">
{sections}
<script>
window.onerror = function (message) {{ document.body.dataset.error = String(message); }};
const MAPS = {maps};
function fill(select, values) {{
  select.innerHTML = "";
  for (const value of values) {{
    const option = document.createElement("option");
    option.value = value; option.textContent = value; select.appendChild(option);
  }}
}}
function show() {{
  const utt = MAPS[document.getElementById("utt").value];
  const layer = Number(document.getElementById("layer").value) - 1;
  const head = Number(document.getElementById("head").value) - 1;
  document.getElementById("map").src = utt.maps[layer][head];
  document.getElementById("caption").textContent =
    "layer " + (layer + 1) + (utt.reused[layer] ? " (reused map)" : "") + ", head " + (head + 1)
    + ": rows are queries, columns keys, " + utt.frames + " encoder frames";
}}
const utts = Object.keys(MAPS);
fill(document.getElementById("utt"), utts);
const first = MAPS[utts[0]];
fill(document.getElementById("layer"), first.maps.map((_, i) => i + 1));
fill(document.getElementById("head"), first.maps[0].map((_, i) => i + 1));
for (const id of ["utt", "layer", "head"]) document.getElementById(id).onchange = show;
show();
document.body.dataset.ready = "1";
</script>
</body></html>
"""


def _png(data: bytes) -> str:
    """A data URI of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(data).decode()


def map_image(attn: torch.Tensor) -> str:
    """One (T, T) map as a data URI (viridis, queries upwards as in the figures)."""
    buffer = io.BytesIO()
    plt.imsave(buffer, attn.float().numpy(), cmap="viridis", origin="lower", format="png")
    return _png(buffer.getvalue())


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; floats with 3 digits."""

    def cell(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def with_interval(value: float, interval: Sequence[float]) -> str:
    """``0.675 [0.640, 0.710]``."""
    low, high = interval
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def tables(summary: Dict[str, Any]) -> List[str]:
    """The summary's numbers as headed tables (what was measured)."""
    parts = []
    ranking = summary.get("head_ranking") or {}
    if ranking:
        rows = [
            [metric, ", ".join(f"{layer + 1}.{head + 1}" for layer, head in heads[:6])]
            for metric, heads in ranking.items()
        ]
        parts.append(
            "<h2>Highest-ranked heads (layer.head)</h2>" + table(["metric", "heads"], rows)
        )
    kinds = summary.get("head_kinds")
    if kinds:
        rows = [[layer + 1, *row] for layer, row in enumerate(kinds["kind"])]
        header = ["layer", *(f"head {h + 1}" for h in range(len(kinds["kind"][0])))]
        parts.append(
            "<h2>Head kinds</h2>" + table(header, rows) + f"<p>{html.escape(kinds['rule'])}</p>"
        )
    boundaries = summary.get("boundaries")
    if boundaries:
        rows = []
        for layer, row in enumerate(boundaries["heads"]):
            best = max(range(len(row)), key=lambda h: row[h]["r_value"])
            r = row[best]
            rows.append([layer + 1, best + 1, r["precision"], r["recall"], r["f1"], r["r_value"]])
        m = boundaries["mfcc"]
        rows.append(["MFCC", "-", m["precision"], m["recall"], m["f1"], m["r_value"]])
        header = ["layer", "best head", "precision", "recall", "F1", "R-value"]
        note = (
            f"±{boundaries['tolerance_ms']:.0f} ms, thresholds tuned on "
            f"{html.escape(boundaries['tuned_on'])}"
        )
        parts.append(f"<h2>Phoneme boundaries ({note})</h2>" + table(header, rows))
    timed = summary.get("phone_times")
    if timed:
        rows = [[name, aligned, total] for name, (aligned, total) in timed.items()]
        parts.append(
            "<h2>Utterances with phone times (boundaries and phone probes use these)</h2>"
            + table(["set", "timed", "utterances"], rows)
        )
    probing = summary.get("probing_accuracy")
    if probing:
        rows = [
            [layer + 1, with_interval(accuracy, interval)]
            for layer, (accuracy, interval) in enumerate(zip(probing, summary["probing_interval"]))
        ]
        parts.append(
            "<h2>Phone probing (95 % intervals over the test utterances)</h2>"
            + table(["layer", "frame accuracy"], rows)
        )
    speaker = summary.get("speaker_probing")
    if speaker:
        rows = [
            [
                layer + 1,
                *(
                    with_interval(speaker[k][layer], speaker[f"{k}_interval"][layer])
                    for k in ("frame", "utterance")
                ),
            ]
            for layer in range(len(speaker["frame"]))
        ]
        title = (
            f"Speaker probing ({speaker['speakers']} speakers, chance {speaker['chance']:.3f}; "
            "95 % intervals over the test utterances)"
        )
        parts.append(f"<h2>{title}</h2>" + table(["layer", "frame level", "utterance level"], rows))
    pruning = summary.get("pruning_wer")
    if pruning:
        counts = [k for k, _ in next(iter(pruning.values()))]
        rows = [[name, *(wer for _, wer in curve)] for name, curve in pruning.items()]
        parts.append(
            "<h2>WER (%) with the k highest heads pruned</h2>"
            + table(["order", *(f"k={k}" for k in counts)], rows)
        )
    return parts


def write_report(
    summary: Dict[str, Any], maps: Dict[str, List[torch.Tensor]], out_dir: Path
) -> Path:
    """``out_dir/report.html`` from the analysis ``summary`` (``AttentionSummary`` as a
    dict), the chosen utterances' ``maps`` (utterance -> per layer (H, T, T)) and the
    figures drawn into ``out_dir``."""
    groups = summary["reuse_groups"]
    reused = reusing_layers(groups)
    page_maps = {
        utt: {
            "maps": [[map_image(head) for head in layer] for layer in layers],
            "reused": reused[: len(layers)],
            "frames": int(layers[0].size(-1)),
        }
        for utt, layers in maps.items()
    }
    sections = tables(summary)
    for name, caption in FIGURES:
        if (out_dir / name).exists():
            image = _png((out_dir / name).read_bytes())
            sections.append(
                f'<figure><img src="{image}" alt="{caption}"><figcaption>{caption}'
                "</figcaption></figure>"
            )
    intro = (
        f"Model <code>{html.escape(summary['model'])}</code>, data "
        f"<code>{html.escape(summary['data_dir'])}</code>, {summary['utterances']} utterances, "
        f"reuse groups {groups}."
    )
    page = PAGE.format(
        title=html.escape(Path(summary["model"]).parent.name or summary["model"]),
        intro=intro,
        sections="\n".join(sections),
        maps=json.dumps(page_maps),
    )
    path = out_dir / REPORT
    path.write_text(page, encoding="utf-8")
    return path
