"""Convert a trained ``conformer`` experiment into a ``conformer_reuse`` one.

Example::

    python -m espnet_reuse.bin.convert_checkpoint \\
        --config exp/asr_conformer/config.yaml \\
        --model exp/asr_conformer/valid.loss.ave.pth \\
        --reuse_groups 4x4 --out_dir exp/asr_conformer_reuse4x4
"""

import argparse
from pathlib import Path
from typing import List, Optional

from espnet_reuse import safe_load
from espnet_reuse.registration import register

register()

from espnet_reuse.convert import convert_experiment  # noqa: E402
from espnet_reuse.encoder.reuse_groups import parse_layout  # noqa: E402
from espnet_reuse.espnet_api import str2bool  # noqa: E402


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="config.yaml")
    parser.add_argument("--model", type=Path, required=True, help="model .pth")
    parser.add_argument(
        "--reuse_groups",
        nargs="+",
        required=True,
        help="group sizes: 4,4,4,4 or 4x4 (also 4 4 4 4)",
    )
    parser.add_argument(
        "--learned_map_groups",
        type=int,
        nargs="*",
        default=[],
        help="groups (from 0) whose map becomes input-independent",
    )
    parser.add_argument(
        "--learned_map_profiles",
        type=Path,
        help="summary.json of analyze_attention on this model: learned maps start "
        "from its measured offset profiles",
    )
    parser.add_argument(
        "--reuse_head_mixing",
        type=str2bool,
        default=False,
        help="reuse layers mix their group's heads (the identity at first)",
    )
    parser.add_argument(
        "--reuse_score_rank",
        type=int,
        default=0,
        help="rank of each reuse layer's query-key correction (0: none)",
    )
    parser.add_argument("--out_dir", type=Path, required=True)
    safe_load.add_trust_option(parser)
    return parser


def main(cmd: Optional[List[str]] = None) -> None:
    """Convert and list the dropped parameters."""
    args = get_parser().parse_args(cmd)
    safe_load.set_trusted(args.trust_model_file)
    dropped, initialised = convert_experiment(
        args.config,
        args.model,
        parse_layout(",".join(args.reuse_groups)),
        args.out_dir,
        args.learned_map_groups,
        args.learned_map_profiles,
        {"reuse_head_mixing": args.reuse_head_mixing, "reuse_score_rank": args.reuse_score_rank},
    )
    print(f"wrote {args.out_dir}/config.yaml and {args.out_dir}/{args.model.name}")
    print(f"dropped {len(dropped)} parameters of reuse layers:")
    for name in dropped:
        print(f"  {name}")
    for name in initialised:
        print(f"initialised {name}")


if __name__ == "__main__":
    main()
