"""Contrastive pretraining of the demo's small CLIP on captioned still images of the synthetic world.

It stands in for OpenAI's weights: the result is the demo's theta0. Each batch holds every pretraining object
once (a random permutation), so open_clip's ``ClipLoss``, which treats only the matching pair as positive, never
pushes apart two images of the same class. A share of the images are long exposures of a moving object captioned
with its motion ("a photo of a red circle moving sideways"): like real CLIP, which learns action words from
photos, the demo CLIP then knows what motion words mean, although a single sharp video frame shows no motion.
Exposures come in pairs of one object doing two different motions, so captions can only be matched by telling
the motions apart (with each object once per batch, the object alone would match them and the motion words
would stay meaningless: measured, their text embeddings had cosines up to 0.99).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Sequence

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..config import from_mapping
from ..data.loader import normalise
from ..data.synthetic import MOTIONS, World, label_text, object_name, render_exposure, render_image
from ..errors import UserError
from ..models import build_classifier
from .rng import seed_everything
from .schedule import warmup_cosine_scheduler

CAPTION_TEMPLATES = ("a photo of a {}.", "a picture of a {}.", "a {}.", "{}")


@dataclasses.dataclass
class PretrainConfig:
    """The ``clip.pretrain`` section."""

    steps: int = 1200
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 100
    images_per_object: int = 400  # pool of pre-rendered images, reused across steps
    exposures_per_motion: int = 20  # pool of long exposures per object and motion
    exposure_share: float = 0.5  # share of each batch that are long exposures (pairs: one object, two motions)
    eval_images_per_object: int = 10
    seed: int = 0

    def validate(self) -> None:
        for key in ("steps", "images_per_object", "exposures_per_motion", "eval_images_per_object"):
            if getattr(self, key) < 1:
                raise UserError(f"config key 'clip.pretrain.{key}' must be >= 1, got {getattr(self, key)}")
        if not 0.0 <= self.exposure_share <= 1.0:
            raise UserError(f"config key 'clip.pretrain.exposure_share' must be in [0, 1], got {self.exposure_share}")
        if not 0 <= self.warmup_steps <= self.steps:
            raise UserError(
                f"config key 'clip.pretrain.warmup_steps' must be in 0 .. clip.pretrain.steps, got {self.warmup_steps}"
            )

    @classmethod
    def from_dict(cls, values) -> "PretrainConfig":
        return from_mapping(cls, values, "clip.pretrain")


def render_pool(world: World, objects: Sequence, per_object: int, seed: int) -> np.ndarray:
    """``(per_object, len(objects), H, W, 3)`` uint8 still images."""
    rng = np.random.default_rng(seed)
    return np.stack([np.stack([render_image(world, obj, rng) for obj in objects]) for _ in range(per_object)])


def render_exposure_pool(world: World, objects: Sequence, per_motion: int, seed: int) -> np.ndarray:
    """``(per_motion, len(objects), len(MOTIONS), H, W, 3)`` uint8 long exposures."""
    rng = np.random.default_rng([seed, 1])
    return np.stack(
        [
            np.stack([np.stack([render_exposure(world, obj, motion, rng) for motion in MOTIONS]) for obj in objects])
            for _ in range(per_motion)
        ]
    )


@torch.no_grad()
def zero_shot_accuracy(
    model,
    tokenizer,
    world: World,
    objects: Sequence,
    per_object: int,
    seed: int,
    templates: Sequence[str] = CAPTION_TEMPLATES,
) -> Dict[str, float]:
    """Top-1 over all ``objects`` as classes, on freshly rendered images; per object name."""
    model.eval()
    classifier = build_classifier(model, tokenizer, [object_name(o) for o in objects], templates)
    pool = render_pool(world, objects, per_object, seed)
    images = normalise(torch.from_numpy(pool.reshape(-1, *pool.shape[2:])))
    features = F.normalize(model.encode_image(images), dim=-1)
    predictions = (features @ classifier).argmax(-1).view(per_object, len(objects))
    correct = predictions == torch.arange(len(objects))[None, :]
    return {object_name(o): float(correct[:, i].float().mean()) for i, o in enumerate(objects)}


def pretrain_clip(
    model, tokenizer, world: World, objects: Sequence, cfg: PretrainConfig, progress: bool = True
) -> List[dict]:
    """Train ``model`` contrastively on captioned images of ``objects``; returns the per-step log."""
    seed_everything(cfg.seed)
    pool = torch.from_numpy(render_pool(world, objects, cfg.images_per_object, cfg.seed))
    exposures = torch.from_numpy(render_exposure_pool(world, objects, cfg.exposures_per_motion, cfg.seed))
    rng = np.random.default_rng(cfg.seed + 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = warmup_cosine_scheduler(optimizer, cfg.steps, cfg.warmup_steps, cfg.lr, 0.0, 0.0)
    loss_fn = open_clip.ClipLoss()
    model.train()
    log = []
    pairs = int(round(len(objects) * cfg.exposure_share)) // 2  # objects shown as two exposures each
    bar = tqdm(range(cfg.steps), desc="pretrain CLIP", disable=not progress)
    for step in bar:
        # Every caption in a batch is distinct: still objects, then (object, motion) pairs on other objects.
        order = rng.permutation(len(objects))
        still, paired = order[: len(objects) - 2 * pairs], order[len(objects) - 2 * pairs :][:pairs]
        motions = (
            np.stack([rng.choice(len(MOTIONS), 2, replace=False) for _ in paired]).reshape(-1)
            if pairs
            else np.zeros(0, int)
        )
        paired = np.repeat(paired, 2)
        images = torch.cat(
            [
                pool[rng.integers(0, cfg.images_per_object, size=len(still)), still],
                exposures[rng.integers(0, cfg.exposures_per_motion, size=len(paired)), paired, motions],
            ]
        )
        names = [object_name(objects[i]) for i in still] + [
            label_text(objects[i], MOTIONS[m], "object_motion") for i, m in zip(paired, motions)
        ]
        images = normalise(images)
        captions = [
            CAPTION_TEMPLATES[t].format(name)
            for name, t in zip(names, rng.integers(0, len(CAPTION_TEMPLATES), size=len(names)))
        ]
        image_features, text_features, logit_scale = model(images, tokenizer(captions))[:3]
        loss = loss_fn(image_features, text_features, logit_scale)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():  # as in CLIP: keep the temperature below 100
            model.logit_scale.clamp_(0, math.log(100))
        log.append({"step": step + 1, "loss": loss.item(), "logit_scale": model.logit_scale.exp().item()})
        bar.set_postfix(loss=f"{log[-1]['loss']:.3f}")
    model.eval()
    return log
