"""What the benchmarks share: the machine line, CUDA-aware timing, and natural-looking test videos."""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

import numpy as np
import torch


def machine_line(device: torch.device) -> str:
    """``machine: <CPU or GPU name>, <threads> torch threads, torch <version>, device <device>``."""
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor()
        cpuinfo = Path("/proc/cpuinfo")
        if cpuinfo.is_file():
            name = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo.read_text().splitlines()
                    if line.startswith("model name")
                ),
                name,
            )
        name = name or platform.machine()
    return f"machine: {name}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, device {device}"


def sync(device: torch.device) -> None:
    """Wait for queued CUDA work, so that a timer read after it measures the work."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def photo() -> np.ndarray:
    """matplotlib's sample photograph: natural-image statistics, unlike noise or flat colours, which make
    compression and decoding look far worse or far better than on real footage."""
    import matplotlib.cbook as cbook
    from PIL import Image

    return np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))


def pan_video(path: Path, image: np.ndarray, width: int, height: int, frames: int, seed: int, fps: int = 25) -> None:
    """A lossy H.264 video (yuv420p, crf 23) panning and zooming over ``image``, a different path per seed."""
    import av
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    start, end = rng.uniform(0, 1, 2), rng.uniform(0, 1, 2)
    zoom = rng.uniform(0.5, 0.8, 2)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for t in range(frames):
            a = t / max(frames - 1, 1)
            scale = zoom[0] + (zoom[1] - zoom[0]) * a
            cw = int(w * scale)
            ch = min(int(cw * height / width), h)
            x = int((w - cw) * (start[0] + (end[0] - start[0]) * a))
            y = int((h - ch) * (start[1] + (end[1] - start[1]) * a))
            crop = Image.fromarray(image[y : y + ch, x : x + cw]).resize((width, height), Image.BILINEAR)
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(crop), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def add_device_args(parser) -> None:
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's default)")


def start(parser, args) -> torch.device:
    """Apply --threads, check --device, print the machine line; returns the device."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device available")
    print(machine_line(device))
    return device


def alternate_samples(
    contenders: Mapping[str, Callable[[], Any]],
    repeats: int,
    device: torch.device,
    warmup: int = 1,
    calls: int = 1,
    before: Optional[Callable[[str], Any]] = None,
    after: Optional[Callable[[str], Any]] = None,
) -> Dict[str, List[float]]:
    """Seconds per call of each ``name: callable`` in ``contenders``, one sample per repetition: timed in turn, the
    order rotating every repetition (so that a machine's drift over the run falls on all of them alike), after
    ``warmup`` untimed rounds. A sample times ``calls`` calls in a row (for steps too short to time alone) and is
    divided by them. ``before(name)`` and ``after(name)`` run around each sample, outside the timer (e.g. to reset
    and read a GPU's peak memory)."""
    names = list(contenders)
    times: Dict[str, List[float]] = {name: [] for name in names}
    for repetition in range(warmup + repeats):
        shift = repetition % len(names)
        for name in names[shift:] + names[:shift]:
            if before is not None:
                before(name)
            sync(device)
            start_time = time.perf_counter()
            for _ in range(calls):
                contenders[name]()
            sync(device)
            if repetition >= warmup:
                times[name].append((time.perf_counter() - start_time) / calls)
            if after is not None:
                after(name)
    return times


def alternate(contenders: Mapping[str, Callable[[], Any]], repeats: int, device: torch.device, **options) -> dict:
    """The median of :func:`alternate_samples`' seconds per call, for each contender (same options)."""
    samples = alternate_samples(contenders, repeats, device, **options)
    return {name: statistics.median(values) for name, values in samples.items()}
