"""Cost of one training step: plain fine-tuning vs the interpolated objective, side by side.

Modes, each run in its own fresh process (so peak memory is its own):
  plain       one forward/backward at theta
  summed      interpolated_loss(...).backward(): both passes' activations alive at once
  pass_by_pass interpolated_backward(...): backward each pass in turn (what the training loop runs)
  swap        the released code's approach: copy theta aside, load theta_alpha into the module, forward/backward,
              restore theta (a state-dict-sized copy per step)

Where the memory goes (measured with ViT-B-32 on CPU): plain fine-tuning peaks at the end of its forward pass,
before any gradient exists. pass_by_pass adds theta0, theta_alpha and the first pass's gradients, which are
alive while the second pass runs (three parameter-sized sets); summed adds theta0, theta_alpha and the first
pass's activations instead. With real batches activations outweigh parameters, so pass_by_pass is the default.

Prints median seconds per step and peak memory (max RSS on CPU, max allocated on CUDA), and each as a ratio to
plain. Random weights of an open_clip architecture (no download): ViT-B-32 at 224 px by default.

    python bench/interpolated_step.py                 # ViT-B-32, 2 videos x 8 frames, 4 timed steps
    python bench/interpolated_step.py --model tiny    # seconds, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

MODES = ("plain", "summed", "pass_by_pass", "swap")


def run_mode(args) -> dict:
    import torch
    import torch.nn.functional as F

    from openvclip.models import build_clip, enable_temporal_attention, encode_video, video_logits, vision_parameters
    from openvclip.train import interpolated_backward, interpolated_loss

    torch.manual_seed(0)
    device = torch.device(args.device)
    if args.model == "tiny":
        spec = {"config": {"embed_dim": 64, "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 128,
                                                           "layers": 4, "head_width": 32},
                           "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2,
                                        "layers": 1}}}
    else:
        spec = {"name": args.model}
    model = enable_temporal_attention(build_clip(spec, device=device)).train()
    if args.checkpointing:
        model.visual.set_grad_checkpointing(True)
    size = model.visual.image_size
    size = size if isinstance(size, int) else size[0]
    params = vision_parameters(model)
    # theta0 is part of the interpolated objective's cost: plain fine-tuning does not hold it.
    theta0 = {k: v.detach().clone() for k, v in params.items()} if args.mode != "plain" else None
    video = torch.randn(args.batch, args.frames, 3, size, size, device=device)
    labels = torch.randint(0, 10, (args.batch,), device=device)
    classifier = F.normalize(torch.randn(model.visual.output_dim, 10, device=device), dim=0)
    optimizer = torch.optim.AdamW(params.values(), lr=1e-6)

    def loss_of(weights):
        logits = video_logits(encode_video(model, video, params=weights), classifier, model.logit_scale.detach())
        return F.cross_entropy(logits, labels)

    def step():
        optimizer.zero_grad(set_to_none=True)
        if args.mode == "plain":
            loss_of(None).backward()
        elif args.mode == "summed":
            interpolated_loss(loss_of, params, theta0, 0.3).backward()
        elif args.mode == "pass_by_pass":
            interpolated_backward(loss_of, params, theta0, 0.3)
        else:
            loss_of(None).backward()
            saved = {k: p.detach().clone() for k, p in params.items()}
            grads = {k: p.grad.clone() for k, p in params.items()}
            with torch.no_grad():
                for k, p in params.items():
                    p.copy_(0.3 * theta0[k] + 0.7 * p)
                    p.grad = None
            (0.5 * loss_of(None)).backward()
            with torch.no_grad():
                for k, p in params.items():
                    p.copy_(saved[k])
                    p.grad += grads[k]
        optimizer.step()

    step()  # warm-up (allocator, kernels)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.repeats):
        began = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    param_mb = sum(p.numel() * p.element_size() for p in params.values()) / 2**20
    return {"mode": args.mode, "seconds": statistics.median(times), "peak_mb": peak, "param_mb": param_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture name, or 'tiny'")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpointing", action="store_true", help="gradient checkpointing on")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # internal: one mode in this process
    args = parser.parse_args()
    if args.mode:
        import torch
        torch.set_num_threads(args.threads)
        print(json.dumps(run_mode(args)))
        return
    results = {}
    for mode in MODES:
        command = [sys.executable, __file__, "--mode", mode] + sys.argv[1:]
        # Large blocks through mmap, so that freed memory leaves the RSS and the peak is the real one.
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
        out = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    base = results["plain"]
    memory = "peak allocated" if args.device.startswith("cuda") else "peak RSS"
    print(f"model {args.model}, {args.batch} videos x {args.frames} frames, {args.device}, "
          f"{args.threads} threads, median of {args.repeats}; vision parameters {base['param_mb']:.1f} MiB")
    print(f"{'mode':<13} {'s/step':>8} {'x plain':>8} {memory + ' MiB':>18} {'x plain':>8} {'+MiB':>8}")
    for mode, r in results.items():
        print(f"{mode:<13} {r['seconds']:8.3f} {r['seconds'] / base['seconds']:8.2f} {r['peak_mb']:18.1f} "
              f"{r['peak_mb'] / base['peak_mb']:8.2f} {r['peak_mb'] - base['peak_mb']:8.1f}")


if __name__ == "__main__":
    main()
