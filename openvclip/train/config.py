"""The ``train:`` config section (:class:`TrainConfig`) and the values its choice keys allow."""

from __future__ import annotations

import dataclasses
from typing import List, Mapping, Optional

from ..config import OBJECTIVES, SWA_BY_DEFAULT, from_mapping
from ..data.clips import SAMPLINGS, ClipAugmentation
from ..errors import UserError
from .objective import GRADIENTS

AMP_MODES = ("auto", "off", "bf16", "fp16")
DISTANCES = ("cosine", "l2")  # FROSTER's distillation distance (distill.py)


@dataclasses.dataclass
class TrainConfig:
    """The ``train:`` section. Defaults are the paper's recipe where it has one (ViT-B/16, K400)."""

    objective: str = "openvclip"  # frozen (no training) | finetune (plain loss) | openvclip | froster
    epochs: int = 22
    batch_size: int = 8
    num_frames: int = 8
    lr: float = 3.33e-6
    warmup_epochs: float = 2.0
    warmup_start_lr: float = 3.33e-8
    end_lr: float = 3.33e-8
    weight_decay: float = 0.01
    clip_grad_norm: float = 1.0  # 0 switches clipping off
    alpha_low: float = 0.0
    alpha_high: float = 0.6
    lam: float = 0.5
    gradient: str = "paper"  # paper: (1-alpha) chain-rule factor | official: the released code's
    train_logit_scale: bool = False  # train CLIP's logit scale beside the vision tower (the released code does)
    # FROSTER (objective froster, openvclip/train/distill.py): CE + distill_weight * (d_video + d_text), the
    # student's features through residual heads (f + distill_residual * head(f)) pulled toward the frozen CLIP's.
    distill_weight: float = 2.0
    distill_residual: float = 0.1
    distill_distance: str = "cosine"  # cosine: 1 - cos (the release's HEAD) | l2: ||s - t|| (its first release)
    # froster only (the other objectives keep the text frozen, so one train section serves every variant): train
    # the text tower too, as released, re-embedding the training classes' prompts every step.
    train_text: bool = False
    swa: Optional[bool] = None  # None: on for openvclip and froster, off otherwise
    swa_start_epoch: int = 2
    swa_every: int = 1
    amp: str = "auto"  # auto: fp16 on CUDA (the paper's mixed precision), off on CPU
    grad_checkpointing: bool = False
    seed: int = 0
    num_workers: int = 0
    keep_checkpoints: int = 1
    max_steps_per_epoch: int = 0  # 0: the whole data set each epoch
    # Training clips (openvclip/data/clips.py), as the released loader draws them: num_frames frames
    # sampling_rate apart at 30 fps from a random start, the short side jittered in jitter_scales, a random
    # crop_size crop, a left-right mirror with probability flip.
    frame_sampling: str = "released_pyav"  # released_pyav | spread (rate <= 0: over the whole video)
    sampling_rate: int = 16
    jitter_scales: List[int] = dataclasses.field(default_factory=lambda: [224, 256])
    crop_size: int = 224
    flip: float = 0.5

    def validate(self) -> None:
        def need(ok: bool, key: str, allowed: str) -> None:
            if not ok:
                raise UserError(f"config key 'train.{key}' = {getattr(self, key)!r} is invalid; allowed: {allowed}")

        need(self.objective in OBJECTIVES, "objective", " | ".join(OBJECTIVES))
        need(self.gradient in GRADIENTS, "gradient", " | ".join(GRADIENTS))
        need(self.distill_distance in DISTANCES, "distill_distance", " | ".join(DISTANCES))
        need(self.distill_weight >= 0, "distill_weight", ">= 0")
        need(self.distill_residual >= 0, "distill_residual", ">= 0")
        need(self.amp in AMP_MODES, "amp", " | ".join(AMP_MODES))
        need(self.epochs >= 1, "epochs", ">= 1")
        need(self.batch_size >= 1, "batch_size", ">= 1")
        need(self.num_frames >= 1, "num_frames", ">= 1")
        need(self.lr > 0, "lr", "> 0")
        need(0 <= self.warmup_epochs <= self.epochs, "warmup_epochs", "0 .. train.epochs")
        need(0 <= self.alpha_low <= 1, "alpha_low", "0 .. 1")
        need(self.alpha_low <= self.alpha_high <= 1, "alpha_high", "train.alpha_low .. 1")
        need(self.lam >= 0, "lam", ">= 0")
        need(self.clip_grad_norm >= 0, "clip_grad_norm", ">= 0 (0 = off)")
        if self.use_swa:  # a training without an average is not given its schedule (config.SWA_KEYS)
            need(1 <= self.swa_start_epoch <= self.epochs, "swa_start_epoch", "1 .. train.epochs")
            need(self.swa_every >= 1, "swa_every", ">= 1")
        need(self.keep_checkpoints >= 1, "keep_checkpoints", ">= 1")
        need(self.max_steps_per_epoch >= 0, "max_steps_per_epoch", ">= 0")
        need(self.frame_sampling in SAMPLINGS, "frame_sampling", " | ".join(SAMPLINGS))
        need(
            len(self.jitter_scales) == 2 and self.crop_size <= self.jitter_scales[0] <= self.jitter_scales[1],
            "jitter_scales",
            "[low, high] with train.crop_size <= low <= high",
        )
        need(0 <= self.flip <= 1, "flip", "0 .. 1 (a probability)")

    def augmentation(self) -> ClipAugmentation:
        """How each training clip is drawn from its video."""
        return ClipAugmentation(
            num_frames=self.num_frames,
            rate=self.sampling_rate,
            sampling=self.frame_sampling,
            jitter_scales=tuple(self.jitter_scales),
            crop_size=self.crop_size,
            flip=self.flip,
        )

    @property
    def interpolated(self) -> bool:
        return self.objective == "openvclip"

    @property
    def use_swa(self) -> bool:
        return self.objective in SWA_BY_DEFAULT if self.swa is None else self.swa

    @property
    def distilled(self) -> bool:
        return self.objective == "froster"

    @property
    def trains_text(self) -> bool:
        return self.distilled and self.train_text

    @classmethod
    def from_dict(cls, values: Optional[Mapping]) -> "TrainConfig":
        return from_mapping(cls, values, "train")
