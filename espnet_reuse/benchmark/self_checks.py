"""The GPU check's self-checks: on the device, what the CPU tests check on the CPU.

Attention against ESPnet's in float32, bfloat16 and float16 on a padded batch with an
empty utterance; training steps under bf16 and fp16 autocast with finite losses and
gradients; batch-16 greedy decoding equal to batch 1; bytes kept for backward (each
a ``Check``, at the ``Sizes`` of the run: the real ones, or toy ones for CI).
"""

import copy
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import torch

from espnet_reuse.benchmark.measure import make_input, saved_for_backward_bytes
from espnet_reuse.benchmark.models import CONFORMER_M, E_BRANCHFORMER_LIBRISPEECH, build_models
from espnet_reuse.benchmark.suite import DTYPES, autocast
from espnet_reuse.decoding.inference import greedy_search
from espnet_reuse.encoder.conformer_reuse_encoder import ConformerReuseEncoder
from espnet_reuse.encoder.padding import make_batch_invariant
from espnet_reuse.encoder.rel_position_attention import (
    FusedRelPositionAttention,
    StridedRelPositionAttention,
)
from espnet_reuse.espnet_api import CTC, RelPositionalEncoding, RelPositionMultiHeadedAttention

# the map adaptations the memory check measures beside plain reuse (reuse_groups' spelling)
ADAPTED = ("+reuse_head_mixing", "+reuse_score_rank=4")
TINY_CONFORMER = dict(CONFORMER_M, output_size=32, attention_heads=4, linear_units=48, num_blocks=4)
TINY_E_BRANCHFORMER = dict(
    E_BRANCHFORMER_LIBRISPEECH,
    output_size=32,
    attention_heads=4,
    cgmlp_linear_units=64,
    linear_units=48,
    num_blocks=4,
)


@dataclass
class Check:
    """One self-check's verdict and the numbers behind it."""

    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


@dataclass
class Sizes:
    """The shapes the checks and the benchmark use."""

    encoder_conf: dict = field(default_factory=lambda: dict(CONFORMER_M))
    layouts: List[str] = field(default_factory=lambda: ["1x16", "2x8", "4x4"])
    e_branchformer_conf: dict = field(default_factory=lambda: dict(E_BRANCHFORMER_LIBRISPEECH))
    e_branchformer_layouts: List[str] = field(default_factory=lambda: ["1x17", "1,4,4,4,4"])
    check_layout: str = "4x4"
    seconds: List[float] = field(default_factory=lambda: [10, 20, 30])
    batch_sizes: List[int] = field(default_factory=lambda: [1, 8])
    train_seconds: float = 15
    train_batch: int = 8
    repeats: int = 20
    warmup: int = 5
    input_size: int = 80
    joint_search: dict = field(default_factory=dict)  # joint_search_checks' model sizes

    @classmethod
    def tiny(cls) -> "Sizes":
        return cls(
            encoder_conf=dict(TINY_CONFORMER),
            layouts=["1x4", "2x2"],
            e_branchformer_conf=dict(TINY_E_BRANCHFORMER),
            e_branchformer_layouts=["1x4", "2x2"],
            check_layout="2x2",
            seconds=[0.5, 1],
            batch_sizes=[1, 2],
            train_seconds=0.5,
            train_batch=2,
            repeats=2,
            warmup=1,
            input_size=20,
            joint_search=dict(size=32, blocks=1, vocab=30, beam_size=3),
        )


