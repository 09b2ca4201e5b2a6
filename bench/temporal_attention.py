"""Expand-temporal-view attention: our implementation against the released construction, forward + backward.

What runs: the attention sub-layer of one open_clip vision block (``in_proj`` -> temporal attention ->
``out_proj``) on ``(videos * frames, tokens, width)`` activations, forward then backward (gradients for the input
and the block's projection weights). The tokens of frame t attend to the keys/values of frames t-1, t, t+1.

- ``ours``: ``openvclip.models.enable_temporal_attention`` on a one-block open_clip ``VisionTransformer``, then
  that block's (patched) ``attention`` method, which projects q/k/v, builds the window with
  ``expand_temporal_window`` and calls ``F.scaled_dot_product_attention`` (fused kernel where one applies).
  Timed with the boundary given by ``--boundary`` (default ``mask``, the demo config's); the other boundary is
  timed too and printed, without a ratio.
- ``released``: Open-VCLIP's official construction, rewritten here from its description: q scaled by
  1/sqrt(head_dim), an explicit zero buffer of 3x the keys (and values) per frame, filled with the next, previous
  and current frame's keys (zeros past the sequence ends), laid out channels-first and permuted back
  (``.contiguous()``), then ``bmm(q, k^T)``, softmax over the full matrix, ``bmm(., v)``. The same ``in_proj`` /
  ``out_proj`` weights surround it, so the projections (identical work in both) dilute the ratio: it is the cost
  of the whole attention sub-layer, not of the attention kernel alone.

Before timing, the script asserts that ours with boundary ``zeros`` (the released padding: zero keys that still
take part in the softmax) gives the released output and input gradient (``torch.allclose``, float32 tolerances).

Time: median seconds per forward+backward over ``--repeats`` repetitions after a warm-up, all contenders in this
one process, their order alternating between repetitions; each repetition runs ``inner`` steps, calibrated so
a repetition lasts at least ``--min-time`` seconds.
Memory: on CUDA, peak allocated during one forward+backward above what was allocated before it
(``reset_peak_memory_stats``/``max_memory_allocated``, per contender, same process). On CPU, peak RSS cannot be
split per contender in one process, so the script reports the bytes of the tensors the autograd graph keeps for
backward (``saved_tensors_hooks``; unique storages, parameters excluded): the activation memory a training step
holds per attention layer. Transient buffers freed inside the forward (e.g. a fused kernel's workspace) are not
in that number.

Presets: ``vitb16`` = 197 tokens, 12 heads x 64 (width 768), 8 frames, 2 videos; ``tiny`` = the demo CLIP's
shape, 17 tokens, 4 heads x 32 (width 128), 8 frames, 32 videos (the demo's batch).

    python bench/temporal_attention.py                       # both presets, CPU
    python bench/temporal_attention.py --preset vitb16 --device cuda --batch 16

Last lines: ``ratio NAME VALUE`` (ours over released; < 1 means ours is faster / keeps less). Names measured on
CUDA contain ``cuda``.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F
from common import add_device_args, alternate, start, sync  # bench/common.py (scripts run as python bench/NAME.py)

PRESETS = {
    "vitb16": dict(tokens=197, heads=12, head_dim=64, frames=8, batch=2),
    "tiny": dict(tokens=17, heads=4, head_dim=32, frames=8, batch=32),
}


def released_attention(x: torch.Tensor, attn: torch.nn.MultiheadAttention, num_frames: int) -> torch.Tensor:
    """The released Open-VCLIP construction on batch-first ``(B*T, L, D)`` input (see the module docstring)."""
    n, length, width = x.shape
    heads = attn.num_heads
    dim = width // heads
    batch = n // num_frames
    q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)

    def per_head(t: torch.Tensor) -> torch.Tensor:  # (n, L, D) -> (n*H, L, d), as nn.MultiheadAttention lays it out
        return t.transpose(0, 1).contiguous().view(length, n * heads, dim).transpose(0, 1)

    q, k, v = per_head(q) / dim**0.5, per_head(k), per_head(v)

    def expand(t: torch.Tensor) -> torch.Tensor:  # (n*H, L, d) -> (n*H, 3L, d): [next, previous, current], zeros
        t = t.reshape(batch, num_frames, heads, length, dim).permute(0, 1, 2, 4, 3).contiguous()
        t = t.view(batch, num_frames, heads * dim, length)
        out = torch.zeros((batch, num_frames, heads * dim, 3 * length), device=t.device, dtype=t.dtype)
        out[:, :-1, :, :length] = t[:, 1:]
        out[:, 1:, :, length : 2 * length] = t[:, :-1]
        out[:, :, :, 2 * length :] = t
        out = out.view(batch, num_frames, heads, dim, 3 * length).permute(0, 1, 2, 4, 3).contiguous()
        return out.view(n * heads, 3 * length, dim)

    k, v = expand(k), expand(v)
    weights = torch.softmax(torch.bmm(q, k.transpose(-2, -1)), dim=-1)
    out = torch.bmm(weights, v)  # (n*H, L, d)
    out = out.transpose(0, 1).contiguous().view(length, n, width).transpose(0, 1)
    return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)


def build(preset: dict, device: torch.device, boundaries):
    """One-block open_clip vision towers patched with our attention (one per boundary), same weights."""
    from open_clip.transformer import VisionTransformer

    from openvclip.models import enable_temporal_attention, temporal

    width = preset["heads"] * preset["head_dim"]
    patch = 16
    side = int(round((preset["tokens"] - 1) ** 0.5))
    assert side * side + 1 == preset["tokens"], "tokens must be a square number of patches + 1 (class token)"
    torch.manual_seed(0)
    tower = (
        VisionTransformer(
            image_size=side * patch,
            patch_size=patch,
            width=width,
            layers=1,
            heads=preset["heads"],
            mlp_ratio=4.0,
            output_dim=64,
        )
        .to(device)
        .train()
    )
    blocks = {}
    for boundary in boundaries:
        patched = enable_temporal_attention(copy.deepcopy(tower), boundary=boundary)
        block = patched.transformer.resblocks[0]
        # The frame count is normally set by the patched transformer's forward for each block it runs; set it here
        # because only the attention sub-layer is called.
        setattr(block, temporal._FRAMES_ATTR, preset["frames"])
        blocks[boundary] = block
    return tower.transformer.resblocks[0], blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--preset",
        choices=("tiny", "vitb16", "all"),
        default="all",
        help="shape to measure (default: all = vitb16 then tiny)",
    )
    parser.add_argument("--batch", type=int, help="videos per step (default: the preset's, 2 for vitb16, 32 tiny)")
    parser.add_argument("--frames", type=int, help="frames per video (default 8)")
    parser.add_argument(
        "--boundary",
        choices=("mask", "zeros"),
        default="mask",
        help="our boundary mode in the ratios (default mask; the other is printed too)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions, alternating (default 5)")
    parser.add_argument(
        "--min-time", type=float, default=1.0, help="seconds each contender's repetition lasts at least (default 1.0)"
    )
    add_device_args(parser)
    args = parser.parse_args()
    device = start(parser, args)
    tag = "_cuda" if device.type == "cuda" else ""
    other = "zeros" if args.boundary == "mask" else "mask"
    ratios = []
    for name in ("vitb16", "tiny") if args.preset == "all" else (args.preset,):
        preset = dict(PRESETS[name])
        preset["batch"] = args.batch or preset["batch"]
        preset["frames"] = args.frames or preset["frames"]
        time_ratio, mem_ratio = run_preset(name, preset, args, device, other)
        ratios.append((f"attention_time_{name}{tag}_ours_over_released", time_ratio))
        if name == "vitb16":
            ratios.append((f"attention_mem_{name}{tag}_ours_over_released", mem_ratio))
    for name, value in ratios:
        print(f"ratio {name} {value:.3f}")


def run_preset(name: str, preset: dict, args, device: torch.device, other: str):
    reference, ours = build(preset, device, (args.boundary, other))
    frames, batch, tokens = preset["frames"], preset["batch"], preset["tokens"]
    width = preset["heads"] * preset["head_dim"]
    n = batch * frames
    batch_first = reference.attn.batch_first
    torch.manual_seed(1)
    x0 = torch.randn(n, tokens, width, device=device)
    grad_out = torch.randn(n, tokens, width, device=device)

    def layout(t):  # our blocks take open_clip's layout; the reference takes batch-first
        return t if batch_first else t.transpose(0, 1)

    def ours_step(block):
        def step():
            x = layout(x0).detach().requires_grad_(True)
            out = layout(block.attention(x))
            out.backward(grad_out)
            return out, layout(x.grad)

        return step

    def released_step():
        x = x0.detach().requires_grad_(True)
        out = released_attention(x, reference.attn, frames)
        out.backward(grad_out)
        return out, x.grad

    contenders = {
        f"ours ({args.boundary})": ours_step(ours[args.boundary]),
        f"ours ({other})": ours_step(ours[other]),
        "released": released_step,
    }
    modules = [reference] + list(ours.values())

    def run(step):
        for module in modules:
            module.zero_grad(set_to_none=True)
        return step()

    # Same output (and input gradient) as the released construction, with the released boundary.
    out_ref, grad_ref = run(released_step)
    out_zeros, grad_zeros = run(ours_step(ours["zeros"]))
    out_diff = (out_ref - out_zeros).abs().max().item()
    grad_diff = (grad_ref - grad_zeros).abs().max().item()
    assert torch.allclose(out_zeros, out_ref, rtol=1e-4, atol=1e-5), f"outputs differ by up to {out_diff:.3g}"
    assert torch.allclose(grad_zeros, grad_ref, rtol=1e-4, atol=1e-5), f"input grads differ by up to {grad_diff:.3g}"
    del out_ref, grad_ref, out_zeros, grad_zeros

    # Memory.
    memory = {}
    params = {p.untyped_storage().data_ptr() for module in modules for p in module.parameters()}
    for label, step in contenders.items():
        if device.type == "cuda":
            for module in modules:
                module.zero_grad(set_to_none=True)
            sync(device)
            base = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            step()
            sync(device)
            memory[label] = torch.cuda.max_memory_allocated(device) - base
        else:
            seen = {}

            def pack(t):
                storage = t.untyped_storage()
                if storage.data_ptr() not in params:
                    seen[storage.data_ptr()] = storage.nbytes()  # noqa: B023 (runs inside this iteration)
                return t

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                run(step)
            memory[label] = sum(seen.values())

    # Warm-up and calibration of the inner loop.
    inner = {}
    for label, step in contenders.items():
        run(step)
        sync(device)
        began = time.perf_counter()
        run(step)
        sync(device)
        inner[label] = max(1, int(args.min_time / max(time.perf_counter() - began, 1e-6)) + 1)
    count = max(inner.values())
    # Each sample: `count` steps in a row, the contenders in rotating order (bench/common.py); warm already.
    median = alternate(
        {label: lambda step=step: run(step) for label, step in contenders.items()},
        args.repeats,
        device,
        warmup=0,
        calls=count,
    )

    memory_kind = "peak allocated" if device.type == "cuda" else "autograd-saved"
    print(
        f"\n{name}: {batch} videos x {frames} frames, {tokens} tokens, {preset['heads']} heads x "
        f"{preset['head_dim']} (width {width}), float32, forward+backward of the attention sub-layer; "
        f"median of {args.repeats} repetitions x {count} steps"
    )
    print(f"check: ours (zeros) vs released: max |output diff| {out_diff:.2e}, max |input grad diff| {grad_diff:.2e}")
    print(f"{'contender':<14} {'ms/step':>10} {'x released':>11} {memory_kind + ' MiB':>22} {'x released':>11}")
    for label in contenders:
        print(
            f"{label:<14} {median[label] * 1e3:10.2f} {median[label] / median['released']:11.3f} "
            f"{memory[label] / 2**20:22.1f} {memory[label] / memory['released']:11.3f}"
        )
    ours_label = f"ours ({args.boundary})"
    return median[ours_label] / median["released"], memory[ours_label] / memory["released"]


if __name__ == "__main__":
    main()
