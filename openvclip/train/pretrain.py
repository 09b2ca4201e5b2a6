"""Contrastive pretraining of the demo's small CLIP on captioned still images of the synthetic world.

It stands in for OpenAI's weights: the result is the demo's theta0. Each batch holds every pretraining object
in rounds (a random permutation each), and the contrastive loss counts every image and caption of the same
class as a positive pair, so two images of one class are never pushed apart. A share of the images are long
exposures of a moving object captioned with its motion ("a photo of a red circle moving sideways"): like real
CLIP, which learns action words from photos, the demo CLIP then knows what motion words mean, although a single
sharp video frame shows no motion. Another share are sharp stills of an object in a motion's scene, captioned
with the motion, as web photos name the action their place shows ("a photo of a red circle circling" on the
circling scene; a shared scene's photos name its common action, ``pictured_motions``): the frozen CLIP can then
guess a video's action from what one frame shows. Exposures and scene
stills come in pairs of one object doing two different motions (two scenes for the stills), so within a round
captions can only be matched by telling the motions (or scenes) apart (with each object once, the object alone
would match them and the motion words would stay meaningless: measured, their text embeddings had cosines up to
0.99).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import replace
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..config import from_mapping
from ..data.normalisation import normalise
from ..data.synthetic import FRAME_ORDER_TWINS, MOTIONS, World, label_text, object_name, render_exposure, render_image
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
    exposure_share: float = 0.25  # share of each batch that are long exposures (pairs: one object, two motions)
    scene_stills_per_motion: int = 20  # pool of sharp stills per object and motion, in the motion's scene
    scene_share: float = 0.5  # share of each batch that are scene stills (pairs: one object, two scenes)
    rounds: int = 3  # a batch is this many rounds of every pretraining object (captions repeat across rounds)
    eval_images_per_object: int = 10
    seed: int = 0

    def validate(self) -> None:
        for key in (
            "steps",
            "images_per_object",
            "exposures_per_motion",
            "scene_stills_per_motion",
            "rounds",
            "eval_images_per_object",
        ):
            if getattr(self, key) < 1:
                raise UserError(f"config key 'clip.pretrain.{key}' must be >= 1, got {getattr(self, key)}")
        for key in ("exposure_share", "scene_share"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise UserError(f"config key 'clip.pretrain.{key}' must be in [0, 1], got {getattr(self, key)}")
        if self.exposure_share + self.scene_share > 1.0:
            raise UserError(
                "config keys 'clip.pretrain.exposure_share' + 'clip.pretrain.scene_share' must be at most 1, got "
                f"{self.exposure_share} + {self.scene_share}"
            )
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
    """``(per_motion, len(objects), len(MOTIONS), H, W, 3)`` uint8 long exposures, on plain backgrounds: the
    streak alone tells the motions apart, also those that share a scene."""
    rng = np.random.default_rng([seed, 1])
    plain = replace(world, context=0.0)
    return np.stack(
        [
            np.stack([np.stack([render_exposure(plain, obj, motion, rng) for motion in MOTIONS]) for obj in objects])
            for _ in range(per_motion)
        ]
    )


def render_scene_pool(world: World, objects: Sequence, per_motion: int, seed: int) -> np.ndarray:
    """``(per_motion, len(objects), len(MOTIONS), H, W, 3)`` uint8 sharp stills in each motion's scene."""
    rng = np.random.default_rng([seed, 2])
    return np.stack(
        [
            np.stack([np.stack([render_image(world, obj, rng, world.scenes[m]) for m in MOTIONS]) for obj in objects])
            for _ in range(per_motion)
        ]
    )


def pictured_motions(scenes: Mapping[str, str]) -> List[int]:
    """Indices into MOTIONS of the motions photos of a scene are captioned with: per scene, the first of its
    motions in MOTIONS order, the place's common action (a road's photos say "riding", seldom "skidding"). The
    others of a shared scene are named only by long exposures (shaking) or not at all (blinking, a frame-order
    twin), so frozen CLIP takes their videos for the common action, a firm guess that no small change of the
    features turns."""
    first: Dict[str, int] = {}
    for i, motion in enumerate(MOTIONS):
        first.setdefault(scenes[motion], i)
    return sorted(first.values())


def exposed_motions() -> List[int]:
    """Indices into MOTIONS of the motions long exposures are captioned with: all but the frame-order twins,
    whose exposure is their twin's (a blinking object's exposure is a pulsing one's), so only video can ground
    their words."""
    return [i for i, motion in enumerate(MOTIONS) if motion not in FRAME_ORDER_TWINS]


def motion_pairs(rng: np.random.Generator, count: int, among: Optional[Sequence[int]] = None) -> np.ndarray:
    """``(count, 2)`` indices into MOTIONS of two different motions each, drawn from ``among`` (default:
    every motion)."""
    among = np.arange(len(MOTIONS)) if among is None else np.asarray(among)
    return np.stack([rng.choice(among, 2, replace=False) for _ in range(count)]) if count else np.zeros((0, 2), int)