def _attention_inputs(device: str) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A padded batch of 3 (lengths 40, 31, 0: one utterance without any frame)."""
    lengths = torch.tensor([40, 31, 0])
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, 40, 64, generator=generator)
    embedding = RelPositionalEncoding(64, 0.0)
    x, pos_emb = embedding(x)
    mask = (torch.arange(40)[None, :] < lengths[:, None])[:, None, :]
    return x.to(device), pos_emb.to(device), mask.to(device)


def _attention_pass(module, x, pos_emb, mask, dtype: str, device) -> List[torch.Tensor]:
    """Output, input gradient and the output ``linear_out`` gives a zero context, of one
    training forward/backward, as float32."""
    xi = x.clone().requires_grad_()
    with autocast(device, dtype):
        out = module.train()(xi, xi, xi, pos_emb, mask)
        no_context = module.linear_out(torch.zeros_like(x[:1, :1]))
    out.float().pow(2).sum().backward()
    module.zero_grad(set_to_none=True)
    return [t.detach().float() for t in (out, xi.grad, no_context)]


def attention_checks(device: str) -> List[Check]:
    """Strided and fused attention against ESPnet's, per dtype: finite, and against
    ESPnet's float32 result no worse than ESPnet's own attention in that dtype."""
    torch.manual_seed(0)
    espnet = RelPositionMultiHeadedAttention(4, 64, 0.0).to(device)
    ours = {
        "strided": StridedRelPositionAttention.convert_in_place(copy.deepcopy(espnet)),
        "fused": FusedRelPositionAttention.convert_in_place(copy.deepcopy(espnet)),
    }
    x, pos_emb, mask = _attention_inputs(device)
    reference = _attention_pass(espnet, x, pos_emb, mask, "float32", device)
    checks = []
    for dtype_name in DTYPES:
        theirs = _attention_pass(espnet, x, pos_emb, mask, dtype_name, device)
        for kind, module in ours.items():
            mine = _attention_pass(module, x, pos_emb, mask, dtype_name, device)
            errors = [float((m - r).abs().max()) for m, r in zip(mine[:2], reference)]
            allowed = [
                2 * float((t - r).abs().max()) + 1e-3 * float(r.abs().max()) + 1e-5
                for t, r in zip(theirs[:2], reference)
            ]
            finite = all(bool(torch.isfinite(m).all()) for m in mine)
            empty_is_bias = bool(torch.equal(mine[0][2], mine[2][0].expand_as(mine[0][2])))
            checks.append(
                Check(
                    f"{kind} attention {dtype_name}",
                    finite and empty_is_bias and all(e <= a for e, a in zip(errors, allowed)),
                    f"max error output {errors[0]:.2e} (allowed {allowed[0]:.2e}), input "
                    f"gradient {errors[1]:.2e} (allowed {allowed[1]:.2e}); finite {finite}; "
                    f"empty utterance -> zero context {empty_is_bias}",
                )
            )
    return checks


def _training_models(conf: dict, input_size: int) -> Dict[str, torch.nn.Module]:
    blocks = conf["num_blocks"]
    half = blocks // 2
    groups = [half, blocks - half]
    return {
        f"reuse {groups}": ConformerReuseEncoder(input_size, reuse_groups=groups, **conf),
        f"learned map {groups}": ConformerReuseEncoder(
            input_size, reuse_groups=groups, learned_map_groups=[1], **conf
        ),
    }


def training_checks(device: str, conf: dict, input_size: int, steps: int = 3) -> List[Check]:
    """``steps`` training steps (CTC loss, Adam) of a reuse and a learned-map model under
    bf16 and fp16 autocast. fp16 trains with a gradient scaler, as ESPnet's trainer
    does: a step whose scaled gradients overflow is skipped by design (the scale
    shrinks), so the check counts the steps taken and wants every taken step's
    unscaled gradients finite for every parameter."""
    checks = []
    generator = torch.Generator().manual_seed(2)
    feats = torch.randn(4, 300, input_size, generator=generator).to(device)
    lengths = torch.tensor([300, 250, 120, 60], device=device)
    targets = torch.randint(1, 30, (4, 12), generator=generator).to(device)
    target_lengths = torch.tensor([12, 10, 6, 3], device=device)
    for dtype_name in ("bfloat16", "float16"):
        for name, encoder in _training_models(conf, input_size).items():
            torch.manual_seed(0)
            ctc = CTC(30, conf["output_size"])
            model = torch.nn.ModuleList([encoder, ctc]).to(device).train()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
            scaler = torch.amp.GradScaler(device.split(":")[0], enabled=dtype_name == "float16")
            losses, missing, not_finite, skipped = [], set(), set(), 0
            while len(losses) < steps and skipped < 20:
                with autocast(device, dtype_name):
                    hidden, hidden_lengths, _ = encoder(feats, lengths)
                    loss = ctc(hidden, hidden_lengths, targets, target_lengths)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                grads = {n: p.grad for n, p in model.named_parameters()}
                overflow = not all(torch.isfinite(g).all() for g in grads.values() if g is not None)
                if overflow and scaler.is_enabled():
                    skipped += 1  # the scaler skips this step and lowers the scale
                else:
                    missing |= {n for n, g in grads.items() if g is None}
                    not_finite |= {
                        n for n, g in grads.items() if g is not None and not torch.isfinite(g).all()
                    }
                    losses.append(float(loss.detach()))
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
            finite = len(losses) == steps and all(torch.isfinite(torch.tensor(losses)))
            checks.append(
                Check(
                    f"training {name} {dtype_name}",
                    finite and not missing and not not_finite,
                    f"losses {', '.join(f'{v:.3f}' for v in losses)} ({skipped} steps skipped "
                    f"by the gradient scaler); parameters without gradient "
                    f"{sorted(missing) or 'none'}, with non-finite gradient "
                    f"{sorted(not_finite)[:5] or 'none'}",
                )
            )
    return checks


def batch_invariance_check(device: str, conf: dict, input_size: int) -> Check:
    """Greedy CTC decoding of 16 utterances of very different lengths in one batch
    against each alone (float32), with ``mask_padding``."""
    torch.manual_seed(0)
    blocks = conf["num_blocks"]
    encoder = ConformerReuseEncoder(input_size, reuse_groups=[2] * (blocks // 2), **conf)
    make_batch_invariant(encoder)
    ctc = CTC(30, conf["output_size"])
    with torch.no_grad():  # a decisive output layer: the check is about the encoder
        ctc.ctc_lo.weight.mul_(20)
    encoder, ctc = encoder.to(device).eval(), ctc.to(device).eval()
    generator = torch.Generator().manual_seed(3)
    lengths = torch.randint(40, 400, (16,), generator=generator)
    feats = torch.randn(16, int(lengths.max()), input_size, generator=generator)
    feats = (feats * (torch.arange(feats.size(1))[None, :, None] < lengths[:, None, None])).to(
        device
    )
    lengths = lengths.to(device)
    with torch.no_grad():
        hidden, hidden_lengths, _ = encoder(feats, lengths)
        batch = greedy_search(ctc.log_softmax(hidden), hidden_lengths)
        alone = []
        for i, n in enumerate(lengths.tolist()):
            h, hl, _ = encoder(feats[i : i + 1, :n], lengths[i : i + 1])
            alone += greedy_search(ctc.log_softmax(h), hl)
    same = sum(b.token_ids == a.token_ids for b, a in zip(batch, alone))
    tokens = sum(len(a.token_ids) for a in alone)
    return Check(
        "greedy decoding batch 16 = batch 1",
        same == len(alone),
        f"{same}/{len(alone)} utterances with the same tokens ({tokens} tokens alone)",
    )


def saved_bytes_check(device: str, sizes: Sizes) -> List[Check]:
    """Bytes kept for backward of ESPnet's Conformer, a reuse layout (plain and with each
    map adaptation) and its ideal bound, in float32 and under bf16 autocast: reuse keeps
    no more than its ideal bound, and less than ESPnet."""
    layouts = [sizes.check_layout, *(sizes.check_layout + a for a in ADAPTED)]
    built = build_models(sizes.input_size, sizes.encoder_conf, layouts)
    models = {name: model.to(device) for name, model in built.models.items()}
    feats, lengths = make_input(sizes.train_seconds, 1, sizes.input_size, device)
    checks = []
    for dtype_name in ("float32", "bfloat16"):
        saved = {}
        for name in [
            "espnet",
            *(f"{kind} {lay}" for lay in layouts for kind in ("reuse", "ideal")),
        ]:
            with autocast(device, dtype_name):
                saved[name] = saved_for_backward_bytes(models[name], feats, lengths)
        for layout in layouts:
            espnet, reuse, ideal = (
                saved[n] for n in ("espnet", f"reuse {layout}", f"ideal {layout}")
            )
            checks.append(
                Check(
                    f"saved for backward {dtype_name} {layout} ({sizes.train_seconds:g} s x 1)",
                    reuse <= 1.02 * ideal and reuse < espnet,
                    f"ESPnet {espnet / 2**20:.1f} MiB, reuse {reuse / 2**20:.1f} MiB, "
                    f"its ideal bound {ideal / 2**20:.1f} MiB",
                )
            )
    return checks
