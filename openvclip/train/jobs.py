"""The training jobs of the workflow: pretrain the demo's CLIP (its theta0), train one variant. Each reads its
inputs, writes its outputs atomically and is one `openvclip` subcommand; `run` also runs under torchrun."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Optional, Tuple

import numpy as np
import torch

from ..data.clips import VideoClips
from ..data.lost_videos import SplitVideos, check_losses
from ..data.manifest import labelled, missing_path, read_missing, split_counts
from ..data.train_videos import read_index
from ..devices import current, setup, teardown
from ..errors import UserError
from ..io import write_json
from ..models import build_clip, build_tokenizer, input_size, load_clip, load_text
from ..models.descriptions import ClassText
from ..models.text import class_texts_of
from ..versions import versions
from ..weights import save_weights
from .config import TrainConfig
from .distill import StepText
from .loop import fit

log = logging.getLogger(__name__)


def pretrain_clip(
    model_spec: Mapping,
    world: Mapping,
    objects: Mapping,
    pretrain: Mapping,
    seed: int,
    out: Path,
    metrics: Path,
    progress: bool = True,
) -> dict:
    """Pretrain the demo CLIP on captioned still images (theta0 of the demo), and measure its zero-shot."""
    from ..data.synthetic import HELDOUT, World, all_objects, split_objects
    from .pretrain import PretrainConfig, zero_shot_accuracy
    from .pretrain import pretrain_clip as run

    cfg = PretrainConfig.from_dict({**pretrain, "seed": pretrain.get("seed", seed)})
    world_cfg = World.from_dict(world)
    torch.manual_seed(cfg.seed)
    model = build_clip(model_spec)
    tokenizer = build_tokenizer(model_spec)
    heldout = set(split_objects(seed, objects).get(HELDOUT, []))
    seen = [o for o in all_objects() if o not in heldout]
    log = run(model, tokenizer, world_cfg, seen, cfg, progress)
    accuracy = zero_shot_accuracy(model, tokenizer, world_cfg, all_objects(), cfg.eval_images_per_object, cfg.seed + 7)
    summary = {
        "zero_shot_top1_all": 100 * float(np.mean(list(accuracy.values()))),
        "zero_shot_top1_seen": 100
        * float(np.mean([v for k, v in accuracy.items() if tuple(k.split(" ", 1)) not in heldout])),
        "zero_shot_top1_heldout": 100 * float(np.mean([accuracy[f"{c} {s}"] for c, s in heldout])),
        "final_loss": log[-1]["loss"],
        "logit_scale": log[-1]["logit_scale"],
        "steps": cfg.steps,
    }
    save_weights(model.state_dict(), out, {"source": "synthetic pretraining", "seed": cfg.seed})
    write_json(
        metrics, {"summary": summary, "per_class_top1": accuracy, "log_every_50": log[::50], "versions": versions()}
    )
    return summary


def run(
    *,
    model_spec: Mapping,
    theta0: Path,
    temporal: bool,
    boundary: str,
    train: Mapping,
    videos: Path,
    manifest: Path,
    text: Path,
    column: str,
    out_dir: Path,
    device: str = "auto",
    progress: bool = True,
    max_unreadable: Optional[float] = None,
) -> dict:
    """Train one variant; under torchrun every process runs this and joins the process group first.
    ``max_unreadable``: the training set's limit on lost videos (None: the default)."""
    cfg = TrainConfig.from_dict(train)
    procs, device = setup(device)
    try:
        model = load_clip(model_spec, theta0, temporal, boundary)
        size = input_size(model)
        if cfg.crop_size != size:
            raise UserError(
                f"config key 'train.crop_size' = {cfg.crop_size} differs from the model's input size "
                f"{size}; set train.crop_size: {size} (and train.jitter_scales to match)"
            )
        _, classes, _ = labelled(manifest, column)
        payload = load_text(text)
        if payload.get("classnames") != classes:
            raise UserError(
                f"text classifier {text} was built for other classes than {manifest} labelled by {column!r}; rebuild it"
            )
        dataset, counts = training_clips(videos, manifest, column, cfg, max_unreadable)
        if current().main:  # the log says what training lost before it starts
            log.info(
                "training on %d videos; skipped %d unreadable (listed in %s) and %d missing on disk%s",
                counts["train_videos"],
                counts["train_videos_skipped"],
                videos,
                counts["train_videos_missing"],
                "".join(f"\n  {e}" for e in counts["train_videos_skipped_examples"]),
            )
        teacher, step_text = froster_inputs(cfg, model_spec, theta0, payload)
        result = fit(
            model,
            dataset,
            payload["classifier"],
            cfg,
            out_dir,
            device=device,
            progress=progress,
            metadata={"temporal": temporal, "boundary": boundary, "labels": column, **counts, "versions": versions()},
            teacher=teacher,
            step_text=step_text,
        )
        return {k: str(v) for k, v in result.items()}
    finally:
        teardown(procs)


def froster_inputs(cfg: TrainConfig, model_spec: Mapping, theta0: Path, payload: Mapping):
    """(teacher, step_text) of a FROSTER training: the frozen image CLIP (theta0 without temporal attention) and,
    when the text tower trains, the training classes' texts and templates to re-embed every step; (None, None)
    for the other objectives."""
    if not cfg.distilled:
        return None, None
    teacher = load_clip(model_spec, theta0, temporal=False).requires_grad_(False)
    if not cfg.trains_text:
        return teacher, None
    texts = [ClassText(t["name"], tuple(t["descriptions"])) for t in class_texts_of(payload)]
    return teacher, StepText(texts, payload["templates"], build_tokenizer(model_spec))


def training_clips(
    index: Path, manifest: Path, column: str, cfg, max_unreadable: Optional[float] = None
) -> Tuple[torch.utils.data.Dataset, dict]:
    """The training set: the indexed training videos that decode (clips drawn on the fly), and what was lost;
    more lost (missing on disk or unreadable) than ``max_unreadable`` allows is refused."""
    rows, classes, labels = labelled(manifest, column)
    entries = read_index(index)
    if any(int(e["row"]) >= len(rows) for e in entries):
        raise UserError(
            f"training-video index {index} does not match manifest {manifest} (rows past its end); "
            "re-run the train_videos rule"
        )
    if not entries:
        raise UserError(
            f"the training set is empty: manifest {manifest} has no rows of split 'train' (training-video index "
            f"{index}); give the data set a train split (its annotation files, or the config's "
            "datasets.<name>.splits.train)"
        )
    usable = [e for e in entries if e["status"] == "ok"]
    lost = [e for e in entries if e["status"] != "ok"]
    if not usable:
        raise UserError(f"none of the {len(entries)} training videos indexed in {index} is readable")
    missing = split_counts(read_missing(manifest).values(), ["train"])["train"]
    check_losses(
        Path(manifest).stem,
        "train",
        SplitVideos(missing, len(lost), len(usable)),
        max_unreadable,
        str(missing_path(manifest)),
        f"{index} (column 'error')",
    )
    dataset = VideoClips(
        [e["path"] for e in usable], [int(labels[int(e["row"])]) for e in usable], cfg.augmentation(), seed=cfg.seed
    )
    return dataset, {
        "train_videos": len(usable),
        "train_videos_skipped": len(lost),
        "train_videos_missing": missing,
        "train_videos_skipped_examples": [f"{e['source']}: {e['error']}" for e in lost[:10]],
        "classes": len(classes),
    }