def contrastive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor, names: Sequence[str]
) -> torch.Tensor:
    """CLIP's symmetric InfoNCE over normalised features, where every image and caption of the same class name
    are a positive pair (the target spread evenly over them): rounds of one batch repeat names, which
    open_clip's ``ClipLoss`` would push apart. With distinct names it is ``ClipLoss``."""
    index = {name: i for i, name in enumerate(dict.fromkeys(names))}
    ids = torch.tensor([index[name] for name in names])
    same = (ids[:, None] == ids[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    logits = logit_scale * image_features @ text_features.T
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


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


class CaptionTokens:
    """The tokenizer with a memory: pretraining draws its captions from a small fixed set (names times
    templates), so each is tokenized once."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.rows: Dict[str, torch.Tensor] = {}

    def __call__(self, captions: Sequence[str]) -> torch.Tensor:
        new = [c for c in dict.fromkeys(captions) if c not in self.rows]
        if new:
            self.rows.update(zip(new, self.tokenizer(new)))
        return torch.stack([self.rows[c] for c in captions])


def adamw(parameters, **settings) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel where it has one for CPU tensors (torch 2.4 on): much of the demo
    CLIP's step is the update of its 49,408-row token embedding, which the fused kernel makes about 4 times
    faster (a whole step with ``CaptionTokens``: 0.70 to 0.78 of the plain one on 2 cores, bench/pretrain_step.py)."""
    parameters = list(parameters)
    fused = parameters[0].device.type == "cuda" or torch.__version__ >= "2.4"
    return torch.optim.AdamW(parameters, fused=fused, **settings)


def pretrain_clip(
    model, tokenizer, world: World, objects: Sequence, cfg: PretrainConfig, progress: bool = True
) -> List[dict]:
    """Train ``model`` contrastively on captioned images of ``objects``; returns the per-step log."""
    seed_everything(cfg.seed)
    pool = torch.from_numpy(render_pool(world, objects, cfg.images_per_object, cfg.seed))
    exposures = torch.from_numpy(render_exposure_pool(world, objects, cfg.exposures_per_motion, cfg.seed))
    scene_stills = torch.from_numpy(render_scene_pool(world, objects, cfg.scene_stills_per_motion, cfg.seed))
    rng = np.random.default_rng(cfg.seed + 1)
    optimizer = adamw(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    tokens = CaptionTokens(tokenizer)
    scheduler = warmup_cosine_scheduler(optimizer, cfg.steps, cfg.warmup_steps, cfg.lr, 0.0, 0.0)
    model.train()
    log = []
    # Objects shown twice: as two exposures, or as two scene stills; the others once, as a plain still.
    exposure_pairs = int(round(len(objects) * cfg.exposure_share)) // 2
    scene_pairs = int(round(len(objects) * cfg.scene_share)) // 2
    single = len(objects) - 2 * (exposure_pairs + scene_pairs)
    pictured = pictured_motions(world.scenes)  # one motion per scene: two scene stills differ in scene
    exposing = exposed_motions()  # a twin's exposure is its twin's: not a pair to tell apart
    bar = tqdm(range(cfg.steps), desc="pretrain CLIP", disable=not progress)
    for step in bar:
        images, names = [], []
        for _ in range(cfg.rounds):
            # Within a round every caption is distinct: still objects, then (object, motion) pairs of others.
            order = rng.permutation(len(objects))
            still = order[:single]
            exposed = np.repeat(order[single : single + exposure_pairs], 2)
            staged = np.repeat(order[single + exposure_pairs : single + exposure_pairs + scene_pairs], 2)
            exposure_motions = motion_pairs(rng, exposure_pairs, exposing).reshape(-1)
            staged_motions = motion_pairs(rng, scene_pairs, pictured).reshape(-1)
            images += [
                pool[rng.integers(0, cfg.images_per_object, size=len(still)), still],
                exposures[rng.integers(0, cfg.exposures_per_motion, size=len(exposed)), exposed, exposure_motions],
                scene_stills[rng.integers(0, cfg.scene_stills_per_motion, size=len(staged)), staged, staged_motions],
            ]
            names += [object_name(objects[i]) for i in still] + [
                label_text(objects[i], MOTIONS[m], "object_motion")
                for i, m in zip(np.concatenate([exposed, staged]), np.concatenate([exposure_motions, staged_motions]))
            ]
        images = torch.cat(images)
        images = normalise(images)
        captions = [
            CAPTION_TEMPLATES[t].format(name)
            for name, t in zip(names, rng.integers(0, len(CAPTION_TEMPLATES), size=len(names)))
        ]
        image_features, text_features, logit_scale = model(images, tokens(captions))[:3]
        loss = contrastive_loss(image_features, text_features, logit_scale, names)
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
