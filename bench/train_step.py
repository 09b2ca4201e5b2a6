"""Cost of one optimizer step: plain fine-tuning vs our interpolated objective vs the released code's approach.

Contenders, on the same model, batch and optimizer:
  plain        one forward/backward at theta
  interp       ours: interpolated_backward(...), the two passes backpropagated in turn (what `fit` runs); the
               interpolated pass runs functionally on theta_alpha = alpha*theta0 + (1-alpha)*theta
  summed       interpolated_loss(...).backward(): both passes' activations alive at once (the alternative)
  released     the released code's approach to the same objective: backward at theta, copy the state dict and the
               gradients aside, load theta_alpha into the module, forward/backward, restore theta, add the
               gradients back (a state-dict-sized copy per step)
  froster      FROSTER's objective (openvclip/train/distill.py): plain's pass plus the frozen image CLIP's forward
               (no gradient, no activations kept) and the video distillation through the residual head; the
               text tower frozen (the teacher pass should cost about one forward and nothing in backward)
  froster_text the same with the text tower training, as released: the classes' prompts (--classes classes, one
               template + the bare description each) re-embedded by student and teacher every step

Time: all contenders in one process, alternating (the order rotates every repetition) after a warm-up; medians.
Peak memory: on CUDA, max allocated per contender in the same process (reset before each); on CPU the resident
set only grows within a process, so each contender's peak RSS is measured in a fresh process of its own
(MALLOC_MMAP_THRESHOLD_ so freed blocks leave the RSS). Memory ratios compare whole-process peaks (model,
optimizer state and the libraries included), as a user's job sees them.

Where the memory goes (ViT-B-32, CPU): plain fine-tuning peaks at the end of its forward pass, before any gradient
exists; interp adds theta0, theta_alpha and the first pass's gradients, alive while the second pass runs; summed
adds theta0, theta_alpha and the first pass's activations instead (worse at real batch sizes).

    python bench/train_step.py                          # ViT-B-32 (random weights, no download), 2 videos x 8 frames
    python bench/train_step.py --model tiny             # seconds, a smoke run
    python bench/train_step.py --device cuda --preset vitb16 --batch 8

Last lines: ``ratio NAME VALUE`` (ours over the other; names carry ``cuda`` when measured on a GPU).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys

from common import alternate, machine_line  # bench/common.py (scripts run as python bench/NAME.py)

CONTENDERS = ("plain", "interp", "summed", "released", "froster", "froster_text")


def build(args):
    import torch
    import torch.nn.functional as F

    from openvclip.models import (
        build_clip,
        build_tokenizer,
        enable_temporal_attention,
        encode_video,
        text_parameters,
        video_logits,
        vision_parameters,
    )
    from openvclip.models.descriptions import ClassText
    from openvclip.train import TrainConfig, interpolated_backward, interpolated_loss
    from openvclip.train.distill import DistillHeads, StepText, froster_batch_loss

    torch.manual_seed(0)
    device = torch.device(args.device)
    if args.model == "tiny":
        spec = {
            "config": {
                "embed_dim": 64,
                "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 128, "layers": 4, "head_width": 32},
                "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
            }
        }
    else:
        spec = {"name": args.model}
    model = enable_temporal_attention(build_clip(spec, device=device)).train()
    # The frozen teacher (theta0 without temporal attention), built only where a FROSTER contender runs, so a
    # contender's own-process peak memory holds only what that contender needs.
    needs_teacher = args.memory_of in (None, "froster", "froster_text")
    teacher = build_clip(spec, device=device).eval().requires_grad_(False) if needs_teacher else None
    if args.checkpointing:
        model.visual.set_grad_checkpointing(True)
    size = model.visual.image_size
    size = size if isinstance(size, int) else size[0]
    params = vision_parameters(model)
    theta0 = {k: v.detach().clone() for k, v in params.items()}
    video = torch.randn(args.batch, args.frames, 3, size, size, device=device)
    labels = torch.randint(0, min(10, args.classes), (args.batch,), device=device)
    classifier = F.normalize(torch.randn(model.visual.output_dim, 10, device=device), dim=0)
    heads = DistillHeads(model.visual.output_dim).to(device)
    text_params = dict(text_parameters(model))
    optimizer = torch.optim.AdamW([*params.values(), *heads.parameters()], lr=1e-6)
    text_optimizer = torch.optim.AdamW(text_params.values(), lr=1e-6)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.float16)) if args.amp else None

    def loss_of(weights):
        if autocast is None:
            logits = video_logits(encode_video(model, video, params=weights), classifier, model.logit_scale.detach())
        else:
            with autocast():
                logits = video_logits(
                    encode_video(model, video, params=weights), classifier, model.logit_scale.detach()
                )
        return F.cross_entropy(logits.float(), labels)

    alpha, lam = 0.3, 0.5

    # FROSTER's contenders run the package's loss, the one fit runs (CE + 2.0 * (video distance [+ text distance]))
    froster_cfg = TrainConfig(objective="froster", num_frames=args.frames, train_text=True)
    step_text = StepText(
        [ClassText(f"class {c}", (f"class {c}: a description",)) for c in range(args.classes)],
        ["a video of {}."],
        build_tokenizer(spec),
    )
    step_text.tokens(froster_cfg.seed, 0)  # fit tokenizes each template's prompts on its first draw

    def froster_loss(train_text):
        loss_of = froster_batch_loss(
            model,
            teacher,
            heads,
            classifier,
            step_text if train_text else None,
            froster_cfg,
            autocast or contextlib.nullcontext,
            0,
            video,
            labels,
            args.batch,
            args.batch,
        )
        return loss_of(params)

    def step(mode):
        optimizer.zero_grad(set_to_none=True)
        text_optimizer.zero_grad(set_to_none=True)
        model.requires_grad_(False)
        for p in [*params.values(), *(text_params.values() if mode == "froster_text" else [])]:
            p.requires_grad_(True)
        if mode == "plain":
            loss_of(None).backward()
        elif mode in ("froster", "froster_text"):
            froster_loss(mode == "froster_text").backward()
            if mode == "froster_text":
                text_optimizer.step()
        elif mode == "interp":
            interpolated_backward(loss_of, params, theta0, alpha, lam)
        elif mode == "summed":
            interpolated_loss(loss_of, params, theta0, alpha, lam).backward()
        else:
            loss_of(None).backward()
            saved = {k: p.detach().clone() for k, p in params.items()}
            grads = {k: p.grad.clone() for k, p in params.items()}
            with torch.no_grad():
                for k, p in params.items():
                    p.copy_(alpha * theta0[k] + (1 - alpha) * p)
                    p.grad = None
            (lam * loss_of(None)).backward()
            with torch.no_grad():
                for k, p in params.items():
                    p.copy_(saved[k])
                    p.grad += grads[k]
        optimizer.step()

    param_mb = sum(p.numel() * p.element_size() for p in params.values()) / 2**20
    return step, device, param_mb


def peak_rss_mb() -> float:
    """This process's peak resident set (MiB). VmHWM, not getrusage's ru_maxrss: ru_maxrss survives fork+exec, so
    a child started by a big parent would report the parent's peak."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_of(mode: str, args) -> float:
    """Peak RSS (MiB) of a fresh process that builds the model and runs ``mode`` (CPU memory)."""
    command = [sys.executable, __file__, "--memory-of", mode] + [a for a in sys.argv[1:]]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture (random weights), or 'tiny'")
    parser.add_argument(
        "--preset", choices=("vitb16", "vitb32", "tiny"), help="shortcut for --model ViT-B-16 / ViT-B-32 / tiny"
    )
    parser.add_argument("--batch", type=int, default=2, help="videos per step (default 2)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=4, help="timed steps per contender (default 4)")
    parser.add_argument("--classes", type=int, default=10, help="froster_text: classes re-embedded each step")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--amp", action="store_true", help="fp16 autocast (CUDA), as the paper's training")
    parser.add_argument("--checkpointing", action="store_true", help="gradient checkpointing on")
    parser.add_argument("--memory-of", choices=CONTENDERS, help=argparse.SUPPRESS)  # internal: one CPU peak
    args = parser.parse_args()
    if args.preset:
        args.model = {"vitb16": "ViT-B-16", "vitb32": "ViT-B-32", "tiny": "tiny"}[args.preset]
    import torch

    torch.set_num_threads(args.threads)
    if args.memory_of:
        step, device, _ = build(args)
        for _ in range(2):
            step(args.memory_of)
        print(json.dumps({"peak_mb": peak_rss_mb()}))
        return

    step, device, param_mb = build(args)
    peaks = {}

    def reset_peak(mode):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def read_peak(mode):
        if device.type == "cuda":
            peaks[mode] = max(peaks.get(mode, 0.0), torch.cuda.max_memory_allocated(device) / 2**20)

    # After a warm-up round (allocator, kernels, lazy initialisation), the contenders in rotating order.
    medians = alternate(
        {mode: lambda mode=mode: step(mode) for mode in CONTENDERS},
        args.repeats,
        device,
        before=reset_peak,
        after=read_peak,
    )
    if device.type != "cuda":
        peaks = {mode: peak_rss_of(mode, args) for mode in CONTENDERS}
    memory = "peak allocated" if device.type == "cuda" else "peak RSS (own process)"
    print(machine_line(device))
    print(
        f"model {args.model}{' + grad checkpointing' if args.checkpointing else ''}"
        f"{' + fp16 autocast' if args.amp else ''}, "
        f"{args.batch} videos x {args.frames} frames, median of {args.repeats} alternating steps; "
        f"vision parameters {param_mb:.1f} MiB"
    )
    print(f"{'contender':<12} {'s/step':>8} {'x plain':>8} {memory + ' MiB':>28} {'x plain':>8}")
    for mode in CONTENDERS:
        print(
            f"{mode:<12} {medians[mode]:8.3f} {medians[mode] / medians['plain']:8.2f} {peaks[mode]:28.1f} "
            f"{peaks[mode] / peaks['plain']:8.2f}"
        )
    tag = "_cuda" if device.type == "cuda" else ""
    print(f"ratio step_time_interp_over_plain{tag} {medians['interp'] / medians['plain']:.3f}")
    print(f"ratio step_mem_interp_over_plain{tag} {peaks['interp'] / peaks['plain']:.3f}")
    print(f"ratio step_time_interp_over_released{tag} {medians['interp'] / medians['released']:.3f}")
    print(f"ratio step_mem_interp_over_released{tag} {peaks['interp'] / peaks['released']:.3f}")
    print(f"ratio step_time_summed_over_plain{tag} {medians['summed'] / medians['plain']:.3f}")
    print(f"ratio step_time_froster_over_plain{tag} {medians['froster'] / medians['plain']:.3f}")
    print(f"ratio step_mem_froster_over_plain{tag} {peaks['froster'] / peaks['plain']:.3f}")
    print(f"ratio step_time_froster_text_over_plain{tag} {medians['froster_text'] / medians['plain']:.3f}")


if __name__ == "__main__":
    main()
