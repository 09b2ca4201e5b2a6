"""The evaluation job of the workflow: one variant's weights, swept over the interpolation ratios and scored on
its data sets by their protocols, into one tidy result CSV (and a JSON sidecar with the config it depends on)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Sequence

import numpy as np
import torch

from ..config import config_hash
from ..data.frame_store import StoreRows, open_store
from ..data.lost_videos import SplitVideos, check_losses
from ..data.manifest import labelled, missing_path, read_missing, split_counts
from ..data.prepare import RealSet
from ..data.sets.kinetics import novel_splits
from ..devices import setup
from ..errors import UserError
from ..io import write_json
from ..models import build_classifier, build_tokenizer, encode_class_prompts, load_clip, load_text, tensors_of
from ..models.descriptions import ClassText
from ..models.text import class_texts_of
from ..results import RESULT_COLUMNS, write_rows
from ..versions import versions
from ..weights import load_weights
from .evaluate import EvalSet, split_mask, sweep


def novel_split_classes(dataset: Mapping, name: str, classes: Sequence[str]) -> Dict[str, List[int]]:
    """``test1``.. -> the class indices of each K600 novel-class split (its fixed list, as the manifest was made:
    the data set's ``split_source`` and ``seed``)."""
    spec = RealSet.from_dict(dataset, name)
    index = {c: i for i, c in enumerate(classes)}
    return {
        f"test{k + 1}": sorted(index[c] for c in split)
        for k, split in enumerate(novel_splits(list(classes), spec.split_source, spec.seed))
    }


FACTORS = {"object": "object", "action": "motion"}  # factor -> the manifest column that names it


def class_factors(rows: Sequence[Mapping], labels: np.ndarray, num_classes: int) -> Dict[str, np.ndarray]:
    """factor -> the value index of every class, for each factor the manifest names (the demo's ``object`` and
    ``motion`` columns) and the classes determine: under ``object_motion`` labels both, under ``motion`` labels
    the action only (a motion class shows many objects). A class without a video gets a negative value of its
    own: a prediction of it is never right, and it is not counted among the factor's values."""
    out = {}
    for factor, column in FACTORS.items():
        if not rows or column not in rows[0]:
            continue
        of_class: Dict[int, set] = {}
        for row, label in zip(rows, labels):
            of_class.setdefault(int(label), set()).add(row[column])
        if any(len(values) > 1 for values in of_class.values()):
            continue  # the classes do not name this factor
        names = sorted({next(iter(v)) for v in of_class.values()})
        index = {name: i for i, name in enumerate(names)}
        out[factor] = np.array(
            [index[next(iter(of_class[c]))] if c in of_class else -1 - c for c in range(num_classes)]
        )
    return out


def run(
    *,
    model_spec: Mapping,
    theta0: Path,
    weights: Path,
    temporal: bool,
    boundary: str,
    ratios: Sequence[float],
    sets: Sequence[Mapping],
    variant: str,
    hash_of: Mapping,
    out: Path,
    batch_size: int,
    progress: bool = True,
    device: str = "auto",
) -> int:
    """Sweep test-time interpolation ratios and score every set; writes one tidy CSV plus a JSON sidecar.

    ``sets`` items: ``{name, protocol, frames, manifest, text, column}``, optionally ``eval_splits`` (default:
    every split of the manifest but ``train``) and ``split_classes_from`` (a K600 novel-class set's ``datasets`` entry:
    each test split is scored over its own fixed list of classes).
    """
    _, device = setup(device)
    model = load_clip(model_spec, theta0, temporal, boundary)
    theta = load_weights(weights)
    theta0_visual = tensors_of(model, theta)  # the vision tower, and the logit scale where it was trained
    tokenizer = build_tokenizer(model_spec)
    eval_sets = [_eval_set(item, tokenizer) for item in sets]
    digest = config_hash(hash_of)
    rows = sweep(
        model, theta0_visual, theta, ratios, eval_sets, variant, digest, batch_size, device=device, progress=progress
    )
    write_rows(out, rows, RESULT_COLUMNS)
    write_json(
        Path(str(out) + ".json"),
        {
            "config_hash": digest,
            "config": hash_of,
            "weights": str(weights),
            "temporal": temporal,
            "versions": versions(),
        },
    )
    return len(rows)


def _eval_set(item: Mapping, tokenizer=None) -> EvalSet:
    """One data set to score: its frame store's readable videos of the scored splits, labels and text side; a
    split that lost more videos than ``max_unreadable`` allows is refused."""
    rows, classes, labels = labelled(item["manifest"], item["column"])
    payload = load_text(item["text"])
    if item["protocol"] == "retrieval":
        text = payload["embeddings"]
    else:
        if payload.get("classnames") != classes:
            raise UserError(f"text classifier {item['text']} does not match the classes of {item['manifest']}")
        text = payload["classifier"]
    splits = np.array([r["split"] for r in rows])
    store = open_store(item["frames"])
    if len(store) != len(rows):
        raise UserError(
            f"frame store {item['frames']} holds {len(store)} videos, manifest {item['manifest']} "
            f"lists {len(rows)}; re-run frame extraction"
        )
    eval_splits = item.get("eval_splits") or sorted({s for field in splits for s in field.split()} - {"train"})
    # Only the videos of the scored splits are embedded (a training set's train split is not), and only
    # those that decoded (the frame store lists the others).
    scored = np.array([any(s in eval_splits for s in field.split()) for field in splits], dtype=bool)
    valid = store.valid()
    keep = np.flatnonzero(scored & valid)
    unreadable = {split: int((split_mask(splits, split) & ~valid).sum()) for split in eval_splits}
    missing = split_counts(read_missing(item["manifest"]).values(), eval_splits)
    for split in eval_splits:
        videos = SplitVideos(missing[split], unreadable[split], int((split_mask(splits, split) & valid).sum()))
        check_losses(
            item["name"],
            split,
            videos,
            item.get("max_unreadable"),
            str(missing_path(item["manifest"])),
            f"{item['frames']}/meta.json ('errors')",
        )
    if len(keep) == 0:
        raise UserError(f"{item['manifest']} has no readable video in split(s) {eval_splits} to score")
    if item["protocol"] == "retrieval":
        text = text[torch.from_numpy(keep)]
    reembed = _text_encoder(payload, keep, tokenizer) if tokenizer is not None else None
    split_classes = (
        novel_split_classes(item["split_classes_from"], item["name"], classes) if item.get("split_classes_from") else {}
    )
    return EvalSet(
        name=item["name"],
        protocol=item["protocol"],
        store=StoreRows(store, keep),
        labels=labels[keep],
        splits=splits[keep],
        text=text,
        eval_splits=eval_splits,
        views=store.meta["views"],
        split_classes=split_classes,
        unreadable=unreadable,
        missing=missing,
        class_factors=class_factors(rows, labels, len(classes)) if item["protocol"] != "retrieval" else {},
        encode_text=reembed,
    )


def _text_encoder(payload: Mapping, keep: np.ndarray, tokenizer):
    """How to re-embed a set's cached text with a model whose text tower trained: the classifier from the same
    class texts and templates, or the kept videos' captions."""
    if payload["kind"] == "captions":
        captions = [payload["captions"][i] for i in keep]
        return lambda model: encode_class_prompts(model, tokenizer, [[c] for c in captions]).T
    texts = [ClassText(t["name"], tuple(t["descriptions"])) for t in class_texts_of(payload)]
    return lambda model: build_classifier(model, tokenizer, payload["classnames"], payload["templates"], texts=texts)
