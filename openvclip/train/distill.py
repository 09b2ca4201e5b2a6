"""FROSTER's residual feature distillation toward the frozen CLIP (Huang et al., ICLR 2024).

The student's L2-normalised features ``f`` pass through a residual head, ``f + residual * head(f)`` with ``head``
= Linear -> GELU -> Linear (no biases, the second layer zero-initialised, so training starts from the identity),
and are pulled toward the frozen CLIP's normalised features of the same input: per frame for video (the teacher
is the image CLIP, theta0, no temporal attention), per class for text. The heads feed only this loss:
classification and evaluation use the features before them, so the saved weights stay CLIP's state dict.

Released values (``slowfast/models/temporalclip_video_model.py``, ``tools/train_net.py`` of Visual-AI/FROSTER):
residual 0.1, ``loss = CE + 2.0 * (d_video + d_text)`` with ``d = 1 - cosine`` (an L2 distance before the
repository's commit 4a86ec1, both kept here as ``distance``).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..models import encode_video, tokenize_class_prompts
from ..models.descriptions import ClassText, step_prompts
from .config import DISTANCES


def residual_head(dim: int) -> nn.Sequential:
    """Linear -> GELU -> Linear, no biases; the first layer Kaiming-normal, the second zero (the residual branch
    adds nothing at the first step), as released."""
    head = nn.Sequential(nn.Linear(dim, dim, bias=False), nn.GELU(), nn.Linear(dim, dim, bias=False))
    nn.init.kaiming_normal_(head[0].weight)
    nn.init.zeros_(head[2].weight)
    return head


class DistillHeads(nn.Module):
    """The video and text residual heads (trained beside the towers, dropped after training)."""

    def __init__(self, dim: int, residual: float = 0.1):
        super().__init__()
        self.residual = float(residual)
        self.video = residual_head(dim)
        self.text = residual_head(dim)

    @property
    def dtype(self) -> torch.dtype:
        """The heads' weights' dtype: features are cast to it (float32 under mixed precision)."""
        return self.video[0].weight.dtype

    def project(self, which: str, features: torch.Tensor) -> torch.Tensor:
        """``features + residual * head(features)`` (not re-normalised, as released)."""
        head = self.video if which == "video" else self.text
        return features + self.residual * head(features)


def row_distance(student: torch.Tensor, teacher: torch.Tensor, distance: str = "cosine") -> torch.Tensor:
    """Per row: ``1 - cos(student, teacher)`` (cosine) or ``||student - teacher||_2`` (l2)."""
    if distance == "cosine":
        return 1.0 - F.cosine_similarity(student, teacher.to(student.dtype), dim=-1)
    if distance == "l2":
        return (student - teacher.to(student.dtype)).norm(p=2, dim=-1)
    raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


@torch.no_grad()
def teacher_frame_features(teacher: nn.Module, video: torch.Tensor) -> torch.Tensor:
    """``(B*T, D)`` normalised per-frame features of the frozen image CLIP: no gradient, no activations kept."""
    was_training = teacher.training
    teacher.eval()
    try:
        frames = encode_video(teacher, video)
    finally:
        teacher.train(was_training)
    return F.normalize(frames.reshape(-1, frames.shape[-1]).float(), dim=-1)


def video_distances(
    heads: DistillHeads, student_frames: torch.Tensor, teacher_frames: torch.Tensor, distance: str = "cosine"
) -> torch.Tensor:
    """``(B,)``: per video, the mean over its frames of the distance of the projected student frame feature to the
    teacher's. ``student_frames`` ``(B, T, D)`` raw frame embeddings (normalised here, as the classifier sees
    them); ``teacher_frames`` ``(B*T, D)`` from :func:`teacher_frame_features`."""
    batch, frames, dim = student_frames.shape
    student = F.normalize(student_frames.reshape(-1, dim).to(heads.dtype), dim=-1)
    return row_distance(heads.project("video", student), teacher_frames, distance).view(batch, frames).mean(dim=1)


def text_distance(
    heads: DistillHeads, student_text: torch.Tensor, teacher_text: torch.Tensor, distance: str = "cosine"
) -> torch.Tensor:
    """Mean over classes of the distance of the projected student class embedding to the teacher's; both
    ``(D, C)`` normalised classifiers (the text tower's output for the step's prompts)."""
    return row_distance(heads.project("text", student_text.T.to(heads.dtype)), teacher_text.T, distance).mean()


@dataclasses.dataclass
class StepText:
    """The training classes' text, to re-embed every step when the text tower trains (FROSTER): each class's name
    and descriptions, the templates, the tokenizer. One template is drawn per step, seeded by (seed, step), so
    every process and a resumed run draw the same."""

    texts: Sequence[ClassText]
    templates: Sequence[str]
    tokenizer: object
    # The tokens of each template's prompts, made on its first draw: tokenizing every class's prompts again at
    # every step, for the student and the teacher, would redo the same CPU work (K400: 800 prompts a step).
    _tokens: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def template_index(self, seed: int, step: int) -> int:
        generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step))
        return int(torch.randint(len(self.templates), (1,), generator=generator))

    def prompts(self, seed: int, step: int) -> List[List[str]]:
        index = self.template_index(seed, step)
        return [step_prompts(text, self.templates, index) for text in self.texts]

    def tokens(self, seed: int, step: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """:func:`tokenize_class_prompts` of :meth:`prompts`, as :func:`encode_class_tokens` reads them."""
        index = self.template_index(seed, step)
        if index not in self._tokens:
            self._tokens[index] = tokenize_class_prompts(self.tokenizer, self.prompts(seed, step))
        return self._tokens[index]
