"""Evaluation protocols over a sweep of test-time interpolation ratios.

For each ratio r the vision tower gets ``r*theta0 + (1-r)*theta``; every video is embedded once per ratio and
scored by the data set's protocol on each of its splits. Videos are decoded once for the whole sweep: a chunk of
videos is read from the frame store, then embedded at every ratio before the next chunk is read (JPEG decoding
costs about as much as a small model's forward pass, so decoding per ratio would multiply it by the sweep's length).

- ``closedset`` and ``zeroshot``: top-1 / top-5 (%) against the template-averaged text classifier. Frame logits
  are averaged over frames, which ranks classes exactly as the mean of the normalised frame embeddings does.
  Where each class is an object doing an action (the demo's worlds), also ``object_top1`` and ``action_top1``:
  how often the top-1 class has the right object, the right action.
- ``retrieval``: one caption per video; text-to-video and video-to-text R@1/5/10 (%) and median rank, with the
  video embedding the normalised mean of its normalised frame embeddings.

A set scored on several numbered test splits (``test1``..``test3``: UCF101, HMDB51, K600 novel) also gets rows
with split ``mean`` and ``std`` (sample standard deviation over the splits), the form the papers report.
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.normalisation import normalise
from ..data.sets import in_split
from ..errors import UserError
from ..models import encode_video, is_text_key
from ..weights import interpolate
from .metrics import retrieval_metrics, topk_accuracy

PROTOCOLS = ("closedset", "zeroshot", "retrieval")


@dataclasses.dataclass(kw_only=True)
class EvalSet:
    """One data set to score: its frame store, labels, splits and text side."""

    name: str
    protocol: str
    store: object  # (N, V*T, H, W, 3) uint8 frames: a FrameStore or an array
    labels: np.ndarray  # (N,) class index per video (retrieval: caption index = row)
    splits: np.ndarray  # (N,) the split names of each video, space-separated ("test1 test3")
    text: torch.Tensor  # classification: (D, C) classifier; retrieval: (N, D) caption embeddings
    eval_splits: Sequence[str] = ("val", "test")
    views: int = 1  # temporal views per video in the store, embeddings averaged
    # split -> the classes (indices into ``text``'s columns) it is scored over: K600's fixed lists of 160 of the
    # 220 novel classes, whether or not every class kept a readable video. Splits not named: every class.
    split_classes: Mapping[str, Sequence[int]] = dataclasses.field(default_factory=dict)
    unreadable: Mapping[str, int] = dataclasses.field(default_factory=dict)  # split -> videos that did not decode
    missing: Mapping[str, int] = dataclasses.field(default_factory=dict)  # split -> listed videos absent on disk
    # factor -> the value index of each class (the demo's classes "<object> <action>": object, action), where the
    # manifest says so; scored as ``<factor>_top1`` beside top-1 (see factor_accuracy).
    class_factors: Mapping[str, Sequence[int]] = dataclasses.field(default_factory=dict)
    # Re-embeds ``text`` with a model whose text tower was trained (FROSTER): called at every ratio of the sweep.
    encode_text: Optional[Callable[[torch.nn.Module], torch.Tensor]] = None


@torch.inference_mode()
def embed_frames(model, frames: np.ndarray, views: int = 1, device="cpu") -> torch.Tensor:
    """``(B, D)``: the mean of each video's L2-normalised frame embeddings over all frames of all ``views``
    (not re-normalised). Logits are linear in it, so this averages the views' scores."""
    frames = np.ascontiguousarray(frames)
    if not frames.flags.writeable:  # a memory-mapped store: torch wants memory it may write (it never does here)
        frames = frames.copy()
    frames = torch.from_numpy(frames)
    count = frames.shape[0]
    clips = normalise(frames.reshape(count * views, frames.shape[1] // views, *frames.shape[2:])).to(device)
    embeddings = F.normalize(encode_video(model, clips), dim=-1).mean(dim=1)
    return embeddings.view(count, views, -1).mean(dim=1).float().cpu()


def embed_videos(
    model, store, batch_size: int = 128, progress: bool = False, device="cpu", desc: str = "embed", views: int = 1
) -> torch.Tensor:
    """``(N, D)`` per video (see :func:`embed_frames`), in batches of ``batch_size``."""
    out = [
        embed_frames(model, np.asarray(store[start : start + batch_size]), views, device)
        for start in tqdm(range(0, len(store), batch_size), desc=desc, disable=not progress, leave=False)
    ]
    return torch.cat(out)


def split_mask(splits: np.ndarray, split: str) -> np.ndarray:
    """Videos that belong to ``split`` (a video's field lists its splits, space-separated)."""
    return np.array([in_split(field, split) for field in splits], dtype=bool)


def score_set(video_embeddings: torch.Tensor, item: EvalSet) -> List[dict]:
    """Metric rows (without variant/ratio/hash) for every evaluated split of ``item``."""
    rows = []
    for split in item.eval_splits:
        mask = split_mask(item.splits, split)
        count = int(mask.sum())
        if count == 0:
            continue
        embeddings = video_embeddings[torch.from_numpy(mask)]
        if item.protocol == "retrieval":
            videos = F.normalize(embeddings, dim=-1)
            texts = F.normalize(item.text[torch.from_numpy(mask)].float(), dim=-1)
            # metric -> (value, n_classes): every caption is a class of its own
            metrics = {m: (v, count) for m, v in retrieval_metrics((texts @ videos.T).numpy()).items()}
        else:
            labels = item.labels[mask]
            columns = np.arange(item.text.shape[1])
            if split in item.split_classes:
                columns = np.asarray(item.split_classes[split])
                position = {int(c): i for i, c in enumerate(columns)}
                outside = sorted({int(label) for label in labels} - set(position))
                if outside:
                    raise UserError(
                        f"{item.name} {split}: videos of classes {outside[:5]} outside the split's class list"
                    )
                labels = np.array([position[int(label)] for label in labels])
            scores = (embeddings @ item.text.float()[:, torch.from_numpy(columns)]).numpy()
            metrics = {f"top{k}": (100.0 * topk_accuracy(scores, labels, k), len(columns)) for k in (1, 5)}
            metrics.update(factor_accuracy(scores, labels, columns, item.class_factors))
        rows += [
            {
                "dataset": item.name,
                "split": split,
                "metric": metric,
                "value": round(value, 4),
                "n_videos": count,
                "n_classes": classes,
                "n_missing": item.missing.get(split, 0),
                "n_unreadable": item.unreadable.get(split, 0),
            }
            for metric, (value, classes) in metrics.items()
        ]
    return rows + split_statistics(rows)


NUMBERED_TEST_SPLIT = re.compile(r"test\d+")


def factor_accuracy(
    scores: np.ndarray, labels: np.ndarray, columns: np.ndarray, class_factors: Mapping[str, np.ndarray]
) -> Dict[str, tuple]:
    """``{factor}_top1`` -> (%, number of distinct values): how often the top-1 class shares the true class's
    value of a factor (a class "red circle circling" has object "red circle" and action "circling"), so a
    model that knows objects but not actions scores high on one and near chance (1 / values) on the other.
    ``class_factors``: factor -> the value index of every class (a column of the text classifier)."""
    predicted, true = columns[scores.argmax(axis=1)], columns[labels]
    out = {}
    for factor, values in class_factors.items():
        values = np.asarray(values)
        known = {int(v) for v in values[columns] if v >= 0}  # a class without a video has a negative value
        out[f"{factor}_top1"] = (100.0 * float(np.mean(values[predicted] == values[true])), len(known))
    return out


def split_statistics(rows: Sequence[Mapping]) -> List[dict]:
    """Rows ``mean`` and ``std`` (sample) per metric over the numbered test splits, when there are two or more;
    their ``n_videos``/``n_missing``/``n_unreadable`` are the splits' totals and ``n_classes`` the splits' mean."""
    per_metric: Dict[str, list] = {}
    for row in rows:
        if NUMBERED_TEST_SPLIT.fullmatch(row["split"]):
            per_metric.setdefault(row["metric"], []).append(row)
    out = []
    for metric, group in per_metric.items():
        if len(group) < 2:
            continue
        values = [row["value"] for row in group]
        common = {
            "dataset": group[0]["dataset"],
            "metric": metric,
            "n_videos": sum(r["n_videos"] for r in group),
            "n_classes": round(statistics.fmean(r["n_classes"] for r in group)),
            "n_missing": sum(r["n_missing"] for r in group),
            "n_unreadable": sum(r["n_unreadable"] for r in group),
        }
        out += [
            {**common, "split": "mean", "value": round(statistics.fmean(values), 4)},
            {**common, "split": "std", "value": round(statistics.stdev(values), 4)},
        ]
    return out


def sweep(
    model,
    theta0: Mapping[str, torch.Tensor],
    theta: Mapping[str, torch.Tensor],
    ratios: Sequence[float],
    sets: Sequence[EvalSet],
    variant: str,
    config_hash: str,
    batch_size: int,
    device="cpu",
    progress: bool = True,
    chunk_videos: int = 512,
) -> List[dict]:
    """Score every set at every ratio; the model's vision tower is overwritten (keep theta0 to restore it).
    Weights that hold the text tower (FROSTER trained it) re-embed each set's text at every ratio.

    Each chunk of ``chunk_videos`` videos is decoded once and embedded at every ratio. The ratio order
    alternates between chunks, so the weights of the last ratio of one chunk serve the first of the next."""
    model.to(device).eval()
    known = set(model.state_dict())
    missing = [k for k in theta if k not in known]
    if missing:
        raise UserError(f"weights hold keys the model lacks: {missing[:5]}")
    ratios = [round(float(r), 4) for r in ratios]
    text_trained = any(is_text_key(k) for k in theta)
    for item in sets:
        if text_trained and item.encode_text is None:
            raise UserError(f"the weights trained the text tower, but {item.name} has no texts to re-embed")
    chunk_videos = max(chunk_videos, batch_size)
    loaded = None
    rows = []
    for item in sets:
        embeddings = {ratio: [] for ratio in ratios}
        texts = {}  # ratio -> the set's text re-embedded at it (text tower trained)
        bar = tqdm(
            total=len(item.store) * len(ratios),
            desc=f"{variant} on {item.name} ({len(ratios)} ratios)",
            unit="video",
            disable=not progress,
        )
        for number, start in enumerate(range(0, len(item.store), chunk_videos)):
            chunk = np.asarray(item.store[start : start + chunk_videos])
            for ratio in ratios if number % 2 == 0 else ratios[::-1]:
                if ratio != loaded:
                    model.load_state_dict(interpolate(theta0, theta, ratio), strict=False)
                    loaded = ratio
                if text_trained and ratio not in texts:
                    with torch.inference_mode():
                        texts[ratio] = item.encode_text(model).float().cpu()
                for offset in range(0, len(chunk), batch_size):
                    embeddings[ratio].append(
                        embed_frames(model, chunk[offset : offset + batch_size], item.views, device)
                    )
                bar.update(len(chunk))
        bar.close()
        for ratio in ratios:
            rows += [
                {"variant": variant, "ratio": ratio, **row, "config_hash": config_hash}
                for row in score_set(
                    torch.cat(embeddings[ratio]), dataclasses.replace(item, text=texts[ratio]) if texts else item
                )
            ]
    return rows
