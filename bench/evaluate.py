"""Zero-shot evaluation over a sweep of interpolation ratios: videos per second, sweep vs decoding per ratio.

Both contenders score one demo-like zero-shot set (appearance labels: colour + shape) at every ratio of the sweep
(default 11: 0.0, 0.1, ..., 1.0), with the text classifier built once beforehand (cached, not timed):

- ``sweep``: ``openvclip.eval.evaluate.sweep``, what ``openvclip`` runs: each chunk of videos is read from the
  frame store once and embedded at every ratio.
- ``per_ratio``: the naive way, per ratio ``model.load_state_dict(interpolate(theta0, theta, ratio))``, then
  ``embed_videos`` over the whole store (every video read and, for a JPEG store, decoded again) and
  ``score_set``.

Videos/s counts video-ratio pairs: videos x ratios / seconds. The script asserts that both give the same
scores.

The model is the demo's CLIP (``clip.model.config`` of ``config.yaml``, with a built-in copy if that file
cannot be read) with temporal attention (boundary ``mask``), random weights; theta is theta0 plus small noise
(standing in for fine-tuned weights, so every ratio loads different weights). The videos come from the demo's
synthetic world (``openvclip.data.synthetic.render_video``: coloured shapes that move, 8 frames of 32x32),
written as the demo writes them (lossless H.264) and extracted into a frame store with
``openvclip.data.frame_writer.write_store``: ``raw`` by default, as the demo does (a memory-mapped array: reading is a
copy, so the sweep can only save that copy); ``--format jpeg`` stores JPEG frames as the real-data configs do.

Timing: one warm-up of each contender on two ratios, then ``--repeats`` repetitions in this process, the
contenders' order alternating; medians. On CUDA (``--device cuda``) timers are read after synchronising and each
contender's peak allocated memory is printed (``reset_peak_memory_stats``/``max_memory_allocated``).

    python bench/evaluate.py [--videos 256] [--ratios 11] [--repeats 3] [--format raw|jpeg] [--device cpu]

Last line: ``ratio evaluate_videos_per_s_sweep_over_per_ratio_decode VALUE`` (videos/s of the sweep over videos/s
of decoding per ratio: > 1 means the sweep is faster; ``_jpeg`` / ``_cuda`` in the name for those settings).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import add_device_args, alternate, start  # bench/common.py (scripts run as python bench/NAME.py)

# config.yaml's clip.model.config (the demo CLIP), used when config.yaml cannot be read.
DEMO_CLIP = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 128, "layers": 4, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 3},
}
TEMPLATES = ["a photo of a {}.", "a video of a {}.", "{}"]


def demo_settings():
    """``(clip config, world dict, templates, source)`` from config.yaml, or the built-in copies."""
    try:
        import yaml

        config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
        return (
            config["clip"]["model"]["config"],
            config.get("world", {}),
            config.get("text", {}).get("templates", TEMPLATES),
            "config.yaml",
        )
    except Exception:  # a missing or edited file: the benchmark still runs on the demo's sizes
        return DEMO_CLIP, {}, TEMPLATES, "built-in copy of the demo config"


def make_store(folder: Path, world, count: int, fmt: str, seed: int):
    """Render ``count`` synthetic videos, write them as the demo does, extract a frame store; returns
    ``(store, labels, classnames)``."""
    from openvclip.data.frame_store import open_store
    from openvclip.data.frame_writer import FrameSettings, write_store
    from openvclip.data.synthetic import MOTIONS, all_objects, object_name, render_video
    from openvclip.data.videos import write_video

    rng = np.random.default_rng(seed)
    objects = all_objects()[:24]  # the demo's appearance set has 24 objects (classes)
    classnames = [object_name(o) for o in objects]
    paths, labels = [], []
    for i in range(count):
        label = i % len(objects)
        motion = MOTIONS[rng.integers(len(MOTIONS))]
        path = folder / "videos" / f"{i:05d}.mp4"
        write_video(path, render_video(world, objects[label], motion, rng))
        paths.append(path)
        labels.append(label)
    frames = FrameSettings(world.num_frames, world.image_size, views=1, rate=0, format=fmt)
    write_store(paths, folder / "store", frames, progress=False)
    return open_store(folder / "store"), np.asarray(labels), classnames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--videos",
        type=int,
        default=256,
        help="videos in the set (default 256; the demo's zero-shot sets have 512: val 128 + test 384)",
    )
    parser.add_argument("--ratios", type=int, default=11, help="ratios in the sweep, evenly 0..1 (default 11)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions, alternating (default 3)")
    parser.add_argument(
        "--batch-size", type=int, default=256, help="videos per forward pass (default 256, the demo's eval.batch_size)"
    )
    parser.add_argument(
        "--format", choices=("raw", "jpeg"), default="raw", help="frame store format (default raw, the demo's)"
    )
    add_device_args(parser)
    args = parser.parse_args()
    device = start(parser, args)

    from openvclip.data.synthetic import World
    from openvclip.eval.evaluate import EvalSet, embed_videos, score_set, sweep
    from openvclip.models import build_classifier, build_clip, build_tokenizer, vision_parameters
    from openvclip.weights import interpolate

    clip_config, world_values, templates, source = demo_settings()
    world = World.from_dict(world_values) if world_values else World()
    spec = {"config": clip_config, "temporal": {"enabled": True, "boundary": "mask"}}
    torch.manual_seed(0)
    model = build_clip(spec, device=device)
    theta0 = {k: v.detach().clone() for k, v in vision_parameters(model).items()}
    theta = {k: v + 0.01 * v.abs().mean() * torch.randn_like(v) for k, v in theta0.items()}
    ratios = [round(float(r), 4) for r in np.linspace(0.0, 1.0, args.ratios)]

    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        store, labels, classnames = make_store(Path(tmp), world, args.videos, args.format, seed=0)
        setup_seconds = time.perf_counter() - began
        classifier = build_classifier(model, build_tokenizer(spec), classnames, templates).cpu()
        item = EvalSet(
            name="appearance",
            protocol="zeroshot",
            store=store,
            labels=labels,
            splits=np.array(["test"] * len(labels)),
            text=classifier,
            eval_splits=("test",),
            views=store.meta["views"],
        )

        def run_sweep(ratio_list):
            return sweep(
                model,
                theta0,
                theta,
                ratio_list,
                [item],
                "bench",
                "bench",
                args.batch_size,
                device=device,
                progress=False,
            )

        def run_per_ratio(ratio_list):
            rows = []
            for ratio in ratio_list:
                model.load_state_dict(interpolate(theta0, theta, ratio), strict=False)
                embeddings = embed_videos(model, item.store, args.batch_size, device=device, views=item.views)
                rows += [{"ratio": ratio, **row} for row in score_set(embeddings, item)]
            return rows

        contenders = {"sweep": run_sweep, "per_ratio": run_per_ratio}
        # Warm-up, and the same scores from both.
        warm = ratios[:1] + ratios[-1:]
        scores = {
            name: {(row["ratio"], row["metric"]): row["value"] for row in run(warm)} for name, run in contenders.items()
        }
        assert scores["sweep"].keys() == scores["per_ratio"].keys(), "different rows"
        worst = max(abs(scores["sweep"][k] - scores["per_ratio"][k]) for k in scores["sweep"])
        # Same batches, so the same embeddings; allow one video to flip on a float tie at most.
        assert worst <= 100.0 / len(labels), f"scores differ by up to {worst} points"

        peaks = {name: [] for name in contenders}

        def reset_peak(name):
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)

        def read_peak(name):
            if device.type == "cuda":
                peaks[name].append(torch.cuda.max_memory_allocated(device))

        # Already warm (the scores above); the contenders in rotating order (bench/common.py).
        seconds = alternate(
            {name: lambda run=run: run(ratios) for name, run in contenders.items()},
            args.repeats,
            device,
            warmup=0,
            before=reset_peak,
            after=read_peak,
        )

    pairs = len(labels) * len(ratios)
    rate = {name: pairs / value for name, value in seconds.items()}
    print(
        f"model: demo CLIP from {source} (vision width {clip_config['vision_cfg']['width']}, "
        f"{clip_config['vision_cfg']['layers']} layers, {clip_config['vision_cfg']['image_size']} px), temporal "
        f"attention (mask), random weights"
    )
    print(
        f"set: {len(labels)} synthetic videos x {world.num_frames} frames of {world.image_size}x"
        f"{world.image_size}, {len(classnames)} classes, {args.format} frame store (rendered and extracted in "
        f"{setup_seconds:.1f} s, not timed); {len(ratios)} ratios, batch {args.batch_size}; "
        f"median of {args.repeats} runs; check: max |score difference| {worst:.4f} points"
    )
    memory = "  peak MiB" if device.type == "cuda" else ""
    print(f"{'contender':<10} {'s/sweep':>8} {'videos/s':>9}{memory}")
    for name, value in seconds.items():
        extra = f" {max(peaks[name]) / 2**20:9.1f}" if peaks[name] else ""
        print(f"{name:<10} {value:8.2f} {rate[name]:9.1f}{extra}")
    tag = ("_jpeg" if args.format == "jpeg" else "") + ("_cuda" if device.type == "cuda" else "")
    print(f"ratio evaluate_videos_per_s{tag}_sweep_over_per_ratio_decode {rate['sweep'] / rate['per_ratio']:.3f}")


if __name__ == "__main__":
    main()
